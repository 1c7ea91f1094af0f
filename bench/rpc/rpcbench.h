/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rpcbench: bench.proto's Bench service (the one grpc_bench serves) over
 * the transports of a .proto service in C:
 *
 *   rpcbench.c   command line, the client's workloads, libmpkshm-rpc
 *   pbc_unix.c   protobuf-c messages packed over a Unix stream socket
 *
 * Each transport gives the client one call per method it measures; the
 * server end runs in a child process.
 */
#ifndef RPCBENCH_H
#define RPCBENCH_H

#include "bench.mpkshm.h"

struct rpc_client {
	void *ctx;
	int (*echo)(void *ctx, const Mpkbench__Blob *req, Mpkbench__Blob **resp);
	int (*count)(void *ctx, const Mpkbench__Blob *req,
		     Mpkbench__Words **resp);
};

/* The service's methods, for every server. */
void bench_echo(Mpkbench__Bench_Service *service, const Mpkbench__Blob *in,
		Mpkbench__Blob_Closure closure, void *closure_data);
void bench_count(Mpkbench__Bench_Service *service, const Mpkbench__Blob *in,
		 Mpkbench__Words_Closure closure, void *closure_data);

/* pbc_unix.c: the server loop on @fd, and the client's calls over @fd. */
int pbc_unix_serve(int fd);
int pbc_unix_client(int fd, struct rpc_client *client);

#endif /* RPCBENCH_H */
