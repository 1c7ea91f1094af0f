// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * RPC on a signed channel (kernel backend, so the guest): no code in the
 * service signs or verifies, yet a request altered after signing and one
 * replayed are refused with PERMISSION_DENIED, the server serves on, and
 * a method learns its caller's enrolled key.
 *
 * The client tampers with its own ring, which only it can write: the
 * records are at the ring's start, found from a reservation (as
 * libmpkshm's signed_test.c does), and the server starts only after the
 * tampering, so it never sees the genuine bytes.
 */
#include <sodium.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "key_file.h"
#include "rpc_lib_test.h"
#include "../../libmpkshm/src/internal.h"

FIXTURE(sig)
{
	char name[MPKLINK_NAME_MAX];
	char key[64];
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	struct mpkshm_channel *server, *client;
};

FIXTURE_SETUP(sig)
{
	unsigned char sk[crypto_sign_SECRETKEYBYTES];
	struct mpklink_grant g = {
		.size = sizeof(g), .flags = MPKLINK_GRANT_PUBKEY,
		.rights = MPKLINK_RIGHTS_ALL,
		.principal = { .match = MPKLINK_MATCH_UID, .uid = 0 },
	};
	struct mpkshm_options o;
	int dev;

	if (!lt_kernel_available())
		SKIP(_exit(255), "no /dev/mpklink here");
	ASSERT_LE(0, sodium_init());
	lt_name(self->name, "rpcsig");
	ASSERT_EQ(0, lt_kernel_create(self->name, LT_SEGMENT, 8,
				      MPKLINK_CREATE_SIGNED, 4242,
				      MPKLINK_RIGHT_READ));
	crypto_sign_keypair(self->pk, sk);
	memcpy(g.pubkey, self->pk, sizeof(self->pk));
	strcpy(g.name, self->name);
	dev = open(MPKLINK_DEVICE_PATH, O_RDWR);
	ASSERT_EQ(0, ioctl(dev, MPKLINK_IOC_GRANT, &g));
	close(dev);
	snprintf(self->key, sizeof(self->key), "/tmp/rpcsig.%d", getpid());
	ASSERT_EQ(0, key_file_write(self->key, sk, (uid_t)-1));
	sodium_memzero(sk, sizeof(sk));
	mpkshm_options_init(&o);
	o.secret_key_path = self->key;
	o.close_timeout_ms = 0;
	ASSERT_EQ(0, mpkshm_open(self->name, &o, &self->server));
	ASSERT_EQ(0, mpkshm_open(self->name, &o, &self->client));
}

FIXTURE_TEARDOWN(sig)
{
	if (self->client)
		mpkshm_close(self->client);
	if (self->server)
		mpkshm_close(self->server);
	lt_kernel_destroy(self->name);
	unlink(self->key);
}

/* Where @ch's next record goes: its ring's start, on a fresh endpoint. */
static struct mpkshm_rec *next_record(struct mpkshm_channel *ch)
{
	void *buf;

	if (mpkshm_reserve(ch, 8, &buf, 1000))
		return NULL;
	mpkshm_abandon(ch);
	return (struct mpkshm_rec *)((char *)buf - MPKSHM_REC_HDR);
}

struct outcome {
	bool ran;
	int status;
	bool intact;
};

static void closure(const Rpctest__Blob *out, void *arg)
{
	struct outcome *o = arg;

	o->ran = true;
	o->status = mpkrpc_client_last_status();
	o->intact = out && out->data.len == 6 &&
		    !memcmp(out->data.data, "pay 10", 6);
}

/* Starts Echo("pay 10") with its outcome to @o. */
static int start_echo(struct mpkrpc_client *c, struct outcome *o)
{
	Rpctest__Blob req = RPCTEST__BLOB__INIT;

	req.data.data = (uint8_t *)"pay 10";
	req.data.len = 6;
	return rpctest__echo__echo_start(c, &req, closure, o, 5000, NULL);
}

static void dispatch_all(struct mpkrpc_client *c)
{
	long long deadline = lt_now_ns() + 5000000000LL;

	while (mpkrpc_client_in_flight(c) && lt_now_ns() < deadline)
		mpkrpc_client_dispatch(c, 500);
}

