// SPDX-License-Identifier: GPL-2.0-or-later
/* Admin command set: Identify, queue management, features, AER, Abort, logs. */
#include <glib.h>
#include <string.h>

#include "fake_host.h"

#define ID_BUF	0x200000

static struct fake_host *up(void)
{
	struct fake_host *fh = fh_new(NULL);

	fh_attach_ns(fh, 1, 9, 2048);
	fh_enable(fh, 32);
	return fh;
}

static struct nvme_cqe admin(struct fake_host *fh, uint8_t opcode, uint32_t nsid,
			     uint32_t cdw10, uint32_t cdw11, uint64_t prp1)
{
	struct nvme_sqe cmd = {
		.opcode = opcode, .nsid = nsid, .cdw10 = cdw10, .cdw11 = cdw11, .prp1 = prp1,
	};

	return fh_cmd(fh, &fh->admin, &cmd);
}

static void test_identify_ctrl(void)
{
	struct fake_host *fh = up();
	struct nvme_id_ctrl id;
	struct nvme_cqe cqe;

	memset(fh->ram + ID_BUF, 0xaa, 4096);
	cqe = admin(fh, NVME_ADM_IDENTIFY, 0, NVME_ID_CNS_CTRL, 0, ID_BUF);
	g_assert_cmphex(fh_status(&cqe), ==, 0);
	memcpy(&id, fh->ram + ID_BUF, sizeof(id));
	g_assert_cmphex(id.vid, ==, fh->params.vid);
	g_assert_cmphex(id.ssvid, ==, fh->params.ssvid);
	g_assert_cmpmem(id.sn, 20, "COSIM0001           ", 20);
	g_assert_cmpmem(id.mn, 10, "cosim-nvme", 10);
	g_assert_cmpint(id.mn[39], ==, ' ');
	g_assert_cmpuint(id.mdts, ==, 5);
	g_assert_cmpuint(id.nn, ==, 32);
	g_assert_cmphex(id.sqes, ==, 0x66);
	g_assert_cmphex(id.cqes, ==, 0x44);
	g_assert_cmpuint(id.vwc, ==, 1);
	g_assert_cmpuint(id.acl, ==, 3);
	g_assert_cmpuint(id.aerl, ==, 3);
	g_assert_cmpuint(id.npss, ==, 2);
	g_assert_cmpuint(id.oncs, ==, 7);
	fh_free(fh);
}

/* Identify into a buffer crossing a page: PRP1 with offset + PRP2. */
static void test_identify_prp2(void)
{
	struct fake_host *fh = up();
	struct nvme_sqe cmd = { .opcode = NVME_ADM_IDENTIFY, .cdw10 = NVME_ID_CNS_CTRL,
				.prp1 = ID_BUF + 0x800, .prp2 = ID_BUF + 0x3000 };
	struct nvme_cqe cqe = fh_cmd(fh, &fh->admin, &cmd);
	uint16_t vid;

	g_assert_cmphex(fh_status(&cqe), ==, 0);
	memcpy(&vid, fh->ram + ID_BUF + 0x800, 2);
	g_assert_cmphex(vid, ==, fh->params.vid);
	/* byte 2048 of the structure (PSD0.MP) lands at the start of PRP2 */
	g_assert_cmpuint(fh->ram[ID_BUF + 0x3000], ==, 2500 & 0xff);
	/* PRP2 with an offset is invalid */
	cmd.prp2 = ID_BUF + 0x3010;
	cqe = fh_cmd(fh, &fh->admin, &cmd);
	g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_INVALID_FIELD);
	fh_free(fh);
}

static void test_identify_ns(void)
{
	struct fake_host *fh = up();
	struct nvme_id_ns id;
	struct nvme_cqe cqe;

	cqe = admin(fh, NVME_ADM_IDENTIFY, 1, NVME_ID_CNS_NS, 0, ID_BUF);
	g_assert_cmphex(fh_status(&cqe), ==, 0);
	memcpy(&id, fh->ram + ID_BUF, sizeof(id));
	g_assert_cmpuint(id.nsze, ==, 2048);
	g_assert_cmpuint(id.ncap, ==, 2048);
	g_assert_cmpuint(id.nlbaf, ==, 1);		/* 512 B and 4 KiB */
	g_assert_cmpuint(id.flbas, ==, 0);
	g_assert_cmpuint(id.lbaf[0].lbads, ==, 9);
	g_assert_cmpuint(id.lbaf[1].lbads, ==, 12);

	/* valid but absent nsid: zeroes */
	memset(fh->ram + ID_BUF, 0xaa, 4096);
	cqe = admin(fh, NVME_ADM_IDENTIFY, 7, NVME_ID_CNS_NS, 0, ID_BUF);
	g_assert_cmphex(fh_status(&cqe), ==, 0);
	memcpy(&id, fh->ram + ID_BUF, sizeof(id));
	g_assert_cmpuint(id.ncap, ==, 0);

	cqe = admin(fh, NVME_ADM_IDENTIFY, 0, NVME_ID_CNS_NS, 0, ID_BUF);
	g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_INVALID_NS);
	g_assert_true(fh_status(&cqe) & NVME_DNR);
	cqe = admin(fh, NVME_ADM_IDENTIFY, 33, NVME_ID_CNS_NS, 0, ID_BUF);
	g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_INVALID_NS);
	cqe = admin(fh, NVME_ADM_IDENTIFY, 0xffffffff, NVME_ID_CNS_NS, 0, ID_BUF);
	g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_INVALID_NS);
	/* CNS 2 (active namespace list) is NVMe 1.1 */
	cqe = admin(fh, NVME_ADM_IDENTIFY, 0, 2, 0, ID_BUF);
	g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_INVALID_FIELD);
	/* guest memory that does not exist */
	cqe = admin(fh, NVME_ADM_IDENTIFY, 0, NVME_ID_CNS_CTRL, 0, 1ull << 40);
	g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_DATA_XFER_ERROR);
	fh_free(fh);
}

