// SPDX-License-Identifier: GPL-2.0-or-later
/* NVM command set: data round trips through PRPs, error statuses, queue flow. */
#include <glib.h>
#include <string.h>

#include "fake_host.h"

#define NLBAS	4096		/* 512-byte LBAs: 2 MiB */
#define PAGE	4096ull

struct io_env {
	struct fake_host *fh;
	struct fh_queue q;
};

static void io_up(struct io_env *e, const struct nvme_ctrl_params *p)
{
	e->fh = fh_new(p);
	fh_attach_ns(e->fh, 1, 9, NLBAS);
	fh_enable(e->fh, 32);
	fh_create_io_pair(e->fh, &e->q, 1, 64);
}

static struct nvme_sqe rw_cmd(uint8_t opcode, uint32_t nsid, uint64_t slba, uint32_t nlb,
			      uint64_t prp1, uint64_t prp2)
{
	struct nvme_sqe cmd = {
		.opcode = opcode, .nsid = nsid, .prp1 = prp1, .prp2 = prp2,
		.cdw10 = (uint32_t)slba, .cdw11 = (uint32_t)(slba >> 32), .cdw12 = nlb - 1,
	};
	return cmd;
}

static void fill(uint8_t *p, size_t len, uint32_t seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 9));
}

static void put_prp_list(struct fake_host *fh, uint64_t at, const uint64_t *e, unsigned int n)
{
	memcpy(fh->ram + at, e, n * sizeof(*e));
}

/* Write @len bytes from @src via the given PRPs; read back via a simple buffer. */
static void round_trip(struct io_env *e, uint64_t slba, uint64_t len,
		       uint64_t prp1, uint64_t prp2, const uint64_t *pages, unsigned int npages)
{
	struct fake_host *fh = e->fh;
	g_autofree uint8_t *src = g_malloc(len);
	uint64_t off = 0;
	struct nvme_sqe cmd;
	struct nvme_cqe cqe;
	unsigned int i;

	fill(src, len, (uint32_t)slba);
	/* scatter src over the pages the PRPs describe */
	for (i = 0; i < npages && off < len; i++) {
		uint64_t in_page = i == 0 ? PAGE - (pages[0] & (PAGE - 1)) : PAGE;
		uint64_t n = MIN(in_page, len - off);

		memcpy(fh->ram + pages[i], src + off, n);
		off += n;
	}
	g_assert_cmpuint(off, ==, len);
	cmd = rw_cmd(NVME_CMD_WRITE, 1, slba, (uint32_t)(len / 512), prp1, prp2);
	cqe = fh_cmd(fh, &e->q, &cmd);
	g_assert_cmphex(fh_status(&cqe), ==, 0);
	g_assert_cmpmem(fh->disk[1] + slba * 512, len, src, len);

	/* read back into zeroed pages through the same PRPs */
	for (i = 0; i < npages; i++)
		memset(fh->ram + (pages[i] & ~(PAGE - 1)), 0, PAGE);
	cmd = rw_cmd(NVME_CMD_READ, 1, slba, (uint32_t)(len / 512), prp1, prp2);
	cqe = fh_cmd(fh, &e->q, &cmd);
	g_assert_cmphex(fh_status(&cqe), ==, 0);
	for (off = 0, i = 0; i < npages && off < len; i++) {
		uint64_t in_page = i == 0 ? PAGE - (pages[0] & (PAGE - 1)) : PAGE;
		uint64_t n = MIN(in_page, len - off);

		g_assert_cmpmem(fh->ram + pages[i], n, src + off, n);
		off += n;
	}
}

static void test_prp1_only(void)
{
	struct io_env e;
	uint64_t pages[] = { FH_DATA + 0x200 };

	io_up(&e, NULL);
	round_trip(&e, 0, 512, FH_DATA + 0x200, 0, pages, 1);
	pages[0] = FH_DATA;
	round_trip(&e, 8, 4096, FH_DATA, 0, pages, 1);
	fh_free(e.fh);
}

static void test_prp2_data(void)
{
	struct io_env e;
	/* offset first page, second page elsewhere (not contiguous) */
	uint64_t pages[] = { FH_DATA + 0xe00, FH_DATA + 0x5000 };

	io_up(&e, NULL);
	round_trip(&e, 100, 4096, pages[0], pages[1], pages, 2);
	fh_free(e.fh);
}

static void test_prp_list(void)
{
	struct io_env e;
	uint64_t pages[32];
	unsigned int i;

	io_up(&e, NULL);
	/* 128 KiB = MDTS, pages in reverse order, PRP1 at offset 0 */
	for (i = 0; i < 32; i++)
		pages[i] = FH_DATA + (uint64_t)(40 - i) * PAGE;
	put_prp_list(e.fh, FH_PRPLIST, &pages[1], 31);
	round_trip(&e, 1000, 32 * PAGE, pages[0], FH_PRPLIST, pages, 32);

	/* PRP1 with offset: 31 full pages + part of one more; list at an offset */
	pages[0] += 0x400;
	put_prp_list(e.fh, FH_PRPLIST + 0x100, &pages[1], 31);
	round_trip(&e, 2000, 31 * PAGE, pages[0], FH_PRPLIST + 0x100, pages, 32);
	fh_free(e.fh);
}

