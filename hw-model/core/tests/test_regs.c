// SPDX-License-Identifier: GPL-2.0-or-later
/* Register file, enable/disable, shutdown, doorbell and interrupt semantics. */
#include <glib.h>
#include <string.h>

#include "fake_host.h"

static void test_cap_vs(void)
{
	struct fake_host *fh = fh_new(NULL);
	uint64_t cap = fh_rd64(fh, NVME_REG_CAP);

	g_assert_cmpuint(cap & 0xffff, ==, 1023);		/* MQES */
	g_assert_true(cap & NVME_CAP_CQR);
	g_assert_cmpuint((cap >> 17) & 3, ==, 0);		/* AMS */
	g_assert_cmpuint((cap >> 24) & 0xff, ==, 20);		/* TO */
	g_assert_cmpuint((cap >> 32) & 0xf, ==, 0);		/* DSTRD */
	g_assert_true(cap & NVME_CAP_CSS_NVM);
	g_assert_cmpuint((cap >> 48) & 0xf, ==, 0);		/* MPSMIN */
	g_assert_cmpuint((cap >> 52) & 0xf, ==, 4);		/* MPSMAX */
	g_assert_cmphex(fh_rd32(fh, NVME_REG_CAP), ==, (uint32_t)cap);
	g_assert_cmphex(fh_rd32(fh, NVME_REG_CAP + 4), ==, (uint32_t)(cap >> 32));
	g_assert_cmphex(fh_rd32(fh, NVME_REG_VS), ==, 0x00010000);
	/* CAP is read-only */
	fh_wr64(fh, NVME_REG_CAP, 0);
	g_assert_cmphex(fh_rd64(fh, NVME_REG_CAP), ==, cap);
	fh_free(fh);
}

static void test_split_64bit(void)
{
	struct fake_host *fh = fh_new(NULL);

	fh_wr32(fh, NVME_REG_ASQ, 0x12345000);
	fh_wr32(fh, NVME_REG_ASQ + 4, 0xabcd);
	g_assert_cmphex(fh_rd64(fh, NVME_REG_ASQ), ==, 0xabcd12345000ull);
	/* hi then lo, as some drivers do */
	fh_wr32(fh, NVME_REG_ACQ + 4, 0x1);
	fh_wr32(fh, NVME_REG_ACQ, 0x2000);
	g_assert_cmphex(fh_rd64(fh, NVME_REG_ACQ), ==, 0x100002000ull);
	g_assert_cmphex(fh_rd32(fh, NVME_REG_ACQ + 4), ==, 1);
	/* whole 64-bit write, reserved low bits dropped */
	fh_wr64(fh, NVME_REG_ASQ, 0x7777000fffull);
	g_assert_cmphex(fh_rd64(fh, NVME_REG_ASQ), ==, 0x7777000000ull);
	fh_free(fh);
}

static void test_enable_disable(void)
{
	struct fake_host *fh = fh_new(NULL);

	g_assert_cmphex(fh_rd32(fh, NVME_REG_CSTS), ==, 0);
	fh_enable(fh, 32);
	g_assert_cmphex(fh_rd32(fh, NVME_REG_CC) & 1, ==, 1);
	fh_disable(fh);
	g_assert_cmphex(fh_rd32(fh, NVME_REG_CSTS), ==, 0);
	/* and again: state from the first enable must not leak */
	fh_enable(fh, 2);
	fh_disable(fh);
	g_assert_cmphex(fh_rd32(fh, NVME_REG_CSTS), ==, 0);
	fh_free(fh);
}

