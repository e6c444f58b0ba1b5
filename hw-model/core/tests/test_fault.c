// SPDX-License-Identifier: GPL-2.0-or-later
/* The fault engine: rule validation, matching, triggers and every action. */
#include <glib.h>
#include <zlib.h>
#include <stddef.h>
#include <string.h>

#include "fake_host.h"

#define NLBAS	4096		/* 512-byte LBAs */

struct env {
	struct fake_host *fh;
	struct fh_queue q;
};

static void up_with(struct env *e, const struct nvme_ctrl_params *p)
{
	e->fh = fh_new(p);
	fh_attach_ns(e->fh, 1, 9, NLBAS);
	fh_attach_ns(e->fh, 2, 9, NLBAS);
	fh_enable(e->fh, 32);
	fh_create_io_pair(e->fh, &e->q, 1, 64);
}

static void up(struct env *e)
{
	up_with(e, NULL);
}

static struct nvme_fault_spec spec(enum nvme_fault_action a)
{
	struct nvme_fault_spec s;

	nvme_fault_spec_init(&s);
	s.action = a;
	return s;
}

static uint32_t add(struct fake_host *fh, const struct nvme_fault_spec *s)
{
	char err[NVME_FAULT_ERR_LEN] = "";
	uint32_t id = nvme_ctrl_fault_add(fh->ctrl, s, err);

	if (!id)
		g_error("rule refused: %s", err);
	return id;
}

static struct nvme_sqe rw(uint8_t opcode, uint32_t nsid, uint64_t slba, uint32_t nlb)
{
	struct nvme_sqe cmd = {
		.opcode = opcode, .nsid = nsid, .prp1 = FH_DATA,
		.cdw10 = (uint32_t)slba, .cdw11 = (uint32_t)(slba >> 32), .cdw12 = nlb - 1,
	};
	return cmd;
}

/* submit one read, return its status (SCT/SC) */
static uint16_t read_sc(struct env *e, uint32_t nsid, uint64_t slba, uint32_t nlb)
{
	struct nvme_sqe cmd = rw(NVME_CMD_READ, nsid, slba, nlb);

	return FH_SC(fh_cmd(e->fh, &e->q, &cmd));
}

static struct nvme_fault_info rule_info(struct fake_host *fh, uint32_t id)
{
	struct nvme_fault_info info[8];
	unsigned int n = nvme_ctrl_fault_list(fh->ctrl, info, 8), i;

	for (i = 0; i < n && i < 8; i++)
		if (info[i].id == id)
			return info[i];
	g_error("rule %u not listed", id);
}

static struct nvme_ctrl_stats stats(struct fake_host *fh)
{
	struct nvme_ctrl_stats st;

	nvme_ctrl_get_stats(fh->ctrl, &st);
	return st;
}

static void refused(struct fake_host *fh, const struct nvme_fault_spec *s, const char *field)
{
	char err[NVME_FAULT_ERR_LEN] = "";

	g_assert_cmpuint(nvme_ctrl_fault_add(fh->ctrl, s, err), ==, 0);
	if (!strstr(err, field) || strncmp(err, "fault rule: ", 12))
		g_error("error for %s does not name it: %s", field, err);
}

static void test_validate(void)
{
	struct env e;
	struct nvme_fault_spec s;

	up(&e);
	s = spec(NVME_FAULT_NR_ACTIONS);
	refused(e.fh, &s, "'action' must be one of drop, delay");
	s = spec(NVME_FAULT_DROP); s.queue = 70000;
	refused(e.fh, &s, "'queue' 70000 out of range");
	s = spec(NVME_FAULT_DROP); s.queue = 9;	/* max-ioqpairs 8 */
	refused(e.fh, &s, "'queue'");
	s = spec(NVME_FAULT_DROP); s.opcode = 256;
	refused(e.fh, &s, "'opcode'");
	s = spec(NVME_FAULT_DROP); s.nsid = -1;
	refused(e.fh, &s, "'nsid'");
	s = spec(NVME_FAULT_DROP); s.lba_start = 10; s.lba_end = 9;
	refused(e.fh, &s, "'lba-end'");
	s = spec(NVME_FAULT_DROP); s.lba_start = -5;
	refused(e.fh, &s, "'lba-start'");
	s = spec(NVME_FAULT_DROP); s.nth = 0;
	refused(e.fh, &s, "'nth'");
	s = spec(NVME_FAULT_DROP); s.every = 0;
	refused(e.fh, &s, "'every'");
	s = spec(NVME_FAULT_DROP); s.count = -1;
	refused(e.fh, &s, "'count'");
	s = spec(NVME_FAULT_DROP); s.has_probability = true; s.probability = 0;
	refused(e.fh, &s, "'probability'");
	s.probability = 1.5;
	refused(e.fh, &s, "'probability'");
	s = spec(NVME_FAULT_DELAY);
	refused(e.fh, &s, "'delay-us' is required");
	s.delay_us = -1;
	refused(e.fh, &s, "'delay-us'");
	s = spec(NVME_FAULT_DROP); s.delay_us = 5;
	refused(e.fh, &s, "'delay-us' does not apply to action drop");
	s = spec(NVME_FAULT_STATUS);
	refused(e.fh, &s, "'sc' is required");
	s.sc = 256;
	refused(e.fh, &s, "'sc'");
	s.sc = 1; s.sct = 8;
	refused(e.fh, &s, "'sct'");
	s = spec(NVME_FAULT_DROP); s.dnr = true;
	refused(e.fh, &s, "'dnr'");
	s = spec(NVME_FAULT_READY_DELAY);
	refused(e.fh, &s, "'ms' is required");
	s.ms = -2;
	refused(e.fh, &s, "'ms'");
	s.ms = 5; s.opcode = 2;
	refused(e.fh, &s, "'opcode' does not apply to action ready-delay");
	s = spec(NVME_FAULT_DROP_IRQ); s.cq = 99;
	refused(e.fh, &s, "'cq'");
	s = spec(NVME_FAULT_DROP_IRQ); s.queue = 1;
	refused(e.fh, &s, "'queue' does not apply to action drop-irq");
	s = spec(NVME_FAULT_CORRUPT_READ); s.opcode = NVME_CMD_WRITE;
	refused(e.fh, &s, "'opcode'");
	s = spec(NVME_FAULT_CORRUPT_READ); s.queue = NVME_FAULT_QUEUE_ADMIN;
	refused(e.fh, &s, "'queue'");
	s = spec(NVME_FAULT_PATCH_DATA); s.value = 1;
	refused(e.fh, &s, "'offset' is required");
	s = spec(NVME_FAULT_PATCH_DATA); s.offset = 77;
	refused(e.fh, &s, "'value' is required");
	s.value = 1; s.offset = 65536;
	refused(e.fh, &s, "'offset'");
	s.offset = 77; s.width = 9;
	refused(e.fh, &s, "'width'");
	s.width = 0;
	refused(e.fh, &s, "'width'");
	s.width = 2; s.value = 0x10000;
	refused(e.fh, &s, "'value' 65536 does not fit in 2 byte(s)");
	s.width = 1; s.value = 1; s.queue = NVME_FAULT_QUEUE_IO;
	refused(e.fh, &s, "'queue' must be admin");
	s = spec(NVME_FAULT_DROP); s.offset = 1;
	refused(e.fh, &s, "'offset' does not apply to action drop");
	s = spec(NVME_FAULT_STATUS); s.sc = 1; s.value = 1;
	refused(e.fh, &s, "'value' does not apply to action status");
	s = spec(NVME_FAULT_SQ_HEAD);
	refused(e.fh, &s, "'value' is required");
	s.value = 0x10000;
	refused(e.fh, &s, "'value'");
	s.value = 3; s.width = 2;
	refused(e.fh, &s, "'width' does not apply to action sq-head");
	g_assert_cmpuint(nvme_ctrl_fault_list(e.fh->ctrl, NULL, 0), ==, 0);
	/* names */
	g_assert_cmpint(nvme_fault_action_parse("dup-completion"), ==, NVME_FAULT_DUP_COMPLETION);
	g_assert_cmpint(nvme_fault_action_parse("explode"), ==, -1);
	g_assert_cmpstr(nvme_fault_action_name(NVME_FAULT_CORRUPT_READ), ==, "corrupt-read");
	fh_free(e.fh);
}

