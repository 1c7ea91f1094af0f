// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Calls with no copy on the sending side: a request filled in place and
 * committed as a call (mpkshm_call_commit()), a reply filled in place
 * (mpkshm_reply_reserve()), and a response taken in memory the library
 * allocates (mpkshm_call_take()), bounded by max_response_size; and
 * mpkshm_member_info(), with which a server learns who called.  Every
 * backend.
 */
#include "kselftest_harness.h"
#include "lib_test.h"

LT_FIXTURE(zc)

/* Replies to each request with its bytes reversed, filled in place. */
static int reverse_in_place(void *arg, struct mpkshm_request *req)
{
	struct lt_server *s = arg;
	uint8_t *out;
	void *buf;
	size_t i;
	int err;

	err = mpkshm_reply_reserve(s->ch, req, req->len, &buf);
	if (err)
		return err;
	out = buf;
	for (i = 0; i < req->len; i++)
		out[i] = ((const uint8_t *)req->data)[req->len - 1 - i];
	return mpkshm_reply_commit(s->ch, req, req->len);
}

static uint64_t id_of(struct mpkshm_channel *ch)
{
	struct mpkshm_info info;

	return mpkshm_info(ch, &info) ? 0 : info.member_id;
}

TEST_F(zc, request_filled_in_place_gets_its_reply_in_allocated_memory)
{
	struct lt_server s;
	uint64_t call;
	size_t len = 0;
	void *buf, *resp = NULL;

	ASSERT_EQ(0, lt_server_start(&s, self->a, reverse_in_place, NULL));
	ASSERT_EQ(0, mpkshm_reserve(self->b, 5, &buf, 1000));
	memcpy(buf, "abcde", 5);
	ASSERT_EQ(0, mpkshm_call_commit(self->b, 5, id_of(self->a), NULL, 0,
					2000, &call));
	ASSERT_EQ(0, mpkshm_call_take(self->b, call, &resp, &len, 2000));
	EXPECT_EQ(5, len);
	EXPECT_EQ(0, memcmp(resp, "edcba", 5));
	free(resp);
	EXPECT_EQ(0, lt_server_stop(&s));
}

TEST_F(zc, reply_filled_in_place_reaches_a_copying_call)
{
	char resp[16];
	struct lt_server s;
	size_t len = 0;

	ASSERT_EQ(0, lt_server_start(&s, self->a, reverse_in_place, NULL));
	ASSERT_EQ(0, mpkshm_call(self->b, id_of(self->a), "xyz", 3, resp,
				 sizeof(resp), &len, 2000));
	EXPECT_EQ(3, len);
	EXPECT_EQ(0, memcmp(resp, "zyx", 3));
	EXPECT_EQ(0, lt_server_stop(&s));
}

TEST_F(zc, empty_reply_is_taken_as_a_buffer_of_its_own)
{
	struct lt_server s;
	uint64_t call;
	size_t len = 1;
	void *resp = NULL;

	ASSERT_EQ(0, lt_server_start(&s, self->a, reverse_in_place, NULL));
	ASSERT_EQ(0, mpkshm_call_start(self->b, id_of(self->a), NULL, 0, NULL,
				       0, 2000, &call));
	ASSERT_EQ(0, mpkshm_call_take(self->b, call, &resp, &len, 2000));
	EXPECT_EQ(0, len);
	EXPECT_NE(NULL, resp);	/* never NULL: free() it like any other */
	free(resp);
	EXPECT_EQ(0, lt_server_stop(&s));
}

TEST_F(zc, response_over_max_response_size_is_emsgsize)
{
	struct mpkshm_channel *small;
	struct mpkshm_options o;
	struct lt_server s;
	uint8_t req[2048] = { 0 };
	uint64_t call;
	size_t len = 0;
	void *resp = NULL;

	lt_options(&o, variant->backend, 0);
	o.max_response_size = 1024;
	ASSERT_EQ(0, mpkshm_open(self->name, &o, &small));
	ASSERT_EQ(0, lt_server_start(&s, self->a, reverse_in_place, NULL));
	ASSERT_EQ(0, mpkshm_call_start(small, id_of(self->a), req, sizeof(req),
				       NULL, 0, 2000, &call));
	EXPECT_EQ(-EMSGSIZE, mpkshm_call_take(small, call, &resp, &len, 2000));
	EXPECT_EQ(NULL, resp);
	ASSERT_EQ(0, mpkshm_call_start(small, id_of(self->a), req, 1024,
				       NULL, 0, 2000, &call));
	EXPECT_EQ(0, mpkshm_call_take(small, call, &resp, &len, 2000));
	EXPECT_EQ(1024, len);
	free(resp);
	EXPECT_EQ(0, lt_server_stop(&s));
	mpkshm_close(small);
}