static void test_invalid_opcode(void)
{
	struct fake_host *fh = up();
	static const uint8_t ops[] = { 0x03, 0x07, 0x81, 0x82, 0xc0, 0xff };
	struct nvme_sqe fused = { .opcode = NVME_ADM_GET_FEATURES, .flags = 1,
				  .cdw10 = NVME_FEAT_NUM_QUEUES };
	unsigned int i;

	for (i = 0; i < sizeof(ops); i++) {
		struct nvme_cqe cqe = admin(fh, ops[i], 0, 0, 0, 0);

		g_assert_cmphex(fh_status(&cqe), ==, NVME_SC_INVALID_OPCODE | NVME_DNR);
	}
	g_assert_cmphex(FH_SC(fh_cmd(fh, &fh->admin, &fused)), ==, NVME_SC_INVALID_FIELD);
	fh_free(fh);
}

#define CQ_ARGS(qid, size)	((uint32_t)((size) - 1) << 16 | (qid))

static void test_queue_create_errors(void)
{
	struct fake_host *fh = up();
	uint32_t pc_ien = NVME_QUEUE_PC | NVME_CQ_IEN;
	struct nvme_cqe cqe;

	/* CQ: qid 0, qid beyond max-ioqpairs */
	cqe = admin(fh, NVME_ADM_CREATE_CQ, 0, CQ_ARGS(0, 16), pc_ien, FH_IOCQ);
	g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_QID_INVALID);
	cqe = admin(fh, NVME_ADM_CREATE_CQ, 0, CQ_ARGS(9, 16), pc_ien, FH_IOCQ);
	g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_QID_INVALID);
	/* sizes: 1 entry, beyond MQES */
	cqe = admin(fh, NVME_ADM_CREATE_CQ, 0, CQ_ARGS(1, 1), pc_ien, FH_IOCQ);
	g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_QUEUE_SIZE);
	cqe = admin(fh, NVME_ADM_CREATE_CQ, 0, CQ_ARGS(1, 1025), pc_ien, FH_IOCQ);
	g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_QUEUE_SIZE);
	/* not contiguous (CAP.CQR), unaligned base, bad vector */
	cqe = admin(fh, NVME_ADM_CREATE_CQ, 0, CQ_ARGS(1, 16), NVME_CQ_IEN, FH_IOCQ);
	g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_INVALID_FIELD);
	cqe = admin(fh, NVME_ADM_CREATE_CQ, 0, CQ_ARGS(1, 16), pc_ien, FH_IOCQ + 8);
	g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_INVALID_FIELD);
	cqe = admin(fh, NVME_ADM_CREATE_CQ, 0, CQ_ARGS(1, 16), 9u << 16 | pc_ien, FH_IOCQ);
	g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_INVALID_VECTOR);
	/* good, then duplicate */
	cqe = admin(fh, NVME_ADM_CREATE_CQ, 0, CQ_ARGS(1, 1024), 8u << 16 | pc_ien, FH_IOCQ);
	g_assert_cmphex(fh_status(&cqe), ==, 0);
	cqe = admin(fh, NVME_ADM_CREATE_CQ, 0, CQ_ARGS(1, 16), pc_ien, FH_IOCQ);
	g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_QID_INVALID);

	/* SQ: bad CQ, admin CQ, bad qid, size, PC */
	cqe = admin(fh, NVME_ADM_CREATE_SQ, 0, CQ_ARGS(1, 16), 2u << 16 | 1, FH_IOSQ);
	g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_CQ_INVALID);
	cqe = admin(fh, NVME_ADM_CREATE_SQ, 0, CQ_ARGS(1, 16), 0u << 16 | 1, FH_IOSQ);
	g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_CQ_INVALID);
	cqe = admin(fh, NVME_ADM_CREATE_SQ, 0, CQ_ARGS(0, 16), 1u << 16 | 1, FH_IOSQ);
	g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_QID_INVALID);
	cqe = admin(fh, NVME_ADM_CREATE_SQ, 0, CQ_ARGS(1, 2000), 1u << 16 | 1, FH_IOSQ);
	g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_QUEUE_SIZE);
	cqe = admin(fh, NVME_ADM_CREATE_SQ, 0, CQ_ARGS(1, 16), 1u << 16, FH_IOSQ);
	g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_INVALID_FIELD);
	cqe = admin(fh, NVME_ADM_CREATE_SQ, 0, CQ_ARGS(1, 16), 1u << 16 | 1, 0);
	g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_INVALID_FIELD);
	/* two SQs on one CQ */
	cqe = admin(fh, NVME_ADM_CREATE_SQ, 0, CQ_ARGS(1, 16), 1u << 16 | 1, FH_IOSQ);
	g_assert_cmphex(fh_status(&cqe), ==, 0);
	cqe = admin(fh, NVME_ADM_CREATE_SQ, 0, CQ_ARGS(2, 16), 1u << 16 | 1, FH_IOSQ + 0x1000);
	g_assert_cmphex(fh_status(&cqe), ==, 0);
	cqe = admin(fh, NVME_ADM_CREATE_SQ, 0, CQ_ARGS(2, 16), 1u << 16 | 1, FH_IOSQ + 0x2000);
	g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_QID_INVALID);

	/* deletion order: CQ in use */
	cqe = admin(fh, NVME_ADM_DELETE_CQ, 0, 1, 0, 0);
	g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_QUEUE_DELETION);
	cqe = admin(fh, NVME_ADM_DELETE_SQ, 0, 1, 0, 0);
	g_assert_cmphex(fh_status(&cqe), ==, 0);
	cqe = admin(fh, NVME_ADM_DELETE_SQ, 0, 1, 0, 0);
	g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_QID_INVALID);
	cqe = admin(fh, NVME_ADM_DELETE_CQ, 0, 1, 0, 0);
	g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_QUEUE_DELETION);
	cqe = admin(fh, NVME_ADM_DELETE_SQ, 0, 2, 0, 0);
	g_assert_cmphex(fh_status(&cqe), ==, 0);
	cqe = admin(fh, NVME_ADM_DELETE_CQ, 0, 1, 0, 0);
	g_assert_cmphex(fh_status(&cqe), ==, 0);
	/* admin queues and missing ones */
	cqe = admin(fh, NVME_ADM_DELETE_SQ, 0, 0, 0, 0);
	g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_QID_INVALID);
	cqe = admin(fh, NVME_ADM_DELETE_CQ, 0, 0, 0, 0);
	g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_QID_INVALID);
	cqe = admin(fh, NVME_ADM_DELETE_CQ, 0, 0xffff, 0, 0);
	g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_QID_INVALID);
	fh_free(fh);
}

