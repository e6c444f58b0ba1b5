// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The seeded fuzzer: the hostile guest of fuzz_ops.c for fixed seeds, so a
 * failure reproduces (FUZZ_SEEDS=n for more of them).  A seed that runs
 * longer than FUZZ_SEED_SECONDS is a hang in the core: the watchdog names
 * it and aborts instead of letting the test run forever.
 *
 * FUZZ_CORPUS_OUT=dir writes each seed's first FUZZ_CORPUS_STEPS actions
 * as an input for fuzz_core instead: how hw-model/core/tests/fuzz-corpus
 * was made (a controller up, queues created, commands flowing from the
 * first byte on, which libFuzzer alone takes long to find).
 */
#include <glib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_ops.h"

#define FUZZ_STEPS		4000
#define FUZZ_SEED_SECONDS	20	/* a seed takes well under a second */
#define FUZZ_CORPUS_STEPS	150

static volatile sig_atomic_t current_seed;

static void watchdog(int sig)
{
	char msg[96];
	int n = snprintf(msg, sizeof(msg), "fuzz: seed %u still running after %d s: a hang\n",
			 (unsigned int)current_seed, FUZZ_SEED_SECONDS);

	(void)sig;
	if (write(STDERR_FILENO, msg, (size_t)n) < 0)
		_exit(3);
	abort();
}

static void write_corpus(const char *dir, guint32 n)
{
	guint32 seed;

	for (seed = 1; seed <= n; seed++) {
		struct fuzz_src src = { .rand = g_rand_new_with_seed(seed),
					.record = g_byte_array_new() };
		g_autofree char *path = g_strdup_printf("%s/seed-%03u", dir, seed);

		fuzz_run(&src, FUZZ_CORPUS_STEPS);
		g_assert_true(g_file_set_contents(path, (const char *)src.record->data,
						  src.record->len, NULL));
		g_byte_array_free(src.record, TRUE);
		g_rand_free(src.rand);
	}
}

static void test_fuzz(void)
{
	const char *env = getenv("FUZZ_SEEDS");
	guint32 n = env ? (guint32)strtoul(env, NULL, 0) : 40, seed;
	unsigned int rules = 0;

	if (getenv("FUZZ_CORPUS_OUT")) {
		write_corpus(getenv("FUZZ_CORPUS_OUT"), n);
		return;
	}
	signal(SIGALRM, watchdog);
	for (seed = 1; seed <= n; seed++) {
		struct fuzz_src src = { .rand = g_rand_new_with_seed(seed) };

		current_seed = (sig_atomic_t)seed;
		alarm(FUZZ_SEED_SECONDS);
		rules += fuzz_run(&src, FUZZ_STEPS);
		alarm(0);
		g_rand_free(src.rand);
	}
	/* the fault engine took part */
	g_assert_cmpuint(rules, >, n);
	if (g_test_verbose())
		g_printerr("fault rules added: %u\n", rules);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/fuzz/random-guest", test_fuzz);
	return g_test_run();
}
