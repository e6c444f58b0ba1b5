// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A hostile host: what it makes the controller hold in host memory stays
 * bounded, whatever queue sizes, transfer sizes and CQ neglect it picks.
 */
#include "internal.h"
#undef MIN
#include <glib.h>
#include <string.h>

#include "fake_host.h"

#define PAGE		4096ull
#define NLBAS		32768u		/* 512-byte LBAs: 16 MiB */
#define BIG_LBAS	16384u		/* 8 MiB: the model's own bound with mdts 0 */

static struct nvme_sqe rw_cmd(uint8_t opcode, uint64_t slba, uint32_t nlb,
			      uint64_t prp1, uint64_t prp2)
{
	struct nvme_sqe cmd = {
		.opcode = opcode, .nsid = 1, .prp1 = prp1, .prp2 = prp2,
		.cdw10 = (uint32_t)slba, .cdw11 = (uint32_t)(slba >> 32), .cdw12 = nlb - 1,
	};
	return cmd;
}

/*
 * A PRP list at @list (page aligned) for @n pages after the first, every
 * one of them FH_DATA: chained list pages follow each other.
 */
static void put_prp_list_same_page(struct fake_host *fh, uint64_t list, unsigned int n)
{
	uint64_t *e = (uint64_t *)(fh->ram + list);
	unsigned int per = PAGE / 8, i = 0;

	while (n) {
		if (i == per - 1 && n > 1) {
			e[i] = list + PAGE;	/* chain */
			list += PAGE;
			e = (uint64_t *)(fh->ram + list);
			i = 0;
			continue;
		}
		e[i++] = FH_DATA;
		n--;
	}
}

static struct fake_host *big_up(struct fh_queue *q, uint32_t qsize)
{
	struct nvme_ctrl_params p;
	struct fake_host *fh;

	nvme_ctrl_params_default(&p);
	p.mdts = 0;
	fh = fh_new(&p);
	fh_attach_ns(fh, 1, 9, NLBAS);
	fh_enable(fh, 32);
	fh_create_io_pair(fh, q, 1, qsize);
	put_prp_list_same_page(fh, FH_PRPLIST, BIG_LBAS * 512 / PAGE - 1);
	return fh;
}

static struct nvme_req *io_req(struct fake_host *fh, uint16_t cid)
{
	struct nvme_sq *sq = fh->ctrl->sq[1];
	uint32_t i;

	for (i = 0; i < sq->size; i++)
		if (sq->reqs[i].state != NVME_REQ_FREE && sq->reqs[i].cmd.cid == cid)
			return &sq->reqs[i];
	return NULL;
}

/* A Compare whose completion waits for CQ space holds no buffer meanwhile. */
static void test_compare_parked_holds_nothing(void)
{
	struct fh_queue q;
	struct fake_host *fh = big_up(&q, 4);
	struct nvme_sqe cmd;
	struct nvme_cqe cqe;
	struct nvme_req *req;
	unsigned int i;

	for (i = 0; i < 3; i++) {		/* fill the CQ (3 of 4 entries) */
		cmd = rw_cmd(NVME_CMD_READ, i, 1, FH_DATA, 0);
		cmd.cid = (uint16_t)i;
		fh_submit(fh, &q, &cmd);
	}
	fh_run(fh);
	fh->ram[FH_DATA + 100] = 1;		/* the medium reads zeroes */
	cmd = rw_cmd(NVME_CMD_COMPARE, 0, BIG_LBAS, FH_DATA, FH_PRPLIST);
	cmd.cid = 99;
	fh_submit(fh, &q, &cmd);
	fh_run(fh);
	req = io_req(fh, 99);
	g_assert_nonnull(req);
	g_assert_cmpint(req->state, ==, NVME_REQ_CQ_WAIT);
	g_assert_null(req->buf);
	g_assert_cmpuint(req->sg_cap, <=, NVME_SG_KEEP);
	g_assert_cmpuint(fh->ctrl->bounce_bytes, ==, 0);
	/* the parked completion still arrives, with the Compare's outcome */
	for (i = 0; i < 4; i++) {
		g_assert_true(fh_poll(fh, &q, &cqe));
		fh_run(fh);
	}
	g_assert_cmpuint(cqe.cid, ==, 99);
	g_assert_cmphex(fh_status(&cqe), ==, NVME_SC_COMPARE_FAILED);
	fh_free(fh);
}

