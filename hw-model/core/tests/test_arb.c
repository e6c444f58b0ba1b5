// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Arbitration (spec 4.7): CAP.AMS / CC.AMS, round robin with arbitration
 * burst, weighted round robin with urgent priority class.  Several SQs are
 * filled before the controller runs; the fake host's fetch log (trace_cmd)
 * gives the order in which the controller took the commands.
 */
#include <glib.h>
#include <string.h>

#include "fake_host.h"

#define QSIZE	64

static struct fake_host *arb_up(uint8_t ams, uint32_t cc_ams)
{
	struct nvme_ctrl_params p;
	struct fake_host *fh;

	nvme_ctrl_params_default(&p);
	p.ams = ams;
	fh = fh_new(&p);
	fh_attach_ns(fh, 1, 9, 64);
	fh->admin = (struct fh_queue){
		.qid = 0, .size = 32, .sq_base = FH_ASQ, .cq_base = FH_ACQ, .phase = true,
	};
	fh_wr32(fh, NVME_REG_AQA, 31 << 16 | 31);
	fh_wr64(fh, NVME_REG_ASQ, FH_ASQ);
	fh_wr64(fh, NVME_REG_ACQ, FH_ACQ);
	fh_wr32(fh, NVME_REG_CC, 6 << 16 | 4 << 20 | cc_ams << 11 | NVME_CC_EN);
	g_assert_cmphex(fh_rd32(fh, NVME_REG_CSTS), ==, NVME_CSTS_RDY);
	return fh;
}

static void set_arb(struct fake_host *fh, uint32_t val)
{
	struct nvme_sqe cmd = {
		.opcode = NVME_ADM_SET_FEATURES, .cdw10 = NVME_FEAT_ARBITRATION, .cdw11 = val,
	};
	struct nvme_cqe cqe = fh_cmd(fh, &fh->admin, &cmd);

	g_assert_cmphex(FH_SC(cqe), ==, 0);
}

/* An I/O CQ + SQ pair @qid with the SQ's QPRIO = @prio. */
static void create_pair(struct fake_host *fh, struct fh_queue *q, uint16_t qid, uint32_t prio)
{
	struct nvme_sqe cmd;
	struct nvme_cqe cqe;

	*q = (struct fh_queue){
		.qid = qid, .size = QSIZE, .phase = true,
		.sq_base = FH_IOSQ + (uint64_t)qid * 0x1000 * 4,
		.cq_base = FH_IOCQ + (uint64_t)qid * 0x1000 * 4,
	};
	memset(fh->ram + q->cq_base, 0, QSIZE * sizeof(cqe));
	memset(&cmd, 0, sizeof(cmd));
	cmd.opcode = NVME_ADM_CREATE_CQ;
	cmd.prp1 = q->cq_base;
	cmd.cdw10 = (QSIZE - 1) << 16 | qid;
	cmd.cdw11 = (uint32_t)qid << 16 | NVME_QUEUE_PC;
	cqe = fh_cmd(fh, &fh->admin, &cmd);
	g_assert_cmphex(FH_SC(cqe), ==, 0);
	memset(&cmd, 0, sizeof(cmd));
	cmd.opcode = NVME_ADM_CREATE_SQ;
	cmd.prp1 = q->sq_base;
	cmd.cdw10 = (QSIZE - 1) << 16 | qid;
	cmd.cdw11 = (uint32_t)qid << 16 | prio << 1 | NVME_QUEUE_PC;
	cqe = fh_cmd(fh, &fh->admin, &cmd);
	g_assert_cmphex(FH_SC(cqe), ==, 0);
}

/* Queue @n Flush commands on @q without letting the controller run. */
static void fill(struct fake_host *fh, struct fh_queue *q, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		struct nvme_sqe cmd = { .opcode = NVME_CMD_FLUSH, .nsid = 1,
					.cid = (uint16_t)i };

		fh_submit(fh, q, &cmd);
	}
}

/* One processing pass; the SQ ids of the fetched commands as a string. */
static char *one_pass(struct fake_host *fh)
{
	GString *s = g_string_new(NULL);
	unsigned int i;

	fh->nfetched = 0;
	fh->scheduled = false;
	nvme_ctrl_process(fh->ctrl);
	for (i = 0; i < fh->nfetched; i++)
		g_string_append_printf(s, "%u", fh->fetched[i] >> 16);
	return g_string_free(s, FALSE);
}

