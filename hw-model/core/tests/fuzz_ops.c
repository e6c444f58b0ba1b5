// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A hostile guest against the core: register and doorbell garbage, random
 * admin and I/O commands with wild PRPs (lists that chain into themselves
 * included), resets at random points, block completions in random order
 * and with errors, fault rules.  Every choice comes from a fuzz_src: a
 * seeded GRand (test_fuzz) or the bytes of a libFuzzer input (fuzz_core),
 * so both drive the same guest.  The fake host asserts the invariants it
 * can see (I/O within the namespace, sg lengths adding up, vectors in
 * range); ASan/UBSan see the rest.
 */
#include "internal.h"
#undef MIN
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "fake_host.h"
#include "fuzz_ops.h"

/* A seeded choice, written down as the bytes that make an input repeat it. */
static void record(struct fuzz_src *r, uint32_t v, unsigned int bytes)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };

	if (r->record)
		g_byte_array_append(r->record, b, bytes);
}

static uint32_t rnd32(struct fuzz_src *r)
{
	uint32_t v = 0;
	unsigned int i;

	if (r->rand) {
		v = g_rand_int(r->rand);
		record(r, v, 4);
		return v;
	}
	for (i = 0; i < 4 && r->pos < r->len; i++)
		v |= (uint32_t)r->data[r->pos++] << (8 * i);
	return v;
}

static uint64_t rnd64(struct fuzz_src *r)
{
	return (uint64_t)rnd32(r) << 32 | rnd32(r);
}

/* 0..n-1; from an input, one byte when n fits in it */
static uint32_t pick(struct fuzz_src *r, uint32_t n)
{
	if (r->rand) {
		uint32_t v = (uint32_t)g_rand_int_range(r->rand, 0, (gint32)n);

		record(r, v, n <= 256 ? 1 : 4);
		return v;
	}
	if (n <= 256)
		return r->pos < r->len ? r->data[r->pos++] % n : 0;
	return rnd32(r) % n;
}

static double rnd_double(struct fuzz_src *r, double lo, double hi)
{
	if (r->rand) {
		double v = g_rand_double_range(r->rand, lo, hi);

		record(r, (uint32_t)((v - lo) / (hi - lo) * 4294967295.0), 4);
		return v;
	}
	return lo + (hi - lo) * (rnd32(r) / 4294967296.0);
}

bool fuzz_src_done(const struct fuzz_src *r)
{
	return !r->rand && r->pos >= r->len;
}

/* Mostly plausible guest addresses, sometimes anything at all. */
static uint64_t guest_addr(struct fuzz_src *r)
{
	switch (pick(r, 6)) {
	case 0:
		return rnd64(r);
	case 1:
		return FH_RAM_SIZE - 8 * pick(r, 64);
	default:
		return FH_DATA + (uint64_t)pick(r, 512) * 4096 + (pick(r, 4) ? 0 : 4 * pick(r, 1024));
	}
}

static uint32_t small_or_wild(struct fuzz_src *r, uint32_t small)
{
	return pick(r, 4) ? pick(r, small) : rnd32(r);
}

static void fuzz_register(struct fake_host *fh, struct fuzz_src *r)
{
	static const uint32_t regs[] = { NVME_REG_INTMS, NVME_REG_INTMC, NVME_REG_CC,
					 NVME_REG_CSTS, NVME_REG_AQA, NVME_REG_ASQ,
					 NVME_REG_ASQ + 4, NVME_REG_ACQ, NVME_REG_ACQ + 4 };
	uint64_t off = pick(r, 3) ? regs[pick(r, G_N_ELEMENTS(regs))] : pick(r, 0x3000);
	unsigned int size = pick(r, 5) ? 4 : 8;

	if (off == NVME_REG_CC && pick(r, 2)) {
		/* usually a sane enable/disable, so the controller keeps coming back */
		uint32_t cc = 6 << 16 | 4 << 20 | (pick(r, 8) ? 0 : pick(r, 4) << 14) |
			      (pick(r, 3) ? 0 : NVME_CC_AMS_WRR << 11);

		nvme_ctrl_mmio_write(fh->ctrl, off, cc | pick(r, 2), 4);
		return;
	}
	nvme_ctrl_mmio_write(fh->ctrl, off, rnd64(r), size);
	nvme_ctrl_mmio_read(fh->ctrl, pick(r, 0x3000), pick(r, 9));
}

