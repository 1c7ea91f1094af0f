// SPDX-License-Identifier: GPL-2.0
/*
 * The uapi's rules for bad input: every ioctl validates its size field,
 * flags, reserved fields, strings and numbers, and returns the documented
 * errno (Documentation/design.md, "uapi").  One TAP line per case.
 */
#include <stdint.h>

#include "kselftest_harness.h"
#include "mpklink_test.h"

union mpk_req {
	struct mpklink_create create;
	struct mpklink_destroy destroy;
	struct mpklink_grant grant;
	struct mpklink_listing list;
	struct mpklink_attach attach;
	struct mpklink_notify notify;
};

enum { ON_DEVICE, ON_CHANNEL_FD };

/* A valid request for @cmd on channel @chan, which the fixture created. */
static void mpk_valid(unsigned long cmd, union mpk_req *r, const char *chan)
{
	memset(r, 0, sizeof(*r));
	switch (cmd) {
	case MPKLINK_IOC_CREATE:
		r->create.size = sizeof(r->create);
		r->create.segment_size = MPK_SEGMENT;
		mpk_name(r->create.name, "new");
		break;
	case MPKLINK_IOC_DESTROY:
		r->destroy.size = sizeof(r->destroy);
		strcpy(r->destroy.name, chan);
		break;
	case MPKLINK_IOC_GRANT:
	case MPKLINK_IOC_REVOKE:
		r->grant.size = sizeof(r->grant);
		r->grant.rights = cmd == MPKLINK_IOC_GRANT ? MPKLINK_RIGHTS_ALL : 0;
		strcpy(r->grant.name, chan);
		r->grant.principal = mpk_by_uid(0);
		break;
	case MPKLINK_IOC_LIST:
		r->list.size = sizeof(r->list);
		r->list.entry_size = sizeof(struct mpklink_channel_info);
		break;
	case MPKLINK_IOC_GRANTS:
		r->list.size = sizeof(r->list);
		r->list.entry_size = sizeof(struct mpklink_grant);
		strcpy(r->list.name, chan);
		break;
	case MPKLINK_IOC_MEMBERS:
	case MPKLINK_CHAN_IOC_MEMBERS:
		r->list.size = sizeof(r->list);
		r->list.entry_size = sizeof(struct mpklink_member_info);
		if (cmd == MPKLINK_IOC_MEMBERS)
			strcpy(r->list.name, chan);
		break;
	case MPKLINK_CHAN_IOC_NOTIFY:
		r->notify.size = sizeof(r->notify);
		break;
	case MPKLINK_IOC_ATTACH:
	case MPKLINK_CHAN_IOC_INFO:
		r->attach.size = sizeof(r->attach);
		if (cmd == MPKLINK_IOC_ATTACH)
			strcpy(r->attach.name, chan);
		break;
	}
}

FIXTURE(bad_ioctl)
{
	int dev;
	int chan_fd;
	char chan[MPKLINK_NAME_MAX];
};

FIXTURE_VARIANT(bad_ioctl)
{
	int target;
	unsigned long cmd;
	void (*mutate)(union mpk_req *r, const char *chan);
	int err;
};

FIXTURE_SETUP(bad_ioctl)
{
	self->dev = mpk_dev();
	ASSERT_LE(0, self->dev);
	mpk_name(self->chan, "uapi");
	ASSERT_EQ(0, mpk_create(self->dev, self->chan));
	ASSERT_EQ(0, mpk_grant(self->dev, self->chan, mpk_by_uid(0),
			       MPKLINK_RIGHTS_ALL));
	self->chan_fd = mpk_attach(self->dev, self->chan, NULL);
	ASSERT_LE(0, self->chan_fd);
}

FIXTURE_TEARDOWN(bad_ioctl)
{
	close(self->chan_fd);
	mpk_destroy(self->dev, self->chan);
	close(self->dev);
}