static void aer_submit_raw(struct fake_host *fh, uint16_t cid)
{
	struct nvme_sqe cmd = { .opcode = NVME_ADM_ASYNC_EVENT, .cid = cid };

	fh_submit(fh, &fh->admin, &cmd);
	fh_run(fh);
}

static void test_features(void)
{
	struct fake_host *fh = up();
	struct nvme_cqe cqe;

	cqe = admin(fh, NVME_ADM_SET_FEATURES, 0, NVME_FEAT_NUM_QUEUES, 3 << 16 | 3, 0);
	g_assert_cmphex(fh_status(&cqe), ==, 0);
	g_assert_cmphex(cqe.dw0, ==, 7 << 16 | 7);
	cqe = admin(fh, NVME_ADM_SET_FEATURES, 0, NVME_FEAT_NUM_QUEUES, 0xffff, 0);
	g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_INVALID_FIELD);
	cqe = admin(fh, NVME_ADM_GET_FEATURES, 0, NVME_FEAT_NUM_QUEUES, 0, 0);
	g_assert_cmphex(cqe.dw0, ==, 7 << 16 | 7);

	cqe = admin(fh, NVME_ADM_GET_FEATURES, 0, NVME_FEAT_VOLATILE_WC, 0, 0);
	g_assert_cmphex(cqe.dw0, ==, 1);
	cqe = admin(fh, NVME_ADM_SET_FEATURES, 0, NVME_FEAT_VOLATILE_WC, 0, 0);
	g_assert_cmphex(fh_status(&cqe), ==, 0);
	cqe = admin(fh, NVME_ADM_GET_FEATURES, 0, NVME_FEAT_VOLATILE_WC, 0, 0);
	g_assert_cmphex(cqe.dw0, ==, 0);

	cqe = admin(fh, NVME_ADM_SET_FEATURES, 0, NVME_FEAT_ARBITRATION | NVME_FEAT_SAVE, 0, 0);
	g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_FEATURE_NOT_SAVEABLE);
	cqe = admin(fh, NVME_ADM_GET_FEATURES, 0, NVME_FEAT_LBA_RANGE, 0, ID_BUF);
	g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_INVALID_NS);
	cqe = admin(fh, NVME_ADM_SET_FEATURES, 0, 0x42, 0, 0);
	g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_INVALID_FIELD);
	cqe = admin(fh, NVME_ADM_GET_FEATURES, 0, 0, 0, 0);
	g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_INVALID_FIELD);
	cqe = admin(fh, NVME_ADM_SET_FEATURES, 0, NVME_FEAT_POWER_MGMT, 3, 0);
	g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_INVALID_FIELD);	/* NPSS = 2 */
	cqe = admin(fh, NVME_ADM_GET_FEATURES, 0, NVME_FEAT_IRQ_CONFIG, 3, 0);
	g_assert_cmphex(cqe.dw0, ==, 3);
	cqe = admin(fh, NVME_ADM_GET_FEATURES, 0, NVME_FEAT_IRQ_CONFIG, 9, 0);
	g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_INVALID_FIELD);
	cqe = admin(fh, NVME_ADM_SET_FEATURES, 0, NVME_FEAT_TEMP_THRESH, 300, 0);
	cqe = admin(fh, NVME_ADM_GET_FEATURES, 0, NVME_FEAT_TEMP_THRESH, 0, 0);
	g_assert_cmphex(cqe.dw0, ==, 300);

	/* a controller reset restores defaults */
	fh_disable(fh);
	fh_enable(fh, 8);
	cqe = admin(fh, NVME_ADM_GET_FEATURES, 0, NVME_FEAT_VOLATILE_WC, 0, 0);
	g_assert_cmphex(cqe.dw0, ==, 1);
	fh_free(fh);
}