static void test_enable_bad_config(void)
{
	static const struct {
		uint32_t aqa, cc;
		uint64_t asq;
	} bad[] = {
		{ 0, NVME_CC_EN, FH_ASQ },				/* 1-entry queues */
		{ 0x001f001f, NVME_CC_EN | 1 << 4, FH_ASQ },		/* CSS */
		{ 0x001f001f, NVME_CC_EN | 1 << 11, FH_ASQ },		/* AMS */
		{ 0x001f001f, NVME_CC_EN | 5 << 7, FH_ASQ },		/* MPS > MPSMAX */
		{ 0x001f001f, NVME_CC_EN, 0 },				/* no ASQ */
		{ 0x001f001f, NVME_CC_EN | 1 << 7, FH_ASQ + 0x1000 },	/* 8K MPS, 4K aligned */
	};
	unsigned int i;

	for (i = 0; i < G_N_ELEMENTS(bad); i++) {
		struct fake_host *fh = fh_new(NULL);

		fh_wr32(fh, NVME_REG_AQA, bad[i].aqa);
		fh_wr64(fh, NVME_REG_ASQ, bad[i].asq);
		fh_wr64(fh, NVME_REG_ACQ, FH_ACQ);
		fh_wr32(fh, NVME_REG_CC, bad[i].cc);
		g_assert_cmphex(fh_rd32(fh, NVME_REG_CSTS), ==, NVME_CSTS_CFS);
		/* the doorbell of a controller that never came up is ignored */
		fh_wr32(fh, NVME_REG_DBS, 1);
		fh_run(fh);
		/* a reset clears CFS */
		fh_wr32(fh, NVME_REG_CC, 0);
		g_assert_cmphex(fh_rd32(fh, NVME_REG_CSTS), ==, 0);
		fh_free(fh);
	}
}

static void test_shutdown(void)
{
	struct fake_host *fh = fh_new(NULL);

	/* shutdown of a disabled controller has nothing to wait for */
	fh_wr32(fh, NVME_REG_CC, 1 << 14);
	g_assert_cmphex(fh_rd32(fh, NVME_REG_CSTS), ==, 2 << 2);
	fh_wr32(fh, NVME_REG_CC, 0);
	g_assert_cmphex(fh_rd32(fh, NVME_REG_CSTS), ==, 0);
	fh_enable(fh, 8);
	fh_wr32(fh, NVME_REG_CC, fh_rd32(fh, NVME_REG_CC) | 1 << 14);
	g_assert_cmphex(fh_rd32(fh, NVME_REG_CSTS), ==, NVME_CSTS_RDY | 2 << 2);
	fh_disable(fh);
	g_assert_cmphex(fh_rd32(fh, NVME_REG_CSTS) & NVME_CSTS_RDY, ==, 0);
	fh_free(fh);
}

static void test_bad_accesses(void)
{
	struct fake_host *fh = fh_new(NULL);
	uint64_t off;

	/* odd sizes, misaligned, reserved and 64-bit-to-32-bit: ignored */
	nvme_ctrl_mmio_write(fh->ctrl, NVME_REG_CC, 1, 2);
	nvme_ctrl_mmio_write(fh->ctrl, NVME_REG_CC + 1, 1, 4);
	nvme_ctrl_mmio_write(fh->ctrl, NVME_REG_CC, 1, 8);
	g_assert_cmphex(fh_rd32(fh, NVME_REG_CC), ==, 0);
	g_assert_cmphex(nvme_ctrl_mmio_read(fh->ctrl, NVME_REG_VS, 1), ==, 0);
	g_assert_cmphex(nvme_ctrl_mmio_read(fh->ctrl, 0x2, 4), ==, 0);
	for (off = 0x38; off < 0x1000; off += 4) {
		fh_wr32(fh, off, 0xffffffff);
		g_assert_cmphex(fh_rd32(fh, off), ==, 0);
	}
	fh_enable(fh, 4);
	/* doorbells: beyond the queues, missing queues, values beyond the size */
	for (off = NVME_REG_DBS; off < nvme_ctrl_bar_size(&fh->params) + 64; off += 4)
		fh_wr32(fh, off, 0xffff);
	fh_wr32(fh, NVME_REG_DBS + 2, 1);
	fh_wr64(fh, NVME_REG_DBS, 1);
	g_assert_cmphex(fh_rd32(fh, NVME_REG_DBS), ==, 0);
	fh_run(fh);
	g_assert_cmphex(fh_rd32(fh, NVME_REG_CSTS), ==, NVME_CSTS_RDY);
	g_assert_cmpuint(fh->guest_errors, >, 0);
	fh_free(fh);
}

