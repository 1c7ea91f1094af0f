// SPDX-License-Identifier: GPL-2.0
/*
 * SHA-256 of executables, for grants that name a process by what it runs.
 *
 * The digest is of the file's contents, exactly as sha256sum(1) computes
 * it, through the kernel crypto API.  Hashing a large binary at every
 * attach would be slow, so digests are cached per inode together with what
 * identifies the file's contents: device, inode number and generation,
 * size, mtime, ctime and, where the file system keeps one, its change
 * counter (i_version), which does not depend on timestamp granularity.  Any
 * write changes them, so a changed file is hashed again; a file that
 * changes while it is hashed is not cached and its digest is not trusted.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <crypto/hash.h>
#include <linux/fs.h>
#include <linux/iversion.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>

#include "compat.h"
#include "mpklink.h"

#define MPKLINK_DIGEST_CACHE_SIZE	64
#define MPKLINK_DIGEST_CHUNK		(64 * 1024)

struct mpklink_file_version {
	dev_t dev;
	unsigned long ino;
	u32 generation;
	loff_t size;
	struct timespec64 mtime;
	struct timespec64 ctime;
	u64 change;			/* i_version, or 0 */
};

struct mpklink_digest_entry {
	struct mpklink_file_version version;
	u8 digest[MPKLINK_SHA256_SIZE];
	u64 last_used;			/* 0: empty */
};

static struct crypto_shash *mpklink_sha256;
static DEFINE_MUTEX(mpklink_digest_lock);
static struct mpklink_digest_entry mpklink_digests[MPKLINK_DIGEST_CACHE_SIZE];
static u64 mpklink_digest_clock;

static void mpklink_file_version(struct inode *inode,
				 struct mpklink_file_version *v)
{
	memset(v, 0, sizeof(*v));
	v->dev = inode->i_sb->s_dev;
	v->ino = inode->i_ino;
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
	return a->dev == b->dev && a->ino == b->ino &&
	       a->generation == b->generation && a->size == b->size &&
	       timespec64_equal(&a->mtime, &b->mtime) &&
	       timespec64_equal(&a->ctime, &b->ctime) && a->change == b->change;
}

static int mpklink_hash_file(struct file *file, u8 *digest)
{
	SHASH_DESC_ON_STACK(desc, mpklink_sha256);
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
		err = crypto_shash_update(desc, buf, n);
		if (fatal_signal_pending(current))
			err = -EINTR;
		cond_resched();
	}
	if (!err)
		err = crypto_shash_final(desc, digest);
	shash_desc_zero(desc);
	kvfree(buf);
	return err;
}

int mpklink_exe_digest(struct file *file, u8 digest[MPKLINK_SHA256_SIZE])
{
	struct mpklink_file_version before, after;
	struct mpklink_digest_entry *e, *victim = &mpklink_digests[0];
	int err, i;

	mpklink_file_version(file_inode(file), &before);
	mutex_lock(&mpklink_digest_lock);
	for (i = 0; i < MPKLINK_DIGEST_CACHE_SIZE; i++) {
		e = &mpklink_digests[i];
		if (e->last_used &&
		    mpklink_file_version_eq(&e->version, &before)) {
			memcpy(digest, e->digest, MPKLINK_SHA256_SIZE);
			e->last_used = ++mpklink_digest_clock;
			mutex_unlock(&mpklink_digest_lock);
			return 0;
		}
		if (e->last_used < victim->last_used)
			victim = e;
	}
	mutex_unlock(&mpklink_digest_lock);

	err = mpklink_hash_file(file, digest);
	if (err)
		return err;
	mpklink_file_version(file_inode(file), &after);
	if (!mpklink_file_version_eq(&before, &after))
		return -EAGAIN;

	mutex_lock(&mpklink_digest_lock);
	/* The least recently used entry; racing hashers may pick the same. */
	victim->version = before;
	memcpy(victim->digest, digest, MPKLINK_SHA256_SIZE);
	victim->last_used = ++mpklink_digest_clock;
	mutex_unlock(&mpklink_digest_lock);
	return 0;
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

void mpklink_exe_digest_exit(void)
{
	crypto_free_shash(mpklink_sha256);
}