static uint32_t get_feat(struct fake_host *fh, uint8_t fid, uint32_t nsid, uint32_t cdw11)
{
	struct nvme_sqe cmd = { .opcode = NVME_ADM_GET_FEATURES, .nsid = nsid, .cdw10 = fid,
				.cdw11 = cdw11, .prp1 = ID_BUF };
	struct nvme_cqe cqe = fh_cmd(fh, &fh->admin, &cmd);

	g_assert_cmphex(fh_status(&cqe), ==, 0);
	return cqe.dw0;
}

static uint16_t set_feat(struct fake_host *fh, uint8_t fid, uint32_t nsid, uint32_t cdw11)
{
	struct nvme_sqe cmd = { .opcode = NVME_ADM_SET_FEATURES, .nsid = nsid, .cdw10 = fid,
				.cdw11 = cdw11, .prp1 = ID_BUF };
	struct nvme_cqe cqe = fh_cmd(fh, &fh->admin, &cmd);

	return FH_SC(cqe);
}

/* Every 1.0e feature: defaults, round trips, invalid values. */
static void test_features_all(void)
{
	struct fake_host *fh = up();
	struct nvme_lba_range_type r[2];
	struct nvme_id_ctrl id;
	struct nvme_cqe cqe;
	uint8_t smart[512];

	/* defaults */
	g_assert_cmphex(get_feat(fh, NVME_FEAT_ARBITRATION, 0, 0), ==, 0);
	g_assert_cmphex(get_feat(fh, NVME_FEAT_POWER_MGMT, 0, 0), ==, 0);
	g_assert_cmphex(get_feat(fh, NVME_FEAT_TEMP_THRESH, 0, 0), ==, 343);
	g_assert_cmphex(get_feat(fh, NVME_FEAT_ERR_RECOVERY, 0, 0), ==, 0);
	g_assert_cmphex(get_feat(fh, NVME_FEAT_VOLATILE_WC, 0, 0), ==, 1);
	g_assert_cmphex(get_feat(fh, NVME_FEAT_IRQ_COALESCE, 0, 0), ==, 0);
	g_assert_cmphex(get_feat(fh, NVME_FEAT_IRQ_CONFIG, 0, 5), ==, 5);
	g_assert_cmphex(get_feat(fh, NVME_FEAT_WRITE_ATOMIC, 0, 0), ==, 0);
	g_assert_cmphex(get_feat(fh, NVME_FEAT_ASYNC_EVENT, 0, 0), ==, 0);
	/* round trips; reserved bits are dropped */
	g_assert_cmphex(set_feat(fh, NVME_FEAT_ARBITRATION, 0, 0x03020103), ==, 0);
	g_assert_cmphex(get_feat(fh, NVME_FEAT_ARBITRATION, 0, 0), ==, 0x03020103);
	g_assert_cmphex(set_feat(fh, NVME_FEAT_POWER_MGMT, 0, 0xffffff02), ==, 0);
	g_assert_cmphex(get_feat(fh, NVME_FEAT_POWER_MGMT, 0, 0), ==, 2);
	g_assert_cmphex(set_feat(fh, NVME_FEAT_ERR_RECOVERY, 0, 0x10064), ==, 0);
	g_assert_cmphex(get_feat(fh, NVME_FEAT_ERR_RECOVERY, 0, 0), ==, 0x64);
	g_assert_cmphex(set_feat(fh, NVME_FEAT_IRQ_COALESCE, 0, 0x0a04), ==, 0);
	g_assert_cmphex(get_feat(fh, NVME_FEAT_IRQ_COALESCE, 0, 0), ==, 0x0a04);
	g_assert_cmphex(set_feat(fh, NVME_FEAT_IRQ_CONFIG, 0, NVME_FEAT_IRQ_CD | 4), ==, 0);
	g_assert_cmphex(get_feat(fh, NVME_FEAT_IRQ_CONFIG, 0, 4), ==, NVME_FEAT_IRQ_CD | 4);
	g_assert_cmphex(get_feat(fh, NVME_FEAT_IRQ_CONFIG, 0, 3), ==, 3);
	g_assert_cmphex(set_feat(fh, NVME_FEAT_IRQ_CONFIG, 0, 9), ==, NVME_SC_INVALID_FIELD);
	g_assert_cmphex(set_feat(fh, NVME_FEAT_WRITE_ATOMIC, 0, 0xff), ==, 0);
	g_assert_cmphex(get_feat(fh, NVME_FEAT_WRITE_ATOMIC, 0, 0), ==, 1);
	g_assert_cmphex(set_feat(fh, NVME_FEAT_ASYNC_EVENT, 0, 0xffff), ==, 0);
	g_assert_cmphex(get_feat(fh, NVME_FEAT_ASYNC_EVENT, 0, 0), ==, 0xff);	/* no notices */
	g_assert_cmphex(set_feat(fh, NVME_FEAT_POWER_MGMT, 0, 3), ==, NVME_SC_INVALID_FIELD);
	g_assert_cmphex(set_feat(fh, 0x0c, 0, 0), ==, NVME_SC_INVALID_FIELD);
	g_assert_cmphex(set_feat(fh, 0x81, 0, 0), ==, NVME_SC_INVALID_FIELD);
	/* power states in Identify */
	cqe = admin(fh, NVME_ADM_IDENTIFY, 0, NVME_ID_CNS_CTRL, 0, ID_BUF);
	memcpy(&id, fh->ram + ID_BUF, sizeof(id));
	g_assert_cmpuint(id.npss, ==, 2);
	g_assert_cmpuint(id.psd[1].mp, ==, 1200);
	g_assert_cmpuint(id.psd[2].mp, ==, 600);
	g_assert_cmpuint(id.psd[3].mp, ==, 0);

	/* LBA Range Type: one general purpose range over the namespace */
	memset(fh->ram + ID_BUF, 0xee, 4096);
	g_assert_cmphex(get_feat(fh, NVME_FEAT_LBA_RANGE, 1, 0), ==, 0);
	memcpy(r, fh->ram + ID_BUF, sizeof(r));
	g_assert_cmpuint(r[0].type, ==, NVME_LBART_TYPE_GP);
	g_assert_cmpuint(r[0].attributes, ==, 1);
	g_assert_cmpuint(r[0].nlb, ==, 2047);
	g_assert_cmpuint(r[1].type, ==, 0);		/* the rest is zeroes */
	g_assert_cmpuint(r[1].nlb, ==, 0);
	/* set two ranges; a range beyond the namespace is refused */
	memset(r, 0, sizeof(r));
	r[0].type = 0x01; r[0].slba = 0; r[0].nlb = 1023;
	r[1].type = 0x04; r[1].slba = 1024; r[1].nlb = 1023;
	memcpy(fh->ram + ID_BUF, r, sizeof(r));
	g_assert_cmphex(set_feat(fh, NVME_FEAT_LBA_RANGE, 1, 1), ==, 0);
	g_assert_cmphex(get_feat(fh, NVME_FEAT_LBA_RANGE, 1, 0), ==, 1);
	g_assert_cmpuint(fh->ram[ID_BUF + 64], ==, 0x04);
	r[1].nlb = 1024;
	memcpy(fh->ram + ID_BUF, r, sizeof(r));
	g_assert_cmphex(set_feat(fh, NVME_FEAT_LBA_RANGE, 1, 1), ==, NVME_SC_INVALID_FIELD);
	g_assert_cmphex(set_feat(fh, NVME_FEAT_LBA_RANGE, 9, 0), ==, NVME_SC_INVALID_NS);

	/* temperature threshold below 310 K: SMART warning and, with AEC bit 1, an event */
	g_assert_cmphex(set_feat(fh, NVME_FEAT_ASYNC_EVENT, 0, NVME_SMART_CRIT_TEMP), ==, 0);
	aer_submit_raw(fh, 0x77);
	g_assert_cmphex(set_feat(fh, NVME_FEAT_TEMP_THRESH, 0, 300), ==, 0);
	fh_run(fh);
	g_assert_true(fh_poll(fh, &fh->admin, &cqe));
	g_assert_cmphex(cqe.cid, ==, 0x77);
	g_assert_cmphex(cqe.dw0, ==, NVME_AER_DW0(NVME_AER_TYPE_SMART, NVME_AER_SMART_TEMP,
						 NVME_LOG_SMART));
	cqe = admin(fh, NVME_ADM_GET_LOG_PAGE, 0, 127u << 16 | NVME_LOG_SMART, 0, ID_BUF);
	memcpy(smart, fh->ram + ID_BUF, sizeof(smart));
	g_assert_cmphex(smart[0], ==, NVME_SMART_CRIT_TEMP);
	g_assert_cmphex(set_feat(fh, NVME_FEAT_TEMP_THRESH, 0, 320), ==, 0);
	cqe = admin(fh, NVME_ADM_GET_LOG_PAGE, 0, 127u << 16 | NVME_LOG_SMART, 0, ID_BUF);
	g_assert_cmphex(fh->ram[ID_BUF], ==, 0);

	/* a controller reset restores the defaults */
	fh_disable(fh);
	fh_enable(fh, 8);
	g_assert_cmphex(get_feat(fh, NVME_FEAT_IRQ_CONFIG, 0, 4), ==, 4);
	g_assert_cmphex(get_feat(fh, NVME_FEAT_LBA_RANGE, 1, 0), ==, 0);
	g_assert_cmphex(get_feat(fh, NVME_FEAT_ARBITRATION, 0, 0), ==, 0);
	fh_free(fh);
}

