// SPDX-License-Identifier: GPL-2.0
/*
 * READ and WRITE (6/10/12/16), SYNCHRONIZE CACHE and UNMAP: the commands
 * that move or drop data, sent as NVMe IO commands whose CID is the blk-mq
 * tag of the SCSI command.
 */
#include <linux/kernel.h>
#include <linux/blk-mq.h>
#include <linux/slab.h>
#include <asm/unaligned.h>
#include <scsi/scsi_device.h>
#include <scsi/scsi_host.h>

#include "xlat.h"

/* Unmap the SCSI data buffer and free the PRP list pages that describe it. */
static void nvme_scsi_unmap(struct nvme_scsi_ctrl *ctrl, struct nvme_scsi_iod *iod)
{
	nvme_scsi_free_prps(ctrl, &iod->prps);
	if (iod->dma_mapped) {
		scsi_dma_unmap(iod->cmd);
		iod->dma_mapped = false;
	}
}

/* A translated IO command's completion (or cancellation) ends it. */
static void nvme_scsi_cmd_end(struct nvme_scsi_queue *q, struct nvme_scsi_req *req,
			      u16 status, union nvme_result result)
{
	struct nvme_scsi_iod *iod = container_of(req, struct nvme_scsi_iod, req);
	struct scsi_cmnd *cmd = iod->cmd;

	nvme_scsi_unmap(q->ctrl, iod);
	nvme_scsi_set_status(cmd, status);
	scsi_done(cmd);
}

/* Does @req belong to a SCSI command (not to one of the driver's own)? */
bool nvme_scsi_is_scsi_req(struct nvme_scsi_req *req)
{
	return req->end == nvme_scsi_cmd_end;
}

/* The IO queue and CID (its blk-mq tag) of @cmd; NULL if it has none. */
struct nvme_scsi_queue *nvme_scsi_cmd_queue(struct nvme_scsi_ctrl *ctrl,
					    struct scsi_cmnd *cmd, u16 *cid)
{
	u32 tag = blk_mq_unique_tag(scsi_cmd_to_rq(cmd));
	u16 hwq = blk_mq_unique_tag_to_hwq(tag);
	struct nvme_scsi_queue *q;

	if (hwq >= ctrl->nr_io_queues)
		return NULL;
	q = &ctrl->queues[hwq + 1];
	*cid = blk_mq_unique_tag_to_tag(tag);
	if (*cid >= q->pt_cid_base)
		return NULL;
	return q;
}

/*
 * Send an NVMe IO command for @cmd; with @data, map the data buffer and
 * build PRPs for @len bytes first. The blk-mq tag of the request is the CID
 * on the SQ of its hardware queue (tags are per hardware queue and fewer than
 * the queue depth; on a queue whose slots are shared with driver commands,
 * a command takes a slot first, so the SQ cannot overflow either way).
 */
static enum nvme_scsi_xlat nvme_scsi_submit_io(struct nvme_scsi_ctrl *ctrl,
					       struct scsi_cmnd *cmd,
					       struct nvme_command *c,
					       bool data, u32 len)
{
	struct nvme_scsi_iod *iod = scsi_cmd_priv(cmd);
	struct nvme_scsi_queue *q;
	u16 cid;
	int ret;

	q = nvme_scsi_cmd_queue(ctrl, cmd, &cid);
	if (!q) {
		dev_err_ratelimited(ctrl->dev, "no IO queue for tag %#x\n",
				    blk_mq_unique_tag(scsi_cmd_to_rq(cmd)));
		cmd->result = DID_ERROR << 16;
		return NVME_SCSI_XLAT_DONE;
	}
	if (cmd->submitter == SUBMITTED_BY_SCSI_ERROR_HANDLER &&
	    nvme_scsi_req_inflight(q, cid, &iod->req)) {
		/* error handling reuses a command the controller still owns */
		dev_err_ratelimited(ctrl->dev, "qid %u cid %u still in flight\n",
				    q->qid, cid);
		cmd->result = DID_ERROR << 16;
		return NVME_SCSI_XLAT_DONE;
	}

	iod->cmd = cmd;
	iod->req.end = nvme_scsi_cmd_end;
	iod->dma_mapped = false;
	iod->abort_sent = false;
	iod->prps.nr = 0;

	if (data) {
		ret = scsi_dma_map(cmd);
		if (ret < 0)
			return NVME_SCSI_XLAT_BUSY;
		if (ret == 0) {
			cmd->result = DID_ERROR << 16;
			return NVME_SCSI_XLAT_DONE;
		}
		iod->dma_mapped = true;
		ret = nvme_scsi_build_prps(ctrl, &iod->prps, c, scsi_sglist(cmd), len,
					   GFP_ATOMIC);
		if (ret) {
			nvme_scsi_unmap(ctrl, iod);
			if (ret == -ENOMEM)
				return NVME_SCSI_XLAT_BUSY;
			cmd->result = DID_ERROR << 16;
			return NVME_SCSI_XLAT_DONE;
		}
		scsi_set_resid(cmd, scsi_bufflen(cmd) - len);
	} else {
		scsi_set_resid(cmd, scsi_bufflen(cmd));
	}

	/* a small SQ shared with driver commands: they go first */
	if (q->shared_slots &&
	    (atomic_read(&q->pt_waiting) || !nvme_scsi_get_slot(q))) {
		nvme_scsi_unmap(ctrl, iod);
		return NVME_SCSI_XLAT_BUSY;
	}
	c->common.command_id = cid;
	if (nvme_scsi_submit(q, c, &iod->req, cmd->flags & SCMD_LAST)) {
		/* queue closed by a reset that started after our state check */
		nvme_scsi_put_slot(q);
		nvme_scsi_unmap(ctrl, iod);
		return NVME_SCSI_XLAT_BUSY;
	}
	return NVME_SCSI_XLAT_SUBMITTED;
}

