// SPDX-License-Identifier: GPL-2.0
/*
 * Channels and grants as an administrator sees them: create, destroy,
 * list, grant, revoke, and the limits on each.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "kselftest_harness.h"
#include "mpklink_test.h"

#define MAX_CHANNELS	1024	/* the module's default max_channels */
#define MAX_GRANTS	256	/* the module's default max_grants */

FIXTURE(admin)
{
	int dev;
	char chan[MPKLINK_NAME_MAX];
};

FIXTURE_SETUP(admin)
{
	self->dev = mpk_dev();
	ASSERT_LE(0, self->dev);
	mpk_name(self->chan, "chan");
	ASSERT_EQ(0, mpk_create(self->dev, self->chan));
}

FIXTURE_TEARDOWN(admin)
{
	mpk_destroy(self->dev, self->chan);
	close(self->dev);
}

/* The entry for @name in the channel list, or -1. */
static int find_channel(int dev, const char *name,
			struct mpklink_channel_info *out)
{
	struct mpklink_channel_info *info = calloc(MAX_CHANNELS, sizeof(*info));
	struct mpklink_listing req = {
		.size = sizeof(req),
		.entry_size = sizeof(*info),
		.count = MAX_CHANNELS,
		.entries = (uintptr_t)info,
	};
	unsigned int i;
	int found = -1;

	if (!info || ioctl(dev, MPKLINK_IOC_LIST, &req)) {
		free(info);
		return -1;
	}
	for (i = 0; i < req.count && i < MAX_CHANNELS; i++) {
		if (!strcmp(info[i].name, name)) {
			*out = info[i];
			found = 0;
			break;
		}
	}
	free(info);
	return found;
}

static int list_grants(int dev, const char *name, struct mpklink_grant *out,
		       unsigned int room)
{
	struct mpklink_listing req = {
		.size = sizeof(req),
		.entry_size = sizeof(*out),
		.count = room,
		.entries = (uintptr_t)out,
	};

	strcpy(req.name, name);
	if (ioctl(dev, MPKLINK_IOC_GRANTS, &req))
		return -errno;
	return req.count;
}

TEST_F(admin, created_channel_is_listed_with_its_geometry)
{
	struct mpklink_channel_info info;

	ASSERT_EQ(0, find_channel(self->dev, self->chan, &info));
	EXPECT_EQ(MPK_SEGMENT, info.segment_size);
	EXPECT_EQ(16, info.max_members);	/* default_members */
	EXPECT_EQ(0, info.flags);
	EXPECT_EQ(0, info.nr_members);
	EXPECT_EQ(0, info.nr_grants);
}

TEST_F(admin, list_counts_channels_beyond_the_room_given)
{
	struct mpklink_listing req = {
		.size = sizeof(req),
		.entry_size = sizeof(struct mpklink_channel_info),
	};

	ASSERT_EQ(0, ioctl(self->dev, MPKLINK_IOC_LIST, &req));
	EXPECT_LE(1, req.count);
}

TEST_F(admin, signed_flag_and_member_count_are_kept)
{
	struct mpklink_create req = {
		.size = sizeof(req),
		.flags = MPKLINK_CREATE_SIGNED,
		.segment_size = 2 * MPK_PAGE,
		.max_members = 3,
	};
	struct mpklink_channel_info info;

	mpk_name(req.name, "signed");
	ASSERT_EQ(0, ioctl(self->dev, MPKLINK_IOC_CREATE, &req));
	ASSERT_EQ(0, find_channel(self->dev, req.name, &info));
	EXPECT_EQ(MPKLINK_CREATE_SIGNED, info.flags);
	{
		struct mpklink_attach a;
		int fd;

		ASSERT_EQ(0, mpk_grant(self->dev, req.name, mpk_by_uid(0),
				       MPKLINK_RIGHT_READ));
		fd = mpk_attach(self->dev, req.name, &a);
		ASSERT_LE(0, fd);
		EXPECT_EQ(MPKLINK_CREATE_SIGNED, a.channel_flags);
		close(fd);
	}
	EXPECT_EQ(3, info.max_members);
	EXPECT_EQ(2 * MPK_PAGE, info.segment_size);
	EXPECT_EQ(0, mpk_destroy(self->dev, req.name));
}

TEST_F(admin, destroy_removes_the_name_and_frees_it_for_reuse)
{
	struct mpklink_channel_info info;

	ASSERT_EQ(0, mpk_destroy(self->dev, self->chan));
	EXPECT_EQ(-1, find_channel(self->dev, self->chan, &info));
	EXPECT_EQ(-ENOENT, mpk_destroy(self->dev, self->chan));
	EXPECT_EQ(0, mpk_create(self->dev, self->chan));
}

