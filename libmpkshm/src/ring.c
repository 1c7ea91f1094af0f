// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/*
 * Reading another member's ring.  The writer owns those bytes and may be
 * buggy or hostile: it can put anything in its head index and its record
 * headers, and change them while we look.  So the header is copied once
 * and every check is made on the copy; an impossible index or length makes
 * the ring corrupt (EBADMSG), and nothing outside [data, data + capacity)
 * is ever read.  libmpkshm/fuzz/ring_fuzz.c feeds this function garbage.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

int mpkshm_ring_look(const uint8_t *data, uint64_t capacity, uint64_t head,
		     uint64_t tail, struct mpkshm_rec_view *view)
{
	const uint64_t known = MPKSHM_REC_FIRST | MPKSHM_REC_LAST |
			       MPKSHM_REC_SIGNED;
	struct mpkshm_rec *h = &view->hdr;
	uint64_t avail = head - tail, off, size;

	if (avail == 0)
		return 0;
	/* Our own tail is aligned; a head behind it wraps to a huge avail. */
	if (capacity < 2 * MPKSHM_ALIGN || capacity % MPKSHM_ALIGN ||
	    tail % MPKSHM_ALIGN || avail > capacity || avail % MPKSHM_ALIGN)
		return -EBADMSG;
	off = tail % capacity;
	memcpy(h, data + off, sizeof(*h));

	if (h->kind == MPKSHM_REC_PAD) {
		size = capacity - off;
		if (size > avail)
			return -EBADMSG;
		view->payload = NULL;
		view->next = tail + size;
		return 1;
	}
	if (h->kind < MPKSHM_REC_DATA || h->kind > MPKSHM_REC_RESPONSE ||
	    h->flags & ~known || h->seq == 0 || h->len > capacity)
		return -EBADMSG;
	size = mpkshm_rec_size(h->len, h->flags & MPKSHM_REC_SIGNED);
	if (size > capacity - off || size > avail)
		return -EBADMSG;
	if (h->flags & MPKSHM_REC_FIRST && h->total < h->len)
		return -EBADMSG;
	if ((h->flags & (MPKSHM_REC_FIRST | MPKSHM_REC_LAST)) ==
	    (MPKSHM_REC_FIRST | MPKSHM_REC_LAST) && h->total != h->len)
		return -EBADMSG;
	view->payload = data + off + MPKSHM_REC_HDR;
	view->next = tail + size;
	return 1;
}