static void test_bar_size_and_params(void)
{
	struct nvme_ctrl_params p;

	nvme_ctrl_params_default(&p);
	g_assert_null(nvme_ctrl_params_check(&p));
	g_assert_cmpuint(nvme_ctrl_bar_size(&p), ==, 8192);
	p.max_ioqpairs = 1024;
	p.dstrd = 2;
	/* 0x1000 + 1025 * 2 * 16 -> 0x9020 -> 64 KiB */
	g_assert_cmpuint(nvme_ctrl_bar_size(&p), ==, 65536);
	p.mdts = 0;				/* no limit: allowed */
	g_assert_null(nvme_ctrl_params_check(&p));
	p.mdts = 11;
	g_assert_nonnull(nvme_ctrl_params_check(&p));
	g_assert_null(nvme_ctrl_new(&p, NULL, NULL));
	nvme_ctrl_params_default(&p);
	p.dstrd = 9;
	g_assert_nonnull(nvme_ctrl_params_check(&p));
}

static void test_dstrd(void)
{
	struct nvme_ctrl_params p;
	struct fake_host *fh;
	struct nvme_sqe cmd = { .opcode = NVME_ADM_GET_FEATURES, .cdw10 = NVME_FEAT_NUM_QUEUES };
	struct nvme_cqe cqe;

	nvme_ctrl_params_default(&p);
	p.dstrd = 3;
	fh = fh_new(&p);
	fh_enable(fh, 4);
	cqe = fh_cmd(fh, &fh->admin, &cmd);	/* doorbells at stride 32 */
	g_assert_cmphex(fh_status(&cqe), ==, 0);
	g_assert_cmphex(cqe.dw0, ==, 7 | 7 << 16);
	fh_free(fh);
}

/* Without MSI-X: INTx follows unread CQEs and INTMS/INTMC. */
static void test_pin_interrupt(void)
{
	struct fake_host *fh = fh_new(NULL);
	struct nvme_sqe cmd = { .opcode = NVME_ADM_GET_FEATURES, .cdw10 = NVME_FEAT_NUM_QUEUES };
	struct nvme_cqe cqe;

	fh->msix = false;
	fh_enable(fh, 4);
	cmd.cid = 1;
	fh_submit(fh, &fh->admin, &cmd);
	fh_run(fh);
	g_assert_true(fh->intx);
	fh_wr32(fh, NVME_REG_INTMS, 1);
	g_assert_false(fh->intx);
	g_assert_cmphex(fh_rd32(fh, NVME_REG_INTMS), ==, 1);
	fh_wr32(fh, NVME_REG_INTMC, 1);
	g_assert_true(fh->intx);
	g_assert_true(fh_poll(fh, &fh->admin, &cqe));	/* rings the CQ head doorbell */
	g_assert_false(fh->intx);
	g_assert_cmpuint(fh->msix_count[0], ==, 0);
	fh_free(fh);
}

static void test_msix_interrupt(void)
{
	struct fake_host *fh = fh_new(NULL);
	struct nvme_sqe cmd = { .opcode = NVME_ADM_GET_FEATURES, .cdw10 = NVME_FEAT_NUM_QUEUES };

	fh_enable(fh, 4);
	fh_cmd(fh, &fh->admin, &cmd);
	g_assert_cmpuint(fh->msix_count[0], ==, 1);
	g_assert_false(fh->intx);
	fh_free(fh);
}