/* queue + opcode: an error status for I/O Reads only */
static void test_match_queue_opcode(void)
{
	struct env e;
	struct nvme_fault_spec s = spec(NVME_FAULT_STATUS);
	struct nvme_sqe cmd;
	struct nvme_cqe cqe;

	up(&e);
	s.queue = NVME_FAULT_QUEUE_IO;
	s.opcode = NVME_CMD_READ;
	s.sct = 2;
	s.sc = 0x81;
	s.dnr = true;
	s.count = 0;
	add(e.fh, &s);
	cmd = rw(NVME_CMD_READ, 1, 0, 1);
	cqe = fh_cmd(e.fh, &e.q, &cmd);
	g_assert_cmphex(fh_status(&cqe), ==, NVME_SC_READ_ERROR | NVME_DNR);
	g_assert_cmphex(read_sc(&e, 1, 0, 1), ==, NVME_SC_READ_ERROR);
	cmd = rw(NVME_CMD_WRITE, 1, 0, 1);
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, 0);
	memset(&cmd, 0, sizeof(cmd));
	cmd.opcode = NVME_ADM_IDENTIFY;
	cmd.prp1 = FH_DATA;
	cmd.cdw10 = 1;
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.fh->admin, &cmd)), ==, 0);
	g_assert_cmpuint(rule_info(e.fh, 1).hits, ==, 2);
	g_assert_true(rule_info(e.fh, 1).active);
	g_assert_cmpuint(stats(e.fh).cmds_status, ==, 2);

	/* the same on the admin queue, by qid 0, with the More bit */
	nvme_ctrl_fault_clear(e.fh->ctrl);
	s = spec(NVME_FAULT_STATUS);
	s.queue = 0;
	s.sc = NVME_SC_INTERNAL;
	s.more = true;
	add(e.fh, &s);
	cmd.cid = 0;
	cqe = fh_cmd(e.fh, &e.fh->admin, &cmd);
	g_assert_cmphex(fh_status(&cqe), ==, NVME_SC_INTERNAL | NVME_MORE);
	g_assert_cmphex(read_sc(&e, 1, 0, 1), ==, 0);
	fh_free(e.fh);
}

static void test_match_nsid_lba(void)
{
	struct env e;
	struct nvme_fault_spec s = spec(NVME_FAULT_STATUS);

	up(&e);
	s.sc = NVME_SC_LBA_RANGE;
	s.lba_start = 10;
	s.lba_end = 19;
	s.count = 0;
	add(e.fh, &s);
	g_assert_cmphex(read_sc(&e, 1, 0, 10), ==, 0);		/* 0..9 */
	g_assert_cmphex(read_sc(&e, 1, 5, 6), ==, NVME_SC_LBA_RANGE);	/* 5..10 */
	g_assert_cmphex(read_sc(&e, 1, 19, 4), ==, NVME_SC_LBA_RANGE);
	g_assert_cmphex(read_sc(&e, 1, 20, 4), ==, 0);
	g_assert_cmphex(read_sc(&e, 2, 12, 1), ==, NVME_SC_LBA_RANGE);

	nvme_ctrl_fault_clear(e.fh->ctrl);
	s.lba_start = s.lba_end = NVME_FAULT_UNSET;
	s.nsid = 2;
	add(e.fh, &s);
	g_assert_cmphex(read_sc(&e, 1, 12, 1), ==, 0);
	g_assert_cmphex(read_sc(&e, 2, 12, 1), ==, NVME_SC_LBA_RANGE);
	/* a Flush has no LBA: an LBA rule never matches it */
	nvme_ctrl_fault_clear(e.fh->ctrl);
	s.nsid = NVME_FAULT_UNSET;
	s.lba_start = 0;
	add(e.fh, &s);
	{
		struct nvme_sqe cmd = { .opcode = NVME_CMD_FLUSH, .nsid = 1 };

		g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, 0);
	}
	fh_free(e.fh);
}

static void test_nth_every_count(void)
{
	struct env e;
	struct nvme_fault_spec s = spec(NVME_FAULT_STATUS);
	uint32_t id;
	unsigned int i;
	uint32_t failed = 0;

	up(&e);
	s.sc = NVME_SC_INTERNAL;
	s.opcode = NVME_CMD_READ;
	s.nth = 3;
	id = add(e.fh, &s);
	for (i = 1; i <= 6; i++)
		if (read_sc(&e, 1, i, 1))
			failed |= 1u << i;
	g_assert_cmphex(failed, ==, 1u << 3);
	g_assert_cmpuint(rule_info(e.fh, id).matches, ==, 3);	/* inactive after */
	g_assert_cmpuint(rule_info(e.fh, id).hits, ==, 1);
	g_assert_false(rule_info(e.fh, id).active);
	g_assert_true(nvme_ctrl_fault_remove(e.fh->ctrl, id));
	g_assert_false(nvme_ctrl_fault_remove(e.fh->ctrl, id));

	s.nth = NVME_FAULT_UNSET;
	s.every = 2;
	s.count = 2;
	id = add(e.fh, &s);
	g_assert_cmpuint(id, ==, 2);		/* ids are not reused */
	failed = 0;
	for (i = 1; i <= 8; i++)
		if (read_sc(&e, 1, i, 1))
			failed |= 1u << i;
	g_assert_cmphex(failed, ==, 1u << 2 | 1u << 4);
	g_assert_cmpuint(rule_info(e.fh, id).hits, ==, 2);

	/* count 0: unlimited */
	nvme_ctrl_fault_clear(e.fh->ctrl);
	s.count = 0;
	add(e.fh, &s);
	failed = 0;
	for (i = 1; i <= 8; i++)
		if (read_sc(&e, 1, i, 1))
			failed |= 1u << i;
	g_assert_cmphex(failed, ==, 0x154);
	fh_free(e.fh);
}

