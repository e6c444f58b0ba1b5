// SPDX-License-Identifier: GPL-2.0-or-later
#include <glib.h>
#include <string.h>
#include <sys/mman.h>

#include "fake_host.h"

/*
 * Guest RAM and namespace storage: anonymous mappings, zero pages until
 * written, so a host that touches a few pages of them costs a few pages
 * (the fuzzers build a fake host per input).
 */
static uint8_t *fh_zalloc(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	g_assert(p != MAP_FAILED);
	return p;
}

static void fh_zfree(uint8_t *p, size_t len)
{
	if (p)
		munmap(p, len);
}

static int fh_dma_read(void *opaque, uint64_t addr, void *buf, size_t len)
{
	struct fake_host *fh = opaque;

	if (addr >= FH_RAM_SIZE || len > FH_RAM_SIZE - addr)
		return -1;
	memcpy(buf, fh->ram + addr, len);
	return 0;
}

/*
 * A reset from inside one of the core's calls to us, as QEMU's glue does it
 * (the core only marks it), followed by what a nested event loop would run
 * meanwhile, block completions and the scheduled processing: the core must
 * stay inert through both.
 */
static void fh_reset_from_op(struct fake_host *fh)
{
	g_assert_true(nvme_ctrl_in_call(fh->ctrl));
	nvme_ctrl_reset(fh->ctrl);
	fh_complete_io(fh);
	if (fh->scheduled) {
		fh->scheduled = false;
		nvme_ctrl_process(fh->ctrl);
	}
}

static int fh_dma_write(void *opaque, uint64_t addr, const void *buf, size_t len)
{
	struct fake_host *fh = opaque;

	if (addr >= FH_RAM_SIZE || len > FH_RAM_SIZE - addr)
		return -1;
	memcpy(fh->ram + addr, buf, len);
	if (fh->reset_at_dma_write && !--fh->reset_at_dma_write)
		fh_reset_from_op(fh);
	return 0;
}

static bool fh_msix_enabled(void *opaque)
{
	return ((struct fake_host *)opaque)->msix;
}

static void fh_msix_notify(void *opaque, uint16_t vector)
{
	struct fake_host *fh = opaque;

	g_assert_cmpuint(vector, <, G_N_ELEMENTS(fh->msix_count));
	fh->msix_count[vector]++;
	if (fh->reset_at_msix && !--fh->reset_at_msix)
		fh_reset_from_op(fh);
}

static void fh_intx_set(void *opaque, bool level)
{
	((struct fake_host *)opaque)->intx = level;
}

static void fh_schedule(void *opaque)
{
	((struct fake_host *)opaque)->scheduled = true;
}

static void fh_do_io(struct fake_host *fh, struct nvme_io *io)
{
	unsigned int ns = (unsigned int)(uintptr_t)io->backend;
	uint64_t off = io->offset;
	unsigned int i;
	int ret = fh->io_error;

	fh->io_error = 0;
	if (ret) {
		nvme_io_complete(io, ret);
		return;
	}
	g_assert_cmpuint(ns, >=, 1);
	g_assert_cmpuint(ns, <=, FH_MAX_NS);
	if (io->op == NVME_IO_FLUSH) {
		fh->flushes++;
		nvme_io_complete(io, 0);
		return;
	}
	if (io->op == NVME_IO_ZERO) {
		for (i = 0; i < io->nsg; i++) {
			g_assert_cmpuint(io->sg[i].addr + io->sg[i].len, <=, fh->disk_size[ns]);
			memset(fh->disk[ns] + io->sg[i].addr, 0, io->sg[i].len);
		}
		fh->zeroes++;
		nvme_io_complete(io, 0);
		return;
	}
	g_assert_cmpuint(io->offset + io->len, <=, fh->disk_size[ns]);
	if (io->op == NVME_IO_READ_BUF) {
		memcpy(io->buf, fh->disk[ns] + off, io->len);
		nvme_io_complete(io, 0);
		return;
	}
	for (i = 0; i < io->nsg; i++) {
		const struct nvme_sg *sg = &io->sg[i];

		if (sg->addr >= FH_RAM_SIZE || sg->len > FH_RAM_SIZE - sg->addr) {
			nvme_io_complete(io, -14 /* EFAULT */);
			return;
		}
		if (io->op == NVME_IO_READ)
			memcpy(fh->ram + sg->addr, fh->disk[ns] + off, sg->len);
		else
			memcpy(fh->disk[ns] + off, fh->ram + sg->addr, sg->len);
		off += sg->len;
	}
	g_assert_cmpuint(off - io->offset, ==, io->len);
	if (io->op == NVME_IO_WRITE && io->fua)
		fh->fua_writes++;
	nvme_io_complete(io, 0);
}