/* A list that starts 2 slots before the end of its page must chain. */
static void test_prp_list_chained(void)
{
	struct io_env e;
	uint64_t pages[8], list1[2], list2[3];
	uint64_t l1 = FH_PRPLIST + PAGE - 16, l2 = FH_PRPLIST + 3 * PAGE;
	unsigned int i;

	io_up(&e, NULL);
	for (i = 0; i < 5; i++)
		pages[i] = FH_DATA + (uint64_t)(i * 3) * PAGE;
	list1[0] = pages[1];
	list1[1] = l2;		/* chain pointer */
	list2[0] = pages[2];
	list2[1] = pages[3];
	list2[2] = pages[4];
	put_prp_list(e.fh, l1, list1, 2);
	put_prp_list(e.fh, l2, list2, 3);
	round_trip(&e, 64, 5 * PAGE, pages[0], l1, pages, 5);
	fh_free(e.fh);
}

/*
 * A list at page offset 0xff8 has one slot, its chain pointer.  Pointing it
 * back at itself, or at another such slot that points back, used to make the
 * walk loop forever; a chain pointer with an offset is now Invalid Field.
 */
static void test_prp_list_chain_loop(void)
{
	struct io_env e;
	uint64_t a = FH_PRPLIST + PAGE - 8, b = FH_PRPLIST + 2 * PAGE - 8;
	struct nvme_sqe cmd;
	struct nvme_cqe cqe;

	io_up(&e, NULL);
	put_prp_list(e.fh, a, &a, 1);
	cmd = rw_cmd(NVME_CMD_READ, 1, 0, 24, FH_DATA, a);
	cqe = fh_cmd(e.fh, &e.q, &cmd);
	g_assert_cmphex(fh_status(&cqe), ==, NVME_SC_INVALID_FIELD | NVME_DNR);
	put_prp_list(e.fh, a, &b, 1);
	put_prp_list(e.fh, b, &a, 1);
	cmd = rw_cmd(NVME_CMD_WRITE, 1, 0, 24, FH_DATA, a);
	cqe = fh_cmd(e.fh, &e.q, &cmd);
	g_assert_cmphex(fh_status(&cqe), ==, NVME_SC_INVALID_FIELD | NVME_DNR);
	g_assert_cmphex(fh_rd32(e.fh, NVME_REG_CSTS), ==, NVME_CSTS_RDY);
	fh_free(e.fh);
}

static void test_prp_errors(void)
{
	struct io_env e;
	uint64_t list[4] = { FH_DATA + PAGE, FH_DATA + 2 * PAGE + 8, 0, 0 };
	struct nvme_sqe cmd;

	io_up(&e, NULL);
	/* PRP1 not dword aligned */
	cmd = rw_cmd(NVME_CMD_READ, 1, 0, 1, FH_DATA + 2, 0);
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, NVME_SC_INVALID_FIELD);
	/* list entry with an offset */
	put_prp_list(e.fh, FH_PRPLIST, list, 2);
	cmd = rw_cmd(NVME_CMD_READ, 1, 0, 24, FH_DATA, FH_PRPLIST);
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, NVME_SC_INVALID_FIELD);
	/* list pointer misaligned */
	cmd = rw_cmd(NVME_CMD_READ, 1, 0, 24, FH_DATA, FH_PRPLIST + 4);
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, NVME_SC_INVALID_FIELD);
	/* list outside guest memory */
	cmd = rw_cmd(NVME_CMD_READ, 1, 0, 24, FH_DATA, 1ull << 40);
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, NVME_SC_DATA_XFER_ERROR);
	/* data outside guest memory: the block layer reports the DMA failure */
	cmd = rw_cmd(NVME_CMD_READ, 1, 0, 8, 1ull << 40, 0);
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, NVME_SC_DATA_XFER_ERROR);
	/* addresses that wrap around */
	cmd = rw_cmd(NVME_CMD_READ, 1, 0, 16, 0xfffffffffffff000ull, 0);
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, NVME_SC_INVALID_FIELD);
	g_assert_cmphex(fh_rd32(e.fh, NVME_REG_CSTS), ==, NVME_CSTS_RDY);
	fh_free(e.fh);
}

static void test_status_errors(void)
{
	struct io_env e;
	struct nvme_sqe cmd;
	struct nvme_cqe cqe;

	io_up(&e, NULL);
	cmd = rw_cmd(0x7e, 1, 0, 1, FH_DATA, 0);
	cqe = fh_cmd(e.fh, &e.q, &cmd);
	g_assert_cmphex(fh_status(&cqe), ==, NVME_SC_INVALID_OPCODE | NVME_DNR);
	cmd = rw_cmd(0x08, 1, 0, 1, FH_DATA, 0);	/* Write Zeroes: NVMe 1.1 */
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, NVME_SC_INVALID_OPCODE);
	cmd = rw_cmd(NVME_CMD_READ, 0, 0, 1, FH_DATA, 0);
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, NVME_SC_INVALID_NS);
	cmd = rw_cmd(NVME_CMD_READ, 2, 0, 1, FH_DATA, 0);		/* absent */
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, NVME_SC_INVALID_NS);
	cmd = rw_cmd(NVME_CMD_WRITE, 0xffffffff, 0, 1, FH_DATA, 0);
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, NVME_SC_INVALID_NS);
	cmd = rw_cmd(NVME_CMD_FLUSH, 3, 0, 1, 0, 0);
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, NVME_SC_INVALID_NS);
	/* LBA range: last LBA ok, one past not, 64-bit wrap not */
	cmd = rw_cmd(NVME_CMD_READ, 1, NLBAS - 1, 1, FH_DATA, 0);
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, 0);
	cmd = rw_cmd(NVME_CMD_READ, 1, NLBAS - 1, 2, FH_DATA, FH_DATA + PAGE);
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, NVME_SC_LBA_RANGE);
	cmd = rw_cmd(NVME_CMD_READ, 1, ~0ull, 2, FH_DATA, 0);
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, NVME_SC_LBA_RANGE);
	/* beyond MDTS (128 KiB = 256 LBAs) */
	cmd = rw_cmd(NVME_CMD_READ, 1, 0, 257, FH_DATA, FH_PRPLIST);
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, NVME_SC_INVALID_FIELD);
	/* media errors from the block layer */
	e.fh->io_error = -5;
	cmd = rw_cmd(NVME_CMD_READ, 1, 0, 1, FH_DATA, 0);
	cqe = fh_cmd(e.fh, &e.q, &cmd);
	g_assert_cmphex(fh_status(&cqe), ==, NVME_SC_READ_ERROR);	/* retryable */
	e.fh->io_error = -5;
	cmd = rw_cmd(NVME_CMD_WRITE, 1, 0, 1, FH_DATA, 0);
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, NVME_SC_WRITE_FAULT);
	e.fh->io_error = -125;	/* ECANCELED */
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, NVME_SC_ABORT_REQ);
	fh_free(e.fh);
}