static uint64_t prob_pattern(uint64_t seed)
{
	struct env e;
	struct nvme_fault_spec s = spec(NVME_FAULT_STATUS);
	uint64_t pattern = 0;
	unsigned int i;

	up(&e);
	s.sc = NVME_SC_INTERNAL;
	s.queue = 1;
	s.count = 0;
	s.has_probability = true;
	s.probability = 0.5;
	s.has_seed = true;
	s.seed = seed;
	add(e.fh, &s);
	for (i = 0; i < 64; i++)
		if (read_sc(&e, 1, i, 1))
			pattern |= 1ull << i;
	g_assert_cmpuint(rule_info(e.fh, 1).matches, ==, 64);
	g_assert_cmpuint(rule_info(e.fh, 1).hits, ==, (uint64_t)__builtin_popcountll(pattern));
	fh_free(e.fh);
	return pattern;
}

static void test_probability_seed(void)
{
	uint64_t a = prob_pattern(42), b = prob_pattern(42), c = prob_pattern(43);
	int n = __builtin_popcountll(a);

	g_assert_cmphex(a, ==, b);
	g_assert_cmphex(a, !=, c);
	g_assert_cmpint(n, >, 16);
	g_assert_cmpint(n, <, 48);
}

static struct nvme_cqe abort_cmd(struct fake_host *fh, uint16_t sqid, uint16_t cid)
{
	struct nvme_sqe cmd = { .opcode = NVME_ADM_ABORT, .cdw10 = sqid | (uint32_t)cid << 16 };

	return fh_cmd(fh, &fh->admin, &cmd);
}

static void test_drop_abort(void)
{
	struct env e;
	struct nvme_fault_spec s = spec(NVME_FAULT_DROP);
	struct nvme_sqe cmd = rw(NVME_CMD_READ, 1, 0, 1);
	struct nvme_cqe cqe;

	up(&e);
	s.queue = NVME_FAULT_QUEUE_IO;
	s.opcode = NVME_CMD_READ;
	add(e.fh, &s);
	cmd.cid = 0x77;
	fh_submit(e.fh, &e.q, &cmd);
	fh_run(e.fh);
	g_assert_false(fh_poll(e.fh, &e.q, &cqe));
	g_assert_cmpuint(stats(e.fh).cmds_dropped, ==, 1);
	g_assert_cmpuint(e.fh->faults_traced, ==, 1);
	g_assert_cmphex(e.fh->last_fault_cid, ==, 0x77);
	/* the rule fired once (count 1): the next read goes through */
	g_assert_cmphex(read_sc(&e, 1, 1, 1), ==, 0);

	/* Abort of an unknown CID: not aborted */
	cqe = abort_cmd(e.fh, 1, 0x78);
	g_assert_cmphex(fh_status(&cqe), ==, 0);
	g_assert_cmphex(cqe.dw0 & 1, ==, 1);
	/* Abort of the dropped one: aborted, and it completes with 0/07h */
	cqe = abort_cmd(e.fh, 1, 0x77);
	g_assert_cmphex(fh_status(&cqe), ==, 0);
	g_assert_cmphex(cqe.dw0 & 1, ==, 0);
	g_assert_true(fh_poll(e.fh, &e.q, &cqe));
	g_assert_cmphex(cqe.cid, ==, 0x77);
	g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_ABORT_REQ);
	g_assert_false(fh_poll(e.fh, &e.q, &cqe));
	g_assert_cmpuint(stats(e.fh).aborts, ==, 2);
	g_assert_cmpuint(stats(e.fh).aborts_succeeded, ==, 1);
	/* the queue keeps working */
	g_assert_cmphex(read_sc(&e, 1, 2, 1), ==, 0);
	fh_free(e.fh);
}

/* Dropped admin and I/O commands go away with a controller reset. */
static void test_drop_reset(void)
{
	struct env e;
	struct nvme_fault_spec s = spec(NVME_FAULT_DROP);
	struct nvme_sqe cmd = rw(NVME_CMD_READ, 1, 0, 1);
	struct nvme_sqe id = { .opcode = NVME_ADM_IDENTIFY, .prp1 = FH_DATA, .cdw10 = 1 };
	struct nvme_cqe cqe;

	up(&e);
	s.count = 2;
	add(e.fh, &s);
	fh_submit(e.fh, &e.q, &cmd);
	fh_submit(e.fh, &e.fh->admin, &id);
	fh_run(e.fh);
	g_assert_false(fh_poll(e.fh, &e.q, &cqe));
	g_assert_false(fh_poll(e.fh, &e.fh->admin, &cqe));
	g_assert_cmpuint(stats(e.fh).cmds_dropped, ==, 2);
	fh_disable(e.fh);
	fh_run(e.fh);
	g_assert_cmphex(fh_rd32(e.fh, NVME_REG_CSTS) & NVME_CSTS_RDY, ==, 0);
	g_assert_cmpuint(stats(e.fh).resets, ==, 1);
	fh_enable(e.fh, 32);
	fh_create_io_pair(e.fh, &e.q, 1, 64);
	g_assert_cmphex(read_sc(&e, 1, 0, 1), ==, 0);
	/* and with a hard reset */
	s.count = 1;
	add(e.fh, &s);
	fh_submit(e.fh, &e.q, &cmd);
	fh_run(e.fh);
	nvme_ctrl_reset(e.fh->ctrl);
	g_assert_cmpuint(stats(e.fh).hard_resets, ==, 1);
	fh_enable(e.fh, 32);
	fh_create_io_pair(e.fh, &e.q, 1, 64);
	g_assert_cmphex(read_sc(&e, 1, 0, 1), ==, 0);
	fh_free(e.fh);
}

static void test_delay(void)
{
	struct env e;
	struct nvme_fault_spec s = spec(NVME_FAULT_DELAY);
	struct nvme_sqe cmd = rw(NVME_CMD_READ, 1, 3, 1);
	struct nvme_cqe cqe;

	up(&e);
	memset(e.fh->disk[1] + 3 * 512, 0x5a, 512);
	s.delay_us = 100;
	s.count = 2;
	add(e.fh, &s);
	cmd.cid = 1;
	fh_submit(e.fh, &e.q, &cmd);
	fh_run(e.fh);
	g_assert_cmpuint(e.fh->timer_deadline, ==, 100000);
	fh_advance(e.fh, 50000);
	g_assert_false(fh_poll(e.fh, &e.q, &cqe));
	fh_advance(e.fh, 50000);
	g_assert_true(fh_poll(e.fh, &e.q, &cqe));
	g_assert_cmphex(fh_status(&cqe), ==, 0);
	g_assert_cmphex(e.fh->ram[FH_DATA + 100], ==, 0x5a);
	g_assert_cmpuint(stats(e.fh).cmds_delayed, ==, 1);
	g_assert_cmpuint(e.fh->timer_deadline, ==, UINT64_MAX);

	/* a delayed command can be aborted */
	cmd.cid = 2;
	fh_submit(e.fh, &e.q, &cmd);
	fh_run(e.fh);
	cqe = abort_cmd(e.fh, 1, 2);
	g_assert_cmphex(cqe.dw0 & 1, ==, 0);
	g_assert_true(fh_poll(e.fh, &e.q, &cqe));
	g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_ABORT_REQ);
	fh_advance(e.fh, 1000000);
	g_assert_false(fh_poll(e.fh, &e.q, &cqe));
	fh_free(e.fh);
}