TEST_F(bad_ioctl, returns_documented_errno)
{
	int fd = variant->target == ON_DEVICE ? self->dev : self->chan_fd;
	union mpk_req r;

	mpk_valid(variant->cmd, &r, self->chan);
	variant->mutate(&r, self->chan);
	EXPECT_EQ(-1, ioctl(fd, variant->cmd, &r));
	EXPECT_EQ(variant->err, errno) {
		TH_LOG("expected %s, got %s", strerror(variant->err),
		       strerror(errno));
	}
}

#define BAD(_name, _target, _cmd, _err, ...)				\
	static void mutate_##_name(union mpk_req *r, const char *chan)	\
	{								\
		(void)r; (void)chan;					\
		__VA_ARGS__;						\
	}								\
	FIXTURE_VARIANT_ADD(bad_ioctl, _name) {				\
		.target = _target, .cmd = _cmd,				\
		.mutate = mutate_##_name, .err = _err,			\
	}

/* create */
BAD(create_size_field_too_small, ON_DEVICE, MPKLINK_IOC_CREATE, EINVAL,
    r->create.size = 8);
BAD(create_size_field_too_big, ON_DEVICE, MPKLINK_IOC_CREATE, EINVAL,
    r->create.size += 8);
BAD(create_unknown_flag, ON_DEVICE, MPKLINK_IOC_CREATE, EINVAL,
    r->create.flags = 0x80);
BAD(create_reserved0_set, ON_DEVICE, MPKLINK_IOC_CREATE, EINVAL,
    r->create.reserved0 = 1);
BAD(create_reserved_tail_set, ON_DEVICE, MPKLINK_IOC_CREATE, EINVAL,
    r->create.reserved[3] = 1);
BAD(create_empty_name, ON_DEVICE, MPKLINK_IOC_CREATE, EINVAL,
    memset(r->create.name, 0, MPKLINK_NAME_MAX));
BAD(create_unterminated_name, ON_DEVICE, MPKLINK_IOC_CREATE, EINVAL,
    memset(r->create.name, 'a', MPKLINK_NAME_MAX));
BAD(create_name_with_slash, ON_DEVICE, MPKLINK_IOC_CREATE, EINVAL,
    strcpy(r->create.name, "a/b"));
BAD(create_name_with_space, ON_DEVICE, MPKLINK_IOC_CREATE, EINVAL,
    strcpy(r->create.name, "a b"));
BAD(create_name_with_utf8, ON_DEVICE, MPKLINK_IOC_CREATE, EINVAL,
    strcpy(r->create.name, "caf\xc3\xa9"));
BAD(create_name_with_newline, ON_DEVICE, MPKLINK_IOC_CREATE, EINVAL,
    strcpy(r->create.name, "a\nb"));
BAD(create_segment_zero, ON_DEVICE, MPKLINK_IOC_CREATE, EINVAL,
    r->create.segment_size = 0);
BAD(create_segment_not_page_multiple, ON_DEVICE, MPKLINK_IOC_CREATE, EINVAL,
    r->create.segment_size = MPK_PAGE + 1);
BAD(create_segment_above_max, ON_DEVICE, MPKLINK_IOC_CREATE, EINVAL,
    r->create.segment_size = (64UL << 20) + MPK_PAGE);
BAD(create_segment_huge, ON_DEVICE, MPKLINK_IOC_CREATE, EINVAL,
    r->create.segment_size = 1ULL << 62);
BAD(create_segment_all_ones, ON_DEVICE, MPKLINK_IOC_CREATE, EINVAL,
    r->create.segment_size = ~0ULL & ~(MPK_PAGE - 1));
BAD(create_too_many_members, ON_DEVICE, MPKLINK_IOC_CREATE, EINVAL,
    r->create.max_members = MPKLINK_MAX_MEMBERS + 1);
BAD(create_existing_name, ON_DEVICE, MPKLINK_IOC_CREATE, EEXIST,
    strcpy(r->create.name, chan));

/* destroy */
BAD(destroy_unknown_channel, ON_DEVICE, MPKLINK_IOC_DESTROY, ENOENT,
    strcpy(r->destroy.name, "no-such-channel"));
