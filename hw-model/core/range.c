// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cosim-nvme core: a small set of LBA ranges, kept sorted and disjoint.
 * Used for the LBAs marked by Write Uncorrectable.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static bool nvme_range_reserve(struct nvme_range_set *s, unsigned int n)
{
	struct nvme_range *r;
	unsigned int cap;

	if (n <= s->cap)
		return true;
	cap = s->cap ? s->cap * 2 : 8;
	while (cap < n)
		cap *= 2;
	r = realloc(s->r, cap * sizeof(*r));
	if (!r)
		return false;
	s->r = r;
	s->cap = cap;
	return true;
}

/* Index of the first range whose end is >= start (touching counts). */
static unsigned int nvme_range_find(const struct nvme_range_set *s, uint64_t start)
{
	unsigned int lo = 0, hi = s->n;

	while (lo < hi) {
		unsigned int mid = (lo + hi) / 2;

		if (s->r[mid].end < start)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Add [start, end); merges with overlapping or touching ranges. */
bool nvme_range_add(struct nvme_range_set *s, uint64_t start, uint64_t end)
{
	unsigned int i, j;

	if (start >= end)
		return true;
	i = nvme_range_find(s, start);
	for (j = i; j < s->n && s->r[j].start <= end; j++) {
		if (s->r[j].start < start)
			start = s->r[j].start;
		if (s->r[j].end > end)
			end = s->r[j].end;
	}
	if (j == i) {
		/* nothing merged: insert a new range at i */
		if (s->n >= NVME_RANGE_SET_MAX || !nvme_range_reserve(s, s->n + 1))
			return false;
		memmove(&s->r[i + 1], &s->r[i], (s->n - i) * sizeof(s->r[0]));
		s->n++;
	} else {
		/* ranges i..j-1 become one */
		memmove(&s->r[i + 1], &s->r[j], (s->n - j) * sizeof(s->r[0]));
		s->n -= j - i - 1;
	}
	s->r[i].start = start;
	s->r[i].end = end;
	return true;
}

/*
 * Remove [start, end).  A range that contains it is split in two; when the
 * set is full the split keeps the larger piece and the smaller one is
 * dropped, so the set never grows past NVME_RANGE_SET_MAX (a Write in the
 * middle of every range would otherwise double it, Write after Write).
 * Returns false when LBAs outside [start, end) were dropped that way.
 */
bool nvme_range_remove(struct nvme_range_set *s, uint64_t start, uint64_t end)
{
	unsigned int i, j;

	if (start >= end)
		return true;
	/* first range ending after start: ranges before it are untouched */
	i = nvme_range_find(s, start + 1);
	if (i == s->n || s->r[i].start >= end)
		return true;
	if (s->r[i].start < start && s->r[i].end > end) {
		struct nvme_range *r = &s->r[i];

		if (s->n >= NVME_RANGE_SET_MAX || !nvme_range_reserve(s, s->n + 1)) {
			if (start - r->start >= r->end - end)
				r->end = start;
			else
				r->start = end;
			return false;
		}
		r = &s->r[i];
		memmove(r + 2, r + 1, (s->n - i - 1) * sizeof(*r));
		r[1].start = end;
		r[1].end = r->end;
		r->end = start;
		s->n++;
		return true;
	}
	if (s->r[i].start < start) {
		s->r[i].end = start;	/* keep the head of the first range */
		i++;
	}
	/* ranges i..j-1 lie wholly inside [start, end); range j may start inside */
	for (j = i; j < s->n && s->r[j].end <= end; j++)
		;
	if (j < s->n && s->r[j].start < end)
		s->r[j].start = end;
	memmove(&s->r[i], &s->r[j], (s->n - j) * sizeof(s->r[0]));
	s->n -= j - i;
	return true;
}

bool nvme_range_overlaps(const struct nvme_range_set *s, uint64_t start, uint64_t end)
{
	unsigned int i;

	if (start >= end)
		return false;
	/* first range ending after start */
	i = nvme_range_find(s, start + 1);
	return i < s->n && s->r[i].start < end;
}

void nvme_range_clear(struct nvme_range_set *s)
{
	free(s->r);
	s->r = NULL;
	s->n = s->cap = 0;
}
