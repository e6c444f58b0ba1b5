// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cosim-nvme core: the NVM command set (Read, Write, Flush).  Data moves
 * between guest memory and storage in the host's block layer; the core
 * only validates, maps PRPs and hands over a struct nvme_io.
 */
#include <errno.h>

#include "internal.h"

static void nvme_io_submit(struct nvme_ctrl *ctrl, struct nvme_req *req)
{
	req->state = NVME_REQ_BACKEND;
	req->sq->backend++;
	ctrl->io_inflight++;
	ctrl->ops->io_submit(ctrl->opaque, &req->io);
}

static uint16_t nvme_rw(struct nvme_ctrl *ctrl, struct nvme_req *req, struct nvme_ns *ns)
{
	const struct nvme_sqe *cmd = &req->cmd;
	bool write = cmd->opcode == NVME_CMD_WRITE;
	uint64_t slba = (uint64_t)cmd->cdw11 << 32 | cmd->cdw10;
	uint64_t nlb = (cmd->cdw12 & 0xffff) + 1ull;
	uint64_t len = nlb << ns->lbads;
	unsigned int nsg;
	uint16_t st;

	if (slba >= ns->nlbas || nlb > ns->nlbas - slba)
		return NVME_SC_LBA_RANGE | NVME_DNR;
	if (len > ctrl->max_xfer)
		return NVME_SC_INVALID_FIELD | NVME_DNR;
	st = nvme_req_map(ctrl, req, len);
	if (st)
		return st;
	nsg = req->io.nsg;
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
	nvme_io_submit(ctrl, req);
	return NVME_SC_SUCCESS;
}

static uint16_t nvme_flush(struct nvme_ctrl *ctrl, struct nvme_req *req, struct nvme_ns *ns)
{
	req->io = (struct nvme_io){
		.op = NVME_IO_FLUSH,
		.backend = ns->backend,
	};
	nvme_io_submit(ctrl, req);
	return NVME_SC_SUCCESS;
}

void nvme_io_exec(struct nvme_ctrl *ctrl, struct nvme_req *req)
{
	const struct nvme_sqe *cmd = &req->cmd;
	struct nvme_ns *ns;
	uint16_t st;

	if (cmd->opcode != NVME_CMD_FLUSH && cmd->opcode != NVME_CMD_WRITE &&
	    cmd->opcode != NVME_CMD_READ) {
		st = NVME_SC_INVALID_OPCODE | NVME_DNR;	/* ONCS = 0 */
	} else if (cmd->flags & NVME_FUSE_MASK) {
		st = NVME_SC_INVALID_FIELD | NVME_DNR;
	} else if (!(ns = nvme_ns_get(ctrl, cmd->nsid))) {
		st = NVME_SC_INVALID_NS | NVME_DNR;
	} else if (cmd->opcode == NVME_CMD_FLUSH) {
		st = nvme_flush(ctrl, req, ns);
	} else {
		st = nvme_rw(ctrl, req, ns);
	}
	/* on success the request is (or was) out at the host */
	if (st != NVME_SC_SUCCESS) {
		req->status = st;
		nvme_req_complete(req);
	}
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
		return NVME_SC_READ_ERROR;
	case NVME_IO_WRITE:
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
	if (io->op == NVME_IO_READ) {
		ctrl->host_reads++;
		ctrl->units_read += (io->len + 511) / 512;
	} else if (io->op == NVME_IO_WRITE) {
		ctrl->host_writes++;
		ctrl->units_written += (io->len + 511) / 512;
	}
}

void nvme_io_complete(struct nvme_io *io, int ret)
{
	struct nvme_req *req = container_of(io, struct nvme_req, io);
	struct nvme_sq *sq = req->sq;
	struct nvme_ctrl *ctrl = sq->ctrl;

	if (req->state != NVME_REQ_BACKEND)
		return;		/* a second completion from a confused host */
	if (sq->zombie) {
		nvme_zombie_io_done(req);
		return;
	}
	sq->backend--;
	ctrl->io_inflight--;
	req->state = NVME_REQ_ACTIVE;
	req->status = nvme_io_status(io, ret);
	nvme_io_account(ctrl, io, req->status);
	if ((req->fault_flags & NVME_REQ_F_CORRUPT) && !req->status && io->op == NVME_IO_READ)
		nvme_fault_read_done(ctrl, req);
	nvme_req_complete(req);
	if (sq->deleting)
		nvme_sq_try_free(ctrl, sq);
	nvme_check_idle(ctrl);
}
