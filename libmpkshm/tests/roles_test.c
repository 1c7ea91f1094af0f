// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Roles: a member announces one (mpkshm_options.role) and another finds
 * it by it (mpkshm_find_member()), on a channel where mpkshm_find_peer()
 * would as well return another client; listings show roles, and a member
 * that writes garbage where its role goes announces none.
 */
#include "kselftest_harness.h"
#include "lib_test.h"
/* The control page, for the member that writes garbage in its own. */
#include "../src/internal.h"

LT_FIXTURE(roles)

static int open_as(enum mpkshm_backend backend, const char *name,
		   const char *role, struct mpkshm_channel **out)
{
	struct mpkshm_options o;

	lt_options(&o, backend, 0);
	o.role = role;
	return mpkshm_open(name, &o, out);
}

TEST_F(roles, client_finds_the_server_and_not_another_client)
{
	struct mpkshm_channel *server;
	uint64_t found = 0;

	ASSERT_EQ(0, open_as(variant->backend, self->name, "server", &server));
	ASSERT_EQ(0, mpkshm_find_member(self->a, "server", &found, 5000));
	EXPECT_EQ(lt_id(server), found);
	EXPECT_NE(lt_id(self->b), found);
	mpkshm_close(server);
}

struct finder {
	struct mpkshm_channel *ch;
	uint64_t found;
	int err;
};

static void *find_server(void *arg)
{
	struct finder *f = arg;

	f->err = mpkshm_find_member(f->ch, "server", &f->found, 10000);
	return NULL;
}

TEST_F(roles, finder_waiting_before_the_server_opens_finds_it)
{
	struct finder f = { .ch = self->a };
	struct mpkshm_channel *server;
	pthread_t t;

	ASSERT_EQ(0, pthread_create(&t, NULL, find_server, &f));
	usleep(100 * 1000);
	ASSERT_EQ(0, open_as(variant->backend, self->name, "server", &server));
	pthread_join(t, NULL);
	EXPECT_EQ(0, f.err);
	EXPECT_EQ(lt_id(server), f.found);
	mpkshm_close(server);
}

TEST_F(roles, role_nobody_announces_times_out)
{
	uint64_t found;

	EXPECT_EQ(-ETIMEDOUT, mpkshm_find_member(self->a, "server", &found,
						 100));
}

TEST_F(roles, own_role_is_not_found)
{
	struct mpkshm_channel *server;
	uint64_t found;

	ASSERT_EQ(0, open_as(variant->backend, self->name, "server", &server));
	EXPECT_EQ(-ETIMEDOUT, mpkshm_find_member(server, "server", &found, 100));
	mpkshm_close(server);
}

TEST_F(roles, roles_no_member_could_announce_are_einval)
{
	struct mpkshm_channel *ch = NULL;
	uint64_t found;

	EXPECT_EQ(-EINVAL, open_as(variant->backend, self->name, "", &ch));
	EXPECT_EQ(-EINVAL, open_as(variant->backend, self->name, "a role", &ch));
	EXPECT_EQ(-EINVAL, open_as(variant->backend, self->name,
				   "sixteen-bytes-xx", &ch));
	EXPECT_EQ(NULL, ch);
	EXPECT_EQ(-EINVAL, mpkshm_find_member(self->a, "a/b", &found, 0));
	EXPECT_EQ(-EINVAL, mpkshm_find_member(self->a, "server", NULL, 0));
}

TEST_F(roles, listing_shows_each_members_role)
{
	struct mpkshm_member m[8];
	struct mpkshm_channel *server;
	int n, i, seen = 0;
	uint64_t found;

	ASSERT_EQ(0, open_as(variant->backend, self->name, "server", &server));
	/* On memfd a new member's pages reach the others late ("": not yet). */
	ASSERT_EQ(0, mpkshm_find_member(self->a, "server", &found, 5000));
	n = mpkshm_members(self->a, m, 8);
	ASSERT_EQ(3, n);
	for (i = 0; i < n; i++) {
		if (m[i].member_id == lt_id(server)) {
			EXPECT_STREQ("server", m[i].role);
			seen++;
		} else {
			EXPECT_STREQ("", m[i].role);
		}
	}
	EXPECT_EQ(1, seen);
	mpkshm_close(server);
}

TEST_F(roles, member_writing_garbage_as_its_role_announces_none)
{
	struct mpkshm_channel *liar;
	struct mpkshm_member m;
	uint64_t found;

	ASSERT_EQ(0, open_as(variant->backend, self->name, "server", &liar));
	/* The liar's own page is its own to write: bytes no role has. */
	mpkshm_window_open(liar->pkey, true);
	memset(liar->own_ctrl->role, 0xff, sizeof(liar->own_ctrl->role));
	mpkshm_window_close(liar->pkey, true);
	ASSERT_EQ(0, mpkshm_member_info(self->a, lt_id(liar), &m));
	EXPECT_STREQ("", m.role);
	EXPECT_EQ(-ETIMEDOUT, mpkshm_find_member(self->a, "server", &found, 100));
	mpkshm_close(liar);
}

TEST_HARNESS_MAIN