/* Property vs: the VS register, Identify VER (1.2) and CNS 2 (1.1+). */
static void test_vs_versions(void)
{
	static const uint32_t versions[] = { NVME_VS_1_0, NVME_VS_1_1, NVME_VS_1_2 };
	struct nvme_ctrl_params p;
	unsigned int i;

	for (i = 0; i < G_N_ELEMENTS(versions); i++) {
		struct fake_host *fh;
		struct nvme_sqe cmd = { .opcode = NVME_ADM_IDENTIFY, .cdw10 = NVME_ID_CNS_CTRL,
					.prp1 = FH_DATA };
		struct nvme_id_ctrl id;
		struct nvme_cqe cqe;
		uint32_t list[4];

		nvme_ctrl_params_default(&p);
		p.vs = versions[i];
		fh = fh_new(&p);
		fh_attach_ns(fh, 2, 9, 64);
		fh_attach_ns(fh, 4, 9, 64);
		g_assert_cmphex(fh_rd32(fh, NVME_REG_VS), ==, versions[i]);
		fh_enable(fh, 8);
		fh_cmd(fh, &fh->admin, &cmd);
		memcpy(&id, fh->ram + FH_DATA, sizeof(id));
		g_assert_cmphex(id.ver, ==, versions[i] == NVME_VS_1_2 ? NVME_VS_1_2 : 0);
		cmd = (struct nvme_sqe){ .opcode = NVME_ADM_IDENTIFY, .cdw10 = NVME_ID_CNS_NS_LIST,
					 .nsid = 2, .prp1 = FH_DATA };
		cqe = fh_cmd(fh, &fh->admin, &cmd);
		if (versions[i] == NVME_VS_1_0) {
			g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_INVALID_FIELD);
		} else {
			g_assert_cmphex(FH_SC(cqe), ==, 0);
			memcpy(list, fh->ram + FH_DATA, sizeof(list));
			g_assert_cmpuint(list[0], ==, 4);
			g_assert_cmpuint(list[1], ==, 0);
			cmd.nsid = 0;
			fh_cmd(fh, &fh->admin, &cmd);
			memcpy(list, fh->ram + FH_DATA, sizeof(list));
			g_assert_cmpuint(list[0], ==, 2);
			g_assert_cmpuint(list[1], ==, 4);
			cmd.nsid = 0xffffffff;
			g_assert_cmphex(FH_SC(fh_cmd(fh, &fh->admin, &cmd)), ==,
					NVME_SC_INVALID_FIELD);
		}
		fh_free(fh);
	}
	nvme_ctrl_params_default(&p);
	p.vs = 0x10300;
	g_assert_nonnull(nvme_ctrl_params_check(&p));
}

/* Property ready-delay-ms: CSTS.RDY comes that long after CC.EN, within CAP.TO. */
static void test_ready_delay(void)
{
	struct nvme_ctrl_params p;
	struct fake_host *fh;

	nvme_ctrl_params_default(&p);
	p.timeout = 4;			/* 2 s */
	p.ready_delay_ms = 2001;
	g_assert_nonnull(nvme_ctrl_params_check(&p));
	p.ready_delay_ms = 1500;
	g_assert_null(nvme_ctrl_params_check(&p));
	fh = fh_new(&p);
	fh_wr32(fh, NVME_REG_AQA, 7 << 16 | 7);
	fh_wr64(fh, NVME_REG_ASQ, FH_ASQ);
	fh_wr64(fh, NVME_REG_ACQ, FH_ACQ);
	fh_wr32(fh, NVME_REG_CC, 6 << 16 | 4 << 20 | NVME_CC_EN);
	g_assert_cmphex(fh_rd32(fh, NVME_REG_CSTS), ==, 0);
	fh_advance(fh, 1499 * 1000000ull);
	g_assert_cmphex(fh_rd32(fh, NVME_REG_CSTS), ==, 0);
	fh_advance(fh, 1000000ull);
	g_assert_cmphex(fh_rd32(fh, NVME_REG_CSTS), ==, NVME_CSTS_RDY);
	/* a disable shows RDY = 0 as late */
	fh_wr32(fh, NVME_REG_CC, 0);
	fh_run(fh);
	g_assert_cmphex(fh_rd32(fh, NVME_REG_CSTS), ==, NVME_CSTS_RDY);
	fh_advance(fh, 1499 * 1000000ull);
	g_assert_cmphex(fh_rd32(fh, NVME_REG_CSTS), ==, NVME_CSTS_RDY);
	fh_advance(fh, 1000000ull);
	g_assert_cmphex(fh_rd32(fh, NVME_REG_CSTS), ==, 0);
	/* every enable waits; a disable during the wait ends it */
	fh_wr32(fh, NVME_REG_CC, 6 << 16 | 4 << 20 | NVME_CC_EN);
	fh_advance(fh, 1000 * 1000000ull);
	fh_wr32(fh, NVME_REG_CC, 0);
	fh_advance(fh, 1000 * 1000000ull);
	g_assert_cmphex(fh_rd32(fh, NVME_REG_CSTS), ==, 0);
	fh_wr32(fh, NVME_REG_CC, 6 << 16 | 4 << 20 | NVME_CC_EN);
	fh_advance(fh, 1500 * 1000000ull);
	g_assert_cmphex(fh_rd32(fh, NVME_REG_CSTS), ==, NVME_CSTS_RDY);
	/* enabled again while RDY still shows 1 after a disable: a fresh wait */
	fh_wr32(fh, NVME_REG_CC, 0);
	fh_run(fh);
	fh_wr32(fh, NVME_REG_CC, 6 << 16 | 4 << 20 | NVME_CC_EN);
	g_assert_cmphex(fh_rd32(fh, NVME_REG_CSTS), ==, 0);
	fh_advance(fh, 1500 * 1000000ull);
	g_assert_cmphex(fh_rd32(fh, NVME_REG_CSTS), ==, NVME_CSTS_RDY);
	/* a PCI reset is immediate */
	fh_wr32(fh, NVME_REG_CC, 0);
	fh_run(fh);
	nvme_ctrl_reset(fh->ctrl);
	g_assert_cmphex(fh_rd32(fh, NVME_REG_CSTS), ==, 0);
	fh_free(fh);
}