static void fh_io_submit(void *opaque, struct nvme_io *io)
{
	struct fake_host *fh = opaque;

	if (fh->sync_io) {
		fh_do_io(fh, io);
		return;
	}
	g_assert_cmpuint(fh->npending, <, FH_MAX_IO);
	fh->pending[fh->npending++] = io;
}

/* Like QEMU's DMA parked for a bounce buffer: stopped at once, -ECANCELED. */
static void fh_io_cancel(void *opaque, struct nvme_io *io)
{
	struct fake_host *fh = opaque;
	unsigned int i;

	fh->cancels++;
	if (!fh->cancel_wins)
		return;
	for (i = 0; i < fh->npending; i++) {
		if (fh->pending[i] != io)
			continue;
		memmove(&fh->pending[i], &fh->pending[i + 1],
			(--fh->npending - i) * sizeof(fh->pending[0]));
		nvme_io_complete(io, -125 /* ECANCELED */);
		return;
	}
}

static void fh_guest_error(void *opaque, const char *msg)
{
	struct fake_host *fh = opaque;

	fh->guest_errors++;
	if (g_test_verbose())
		g_printerr("guest error: %s\n", msg);
}

static uint64_t fh_clock_ns(void *opaque)
{
	return ((struct fake_host *)opaque)->now_ns;
}

static void fh_timer_mod(void *opaque, uint64_t deadline_ns)
{
	((struct fake_host *)opaque)->timer_deadline = deadline_ns;
}

void fh_advance(struct fake_host *fh, uint64_t ns)
{
	fh->now_ns += ns;
	if (fh->timer_deadline <= fh->now_ns) {
		fh->timer_deadline = UINT64_MAX;
		nvme_ctrl_timer(fh->ctrl);
	}
	fh_run(fh);
}

static void fh_trace_fault(void *opaque, uint32_t rule, const char *action, uint16_t qid,
			   uint16_t cid)
{
	struct fake_host *fh = opaque;

	g_assert_cmpuint(rule, >, 0);
	g_assert_cmpint(nvme_fault_action_parse(action), >=, 0);
	(void)qid;
	fh->faults_traced++;
	fh->last_fault_cid = cid;
}

static void fh_trace_cmd(void *opaque, uint16_t sqid, uint16_t cid, uint8_t opcode,
			 uint32_t nsid)
{
	struct fake_host *fh = opaque;

	(void)opcode;
	(void)nsid;
	fh->fetched[fh->nfetched++ % FH_FETCH_LOG] = (uint32_t)sqid << 16 | cid;
}

static const struct nvme_host_ops fh_ops = {
	.dma_read = fh_dma_read,
	.dma_write = fh_dma_write,
	.msix_enabled = fh_msix_enabled,
	.msix_notify = fh_msix_notify,
	.intx_set = fh_intx_set,
	.schedule = fh_schedule,
	.io_submit = fh_io_submit,
	.io_cancel = fh_io_cancel,
	.guest_error = fh_guest_error,
	.clock_ns = fh_clock_ns,
	.timer_mod = fh_timer_mod,
	.trace_fault = fh_trace_fault,
	.trace_cmd = fh_trace_cmd,
};

struct fake_host *fh_new(const struct nvme_ctrl_params *p)
{
	struct fake_host *fh = g_new0(struct fake_host, 1);

