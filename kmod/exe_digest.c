// SPDX-License-Identifier: GPL-2.0
/*
 * SHA-256 of executables, for grants that name a process by what it runs.
 *
 * The digest is of the file's contents, exactly as sha256sum(1) computes
 * it, through the kernel crypto API.  It is computed only for an attach
 * that a digest grant could admit (acl.c decides), and only for files:
 *
 *  - no larger than max_exe_size, so no user can make the kernel hash
 *    gigabytes by attaching;
 *  - on a file system whose contents the kernel itself serves: not FUSE
 *    (its server can give kernel_read() the granted program's bytes while
 *    the process runs others), not one mounted in a user namespace or by
 *    an unprivileged mounter (SB_I_UNTRUSTED_MOUNTER).  Overlay and other
 *    stacking file systems are judged by the file underneath as well.
 *
 * Hashing a large binary at every attach would be slow, so digests are
 * cached, keyed on the inode itself: an entry holds a reference on the
 * executable's file while a member attested with it lives, and goes with
 * the last of them, so a cached inode can never be freed and replaced by
 * another at the same address, and no entry keeps a file system busy
 * after its members are gone.  With the inode, an entry records what
 * changes with its contents (size, mtime, ctime and, where the file system
 * keeps one, i_version): any write changes them, so a changed file is
 * hashed again; a file that changes while it is hashed is not trusted.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <crypto/hash.h>
#include <linux/dcache.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/iversion.h>
#include <linux/magic.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/user_namespace.h>

#include "compat.h"
#include "mpklink.h"

#define MPKLINK_DIGEST_CACHE_SIZE	64
#define MPKLINK_DIGEST_CHUNK		(64 * 1024)

static unsigned long mpklink_max_exe_size = 512UL << 20;
module_param_named(max_exe_size, mpklink_max_exe_size, ulong, 0644);
MODULE_PARM_DESC(max_exe_size,
		 "Largest executable hashed for a digest grant, bytes");

struct mpklink_file_version {
	u32 generation;
	loff_t size;
	struct timespec64 mtime;
	struct timespec64 ctime;
	u64 change;			/* i_version, or 0 */
};

struct mpklink_exe_pin {
	struct file *file;		/* a reference; NULL: empty */
	struct mpklink_file_version version;
	u8 digest[MPKLINK_SHA256_SIZE];
	unsigned int users;		/* attestations holding this entry */
};

static struct crypto_shash *mpklink_sha256;
static DEFINE_MUTEX(mpklink_digest_lock);
static struct mpklink_exe_pin mpklink_digests[MPKLINK_DIGEST_CACHE_SIZE];

static void mpklink_file_version(struct inode *inode,
				 struct mpklink_file_version *v)
{
	memset(v, 0, sizeof(*v));
	v->generation = inode->i_generation;
	v->size = i_size_read(inode);
	v->mtime = mpklink_inode_mtime(inode);
	v->ctime = inode_get_ctime(inode);
	if (IS_I_VERSION(inode))
		v->change = inode_query_iversion(inode);
}

static bool mpklink_file_version_eq(const struct mpklink_file_version *a,
				    const struct mpklink_file_version *b)
{
	return a->generation == b->generation && a->size == b->size &&
	       timespec64_equal(&a->mtime, &b->mtime) &&
	       timespec64_equal(&a->ctime, &b->ctime) && a->change == b->change;
}

static const char *mpklink_sb_untrusted(const struct super_block *sb)
{
	if (sb->s_magic == FUSE_SUPER_MAGIC)
		return "on a FUSE file system";
	if (sb->s_user_ns != &init_user_ns)
		return "on a file system mounted in a user namespace";
	if (sb->s_iflags & SB_I_UNTRUSTED_MOUNTER)
		return "on a file system an unprivileged user mounted";
	return NULL;
}

/* Why @file's digest cannot describe what runs, or NULL. */
static const char *mpklink_exe_untrusted(struct file *file)
{
	const char *why = mpklink_sb_untrusted(file_inode(file)->i_sb);

	/* What a stacking file system (overlayfs) reads from. */
	if (!why)
		why = mpklink_sb_untrusted(d_real_inode(file->f_path.dentry)->i_sb);
	if (!why && i_size_read(file_inode(file)) >
		    (loff_t)READ_ONCE(mpklink_max_exe_size))
		why = "larger than max_exe_size";
	return why;
}