/* Interrupt coalescing: THR+1 completions or TIME x 100 us, unless CD for the vector. */
static void test_irq_coalescing(void)
{
	struct fake_host *fh = fh_new(NULL);
	struct nvme_sqe set = { .opcode = NVME_ADM_SET_FEATURES, .cdw10 = NVME_FEAT_IRQ_COALESCE,
				.cdw11 = 10 << 8 | 2 };	/* 1 ms, 3 completions */
	struct nvme_sqe rd = { .opcode = NVME_CMD_READ, .nsid = 1, .prp1 = FH_DATA };
	struct fh_queue q;
	struct nvme_cqe cqe;
	unsigned int i;

	fh->msix = true;
	fh_attach_ns(fh, 1, 9, 64);
	fh_enable(fh, 8);
	fh_create_io_pair(fh, &q, 1, 16);	/* vector 1 */
	g_assert_cmphex(FH_SC(fh_cmd(fh, &fh->admin, &set)), ==, 0);
	g_assert_cmpuint(fh->msix_count[1], ==, 0);
	/* one completion: the interrupt waits for the aggregation time */
	fh_cmd(fh, &q, &rd);
	g_assert_cmpuint(fh->msix_count[1], ==, 0);
	fh_advance(fh, 999999);
	g_assert_cmpuint(fh->msix_count[1], ==, 0);
	fh_advance(fh, 1);
	g_assert_cmpuint(fh->msix_count[1], ==, 1);
	/* three at once: the threshold sends it at once */
	for (i = 0; i < 3; i++)
		fh_submit(fh, &q, &rd);
	fh_run(fh);
	g_assert_cmpuint(fh->msix_count[1], ==, 2);
	for (i = 0; i < 3; i++)
		g_assert_true(fh_poll(fh, &q, &cqe));
	fh_advance(fh, 2000000);
	g_assert_cmpuint(fh->msix_count[1], ==, 2);
	/* the admin queue is never coalesced */
	g_assert_cmpuint(fh->msix_count[0], ==, 3);	/* Create CQ, Create SQ, Set Features */
	/* CD on vector 1: every completion interrupts */
	set = (struct nvme_sqe){ .opcode = NVME_ADM_SET_FEATURES, .cdw10 = NVME_FEAT_IRQ_CONFIG,
				 .cdw11 = NVME_FEAT_IRQ_CD | 1 };
	g_assert_cmphex(FH_SC(fh_cmd(fh, &fh->admin, &set)), ==, 0);
	fh_cmd(fh, &q, &rd);
	g_assert_cmpuint(fh->msix_count[1], ==, 3);
	fh_free(fh);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/regs/cap-vs", test_cap_vs);
	g_test_add_func("/regs/split-64bit", test_split_64bit);
	g_test_add_func("/regs/enable-disable", test_enable_disable);
	g_test_add_func("/regs/enable-bad-config", test_enable_bad_config);
	g_test_add_func("/regs/shutdown", test_shutdown);
	g_test_add_func("/regs/bad-accesses", test_bad_accesses);
	g_test_add_func("/regs/bar-size-params", test_bar_size_and_params);
	g_test_add_func("/regs/dstrd", test_dstrd);
	g_test_add_func("/regs/pin-interrupt", test_pin_interrupt);
	g_test_add_func("/regs/msix-interrupt", test_msix_interrupt);
	g_test_add_func("/regs/vs-versions", test_vs_versions);
	g_test_add_func("/regs/ready-delay", test_ready_delay);
	g_test_add_func("/regs/irq-coalescing", test_irq_coalescing);
	return g_test_run();
}