static void test_cfs(void)
{
	struct env e;
	struct nvme_fault_spec s = spec(NVME_FAULT_CFS);
	struct nvme_sqe cmd = rw(NVME_CMD_WRITE, 1, 0, 1);
	struct nvme_cqe cqe;

	up(&e);
	s.opcode = NVME_CMD_WRITE;
	add(e.fh, &s);
	g_assert_cmphex(read_sc(&e, 1, 0, 1), ==, 0);
	fh_submit(e.fh, &e.q, &cmd);
	fh_run(e.fh);
	g_assert_false(fh_poll(e.fh, &e.q, &cqe));
	g_assert_cmphex(fh_rd32(e.fh, NVME_REG_CSTS) & NVME_CSTS_CFS, ==, NVME_CSTS_CFS);
	/* a reset recovers */
	fh_disable(e.fh);
	fh_run(e.fh);
	g_assert_cmphex(fh_rd32(e.fh, NVME_REG_CSTS), ==, 0);
	fh_enable(e.fh, 32);
	fh_create_io_pair(e.fh, &e.q, 1, 64);
	cmd.cid = 0;
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, 0);
	fh_free(e.fh);
}

/*
 * vanish: at the matching command the controller drops off the bus.  A Read
 * already at the backend finishes there but posts nothing, registers read
 * all ones, doorbells and CC go nowhere; a hard reset brings it back.
 */
static void test_vanish(void)
{
	struct env e;
	struct nvme_fault_spec s = spec(NVME_FAULT_VANISH);
	struct nvme_sqe rd = rw(NVME_CMD_READ, 1, 0, 1), wr = rw(NVME_CMD_WRITE, 1, 8, 1);
	struct nvme_sqe feat;
	struct nvme_cqe cqe;
	unsigned int irqs;
	struct nvme_ctrl_stats st;

	up(&e);
	s.opcode = NVME_CMD_WRITE;
	add(e.fh, &s);
	rd.cid = 1;
	fh_submit(e.fh, &e.q, &rd);
	fh_run_no_io(e.fh);
	g_assert_cmpuint(e.fh->npending, ==, 1);
	g_assert_false(nvme_ctrl_gone(e.fh->ctrl));
	/* the vanishing Write, a second Write and a Set Features in one batch */
	memset(e.fh->ram + FH_DATA, 0xa5, 512);
	wr.cid = 2;
	fh_submit(e.fh, &e.q, &wr);
	wr = rw(NVME_CMD_WRITE, 1, 20, 1);
	wr.cid = 4;
	fh_submit(e.fh, &e.q, &wr);
	memset(&feat, 0, sizeof(feat));
	feat.opcode = NVME_ADM_SET_FEATURES;
	feat.cdw10 = NVME_FEAT_VOLATILE_WC;
	fh_submit(e.fh, &e.fh->admin, &feat);
	fh_run_no_io(e.fh);
	g_assert_true(nvme_ctrl_gone(e.fh->ctrl));
	g_assert_cmpuint(e.fh->npending, ==, 1);		/* only the Read */
	g_assert_cmphex(e.fh->disk[1][8 * 512], !=, 0xa5);
	g_assert_cmphex(e.fh->disk[1][20 * 512], !=, 0xa5);
	g_assert_cmphex(fh_rd32(e.fh, NVME_REG_CSTS), ==, UINT32_MAX);
	g_assert_cmphex(fh_rd64(e.fh, NVME_REG_CAP), ==, UINT64_MAX);
	irqs = e.fh->msix_count[1];
	fh_complete_io(e.fh);
	fh_run(e.fh);
	g_assert_false(fh_poll(e.fh, &e.q, &cqe));
	g_assert_cmpuint(e.fh->msix_count[1], ==, irqs);
	/* neither a new command nor a disable reaches it */
	rd.cid = 3;
	fh_submit(e.fh, &e.q, &rd);
	fh_wr32(e.fh, NVME_REG_CC, 0);
	fh_run(e.fh);
	g_assert_false(fh_poll(e.fh, &e.q, &cqe));
	g_assert_true(nvme_ctrl_gone(e.fh->ctrl));
	nvme_ctrl_get_stats(e.fh->ctrl, &st);
	g_assert_cmpuint(st.vanished, ==, 1);
	g_assert_cmpuint(st.resets, ==, 0);
	/* power cycle: registers answer again, a new enable works */
	nvme_ctrl_reset(e.fh->ctrl);
	fh_run(e.fh);
	g_assert_false(nvme_ctrl_gone(e.fh->ctrl));
	g_assert_cmphex(fh_rd32(e.fh, NVME_REG_CSTS), ==, 0);
	fh_enable(e.fh, 32);
	fh_create_io_pair(e.fh, &e.q, 1, 64);
	g_assert_cmphex(read_sc(&e, 1, 0, 1), ==, 0);
	memset(&feat, 0, sizeof(feat));
	feat.opcode = NVME_ADM_GET_FEATURES;
	feat.cdw10 = NVME_FEAT_VOLATILE_WC;
	cqe = fh_cmd(e.fh, &e.fh->admin, &feat);
	g_assert_cmphex(cqe.dw0, ==, 1);		/* the Set Features never ran */
	fh_free(e.fh);
}

static void enable_raw(struct fake_host *fh)
{
	fh->admin = (struct fh_queue){
		.qid = 0, .size = 32, .sq_base = FH_ASQ, .cq_base = FH_ACQ, .phase = true,
	};
	memset(fh->ram + FH_ACQ, 0, 32 * sizeof(struct nvme_cqe));
	fh_wr32(fh, NVME_REG_AQA, 31 << 16 | 31);
	fh_wr64(fh, NVME_REG_ASQ, FH_ASQ);
	fh_wr64(fh, NVME_REG_ACQ, FH_ACQ);
	fh_wr32(fh, NVME_REG_CC, 6 << 16 | 4 << 20 | NVME_CC_EN);
}

static void test_ready_delay(void)
{
	struct env e;
	struct nvme_fault_spec s = spec(NVME_FAULT_READY_DELAY);
	struct nvme_sqe id = { .opcode = NVME_ADM_IDENTIFY, .prp1 = FH_DATA, .cdw10 = 1 };
	struct nvme_cqe cqe;

	up(&e);
	s.ms = 5;
	add(e.fh, &s);
	fh_disable(e.fh);
	fh_run(e.fh);
	enable_raw(e.fh);
	g_assert_cmphex(fh_rd32(e.fh, NVME_REG_CSTS), ==, 0);
	fh_advance(e.fh, 4000000);
	g_assert_cmphex(fh_rd32(e.fh, NVME_REG_CSTS), ==, 0);
	fh_advance(e.fh, 1000000);
	g_assert_cmphex(fh_rd32(e.fh, NVME_REG_CSTS), ==, NVME_CSTS_RDY);
	cqe = fh_cmd(e.fh, &e.fh->admin, &id);
	g_assert_cmphex(fh_status(&cqe), ==, 0);

	/* for ever; CC.EN 0 ends the wait, the next enable is immediate */
	s.ms = -1;
	add(e.fh, &s);
	fh_disable(e.fh);
	fh_run(e.fh);
	enable_raw(e.fh);
	fh_advance(e.fh, 3600ull * 1000000000);
	g_assert_cmphex(fh_rd32(e.fh, NVME_REG_CSTS), ==, 0);
	fh_disable(e.fh);
	fh_run(e.fh);
	g_assert_cmpuint(e.fh->timer_deadline, ==, UINT64_MAX);
	fh_enable(e.fh, 32);
	fh_free(e.fh);
}