static void fuzz_doorbell(struct fake_host *fh, struct fuzz_src *r)
{
	uint32_t idx = pick(r, 24);

	fh_wr32(fh, NVME_REG_DBS + idx * 4, small_or_wild(r, 70));
}

static void fuzz_admin(struct fake_host *fh, struct fuzz_src *r, struct fh_queue *q)
{
	static const uint8_t ops[] = { 0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x08, 0x09,
				       0x0a, 0x0c, 0x10, 0x11, 0x80 };
	struct nvme_sqe cmd = {
		.opcode = pick(r, 8) ? ops[pick(r, G_N_ELEMENTS(ops))] : (uint8_t)rnd32(r),
		.flags = pick(r, 16) ? 0 : (uint8_t)rnd32(r),
		.cid = (uint16_t)rnd32(r),
		.nsid = small_or_wild(r, 5),
		.prp1 = guest_addr(r),
		.prp2 = guest_addr(r),
		.cdw10 = pick(r, 2) ? (pick(r, 64) << 16 | pick(r, 10)) : rnd32(r),
		.cdw11 = pick(r, 2) ? (pick(r, 10) << 16 | pick(r, 4)) : rnd32(r),
	};

	fh_submit(fh, q, &cmd);
}

/* Abort one of the last commands fetched: it may be held, at the block layer or done. */
static void fuzz_abort(struct fake_host *fh, struct fuzz_src *r)
{
	struct nvme_sqe cmd = { .opcode = NVME_ADM_ABORT, .cid = (uint16_t)rnd32(r) };
	uint32_t f;

	if (!fh->nfetched)
		return;
	f = fh->fetched[(fh->nfetched - 1 - pick(r, MIN(fh->nfetched, 16u))) % FH_FETCH_LOG];
	cmd.cdw10 = (f & 0xffff) << 16 | f >> 16;
	fh_submit(fh, &fh->admin, &cmd);
}

static void fuzz_create_pair(struct fake_host *fh, struct fuzz_src *r)
{
	uint16_t qid = (uint16_t)(1 + pick(r, 4));
	uint32_t size = 2 + pick(r, 62);
	struct nvme_sqe cq = {
		.opcode = NVME_ADM_CREATE_CQ, .prp1 = FH_IOCQ + qid * 0x4000ull,
		.cdw10 = (size - 1) << 16 | qid,
		.cdw11 = (uint32_t)pick(r, 10) << 16 | NVME_CQ_IEN | NVME_QUEUE_PC,
	};
	struct nvme_sqe sq = {
		.opcode = NVME_ADM_CREATE_SQ, .prp1 = FH_IOSQ + qid * 0x4000ull,
		.cdw10 = (size - 1) << 16 | qid,
		.cdw11 = (uint32_t)qid << 16 | pick(r, 4) << 1 | NVME_QUEUE_PC,	/* QPRIO */
	};

	fh_submit(fh, &fh->admin, &cq);
	fh_submit(fh, &fh->admin, &sq);
}

/*
 * Where a PRP list goes: anywhere in the list pages, often in the last slot
 * of one, where the chain pointer is the only entry (pointed at itself or
 * at another such slot, the walk must still end).
 */
static uint64_t prp_list_addr(struct fuzz_src *r)
{
	uint64_t page = FH_PRPLIST + (uint64_t)pick(r, 8) * 4096;

	return page + (pick(r, 4) ? 8 * pick(r, 512) : 4096 - 8 * (1 + pick(r, 2)));
}