static void aer_submit(struct fake_host *fh, uint16_t cid)
{
	struct nvme_sqe cmd = { .opcode = NVME_ADM_ASYNC_EVENT, .cid = cid };

	fh_submit(fh, &fh->admin, &cmd);
}

static void test_aer(void)
{
	struct fake_host *fh = up();
	struct nvme_cqe cqe;
	unsigned int i;

	for (i = 0; i < 4; i++)
		aer_submit(fh, 0x10 + i);
	fh_run(fh);
	g_assert_false(fh_poll(fh, &fh->admin, &cqe));	/* held */
	aer_submit(fh, 0x20);
	fh_run(fh);
	g_assert_true(fh_poll(fh, &fh->admin, &cqe));
	g_assert_cmphex(cqe.cid, ==, 0x20);
	g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_ASYNC_LIMIT);

	/* an event completes the oldest; the type is masked until its log is read */
	nvme_ctrl_raise_event(fh->ctrl, NVME_AER_TYPE_SMART, 1, NVME_LOG_SMART);
	nvme_ctrl_raise_event(fh->ctrl, NVME_AER_TYPE_SMART, 2, NVME_LOG_SMART);
	fh_run(fh);
	g_assert_true(fh_poll(fh, &fh->admin, &cqe));
	g_assert_cmphex(cqe.cid, ==, 0x10);
	g_assert_cmphex(fh_status(&cqe), ==, 0);
	g_assert_cmphex(cqe.dw0, ==, NVME_AER_DW0(NVME_AER_TYPE_SMART, 1, NVME_LOG_SMART));
	g_assert_false(fh_poll(fh, &fh->admin, &cqe));
	cqe = admin(fh, NVME_ADM_GET_LOG_PAGE, 0xffffffff, 127u << 16 | NVME_LOG_SMART, 0,
		    ID_BUF);
	g_assert_cmphex(fh_status(&cqe), ==, 0);
	g_assert_true(fh_poll(fh, &fh->admin, &cqe));	/* the second event */
	g_assert_cmphex(cqe.cid, ==, 0x11);
	g_assert_cmphex(cqe.dw0, ==, NVME_AER_DW0(NVME_AER_TYPE_SMART, 2, NVME_LOG_SMART));

	/* Abort: a held AER is aborted; a missing command is not */
	{
		struct nvme_sqe abort = { .opcode = NVME_ADM_ABORT, .cid = 0x50,
					  .cdw10 = 0x12u << 16 | 0 };

		fh_submit(fh, &fh->admin, &abort);
		fh_run(fh);
		/* the aborted command's completion comes first */
		g_assert_true(fh_poll(fh, &fh->admin, &cqe));
		g_assert_cmphex(cqe.cid, ==, 0x12);
		g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_ABORT_REQ);
		g_assert_true(fh_poll(fh, &fh->admin, &cqe));
		g_assert_cmphex(cqe.cid, ==, 0x50);
		g_assert_cmphex(fh_status(&cqe), ==, 0);
		g_assert_cmphex(cqe.dw0, ==, 0);
	}
	cqe = admin(fh, NVME_ADM_ABORT, 0, 0x7777u << 16 | 0, 0, 0);
	g_assert_cmphex(cqe.dw0, ==, 1);
	cqe = admin(fh, NVME_ADM_ABORT, 0, 0x13u << 16 | 5, 0, 0);
	g_assert_cmphex(cqe.dw0, ==, 1);

	/* reset drops the held AER silently; after re-enable the limit is fresh */
	fh_disable(fh);
	fh_enable(fh, 8);
	for (i = 0; i < 4; i++)
		aer_submit(fh, 0x30 + i);
	fh_run(fh);
	g_assert_false(fh_poll(fh, &fh->admin, &cqe));
	fh_free(fh);
}