static void test_ignore_shutdown(void)
{
	struct env e;
	struct nvme_fault_spec s = spec(NVME_FAULT_IGNORE_SHUTDOWN);
	uint32_t cc;

	up(&e);
	add(e.fh, &s);
	cc = fh_rd32(e.fh, NVME_REG_CC);
	fh_wr32(e.fh, NVME_REG_CC, cc | 1u << 14);
	fh_advance(e.fh, 1000000000);
	g_assert_cmphex((fh_rd32(e.fh, NVME_REG_CSTS) & NVME_CSTS_SHST_MASK) >>
			NVME_CSTS_SHST_SHIFT, ==, NVME_SHST_OCCURRING);
	/* the rule fired once: the next shutdown completes */
	fh_wr32(e.fh, NVME_REG_CC, cc);
	fh_wr32(e.fh, NVME_REG_CC, cc | 1u << 14);
	g_assert_cmphex((fh_rd32(e.fh, NVME_REG_CSTS) & NVME_CSTS_SHST_MASK) >>
			NVME_CSTS_SHST_SHIFT, ==, NVME_SHST_COMPLETE);
	fh_free(e.fh);
}

static void test_drop_irq(void)
{
	struct env e;
	struct nvme_fault_spec s = spec(NVME_FAULT_DROP_IRQ);
	struct nvme_sqe cmd = rw(NVME_CMD_READ, 1, 0, 1);
	struct nvme_cqe cqe;
	unsigned int before = 0;

	up(&e);
	s.cq = 1;
	s.count = 2;
	add(e.fh, &s);
	before = e.fh->msix_count[1];
	cmd.cid = 1;
	fh_submit(e.fh, &e.q, &cmd);
	fh_run(e.fh);
	g_assert_cmpuint(e.fh->msix_count[1], ==, before);
	g_assert_true(fh_poll(e.fh, &e.q, &cqe));	/* posted: polling finds it */
	g_assert_cmphex(read_sc(&e, 1, 0, 1), ==, 0);
	g_assert_cmpuint(e.fh->msix_count[1], ==, before);
	g_assert_cmphex(read_sc(&e, 1, 0, 1), ==, 0);
	g_assert_cmpuint(e.fh->msix_count[1], ==, before + 1);
	g_assert_cmpuint(stats(e.fh).irqs_dropped, ==, 2);
	/* the admin CQ was never affected */
	g_assert_cmpuint(rule_info(e.fh, 1).hits, ==, 2);

	/* pin-based: INTx stays low for the dropped one */
	e.fh->msix = false;
	s.count = 1;
	add(e.fh, &s);
	fh_submit(e.fh, &e.q, &cmd);
	fh_run(e.fh);
	g_assert_false(e.fh->intx);
	g_assert_true(fh_poll(e.fh, &e.q, &cqe));
	fh_submit(e.fh, &e.q, &cmd);
	fh_run(e.fh);
	g_assert_true(e.fh->intx);
	g_assert_true(fh_poll(e.fh, &e.q, &cqe));
	g_assert_false(e.fh->intx);
	fh_free(e.fh);
}

static void test_dup_completion(void)
{
	struct env e;
	struct nvme_fault_spec s = spec(NVME_FAULT_DUP_COMPLETION);
	struct nvme_sqe cmd = rw(NVME_CMD_READ, 1, 0, 1);
	struct nvme_cqe a, b;

	up(&e);
	add(e.fh, &s);
	cmd.cid = 9;
	fh_submit(e.fh, &e.q, &cmd);
	fh_run(e.fh);
	g_assert_true(fh_poll(e.fh, &e.q, &a));
	g_assert_true(fh_poll(e.fh, &e.q, &b));
	g_assert_cmphex(a.cid, ==, 9);
	g_assert_cmphex(b.cid, ==, 9);
	g_assert_cmphex(FH_SC(b), ==, 0);
	g_assert_false(fh_poll(e.fh, &e.q, &a));
	g_assert_cmpuint(stats(e.fh).extra_completions, ==, 1);
	g_assert_cmpuint(stats(e.fh).io_completed, ==, 1);
	{
		uint64_t sub, comp;

		g_assert_true(nvme_ctrl_get_queue_stats(e.fh->ctrl, 1, &sub, &comp));
		g_assert_cmpuint(sub, ==, 1);
		g_assert_cmpuint(comp, ==, 1);
		g_assert_true(nvme_ctrl_get_queue_stats(e.fh->ctrl, 0, &sub, &comp));
		g_assert_cmpuint(sub, ==, 2);	/* create CQ, create SQ */
		g_assert_cmpuint(comp, ==, 2);
		g_assert_true(nvme_ctrl_get_queue_stats(e.fh->ctrl, 8, &sub, &comp));
		g_assert_false(nvme_ctrl_get_queue_stats(e.fh->ctrl, 9, &sub, &comp));
	}
	fh_free(e.fh);
}

static void test_bad_cid(void)
{
	struct env e;
	struct nvme_fault_spec s = spec(NVME_FAULT_BAD_CID);
	struct nvme_sqe cmd = rw(NVME_CMD_READ, 1, 0, 1);
	struct nvme_cqe a, b;

	up(&e);
	add(e.fh, &s);
	cmd.cid = 9;
	fh_submit(e.fh, &e.q, &cmd);
	fh_run(e.fh);
	g_assert_true(fh_poll(e.fh, &e.q, &a));
	g_assert_true(fh_poll(e.fh, &e.q, &b));
	g_assert_cmphex(a.cid, !=, 9);
	g_assert_cmphex(b.cid, ==, 9);
	g_assert_false(fh_poll(e.fh, &e.q, &a));
	fh_free(e.fh);
}

/*
 * stale-completion: the completion comes once as usual, and once more when
 * the SQ's next command is fetched (here one reusing its CID, as a host
 * with one command out does), ahead of that command's own completion.
 */
static void test_stale_completion(void)
{
	struct env e;
	struct nvme_fault_spec s = spec(NVME_FAULT_STALE_COMPLETION);
	struct nvme_sqe cmd = rw(NVME_CMD_READ, 1, 0, 1);
	struct nvme_cqe a;

	up(&e);
	add(e.fh, &s);
	cmd.cid = 9;
	fh_submit(e.fh, &e.q, &cmd);
	fh_run(e.fh);
	g_assert_true(fh_poll(e.fh, &e.q, &a));
	g_assert_cmphex(a.cid, ==, 9);
	g_assert_false(fh_poll(e.fh, &e.q, &a));
	e.fh->io_error = -5;		/* the new command fails: the stale copy says success */
	fh_submit(e.fh, &e.q, &cmd);
	fh_run(e.fh);
	g_assert_true(fh_poll(e.fh, &e.q, &a));
	g_assert_cmphex(a.cid, ==, 9);
	g_assert_cmphex(FH_SC(a), ==, 0);
	g_assert_true(fh_poll(e.fh, &e.q, &a));
	g_assert_cmphex(a.cid, ==, 9);
	g_assert_cmphex(FH_SC(a), ==, NVME_SC_READ_ERROR);
	g_assert_false(fh_poll(e.fh, &e.q, &a));
	g_assert_cmpuint(stats(e.fh).extra_completions, ==, 1);
	/* once only: a third command completes once */
	fh_submit(e.fh, &e.q, &cmd);
	fh_run(e.fh);
	g_assert_true(fh_poll(e.fh, &e.q, &a));
	g_assert_false(fh_poll(e.fh, &e.q, &a));
	fh_free(e.fh);
}