/* Compares out at the block layer share NVME_BOUNCE_MAX; the next is refused. */
static void test_compare_bounce_bounded(void)
{
	struct fh_queue q;
	struct fake_host *fh = big_up(&q, 16);
	unsigned int fit = (unsigned int)(NVME_BOUNCE_MAX / (BIG_LBAS * 512ull)), i;
	struct nvme_sqe cmd;
	struct nvme_cqe cqe;

	for (i = 0; i <= fit; i++) {
		cmd = rw_cmd(NVME_CMD_COMPARE, 0, BIG_LBAS, FH_DATA, FH_PRPLIST);
		cmd.cid = (uint16_t)i;
		fh_submit(fh, &q, &cmd);
	}
	fh_run_no_io(fh);
	g_assert_cmpuint(fh->ctrl->bounce_bytes, ==, NVME_BOUNCE_MAX);
	g_assert_true(fh_poll(fh, &q, &cqe));
	g_assert_cmpuint(cqe.cid, ==, fit);
	g_assert_cmphex(fh_status(&cqe), ==, NVME_SC_INTERNAL);
	fh_run(fh);
	g_assert_cmpuint(fh->ctrl->bounce_bytes, ==, 0);
	fh_free(fh);
}

/* After a max-size transfer a slot keeps at most NVME_SG_KEEP sg entries. */
static void test_idle_slots_keep_small_sg(void)
{
	struct fh_queue q;
	struct fake_host *fh = big_up(&q, 16);
	struct nvme_sq *sq = fh->ctrl->sq[1];
	struct nvme_sqe cmd;
	struct nvme_cqe cqe;
	unsigned int i, round;

	for (round = 0; round < 3; round++) {
		for (i = 0; i < 15; i++) {
			cmd = rw_cmd(i % 2 ? NVME_CMD_READ : NVME_CMD_WRITE, 0, BIG_LBAS,
				     FH_DATA, FH_PRPLIST);
			cmd.cid = (uint16_t)i;
			fh_submit(fh, &q, &cmd);
		}
		fh_run(fh);
		for (i = 0; i < 15; i++) {
			g_assert_true(fh_poll(fh, &q, &cqe));
			g_assert_cmphex(fh_status(&cqe), ==, 0);
		}
	}
	for (i = 0; i < sq->size; i++)
		g_assert_cmpuint(sq->reqs[i].sg_cap, <=, NVME_SG_KEEP);
	fh_free(fh);
}

/* A controller with a 64-LBA namespace and I/O queue pair 1 of 16 entries. */
static struct fake_host *small_up(struct fh_queue *q)
{
	struct fake_host *fh = fh_new(NULL);

	fh_attach_ns(fh, 1, 9, 64);
	fh_enable(fh, 8);
	fh_create_io_pair(fh, q, 1, 16);
	return fh;
}

/*
 * A reset from inside an op the core is calling (the CQE write or the MSI-X
 * message of a completion) takes effect when the core returns: no freed
 * queue or request is touched (ASan would say so), the controller is then
 * reset, and it comes back up for IO.
 */
static void reset_inside_op(bool at_msix)
{
	struct fh_queue q;
	struct fake_host *fh = small_up(&q);
	struct nvme_sqe cmd;
	struct nvme_cqe cqe;

	/* one command: nothing else is out, so the reset frees its SQ at once */
	cmd = rw_cmd(NVME_CMD_READ, 0, 1, FH_DATA, 0);
	fh_submit(fh, &q, &cmd);
	if (at_msix)
		fh->reset_at_msix = 1;
	else
		fh->reset_at_dma_write = 1;
	fh_run(fh);
	g_assert_cmpuint(fh->reset_at_msix + fh->reset_at_dma_write, ==, 0);
	g_assert_cmphex(fh_rd32(fh, NVME_REG_CC), ==, 0);
	g_assert_cmphex(fh_rd32(fh, NVME_REG_CSTS), ==, 0);
	fh_enable(fh, 8);
	fh_create_io_pair(fh, &q, 1, 16);
	cmd = rw_cmd(NVME_CMD_READ, 0, 1, FH_DATA, 0);
	cqe = fh_cmd(fh, &q, &cmd);
	g_assert_cmphex(fh_status(&cqe), ==, 0);
	fh_free(fh);
}

static void test_reset_inside_cqe_write(void)
{
	reset_inside_op(false);
}

static void test_reset_inside_msix(void)
{
	reset_inside_op(true);
}

/*
 * Found by fuzz_core: an Abort cancels a Read at the block layer, the
 * cancelled Read's CQE write resets the controller, and the reset must not
 * tear down the admin SQ under the Abort still running from it.
 */
static void test_reset_inside_abort(void)
{
	struct nvme_sqe cmd, abort = { .opcode = NVME_ADM_ABORT };
	struct fh_queue q;
	struct fake_host *fh = small_up(&q);

	cmd = rw_cmd(NVME_CMD_READ, 0, 1, FH_DATA, 0);
	cmd.cid = 7;
	fh_submit(fh, &q, &cmd);
	fh_run_no_io(fh);
	g_assert_cmpuint(fh->npending, ==, 1);
	fh->cancel_wins = true;
	fh->reset_at_dma_write = 1;
	abort.cdw10 = 7u << 16 | 1;
	fh_submit(fh, &fh->admin, &abort);
	fh_run(fh);
	g_assert_cmpuint(fh->cancels, ==, 1);
	g_assert_cmphex(fh_rd32(fh, NVME_REG_CSTS), ==, 0);
	fh_enable(fh, 8);
	fh_free(fh);
}