static void fuzz_io(struct fake_host *fh, struct fuzz_src *r)
{
	uint16_t qid = (uint16_t)(1 + pick(r, 4));
	struct fh_queue q = {
		.qid = qid, .size = 64, .sq_base = FH_IOSQ + qid * 0x4000ull,
		.sq_tail = pick(r, 64),
	};
	uint64_t list = prp_list_addr(r);
	static const uint8_t io_ops[] = { 0x00, 0x01, 0x02, 0x01, 0x02, 0x04, 0x05, 0x09 };
	struct nvme_sqe cmd = {
		.opcode = pick(r, 8) ? io_ops[pick(r, G_N_ELEMENTS(io_ops))] : (uint8_t)rnd32(r),
		.cid = (uint16_t)rnd32(r),
		.nsid = pick(r, 8) ? 1 + pick(r, 2) : small_or_wild(r, 40),
		.prp1 = guest_addr(r),
		.prp2 = pick(r, 2) ? list : guest_addr(r),
		.cdw10 = pick(r, 4) ? pick(r, 5000) : rnd32(r),
		.cdw11 = pick(r, 8) ? 0 : rnd32(r),
		.cdw12 = (pick(r, 4) ? pick(r, 300) : rnd32(r)) | (pick(r, 4) ? 0 : NVME_RW_FUA),
	};
	unsigned int i;

	/* a PRP list of mostly page-aligned entries, some pointing at lists */
	for (i = 0; i < 8; i++) {
		uint64_t e = pick(r, 8) ? guest_addr(r) & (pick(r, 16) ? ~0xfffull : ~0ull)
					: prp_list_addr(r);

		memcpy(fh->ram + list + i * 8 - (list + i * 8 >= FH_RAM_SIZE - 8 ? 64 : 0), &e, 8);
	}
	fh_submit(fh, &q, &cmd);
	/* ring the tail of another queue too, wherever it points */
	if (!pick(r, 4))
		fh_wr32(fh, NVME_REG_DBS + 2 * qid * 4, pick(r, 64));
}

static void fuzz_complete_some(struct fake_host *fh, struct fuzz_src *r)
{
	unsigned int n = pick(r, 4);

	while (n-- && fh->npending) {
		unsigned int i = pick(r, fh->npending);
		struct nvme_io *io = fh->pending[i];

		fh->pending[i] = fh->pending[--fh->npending];
		if (!pick(r, 8))
			nvme_io_complete(io, pick(r, 2) ? -5 : -14);
		else
			nvme_io_complete(io, 0);
	}
}

static void fuzz_consume(struct fake_host *fh, struct fuzz_src *r)
{
	struct nvme_cqe cqe;
	unsigned int n = pick(r, 8);

	while (n-- && fh_poll(fh, &fh->admin, &cqe))
		;
	if (!pick(r, 4)) {
		/* scribble over queue memory */
		uint64_t at = FH_ASQ + pick(r, 0x28000);

		fh->ram[at] = (uint8_t)rnd32(r);
	}
}

static unsigned int fuzz_rules_added;

/*
 * The checks run after every step and scan every request slot: traced
 * for coverage, they cost more than the core itself and only teach
 * libFuzzer about the harness.
 */
#ifdef __clang__
#define FUZZ_HARNESS_ONLY __attribute__((no_sanitize("coverage"), noinline))
#else
#define FUZZ_HARNESS_ONLY
#endif

/* a random fault rule (the validator refuses many), or time passing */
static int64_t maybe(struct fuzz_src *r, int64_t lo, int64_t hi)
{
	if (pick(r, 3))
		return NVME_FAULT_UNSET;
	return lo + (int64_t)pick(r, (uint32_t)(hi - lo + 1));
}

/* A vanished controller reads CSTS as all ones; only a power cycle brings it back. */
static void fuzz_power_cycle_if_gone(struct fake_host *fh)
{
	if (fh_rd32(fh, NVME_REG_CSTS) != UINT32_MAX)
		return;
	fh_complete_io(fh);
	nvme_ctrl_reset(fh->ctrl);
}

