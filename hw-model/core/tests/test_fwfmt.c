// SPDX-License-Identifier: GPL-2.0-or-later
/* Firmware Image Download / Activate, Format NVM, and the error log ring. */
#include <glib.h>
#include <string.h>

#include "fake_host.h"

#define BUF	0x200000
#define NLBAS	2048

static struct fake_host *up(const struct nvme_ctrl_params *p)
{
	struct fake_host *fh = fh_new(p);

	fh_attach_ns(fh, 1, 9, NLBAS);
	fh_enable(fh, 32);
	return fh;
}

static uint16_t admin(struct fake_host *fh, uint8_t opcode, uint32_t nsid, uint32_t cdw10,
		      uint32_t cdw11, uint64_t prp1)
{
	struct nvme_sqe cmd = {
		.opcode = opcode, .nsid = nsid, .cdw10 = cdw10, .cdw11 = cdw11, .prp1 = prp1,
	};
	struct nvme_cqe cqe = fh_cmd(fh, &fh->admin, &cmd);

	return fh_status(&cqe) & 0x7ff;
}

static struct nvme_id_ctrl id_ctrl(struct fake_host *fh)
{
	struct nvme_id_ctrl id;

	g_assert_cmphex(admin(fh, NVME_ADM_IDENTIFY, 0, NVME_ID_CNS_CTRL, 0, BUF), ==, 0);
	memcpy(&id, fh->ram + BUF, sizeof(id));
	return id;
}

static struct nvme_id_ns id_ns(struct fake_host *fh, uint32_t nsid)
{
	struct nvme_id_ns id;

	g_assert_cmphex(admin(fh, NVME_ADM_IDENTIFY, nsid, NVME_ID_CNS_NS, 0, BUF), ==, 0);
	memcpy(&id, fh->ram + BUF, sizeof(id));
	return id;
}

static struct nvme_fw_slot_log fw_log(struct fake_host *fh)
{
	struct nvme_fw_slot_log log;

	g_assert_cmphex(admin(fh, NVME_ADM_GET_LOG_PAGE, 0, 127u << 16 | NVME_LOG_FW_SLOT, 0, BUF),
			==, 0);
	memcpy(&log, fh->ram + BUF, sizeof(log));
	return log;
}

/* download @len bytes in pieces of @piece */
static uint16_t download(struct fake_host *fh, const void *img, uint32_t len, uint32_t piece)
{
	uint32_t off;
	uint16_t st = 0;

	for (off = 0; off < len && !st; off += piece) {
		uint32_t n = MIN(piece, len - off);

		memcpy(fh->ram + BUF, (const uint8_t *)img + off, n);
		st = admin(fh, NVME_ADM_FW_DOWNLOAD, 0, n / 4 - 1, off / 4, BUF);
	}
	return st;
}

static uint16_t commit(struct fake_host *fh, unsigned int fs, unsigned int aa)
{
	return admin(fh, NVME_ADM_FW_ACTIVATE, 0, aa << 3 | fs, 0, 0);
}

static void test_fw_identify(void)
{
	struct nvme_ctrl_params p;
	struct fake_host *fh;
	struct nvme_id_ctrl id;
	struct nvme_fw_slot_log log;

	nvme_ctrl_params_default(&p);
	p.fw_slots = 3;
	fh = up(&p);
	id = id_ctrl(fh);
	g_assert_cmphex(id.oacs, ==, 0x6);
	g_assert_cmphex(id.frmw, ==, 3 << 1 | 1);
	g_assert_cmpmem(id.fr, 8, "cosim-1 ", 8);
	log = fw_log(fh);
	g_assert_cmphex(log.afi, ==, 1);
	g_assert_cmpmem(log.frs[0], 8, "cosim-1 ", 8);
	g_assert_cmpmem(log.frs[1], 8, "\0\0\0\0\0\0\0\0", 8);
	fh_free(fh);
}