static uint64_t cqes_posted(struct fake_host *fh)
{
	struct nvme_ctrl_stats st;

	nvme_ctrl_get_stats(fh->ctrl, &st);
	return st.admin_completed + st.io_completed + st.extra_completions;
}

/*
 * After the CQE write that resets the function, nothing else happens until
 * the reset: queued admin and I/O commands are not run, the completion of
 * a Read that the nested event loop finishes is not posted, and no
 * interrupt goes out, not even for the CQE that was written.
 */
static void test_inert_after_reset_request(void)
{
	struct fake_host *fh = fh_new(NULL);
	struct nvme_sqe cmd, gf = { .opcode = NVME_ADM_GET_FEATURES, .cdw10 = 7 };
	struct fh_queue q1, q2;
	unsigned int i, msix = 0;
	uint64_t posted;

	fh_attach_ns(fh, 1, 9, 64);
	fh_enable(fh, 8);
	fh_create_io_pair(fh, &q1, 1, 16);
	fh_create_io_pair(fh, &q2, 2, 16);
	cmd = rw_cmd(NVME_CMD_READ, 0, 1, FH_DATA, 0);
	fh_submit(fh, &q2, &cmd);
	fh_run_no_io(fh);
	g_assert_cmpuint(fh->npending, ==, 1);
	for (i = 0; i < 4; i++)
		fh_submit(fh, &fh->admin, &gf);
	cmd = rw_cmd(NVME_CMD_WRITE, 8, 1, FH_DATA, 0);
	fh_submit(fh, &q1, &cmd);
	for (i = 0; i < G_N_ELEMENTS(fh->msix_count); i++)
		msix += fh->msix_count[i];
	posted = cqes_posted(fh);
	fh->reset_at_dma_write = 1;
	fh_run_no_io(fh);
	g_assert_cmpuint(cqes_posted(fh), ==, posted + 1);
	for (i = 0; i < G_N_ELEMENTS(fh->msix_count); i++)
		msix -= fh->msix_count[i];
	g_assert_cmpint(msix, ==, 0);
	g_assert_cmpuint(fh->npending, ==, 0);		/* the Write never went out */
	g_assert_cmphex(fh_rd32(fh, NVME_REG_CSTS), ==, 0);
	fh_enable(fh, 8);
	fh_free(fh);
}

/* The stale copy's CQE write resets the function: the command just fetched never runs. */
static void test_stale_replay_reset(void)
{
	struct nvme_fault_spec s;
	struct nvme_sqe cmd;
	struct nvme_cqe cqe;
	struct fh_queue q;
	struct fake_host *fh = small_up(&q);
	char err[NVME_FAULT_ERR_LEN];

	nvme_fault_spec_init(&s);
	s.action = NVME_FAULT_STALE_COMPLETION;
	g_assert_cmpuint(nvme_ctrl_fault_add(fh->ctrl, &s, err), !=, 0);
	cmd = rw_cmd(NVME_CMD_READ, 0, 1, FH_DATA, 0);
	cqe = fh_cmd(fh, &q, &cmd);
	g_assert_cmphex(fh_status(&cqe), ==, 0);
	memset(fh->ram + FH_DATA, 0xab, 512);
	cmd = rw_cmd(NVME_CMD_WRITE, 5, 1, FH_DATA, 0);
	fh->reset_at_dma_write = 1;
	fh_submit(fh, &q, &cmd);
	fh_run(fh);
	g_assert_cmphex(fh->disk[1][5 * 512], ==, 0);
	g_assert_cmphex(fh_rd32(fh, NVME_REG_CSTS), ==, 0);
	fh_free(fh);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/hostile/compare-parked-holds-nothing",
			test_compare_parked_holds_nothing);
	g_test_add_func("/hostile/compare-bounce-bounded", test_compare_bounce_bounded);
	g_test_add_func("/hostile/idle-slots-keep-small-sg", test_idle_slots_keep_small_sg);
	g_test_add_func("/hostile/reset-inside-cqe-write", test_reset_inside_cqe_write);
	g_test_add_func("/hostile/reset-inside-msix", test_reset_inside_msix);
	g_test_add_func("/hostile/reset-inside-abort", test_reset_inside_abort);
	g_test_add_func("/hostile/inert-after-reset-request", test_inert_after_reset_request);
	g_test_add_func("/hostile/stale-replay-reset", test_stale_replay_reset);
	return g_test_run();
}