static void fuzz_fault(struct fake_host *fh, struct fuzz_src *r)
{
	struct nvme_fault_spec s;
	char err[NVME_FAULT_ERR_LEN];

	switch (pick(r, 6)) {
	case 0:
		nvme_ctrl_fault_clear(fh->ctrl);
		return;
	case 1:
		nvme_ctrl_fault_remove(fh->ctrl, pick(r, 40));
		return;
	case 2:
		fh_advance(fh, pick(r, 2) ? pick(r, 2000000) : rnd64(r) >> pick(r, 64));
		return;
	}
	nvme_fault_spec_init(&s);
	s.action = (enum nvme_fault_action)pick(r, NVME_FAULT_NR_ACTIONS + 1);
	s.queue = maybe(r, -3, 10);
	s.opcode = maybe(r, 0, 12);
	s.nsid = maybe(r, 0, 3);
	s.lba_start = maybe(r, 0, 64);
	s.lba_end = maybe(r, 0, 128);
	s.nth = maybe(r, 0, 4);
	s.every = maybe(r, 0, 4);
	s.count = maybe(r, 0, 4);
	s.has_probability = !pick(r, 3);
	s.probability = rnd_double(r, -0.1, 1.1);
	s.has_seed = pick(r, 2);
	s.seed = rnd64(r);
	/* mostly the fields the action takes, so that most rules are accepted */
	if (s.action == NVME_FAULT_DELAY || !pick(r, 10))
		s.delay_us = pick(r, 10) ? pick(r, 3000) : maybe(r, -1, 3000);
	if (s.action == NVME_FAULT_STATUS || !pick(r, 10)) {
		s.sct = maybe(r, 0, 8);
		s.sc = pick(r, 10) ? pick(r, 256) : maybe(r, 0, 256);
		s.dnr = !pick(r, 2);
		s.more = !pick(r, 4);
		s.execute = !pick(r, 2);
	}
	if (s.action == NVME_FAULT_READY_DELAY || !pick(r, 10))
		s.ms = pick(r, 10) ? pick(r, 5) : maybe(r, -2, 5);
	if (s.action == NVME_FAULT_DROP_IRQ || !pick(r, 10))
		s.cq = maybe(r, 0, 9);
	if (s.action == NVME_FAULT_PATCH_DATA || !pick(r, 10)) {
		/* Identify fields that drive a host's sizing sit in the first 4 KiB */
		s.offset = pick(r, 10) ? pick(r, 4096) : maybe(r, -1, 70000);
		s.width = maybe(r, 0, 9);
		s.value = (int64_t)(rnd64(r) >> pick(r, 64));
	}
	if (s.action == NVME_FAULT_SQ_HEAD || !pick(r, 10))
		s.value = pick(r, 10) ? pick(r, 0x10000) : (int64_t)rnd64(r);
	if (s.action == NVME_FAULT_TORN_WRITE || s.action == NVME_FAULT_MISDIRECTED_WRITE)
		s.value = pick(r, 10) ? 1 + pick(r, 300) : (int64_t)rnd64(r);
	if ((s.action == NVME_FAULT_READY_DELAY || s.action == NVME_FAULT_IGNORE_SHUTDOWN ||
	     s.action == NVME_FAULT_DROP_IRQ) && pick(r, 10))
		s.queue = s.opcode = s.nsid = s.lba_start = s.lba_end = NVME_FAULT_UNSET;
	if (nvme_ctrl_fault_add(fh->ctrl, &s, err))
		fuzz_rules_added++;
}

/*
 * What must hold between any two actions, whatever the guest did: host
 * memory the requests hold is accounted and bounded, no core call is left
 * open, Write Uncorrectable ranges are sorted, disjoint and capped.
 */
FUZZ_HARNESS_ONLY static void fuzz_check_invariants(struct fake_host *fh)
{
	struct nvme_ctrl *ctrl = fh->ctrl;
	uint64_t bounce = 0;
	uint32_t q, i;

	g_assert_cmpuint(ctrl->depth, ==, 0);
	g_assert_false(ctrl->reset_pending);
	for (q = 0; q < ctrl->nqueues; q++) {
		struct nvme_sq *sq = ctrl->sq[q];

		for (i = 0; sq && i < sq->size; i++) {
			struct nvme_req *req = &sq->reqs[i];

			bounce += req->bounce;
			g_assert_true(!req->sg == !req->sg_cap);
			if (req->state == NVME_REQ_FREE || req->state == NVME_REQ_CQ_WAIT) {
				g_assert_null(req->buf);
				g_assert_cmpuint(req->sg_cap, <=, NVME_SG_KEEP);
			}
		}
	}
	/* zombie SQs' Compares still count until their block requests return */
	if (list_empty(&ctrl->zombies))
		g_assert_cmpuint(bounce, ==, ctrl->bounce_bytes);
	g_assert_cmpuint(ctrl->bounce_bytes, <=, NVME_BOUNCE_MAX);
	for (q = 1; q <= ctrl->p.nn; q++) {
		const struct nvme_range_set *u = ctrl->ns[q] ? &ctrl->ns[q]->uncor : NULL;

		for (i = 0; u && i < u->n; i++) {
			g_assert_cmpuint(u->r[i].start, <, u->r[i].end);
			if (i)
				g_assert_cmpuint(u->r[i - 1].end, <, u->r[i].start);
		}
		g_assert_true(!u || u->n <= NVME_RANGE_SET_MAX);
	}
}

