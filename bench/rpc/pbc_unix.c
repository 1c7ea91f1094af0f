// SPDX-License-Identifier: GPL-2.0
/*
 * Protocol buffers over a Unix stream socket, as a service without gRPC
 * would do it: a header (method, length) and the packed message each way,
 * packed into and unpacked from a buffer that grows with the largest
 * message.  Blocking reads and writes: a socket has no spin mode.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../bench.h"
#include "rpcbench.h"

enum { METHOD_ECHO, METHOD_COUNT };

struct frame {
	uint32_t method;		/* request: METHOD_*; reply: 0 */
	uint32_t len;
};

struct conn {
	int fd;
	uint8_t *buf;
	size_t cap;
};

static int room(struct conn *c, size_t len)
{
	uint8_t *bigger;

	if (len <= c->cap)
		return 0;
	bigger = realloc(c->buf, len);
	if (!bigger)
		return -ENOMEM;
	c->buf = bigger;
	c->cap = len;
	return 0;
}

/* Packs @msg after a frame header and writes both. */
static int send_message(struct conn *c, uint32_t method,
			const ProtobufCMessage *msg)
{
	size_t len = protobuf_c_message_get_packed_size(msg);
	struct frame f = { .method = method, .len = (uint32_t)len };
	int err = room(c, len);

	if (err)
		return err;
	protobuf_c_message_pack(msg, c->buf);
	err = write_full(c->fd, &f, sizeof(f));
	return err ? err : write_full(c->fd, c->buf, len);
}

/* Reads one frame's message into the buffer: its length, or -errno. */
static ssize_t recv_message(struct conn *c, uint32_t *method)
{
	struct frame f;
	int err = read_full(c->fd, &f, sizeof(f));

	if (!err)
		err = room(c, f.len);
	if (!err)
		err = read_full(c->fd, c->buf, f.len);
	if (err)
		return err;
	*method = f.method;
	return f.len;
}

/* The closures a method runs: the reply goes out at once. */
struct reply {
	struct conn *c;
	int err;
};

static void reply_closure(const ProtobufCMessage *msg, void *arg)
{
	struct reply *r = arg;

	r->err = msg ? send_message(r->c, 0, msg) : -EPROTO;
}

int pbc_unix_serve(int fd)
{
	struct conn c = { .fd = fd };
	uint32_t method;
	ssize_t n;
	int err = 0;

	while ((n = recv_message(&c, &method)) >= 0) {
		struct reply r = { .c = &c };
		Mpkbench__Blob *in = mpkbench__blob__unpack(NULL, (size_t)n, c.buf);

		if (!in) {
			err = -EBADMSG;
			break;
		}
		if (method == METHOD_ECHO)
			bench_echo(NULL, in, (Mpkbench__Blob_Closure)reply_closure, &r);
		else
			bench_count(NULL, in, (Mpkbench__Words_Closure)reply_closure, &r);
		mpkbench__blob__free_unpacked(in, NULL);
		if (r.err) {
			err = r.err;
			break;
		}
	}
	free(c.buf);
	return n == -EPIPE || n == -ECONNRESET || n == 0 ? err : (int)n;
}

static int call(struct conn *c, uint32_t method, const Mpkbench__Blob *req,
		const ProtobufCMessageDescriptor *out_desc,
		ProtobufCMessage **out)
{
	uint32_t got;
	ssize_t n;
	int err = send_message(c, method, &req->base);

	if (err)
		return err;
	n = recv_message(c, &got);
	if (n < 0)
		return (int)n;
	*out = protobuf_c_message_unpack(out_desc, NULL, (size_t)n, c->buf);
	return *out ? 0 : -EBADMSG;
}

static int echo(void *ctx, const Mpkbench__Blob *req, Mpkbench__Blob **resp)
{
	ProtobufCMessage *out = NULL;
	int err = call(ctx, METHOD_ECHO, req, &mpkbench__blob__descriptor, &out);

	*resp = (Mpkbench__Blob *)out;
	return err;
}

static int count(void *ctx, const Mpkbench__Blob *req, Mpkbench__Words **resp)
{
	ProtobufCMessage *out = NULL;
	int err = call(ctx, METHOD_COUNT, req, &mpkbench__words__descriptor, &out);

	*resp = (Mpkbench__Words *)out;
	return err;
}

int pbc_unix_client(int fd, struct rpc_client *client)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->fd = fd;
	*client = (struct rpc_client){ .ctx = c, .echo = echo, .count = count };
	return 0;
}
