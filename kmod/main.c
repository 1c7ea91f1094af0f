// SPDX-License-Identifier: GPL-2.0
/*
 * mpklink: protection-key-tagged shared memory channels between attested
 * processes.  See Documentation/design.md.
 *
 * This file owns the module's lifetime, its parameters, and /dev/mpklink:
 * each ioctl's argument is copied and validated here, then handed to the
 * file that owns the object it acts on.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "mpklink.h"

unsigned int mpklink_max_channels = 1024;
module_param_named(max_channels, mpklink_max_channels, uint, 0444);
MODULE_PARM_DESC(max_channels, "Most channels that can exist at once");

unsigned long mpklink_max_segment_size = 64UL << 20;
module_param_named(max_segment_size, mpklink_max_segment_size, ulong, 0444);
MODULE_PARM_DESC(max_segment_size, "Largest segment size of a channel, bytes");

unsigned int mpklink_default_members = 16;
module_param_named(default_members, mpklink_default_members, uint, 0444);
MODULE_PARM_DESC(default_members, "Members of a channel created without a count");

unsigned int mpklink_max_grants = 256;
module_param_named(max_grants, mpklink_max_grants, uint, 0444);
MODULE_PARM_DESC(max_grants, "Most grants of one channel");

unsigned int mpklink_max_pkru_works = 8192;
module_param_named(max_pkru_works, mpklink_max_pkru_works, uint, 0644);
MODULE_PARM_DESC(max_pkru_works,
		 "Most PKRU works (one per thread) pending in one address space; attach fails with ENOMEM beyond");

struct mpklink_stats mpklink_stats;

/*
 * Copies an ioctl argument whose first field is its size, which must be
 * the size the ioctl number encodes (see the uapi header).
 */
int mpklink_copy_arg(void *karg, size_t size, const void __user *uarg)
{
	if (copy_from_user(karg, uarg, size))
		return -EFAULT;
	if (*(u32 *)karg != size)
		return -EINVAL;
	return 0;
}

static bool mpklink_zeroed(const void *p, size_t n)
{
	return !memchr_inv(p, 0, n);
}

static int mpklink_ioc_create(void __user *uarg)
{
	struct mpklink_create req;
	int err;

	err = mpklink_copy_arg(&req, sizeof(req), uarg);
	if (err)
		return err;
	if (req.flags & ~MPKLINK_CREATE_SIGNED || req.reserved0 ||
	    !mpklink_zeroed(req.reserved, sizeof(req.reserved)))
		return -EINVAL;
	if (!req.segment_size || !PAGE_ALIGNED(req.segment_size) ||
	    req.segment_size > mpklink_max_segment_size)
		return -EINVAL;
	if (req.max_members > MPKLINK_MAX_MEMBERS)
		return -EINVAL;
	err = mpklink_name_from_user(req.name, req.name);
	if (err)
		return err;
	return mpklink_channel_create(&req);
}

static int mpklink_ioc_destroy(void __user *uarg)
{
	struct mpklink_destroy req;
	int err;

	err = mpklink_copy_arg(&req, sizeof(req), uarg);
	if (err)
		return err;
	if (req.flags || !mpklink_zeroed(req.reserved, sizeof(req.reserved)))
		return -EINVAL;
	err = mpklink_name_from_user(req.name, req.name);
	if (err)
		return err;
	return mpklink_channel_destroy(req.name);
}

static int mpklink_ioc_grant(void __user *uarg, bool grant)
{
	struct mpklink_channel *ch;
	struct mpklink_grant req;
	int err;

	err = mpklink_copy_arg(&req, sizeof(req), uarg);
	if (err)
		return err;
	if (req.reserved0 || !mpklink_zeroed(req.reserved, sizeof(req.reserved)))
		return -EINVAL;
	if (grant) {
		if (req.flags & ~MPKLINK_GRANT_PUBKEY)
			return -EINVAL;
		if (!req.rights || req.rights & ~MPKLINK_RIGHTS_ALL)
			return -EINVAL;
		if (!(req.flags & MPKLINK_GRANT_PUBKEY) &&
		    !mpklink_zeroed(req.pubkey, sizeof(req.pubkey)))
			return -EINVAL;
	} else if (req.flags || req.rights ||
		   !mpklink_zeroed(req.pubkey, sizeof(req.pubkey))) {
		return -EINVAL;
	}
	ch = mpklink_channel_find(req.name);
	if (IS_ERR(ch))
		return PTR_ERR(ch);
	err = grant ? mpklink_grant_set(ch, &req) : mpklink_grant_remove(ch, &req);
	mpklink_channel_put(ch);
	return err;
}

/*
 * Validates a listing request.  @named: it names a channel (validated when
 * the channel is looked up); otherwise the name must be empty.
 */
int mpklink_listing_check(struct mpklink_listing *req, size_t entry_size,
			  bool named)
{
	if (req->flags || req->entry_size != entry_size ||
	    !mpklink_zeroed(req->reserved, sizeof(req->reserved)))
		return -EINVAL;
	if (!named && !mpklink_zeroed(req->name, sizeof(req->name)))
		return -EINVAL;
	return 0;
}

/*
 * Listings are collected under their locks into a kernel buffer, then
 * copied out after the locks are dropped.
 */
void *mpklink_listing_alloc(u32 room, size_t entry_size)
{
	return room ? kvcalloc(room, entry_size, GFP_KERNEL) : NULL;
}

int mpklink_listing_copy_out(void __user *dst, void *buf, u32 room,
			     size_t entry_size)
{
	int err = 0;

	if (room && copy_to_user(dst, buf, room * entry_size))
		err = -EFAULT;
	kvfree(buf);
	return err;
}

