// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer entry point: each input is one guest's life (fuzz_ops.c), its
 * bytes the guest's choices in order.  Built and run by `make fuzz`
 * (hw-model/Makefile) with ASan and UBSan; libFuzzer's -timeout turns a
 * hang into a finding.
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_ops.h"

/* enough for a deep history; an input usually runs out long before */
#define FUZZ_CORE_STEPS	2000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_src src = { .data = data, .len = size };

	fuzz_run(&src, FUZZ_CORE_STEPS);
	return 0;
}
