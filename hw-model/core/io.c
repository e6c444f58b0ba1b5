// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cosim-nvme core: the NVM command set (Flush, Write, Read, Write
 * Uncorrectable, Compare, Dataset Management).  Data moves between guest
 * memory and storage in the host's block layer; the core only validates,
 * maps PRPs and hands over a struct nvme_io.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define NVME_INVALID_FIELD	(NVME_SC_INVALID_FIELD | NVME_DNR)
/* Returned by a handler whose request went out to the host. */
#define NVME_SUBMITTED		0xffff

void nvme_io_submit(struct nvme_ctrl *ctrl, struct nvme_req *req)
{
	req->state = NVME_REQ_BACKEND;
	req->sq->backend++;
	ctrl->io_inflight++;
	ctrl->ops->io_submit(ctrl->opaque, &req->io);
}

static uint64_t nvme_cmd_slba(const struct nvme_sqe *cmd)
{
	return (uint64_t)cmd->cdw11 << 32 | cmd->cdw10;
}

static uint64_t nvme_cmd_nlb(const struct nvme_sqe *cmd)
{
	return (cmd->cdw12 & 0xffff) + 1ull;
}

static bool nvme_lba_ok(const struct nvme_ns *ns, uint64_t slba, uint64_t nlb)
{
	return slba < ns->nlbas && nlb <= ns->nlbas - slba;
}

/* A read of LBAs marked by Write Uncorrectable fails as a media error. */
static uint16_t nvme_uncor_check(struct nvme_ctrl *ctrl, struct nvme_ns *ns,
				 uint64_t slba, uint64_t nlb)
{
	if (!nvme_range_overlaps(&ns->uncor, slba, slba + nlb))
		return NVME_SC_SUCCESS;
	ctrl->media_errors++;
	return NVME_SC_READ_ERROR | NVME_DNR;
}

/* Read, Write and Compare share their fields and checks. */
static uint16_t nvme_rw(struct nvme_ctrl *ctrl, struct nvme_req *req, struct nvme_ns *ns)
{
	const struct nvme_sqe *cmd = &req->cmd;
	bool write = cmd->opcode == NVME_CMD_WRITE;
	bool compare = cmd->opcode == NVME_CMD_COMPARE;
	uint64_t slba = nvme_cmd_slba(cmd);
	uint64_t nlb = nvme_cmd_nlb(cmd);
	uint64_t len = nlb << ns->lbads;
	unsigned int nsg;
	uint16_t st;

	if (!nvme_lba_ok(ns, slba, nlb))
		return NVME_SC_LBA_RANGE | NVME_DNR;
	if (len > ctrl->max_xfer)
		return NVME_INVALID_FIELD;
	if (!write) {
		st = nvme_uncor_check(ctrl, ns, slba, nlb);
		if (st)
			return st;
	}
	st = nvme_req_map(ctrl, req, len);
	if (st)
		return st;
	nsg = req->io.nsg;
	if (write) {
		nvme_ledger_write_start(ctrl, req, ns, slba, nlb, nsg);
		if (req->fault_flags & NVME_REQ_F_LOSE) {
			/* the medium keeps what it had */
			ctrl->stats.writes_lost++;
			return NVME_SC_SUCCESS;
		}
	}
	req->io = (struct nvme_io){
		.op = write ? NVME_IO_WRITE : NVME_IO_READ,
		.backend = ns->backend,
		.offset = slba << ns->lbads,
		.len = len,
		/* with the write cache disabled every write is durable */
		.fua = write && ((cmd->cdw12 & NVME_RW_FUA) ||
				 !(ctrl->feat[NVME_FEAT_VOLATILE_WC] & 1)),
		.sg = req->sg,
		.nsg = nsg,
	};
	if (write && (req->fault_flags & (NVME_REQ_F_TORN | NVME_REQ_F_MISDIRECT)))
		nvme_fault_write_lie(ctrl, req, ns);
	if (write && (req->fault_flags & NVME_REQ_F_STALE_READ)) {
		req->io.stale_read = true;
		ctrl->stats.writes_stale++;
	}
	if (compare) {
		/*
		 * Storage into a buffer of ours, compared with guest memory at
		 * completion.  The host decides how many are out at once, so
		 * their total is bounded: beyond it the model is out of
		 * resources, as a controller with a fixed buffer pool would be.
		 */
		if (ctrl->bounce_bytes + len > NVME_BOUNCE_MAX)
			return NVME_SC_INTERNAL;
		req->buf = malloc(len);
		if (!req->buf)
			return NVME_SC_INTERNAL;
		req->bounce = len;
		ctrl->bounce_bytes += len;
		req->io.op = NVME_IO_READ_BUF;
		req->io.buf = req->buf;
	}
	nvme_io_submit(ctrl, req);
	return NVME_SUBMITTED;
}