TEST_F(zc, each_way_of_waiting_refuses_the_others_calls)
{
	char resp[8];
	struct lt_server s;
	uint64_t copying, allocating;
	size_t len;
	void *got = NULL;

	ASSERT_EQ(0, lt_server_start(&s, self->a, reverse_in_place, NULL));
	ASSERT_EQ(0, mpkshm_call_start(self->b, id_of(self->a), "ab", 2, resp,
				       sizeof(resp), 2000, &copying));
	ASSERT_EQ(0, mpkshm_call_start(self->b, id_of(self->a), "cd", 2, NULL,
				       0, 2000, &allocating));
	EXPECT_EQ(-EINVAL, mpkshm_call_take(self->b, copying, &got, &len, 0));
	EXPECT_EQ(-EINVAL, mpkshm_call_wait(self->b, allocating, &len, 0));
	EXPECT_EQ(0, mpkshm_call_wait(self->b, copying, &len, 2000));
	EXPECT_EQ(0, mpkshm_call_take(self->b, allocating, &got, &len, 2000));
	EXPECT_EQ(0, memcmp(got, "dc", 2));
	free(got);
	EXPECT_EQ(0, lt_server_stop(&s));
}

TEST_F(zc, call_commit_without_a_reservation_is_einval_and_over_it_emsgsize)
{
	uint64_t call;
	void *buf;

	EXPECT_EQ(-EINVAL, mpkshm_call_commit(self->b, 1, id_of(self->a), NULL,
					      0, 100, &call));
	ASSERT_EQ(0, mpkshm_reserve(self->b, 8, &buf, 1000));
	EXPECT_EQ(-EMSGSIZE, mpkshm_call_commit(self->b, 9, id_of(self->a),
						NULL, 0, 100, &call));
	/* Still reserved: EMSGSIZE left it as it was. */
	EXPECT_EQ(0, mpkshm_abandon(self->b));
}

/*
 * Closes @self->a and waits until @ch's directory no longer has it (on
 * memfd the broker tells the directory a little after the close): 0, or
 * what mpkshm_member_info() said last.
 */
static int leave(struct mpkshm_channel **a, struct mpkshm_channel *ch,
		 uint64_t id)
{
	long long deadline = lt_now_ns() + 2000000000LL;
	struct mpkshm_member m;
	int err;

	mpkshm_close(*a);
	*a = NULL;
	while ((err = mpkshm_member_info(ch, id, &m)) == 0 &&
	       lt_now_ns() < deadline)
		usleep(1000);
	return err == -ENOENT ? 0 : err ? err : -EEXIST;
}

TEST_F(zc, call_commit_to_a_member_that_left_is_econnreset)
{
	uint64_t gone = id_of(self->a), call;
	void *buf;

	ASSERT_EQ(0, leave(&self->a, self->b, gone));
	ASSERT_EQ(0, mpkshm_reserve(self->b, 4, &buf, 1000));
	memcpy(buf, "ping", 4);
	EXPECT_EQ(-ECONNRESET, mpkshm_call_commit(self->b, 4, gone, NULL, 0,
						  1000, &call));
	/* The reservation ended: the next send goes through. */
	EXPECT_EQ(0, mpkshm_send(self->b, MPKSHM_TO_ALL, "x", 1, 1000));
}

TEST_F(zc, member_info_describes_a_member_until_it_leaves)
{
	struct mpkshm_member m;
	uint64_t id = id_of(self->a);

	ASSERT_EQ(0, mpkshm_member_info(self->b, id, &m));
	EXPECT_EQ(id, m.member_id);
	EXPECT_EQ(geteuid(), m.uid);
	EXPECT_FALSE(m.self);
	EXPECT_FALSE(m.has_public_key);
	/* ENOENT once the departure reached the directory: within 2 s. */
	EXPECT_EQ(0, leave(&self->a, self->b, id));
	EXPECT_EQ(-ENOENT, mpkshm_member_info(self->b, id, &m));
	EXPECT_EQ(-EINVAL, mpkshm_member_info(self->b, 0, &m));
}

TEST_HARNESS_MAIN
