// SPDX-License-Identifier: GPL-2.0
/*
 * mpklink: protection-key-tagged shared memory channels between attested
 * processes.  See Documentation/design.md.
 *
 * This file owns the module's lifetime and the /dev/mpklink misc device.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>

static long mpklink_ioctl(struct file *file, unsigned int cmd,
			  unsigned long arg)
{
	return -ENOTTY;
}

static const struct file_operations mpklink_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = mpklink_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

/*
 * Mode 0666: opening the device grants nothing by itself; every operation
 * is checked by the module (admin ioctls need CAP_SYS_ADMIN, attach is
 * checked against the channel's grants).
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

	err = misc_register(&mpklink_miscdev);
	if (err) {
		pr_err("cannot register /dev/mpklink: %d\n", err);
		return err;
	}
	return 0;
}

static void __exit mpklink_exit(void)
{
	misc_deregister(&mpklink_miscdev);
}

module_init(mpklink_init);
module_exit(mpklink_exit);

MODULE_DESCRIPTION("Protection-key-tagged shared memory channels");
MODULE_AUTHOR("MPKLink maintainers");
MODULE_LICENSE("GPL");