	if (p)
		fh->params = *p;
	else
		nvme_ctrl_params_default(&fh->params);
	fh->ram = fh_zalloc(FH_RAM_SIZE);
	fh->msix = true;
	fh->timer_deadline = UINT64_MAX;
	fh->ctrl = nvme_ctrl_new(&fh->params, &fh_ops, fh);
	g_assert_nonnull(fh->ctrl);
	return fh;
}

void fh_free(struct fake_host *fh)
{
	unsigned int i;

	fh_complete_io(fh);
	nvme_ctrl_free(fh->ctrl);
	for (i = 0; i <= FH_MAX_NS; i++)
		fh_zfree(fh->disk[i], fh->disk_size[i]);
	fh_zfree(fh->ram, FH_RAM_SIZE);
	g_free(fh);
}

void fh_complete_io(struct fake_host *fh)
{
	while (fh->npending) {
		struct nvme_io *io = fh->pending[0];

		memmove(&fh->pending[0], &fh->pending[1],
			--fh->npending * sizeof(fh->pending[0]));
		fh_do_io(fh, io);
	}
}

void fh_run_no_io(struct fake_host *fh)
{
	unsigned int guard = 0;

	while (fh->scheduled) {
		fh->scheduled = false;
		nvme_ctrl_process(fh->ctrl);
		g_assert_cmpuint(++guard, <, 100000);
	}
}

void fh_run(struct fake_host *fh)
{
	do {
		fh_run_no_io(fh);
		fh_complete_io(fh);
	} while (fh->scheduled);
}

uint32_t fh_attach_ns(struct fake_host *fh, uint32_t nsid, uint8_t lbads, uint64_t nlbas)
{
	struct nvme_ns_params p = { .nsid = nsid, .lbads = lbads, .nlbas = nlbas };
	const char *err = NULL;
	uint32_t id;

	/* backend handle = nsid, so the fake block layer finds its array */
	p.backend = (void *)(uintptr_t)(nsid ? nsid : 1);
	g_assert_cmpuint(nsid, <=, FH_MAX_NS);
	id = nvme_ctrl_ns_attach(fh->ctrl, &p, &err);
	g_assert_cmpuint(id, !=, 0);
	g_assert_cmpuint(id, ==, (uint32_t)(uintptr_t)p.backend);
	fh->disk_size[id] = nlbas << lbads;
	fh->disk[id] = fh_zalloc(fh->disk_size[id]);
	return id;
}

uint32_t fh_rd32(struct fake_host *fh, uint64_t off)
{
	return (uint32_t)nvme_ctrl_mmio_read(fh->ctrl, off, 4);
}

uint64_t fh_rd64(struct fake_host *fh, uint64_t off)
{
	return nvme_ctrl_mmio_read(fh->ctrl, off, 8);
}

void fh_wr32(struct fake_host *fh, uint64_t off, uint32_t val)
{
	nvme_ctrl_mmio_write(fh->ctrl, off, val, 4);
}

void fh_wr64(struct fake_host *fh, uint64_t off, uint64_t val)
{
	nvme_ctrl_mmio_write(fh->ctrl, off, val, 8);
}

void fh_enable(struct fake_host *fh, uint32_t size)
{
	fh->admin = (struct fh_queue){
		.qid = 0, .size = size, .sq_base = FH_ASQ, .cq_base = FH_ACQ, .phase = true,
	};
	memset(fh->ram + FH_ACQ, 0, size * sizeof(struct nvme_cqe));
	fh_wr32(fh, NVME_REG_AQA, (size - 1) << 16 | (size - 1));
	/* as Linux's lo_hi_writeq: two 32-bit halves */
	fh_wr32(fh, NVME_REG_ASQ, FH_ASQ);
	fh_wr32(fh, NVME_REG_ASQ + 4, 0);
	fh_wr32(fh, NVME_REG_ACQ, FH_ACQ);
	fh_wr32(fh, NVME_REG_ACQ + 4, 0);
	fh_wr32(fh, NVME_REG_CC, 6 << 16 | 4 << 20 | NVME_CC_EN);
	g_assert_cmphex(fh_rd32(fh, NVME_REG_CSTS) & (NVME_CSTS_RDY | NVME_CSTS_CFS), ==,
			NVME_CSTS_RDY);
}