static void with_key_open(struct mpkshm_channel *ch, bool open)
{
	struct mpkshm_info info;

	if (!mpkshm_info(ch, &info))
		pkey_set(info.pkey, open ? 0 : PKEY_DISABLE_ACCESS);
}

TEST_F(sig, altered_request_is_permission_denied_and_serving_goes_on)
{
	struct mpkrpc_client *c = rt_client(self->client, self->server);
	struct outcome altered = { 0 }, honest = { 0 };
	struct mpkshm_rec *rec = next_record(self->client);
	struct rt_server s;

	ASSERT_NE(NULL, c);
	ASSERT_NE(NULL, rec);
	ASSERT_EQ(MPKRPC_OK, start_echo(c, &altered));
	with_key_open(self->client, true);
	/* After the 16 bytes of our header and the field's 2: "pay 90". */
	((char *)(rec + 1))[16 + 2 + 4] = '9';
	with_key_open(self->client, false);
	ASSERT_EQ(0, rt_server_start(&s, self->server));
	dispatch_all(c);
	EXPECT_TRUE(altered.ran);
	EXPECT_EQ(MPKRPC_PERMISSION_DENIED, altered.status);
	ASSERT_EQ(MPKRPC_OK, start_echo(c, &honest));
	dispatch_all(c);
	EXPECT_EQ(MPKRPC_OK, honest.status);
	EXPECT_TRUE(honest.intact);
	EXPECT_EQ(0, rt_server_stop(&s));
	mpkrpc_client_free(c);
}

TEST_F(sig, replayed_request_is_permission_denied)
{
	struct mpkrpc_client *c = rt_client(self->client, self->server);
	struct outcome first = { 0 }, second = { 0 };
	struct mpkshm_rec *rec = next_record(self->client), *copy;
	uint64_t correlation;
	size_t size;
	struct rt_server s;

	ASSERT_NE(NULL, c);
	ASSERT_NE(NULL, rec);
	ASSERT_EQ(MPKRPC_OK, start_echo(c, &first));
	ASSERT_EQ(MPKRPC_OK, start_echo(c, &second));
	/*
	 * The second request, same size, becomes a copy of the first with
	 * the second's correlation: the first's genuine signature and
	 * sequence number, replayed for a call in flight.
	 */
	with_key_open(self->client, true);
	size = mpkshm_rec_size(rec->len, true);
	copy = (struct mpkshm_rec *)((char *)rec + size);
	correlation = copy->correlation;
	memcpy(copy, rec, size);
	copy->correlation = correlation;
	with_key_open(self->client, false);
	ASSERT_EQ(0, rt_server_start(&s, self->server));
	dispatch_all(c);
	EXPECT_EQ(MPKRPC_OK, first.status);
	EXPECT_TRUE(first.intact);
	EXPECT_TRUE(second.ran);
	EXPECT_EQ(MPKRPC_PERMISSION_DENIED, second.status);
	EXPECT_EQ(0, rt_server_stop(&s));
	mpkrpc_client_free(c);
}

TEST_F(sig, method_learns_its_callers_enrolled_key)
{
	struct mpkrpc_client *c = rt_client(self->client, self->server);
	Rpctest__Empty req = RPCTEST__EMPTY__INIT;
	Rpctest__Caller *who = NULL;
	struct rt_server s;

	ASSERT_NE(NULL, c);
	ASSERT_EQ(0, rt_server_start(&s, self->server));
	ASSERT_EQ(MPKRPC_OK, rpctest__echo__who_am_i_call(c, &req, &who, 2000));
	EXPECT_EQ(rt_member_id(self->client), who->member_id);
	EXPECT_EQ(0, who->uid);
	EXPECT_EQ(getpid(), who->pid);
	EXPECT_TRUE(who->authenticated);
	ASSERT_EQ(sizeof(self->pk), who->public_key.len);
	EXPECT_EQ(0, memcmp(self->pk, who->public_key.data, sizeof(self->pk)));
	rpctest__caller__free_unpacked(who, NULL);
	EXPECT_EQ(0, rt_server_stop(&s));
	mpkrpc_client_free(c);
}

TEST_HARNESS_MAIN