/*
 * The range of a command that reads or writes @nlb blocks from @lba: within
 * the namespace (SBC-3: a transfer of no blocks is no error, but the LBA is
 * still checked), and of blocks of the size sd knows. False when not, with
 * the sense data set.
 */
bool nvme_scsi_range_ok(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd,
			const struct nvme_scsi_ns *ns, u64 lba, u32 nlb)
{
	if (lba > ns->nsze || nlb > ns->nsze - lba) {
		nvme_scsi_check(cmd, ILLEGAL_REQUEST, 0x21, 0x00);
		return false;
	}
	/*
	 * After a Format NVM, sd sizes commands by the old LBA size until it
	 * has revalidated the disk: such a command would move the wrong
	 * amount of data to or from the wrong place.
	 */
	if (nlb && cmd->device->sector_size &&
	    cmd->device->sector_size != 1U << ns->lba_shift) {
		dev_warn_ratelimited(ctrl->dev,
				     "LUN %llu: command for %u-byte blocks, namespace has %u: refused until sd revalidates\n",
				     cmd->device->lun, cmd->device->sector_size,
				     1U << ns->lba_shift);
		nvme_scsi_invalid_field(cmd);
		return false;
	}
	return true;
}

enum nvme_scsi_xlat nvme_scsi_rw(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd,
				 const struct nvme_scsi_ns *ns)
{
	const u8 *cdb = cmd->cmnd;
	struct nvme_command c = { };
	bool write = false, fua = false;
	u64 lba, len;
	u32 nlb;

	switch (cdb[0]) {
	case WRITE_6:
		write = true;
		fallthrough;
	case READ_6:
		lba = get_unaligned_be24(&cdb[1]) & 0x1fffff;
		nlb = cdb[4] ? cdb[4] : 256;
		break;
	case WRITE_10:
		write = true;
		fallthrough;
	case READ_10:
		lba = get_unaligned_be32(&cdb[2]);
		nlb = get_unaligned_be16(&cdb[7]);
		fua = cdb[1] & 0x08;
		break;
	case WRITE_12:
		write = true;
		fallthrough;
	case READ_12:
		lba = get_unaligned_be32(&cdb[2]);
		nlb = get_unaligned_be32(&cdb[6]);
		fua = cdb[1] & 0x08;
		break;
	case WRITE_16:
		write = true;
		fallthrough;
	case READ_16:
	default:
		lba = get_unaligned_be64(&cdb[2]);
		nlb = get_unaligned_be32(&cdb[10]);
		fua = cdb[1] & 0x08;
		break;
	}

	/* no protection information on any LUN: RDPROTECT/WRPROTECT must be 0 */
	if (cdb[0] != READ_6 && cdb[0] != WRITE_6 && (cdb[1] & 0xe0))
		return nvme_scsi_invalid_field(cmd);
	if (!nvme_scsi_range_ok(ctrl, cmd, ns, lba, nlb))
		return NVME_SCSI_XLAT_DONE;
	if (!nlb)
		return nvme_scsi_copy_out(cmd, NULL, 0, 0);
	len = (u64)nlb << ns->lba_shift;
	if (len > ctrl->max_xfer || len > scsi_bufflen(cmd)) {
		dev_err_ratelimited(ctrl->dev,
				    "LUN %llu: %u blocks (%llu bytes) for a %u byte buffer, max %u\n",
				    cmd->device->lun, nlb, len, scsi_bufflen(cmd),
				    ctrl->max_xfer);
		return nvme_scsi_invalid_field(cmd);
	}

	c.rw.opcode = write ? nvme_cmd_write : nvme_cmd_read;
	c.rw.nsid = cpu_to_le32(ns->nsid);
	c.rw.slba = cpu_to_le64(lba);
	c.rw.length = cpu_to_le16(nlb - 1);
	if (fua)
		c.rw.control = cpu_to_le16(NVME_RW_FUA);
	return nvme_scsi_submit_io(ctrl, cmd, &c, true, len);
}

