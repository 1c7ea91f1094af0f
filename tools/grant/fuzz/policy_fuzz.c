// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer harness for the policy parser (policy.c, principal.c): policy
 * files are written by people, so anything can be in them.  The parser
 * must never crash or read out of bounds (AddressSanitizer), must accept
 * or refuse every input, and must point each refusal at a place inside the
 * input.  Resolving is not fuzzed: it looks names and files up.
 */
#include <stdlib.h>
#include <string.h>

#include "../grant.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned int line, col, lines = 1, longest = 0, width = 0, c, g;
	char err[ERROR_MAX + 128];
	struct policy pol;
	size_t i;

	/* A copy of exactly @size bytes: reading past it is caught. */
	char *text = malloc(size ? size : 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	for (i = 0; i < size; i++) {
		width++;
		if (text[i] == '\n') {
			lines++;
			width = 0;
		}
		if (width > longest)
			longest = width;
	}
	if (policy_parse("fuzz", text, size, &pol, err, sizeof(err))) {
		if (sscanf(err, "fuzz:%u:%u: ", &line, &col) != 2 ||
		    line < 1 || line > lines || col < 1 || col > longest + 1)
			abort();	/* an error must point into the input */
	} else {
		for (c = 0; c < pol.nr_channels; c++) {
			const struct policy_channel *ch = &pol.channels[c];

			if (!name_valid(ch->name, strlen(ch->name)) ||
			    !ch->segment_size || ch->segment_size % 4096 ||
			    ch->max_members > MPKLINK_MAX_MEMBERS)
				abort();	/* accepted what it must refuse */
			for (g = 0; g < ch->nr_grants; g++)
				if (!ch->grants[g].principal.k.match ||
				    !ch->grants[g].rights)
					abort();
		}
		policy_free(&pol);
	}
	free(text);
	return 0;
}