TEST_F(admin, grant_of_equal_principal_replaces_its_rights)
{
	struct mpklink_grant g[4];

	ASSERT_EQ(0, mpk_grant(self->dev, self->chan, mpk_by_uid(7),
			       MPKLINK_RIGHT_READ));
	ASSERT_EQ(0, mpk_grant(self->dev, self->chan, mpk_by_uid(7),
			       MPKLINK_RIGHTS_ALL));
	ASSERT_EQ(1, list_grants(self->dev, self->chan, g, 4));
	EXPECT_EQ(MPKLINK_RIGHTS_ALL, g[0].rights);
	EXPECT_EQ(MPKLINK_MATCH_UID, g[0].principal.match);
	EXPECT_EQ(7, g[0].principal.uid);
}

TEST_F(admin, different_principals_are_different_grants)
{
	struct mpklink_principal both = mpk_by_uid(7);
	struct mpklink_grant g[4];

	both.match |= MPKLINK_MATCH_GID;
	both.gid = 7;
	ASSERT_EQ(0, mpk_grant(self->dev, self->chan, mpk_by_uid(7),
			       MPKLINK_RIGHT_READ));
	ASSERT_EQ(0, mpk_grant(self->dev, self->chan, mpk_by_gid(7),
			       MPKLINK_RIGHT_READ));
	ASSERT_EQ(0, mpk_grant(self->dev, self->chan, both,
			       MPKLINK_RIGHT_WRITE));
	EXPECT_EQ(3, list_grants(self->dev, self->chan, g, 4));
}

TEST_F(admin, grants_list_every_field_back)
{
	struct mpklink_grant req = {
		.size = sizeof(req),
		.flags = MPKLINK_GRANT_PUBKEY,
		.rights = MPKLINK_RIGHT_WRITE,
		.principal = {
			.match = MPKLINK_MATCH_ALL,
			.uid = 11, .gid = 12, .cgroup = "/svc/orders",
		},
	};
	struct mpklink_grant g[2];

	memset(req.principal.exe_sha256, 0xab, MPKLINK_SHA256_SIZE);
	memset(req.pubkey, 0xcd, MPKLINK_PUBKEY_SIZE);
	strcpy(req.name, self->chan);
	ASSERT_EQ(0, ioctl(self->dev, MPKLINK_IOC_GRANT, &req));
	ASSERT_EQ(1, list_grants(self->dev, self->chan, g, 2));
	EXPECT_EQ(sizeof(req), g[0].size);
	EXPECT_STREQ(self->chan, g[0].name);
	EXPECT_EQ(0, memcmp(&req.principal, &g[0].principal,
			    sizeof(req.principal)));
	EXPECT_EQ(MPKLINK_GRANT_PUBKEY, g[0].flags);
	EXPECT_EQ(0, memcmp(req.pubkey, g[0].pubkey, MPKLINK_PUBKEY_SIZE));
	EXPECT_EQ(MPKLINK_RIGHT_WRITE, g[0].rights);
}

TEST_F(admin, revoke_removes_the_grant_and_attach_is_refused)
{
	struct mpklink_grant g[2];

	ASSERT_EQ(0, mpk_grant(self->dev, self->chan, mpk_by_uid(0),
			       MPKLINK_RIGHTS_ALL));
	ASSERT_EQ(0, mpk_revoke(self->dev, self->chan, mpk_by_uid(0)));
	EXPECT_EQ(0, list_grants(self->dev, self->chan, g, 2));
	EXPECT_EQ(-EACCES, mpk_attach(self->dev, self->chan, NULL));
	EXPECT_EQ(-ENOENT, mpk_revoke(self->dev, self->chan, mpk_by_uid(0)));
}

TEST_F(admin, grants_stop_at_max_grants_with_enospc)
{
	int i;

	for (i = 0; i < MAX_GRANTS; i++)
		ASSERT_EQ(0, mpk_grant(self->dev, self->chan,
				       mpk_by_uid(10000 + i),
				       MPKLINK_RIGHT_READ));
	EXPECT_EQ(-ENOSPC, mpk_grant(self->dev, self->chan,
				     mpk_by_uid(20000), MPKLINK_RIGHT_READ));
	/* Changing an existing grant still works at the limit. */
	EXPECT_EQ(0, mpk_grant(self->dev, self->chan, mpk_by_uid(10000),
			       MPKLINK_RIGHTS_ALL));
}