static void test_flush_fua(void)
{
	struct io_env e;
	struct nvme_sqe cmd;
	struct nvme_cqe cqe;

	io_up(&e, NULL);
	cmd = rw_cmd(NVME_CMD_FLUSH, 1, 0, 1, 0, 0);
	cmd.cdw12 = 0;
	cqe = fh_cmd(e.fh, &e.q, &cmd);
	g_assert_cmphex(fh_status(&cqe), ==, 0);
	g_assert_cmpuint(e.fh->flushes, ==, 1);
	cmd = rw_cmd(NVME_CMD_WRITE, 1, 0, 1, FH_DATA, 0);
	fh_cmd(e.fh, &e.q, &cmd);
	g_assert_cmpuint(e.fh->fua_writes, ==, 0);
	cmd.cdw12 |= NVME_RW_FUA;
	fh_cmd(e.fh, &e.q, &cmd);
	g_assert_cmpuint(e.fh->fua_writes, ==, 1);
	/* write cache off: every write is FUA */
	cmd = (struct nvme_sqe){ .opcode = NVME_ADM_SET_FEATURES, .cdw10 = NVME_FEAT_VOLATILE_WC };
	fh_cmd(e.fh, &e.fh->admin, &cmd);
	cmd = rw_cmd(NVME_CMD_WRITE, 1, 0, 1, FH_DATA, 0);
	fh_cmd(e.fh, &e.q, &cmd);
	g_assert_cmpuint(e.fh->fua_writes, ==, 2);
	fh_free(e.fh);
}

/* Compare: equal data succeeds, a one-byte difference is 2/85h. */
static void test_compare(void)
{
	struct io_env e;
	struct nvme_sqe cmd;
	uint8_t buf[2048];

	io_up(&e, NULL);
	fill(buf, sizeof(buf), 9);
	memcpy(e.fh->disk[1] + 10 * 512, buf, sizeof(buf));
	memcpy(e.fh->ram + FH_DATA, buf, sizeof(buf));
	cmd = rw_cmd(NVME_CMD_COMPARE, 1, 10, 4, FH_DATA, 0);
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, 0);
	e.fh->ram[FH_DATA + 2047] ^= 1;
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, NVME_SC_COMPARE_FAILED);
	/* range, MDTS and namespace checks as for Read */
	cmd = rw_cmd(NVME_CMD_COMPARE, 1, NLBAS - 1, 2, FH_DATA, FH_DATA + PAGE);
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, NVME_SC_LBA_RANGE);
	cmd = rw_cmd(NVME_CMD_COMPARE, 1, 0, 257, FH_DATA, FH_PRPLIST);
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, NVME_SC_INVALID_FIELD);
	cmd = rw_cmd(NVME_CMD_COMPARE, 2, 0, 1, FH_DATA, 0);
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, NVME_SC_INVALID_NS);
	/* a block error is a read error */
	e.fh->io_error = -5;
	cmd = rw_cmd(NVME_CMD_COMPARE, 1, 10, 4, FH_DATA, 0);
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, NVME_SC_READ_ERROR);
	fh_free(e.fh);
}