static uint16_t nvme_compare_done(struct nvme_ctrl *ctrl, struct nvme_req *req)
{
	const uint8_t *stored = req->buf;
	uint8_t chunk[512];
	unsigned int i;

	for (i = 0; i < req->io.nsg; i++) {
		uint64_t addr = req->sg[i].addr, left = req->sg[i].len;

		while (left) {
			size_t n = left < sizeof(chunk) ? left : sizeof(chunk);

			if (ctrl->ops->dma_read(ctrl->opaque, addr, chunk, n))
				return NVME_SC_DATA_XFER_ERROR;
			if (memcmp(chunk, stored, n))
				return NVME_SC_COMPARE_FAILED;
			stored += n;
			addr += n;
			left -= n;
		}
	}
	return NVME_SC_SUCCESS;
}

static uint16_t nvme_write_uncor(struct nvme_ctrl *ctrl, struct nvme_req *req,
				 struct nvme_ns *ns)
{
	uint64_t slba = nvme_cmd_slba(&req->cmd);
	uint64_t nlb = nvme_cmd_nlb(&req->cmd);

	(void)ctrl;
	if (!nvme_lba_ok(ns, slba, nlb))
		return NVME_SC_LBA_RANGE | NVME_DNR;
	if (!nvme_range_add(&ns->uncor, slba, slba + nlb))
		return NVME_SC_INTERNAL;	/* range set full */
	nvme_ledger_forget(ns, slba, nlb);	/* reads fail there now */
	return NVME_SC_SUCCESS;
}

/*
 * Dataset Management: the integral read/write hints are accepted and
 * ignored; Deallocate zeroes the ranges at the host (which may unmap them)
 * and clears Write Uncorrectable marks there.
 */
static uint16_t nvme_dsm(struct nvme_ctrl *ctrl, struct nvme_req *req, struct nvme_ns *ns)
{
	struct nvme_dsm_range ranges[NVME_DSM_MAX_RANGES];
	unsigned int nr = (req->cmd.cdw10 & 0xff) + 1;
	struct nvme_sg *ext;
	unsigned int i, n = 0;
	uint16_t st;

	st = nvme_dma_from_guest(ctrl, req, ranges, nr * sizeof(ranges[0]));
	if (st)
		return st;
	for (i = 0; i < nr; i++)
		if (ranges[i].nlb && !nvme_lba_ok(ns, ranges[i].slba, ranges[i].nlb))
			return NVME_SC_LBA_RANGE | NVME_DNR;
	if (!(req->cmd.cdw11 & NVME_DSM_AD))
		return NVME_SC_SUCCESS;
	ext = calloc(nr, sizeof(*ext));
	if (!ext)
		return NVME_SC_INTERNAL;
	for (i = 0; i < nr; i++) {
		if (!ranges[i].nlb)
			continue;
		nvme_ledger_forget(ns, ranges[i].slba, ranges[i].nlb);
		ext[n].addr = ranges[i].slba << ns->lbads;
		ext[n].len = (uint64_t)ranges[i].nlb << ns->lbads;
		n++;
	}
	if (!n) {
		free(ext);
		return NVME_SC_SUCCESS;
	}
	req->buf = ext;
	req->io = (struct nvme_io){
		.op = NVME_IO_ZERO,
		.backend = ns->backend,
		.sg = ext,
		.nsg = n,
	};
	nvme_io_submit(ctrl, req);
	return NVME_SUBMITTED;
}