/* SYNCHRONIZE CACHE(10/16) -> Flush (the whole namespace: NVMe has no range). */
enum nvme_scsi_xlat nvme_scsi_flush(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd,
				    const struct nvme_scsi_ns *ns)
{
	struct nvme_command c = { };

	c.common.opcode = nvme_cmd_flush;
	c.common.nsid = cpu_to_le32(ns->nsid);
	return nvme_scsi_submit_io(ctrl, cmd, &c, false, 0);
}

/* UNMAP -> Dataset Management, Deallocate. */
void nvme_scsi_unmap_cmd(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd,
			 const struct nvme_scsi_ns *ns)
{
	const u8 *cdb = cmd->cmnd;
	unsigned int len = get_unaligned_be16(&cdb[7]), n, i, ndsm;
	struct nvme_dsm_range *ranges;
	struct nvme_command c = { };
	u8 *buf;
	int ret;

	if (cdb[1] & 0x01) {			/* ANCHOR */
		nvme_scsi_invalid_field(cmd);
		return;
	}
	cmd->result = 0;
	if (!len)
		return;
	if (len < 8 || len > scsi_bufflen(cmd) ||
	    len > 8 + NVME_SCSI_MAX_DSM_RANGES * 16) {
		nvme_scsi_param_len_error(cmd);
		return;
	}
	buf = kmalloc(len, GFP_KERNEL);
	ranges = kcalloc(NVME_SCSI_MAX_DSM_RANGES, sizeof(*ranges), GFP_KERNEL);
	if (!buf || !ranges) {
		cmd->result = DID_REQUEUE << 16;
		goto out;
	}
	scsi_sg_copy_to_buffer(cmd, buf, len);
	n = get_unaligned_be16(&buf[2]) / 16;
	if (8 + n * 16 > len) {
		nvme_scsi_param_len_error(cmd);
		goto out;
	}
	for (i = 0, ndsm = 0; i < n; i++) {
		u64 lba = get_unaligned_be64(&buf[8 + 16 * i]);
		u32 nlb = get_unaligned_be32(&buf[8 + 16 * i + 8]);

		/* SBC-3: a descriptor of no blocks is no error, up to LBA = capacity */
		if (lba > ns->nsze || nlb > ns->nsze - lba) {
			nvme_scsi_check(cmd, ILLEGAL_REQUEST, 0x21, 0x00);
			goto out;
		}
		if (!nlb)
			continue;
		ranges[ndsm].cattr = 0;
		ranges[ndsm].nlb = cpu_to_le32(nlb);
		ranges[ndsm].slba = cpu_to_le64(lba);
		ndsm++;
	}
	if (!ndsm)
		goto out;
	c.dsm.opcode = nvme_cmd_dsm;
	c.dsm.nsid = cpu_to_le32(ns->nsid);
	c.dsm.nr = cpu_to_le32(ndsm - 1);
	c.dsm.attributes = cpu_to_le32(NVME_DSMGMT_AD);
	ret = nvme_scsi_deferred_exec(ctrl, true, &c, ranges, ndsm * sizeof(*ranges),
				      true, nvme_scsi_io_timeout * HZ);
	nvme_scsi_deferred_status(cmd, ret);
out:
	kfree(ranges);
	kfree(buf);
}