/* Bad doorbell writes complete an outstanding AER with an error event. */
static void test_doorbell_error_event(void)
{
	struct fake_host *fh = up();
	struct nvme_cqe cqe;

	aer_submit(fh, 0x61);
	aer_submit(fh, 0x62);
	fh_run(fh);
	g_assert_false(fh_poll(fh, &fh->admin, &cqe));
	fh_wr32(fh, NVME_REG_DBS + 8 * 5, 1);			/* SQ 5 does not exist */
	fh_run(fh);
	g_assert_true(fh_poll(fh, &fh->admin, &cqe));
	g_assert_cmphex(cqe.cid, ==, 0x61);
	g_assert_cmphex(cqe.dw0, ==, NVME_AER_DW0(NVME_AER_TYPE_ERROR, NVME_AER_ERR_INVALID_SQ,
						 NVME_LOG_ERROR));
	/* masked until the error log is read */
	fh_wr32(fh, NVME_REG_DBS, 999);				/* beyond the admin SQ */
	fh_run(fh);
	g_assert_false(fh_poll(fh, &fh->admin, &cqe));
	cqe = admin(fh, NVME_ADM_GET_LOG_PAGE, 0, 15u << 16 | NVME_LOG_ERROR, 0, ID_BUF);
	g_assert_cmphex(fh_status(&cqe), ==, 0);
	g_assert_true(fh_poll(fh, &fh->admin, &cqe));
	g_assert_cmphex(cqe.cid, ==, 0x62);
	g_assert_cmphex(cqe.dw0, ==, NVME_AER_DW0(NVME_AER_TYPE_ERROR, NVME_AER_ERR_INVALID_DB,
						 NVME_LOG_ERROR));
	fh_free(fh);
}

