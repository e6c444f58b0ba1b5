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

/* Remove [start, end); a range that contains it is split in two. */
void nvme_range_remove(struct nvme_range_set *s, uint64_t start, uint64_t end)
{
	unsigned int i = 0;

	if (start >= end)
		return;
	while (i < s->n) {
		struct nvme_range *r = &s->r[i];

		if (r->end <= start || r->start >= end) {
			i++;
		} else if (r->start < start && r->end > end) {
			/* split; if memory fails keep the lower part only (conservative) */
			uint64_t hi_end = r->end;

			r->end = start;
			if (nvme_range_reserve(s, s->n + 1)) {
				memmove(&s->r[i + 2], &s->r[i + 1],
					(s->n - i - 1) * sizeof(s->r[0]));
				s->r[i + 1].start = end;
				s->r[i + 1].end = hi_end;
				s->n++;
			}
			return;
		} else if (r->start < start) {
			r->end = start;
			i++;
		} else if (r->end > end) {
			r->start = end;
			i++;
		} else {
			memmove(r, r + 1, (s->n - i - 1) * sizeof(s->r[0]));
			s->n--;
		}
	}
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
