// SPDX-License-Identifier: GPL-2.0
/*
 * Introspection under debugfs (root only): /sys/kernel/debug/mpklink/.
 *
 *   stats   module-wide counters: pages allocated now, channels and
 *           members that exist now, attaches and denials since load
 */

#include <linux/debugfs.h>
#include <linux/seq_file.h>

#include "mpklink.h"

static struct dentry *mpklink_debugfs_dir;

static int mpklink_stats_show(struct seq_file *m, void *unused)
{
	seq_printf(m, "pages %ld\n", atomic_long_read(&mpklink_stats.pages));
	seq_printf(m, "channels %d\n", atomic_read(&mpklink_stats.channels));
	seq_printf(m, "members %d\n", atomic_read(&mpklink_stats.members));
	seq_printf(m, "attaches %lld\n",
		   (long long)atomic64_read(&mpklink_stats.attaches));
	seq_printf(m, "denials %lld\n",
		   (long long)atomic64_read(&mpklink_stats.denials));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(mpklink_stats);

void mpklink_debugfs_init(void)
{
	/* Introspection is optional: failures leave it absent, nothing else. */
	mpklink_debugfs_dir = debugfs_create_dir("mpklink", NULL);
	debugfs_create_file("stats", 0400, mpklink_debugfs_dir, NULL,
			    &mpklink_stats_fops);
}

void mpklink_debugfs_exit(void)
{
	debugfs_remove_recursive(mpklink_debugfs_dir);
}