TEST(channels_stop_at_max_channels_with_enospc)
{
	struct mpklink_listing list = {
		.size = sizeof(list),
		.entry_size = sizeof(struct mpklink_channel_info),
	};
	char name[MPKLINK_NAME_MAX];
	int dev = mpk_dev(), made = 0, err = 0, i;

	ASSERT_LE(0, dev);
	ASSERT_EQ(0, ioctl(dev, MPKLINK_IOC_LIST, &list));
	while (made + (int)list.count < MAX_CHANNELS) {
		snprintf(name, sizeof(name), "limit.%d.%d", getpid(), made);
		err = mpk_create(dev, name);
		if (err)
			break;
		made++;
	}
	EXPECT_EQ(0, err);
	snprintf(name, sizeof(name), "limit.%d.over", getpid());
	EXPECT_EQ(-ENOSPC, mpk_create(dev, name));
	for (i = 0; i < made; i++) {
		snprintf(name, sizeof(name), "limit.%d.%d", getpid(), i);
		ASSERT_EQ(0, mpk_destroy(dev, name));
	}
	close(dev);
}

TEST_F(admin, channel_full_of_members_refuses_with_eusers)
{
	char small[MPKLINK_NAME_MAX];
	int a, b;

	mpk_name(small, "small");
	ASSERT_EQ(0, mpk_create_n(self->dev, small, MPK_PAGE, 2));
	ASSERT_EQ(0, mpk_grant(self->dev, small, mpk_by_uid(0),
			       MPKLINK_RIGHT_READ));
	a = mpk_attach(self->dev, small, NULL);
	b = mpk_attach(self->dev, small, NULL);
	ASSERT_LE(0, a);
	ASSERT_LE(0, b);
	EXPECT_EQ(-EUSERS, mpk_attach(self->dev, small, NULL));
	close(a);
	b = (close(b), mpk_attach(self->dev, small, NULL));
	EXPECT_LE(0, b) {
		TH_LOG("a slot is free again after detach: %s", strerror(-b));
	}
	close(b);
	EXPECT_EQ(0, mpk_destroy(self->dev, small));
}

TEST_F(admin, members_are_listed_by_admin_and_by_members)
{
	struct mpklink_member_info m[4];
	struct mpklink_listing req = {
		.size = sizeof(req),
		.entry_size = sizeof(m[0]),
		.count = 4,
		.entries = (uintptr_t)m,
	};
	struct mpklink_attach a1, a2;
	int fd1, fd2;

	ASSERT_EQ(0, mpk_grant(self->dev, self->chan, mpk_by_uid(0),
			       MPKLINK_RIGHTS_ALL));
	fd1 = mpk_attach(self->dev, self->chan, &a1);
	fd2 = mpk_attach(self->dev, self->chan, &a2);
	ASSERT_LE(0, fd1);
	ASSERT_LE(0, fd2);

	strcpy(req.name, self->chan);
	ASSERT_EQ(0, ioctl(self->dev, MPKLINK_IOC_MEMBERS, &req));
	ASSERT_EQ(2, req.count);
	EXPECT_EQ(a1.member_id, m[0].member_id);
	EXPECT_EQ(a2.member_id, m[1].member_id);
	EXPECT_EQ(getpid(), (pid_t)m[0].pid);
	EXPECT_EQ(0, m[0].uid);
	EXPECT_EQ(MPKLINK_RIGHTS_ALL, m[0].rights);
	EXPECT_EQ(a1.pkey, m[0].pkey);
	EXPECT_EQ(0, m[0].flags & MPKLINK_MEMBER_SELF);

	memset(req.name, 0, sizeof(req.name));
	req.count = 4;
	ASSERT_EQ(0, ioctl(fd2, MPKLINK_CHAN_IOC_MEMBERS, &req));
	ASSERT_EQ(2, req.count);
	EXPECT_EQ(0, m[0].flags & MPKLINK_MEMBER_SELF);
	EXPECT_EQ(MPKLINK_MEMBER_SELF, m[1].flags & MPKLINK_MEMBER_SELF);
	close(fd1);
	close(fd2);
}

TEST_F(admin, writer_gets_a_segment_reader_only_a_control_page)
{
	long before = mpk_stat("pages");
	int w, r;

	ASSERT_LE(0, before);
	ASSERT_EQ(0, mpk_grant(self->dev, self->chan, mpk_by_uid(0),
			       MPKLINK_RIGHT_WRITE));
	w = mpk_attach(self->dev, self->chan, NULL);
	ASSERT_LE(0, w);
	EXPECT_EQ(before + 1 + (long)(MPK_SEGMENT / MPK_PAGE),
		  mpk_stat("pages"));
	ASSERT_EQ(0, mpk_grant(self->dev, self->chan, mpk_by_uid(0),
			       MPKLINK_RIGHT_READ));
	r = mpk_attach(self->dev, self->chan, NULL);
	ASSERT_LE(0, r);
	EXPECT_EQ(before + 2 + (long)(MPK_SEGMENT / MPK_PAGE),
		  mpk_stat("pages"));
	close(w);
	close(r);
	EXPECT_EQ(before, mpk_stat("pages"));
}

/* The whole of a file, NUL-terminated, or NULL. */
static char *slurp(const char *path)
{
	size_t cap = 1 << 20, len = 0;
	char *buf = malloc(cap);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (!buf || fd < 0)
		return NULL;
	while ((n = read(fd, buf + len, cap - 1 - len)) > 0)
		len += n;
	close(fd);
	buf[len] = '\0';
	return buf;
}