static void test_fw_download_activate(void)
{
	struct nvme_ctrl_params p;
	struct fake_host *fh;
	uint8_t img[12288];
	struct nvme_fw_slot_log log;

	nvme_ctrl_params_default(&p);
	p.fw_slots = 3;
	fh = up(&p);
	memset(img, 0x5a, sizeof(img));
	memcpy(img, "NEWFW-02", 8);
	/* nothing downloaded yet */
	g_assert_cmphex(commit(fh, 2, 0), ==, NVME_SC_FIRMWARE_IMAGE);
	g_assert_cmphex(download(fh, img, sizeof(img), 4096), ==, 0);
	/* replace slot 2 without activating */
	g_assert_cmphex(commit(fh, 2, NVME_FW_AA_REPLACE), ==, 0);
	log = fw_log(fh);
	g_assert_cmphex(log.afi, ==, 1);
	g_assert_cmpmem(log.frs[1], 8, "NEWFW-02", 8);
	/* the image was used up */
	g_assert_cmphex(commit(fh, 3, NVME_FW_AA_REPLACE), ==, NVME_SC_FIRMWARE_IMAGE);
	/* activate slot 2 at the next reset */
	g_assert_cmphex(commit(fh, 2, NVME_FW_AA_ACTIVATE), ==, 0);
	g_assert_cmphex(fw_log(fh).afi, ==, 0x21);
	g_assert_cmpmem(id_ctrl(fh).fr, 8, "cosim-1 ", 8);
	fh_disable(fh);
	fh_enable(fh, 32);
	g_assert_cmphex(fw_log(fh).afi, ==, 0x2);
	g_assert_cmpmem(id_ctrl(fh).fr, 8, "NEWFW-02", 8);
	/* a binary image: FS = 0 picks slot 3 (slot 2 runs); AA 1 activates at reset */
	memset(img, 0xff, sizeof(img));
	g_assert_cmphex(download(fh, img, 4096, 2048), ==, 0);
	g_assert_cmphex(commit(fh, 0, NVME_FW_AA_REPLACE_ACTIVATE), ==, 0);
	log = fw_log(fh);
	g_assert_cmphex(log.afi, ==, 0x32);
	g_assert_cmpmem(log.frs[2], 2, "FW", 2);
	nvme_ctrl_reset(fh->ctrl);	/* a PCI reset activates too */
	fh_enable(fh, 32);
	g_assert_cmphex(fw_log(fh).afi, ==, 0x3);
	g_assert_cmpmem(id_ctrl(fh).fr, 8, log.frs[2], 8);
	/* back to slot 1 */
	g_assert_cmphex(commit(fh, 1, NVME_FW_AA_ACTIVATE), ==, 0);
	fh_disable(fh);
	fh_enable(fh, 32);
	g_assert_cmpmem(id_ctrl(fh).fr, 8, "cosim-1 ", 8);
	fh_free(fh);
}

static void test_fw_errors(void)
{
	struct fake_host *fh = up(NULL);	/* fw-slots 2 */
	uint8_t img[8192];

	memset(img, 'a', sizeof(img));
	/* pieces out of order or beyond MDTS */
	g_assert_cmphex(admin(fh, NVME_ADM_FW_DOWNLOAD, 0, 1023, 4, BUF), ==,
			NVME_SC_INVALID_FIELD);
	g_assert_cmphex(admin(fh, NVME_ADM_FW_DOWNLOAD, 0, (256u << 10) / 4 - 1, 0, BUF), ==,
			NVME_SC_INVALID_FIELD);
	g_assert_cmphex(download(fh, img, 4096, 4096), ==, 0);
	g_assert_cmphex(admin(fh, NVME_ADM_FW_DOWNLOAD, 0, 0, 2048, BUF), ==,
			NVME_SC_INVALID_FIELD);
	/* slot 1 is read-only, slot 3 does not exist, AA 3 is reserved */
	g_assert_cmphex(commit(fh, 1, NVME_FW_AA_REPLACE), ==, NVME_SC_FIRMWARE_SLOT);
	g_assert_cmphex(commit(fh, 3, NVME_FW_AA_REPLACE), ==, NVME_SC_FIRMWARE_SLOT);
	g_assert_cmphex(commit(fh, 7, NVME_FW_AA_ACTIVATE), ==, NVME_SC_FIRMWARE_SLOT);
	g_assert_cmphex(commit(fh, 2, 3), ==, NVME_SC_INVALID_FIELD);
	/* activating an empty slot */
	g_assert_cmphex(commit(fh, 2, NVME_FW_AA_ACTIVATE), ==, NVME_SC_FIRMWARE_IMAGE);
	g_assert_cmphex(commit(fh, 0, NVME_FW_AA_ACTIVATE), ==, NVME_SC_FIRMWARE_SLOT);
	g_assert_cmphex(commit(fh, 0, NVME_FW_AA_REPLACE), ==, 0);	/* slot 2 */
	g_assert_cmpmem(fw_log(fh).frs[1], 8, "aaaaaaaa", 8);
	fh_free(fh);
}