/* Optional NVMe 1.2 Namespace Attribute Notice for namespace hot-plug. */
static void test_ns_notice_aen(void)
{
	struct nvme_ctrl_params p;
	struct fake_host *fh;
	struct nvme_id_ctrl id;
	struct nvme_cqe cqe;
	uint32_t list[4];

	nvme_ctrl_params_default(&p);
	p.ns_notice_aen = true;
	fh = fh_new(&p);
	fh_attach_ns(fh, 1, 9, 64);
	fh_enable(fh, 16);
	cqe = admin(fh, NVME_ADM_IDENTIFY, 0, NVME_ID_CNS_CTRL, 0, ID_BUF);
	memcpy(&id, fh->ram + ID_BUF, sizeof(id));
	g_assert_cmphex(id.oaes, ==, NVME_OAES_NS_ATTR);
	aer_submit(fh, 0x71);
	fh_run(fh);
	/* not enabled by the host (feature 0Bh): remembered, not announced */
	fh_attach_ns(fh, 3, 9, 64);
	fh_run(fh);
	g_assert_false(fh_poll(fh, &fh->admin, &cqe));
	cqe = admin(fh, NVME_ADM_SET_FEATURES, 0, NVME_FEAT_ASYNC_EVENT, NVME_AEC_NS_ATTR, 0);
	g_assert_cmphex(fh_status(&cqe), ==, 0);
	nvme_ctrl_ns_detach(fh->ctrl, 1);
	fh_run(fh);
	g_assert_true(fh_poll(fh, &fh->admin, &cqe));
	g_assert_cmphex(cqe.cid, ==, 0x71);
	g_assert_cmphex(cqe.dw0, ==, NVME_AER_DW0(NVME_AER_TYPE_NOTICE, 0, NVME_LOG_CHANGED_NS));
	memset(fh->ram + ID_BUF, 0xff, 4096);
	cqe = admin(fh, NVME_ADM_GET_LOG_PAGE, 0, 1023u << 16 | NVME_LOG_CHANGED_NS, 0, ID_BUF);
	g_assert_cmphex(fh_status(&cqe), ==, 0);
	memcpy(list, fh->ram + ID_BUF, sizeof(list));
	g_assert_cmpuint(list[0], ==, 1);
	g_assert_cmpuint(list[1], ==, 3);
	g_assert_cmpuint(list[2], ==, 0);
	/* read again: empty */
	cqe = admin(fh, NVME_ADM_GET_LOG_PAGE, 0, 1023u << 16 | NVME_LOG_CHANGED_NS, 0, ID_BUF);
	memcpy(list, fh->ram + ID_BUF, sizeof(list));
	g_assert_cmpuint(list[0], ==, 0);
	fh_free(fh);

	/* off by default: 1.0e has neither the field nor the log */
	fh = up();
	cqe = admin(fh, NVME_ADM_GET_LOG_PAGE, 0, 1023u << 16 | NVME_LOG_CHANGED_NS, 0, ID_BUF);
	g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_INVALID_LOG_PAGE);
	fh_free(fh);
}

static void test_log_pages(void)
{
	struct fake_host *fh = up();
	struct nvme_smart_log smart;
	struct nvme_fw_slot_log fw;
	struct nvme_cqe cqe;

	memset(fh->ram + ID_BUF, 0xaa, 4096);
	cqe = admin(fh, NVME_ADM_GET_LOG_PAGE, 0xffffffff, 127u << 16 | NVME_LOG_SMART, 0, ID_BUF);
	g_assert_cmphex(fh_status(&cqe), ==, 0);
	memcpy(&smart, fh->ram + ID_BUF, sizeof(smart));
	g_assert_cmpuint(smart.avail_spare, ==, 100);
	g_assert_cmpuint(smart.temperature[0] | smart.temperature[1] << 8, ==, 310);
	g_assert_cmpuint(smart.power_cycles[0], ==, 1);
	g_assert_cmpuint(fh->ram[ID_BUF + 512], ==, 0xaa);	/* exactly 512 bytes */

	cqe = admin(fh, NVME_ADM_GET_LOG_PAGE, 0, 127u << 16 | NVME_LOG_FW_SLOT, 0, ID_BUF);
	g_assert_cmphex(fh_status(&cqe), ==, 0);
	memcpy(&fw, fh->ram + ID_BUF, sizeof(fw));
	g_assert_cmpuint(fw.afi, ==, 1);
	g_assert_cmpmem(fw.frs[0], 3, fh->params.firmware, 3);

	/* the latest failed command is the error log entry */
	cqe = admin(fh, NVME_ADM_IDENTIFY, 77, NVME_ID_CNS_NS, 0, ID_BUF);
	g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_INVALID_NS);
	{
		struct nvme_error_log_entry e;
		uint16_t cid = cqe.cid;

		cqe = admin(fh, NVME_ADM_GET_LOG_PAGE, 0, 15u << 16 | NVME_LOG_ERROR, 0, ID_BUF);
		g_assert_cmphex(fh_status(&cqe), ==, 0);
		memcpy(&e, fh->ram + ID_BUF, sizeof(e));
		g_assert_cmpuint(e.error_count, ==, 1);
		g_assert_cmpuint(e.sqid, ==, 0);
		g_assert_cmphex(e.cid, ==, cid);
		g_assert_cmphex(e.status >> 1, ==, NVME_SC_INVALID_NS | NVME_DNR);
		g_assert_cmpuint(e.nsid, ==, 77);
	}
	cqe = admin(fh, NVME_ADM_GET_LOG_PAGE, 0, 127u << 16 | 0x7f, 0, ID_BUF);
	g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_INVALID_LOG_PAGE);
	fh_free(fh);
}