/*
 * patch-data: the admin command's data carries the rule's value at its
 * offset, little-endian, once; an I/O Read is never patched.
 */
static void test_patch_data(void)
{
	struct env e;
	struct nvme_fault_spec s = spec(NVME_FAULT_PATCH_DATA);
	struct nvme_sqe id = { .opcode = NVME_ADM_IDENTIFY, .cdw10 = NVME_ID_CNS_CTRL,
			       .prp1 = FH_DATA };
	struct nvme_sqe read = rw(NVME_CMD_READ, 1, 0, 8);
	struct nvme_id_ctrl ctrl;
	struct nvme_cqe cqe;

	up(&e);
	s.opcode = NVME_ADM_IDENTIFY;
	s.offset = offsetof(struct nvme_id_ctrl, nn);
	s.width = 4;
	s.value = 0xffffffff;
	add(e.fh, &s);
	s.offset = offsetof(struct nvme_id_ctrl, mdts);
	s.width = 1;
	s.value = 0;
	s.opcode = NVME_FAULT_UNSET;
	add(e.fh, &s);			/* shadowed by the first while it is active */
	cqe = fh_cmd(e.fh, &e.fh->admin, &id);
	g_assert_cmphex(fh_status(&cqe), ==, 0);
	memcpy(&ctrl, e.fh->ram + FH_DATA, sizeof(ctrl));
	g_assert_cmphex(ctrl.nn, ==, 0xffffffff);
	g_assert_cmpuint(ctrl.mdts, ==, 5);
	/* the second rule fires on the next admin command with data */
	cqe = fh_cmd(e.fh, &e.fh->admin, &id);
	memcpy(&ctrl, e.fh->ram + FH_DATA, sizeof(ctrl));
	g_assert_cmpuint(ctrl.nn, ==, 32);
	g_assert_cmpuint(ctrl.mdts, ==, 0);
	/* the model's own answer is untouched afterwards */
	cqe = fh_cmd(e.fh, &e.fh->admin, &id);
	memcpy(&ctrl, e.fh->ram + FH_DATA, sizeof(ctrl));
	g_assert_cmpuint(ctrl.nn, ==, 32);
	g_assert_cmpuint(ctrl.mdts, ==, 5);
	/* I/O data: not matched */
	nvme_ctrl_fault_clear(e.fh->ctrl);
	s = spec(NVME_FAULT_PATCH_DATA);
	s.offset = 0;
	s.value = 0x5a;
	s.count = 0;
	add(e.fh, &s);
	memset(e.fh->disk[1], 0x11, 4096);
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &read)), ==, 0);
	g_assert_cmphex(e.fh->ram[FH_DATA], ==, 0x11);
	/* an offset past the data leaves it whole */
	nvme_ctrl_fault_clear(e.fh->ctrl);
	s.offset = 4096;
	add(e.fh, &s);
	memset(e.fh->ram + FH_DATA, 0, 4096);
	cqe = fh_cmd(e.fh, &e.fh->admin, &id);
	g_assert_cmphex(fh_status(&cqe), ==, 0);
	memcpy(&ctrl, e.fh->ram + FH_DATA, sizeof(ctrl));
	g_assert_cmpuint(ctrl.nn, ==, 32);
	g_assert_cmpuint(rule_info(e.fh, 4).hits, ==, 1);
	fh_free(e.fh);
}

/* sq-head: the completion reports the rule's head; the next one the real one. */
static void test_sq_head(void)
{
	struct env e;
	struct nvme_fault_spec s = spec(NVME_FAULT_SQ_HEAD);
	struct nvme_sqe cmd = rw(NVME_CMD_READ, 1, 0, 1);
	struct nvme_cqe cqe;

	up(&e);
	s.value = 0xffff;
	add(e.fh, &s);
	fh_submit(e.fh, &e.q, &cmd);
	fh_run(e.fh);
	g_assert_true(fh_poll(e.fh, &e.q, &cqe));
	g_assert_cmphex(FH_SC(cqe), ==, 0);
	g_assert_cmphex(cqe.sq_head, ==, 0xffff);
	cqe = fh_cmd(e.fh, &e.q, &cmd);
	g_assert_cmphex(cqe.sq_head, ==, 2);
	fh_free(e.fh);
}

static void test_corrupt_read(void)
{
	struct env e;
	struct nvme_fault_spec s = spec(NVME_FAULT_CORRUPT_READ);
	struct nvme_sqe cmd;
	g_autofree uint8_t *want = g_malloc(1024);
	unsigned int i;

	up(&e);
	for (i = 0; i < 1024; i++)
		e.fh->disk[1][8 * 512 + i] = want[i] = (uint8_t)(i * 13 + 1);
	s.lba_start = 8;
	s.lba_end = 8;
	add(e.fh, &s);
	/* a Write over the range is no Read: untouched */
	cmd = rw(NVME_CMD_WRITE, 1, 100, 1);
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, 0);
	/* PRP1 at an offset: two blocks across a page boundary */
	cmd = rw(NVME_CMD_READ, 1, 8, 2);
	cmd.prp1 = FH_DATA + 4096 - 256;
	cmd.prp2 = FH_DATA + 4096;
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, 0);
	want[0] ^= 0xff;
	want[512] ^= 0xff;
	g_assert_cmpmem(e.fh->ram + FH_DATA + 4096 - 256, 1024, want, 1024);
	/* storage unchanged, the next read is clean */
	want[0] ^= 0xff;
	want[512] ^= 0xff;
	g_assert_cmpmem(e.fh->disk[1] + 8 * 512, 1024, want, 1024);
	g_assert_cmphex(read_sc(&e, 1, 8, 2), ==, 0);
	g_assert_cmpmem(e.fh->ram + FH_DATA, 1024, want, 1024);
	g_assert_cmpuint(stats(e.fh).reads_corrupted, ==, 1);
	fh_free(e.fh);
}

/* What LBAs [slba, slba + nlb) of namespace 1 hold, against a byte pattern. */
static bool disk_holds(struct env *e, uint64_t slba, uint32_t nlb, uint8_t byte)
{
	const uint8_t *d = e->fh->disk[1] + slba * 512;
	uint64_t i;

	for (i = 0; i < nlb * 512ull; i++)
		if (d[i] != byte)
			return false;
	return true;
}