BAD(destroy_flags_set, ON_DEVICE, MPKLINK_IOC_DESTROY, EINVAL,
    r->destroy.flags = 1);
BAD(destroy_reserved_set, ON_DEVICE, MPKLINK_IOC_DESTROY, EINVAL,
    r->destroy.reserved[1] = 1);

/* grant */
BAD(grant_no_rights, ON_DEVICE, MPKLINK_IOC_GRANT, EINVAL,
    r->grant.rights = 0);
BAD(grant_unknown_right, ON_DEVICE, MPKLINK_IOC_GRANT, EINVAL,
    r->grant.rights = 0x4);
BAD(grant_unknown_flag, ON_DEVICE, MPKLINK_IOC_GRANT, EINVAL,
    r->grant.flags = 0x2);
BAD(grant_empty_principal, ON_DEVICE, MPKLINK_IOC_GRANT, EINVAL,
    r->grant.principal.match = 0);
BAD(grant_unknown_match_bit, ON_DEVICE, MPKLINK_IOC_GRANT, EINVAL,
    r->grant.principal.match |= 0x10);
BAD(grant_gid_set_but_not_matched, ON_DEVICE, MPKLINK_IOC_GRANT, EINVAL,
    r->grant.principal.gid = 5);
BAD(grant_digest_set_but_not_matched, ON_DEVICE, MPKLINK_IOC_GRANT, EINVAL,
    r->grant.principal.exe_sha256[0] = 1);
BAD(grant_principal_reserved_set, ON_DEVICE, MPKLINK_IOC_GRANT, EINVAL,
    r->grant.principal.reserved = 1);
BAD(grant_unmappable_uid, ON_DEVICE, MPKLINK_IOC_GRANT, EINVAL,
    r->grant.principal.uid = (__u32)-1);
BAD(grant_cgroup_relative, ON_DEVICE, MPKLINK_IOC_GRANT, EINVAL,
    r->grant.principal = mpk_by_cgroup("a/b"));
BAD(grant_cgroup_dotdot, ON_DEVICE, MPKLINK_IOC_GRANT, EINVAL,
    r->grant.principal = mpk_by_cgroup("/a/../b"));
BAD(grant_cgroup_dot, ON_DEVICE, MPKLINK_IOC_GRANT, EINVAL,
    r->grant.principal = mpk_by_cgroup("/a/./b"));
BAD(grant_cgroup_double_slash, ON_DEVICE, MPKLINK_IOC_GRANT, EINVAL,
    r->grant.principal = mpk_by_cgroup("/a//b"));
BAD(grant_cgroup_trailing_slash, ON_DEVICE, MPKLINK_IOC_GRANT, EINVAL,
    r->grant.principal = mpk_by_cgroup("/a/"));
BAD(grant_cgroup_control_char, ON_DEVICE, MPKLINK_IOC_GRANT, EINVAL,
    r->grant.principal = mpk_by_cgroup("/a\tb"));
BAD(grant_cgroup_unterminated, ON_DEVICE, MPKLINK_IOC_GRANT, EINVAL,
    r->grant.principal.match = MPKLINK_MATCH_CGROUP;
    memset(r->grant.principal.cgroup, 'a', MPKLINK_CGROUP_PATH_MAX);
    r->grant.principal.cgroup[0] = '/');
BAD(grant_cgroup_garbage_after_nul, ON_DEVICE, MPKLINK_IOC_GRANT, EINVAL,
    r->grant.principal = mpk_by_cgroup("/a");
    r->grant.principal.cgroup[10] = 'x');
BAD(grant_pubkey_without_flag, ON_DEVICE, MPKLINK_IOC_GRANT, EINVAL,
    r->grant.pubkey[31] = 1);
BAD(grant_unknown_channel, ON_DEVICE, MPKLINK_IOC_GRANT, ENOENT,
    strcpy(r->grant.name, "no-such-channel"));