/* One action of the guest, or of the host under it. */
static void fuzz_step(struct fake_host *fh, struct fuzz_src *r)
{
	switch (pick(r, 16)) {
	case 0:
		fuzz_register(fh, r);
		break;
	case 1:
		fuzz_doorbell(fh, r);
		break;
	case 2:
	case 3:
		fuzz_admin(fh, r, &fh->admin);
		break;
	case 4:
		fuzz_create_pair(fh, r);
		break;
	case 5:
	case 6:
	case 7:
		fuzz_io(fh, r);
		break;
	case 8:
	case 9:
		fuzz_complete_some(fh, r);
		break;
	case 10:
		fh_run_no_io(fh);
		break;
	case 11:
		fh_run(fh);
		break;
	case 12:
		fuzz_consume(fh, r);
		break;
	case 14:
		fuzz_fault(fh, r);
		break;
	case 15:
		fuzz_abort(fh, r);
		break;
	case 13:
		/* fh_enable wants CSTS.RDY at once: no ready-delay rules */
		if (!pick(r, 16)) {
			/* a guest-aimed message or DMA write resets the function */
			if (pick(r, 2))
				fh->reset_at_msix = 1 + pick(r, 8);
			else
				fh->reset_at_dma_write = 1 + pick(r, 8);
		} else if (!pick(r, 20)) {
			nvme_ctrl_fault_clear(fh->ctrl);
			/* the host re-enables from scratch, as after a reset */
			fh_complete_io(fh);
			fuzz_power_cycle_if_gone(fh);
			fh_disable(fh);
			fh_run(fh);
			fh_enable(fh, 64);
		} else if (!pick(r, 40)) {
			/* a hard reset, sometimes with I/O still out */
			if (pick(r, 2))
				fh_complete_io(fh);
			nvme_ctrl_fault_clear(fh->ctrl);
			nvme_ctrl_reset(fh->ctrl);
			fh_enable(fh, 64);
		}
		break;
	}
}

/*
 * One guest's life: the controller built from the source's first choices,
 * up to @steps actions (fewer when an input runs out), then the checks any
 * history must pass: a disable with the backend drained ends in RDY=0, and
 * the controller comes back.  Returns the fault rules it got accepted.
 */
unsigned int fuzz_run(struct fuzz_src *r, unsigned int steps)
{
	struct nvme_ctrl_params p;
	struct fake_host *fh;
	unsigned int step, how = pick(r, 8);

	fuzz_rules_added = 0;
	nvme_ctrl_params_default(&p);
	p.ams = (how >> 1) & 1;		/* CC.AMS = WRR is refused without it */
	p.ledger = true;
	if (!pick(r, 4))
		p.mdts = (uint8_t)pick(r, 11);	/* 0: the model's own 8 MiB bound */
	fh = fh_new(&p);
	fh->msix = how & 1;
	fh->cancel_wins = how & 4;
	fh_attach_ns(fh, 1, 9, 4096);
	fh_attach_ns(fh, 2, 12, 64);
	fh_enable(fh, 64);
	for (step = 0; step < steps && !fuzz_src_done(r); step++) {
		fuzz_step(fh, r);
		fuzz_check_invariants(fh);
	}
	/* whatever happened, a disable with the backend drained ends in RDY=0 */
	fh->reset_at_msix = fh->reset_at_dma_write = 0;
	nvme_ctrl_fault_clear(fh->ctrl);
	fuzz_power_cycle_if_gone(fh);
	fh_wr32(fh, NVME_REG_CC, 0);
	fh_run(fh);
	g_assert_cmpuint(nvme_ctrl_io_inflight(fh->ctrl), ==, 0);
	g_assert_cmphex(fh_rd32(fh, NVME_REG_CSTS) & NVME_CSTS_RDY, ==, 0);
	/* and it comes back */
	fh_enable(fh, 8);
	g_assert_cmpuint(fh->ctrl->bounce_bytes, ==, 0);
	fh_free(fh);
	return fuzz_rules_added;
}