/* Write nlb blocks of @byte at slba from a buffer across a page boundary. */
static uint16_t write_sc(struct env *e, uint64_t slba, uint32_t nlb, uint8_t byte)
{
	struct nvme_sqe cmd = rw(NVME_CMD_WRITE, 1, slba, nlb);

	memset(e->fh->ram + FH_DATA + 4096 - 256, byte, nlb * 512);
	cmd.prp1 = FH_DATA + 4096 - 256;
	cmd.prp2 = FH_DATA + 4096;
	return FH_SC(fh_cmd(e->fh, &e->q, &cmd));
}

/*
 * The ledger against the medium, LBA by LBA, as a harness checks it (zlib's
 * CRC-32 of what the disk holds): 1 = the data the host was told of is
 * there, 0 = other data, -1 = the ledger knows nothing of the LBA.
 */
static int ledger_vs_medium(struct env *e, uint64_t lba)
{
	const struct nvme_ledger_entry *l;
	uint64_t nlbas;
	unsigned int lbads;

	l = nvme_ctrl_ledger(e->fh->ctrl, 1, &nlbas, &lbads);
	if (!l || lba >= nlbas || !l[lba].gen)
		return -1;
	g_assert_cmpuint(lbads, ==, 9);
	return l[lba].crc == crc32(0, e->fh->disk[1] + lba * 512, 512);
}

static void test_ledger(void)
{
	struct nvme_ctrl_params p;
	struct env e;
	struct nvme_fault_spec s;
	uint64_t nlbas;
	unsigned int lbads;

	nvme_ctrl_params_default(&p);
	p.ledger = true;
	up_with(&e, &p);
	memset(e.fh->disk[1], 0xaa, NLBAS * 512);
	g_assert_cmpint(ledger_vs_medium(&e, 16), ==, -1);
	g_assert_cmphex(write_sc(&e, 16, 2, 0x11), ==, 0);
	g_assert_cmpint(ledger_vs_medium(&e, 16), ==, 1);
	g_assert_cmpint(ledger_vs_medium(&e, 17), ==, 1);
	g_assert_cmpint(ledger_vs_medium(&e, 18), ==, -1);

	/* each lie shows as a difference at the LBAs the host wrote */
	s = spec(NVME_FAULT_LOSE_WRITE);
	add(e.fh, &s);
	g_assert_cmphex(write_sc(&e, 16, 2, 0x22), ==, 0);
	g_assert_cmpint(ledger_vs_medium(&e, 16), ==, 0);
	g_assert_cmpint(ledger_vs_medium(&e, 17), ==, 0);
	s = spec(NVME_FAULT_TORN_WRITE);
	s.value = 1;
	add(e.fh, &s);
	g_assert_cmphex(write_sc(&e, 32, 3, 0x33), ==, 0);
	g_assert_cmpint(ledger_vs_medium(&e, 32), ==, 1);
	g_assert_cmpint(ledger_vs_medium(&e, 33), ==, 0);
	g_assert_cmpint(ledger_vs_medium(&e, 34), ==, 0);
	s = spec(NVME_FAULT_MISDIRECTED_WRITE);
	s.value = 5;
	add(e.fh, &s);
	g_assert_cmphex(write_sc(&e, 48, 2, 0x44), ==, 0);
	g_assert_cmpint(ledger_vs_medium(&e, 48), ==, 0);
	g_assert_cmpint(ledger_vs_medium(&e, 53), ==, -1);

	/* a Write that failed leaves its LBAs undefined: not checked */
	s = spec(NVME_FAULT_STATUS);
	s.sc = NVME_SC_WRITE_FAULT & 0xff;
	s.sct = NVME_SC_WRITE_FAULT >> 8;
	s.execute = true;
	add(e.fh, &s);
	g_assert_cmphex(write_sc(&e, 16, 2, 0x55), ==, NVME_SC_WRITE_FAULT);
	g_assert_cmpint(ledger_vs_medium(&e, 16), ==, -1);
	g_assert_cmpint(ledger_vs_medium(&e, 32), ==, 1);

	nvme_ctrl_ledger_clear(e.fh->ctrl);
	g_assert_null(nvme_ctrl_ledger(e.fh->ctrl, 1, &nlbas, &lbads));
	g_assert_cmpuint(nlbas, ==, 0);
	fh_free(e.fh);

	/* off by default: none kept */
	up(&e);
	g_assert_cmphex(write_sc(&e, 16, 2, 0x11), ==, 0);
	g_assert_null(nvme_ctrl_ledger(e.fh->ctrl, 1, &nlbas, &lbads));
	fh_free(e.fh);
}

/*
 * Firmware that lies about Writes: each completes with success, and the
 * medium shows the lie.  Reads never match such a rule.
 */
static void test_write_lies(void)
{
	struct env e;
	struct nvme_fault_spec s = spec(NVME_FAULT_LOSE_WRITE);

	up(&e);
	memset(e.fh->disk[1], 0xaa, NLBAS * 512);
	add(e.fh, &s);
	g_assert_cmphex(read_sc(&e, 1, 16, 2), ==, 0);
	g_assert_cmphex(write_sc(&e, 16, 2, 0x11), ==, 0);
	g_assert_true(disk_holds(&e, 16, 2, 0xaa));
	g_assert_cmphex(write_sc(&e, 16, 2, 0x11), ==, 0);	/* count 1: spent */
	g_assert_true(disk_holds(&e, 16, 2, 0x11));
	g_assert_cmpuint(stats(e.fh).writes_lost, ==, 1);

	/* torn: the first LBA of three reaches the medium */
	s = spec(NVME_FAULT_TORN_WRITE);
	s.value = 1;
	s.count = 2;
	add(e.fh, &s);
	g_assert_cmphex(write_sc(&e, 32, 3, 0x22), ==, 0);
	g_assert_true(disk_holds(&e, 32, 1, 0x22));
	g_assert_true(disk_holds(&e, 33, 2, 0xaa));
	/* a Write no longer than the tear is whole */
	g_assert_cmphex(write_sc(&e, 40, 1, 0x33), ==, 0);
	g_assert_true(disk_holds(&e, 40, 1, 0x33));
	g_assert_cmpuint(stats(e.fh).writes_torn, ==, 1);

	/* misdirected: 5 LBAs further on, wrapped within the namespace */
	nvme_ctrl_fault_clear(e.fh->ctrl);
	s = spec(NVME_FAULT_MISDIRECTED_WRITE);
	s.value = 5;
	s.count = 2;
	add(e.fh, &s);
	g_assert_cmphex(write_sc(&e, 48, 2, 0x44), ==, 0);
	g_assert_true(disk_holds(&e, 48, 2, 0xaa));
	g_assert_true(disk_holds(&e, 53, 2, 0x44));
	g_assert_cmphex(write_sc(&e, NLBAS - 2, 2, 0x55), ==, 0);
	g_assert_true(disk_holds(&e, NLBAS - 2, 2, 0xaa));
	g_assert_true(disk_holds(&e, (NLBAS - 2 + 5) % (NLBAS - 1), 2, 0x55));
	g_assert_cmpuint(stats(e.fh).writes_misdirected, ==, 2);

	/* what they refuse, by name */
	s = spec(NVME_FAULT_LOSE_WRITE);
	s.opcode = NVME_CMD_READ;
	refused(e.fh, &s, "'opcode'");
	s = spec(NVME_FAULT_LOSE_WRITE);
	s.queue = NVME_FAULT_QUEUE_ADMIN;
	refused(e.fh, &s, "'queue'");
	s = spec(NVME_FAULT_LOSE_WRITE);
	s.value = 3;
	refused(e.fh, &s, "'value'");
	s = spec(NVME_FAULT_TORN_WRITE);
	refused(e.fh, &s, "'value'");
	s.value = 0;
	refused(e.fh, &s, "'value'");
	s = spec(NVME_FAULT_MISDIRECTED_WRITE);
	s.value = 0;
	refused(e.fh, &s, "'value'");
	s = spec(NVME_FAULT_STALE_READ);
	s.value = 3;
	refused(e.fh, &s, "'value'");
	s = spec(NVME_FAULT_STALE_READ);
	s.opcode = NVME_CMD_READ;
	refused(e.fh, &s, "'opcode'");
	fh_free(e.fh);
}