/* Write Uncorrectable: reads of marked LBAs fail 2/81h until rewritten. */
static void test_write_uncor(void)
{
	struct io_env e;
	struct nvme_sqe cmd;
	struct nvme_cqe cqe;
	unsigned int i;

	io_up(&e, NULL);
	cmd = rw_cmd(NVME_CMD_WRITE_UNCOR, 1, 100, 8, 0, 0);
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, 0);
	cmd = rw_cmd(NVME_CMD_READ, 1, 107, 1, FH_DATA, 0);
	cqe = fh_cmd(e.fh, &e.q, &cmd);
	g_assert_cmphex(fh_status(&cqe), ==, NVME_SC_READ_ERROR | NVME_DNR);
	cmd = rw_cmd(NVME_CMD_READ, 1, 96, 4, FH_DATA, 0);	/* just before */
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, 0);
	cmd = rw_cmd(NVME_CMD_READ, 1, 108, 4, FH_DATA, 0);	/* just after */
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, 0);
	cmd = rw_cmd(NVME_CMD_COMPARE, 1, 99, 2, FH_DATA, 0);
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, NVME_SC_READ_ERROR);
	/* rewrite the middle: the ends stay uncorrectable */
	cmd = rw_cmd(NVME_CMD_WRITE, 1, 102, 4, FH_DATA, 0);
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, 0);
	cmd = rw_cmd(NVME_CMD_READ, 1, 102, 4, FH_DATA, 0);
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, 0);
	for (i = 100; i < 108; i++) {
		cmd = rw_cmd(NVME_CMD_READ, 1, i, 1, FH_DATA, 0);
		g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==,
				i >= 102 && i < 106 ? 0 : NVME_SC_READ_ERROR);
	}
	/* range check; no data transfer, so no MDTS limit */
	cmd = rw_cmd(NVME_CMD_WRITE_UNCOR, 1, NLBAS - 1, 2, 0, 0);
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, NVME_SC_LBA_RANGE);
	cmd = rw_cmd(NVME_CMD_WRITE_UNCOR, 1, 0, 1024, 0, 0);
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, 0);
	fh_free(e.fh);
}

static void put_dsm(struct fake_host *fh, unsigned int i, uint64_t slba, uint32_t nlb)
{
	struct nvme_dsm_range r = { .slba = slba, .nlb = nlb };

	memcpy(fh->ram + FH_PRPLIST + i * sizeof(r), &r, sizeof(r));
}

/* Dataset Management deallocate: ranges read back as zeroes. */
static void test_dsm(void)
{
	struct io_env e;
	struct nvme_sqe cmd;
	unsigned int i;

	io_up(&e, NULL);
	memset(e.fh->disk[1], 0xa5, NLBAS * 512);
	put_dsm(e.fh, 0, 0, 8);
	put_dsm(e.fh, 1, 100, 0);		/* empty range: ignored */
	put_dsm(e.fh, 2, 200, 16);
	/* hints only (IDR/IDW): nothing changes */
	cmd = (struct nvme_sqe){ .opcode = NVME_CMD_DSM, .nsid = 1, .prp1 = FH_PRPLIST,
				 .cdw10 = 2, .cdw11 = NVME_DSM_IDR | NVME_DSM_IDW };
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, 0);
	g_assert_cmpuint(e.fh->zeroes, ==, 0);
	g_assert_cmpuint(e.fh->disk[1][0], ==, 0xa5);
	/* deallocate a marked range too: the mark goes */
	cmd = rw_cmd(NVME_CMD_WRITE_UNCOR, 1, 204, 1, 0, 0);
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, 0);
	cmd = (struct nvme_sqe){ .opcode = NVME_CMD_DSM, .nsid = 1, .prp1 = FH_PRPLIST,
				 .cdw10 = 2, .cdw11 = NVME_DSM_AD };
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, 0);
	g_assert_cmpuint(e.fh->zeroes, ==, 1);
	for (i = 0; i < NLBAS * 512; i++) {
		bool zero = i < 8 * 512 || (i >= 200 * 512 && i < 216 * 512);

		if (e.fh->disk[1][i] != (zero ? 0 : 0xa5))
			g_error("byte %u: %#x", i, e.fh->disk[1][i]);
	}
	cmd = rw_cmd(NVME_CMD_READ, 1, 204, 1, FH_DATA, 0);
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, 0);
	/* one range past the end fails the whole command, nothing is zeroed */
	put_dsm(e.fh, 0, 300, 8);
	put_dsm(e.fh, 1, NLBAS - 4, 5);
	cmd = (struct nvme_sqe){ .opcode = NVME_CMD_DSM, .nsid = 1, .prp1 = FH_PRPLIST,
				 .cdw10 = 1, .cdw11 = NVME_DSM_AD };
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, NVME_SC_LBA_RANGE);
	g_assert_cmpuint(e.fh->disk[1][300 * 512], ==, 0xa5);
	/* 256 ranges (4 KiB of range data) */
	for (i = 0; i < 256; i++)
		put_dsm(e.fh, i, 1024 + i * 8, 1);
	cmd = (struct nvme_sqe){ .opcode = NVME_CMD_DSM, .nsid = 1, .prp1 = FH_PRPLIST,
				 .cdw10 = 255, .cdw11 = NVME_DSM_AD };
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, 0);
	g_assert_cmpuint(e.fh->disk[1][(1024 + 255 * 8) * 512], ==, 0);
	g_assert_cmpuint(e.fh->disk[1][(1024 + 255 * 8 + 1) * 512], ==, 0xa5);
	/* a block error is a write fault; a bad namespace is 0/0Bh */
	e.fh->io_error = -5;
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, NVME_SC_WRITE_FAULT);
	cmd.nsid = 3;
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, NVME_SC_INVALID_NS);
	fh_free(e.fh);
}

/* Flush with the volatile write cache off has nothing to do. */
static void test_flush_wc_off(void)
{
	struct io_env e;
	struct nvme_sqe cmd;

	io_up(&e, NULL);
	cmd = (struct nvme_sqe){ .opcode = NVME_ADM_SET_FEATURES, .cdw10 = NVME_FEAT_VOLATILE_WC };
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.fh->admin, &cmd)), ==, 0);
	cmd = (struct nvme_sqe){ .opcode = NVME_CMD_FLUSH, .nsid = 1 };
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, 0);
	g_assert_cmpuint(e.fh->flushes, ==, 0);
	cmd = (struct nvme_sqe){ .opcode = NVME_ADM_SET_FEATURES, .cdw10 = NVME_FEAT_VOLATILE_WC,
				 .cdw11 = 1 };
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.fh->admin, &cmd)), ==, 0);
	cmd = (struct nvme_sqe){ .opcode = NVME_CMD_FLUSH, .nsid = 1 };
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, 0);
	g_assert_cmpuint(e.fh->flushes, ==, 1);
	fh_free(e.fh);
}