/* Linux's bring-up order on a controller it found enabled. */
static void test_linux_bringup(void)
{
	struct fake_host *fh = fh_new(NULL);
	struct fh_queue q;
	struct nvme_cqe cqe;
	unsigned int i;

	fh_attach_ns(fh, 1, 12, 256);
	fh_enable(fh, 32);
	fh_disable(fh);
	g_assert_cmphex(fh_rd32(fh, NVME_REG_CSTS) & NVME_CSTS_RDY, ==, 0);
	fh_enable(fh, 32);
	cqe = admin(fh, NVME_ADM_IDENTIFY, 0, NVME_ID_CNS_CTRL, 0, ID_BUF);
	g_assert_cmphex(fh_status(&cqe), ==, 0);
	cqe = admin(fh, NVME_ADM_SET_FEATURES, 0, NVME_FEAT_NUM_QUEUES, 1u << 16 | 1, 0);
	g_assert_cmphex(fh_status(&cqe), ==, 0);
	aer_submit(fh, 0x999);
	for (i = 1; i <= 2; i++) {
		cqe = admin(fh, NVME_ADM_IDENTIFY, i, NVME_ID_CNS_NS, 0, ID_BUF);
		g_assert_cmphex(fh_status(&cqe), ==, 0);
	}
	fh_create_io_pair(fh, &q, 1, 64);
	fh_create_io_pair(fh, &q, 2, 64);
	/* shutdown as at poweroff */
	fh_wr32(fh, NVME_REG_CC, fh_rd32(fh, NVME_REG_CC) | 1 << 14);
	g_assert_cmphex(fh_rd32(fh, NVME_REG_CSTS) >> 2 & 3, ==, 2);
	fh_free(fh);
}

/* nn = 256 with every id attached (in reverse): Identify and the CNS 2 list. */
static void test_256_namespaces(void)
{
	struct nvme_ctrl_params p;
	struct fake_host *fh;
	struct nvme_id_ns id;
	struct nvme_cqe cqe;
	const char *err = NULL;
	uint32_t list[1024];
	uint32_t nsid;

	nvme_ctrl_params_default(&p);
	p.nn = 256;
	p.vs = NVME_VS_1_1;
	fh = fh_new(&p);
	for (nsid = 256; nsid >= 1; nsid--) {
		struct nvme_ns_params np = { .nsid = nsid, .lbads = 9, .nlbas = 8 + nsid,
					     .backend = fh };

		g_assert_cmpuint(nvme_ctrl_ns_attach(fh->ctrl, &np, &err), ==, nsid);
	}
	/* no 257th: neither a free id nor one above nn */
	{
		struct nvme_ns_params np = { .nsid = 0, .lbads = 9, .nlbas = 8 };

		g_assert_cmpuint(nvme_ctrl_ns_attach(fh->ctrl, &np, &err), ==, 0);
		np.nsid = 257;
		g_assert_cmpuint(nvme_ctrl_ns_attach(fh->ctrl, &np, &err), ==, 0);
	}
	fh_enable(fh, 32);
	cqe = admin(fh, NVME_ADM_IDENTIFY, 256, NVME_ID_CNS_NS, 0, ID_BUF);
	g_assert_cmphex(fh_status(&cqe), ==, 0);
	memcpy(&id, fh->ram + ID_BUF, sizeof(id));
	g_assert_cmpuint(id.nsze, ==, 8 + 256);
	cqe = admin(fh, NVME_ADM_IDENTIFY, 257, NVME_ID_CNS_NS, 0, ID_BUF);
	g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_INVALID_NS);

	cqe = admin(fh, NVME_ADM_IDENTIFY, 0, NVME_ID_CNS_NS_LIST, 0, ID_BUF);
	g_assert_cmphex(fh_status(&cqe), ==, 0);
	memcpy(list, fh->ram + ID_BUF, sizeof(list));
	for (nsid = 1; nsid <= 256; nsid++)
		g_assert_cmpuint(list[nsid - 1], ==, nsid);
	g_assert_cmpuint(list[256], ==, 0);
	cqe = admin(fh, NVME_ADM_IDENTIFY, 250, NVME_ID_CNS_NS_LIST, 0, ID_BUF);
	memcpy(list, fh->ram + ID_BUF, sizeof(list));
	g_assert_cmpuint(list[0], ==, 251);
	g_assert_cmpuint(list[5], ==, 256);
	g_assert_cmpuint(list[6], ==, 0);
	fh_free(fh);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/admin/identify-ctrl", test_identify_ctrl);
	g_test_add_func("/admin/identify-prp2", test_identify_prp2);
	g_test_add_func("/admin/identify-ns", test_identify_ns);
	g_test_add_func("/admin/256-namespaces", test_256_namespaces);
	g_test_add_func("/admin/invalid-opcode", test_invalid_opcode);
	g_test_add_func("/admin/queue-create-errors", test_queue_create_errors);
	g_test_add_func("/admin/features", test_features);
	g_test_add_func("/admin/features-all", test_features_all);
	g_test_add_func("/admin/aer-abort", test_aer);
	g_test_add_func("/admin/doorbell-error-event", test_doorbell_error_event);
	g_test_add_func("/admin/ns-notice-aen", test_ns_notice_aen);
	g_test_add_func("/admin/log-pages", test_log_pages);
	g_test_add_func("/admin/linux-bringup", test_linux_bringup);
	return g_test_run();
}