static int mpklink_ioc_listing(unsigned int cmd, void __user *uarg)
{
	struct mpklink_listing req;
	struct mpklink_channel *ch;
	void __user *entries;
	size_t entry_size;
	int err;

	err = mpklink_copy_arg(&req, sizeof(req), uarg);
	if (err)
		return err;
	if (cmd == MPKLINK_IOC_LIST)
		entry_size = sizeof(struct mpklink_channel_info);
	else if (cmd == MPKLINK_IOC_GRANTS)
		entry_size = sizeof(struct mpklink_grant);
	else
		entry_size = sizeof(struct mpklink_member_info);
	err = mpklink_listing_check(&req, entry_size, cmd != MPKLINK_IOC_LIST);
	if (err)
		return err;

	entries = u64_to_user_ptr(req.entries);
	if (cmd == MPKLINK_IOC_LIST) {
		err = mpklink_channel_list(entries, &req.count);
	} else {
		ch = mpklink_channel_find(req.name);
		if (IS_ERR(ch))
			return PTR_ERR(ch);
		if (cmd == MPKLINK_IOC_GRANTS)
			err = mpklink_grant_list(ch, entries, &req.count);
		else
			err = mpklink_members_list(ch, NULL, entries, &req.count);
		mpklink_channel_put(ch);
	}
	if (err)
		return err;
	return put_user(req.count,
			&((struct mpklink_listing __user *)uarg)->count);
}

static long mpklink_ioctl(struct file *file, unsigned int cmd,
			  unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case MPKLINK_IOC_API_VERSION:
		return MPKLINK_API_VERSION;
	case MPKLINK_IOC_ATTACH:
		return mpklink_attach(uarg);
	case MPKLINK_IOC_CREATE:
	case MPKLINK_IOC_DESTROY:
	case MPKLINK_IOC_GRANT:
	case MPKLINK_IOC_REVOKE:
	case MPKLINK_IOC_LIST:
	case MPKLINK_IOC_GRANTS:
	case MPKLINK_IOC_MEMBERS:
		break;
	default:
		return -ENOTTY;
	}

	/*
	 * Everything else administers channels, and needs an administrator
	 * both to have opened the device and to make the call: an fd passed
	 * on never carries more authority than its holder has, and a
	 * privileged process cannot be tricked into administering through an
	 * fd an unprivileged one opened (the opener's credentials are what
	 * write(2)-style interfaces check, the caller's what ioctls usually
	 * check; mpklink checks both).
	 */
	if (!file_ns_capable(file, &init_user_ns, CAP_SYS_ADMIN) ||
	    !capable(CAP_SYS_ADMIN))
		return -EPERM;
	switch (cmd) {
	case MPKLINK_IOC_CREATE:
		return mpklink_ioc_create(uarg);
	case MPKLINK_IOC_DESTROY:
		return mpklink_ioc_destroy(uarg);
	case MPKLINK_IOC_GRANT:
		return mpklink_ioc_grant(uarg, true);
	case MPKLINK_IOC_REVOKE:
		return mpklink_ioc_grant(uarg, false);
	default:
		return mpklink_ioc_listing(cmd, uarg);
	}
}

static const struct file_operations mpklink_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = mpklink_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

/*
 * Mode 0666: opening the device grants nothing by itself.  Administrative
 * ioctls need CAP_SYS_ADMIN in the opener and in the caller; attach is
 * checked against the channel's grants.
 */
static struct miscdevice mpklink_miscdev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "mpklink",
	.fops = &mpklink_fops,
	.mode = 0666,
};

static int __init mpklink_init(void)
{
	int err;

	if (mpklink_default_members < 1 ||
	    mpklink_default_members > MPKLINK_MAX_MEMBERS) {
		pr_err("default_members must be 1..%d\n", MPKLINK_MAX_MEMBERS);
		return -EINVAL;
	}
	err = mpklink_exe_digest_init();
	if (err)
		return err;
	err = mpklink_fs_init();
	if (err)
		goto err_digest;
	err = mpklink_pkru_init();
	if (err)
		goto err_fs;
	err = misc_register(&mpklink_miscdev);
	if (err) {
		pr_err("cannot register /dev/mpklink: %d\n", err);
		goto err_pkru;
	}
	mpklink_debugfs_init();
	return 0;

err_pkru:
	mpklink_pkru_exit();
err_fs:
	mpklink_fs_exit();
err_digest:
	mpklink_exe_digest_exit();
	return err;
}

/*
 * Every channel fd and every mapping holds a module reference (through its
 * file), so by now no member exists; channels without members go here.
 */
static void __exit mpklink_exit(void)
{
	misc_deregister(&mpklink_miscdev);
	mpklink_debugfs_exit();
	mpklink_channels_destroy_all();
	/*
	 * No fd or mapping holds the module now, so the registry held the
	 * last reference to every channel: all of it must be back.
	 */
	WARN(atomic_long_read(&mpklink_stats.pages) ||
	     atomic_read(&mpklink_stats.channels) ||
	     atomic_read(&mpklink_stats.members),
	     "mpklink: unloading with %ld pages, %d channels and %d members not freed\n",
	     atomic_long_read(&mpklink_stats.pages),
	     atomic_read(&mpklink_stats.channels),
	     atomic_read(&mpklink_stats.members));
	mpklink_pkru_exit();
	mpklink_fs_exit();
	mpklink_exe_digest_exit();
}

module_init(mpklink_init);
module_exit(mpklink_exit);

MODULE_DESCRIPTION("Protection-key-tagged shared memory channels");
MODULE_AUTHOR("MPKLink maintainers");
MODULE_LICENSE("GPL");
MODULE_VERSION(MPKLINK_VERSION);