/* More completions than the CQ holds: they wait, none is lost, phase flips. */
static void test_cq_full(void)
{
	struct fake_host *fh = fh_new(NULL);
	struct fh_queue q;
	struct nvme_cqe cqe;
	unsigned int i, got = 0, round;
	uint32_t seen = 0;

	fh_attach_ns(fh, 1, 9, NLBAS);
	fh_enable(fh, 8);
	fh_create_io_pair(fh, &q, 1, 4);
	for (round = 0; round < 2; round++) {
		for (i = 0; i < 3; i++) {
			struct nvme_sqe cmd = rw_cmd(NVME_CMD_READ, 1, i, 1, FH_DATA, 0);

			cmd.cid = (uint16_t)(round * 3 + i);
			fh_submit(fh, &q, &cmd);
		}
		fh_run(fh);
	}
	while (got < 6) {
		g_assert_true(fh_poll(fh, &q, &cqe));
		g_assert_cmphex(fh_status(&cqe), ==, 0);
		seen |= 1u << cqe.cid;
		got++;
		fh_run(fh);
	}
	g_assert_false(fh_poll(fh, &q, &cqe));
	g_assert_cmphex(seen, ==, 0x3f);
	fh_free(fh);
}

/* More commands outstanding than SQ slots: fetching resumes as requests free up. */
static void test_sq_refill_beyond_slots(void)
{
	struct fake_host *fh = fh_new(NULL);
	struct fh_queue q;
	struct nvme_cqe cqe;
	unsigned int i, got = 0;
	uint32_t seen = 0;

	fh_attach_ns(fh, 1, 9, NLBAS);
	fh_enable(fh, 8);
	fh_create_io_pair(fh, &q, 1, 4);
	for (i = 0; i < 3; i++) {
		struct nvme_sqe cmd = rw_cmd(NVME_CMD_READ, 1, i, 1, FH_DATA, 0);

		cmd.cid = (uint16_t)i;
		fh_submit(fh, &q, &cmd);
	}
	fh_run_no_io(fh);
	g_assert_cmpuint(fh->npending, ==, 3);
	/* one completes; its CQE frees all three SQ slots for the host */
	fh->npending--;
	nvme_io_complete(fh->pending[fh->npending], 0);
	g_assert_true(fh_poll(fh, &q, &cqe));
	g_assert_cmpuint(cqe.sq_head, ==, 3);
	seen |= 1u << cqe.cid;
	got++;
	for (i = 3; i < 6; i++) {
		struct nvme_sqe cmd = rw_cmd(NVME_CMD_READ, 1, i, 1, FH_DATA, 0);

		cmd.cid = (uint16_t)i;
		fh_submit(fh, &q, &cmd);
	}
	fh_run_no_io(fh);
	/* only 2 of the 3 new ones found a free request: 4 outstanding */
	g_assert_cmpuint(fh->npending, ==, 4);
	while (got < 6) {
		fh_run(fh);
		while (fh_poll(fh, &q, &cqe)) {
			g_assert_cmphex(fh_status(&cqe), ==, 0);
			seen |= 1u << cqe.cid;
			got++;
		}
	}
	g_assert_cmphex(seen, ==, 0x3f);
	fh_free(fh);
}

/* Delete I/O SQ waits for commands at the block layer; their CQEs are dropped. */
static void test_delete_sq_inflight(void)
{
	struct io_env e;
	struct nvme_sqe cmd = rw_cmd(NVME_CMD_READ, 1, 0, 1, FH_DATA, 0);
	struct nvme_sqe del = { .opcode = NVME_ADM_DELETE_SQ, .cid = 0x77, .cdw10 = 1 };
	struct nvme_cqe cqe;

	io_up(&e, NULL);
	cmd.cid = 5;
	fh_submit(e.fh, &e.q, &cmd);
	fh_run_no_io(e.fh);
	g_assert_cmpuint(e.fh->npending, ==, 1);
	fh_submit(e.fh, &e.fh->admin, &del);
	fh_run_no_io(e.fh);
	g_assert_false(fh_poll(e.fh, &e.fh->admin, &cqe));
	/* the SQ is going: its doorbell is ignored */
	fh_submit(e.fh, &e.q, &cmd);
	fh_run(e.fh);
	g_assert_true(fh_poll(e.fh, &e.fh->admin, &cqe));
	g_assert_cmphex(cqe.cid, ==, 0x77);
	g_assert_cmphex(fh_status(&cqe), ==, 0);
	g_assert_false(fh_poll(e.fh, &e.q, &cqe));
	g_assert_cmpuint(nvme_ctrl_io_inflight(e.fh->ctrl), ==, 0);
	fh_free(e.fh);
}