static int mpklink_hash_file(struct file *file, u8 *digest)
{
	SHASH_DESC_ON_STACK(desc, mpklink_sha256);
	loff_t limit = READ_ONCE(mpklink_max_exe_size);
	loff_t pos = 0;
	ssize_t n;
	void *buf;
	int err;

	buf = kvmalloc(MPKLINK_DIGEST_CHUNK, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	desc->tfm = mpklink_sha256;
	err = crypto_shash_init(desc);
	while (!err) {
		n = kernel_read(file, buf, MPKLINK_DIGEST_CHUNK, &pos);
		if (n <= 0) {
			err = n;
			break;
		}
		/* A file that grew after the size check is not trusted. */
		if (pos > limit) {
			err = -EFBIG;
			break;
		}
		err = crypto_shash_update(desc, buf, n);
		if (fatal_signal_pending(current))
			err = -EINTR;
		cond_resched();
	}
	if (!err)
		err = crypto_shash_final(desc, digest);
	shash_desc_zero(desc);
	kvfree(buf);
	atomic64_inc(&mpklink_stats.exe_hashes);
	return err;
}

/* A live entry for @file at @version, with one user more, or NULL. */
static struct mpklink_exe_pin *
mpklink_pin_find(struct file *file, const struct mpklink_file_version *version)
{
	struct mpklink_exe_pin *e;
	int i;

	lockdep_assert_held(&mpklink_digest_lock);
	for (i = 0; i < MPKLINK_DIGEST_CACHE_SIZE; i++) {
		e = &mpklink_digests[i];
		if (e->file && file_inode(e->file) == file_inode(file) &&
		    mpklink_file_version_eq(&e->version, version)) {
			e->users++;
			return e;
		}
	}
	return NULL;
}

/* Caches a digest just computed; NULL when the cache is full. */
static struct mpklink_exe_pin *
mpklink_pin_add(struct file *file, const struct mpklink_file_version *version,
		const u8 *digest)
{
	struct mpklink_exe_pin *e;
	int i;

	/* Another attach may have hashed the same file meanwhile. */
	e = mpklink_pin_find(file, version);
	if (e)
		return e;
	for (i = 0; i < MPKLINK_DIGEST_CACHE_SIZE; i++) {
		e = &mpklink_digests[i];
		if (!e->file) {
			e->file = get_file(file);
			e->version = *version;
			memcpy(e->digest, digest, MPKLINK_SHA256_SIZE);
			e->users = 1;
			return e;
		}
	}
	return NULL;
}

/*
 * The digest of @file, the calling process's executable.  On success
 * *@pin holds a cache entry for the caller's attestation (release it with
 * mpklink_exe_unpin(), NULL is fine); on failure *@why says why no digest
 * describes the process (-EPERM), or the error is the file's.
 */
int mpklink_exe_digest(struct file *file, u8 digest[MPKLINK_SHA256_SIZE],
		       struct mpklink_exe_pin **pin, const char **why)
{
	struct mpklink_file_version before, after;
	struct mpklink_exe_pin *e;
	int err;

	*pin = NULL;
	*why = mpklink_exe_untrusted(file);
	if (*why)
		return -EPERM;

	mpklink_file_version(file_inode(file), &before);
	mutex_lock(&mpklink_digest_lock);
	e = mpklink_pin_find(file, &before);
	mutex_unlock(&mpklink_digest_lock);
	if (e) {
		memcpy(digest, e->digest, MPKLINK_SHA256_SIZE);
		*pin = e;
		return 0;
	}

	err = mpklink_hash_file(file, digest);
	if (err == -EFBIG) {
		*why = "larger than max_exe_size";
		return -EPERM;
	}
	if (err)
		return err;
	mpklink_file_version(file_inode(file), &after);
	if (!mpklink_file_version_eq(&before, &after)) {
		*why = "changed while it was hashed";
		return -EPERM;
	}

	mutex_lock(&mpklink_digest_lock);
	*pin = mpklink_pin_add(file, &before, digest);
	mutex_unlock(&mpklink_digest_lock);
	return 0;
}

void mpklink_exe_unpin(struct mpklink_exe_pin *pin)
{
	struct file *file = NULL;

	if (!pin)
		return;
	mutex_lock(&mpklink_digest_lock);
	if (!--pin->users) {
		file = pin->file;
		pin->file = NULL;
	}
	mutex_unlock(&mpklink_digest_lock);
	if (file)
		fput(file);
}

int mpklink_exe_digest_init(void)
{
	mpklink_sha256 = crypto_alloc_shash("sha256", 0, 0);
	if (IS_ERR(mpklink_sha256)) {
		pr_err("no sha256 in the crypto API: %ld\n",
		       PTR_ERR(mpklink_sha256));
		return PTR_ERR(mpklink_sha256);
	}
	return 0;
}

/* Every member is gone, and with them every pinned entry. */
void mpklink_exe_digest_exit(void)
{
	int i;

	for (i = 0; i < MPKLINK_DIGEST_CACHE_SIZE; i++)
		WARN_ON_ONCE(mpklink_digests[i].file);
	crypto_free_shash(mpklink_sha256);
}