static void nvme_uncor_clear(struct nvme_ctrl *ctrl, struct nvme_ns *ns,
			     uint64_t offset, uint64_t len)
{
	uint64_t slba = offset >> ns->lbads, elba = (offset + len) >> ns->lbads;

	if (!nvme_range_remove(&ns->uncor, slba, elba))
		nvme_guest_error(ctrl, "nsid %u: Write Uncorrectable ranges full (%u), "
				 "a write to LBAs %llu-%llu cleared more marks than it rewrote",
				 ns->nsid, NVME_RANGE_SET_MAX, (unsigned long long)slba,
				 (unsigned long long)elba - 1);
}

/* The LBAs a successful Write or Deallocate rewrote lose their uncorrectable mark. */
static void nvme_uncor_rewritten(struct nvme_ctrl *ctrl, struct nvme_req *req)
{
	struct nvme_ns *ns = nvme_ns_get(ctrl, req->cmd.nsid);
	const struct nvme_io *io = &req->io;
	unsigned int i;

	if (!ns || ns->backend != io->backend || !ns->uncor.n)
		return;
	if (io->op == NVME_IO_WRITE) {
		nvme_uncor_clear(ctrl, ns, io->offset, io->len);
	} else if (io->op == NVME_IO_ZERO) {
		for (i = 0; i < io->nsg; i++)
			nvme_uncor_clear(ctrl, ns, io->sg[i].addr, io->sg[i].len);
	}
}

/* A Deallocate that reached the medium: its ranges read as zeroes. */
static void nvme_ledger_deallocated(struct nvme_ctrl *ctrl, struct nvme_req *req)
{
	struct nvme_ns *ns = nvme_ns_get(ctrl, req->cmd.nsid);
	const struct nvme_io *io = &req->io;
	unsigned int i;

	if (!ns || ns->backend != io->backend || io->op != NVME_IO_ZERO)
		return;
	for (i = 0; i < io->nsg; i++)
		nvme_ledger_zero(ctrl, ns, io->sg[i].addr >> ns->lbads,
				 io->sg[i].len >> ns->lbads);
}

void nvme_io_exec(struct nvme_ctrl *ctrl, struct nvme_req *req)
{
	const struct nvme_sqe *cmd = &req->cmd;
	struct nvme_ns *ns;
	uint16_t st;

	switch (cmd->opcode) {
	case NVME_CMD_FLUSH:
	case NVME_CMD_WRITE:
	case NVME_CMD_READ:
	case NVME_CMD_WRITE_UNCOR:
	case NVME_CMD_COMPARE:
	case NVME_CMD_DSM:
		break;
	default:
		st = NVME_SC_INVALID_OPCODE | NVME_DNR;
		goto done;
	}
	if (cmd->flags & NVME_FUSE_MASK) {
		st = NVME_INVALID_FIELD;
	} else if (!(ns = nvme_ns_get(ctrl, cmd->nsid))) {
		st = NVME_SC_INVALID_NS | NVME_DNR;
	} else if (cmd->opcode == NVME_CMD_FLUSH) {
		/* without a volatile write cache there is nothing to flush */
		if (!(ctrl->feat[NVME_FEAT_VOLATILE_WC] & 1)) {
			st = NVME_SC_SUCCESS;
			goto done;
		}
		req->io = (struct nvme_io){
			.op = NVME_IO_FLUSH,
			.backend = ns->backend,
		};
		nvme_io_submit(ctrl, req);
		st = NVME_SUBMITTED;
	} else if (cmd->opcode == NVME_CMD_WRITE_UNCOR) {
		st = nvme_write_uncor(ctrl, req, ns);
		goto done;
	} else if (cmd->opcode == NVME_CMD_DSM) {
		st = nvme_dsm(ctrl, req, ns);
	} else {
		st = nvme_rw(ctrl, req, ns);
	}
	/* the request is (or was) out at the host */
	if (st == NVME_SUBMITTED)
		return;
done:
	req->status = st;
	nvme_req_complete(req);
}

