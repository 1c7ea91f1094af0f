// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Large blocks (from 128 KiB) kept per thread.  A service that sends or receives large
 * messages over and over would otherwise have each packing buffer and
 * each unpacked bytes field of tens of megabytes come from fresh pages
 * (malloc maps them, free unmaps them), and fault them in on every call:
 * for an 80 MB request that was a fifth of the call.  Each thread keeps
 * its one largest block, reused while it is free, and freed when the
 * thread exits.  Smaller ones are plain malloc().
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "wire.h"

#define BIG	(128u << 10)	/* where glibc starts mapping fresh pages */

struct big_block {
	void *p;
	size_t cap;
	bool in_use;
};

static pthread_key_t key;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static bool have_key;

static void drop(void *arg)
{
	struct big_block *b = arg;

	free(b->p);
	free(b);
}

static void make_key(void)
{
	have_key = !pthread_key_create(&key, drop);
}

static struct big_block *mine(void)
{
	struct big_block *b;

	pthread_once(&once, make_key);
	if (!have_key)
		return NULL;
	b = pthread_getspecific(key);
	if (!b) {
		b = calloc(1, sizeof(*b));
		if (b && pthread_setspecific(key, b)) {
			free(b);
			b = NULL;
		}
	}
	return b;
}

void *mpkrpc_big_alloc(size_t len)
{
	struct big_block *b = len >= BIG ? mine() : NULL;
	void *bigger;

	if (!b || b->in_use)
		return malloc(len ? len : 1);
	if (len > b->cap) {
		/* Not realloc(): the old contents are of no use. */
		bigger = malloc(len);
		if (!bigger)
			return NULL;
		free(b->p);
		b->p = bigger;
		b->cap = len;
	}
	b->in_use = true;
	return b->p;
}

void mpkrpc_big_free(void *p)
{
	struct big_block *b;

	if (!p)
		return;
	b = have_key ? pthread_getspecific(key) : NULL;
	if (b && p == b->p) {
		b->in_use = false;
		return;
	}
	free(p);
}

static void *pbc_alloc(void *data, size_t len)
{
	(void)data;
	return mpkrpc_big_alloc(len);
}

static void pbc_free(void *data, void *p)
{
	(void)data;
	mpkrpc_big_free(p);
}

ProtobufCAllocator mpkrpc_allocator = {
	.alloc = pbc_alloc, .free = pbc_free,
};