/* CC.EN=0 with IO in flight: RDY drops only once the block layer is done. */
static void test_disable_inflight(void)
{
	struct io_env e;
	struct nvme_sqe cmd = rw_cmd(NVME_CMD_WRITE, 1, 0, 8, FH_DATA, 0);

	io_up(&e, NULL);
	fh_submit(e.fh, &e.q, &cmd);
	fh_run_no_io(e.fh);
	fh_disable(e.fh);
	g_assert_cmphex(fh_rd32(e.fh, NVME_REG_CSTS) & NVME_CSTS_RDY, ==, NVME_CSTS_RDY);
	/* EN=1 while still draining is remembered */
	fh_wr32(e.fh, NVME_REG_CC, fh_rd32(e.fh, NVME_REG_CC) | NVME_CC_EN);
	fh_wr32(e.fh, NVME_REG_CC, fh_rd32(e.fh, NVME_REG_CC) & ~NVME_CC_EN);
	fh_complete_io(e.fh);
	g_assert_cmphex(fh_rd32(e.fh, NVME_REG_CSTS), ==, 0);
	/* and the controller comes back cleanly */
	fh_enable(e.fh, 16);
	fh_create_io_pair(e.fh, &e.q, 1, 16);
	cmd = rw_cmd(NVME_CMD_READ, 1, 0, 8, FH_DATA, 0);
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, 0);
	/* hard reset with IO pending that the host then drains */
	fh_submit(e.fh, &e.q, &cmd);
	fh_run_no_io(e.fh);
	e.fh->npending = 0;	/* the host dropped it (QEMU drains first) */
	nvme_ctrl_reset(e.fh->ctrl);
	g_assert_cmphex(fh_rd32(e.fh, NVME_REG_CSTS), ==, 0);
	g_assert_cmphex(fh_rd32(e.fh, NVME_REG_CC), ==, 0);
	fh_free(e.fh);
}

/* CC.EN=0 while a Delete I/O SQ waits for its block I/O: nothing dangles. */
static void test_disable_with_pending_delete(void)
{
	struct io_env e;
	struct nvme_sqe cmd = rw_cmd(NVME_CMD_READ, 1, 0, 8, FH_DATA, 0);
	struct nvme_sqe del = { .opcode = NVME_ADM_DELETE_SQ, .cid = 0x66, .cdw10 = 1 };
	struct nvme_cqe cqe;

	io_up(&e, NULL);
	fh_submit(e.fh, &e.q, &cmd);
	fh_run_no_io(e.fh);
	fh_submit(e.fh, &e.fh->admin, &del);
	fh_run_no_io(e.fh);
	fh_disable(e.fh);
	g_assert_cmphex(fh_rd32(e.fh, NVME_REG_CSTS) & NVME_CSTS_RDY, ==, NVME_CSTS_RDY);
	fh_complete_io(e.fh);
	g_assert_cmphex(fh_rd32(e.fh, NVME_REG_CSTS), ==, 0);
	g_assert_false(fh_poll(e.fh, &e.fh->admin, &cqe));
	/* the same with a hard reset after the host drained */
	fh_enable(e.fh, 8);
	fh_create_io_pair(e.fh, &e.q, 1, 8);
	fh_submit(e.fh, &e.q, &cmd);
	fh_run_no_io(e.fh);
	fh_submit(e.fh, &e.fh->admin, &del);
	fh_run_no_io(e.fh);
	e.fh->npending = 0;
	nvme_ctrl_reset(e.fh->ctrl);
	g_assert_cmphex(fh_rd32(e.fh, NVME_REG_CSTS), ==, 0);
	fh_enable(e.fh, 8);
	fh_free(e.fh);
}

/* Hard reset with I/O still out: late completions are dropped, nothing dangles. */
static void test_reset_orphans_late_io(void)
{
	struct io_env e;
	struct nvme_sqe cmd = rw_cmd(NVME_CMD_READ, 1, 0, 8, FH_DATA, 0);
	struct nvme_cqe cqe;
	unsigned int i;

	io_up(&e, NULL);
	for (i = 0; i < 3; i++) {
		cmd.cid = (uint16_t)i;
		fh_submit(e.fh, &e.q, &cmd);
	}
	fh_run_no_io(e.fh);
	g_assert_cmpuint(e.fh->npending, ==, 3);
	nvme_ctrl_reset(e.fh->ctrl);
	g_assert_cmphex(fh_rd32(e.fh, NVME_REG_CSTS), ==, 0);
	g_assert_cmpuint(nvme_ctrl_io_inflight(e.fh->ctrl), ==, 0);
	/* the same qid comes back while the old requests are still out */
	fh_enable(e.fh, 8);
	fh_create_io_pair(e.fh, &e.q, 1, 16);
	fh_complete_io(e.fh);			/* the 3 orphans: dropped */
	g_assert_false(fh_poll(e.fh, &e.q, &cqe));
	g_assert_cmpuint(nvme_ctrl_io_inflight(e.fh->ctrl), ==, 0);
	cmd.cid = 9;
	g_assert_cmphex(FH_SC(fh_cmd(e.fh, &e.q, &cmd)), ==, 0);
	/* orphans still out when the controller goes away are freed with it */
	fh_submit(e.fh, &e.q, &cmd);
	fh_run_no_io(e.fh);
	nvme_ctrl_reset(e.fh->ctrl);
	e.fh->npending = 0;
	fh_free(e.fh);
}