TEST_F(admin, debugfs_shows_channels_grants_members_and_counters)
{
	struct mpklink_attach a;
	char want[256], *text;
	int fd;

	ASSERT_EQ(0, mpk_grant(self->dev, self->chan, mpk_by_uid(0),
			       MPKLINK_RIGHTS_ALL));
	fd = mpk_attach(self->dev, self->chan, &a);
	ASSERT_LE(0, fd);
	text = slurp("/sys/kernel/debug/mpklink/channels");
	ASSERT_NE(NULL, text);
	snprintf(want, sizeof(want),
		 "channel %s segment_size %lu max_members 16 flags - members 1 grants 1 attaches 1 ",
		 self->chan, MPK_SEGMENT);
	EXPECT_NE(NULL, strstr(text, want)) TH_LOG("%s", text);
	snprintf(want, sizeof(want), "  grant rights rw uid 0\n  member %llu slot %u pid %d uid 0 gid 0 rights rw key %d state live exe ",
		 a.member_id, a.slot, getpid(), a.pkey);
	EXPECT_NE(NULL, strstr(text, want)) TH_LOG("%s", text);
	free(text);
	text = slurp("/sys/kernel/debug/mpklink/stats");
	ASSERT_NE(NULL, text);
	EXPECT_NE(NULL, strstr(text, "revocations "));
	EXPECT_NE(NULL, strstr(text, "notifications "));
	EXPECT_NE(NULL, strstr(text, "pkru_sync_max_ns "));
	free(text);
	close(fd);
}

/* --- administration does not wait on an attach ---------------------------- */

struct big_attacher {
	const char *chan;
	atomic_int done;
	long long fastest_ns;		/* the quickest attach of a writer */
};

static void *attach_big_writer(void *arg)
{
	struct big_attacher *b = arg;
	long long t;
	int i, fd;

	b->fastest_ns = -1;
	for (i = 0; i < 4; i++) {
		t = mpk_now_ns();
		fd = mpk_attach_fresh(b->chan, NULL);
		t = mpk_now_ns() - t;
		if (fd < 0)
			break;
		if (b->fastest_ns < 0 || t < b->fastest_ns)
			b->fastest_ns = t;
		close(fd);
	}
	atomic_store(&b->done, 1);
	return NULL;
}

static long long timed_listing(int dev, unsigned long cmd, const char *chan)
{
	struct mpklink_grant entries[4];
	struct mpklink_listing req = {
		.size = sizeof(req),
		.entry_size = cmd == MPKLINK_IOC_LIST ?
			sizeof(struct mpklink_channel_info) :
			sizeof(struct mpklink_grant),
		.count = 0,
		.entries = (uintptr_t)entries,
	};
	long long t = mpk_now_ns();

	if (cmd != MPKLINK_IOC_LIST)
		snprintf(req.name, sizeof(req.name), "%s", chan);
	if (ioctl(dev, cmd, &req))
		return -1;
	return mpk_now_ns() - t;
}

/*
 * A writer's attach allocates its whole segment (64 MiB here, thousands of
 * zeroed pages): listing channels and grants meanwhile must not wait for
 * it, or one attach stalls every administrator on the host.
 */
TEST(listings_do_not_wait_for_a_writer_allocating_its_segment)
{
	char chan[MPKLINK_NAME_MAX];
	struct big_attacher b = { .chan = chan };
	long long slowest = 0, t;
	pthread_t thread;
	int dev = mpk_dev();

	ASSERT_LE(0, dev);
	mpk_name(chan, "big");
	ASSERT_EQ(0, mpk_create_n(dev, chan, 64UL << 20, 2));
	ASSERT_EQ(0, mpk_grant(dev, chan, mpk_by_uid(0), MPKLINK_RIGHTS_ALL));
	ASSERT_EQ(0, pthread_create(&thread, NULL, attach_big_writer, &b));
	while (!atomic_load(&b.done)) {
		t = timed_listing(dev, MPKLINK_IOC_LIST, chan);
		ASSERT_LE(0, t);
		slowest = t > slowest ? t : slowest;
		t = timed_listing(dev, MPKLINK_IOC_GRANTS, chan);
		ASSERT_LE(0, t);
		slowest = t > slowest ? t : slowest;
	}
	pthread_join(thread, NULL);
	ASSERT_LT(0, b.fastest_ns);
	TH_LOG("fastest attach %lld us, slowest listing %lld us",
	       b.fastest_ns / 1000, slowest / 1000);
	EXPECT_LT(slowest * 4, b.fastest_ns);
	mpk_destroy(dev, chan);
	close(dev);
}

TEST_HARNESS_MAIN
