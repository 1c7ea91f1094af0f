// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * libFuzzer harness for the ring reader (src/ring.c): the writer of a ring
 * is untrusted, so its head index and every byte of its ring are the
 * fuzzer's.  The ring lives in a heap buffer of exactly its capacity, so
 * AddressSanitizer catches any read outside it; every record the reader
 * accepts must lie inside the ring too.
 *
 * Input: capacity selector (1 byte), head (8), tail (8), then ring bytes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../src/internal.h"

#define MAX_WALK 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mpkshm_rec_view view;
	uint64_t capacity, head, tail;
	uint8_t *ring;
	int i, ret;

	if (size < 17)
		return 0;
	/* 64 B .. 16 KiB, aligned, and sometimes impossible ones. */
	capacity = (uint64_t)(data[0] % 64 + 1) * MPKSHM_ALIGN;
	if (data[0] >= 250)
		capacity += data[0] - 249;	/* misaligned: must be refused */
	memcpy(&head, data + 1, sizeof(head));
	memcpy(&tail, data + 9, sizeof(tail));
	tail &= ~(uint64_t)(MPKSHM_ALIGN - 1);	/* our tail is always aligned */
	data += 17;
	size -= 17;

	ring = malloc(capacity);
	if (!ring)
		return 0;
	for (i = 0; i < (int)capacity; i++)
		ring[i] = size ? data[i % size] : 0;

	for (i = 0; i < MAX_WALK; i++) {
		ret = mpkshm_ring_look(ring, capacity, head, tail, &view);
		if (ret <= 0) {
			if (ret < 0 && ret != -EBADMSG)
				abort();
			break;
		}
		/* Positions are modulo 2^64: progress is next - tail. */
		if (view.next - tail == 0 || view.next - tail > capacity)
			abort();	/* no progress, or beyond the ring */
		if (view.payload &&
		    (view.payload < ring ||
		     view.payload + view.hdr.len > ring + capacity))
			abort();
		if (view.payload && view.hdr.len)
			(void)((volatile const uint8_t *)view.payload)
				[view.hdr.len - 1];
		tail = view.next;
	}
	free(ring);
	return 0;
}