void fh_disable(struct fake_host *fh)
{
	fh_wr32(fh, NVME_REG_CC, fh_rd32(fh, NVME_REG_CC) & ~NVME_CC_EN);
}

static uint64_t fh_db(struct fake_host *fh, uint16_t qid, bool cq)
{
	return NVME_REG_DBS + (2u * qid + cq) * (4u << fh->params.dstrd);
}

void fh_submit(struct fake_host *fh, struct fh_queue *q, const struct nvme_sqe *cmd)
{
	memcpy(fh->ram + q->sq_base + q->sq_tail * sizeof(*cmd), cmd, sizeof(*cmd));
	q->sq_tail = (q->sq_tail + 1) % q->size;
	fh_wr32(fh, fh_db(fh, q->qid, false), q->sq_tail);
}

bool fh_poll(struct fake_host *fh, struct fh_queue *q, struct nvme_cqe *cqe)
{
	memcpy(cqe, fh->ram + q->cq_base + q->cq_head * sizeof(*cqe), sizeof(*cqe));
	if ((cqe->status & 1) != q->phase)
		return false;
	if (++q->cq_head == q->size) {
		q->cq_head = 0;
		q->phase = !q->phase;
	}
	fh_wr32(fh, fh_db(fh, q->qid, true), q->cq_head);
	return true;
}

struct nvme_cqe fh_cmd(struct fake_host *fh, struct fh_queue *q, struct nvme_sqe *cmd)
{
	static uint16_t next_cid = 0x100;
	struct nvme_cqe cqe;

	cmd->cid = next_cid++;
	fh_submit(fh, q, cmd);
	fh_run(fh);
	g_assert_true(fh_poll(fh, q, &cqe));
	g_assert_cmphex(cqe.cid, ==, cmd->cid);
	g_assert_cmpuint(cqe.sq_id, ==, q->qid);
	g_assert_cmpuint(cqe.sq_head, ==, q->sq_tail);
	return cqe;
}

uint16_t fh_status(const struct nvme_cqe *cqe)
{
	return cqe->status >> 1;
}

void fh_create_io_pair(struct fake_host *fh, struct fh_queue *q, uint16_t qid, uint32_t size)
{
	struct nvme_sqe cmd;
	struct nvme_cqe cqe;

	*q = (struct fh_queue){
		.qid = qid, .size = size, .phase = true,
		.sq_base = FH_IOSQ + (uint64_t)qid * 0x1000 * 4,
		.cq_base = FH_IOCQ + (uint64_t)qid * 0x1000 * 4,
	};
	g_assert_cmpuint(size * 64, <=, 0x4000);
	memset(fh->ram + q->cq_base, 0, size * sizeof(cqe));

	memset(&cmd, 0, sizeof(cmd));
	cmd.opcode = NVME_ADM_CREATE_CQ;
	cmd.prp1 = q->cq_base;
	cmd.cdw10 = (size - 1) << 16 | qid;
	cmd.cdw11 = (uint32_t)qid << 16 | NVME_CQ_IEN | NVME_QUEUE_PC;
	cqe = fh_cmd(fh, &fh->admin, &cmd);
	g_assert_cmphex(fh_status(&cqe), ==, 0);

	memset(&cmd, 0, sizeof(cmd));
	cmd.opcode = NVME_ADM_CREATE_SQ;
	cmd.prp1 = q->sq_base;
	cmd.cdw10 = (size - 1) << 16 | qid;
	cmd.cdw11 = (uint32_t)qid << 16 | NVME_QUEUE_PC;
	cqe = fh_cmd(fh, &fh->admin, &cmd);
	g_assert_cmphex(fh_status(&cqe), ==, 0);
}