/* revoke */
BAD(revoke_with_rights, ON_DEVICE, MPKLINK_IOC_REVOKE, EINVAL,
    r->grant.rights = MPKLINK_RIGHT_READ);
BAD(revoke_with_flags, ON_DEVICE, MPKLINK_IOC_REVOKE, EINVAL,
    r->grant.flags = MPKLINK_GRANT_PUBKEY);
BAD(revoke_never_granted, ON_DEVICE, MPKLINK_IOC_REVOKE, ENOENT,
    r->grant.principal = mpk_by_uid(4242));

/* listings */
BAD(list_wrong_entry_size, ON_DEVICE, MPKLINK_IOC_LIST, EINVAL,
    r->list.entry_size -= 8);
BAD(list_flags_set, ON_DEVICE, MPKLINK_IOC_LIST, EINVAL,
    r->list.flags = 1);
BAD(list_bad_buffer, ON_DEVICE, MPKLINK_IOC_LIST, EFAULT,
    r->list.count = 1; r->list.entries = 16);
BAD(list_with_a_name, ON_DEVICE, MPKLINK_IOC_LIST, EINVAL,
    strcpy(r->list.name, chan));
BAD(grants_unknown_channel, ON_DEVICE, MPKLINK_IOC_GRANTS, ENOENT,
    strcpy(r->list.name, "no-such-channel"));
BAD(grants_wrong_entry_size, ON_DEVICE, MPKLINK_IOC_GRANTS, EINVAL,
    r->list.entry_size = 1);
BAD(grants_bad_channel_name, ON_DEVICE, MPKLINK_IOC_GRANTS, EINVAL,
    strcpy(r->list.name, "a b"));
BAD(members_reserved_set, ON_DEVICE, MPKLINK_IOC_MEMBERS, EINVAL,
    r->list.reserved[0] = 1);
BAD(members_size_field_wrong, ON_DEVICE, MPKLINK_IOC_MEMBERS, EINVAL,
    r->list.size = 0);

/* attach */
BAD(attach_unknown_channel, ON_DEVICE, MPKLINK_IOC_ATTACH, ENOENT,
    strcpy(r->attach.name, "no-such-channel"));
BAD(attach_unknown_flag, ON_DEVICE, MPKLINK_IOC_ATTACH, EINVAL,
    r->attach.flags = 0x10);
BAD(attach_reserved_set, ON_DEVICE, MPKLINK_IOC_ATTACH, EINVAL,
    r->attach.reserved[2] = 1);
BAD(attach_reserved0_set, ON_DEVICE, MPKLINK_IOC_ATTACH, EINVAL,
    r->attach.reserved0 = 1);
BAD(attach_channel_flags_given, ON_DEVICE, MPKLINK_IOC_ATTACH, EINVAL,
    r->attach.channel_flags = MPKLINK_CREATE_SIGNED);
BAD(attach_share_negative_pkey, ON_DEVICE, MPKLINK_IOC_ATTACH, EINVAL,
    r->attach.flags = MPKLINK_ATTACH_SHARE_PKEY; r->attach.pkey = -1);
BAD(attach_share_key_not_held, ON_DEVICE, MPKLINK_IOC_ATTACH, EINVAL,
    r->attach.flags = MPKLINK_ATTACH_SHARE_PKEY; r->attach.pkey = 15);
BAD(attach_size_field_wrong, ON_DEVICE, MPKLINK_IOC_ATTACH, EINVAL,
    r->attach.size = 4);

/* unknown commands */
BAD(unknown_command_other_type, ON_DEVICE, _IO('x', 1), ENOTTY, );
BAD(unknown_command_our_type, ON_DEVICE, _IO(MPKLINK_IOC_TYPE, 0x3f), ENOTTY, );
BAD(channel_command_on_device, ON_DEVICE, MPKLINK_CHAN_IOC_INFO, ENOTTY, );
BAD(device_command_on_channel_fd, ON_CHANNEL_FD, MPKLINK_IOC_CREATE, ENOTTY, );

