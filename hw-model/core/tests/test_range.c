// SPDX-License-Identifier: GPL-2.0-or-later
/* The LBA range set behind Write Uncorrectable. */
#include "internal.h"
#undef MIN
#include <glib.h>

static void check(const struct nvme_range_set *s, const uint64_t *want, unsigned int n)
{
	unsigned int i;

	g_assert_cmpuint(s->n, ==, n);
	for (i = 0; i < n; i++) {
		g_assert_cmpuint(s->r[i].start, ==, want[2 * i]);
		g_assert_cmpuint(s->r[i].end, ==, want[2 * i + 1]);
	}
}

static void test_add_merge(void)
{
	struct nvme_range_set s = { 0 };

	g_assert_true(nvme_range_add(&s, 10, 20));
	g_assert_true(nvme_range_add(&s, 30, 40));
	g_assert_true(nvme_range_add(&s, 0, 5));
	check(&s, (uint64_t[]){ 0, 5, 10, 20, 30, 40 }, 3);
	g_assert_true(nvme_range_add(&s, 20, 30));	/* touching both: one range */
	check(&s, (uint64_t[]){ 0, 5, 10, 40 }, 2);
	g_assert_true(nvme_range_add(&s, 3, 50));
	check(&s, (uint64_t[]){ 0, 50 }, 1);
	g_assert_true(nvme_range_add(&s, 7, 7));	/* empty */
	check(&s, (uint64_t[]){ 0, 50 }, 1);
	nvme_range_clear(&s);
}

static void test_remove_split(void)
{
	struct nvme_range_set s = { 0 };

	nvme_range_add(&s, 0, 100);
	nvme_range_remove(&s, 40, 60);
	check(&s, (uint64_t[]){ 0, 40, 60, 100 }, 2);
	nvme_range_remove(&s, 30, 70);
	check(&s, (uint64_t[]){ 0, 30, 70, 100 }, 2);
	nvme_range_remove(&s, 0, 30);
	check(&s, (uint64_t[]){ 70, 100 }, 1);
	nvme_range_remove(&s, 0, 1000);
	check(&s, NULL, 0);
	nvme_range_clear(&s);
}

static void test_overlaps(void)
{
	struct nvme_range_set s = { 0 };

	nvme_range_add(&s, 10, 20);
	nvme_range_add(&s, 30, 31);
	g_assert_false(nvme_range_overlaps(&s, 0, 10));
	g_assert_true(nvme_range_overlaps(&s, 0, 11));
	g_assert_true(nvme_range_overlaps(&s, 19, 25));
	g_assert_false(nvme_range_overlaps(&s, 20, 30));
	g_assert_true(nvme_range_overlaps(&s, 30, 31));
	g_assert_false(nvme_range_overlaps(&s, 31, 1000));
	g_assert_false(nvme_range_overlaps(&s, 15, 15));
	nvme_range_clear(&s);
}

static void test_limit(void)
{
	struct nvme_range_set s = { 0 };
	unsigned int i;

	for (i = 0; i < NVME_RANGE_SET_MAX; i++)
		g_assert_true(nvme_range_add(&s, i * 2ull, i * 2ull + 1));
	g_assert_false(nvme_range_add(&s, 10000, 10001));
	g_assert_true(nvme_range_add(&s, 1, 2));	/* merges two: fits */
	g_assert_cmpuint(s.n, ==, NVME_RANGE_SET_MAX - 1);
	nvme_range_clear(&s);
}

/* Splits keep the set at its cap: the smaller piece of a full set goes. */
static void test_split_at_limit(void)
{
	struct nvme_range_set s = { 0 };
	unsigned int i, round;

	for (i = 0; i < NVME_RANGE_SET_MAX; i++)
		g_assert_true(nvme_range_add(&s, i * 1000ull, i * 1000ull + 1000 - 1));
	g_assert_false(nvme_range_remove(&s, 10, 11));
	g_assert_cmpuint(s.n, ==, NVME_RANGE_SET_MAX);
	g_assert_cmpuint(s.r[0].start, ==, 11);		/* [0, 10) was the smaller */
	g_assert_false(nvme_range_remove(&s, 1990, 1991));
	g_assert_cmpuint(s.r[1].end, ==, 1990);		/* [1991, 1999) was */
	/* a write in the middle of every range, again and again */
	for (round = 0; round < 8; round++)
		for (i = 0; i < NVME_RANGE_SET_MAX; i++)
			nvme_range_remove(&s, i * 1000ull + 500 - round, i * 1000ull + 501 + round);
	g_assert_cmpuint(s.n, ==, NVME_RANGE_SET_MAX);
	for (i = 1; i < s.n; i++)
		g_assert_cmpuint(s.r[i - 1].end, <, s.r[i].start);
	nvme_range_clear(&s);
}

/* Removing across many ranges at once: heads and tails trimmed, the rest gone. */
static void test_remove_many(void)
{
	struct nvme_range_set s = { 0 };
	unsigned int i;

	for (i = 0; i < 10; i++)
		nvme_range_add(&s, i * 10ull, i * 10ull + 5);
	g_assert_true(nvme_range_remove(&s, 12, 73));
	check(&s, (uint64_t[]){ 0, 5, 10, 12, 73, 75, 80, 85, 90, 95 }, 5);
	g_assert_true(nvme_range_remove(&s, 5, 10));	/* a gap only */
	check(&s, (uint64_t[]){ 0, 5, 10, 12, 73, 75, 80, 85, 90, 95 }, 5);
	g_assert_true(nvme_range_remove(&s, 0, 5));
	check(&s, (uint64_t[]){ 10, 12, 73, 75, 80, 85, 90, 95 }, 4);
	nvme_range_clear(&s);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/range/add-merge", test_add_merge);
	g_test_add_func("/range/remove-split", test_remove_split);
	g_test_add_func("/range/overlaps", test_overlaps);
	g_test_add_func("/range/limit", test_limit);
	g_test_add_func("/range/split-at-limit", test_split_at_limit);
	g_test_add_func("/range/remove-many", test_remove_many);
	return g_test_run();
}
