/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The hostile guest of the core's fuzzers (fuzz_ops.c), driven by a seed
 * (test_fuzz, part of `make -C hw-model check`) or by libFuzzer's inputs
 * (fuzz_core, `make fuzz`).
 */
#ifndef FUZZ_OPS_H
#define FUZZ_OPS_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Where the guest's choices come from: @rand if set, else @data in order.
 * With @record, a seeded run also writes its choices down as an input that
 * makes libFuzzer's guest do the same (the committed seed corpus).
 */
struct fuzz_src {
	GRand *rand;
	GByteArray *record;
	const uint8_t *data;
	size_t len, pos;
};

/* An input is used up (a seeded source never is). */
bool fuzz_src_done(const struct fuzz_src *r);

/* One guest's life of up to @steps actions; returns the fault rules accepted. */
unsigned int fuzz_run(struct fuzz_src *r, unsigned int steps);

#endif