/* channel fd */
BAD(chan_info_flags_set, ON_CHANNEL_FD, MPKLINK_CHAN_IOC_INFO, EINVAL,
    r->attach.flags = 1);
BAD(chan_members_name_set, ON_CHANNEL_FD, MPKLINK_CHAN_IOC_MEMBERS, EINVAL,
    strcpy(r->list.name, "x"));
BAD(chan_members_wrong_entry_size, ON_CHANNEL_FD, MPKLINK_CHAN_IOC_MEMBERS,
    EINVAL, r->list.entry_size = sizeof(struct mpklink_grant));
BAD(chan_info_size_field_wrong, ON_CHANNEL_FD, MPKLINK_CHAN_IOC_INFO, EINVAL,
    r->attach.size = 0);
BAD(notify_flags_set, ON_CHANNEL_FD, MPKLINK_CHAN_IOC_NOTIFY, EINVAL,
    r->notify.flags = 1);
BAD(notify_reserved_set, ON_CHANNEL_FD, MPKLINK_CHAN_IOC_NOTIFY, EINVAL,
    r->notify.reserved[1] = 1);
BAD(notify_size_field_wrong, ON_CHANNEL_FD, MPKLINK_CHAN_IOC_NOTIFY, EINVAL,
    r->notify.size = 8);
BAD(notify_slot_beyond_channel, ON_CHANNEL_FD, MPKLINK_CHAN_IOC_NOTIFY, EINVAL,
    r->notify.slots = 1ULL << 16);

TEST(api_version_is_1)
{
	int dev = mpk_dev();

	ASSERT_LE(0, dev);
	EXPECT_EQ(MPKLINK_API_VERSION, ioctl(dev, MPKLINK_IOC_API_VERSION));
	close(dev);
}

TEST(bad_user_pointer_is_efault)
{
	int dev = mpk_dev();

	ASSERT_LE(0, dev);
	EXPECT_EQ(-1, ioctl(dev, MPKLINK_IOC_CREATE, (void *)16));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(-1, ioctl(dev, MPKLINK_IOC_ATTACH, (void *)16));
	EXPECT_EQ(EFAULT, errno);
	close(dev);
}

/* Each admin ioctl as uid 1000 without capabilities: exit code = errno. */
static unsigned long admin_cmd;

static int admin_as_user(void *chan)
{
	union mpk_req r;
	int dev = mpk_dev();

	if (dev < 0)
		return 100;
	mpk_valid(admin_cmd, &r, chan);
	if (ioctl(dev, admin_cmd, &r) == 0)
		return 0;
	return errno;
}

TEST(admin_ioctls_need_cap_sys_admin)
{
	static const unsigned long cmds[] = {
		MPKLINK_IOC_CREATE, MPKLINK_IOC_DESTROY, MPKLINK_IOC_GRANT,
		MPKLINK_IOC_REVOKE, MPKLINK_IOC_LIST, MPKLINK_IOC_GRANTS,
		MPKLINK_IOC_MEMBERS,
	};
	char chan[MPKLINK_NAME_MAX];
	int dev = mpk_dev();
	unsigned int i;

	ASSERT_LE(0, dev);
	mpk_name(chan, "admin");
	ASSERT_EQ(0, mpk_create(dev, chan));
	ASSERT_EQ(0, mpk_grant(dev, chan, mpk_by_uid(0), MPKLINK_RIGHTS_ALL));
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		admin_cmd = cmds[i];
		EXPECT_EQ(EPERM, mpk_run_as(MPK_TEST_UID, MPK_TEST_GID, 0,
					    admin_as_user, chan)) {
			TH_LOG("ioctl %#lx", cmds[i]);
		}
	}
	/* The channel and its grant are untouched. */
	EXPECT_EQ(0, mpk_revoke(dev, chan, mpk_by_uid(0)));
	EXPECT_EQ(0, mpk_destroy(dev, chan));
	close(dev);
}

TEST_HARNESS_MAIN
