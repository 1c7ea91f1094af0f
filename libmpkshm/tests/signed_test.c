// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Signed channels (kernel backend): every message is signed over (channel,
 * sender, sequence, payload) and verified against the sender's public key
 * from the kernel's record of the channel's members.  A rejected message
 * is consumed.  Forged, altered and replayed messages, sent by an attacker
 * of another user, are the attack suite's (selftests/attack_test.c).
 */
#include <pthread.h>
#include <sodium.h>
#include <sys/stat.h>

#include "kselftest_harness.h"
#include "key_file.h"
#include "lib_test.h"
#include "../src/internal.h"

FIXTURE(sig)
{
	char name[MPKLINK_NAME_MAX];
	char good_key[64];
	struct mpkshm_channel *a, *b;
};

FIXTURE_SETUP(sig)
{
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	unsigned char sk[crypto_sign_SECRETKEYBYTES];
	struct mpklink_grant g = {
		.size = sizeof(g), .flags = MPKLINK_GRANT_PUBKEY,
		.rights = MPKLINK_RIGHTS_ALL,
		.principal = { .match = MPKLINK_MATCH_UID, .uid = 0 },
	};
	int dev;

	if (!lt_kernel_available())
		SKIP(_exit(255), "no /dev/mpklink here");
	ASSERT_LE(0, sodium_init());
	lt_name(self->name, "sig");
	/* The grant carries the good key's public half. */
	ASSERT_EQ(0, lt_kernel_create(self->name, LT_SEGMENT, 8,
				      MPKLINK_CREATE_SIGNED, 4242,
				      MPKLINK_RIGHT_READ));
	crypto_sign_keypair(pk, sk);
	memcpy(g.pubkey, pk, sizeof(pk));
	strcpy(g.name, self->name);
	dev = open(MPKLINK_DEVICE_PATH, O_RDWR);
	ASSERT_EQ(0, ioctl(dev, MPKLINK_IOC_GRANT, &g));
	close(dev);
	snprintf(self->good_key, sizeof(self->good_key), "/tmp/sig.%d.good",
		 getpid());
	ASSERT_EQ(0, key_file_write(self->good_key, sk, (uid_t)-1));
	sodium_memzero(sk, sizeof(sk));
}

FIXTURE_TEARDOWN(sig)
{
	if (self->b)
		mpkshm_close(self->b);
	if (self->a)
		mpkshm_close(self->a);
	lt_kernel_destroy(self->name);
	unlink(self->good_key);
}

static int open_with_key(const char *name, const char *key,
			 struct mpkshm_channel **out)
{
	struct mpkshm_options o;

	mpkshm_options_init(&o);
	o.secret_key_path = key;
	o.close_timeout_ms = 0;
	return mpkshm_open(name, &o, out);
}

TEST_F(sig, signed_messages_verify_both_ways)
{
	struct mpkshm_info info;
	struct mpkshm_msg m;
	char buf[16];

	ASSERT_EQ(0, open_with_key(self->name, self->good_key, &self->a));
	ASSERT_EQ(0, open_with_key(self->name, self->good_key, &self->b));
	ASSERT_EQ(0, mpkshm_info(self->a, &info));
	EXPECT_EQ(MPKSHM_PROT_SIGNED, info.protection & MPKSHM_PROT_SIGNED);
	ASSERT_EQ(0, mpkshm_send(self->a, MPKSHM_TO_ALL, "hello", 5, 1000));
	EXPECT_EQ(5, mpkshm_recv(self->b, buf, sizeof(buf), NULL, 1000));
	ASSERT_EQ(0, mpkshm_send(self->b, MPKSHM_TO_ALL, "back", 4, 1000));
	ASSERT_EQ(0, mpkshm_peek(self->a, &m, 1000));
	EXPECT_EQ(4, m.len);
	mpkshm_release(self->a, &m);
}

struct big_send {
	struct mpkshm_channel *ch;
	const char *buf;
	size_t len;
	int err;
};

static void *send_big(void *arg)
{
	struct big_send *b = arg;

	b->err = mpkshm_send(b->ch, MPKSHM_TO_ALL, b->buf, b->len, 5000);
	return NULL;
}

TEST_F(sig, split_signed_message_verifies_after_reassembly)
{
	size_t len = 3 * LT_SEGMENT;
	char *big = malloc(len), *in = malloc(len);
	struct big_send b;
	pthread_t t;

	ASSERT_EQ(0, open_with_key(self->name, self->good_key, &self->a));
	ASSERT_EQ(0, open_with_key(self->name, self->good_key, &self->b));
	memset(big, 's', len);
	b = (struct big_send){ self->a, big, len, 0 };
	ASSERT_EQ(0, pthread_create(&t, NULL, send_big, &b));
	EXPECT_EQ((ssize_t)len, mpkshm_recv(self->b, in, len, NULL, 5000));
	pthread_join(t, NULL);
	EXPECT_EQ(0, b.err);
	EXPECT_EQ(0, memcmp(big, in, len));
	free(big);
	free(in);
}