static void test_ams_cap_and_cc(void)
{
	struct nvme_ctrl_params p;
	struct fake_host *fh;

	nvme_ctrl_params_default(&p);
	p.ams = 2;
	g_assert_nonnull(nvme_ctrl_params_check(&p));
	g_assert_nonnull(strstr(nvme_ctrl_params_check(&p), "ams"));

	/* CAP.AMS bit 17: WRR with urgent class offered */
	fh = arb_up(1, NVME_CC_AMS_WRR);
	g_assert_cmpuint(fh_rd64(fh, NVME_REG_CAP) >> 17 & 3, ==, 1);
	fh_free(fh);
	fh = arb_up(1, NVME_CC_AMS_RR);
	fh_free(fh);
	fh = arb_up(0, NVME_CC_AMS_RR);
	g_assert_cmpuint(fh_rd64(fh, NVME_REG_CAP) >> 17 & 3, ==, 0);
	fh_free(fh);

	/* WRR not offered, and vendor specific (7) never: CSTS.CFS */
	nvme_ctrl_params_default(&p);
	for (p.ams = 0; p.ams <= 1; p.ams++) {
		fh = fh_new(&p);
		fh_wr32(fh, NVME_REG_AQA, 0x001f001f);
		fh_wr64(fh, NVME_REG_ASQ, FH_ASQ);
		fh_wr64(fh, NVME_REG_ACQ, FH_ACQ);
		fh_wr32(fh, NVME_REG_CC, (p.ams ? 7u : 1u) << 11 | NVME_CC_EN);
		g_assert_cmphex(fh_rd32(fh, NVME_REG_CSTS), ==, NVME_CSTS_CFS);
		fh_free(fh);
	}
}

/* Round robin, AB 0 (one command per turn): the SQs take turns. */
static void test_rr_interleaves(void)
{
	struct fake_host *fh = arb_up(0, NVME_CC_AMS_RR);
	struct fh_queue q[4];
	g_autofree char *order = NULL;
	unsigned int i;

	for (i = 1; i <= 3; i++)
		create_pair(fh, &q[i], (uint16_t)i, NVME_SQ_PRIO_LOW - (i - 1));
	fill(fh, &q[2], 4);
	fill(fh, &q[1], 4);
	fill(fh, &q[3], 2);
	order = one_pass(fh);
	/* QPRIO is ignored under round robin */
	g_assert_cmpstr(order, ==, "1231231212");
	fh_free(fh);
}

/* Round robin with arbitration burst: AB 1 = 2 per turn, AB 7 = no limit. */
static void test_rr_burst(void)
{
	struct fake_host *fh = arb_up(0, NVME_CC_AMS_RR);
	struct fh_queue q[3];
	char *order;

	create_pair(fh, &q[1], 1, 0);
	create_pair(fh, &q[2], 2, 0);
	set_arb(fh, 1);
	fill(fh, &q[1], 5);
	fill(fh, &q[2], 5);
	order = one_pass(fh);
	g_assert_cmpstr(order, ==, "1122112212");
	g_free(order);

	set_arb(fh, NVME_ARB_AB_NO_LIMIT);
	fill(fh, &q[1], 5);
	fill(fh, &q[2], 5);
	order = one_pass(fh);
	/* the last pass ended on SQ 2: this round starts after it */
	g_assert_cmpstr(order, ==, "1111122222");
	g_free(order);
	fh_free(fh);
}

/* A pass fetches at most 32 per ready SQ, then reschedules; the round goes on. */
static void test_rr_pass_budget(void)
{
	struct fake_host *fh = arb_up(0, NVME_CC_AMS_RR);
	struct fh_queue q;
	char *order;

	create_pair(fh, &q, 1, 0);
	fill(fh, &q, 40);
	order = one_pass(fh);
	g_assert_cmpuint(strlen(order), ==, 32);
	g_assert_true(fh->scheduled);
	g_free(order);
	order = one_pass(fh);
	g_assert_cmpuint(strlen(order), ==, 8);
	g_assert_false(fh->scheduled);
	g_free(order);
	fh_free(fh);
}

/*
 * WRR: urgent SQs first (round robin between them), then high/medium/low
 * by weight; HPW 2, MPW 1, LPW 0 (0-based: 3, 2, 1 commands per cycle).
 */
static void test_wrr_order(void)
{
	struct fake_host *fh = arb_up(1, NVME_CC_AMS_WRR);
	struct fh_queue q[6];
	g_autofree char *order = NULL;

	create_pair(fh, &q[1], 1, NVME_SQ_PRIO_LOW);
	create_pair(fh, &q[2], 2, NVME_SQ_PRIO_MEDIUM);
	create_pair(fh, &q[3], 3, NVME_SQ_PRIO_HIGH);
	create_pair(fh, &q[4], 4, NVME_SQ_PRIO_URGENT);
	create_pair(fh, &q[5], 5, NVME_SQ_PRIO_URGENT);
	set_arb(fh, 2u << 24 | 1u << 16 | 0u << 8 | 0);
	fill(fh, &q[1], 5);
	fill(fh, &q[2], 5);
	fill(fh, &q[3], 7);
	fill(fh, &q[4], 3);
	fill(fh, &q[5], 3);
	order = one_pass(fh);
	g_assert_cmpstr(order, ==,
			"454545"	/* urgent */
			"333221"	/* cycle 1 */
			"333221"	/* cycle 2 */
			"32"		/* high's and medium's last */
			"111");		/* only low is left: one per cycle */
	fh_free(fh);
}