/*
 * status with execute: the command runs (a Write reaches the medium, a Set
 * Features takes effect) and only its completion reports the failure; a
 * command that fails by itself keeps its own status.
 */
static void test_status_after_execute(void)
{
	struct env e;
	struct nvme_fault_spec s = spec(NVME_FAULT_STATUS);
	struct nvme_sqe cmd;
	struct nvme_cqe cqe;

	up(&e);
	s.opcode = NVME_CMD_WRITE;
	s.sc = NVME_SC_ABORT_REQ;
	s.execute = true;
	s.count = 2;
	add(e.fh, &s);
	memset(e.fh->ram + FH_DATA, 0x5a, 512);
	cmd = rw(NVME_CMD_WRITE, 1, 40, 1);
	cqe = fh_cmd(e.fh, &e.q, &cmd);
	g_assert_cmphex(fh_status(&cqe), ==, NVME_SC_ABORT_REQ);
	g_assert_cmphex(e.fh->disk[1][40 * 512], ==, 0x5a);
	g_assert_cmphex(e.fh->disk[1][40 * 512 + 511], ==, 0x5a);
	/* past the namespace: the command's own error is reported */
	cmd = rw(NVME_CMD_WRITE, 1, NLBAS, 1);
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, NVME_SC_LBA_RANGE);
	g_assert_cmpuint(rule_info(e.fh, 1).hits, ==, 2);
	cmd = rw(NVME_CMD_WRITE, 1, 41, 1);
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, 0);
	g_assert_cmpuint(stats(e.fh).cmds_status, ==, 1);	/* the range error was its own */

	/* an admin command: Set Features volatile write cache off takes effect */
	nvme_ctrl_fault_clear(e.fh->ctrl);
	s = spec(NVME_FAULT_STATUS);
	s.queue = NVME_FAULT_QUEUE_ADMIN;
	s.opcode = NVME_ADM_SET_FEATURES;
	s.sc = NVME_SC_INTERNAL;
	s.dnr = true;
	s.execute = true;
	add(e.fh, &s);
	memset(&cmd, 0, sizeof(cmd));
	cmd.opcode = NVME_ADM_SET_FEATURES;
	cmd.cdw10 = NVME_FEAT_VOLATILE_WC;
	cmd.cdw11 = 0;
	cqe = fh_cmd(e.fh, &e.fh->admin, &cmd);
	g_assert_cmphex(fh_status(&cqe), ==, NVME_SC_INTERNAL | NVME_DNR);
	memset(&cmd, 0, sizeof(cmd));
	cmd.opcode = NVME_ADM_GET_FEATURES;
	cmd.cdw10 = NVME_FEAT_VOLATILE_WC;
	cqe = fh_cmd(e.fh, &e.fh->admin, &cmd);
	g_assert_cmphex(fh_status(&cqe), ==, 0);
	g_assert_cmphex(cqe.dw0, ==, 0);

	/* execute belongs to status only */
	s = spec(NVME_FAULT_DROP);
	s.execute = true;
	refused(e.fh, &s, "'execute' does not apply to action drop");
	fh_free(e.fh);
}

/* Rules are checked oldest first; the first that fires decides. */
static void test_order_list(void)
{
	struct env e;
	struct nvme_fault_spec a = spec(NVME_FAULT_STATUS), b = spec(NVME_FAULT_STATUS);
	struct nvme_fault_info info[4];

	up(&e);
	a.sc = NVME_SC_INTERNAL;
	a.nth = 2;
	b.sc = NVME_SC_INVALID_FIELD;
	b.count = 0;
	b.queue = 1;
	add(e.fh, &a);
	add(e.fh, &b);
	g_assert_cmphex(read_sc(&e, 1, 0, 1), ==, NVME_SC_INVALID_FIELD);
	g_assert_cmphex(read_sc(&e, 1, 0, 1), ==, NVME_SC_INTERNAL);
	g_assert_cmphex(read_sc(&e, 1, 0, 1), ==, NVME_SC_INVALID_FIELD);
	g_assert_cmpuint(nvme_ctrl_fault_list(e.fh->ctrl, info, 4), ==, 2);
	g_assert_cmpuint(info[0].id, ==, 1);
	g_assert_cmpuint(info[0].hits, ==, 1);
	g_assert_cmpuint(info[1].hits, ==, 2);
	g_assert_cmpint(info[1].spec.queue, ==, 1);
	nvme_ctrl_fault_clear(e.fh->ctrl);
	g_assert_cmpuint(nvme_ctrl_fault_list(e.fh->ctrl, info, 4), ==, 0);
	g_assert_cmphex(read_sc(&e, 1, 0, 1), ==, 0);
	fh_free(e.fh);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/fault/validate", test_validate);
	g_test_add_func("/fault/match-queue-opcode", test_match_queue_opcode);
	g_test_add_func("/fault/match-nsid-lba", test_match_nsid_lba);
	g_test_add_func("/fault/nth-every-count", test_nth_every_count);
	g_test_add_func("/fault/probability-seed", test_probability_seed);
	g_test_add_func("/fault/drop-abort", test_drop_abort);
	g_test_add_func("/fault/drop-reset", test_drop_reset);
	g_test_add_func("/fault/delay", test_delay);
	g_test_add_func("/fault/cfs", test_cfs);
	g_test_add_func("/fault/vanish", test_vanish);
	g_test_add_func("/fault/ready-delay", test_ready_delay);
	g_test_add_func("/fault/ignore-shutdown", test_ignore_shutdown);
	g_test_add_func("/fault/drop-irq", test_drop_irq);
	g_test_add_func("/fault/dup-completion", test_dup_completion);
	g_test_add_func("/fault/bad-cid", test_bad_cid);
	g_test_add_func("/fault/stale-completion", test_stale_completion);
	g_test_add_func("/fault/corrupt-read", test_corrupt_read);
	g_test_add_func("/fault/write-lies", test_write_lies);
	g_test_add_func("/fault/ledger", test_ledger);
	g_test_add_func("/fault/patch-data", test_patch_data);
	g_test_add_func("/fault/sq-head", test_sq_head);
	g_test_add_func("/fault/status-after-execute", test_status_after_execute);
	g_test_add_func("/fault/order-list", test_order_list);
	return g_test_run();
}