/* A Write still out when the controller goes away takes its ledger CRCs with it. */
static void test_orphaned_write_frees_ledger_crcs(void)
{
	struct nvme_ctrl_params p;
	struct io_env e;
	struct nvme_sqe cmd = rw_cmd(NVME_CMD_WRITE, 1, 0, 8, FH_DATA, 0);

	nvme_ctrl_params_default(&p);
	p.ledger = true;
	io_up(&e, &p);
	fh_submit(e.fh, &e.q, &cmd);
	fh_run_no_io(e.fh);
	g_assert_cmpuint(e.fh->npending, ==, 1);
	nvme_ctrl_reset(e.fh->ctrl);		/* its SQ lives on as a zombie */
	e.fh->npending = 0;
	fh_free(e.fh);				/* LeakSanitizer checks the rest */
}

/* Synchronous completion inside io_submit, many queues, large mqes. */
static void test_sync_io_multi_queue(void)
{
	struct fake_host *fh = fh_new(NULL);
	struct fh_queue q[4];
	unsigned int i, n;

	fh->sync_io = true;
	fh_attach_ns(fh, 1, 9, NLBAS);
	fh_enable(fh, 32);
	for (i = 0; i < 4; i++)
		fh_create_io_pair(fh, &q[i], (uint16_t)(i + 1), 32);
	for (n = 0; n < 50; n++) {
		for (i = 0; i < 4; i++) {
			struct nvme_sqe cmd = rw_cmd(n & 1 ? NVME_CMD_READ : NVME_CMD_WRITE, 1,
						     n * 4 + i, 1, FH_DATA + i * PAGE, 0);

			g_assert_cmphex(FH_SC(fh_cmd(fh, &q[i], &cmd)), ==, 0);
		}
	}
	for (i = 0; i < 4; i++)
		g_assert_cmpuint(fh->msix_count[i + 1], ==, 50);
	fh_free(fh);
}

/* 4 KiB LBAs and a larger memory page size (CC.MPS = 1: 8 KiB). */
static void test_lba4k_mps8k(void)
{
	struct fake_host *fh = fh_new(NULL);
	struct fh_queue q;
	struct nvme_sqe cmd;
	uint8_t buf[8192];

	fh_attach_ns(fh, 1, 12, 64);
	fh_wr32(fh, NVME_REG_AQA, 7 << 16 | 7);
	fh_wr64(fh, NVME_REG_ASQ, FH_ASQ);
	fh_wr64(fh, NVME_REG_ACQ, FH_ACQ + 0x2000);
	fh_wr32(fh, NVME_REG_CC, 6 << 16 | 4 << 20 | 1 << 7 | NVME_CC_EN);
	g_assert_cmphex(fh_rd32(fh, NVME_REG_CSTS), ==, NVME_CSTS_RDY);
	fh->admin = (struct fh_queue){ .size = 8, .sq_base = FH_ASQ, .cq_base = FH_ACQ + 0x2000,
				       .phase = true };
	fh_create_io_pair(fh, &q, 2, 16);	/* bases 8 KiB aligned */
	fill(buf, sizeof(buf), 3);
	memcpy(fh->ram + FH_DATA, buf, sizeof(buf));
	cmd = rw_cmd(NVME_CMD_WRITE, 1, 5, 2, FH_DATA, 0);	/* one 8K page */
	g_assert_cmphex(FH_SC(fh_cmd(fh, &q, &cmd)), ==, 0);
	g_assert_cmpmem(fh->disk[1] + 5 * 4096, 8192, buf, 8192);
	fh_free(fh);
}

/* Submit an Abort of (sqid, cid) and run without completing block IO. */
static void abort_cmd(struct fake_host *fh, uint16_t sqid, uint16_t cid, uint16_t abort_cid)
{
	struct nvme_sqe abort = { .opcode = NVME_ADM_ABORT, .cid = abort_cid,
				  .cdw10 = (uint32_t)cid << 16 | sqid };

	fh_submit(fh, &fh->admin, &abort);
	fh_run_no_io(fh);
}

/*
 * Abort of a Read at the block layer: the Abort succeeds at once; the Read
 * completes 0/07 when the block request returns, whatever its result.
 */
static void test_abort_backend(void)
{
	struct io_env e;
	struct nvme_sqe cmd = rw_cmd(NVME_CMD_READ, 1, 0, 8, FH_DATA, 0);
	struct nvme_ctrl_stats st;
	struct nvme_cqe cqe;

	io_up(&e, NULL);
	cmd.cid = 9;
	fh_submit(e.fh, &e.q, &cmd);
	fh_run_no_io(e.fh);
	g_assert_cmpuint(e.fh->npending, ==, 1);
	abort_cmd(e.fh, 1, 9, 0x60);
	g_assert_cmpuint(e.fh->cancels, ==, 1);
	g_assert_true(fh_poll(e.fh, &e.fh->admin, &cqe));
	g_assert_cmphex(cqe.cid, ==, 0x60);
	g_assert_cmphex(FH_SC(cqe), ==, 0);
	g_assert_cmphex(cqe.dw0 & 1, ==, 0);		/* aborted */
	g_assert_false(fh_poll(e.fh, &e.q, &cqe));	/* still at the block layer */
	/* a second Abort of it: nothing left to do */
	abort_cmd(e.fh, 1, 9, 0x61);
	g_assert_true(fh_poll(e.fh, &e.fh->admin, &cqe));
	g_assert_cmphex(cqe.dw0 & 1, ==, 1);
	fh_run(e.fh);					/* the read returns fine */
	g_assert_true(fh_poll(e.fh, &e.q, &cqe));
	g_assert_cmphex(cqe.cid, ==, 9);
	g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_ABORT_REQ);
	g_assert_false(fh_poll(e.fh, &e.q, &cqe));	/* exactly once */
	nvme_ctrl_get_stats(e.fh->ctrl, &st);
	g_assert_cmpuint(st.aborts, ==, 2);
	g_assert_cmpuint(st.aborts_succeeded, ==, 1);

	/* the command completed before the Abort came: not aborted */
	cmd.cid = 10;
	fh_submit(e.fh, &e.q, &cmd);
	fh_run(e.fh);
	g_assert_true(fh_poll(e.fh, &e.q, &cqe));
	g_assert_cmphex(FH_SC(cqe), ==, 0);
	abort_cmd(e.fh, 1, 10, 0x62);
	g_assert_true(fh_poll(e.fh, &e.fh->admin, &cqe));
	g_assert_cmphex(cqe.dw0 & 1, ==, 1);
	fh_free(e.fh);
}