/* WRR: the burst limits each turn within a class's weight. */
static void test_wrr_burst_within_weight(void)
{
	struct fake_host *fh = arb_up(1, NVME_CC_AMS_WRR);
	struct fh_queue q[4];
	g_autofree char *order = NULL;

	create_pair(fh, &q[1], 1, NVME_SQ_PRIO_HIGH);
	create_pair(fh, &q[2], 2, NVME_SQ_PRIO_HIGH);
	create_pair(fh, &q[3], 3, NVME_SQ_PRIO_LOW);
	/* HPW 4 (5 commands), LPW 1 (2), AB 1 (2 per turn) */
	set_arb(fh, 4u << 24 | 1u << 8 | 1);
	fill(fh, &q[1], 6);
	fill(fh, &q[2], 6);
	fill(fh, &q[3], 4);
	order = one_pass(fh);
	g_assert_cmpstr(order, ==,
			"11221" "33"	/* high: 2 + 2 + 1 = 5, low: 2 */
			"22112" "33"	/* the high round goes on at SQ 2 */
			"12");
	fh_free(fh);
}

/* The admin SQ is served before any I/O SQ, urgent ones included. */
static void test_admin_first(void)
{
	struct fake_host *fh = arb_up(1, NVME_CC_AMS_WRR);
	struct fh_queue q[2];
	struct nvme_sqe cmd = { .opcode = NVME_ADM_GET_FEATURES,
				.cdw10 = NVME_FEAT_ARBITRATION, .cid = 7 };
	g_autofree char *order = NULL;

	create_pair(fh, &q[1], 1, NVME_SQ_PRIO_URGENT);
	fill(fh, &q[1], 3);
	fh_submit(fh, &fh->admin, &cmd);
	fh_submit(fh, &fh->admin, &cmd);
	order = one_pass(fh);
	g_assert_cmpstr(order, ==, "00111");
	fh_free(fh);
}

/* A controller reset starts the weighted cycle afresh. */
static void test_wrr_after_reset(void)
{
	struct fake_host *fh = arb_up(1, NVME_CC_AMS_WRR);
	struct fh_queue q[3];
	char *order;

	create_pair(fh, &q[1], 1, NVME_SQ_PRIO_HIGH);
	create_pair(fh, &q[2], 2, NVME_SQ_PRIO_LOW);
	set_arb(fh, 1u << 8);		/* LPW 1: low may fetch 2 per cycle */
	fill(fh, &q[1], 1);
	fill(fh, &q[2], 1);
	order = one_pass(fh);
	g_assert_cmpstr(order, ==, "12");	/* low keeps one command of credit */
	g_free(order);
	fh_run(fh);

	fh_disable(fh);
	fh_run(fh);
	g_assert_cmphex(fh_rd32(fh, NVME_REG_CSTS) & NVME_CSTS_RDY, ==, 0);
	fh_wr32(fh, NVME_REG_CC, 6 << 16 | 4 << 20 | NVME_CC_AMS_WRR << 11 | NVME_CC_EN);
	fh->admin.sq_tail = fh->admin.cq_head = 0;
	fh->admin.phase = true;
	memset(fh->ram + FH_ACQ, 0, 32 * sizeof(struct nvme_cqe));
	create_pair(fh, &q[1], 1, NVME_SQ_PRIO_LOW);
	create_pair(fh, &q[2], 2, NVME_SQ_PRIO_HIGH);
	fill(fh, &q[1], 2);
	fill(fh, &q[2], 2);
	order = one_pass(fh);
	/* the old low credit is gone; default weights 0: one each, high first */
	g_assert_cmpstr(order, ==, "2121");
	g_free(order);
	fh_free(fh);
}

/* CC.AMS written while enabled does not change the arbitration (spec 3.1.5). */
static void test_ams_latched_at_enable(void)
{
	struct fake_host *fh = arb_up(1, NVME_CC_AMS_RR);
	struct fh_queue q[3];
	g_autofree char *order = NULL;

	create_pair(fh, &q[1], 1, NVME_SQ_PRIO_LOW);
	create_pair(fh, &q[2], 2, NVME_SQ_PRIO_URGENT);
	fh_wr32(fh, NVME_REG_CC, fh_rd32(fh, NVME_REG_CC) | NVME_CC_AMS_WRR << 11);
	fill(fh, &q[1], 2);
	fill(fh, &q[2], 2);
	order = one_pass(fh);
	g_assert_cmpstr(order, ==, "1212");
	fh_free(fh);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/arb/ams-cap-and-cc", test_ams_cap_and_cc);
	g_test_add_func("/arb/ams-latched-at-enable", test_ams_latched_at_enable);
	g_test_add_func("/arb/rr-interleaves", test_rr_interleaves);
	g_test_add_func("/arb/rr-burst", test_rr_burst);
	g_test_add_func("/arb/rr-pass-budget", test_rr_pass_budget);
	g_test_add_func("/arb/wrr-order", test_wrr_order);
	g_test_add_func("/arb/wrr-burst-within-weight", test_wrr_burst_within_weight);
	g_test_add_func("/arb/admin-first", test_admin_first);
	g_test_add_func("/arb/wrr-after-reset", test_wrr_after_reset);
	return g_test_run();
}