static void test_format(void)
{
	struct fake_host *fh = up(NULL);
	struct fh_queue q;
	struct nvme_id_ns id;
	struct nvme_sqe cmd;

	memset(fh->disk[1], 0xa5, NLBAS * 512);
	id = id_ns(fh, 1);
	g_assert_cmpuint(id.nsze, ==, NLBAS);
	/* 4 KiB LBAs, no erase: data stays, size in LBAs shrinks */
	g_assert_cmphex(admin(fh, NVME_ADM_FORMAT_NVM, 1, 1, 0, 0), ==, 0);
	id = id_ns(fh, 1);
	g_assert_cmpuint(id.flbas, ==, 1);
	g_assert_cmpuint(id.nsze, ==, NLBAS / 8);
	g_assert_cmpuint(id.lbaf[id.flbas].lbads, ==, 12);
	g_assert_cmpuint(fh->disk[1][0], ==, 0xa5);
	fh_create_io_pair(fh, &q, 1, 16);
	cmd = (struct nvme_sqe){ .opcode = NVME_CMD_READ, .nsid = 1, .prp1 = BUF,
				 .cdw10 = NLBAS / 8 - 1 };
	g_assert_cmphex(FH_SC(fh_cmd(fh, &q, &cmd)), ==, 0);
	g_assert_cmpuint(fh->ram[BUF + 4095], ==, 0xa5);
	cmd.cdw10 = NLBAS / 8;
	g_assert_cmphex(FH_SC(fh_cmd(fh, &q, &cmd)), ==, NVME_SC_LBA_RANGE);
	/* a format forgets Write Uncorrectable marks */
	cmd = (struct nvme_sqe){ .opcode = NVME_CMD_WRITE_UNCOR, .nsid = 1, .cdw10 = 3 };
	g_assert_cmphex(FH_SC(fh_cmd(fh, &q, &cmd)), ==, 0);
	/* back to 512 B with user data erase: zeroes */
	g_assert_cmphex(admin(fh, NVME_ADM_FORMAT_NVM, 1, 1u << 9 | 0, 0, 0), ==, 0);
	g_assert_cmpuint(fh->zeroes, ==, 1);
	g_assert_cmpuint(id_ns(fh, 1).nsze, ==, NLBAS);
	for (unsigned int i = 0; i < NLBAS * 512; i++)
		if (fh->disk[1][i])
			g_error("byte %u not erased", i);
	cmd = (struct nvme_sqe){ .opcode = NVME_CMD_READ, .nsid = 1, .prp1 = BUF, .cdw10 = 24 };
	g_assert_cmphex(FH_SC(fh_cmd(fh, &q, &cmd)), ==, 0);
	fh_free(fh);
}