struct big_recv {
	struct mpkshm_channel *ch;
	char *buf;
	size_t len;
	ssize_t got;
};

static void *recv_big(void *arg)
{
	struct big_recv *r = arg;

	r->got = mpkshm_recv(r->ch, r->buf, r->len, NULL, 5000);
	return NULL;
}

/*
 * The signature covers the whole message: a receive that times out part
 * way keeps the hash of what it took, and the next one goes on with it.
 * (A slower reader, c, holds the writer back until b has timed out.)
 */
TEST_F(sig, split_signed_message_verifies_when_a_receive_goes_on_after_a_timeout)
{
	size_t len = 3 * LT_SEGMENT;
	char *big = malloc(len), *in = malloc(len), *in_c = malloc(len);
	struct big_recv r = { .buf = in_c, .len = len };
	pthread_t sending, receiving;
	struct big_send b;

	ASSERT_NE(NULL, big);
	ASSERT_NE(NULL, in);
	ASSERT_NE(NULL, in_c);
	ASSERT_EQ(0, open_with_key(self->name, self->good_key, &self->a));
	ASSERT_EQ(0, open_with_key(self->name, self->good_key, &self->b));
	ASSERT_EQ(0, open_with_key(self->name, self->good_key, &r.ch));
	memset(big, 's', len);
	b = (struct big_send){ self->a, big, len, 0 };
	ASSERT_EQ(0, pthread_create(&sending, NULL, send_big, &b));
	usleep(50000);
	ASSERT_EQ(-ETIMEDOUT, mpkshm_recv(self->b, in, len, NULL, 0));
	ASSERT_EQ(0, pthread_create(&receiving, NULL, recv_big, &r));
	EXPECT_EQ((ssize_t)len, mpkshm_recv(self->b, in, len, NULL, 5000));
	pthread_join(sending, NULL);
	pthread_join(receiving, NULL);
	EXPECT_EQ(0, b.err);
	EXPECT_EQ((ssize_t)len, r.got);
	EXPECT_EQ(0, memcmp(big, in, len));
	mpkshm_close(r.ch);
	free(big);
	free(in);
	free(in_c);
}

/* The record at the start of @ch's ring, found from a reservation. */
static struct mpkshm_rec *first_record(struct mpkshm_channel *ch)
{
	void *buf;

	if (mpkshm_reserve(ch, 8, &buf, 1000))
		return NULL;
	mpkshm_abandon(ch);
	return (struct mpkshm_rec *)((char *)buf - MPKSHM_REC_HDR);
}

TEST_F(sig, rejected_message_is_consumed_and_the_next_one_arrives)
{
	struct mpkshm_info info;
	struct mpkshm_rec *rec;
	struct mpkshm_msg m;

	ASSERT_EQ(0, open_with_key(self->name, self->good_key, &self->a));
	ASSERT_EQ(0, open_with_key(self->name, self->good_key, &self->b));
	rec = first_record(self->a);
	ASSERT_NE(NULL, rec);
	ASSERT_EQ(0, mpkshm_send(self->a, MPKSHM_TO_ALL, "pay 10", 6, 1000));
	ASSERT_EQ(0, mpkshm_send(self->a, MPKSHM_TO_ALL, "honest", 6, 1000));
	ASSERT_EQ(0, mpkshm_info(self->a, &info));
	pkey_set(info.pkey, 0);
	((char *)(rec + 1))[4] = '9';
	pkey_set(info.pkey, PKEY_DISABLE_ACCESS);
	/* Zero copy too: the bad one is dropped, not returned forever. */
	EXPECT_EQ(-EKEYREJECTED, mpkshm_peek(self->b, &m, 1000));
	ASSERT_EQ(0, mpkshm_peek(self->b, &m, 1000));
	EXPECT_EQ(6, m.len);
	EXPECT_EQ(2, m.seq);
	mpkshm_release(self->b, &m);
}

TEST_F(sig, secret_key_readable_by_others_is_refused)
{
	ASSERT_EQ(0, chmod(self->good_key, 0644));
	EXPECT_EQ(-EPERM, open_with_key(self->name, self->good_key, &self->a));
}

TEST_F(sig, signed_channel_without_a_key_is_enokey)
{
	EXPECT_EQ(-ENOKEY, open_with_key(self->name, NULL, &self->a));
	EXPECT_EQ(-ENOENT, open_with_key(self->name, "/nonexistent/key",
					 &self->a));
}

TEST_HARNESS_MAIN
