/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The attack suites' tally: each attack_*_test program ends with
 * "attacks: N tried, N blocked, N out of scope" (its own attacks), which
 * Documentation/threat-model.md counts.  Include after kselftest_harness.h
 * and call attack_tally_start() from main() before running the tests.
 */
#ifndef MPKLINK_ATTACK_TALLY_H
#define MPKLINK_ATTACK_TALLY_H

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static pid_t attack_tally_pid;

static void attack_tally_print(void)
{
	unsigned int tried = 0, blocked = 0, out_of_scope = 0;
	struct __fixture_metadata *f;
	struct __test_metadata *t;

	/* Children forked by the harness exit through here too. */
	if (getpid() != attack_tally_pid)
		return;
	for (f = __fixture_list; f; f = f->next) {
		for (t = f->tests; t; t = t->next) {
			tried++;
			if (!strncmp(t->name, "out_of_scope_", 13))
				out_of_scope += t->skip;
			else if (t->passed && !t->skip)
				blocked++;
		}
	}
	printf("attacks: %u tried, %u blocked, %u out of scope\n", tried,
	       blocked, out_of_scope);
	fflush(stdout);
}

static inline void attack_tally_start(void)
{
	attack_tally_pid = getpid();
	atexit(attack_tally_print);
}

#endif /* MPKLINK_ATTACK_TALLY_H */
