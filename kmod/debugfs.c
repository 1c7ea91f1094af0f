// SPDX-License-Identifier: GPL-2.0
/*
 * Introspection under debugfs (root only): /sys/kernel/debug/mpklink/.
 *
 *   stats     module-wide counters: pages allocated now, channels and
 *             members that exist now; attaches, denials, revocations and
 *             doorbell rings since load; executables hashed for digest
 *             grants since load; how many times keys were closed
 *             in every thread of a process, and how long the last and the
 *             slowest took; per-thread PKRU works allocated now
 *   channels  every channel with its counters, grants and members (pid
 *             and ids in the initial namespaces, executable digest, rights,
 *             key, state)
 *
 * Both are root-only: they show other users' processes.
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
	seq_printf(m, "revocations %lld\n",
		   (long long)atomic64_read(&mpklink_stats.revocations));
	seq_printf(m, "notifications %lld\n",
		   (long long)atomic64_read(&mpklink_stats.notifications));
	seq_printf(m, "exe_hashes %lld\n",
		   (long long)atomic64_read(&mpklink_stats.exe_hashes));
	seq_printf(m, "pkru_syncs %lld\n",
		   (long long)atomic64_read(&mpklink_stats.pkru_syncs));
	seq_printf(m, "pkru_sync_last_ns %lld\n",
		   (long long)atomic64_read(&mpklink_stats.pkru_sync_last_ns));
	seq_printf(m, "pkru_sync_last_threads %d\n",
		   atomic_read(&mpklink_stats.pkru_sync_last_threads));
	seq_printf(m, "pkru_sync_max_ns %lld\n",
		   (long long)atomic64_read(&mpklink_stats.pkru_sync_max_ns));
	seq_printf(m, "pkru_works %d\n",
		   atomic_read(&mpklink_stats.pkru_works));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(mpklink_stats);

static int mpklink_channels_debug_show(struct seq_file *m, void *unused)
{
	mpklink_channels_show(m);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(mpklink_channels_debug);

void mpklink_debugfs_init(void)
{
	/* Introspection is optional: failures leave it absent, nothing else. */
	mpklink_debugfs_dir = debugfs_create_dir("mpklink", NULL);
	debugfs_create_file("stats", 0400, mpklink_debugfs_dir, NULL,
			    &mpklink_stats_fops);
	debugfs_create_file("channels", 0400, mpklink_debugfs_dir, NULL,
			    &mpklink_channels_debug_fops);
}

void mpklink_debugfs_exit(void)
{
	debugfs_remove_recursive(mpklink_debugfs_dir);
}