static uint16_t nvme_io_status(const struct nvme_io *io, int ret)
{
	if (!ret)
		return NVME_SC_SUCCESS;
	if (ret == -EFAULT)
		return NVME_SC_DATA_XFER_ERROR;
	if (ret == -ECANCELED)
		return NVME_SC_ABORT_REQ;	/* the host cancelled it (reset, unplug) */
	switch (io->op) {
	case NVME_IO_READ:
	case NVME_IO_READ_BUF:
		return NVME_SC_READ_ERROR;
	case NVME_IO_WRITE:
	case NVME_IO_ZERO:
		return NVME_SC_WRITE_FAULT;
	default:
		return NVME_SC_INTERNAL;
	}
}

static void nvme_io_account(struct nvme_ctrl *ctrl, const struct nvme_io *io, uint16_t st)
{
	if (st == NVME_SC_READ_ERROR || st == NVME_SC_WRITE_FAULT)
		ctrl->media_errors++;
	if (st)
		return;
	if (io->op == NVME_IO_READ || io->op == NVME_IO_READ_BUF) {
		ctrl->host_reads++;
		ctrl->units_read += (io->len + 511) / 512;
	} else if (io->op == NVME_IO_WRITE) {
		ctrl->host_writes++;
		ctrl->units_written += (io->len + 511) / 512;
	}
}

static void nvme_io_done(struct nvme_ctrl *ctrl, struct nvme_req *req, int ret)
{
	struct nvme_sq *sq = req->sq;
	struct nvme_io *io = &req->io;

	ctrl->io_inflight--;
	req->state = NVME_REQ_ACTIVE;
	req->status = nvme_io_status(io, ret);
	nvme_io_account(ctrl, io, req->status);
	/* a write that reached the medium rewrote its LBAs, aborted or not */
	if (!req->status && sq->qid) {
		nvme_uncor_rewritten(ctrl, req);
		nvme_ledger_deallocated(ctrl, req);
	}
	if (req->fault_flags & NVME_REQ_F_ABORTED) {
		/* the Abort already said it succeeded; data may have moved (spec 5.1) */
		req->status = NVME_SC_ABORT_REQ;
	} else if (!req->status) {
		if ((req->fault_flags & NVME_REQ_F_CORRUPT) && io->op == NVME_IO_READ)
			nvme_fault_read_done(ctrl, req);
		if (io->op == NVME_IO_READ_BUF)
			req->status = nvme_compare_done(ctrl, req);
	}
	/*
	 * Only now is the command no longer out: the DMA above may re-enter
	 * (a write that resets the function makes the host complete other
	 * IO), and a deleting SQ freed by such a completion would take this
	 * request with it.
	 */
	sq->backend--;
	if (sq->qid == 0 && nvme_format_io_done(ctrl, req))
		return;		/* Format NVM erases the next namespace */
	nvme_req_complete(req);
	if (sq->deleting)
		nvme_sq_try_free(ctrl, sq);
	nvme_check_idle(ctrl);
}

void nvme_io_complete(struct nvme_io *io, int ret)
{
	struct nvme_req *req = container_of(io, struct nvme_req, io);
	struct nvme_ctrl *ctrl = req->sq->ctrl;

	if (req->state != NVME_REQ_BACKEND)
		return;		/* a second completion from a confused host */
	if (req->sq->zombie) {
		nvme_zombie_io_done(req);
		return;
	}
	nvme_enter(ctrl);
	nvme_io_done(ctrl, req, ret);
	nvme_leave(ctrl);
}