static void test_format_all_and_errors(void)
{
	struct fake_host *fh = up(NULL);

	fh_attach_ns(fh, 3, 12, 256);
	memset(fh->disk[1], 1, NLBAS * 512);
	memset(fh->disk[3], 3, 256 * 4096);
	/* NSID FFFFFFFFh with erase: every namespace, one after the other */
	g_assert_cmphex(admin(fh, NVME_ADM_FORMAT_NVM, 0xffffffff, 1u << 9 | 1, 0, 0), ==, 0);
	g_assert_cmpuint(fh->zeroes, ==, 2);
	g_assert_cmpuint(fh->disk[1][NLBAS * 512 - 1], ==, 0);
	g_assert_cmpuint(fh->disk[3][256 * 4096 - 1], ==, 0);
	g_assert_cmpuint(id_ns(fh, 1).nsze, ==, NLBAS / 8);
	g_assert_cmpuint(id_ns(fh, 3).nsze, ==, 256);
	/* errors */
	g_assert_cmphex(admin(fh, NVME_ADM_FORMAT_NVM, 2, 0, 0, 0), ==, NVME_SC_INVALID_NS);
	g_assert_cmphex(admin(fh, NVME_ADM_FORMAT_NVM, 0, 0, 0, 0), ==, NVME_SC_INVALID_NS);
	g_assert_cmphex(admin(fh, NVME_ADM_FORMAT_NVM, 1, 2, 0, 0), ==, NVME_SC_INVALID_FORMAT);
	g_assert_cmphex(admin(fh, NVME_ADM_FORMAT_NVM, 1, 1u << 5, 0, 0), ==,
			NVME_SC_INVALID_FORMAT);	/* PI */
	g_assert_cmphex(admin(fh, NVME_ADM_FORMAT_NVM, 1, 2u << 9, 0, 0), ==,
			NVME_SC_INVALID_FIELD);		/* crypto erase */
	g_assert_cmphex(admin(fh, NVME_ADM_FORMAT_NVM, 1, 7u << 9, 0, 0), ==,
			NVME_SC_INVALID_FIELD);
	g_assert_cmpuint(fh->zeroes, ==, 2);
	fh_free(fh);
}

/* Disable while the erase is out: the late completion is dropped, nothing leaks. */
static void test_format_disable_midway(void)
{
	struct fake_host *fh = up(NULL);
	struct nvme_sqe cmd = { .opcode = NVME_ADM_FORMAT_NVM, .nsid = 1, .cdw10 = 1u << 9 };
	struct nvme_cqe cqe;

	fh_submit(fh, &fh->admin, &cmd);
	fh_run_no_io(fh);
	g_assert_cmpuint(fh->npending, ==, 1);
	fh_wr32(fh, NVME_REG_CC, 0);
	fh_run(fh);
	g_assert_false(fh_poll(fh, &fh->admin, &cqe));
	fh_enable(fh, 32);
	g_assert_cmpuint(id_ns(fh, 1).nsze, ==, NLBAS);
	fh_free(fh);
}

/* Error Information log: the last 16 failures, newest first. */
static void test_error_log(void)
{
	struct fake_host *fh = up(NULL);
	struct nvme_error_log_entry e[16];
	struct nvme_id_ctrl id = id_ctrl(fh);
	unsigned int i;

	g_assert_cmpuint(id.elpe, ==, 15);
	for (i = 0; i < 20; i++)	/* Identify of nsid 100 + i: Invalid Namespace */
		g_assert_cmphex(admin(fh, NVME_ADM_IDENTIFY, 100 + i, 0, 0, BUF), ==,
				NVME_SC_INVALID_NS);
	g_assert_cmphex(admin(fh, NVME_ADM_GET_LOG_PAGE, 0, 255u << 16 | NVME_LOG_ERROR, 0,
			      BUF), ==, 0);
	memcpy(e, fh->ram + BUF, sizeof(e));
	for (i = 0; i < 16; i++) {
		g_assert_cmpuint(e[i].error_count, ==, 20 - i);
		g_assert_cmpuint(e[i].nsid, ==, 119 - i);
		g_assert_cmpuint(e[i].sqid, ==, 0);
		g_assert_cmphex(e[i].status >> 1, ==, NVME_SC_INVALID_NS | NVME_DNR);
	}
	fh_free(fh);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/fw/identify", test_fw_identify);
	g_test_add_func("/fw/download-activate", test_fw_download_activate);
	g_test_add_func("/fw/errors", test_fw_errors);
	g_test_add_func("/format/lbaf-erase", test_format);
	g_test_add_func("/format/all-and-errors", test_format_all_and_errors);
	g_test_add_func("/format/disable-midway", test_format_disable_midway);
	g_test_add_func("/log/error-ring", test_error_log);
	return g_test_run();
}