/* A host that can stop the request at once: the Read's 0/07 comes first. */
static void test_abort_backend_cancel_wins(void)
{
	struct io_env e;
	struct nvme_sqe cmd = rw_cmd(NVME_CMD_WRITE, 1, 8, 8, FH_DATA, 0);
	struct nvme_cqe cqe;

	io_up(&e, NULL);
	e.fh->cancel_wins = true;
	memset(e.fh->ram + FH_DATA, 0x5a, 4096);
	cmd.cid = 11;
	fh_submit(e.fh, &e.q, &cmd);
	fh_run_no_io(e.fh);
	abort_cmd(e.fh, 1, 11, 0x63);
	g_assert_cmpuint(e.fh->npending, ==, 0);
	g_assert_true(fh_poll(e.fh, &e.q, &cqe));
	g_assert_cmphex(cqe.cid, ==, 11);
	g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_ABORT_REQ);
	g_assert_true(fh_poll(e.fh, &e.fh->admin, &cqe));
	g_assert_cmphex(cqe.dw0 & 1, ==, 0);
	fh_run(e.fh);
	g_assert_false(fh_poll(e.fh, &e.q, &cqe));
	g_assert_cmphex(e.fh->disk[1][8 * 512], ==, 0);	/* stopped before the medium */
	g_assert_cmpuint(nvme_ctrl_io_inflight(e.fh->ctrl), ==, 0);
	fh_free(e.fh);
}

/* Abort of a Write that reaches the medium anyway: Write Uncorrectable marks go. */
static void test_abort_backend_write_done(void)
{
	struct io_env e;
	struct nvme_sqe cmd = rw_cmd(NVME_CMD_WRITE_UNCOR, 1, 16, 8, 0, 0);
	struct nvme_cqe cqe;

	io_up(&e, NULL);
	cqe = fh_cmd(e.fh, &e.q, &cmd);
	g_assert_cmphex(FH_SC(cqe), ==, 0);
	cmd = rw_cmd(NVME_CMD_WRITE, 1, 16, 8, FH_DATA, 0);
	cmd.cid = 12;
	fh_submit(e.fh, &e.q, &cmd);
	fh_run_no_io(e.fh);
	abort_cmd(e.fh, 1, 12, 0x64);
	fh_run(e.fh);
	g_assert_true(fh_poll(e.fh, &e.fh->admin, &cqe));
	g_assert_true(fh_poll(e.fh, &e.q, &cqe));
	g_assert_cmphex(FH_SC(cqe), ==, NVME_SC_ABORT_REQ);
	cmd = rw_cmd(NVME_CMD_READ, 1, 16, 8, FH_DATA, 0);
	cqe = fh_cmd(e.fh, &e.q, &cmd);
	g_assert_cmphex(FH_SC(cqe), ==, 0);
	fh_free(e.fh);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/io/prp1-only", test_prp1_only);
	g_test_add_func("/io/prp2-data", test_prp2_data);
	g_test_add_func("/io/prp-list", test_prp_list);
	g_test_add_func("/io/prp-list-chained", test_prp_list_chained);
	g_test_add_func("/io/prp-list-chain-loop", test_prp_list_chain_loop);
	g_test_add_func("/io/prp-errors", test_prp_errors);
	g_test_add_func("/io/status-errors", test_status_errors);
	g_test_add_func("/io/flush-fua", test_flush_fua);
	g_test_add_func("/io/flush-wc-off", test_flush_wc_off);
	g_test_add_func("/io/compare", test_compare);
	g_test_add_func("/io/write-uncor", test_write_uncor);
	g_test_add_func("/io/dsm", test_dsm);
	g_test_add_func("/io/cq-full", test_cq_full);
	g_test_add_func("/io/sq-refill-beyond-slots", test_sq_refill_beyond_slots);
	g_test_add_func("/io/delete-sq-inflight", test_delete_sq_inflight);
	g_test_add_func("/io/disable-inflight", test_disable_inflight);
	g_test_add_func("/io/disable-pending-delete", test_disable_with_pending_delete);
	g_test_add_func("/io/reset-orphans-late-io", test_reset_orphans_late_io);
	g_test_add_func("/io/orphaned-write-frees-ledger-crcs",
			test_orphaned_write_frees_ledger_crcs);
	g_test_add_func("/io/sync-io-multi-queue", test_sync_io_multi_queue);
	g_test_add_func("/io/lba4k-mps8k", test_lba4k_mps8k);
	g_test_add_func("/io/abort-backend", test_abort_backend);
	g_test_add_func("/io/abort-backend-cancel-wins", test_abort_backend_cancel_wins);
	g_test_add_func("/io/abort-backend-write-done", test_abort_backend_write_done);
	return g_test_run();
}
