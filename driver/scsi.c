// SPDX-License-Identifier: GPL-2.0
/*
 * SCSI host: host template, queuecommand with SCSI -> NVMe translation,
 * NVMe status -> sense data, error handling callbacks.
 */
#include <linux/kernel.h>
#include <linux/blk-mq.h>
#include <linux/blk-mq-pci.h>
#include <linux/slab.h>
#include <linux/workqueue.h>
#include <asm/unaligned.h>
#include <scsi/scsi.h>
#include <scsi/scsi_cmnd.h>
#include <scsi/scsi_device.h>
#include <scsi/scsi_host.h>
#include <scsi/scsi_eh.h>

#include "nvme_scsi.h"

enum nvme_scsi_xlat {
	NVME_SCSI_XLAT_DONE,		/* answered here: call scsi_done() */
	NVME_SCSI_XLAT_SUBMITTED,	/* an NVMe command will complete it */
	NVME_SCSI_XLAT_BUSY,		/* out of resources: midlayer retries */
};

/* ---- sense / status ---------------------------------------------------- */

/* Fixed or descriptor format, as the control mode page's D_SENSE says. */
static int nvme_scsi_desc_sense(struct scsi_cmnd *cmd)
{
	return READ_ONCE(shost_to_ctrl(cmd->device->host)->d_sense);
}

static enum nvme_scsi_xlat nvme_scsi_check(struct scsi_cmnd *cmd, u8 key,
					   u8 asc, u8 ascq)
{
	scsi_build_sense(cmd, nvme_scsi_desc_sense(cmd), key, asc, ascq);
	scsi_set_resid(cmd, scsi_bufflen(cmd));
	return NVME_SCSI_XLAT_DONE;
}

static enum nvme_scsi_xlat nvme_scsi_invalid_field(struct scsi_cmnd *cmd)
{
	return nvme_scsi_check(cmd, ILLEGAL_REQUEST, 0x24, 0x00);
}

/* NVMe completion status -> SCSI result and sense (DESIGN.md table). */
static void nvme_scsi_set_status(struct scsi_cmnd *cmd, u16 status)
{
	u8 key = ILLEGAL_REQUEST, asc = 0, ascq = 0;

	if (nvme_scsi_status_is_driver(status)) {
		/* cancelled by a reset: retry; controller dead: give up */
		cmd->result = (status == NVME_SCSI_SC_CANCELLED ? DID_RESET :
			       DID_NO_CONNECT) << 16;
		return;
	}
	switch (NVME_SCSI_STATUS_CODE(status)) {
	case NVME_SC_SUCCESS:
		cmd->result = 0;
		return;
	case NVME_SC_INVALID_OPCODE:
		asc = 0x20;				/* invalid command op code */
		break;
	case NVME_SC_INVALID_FIELD:
		asc = 0x24;				/* invalid field in CDB */
		break;
	case NVME_SC_DATA_XFER_ERROR:
		key = MEDIUM_ERROR;
		break;
	case NVME_SC_INTERNAL:
		key = HARDWARE_ERROR;
		asc = 0x44;				/* internal target failure */
		break;
	case NVME_SC_ABORT_REQ:
	case NVME_SC_ABORT_QUEUE:
	case NVME_SC_FUSED_FAIL:
	case NVME_SC_FUSED_MISSING:
		key = ABORTED_COMMAND;			/* task aborted */
		break;
	case NVME_SC_INVALID_NS:
		asc = 0x20;
		ascq = 0x09;				/* invalid LU identifier */
		break;
	case NVME_SC_LBA_RANGE:
		asc = 0x21;				/* LBA out of range */
		break;
	case NVME_SC_NS_NOT_READY:
		key = NOT_READY;
		asc = 0x04;				/* LU not ready */
		break;
	case NVME_SC_WRITE_FAULT:
		key = MEDIUM_ERROR;
		asc = 0x03;				/* peripheral write fault */
		break;
	case NVME_SC_READ_ERROR:
		key = MEDIUM_ERROR;
		asc = 0x11;				/* unrecovered read error */
		break;
	case NVME_SC_COMPARE_FAILED:
		key = MISCOMPARE;
		asc = 0x1d;				/* miscompare during verify */
		break;
	default:
		break;
	}
	scsi_build_sense(cmd, nvme_scsi_desc_sense(cmd), key, asc, ascq);
	scsi_set_resid(cmd, scsi_bufflen(cmd));
	/*
	 * DNR: the controller says the same command will fail again.  Sense
	 * data has no such bit and the midlayer retries ABORTED COMMAND and
	 * most MEDIUM ERRORs; REQ_FAILFAST_DEV makes scsi_noretry_cmd() fail
	 * the command at once instead.
	 */
	if (status & NVME_STATUS_DNR)
		scsi_cmd_to_rq(cmd)->cmd_flags |= REQ_FAILFAST_DEV;
}

/* Copy emulated response data into the command's buffer. */
static enum nvme_scsi_xlat nvme_scsi_copy_out(struct scsi_cmnd *cmd,
					      const void *buf, unsigned int len,
					      unsigned int alloc)
{
	unsigned int n = min(len, alloc);

	n = n ? scsi_sg_copy_from_buffer(cmd, buf, n) : 0;
	scsi_set_resid(cmd, scsi_bufflen(cmd) - n);
	cmd->result = 0;
	return NVME_SCSI_XLAT_DONE;
}

/* ---- data transfer: DMA mapping and PRPs ------------------------------- */

static void nvme_scsi_unmap(struct nvme_scsi_ctrl *ctrl, struct nvme_scsi_iod *iod)
{
	while (iod->nr_prp_pages) {
		iod->nr_prp_pages--;
		dma_pool_free(ctrl->prp_pool, iod->prp_list[iod->nr_prp_pages],
			      iod->prp_dma[iod->nr_prp_pages]);
	}
	if (iod->dma_mapped) {
		scsi_dma_unmap(iod->cmd);
		iod->dma_mapped = false;
	}
}

static __le64 *nvme_scsi_prp_page(struct nvme_scsi_ctrl *ctrl,
				  struct nvme_scsi_iod *iod, dma_addr_t *dma)
{
	__le64 *list;

	if (iod->nr_prp_pages == NVME_SCSI_MAX_PRP_PAGES)
		return ERR_PTR(-EINVAL);
	list = dma_pool_alloc(ctrl->prp_pool, GFP_ATOMIC, dma);
	if (!list)
		return ERR_PTR(-ENOMEM);
	iod->prp_list[iod->nr_prp_pages] = list;
	iod->prp_dma[iod->nr_prp_pages] = *dma;
	iod->nr_prp_pages++;
	return list;
}

/*
 * Describe @len bytes of the DMA-mapped scatterlist with PRP1/PRP2 and, past
 * two pages, PRP lists (chained through the last entry of a full list page).
 * PRP rules: only the first entry may start inside a page, and every segment
 * but the last must end on a page boundary. The host template's
 * virt_boundary_mask makes the block layer build such lists; anything else
 * is refused with -EINVAL rather than transferring the wrong bytes.
 */
static int nvme_scsi_build_prps(struct nvme_scsi_ctrl *ctrl,
				struct nvme_scsi_iod *iod, struct nvme_command *c,
				u32 len)
{
	const u32 psz = NVME_SCSI_PAGE_SIZE, pmask = NVME_SCSI_PAGE_SIZE - 1;
	struct scatterlist *sg = scsi_sglist(iod->cmd);
	dma_addr_t addr = sg_dma_address(sg), list_dma;
	u32 seg_len = sg_dma_len(sg);
	u32 first = psz - (addr & pmask);
	__le64 *list;
	unsigned int i;

	c->rw.dptr.prp1 = cpu_to_le64(addr);
	if (len <= first) {
		if (seg_len < len)
			goto bad;
		return 0;
	}
	if (seg_len < first)
		goto bad;
	len -= first;
	if (seg_len > first) {
		addr += first;
		seg_len -= first;
	} else {
		sg = sg_next(sg);
		if (!sg)
			goto bad;
		addr = sg_dma_address(sg);
		seg_len = sg_dma_len(sg);
	}
	if (len <= psz) {
		if ((addr & pmask) || seg_len < len)
			goto bad;
		c->rw.dptr.prp2 = cpu_to_le64(addr);
		return 0;
	}

	list = nvme_scsi_prp_page(ctrl, iod, &list_dma);
	if (IS_ERR(list))
		return PTR_ERR(list);
	c->rw.dptr.prp2 = cpu_to_le64(list_dma);
	i = 0;
	for (;;) {
		if (addr & pmask)
			goto bad;
		if (i == NVME_SCSI_PRPS_PER_PAGE) {
			__le64 *old = list;

			list = nvme_scsi_prp_page(ctrl, iod, &list_dma);
			if (IS_ERR(list))
				return PTR_ERR(list);
			list[0] = old[i - 1];
			old[i - 1] = cpu_to_le64(list_dma);
			i = 1;
		}
		list[i++] = cpu_to_le64(addr);
		if (len <= psz) {
			if (seg_len < len)
				goto bad;
			break;
		}
		len -= psz;
		if (seg_len > psz) {
			addr += psz;
			seg_len -= psz;
		} else {
			if (seg_len != psz)
				goto bad;
			sg = sg_next(sg);
			if (!sg)
				goto bad;
			addr = sg_dma_address(sg);
			seg_len = sg_dma_len(sg);
		}
	}
	return 0;

bad:
	dev_err_ratelimited(ctrl->dev,
			    "scatterlist of %u segment(s), %u bytes, cannot be described by PRPs\n",
			    scsi_sg_count(iod->cmd), scsi_bufflen(iod->cmd));
	return -EINVAL;
}

static void nvme_scsi_cmd_end(struct nvme_scsi_queue *q, struct nvme_scsi_req *req,
			      u16 status, union nvme_result result)
{
	struct nvme_scsi_iod *iod = container_of(req, struct nvme_scsi_iod, req);
	struct scsi_cmnd *cmd = iod->cmd;

	nvme_scsi_unmap(q->ctrl, iod);
	nvme_scsi_set_status(cmd, status);
	scsi_done(cmd);
}

static struct nvme_scsi_queue *nvme_scsi_cmd_queue(struct nvme_scsi_ctrl *ctrl,
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
 * the queue depth, so the SQ cannot overflow).
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
	iod->nr_prp_pages = 0;

	if (data) {
		ret = scsi_dma_map(cmd);
		if (ret < 0)
			return NVME_SCSI_XLAT_BUSY;
		if (ret == 0) {
			cmd->result = DID_ERROR << 16;
			return NVME_SCSI_XLAT_DONE;
		}
		iod->dma_mapped = true;
		ret = nvme_scsi_build_prps(ctrl, iod, c, len);
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

/* ---- READ / WRITE ------------------------------------------------------ */

static enum nvme_scsi_xlat nvme_scsi_rw(struct nvme_scsi_ctrl *ctrl,
					struct scsi_cmnd *cmd,
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
	/* SBC-3: no blocks is no error, but the LBA is still checked */
	if (lba > ns->nsze || nlb > ns->nsze - lba)
		return nvme_scsi_check(cmd, ILLEGAL_REQUEST, 0x21, 0x00);
	if (!nlb)
		return nvme_scsi_copy_out(cmd, NULL, 0, 0);
	/*
	 * After a Format NVM, sd sizes commands by the old LBA size until it
	 * has revalidated the disk: such a command would move the wrong
	 * amount of data to or from the wrong place.
	 */
	if (cmd->device->sector_size && cmd->device->sector_size != 1U << ns->lba_shift) {
		dev_warn_ratelimited(ctrl->dev,
				     "LUN %llu: command for %u-byte blocks, namespace has %u: refused until sd revalidates\n",
				     cmd->device->lun, cmd->device->sector_size,
				     1U << ns->lba_shift);
		return nvme_scsi_invalid_field(cmd);
	}
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

static enum nvme_scsi_xlat nvme_scsi_flush(struct nvme_scsi_ctrl *ctrl,
					   struct scsi_cmnd *cmd,
					   const struct nvme_scsi_ns *ns)
{
	struct nvme_command c = { };

	c.common.opcode = nvme_cmd_flush;
	c.common.nsid = cpu_to_le32(ns->nsid);
	return nvme_scsi_submit_io(ctrl, cmd, &c, false, 0);
}

/* ---- emulated commands ------------------------------------------------- */

static void nvme_scsi_put_str(u8 *dst, const char *src, size_t len)
{
	size_t n = strnlen(src, len);

	memset(dst, ' ', len);
	memcpy(dst, src, n);
}

static enum nvme_scsi_xlat nvme_scsi_std_inquiry(struct nvme_scsi_ctrl *ctrl,
						 struct scsi_cmnd *cmd,
						 const struct nvme_scsi_ns *ns,
						 unsigned int alloc)
{
	/* version descriptors (SPC-4 7.6.2): SAM-5, SPC-4, SBC-3 */
	static const u16 versions[] = { 0x00a0, 0x0460, 0x04c0 };
	u8 buf[74] = { };
	unsigned int i;

	buf[0] = ns ? TYPE_DISK : TYPE_NO_LUN;	/* PQ 011b + 1Fh when no namespace */
	buf[2] = 0x06;				/* SPC-4 */
	buf[3] = 0x02;				/* response data format */
	buf[4] = sizeof(buf) - 5;
	buf[7] = 0x02;				/* CMDQUE */
	nvme_scsi_put_str(&buf[8], "NVMe", 8);
	nvme_scsi_put_str(&buf[16], ctrl->mn, 16);
	/* revision: the last four characters of the firmware revision */
	nvme_scsi_put_str(&buf[32], ctrl->fr + strlen(ctrl->fr) - min_t(size_t, strlen(ctrl->fr), 4), 4);
	for (i = 0; i < ARRAY_SIZE(versions); i++)
		put_unaligned_be16(versions[i], &buf[58 + 2 * i]);
	return nvme_scsi_copy_out(cmd, buf, sizeof(buf), alloc);
}

static bool nvme_scsi_nonzero(const u8 *p, size_t len)
{
	return memchr_inv(p, 0, len) != NULL;
}

static const u8 nvme_scsi_vpd_pages[] = { 0x00, 0x80, 0x83, 0x86, 0xb0, 0xb1, 0xb2 };

/* Dataset Management (deallocate) backs UNMAP / logical block provisioning. */
static bool nvme_scsi_has_dsm(struct nvme_scsi_ctrl *ctrl)
{
	return ctrl->oncs & NVME_CTRL_ONCS_DSM;
}

#define NVME_SCSI_MAX_DSM_RANGES	(NVME_SCSI_PAGE_SIZE / sizeof(struct nvme_dsm_range))

static enum nvme_scsi_xlat nvme_scsi_vpd(struct nvme_scsi_ctrl *ctrl,
					 struct scsi_cmnd *cmd,
					 const struct nvme_scsi_ns *ns, u8 page,
					 unsigned int alloc)
{
	u8 buf[128] = { };
	unsigned int len = 4, n;
	u8 *d;

	buf[0] = TYPE_DISK;
	buf[1] = page;
	switch (page) {
	case 0x00:	/* supported pages */
		memcpy(&buf[4], nvme_scsi_vpd_pages, sizeof(nvme_scsi_vpd_pages));
		len += sizeof(nvme_scsi_vpd_pages) - (nvme_scsi_has_dsm(ctrl) ? 0 : 1);
		break;
	case 0x80:	/* unit serial number: controller serial + NSID */
		n = scnprintf(&buf[4], sizeof(buf) - 4, "%s_%08x", ctrl->sn, ns->nsid);
		len += n;
		break;
	case 0x83:	/* device identification */
		d = &buf[4];
		if (nvme_scsi_nonzero(ns->nguid, sizeof(ns->nguid))) {
			d[0] = 0x01;		/* binary */
			d[1] = 0x02;		/* LU, EUI-64 based */
			d[3] = sizeof(ns->nguid);
			memcpy(&d[4], ns->nguid, sizeof(ns->nguid));
			d += 4 + sizeof(ns->nguid);
		} else if (nvme_scsi_nonzero(ns->eui64, sizeof(ns->eui64))) {
			d[0] = 0x01;
			d[1] = 0x02;
			d[3] = sizeof(ns->eui64);
			memcpy(&d[4], ns->eui64, sizeof(ns->eui64));
			d += 4 + sizeof(ns->eui64);
		}
		/* T10 vendor ID: "NVMe" + model + serial + NSID, always present */
		d[0] = 0x02;			/* ASCII */
		d[1] = 0x01;			/* LU, T10 vendor ID */
		nvme_scsi_put_str(&d[4], "NVMe", 8);
		nvme_scsi_put_str(&d[12], ctrl->mn, 40);
		nvme_scsi_put_str(&d[52], ctrl->sn, 20);
		snprintf(&d[72], 9, "%08x", ns->nsid);
		d[3] = 8 + 40 + 20 + 8;
		d += 4 + d[3];
		len = d - buf;
		break;
	case 0x86:	/* extended INQUIRY data */
		len = 0x40;
		buf[5] = 0x07;			/* HEADSUP ORDSUP SIMPSUP */
		if (ctrl->vwc_present)
			buf[6] = 0x01;		/* V_SUP: volatile cache */
		break;
	case 0xb0:	/* block limits */
		len = 0x40;
		put_unaligned_be32(ctrl->max_xfer >> ns->lba_shift, &buf[8]);
		if (nvme_scsi_has_dsm(ctrl)) {
			/* max unmap LBA count, max unmap block descriptors */
			put_unaligned_be32(0xffffffff, &buf[20]);
			put_unaligned_be32(NVME_SCSI_MAX_DSM_RANGES, &buf[24]);
		}
		break;
	case 0xb2:	/* logical block provisioning */
		if (!nvme_scsi_has_dsm(ctrl))
			return nvme_scsi_invalid_field(cmd);
		len = 8;
		buf[5] = 0x80;			/* LBPU: UNMAP */
		break;
	case 0xb1:	/* block device characteristics */
		len = 0x40;
		put_unaligned_be16(0x0001, &buf[4]);	/* non-rotating medium */
		break;
	default:
		return nvme_scsi_invalid_field(cmd);
	}
	put_unaligned_be16(len - 4, &buf[2]);
	return nvme_scsi_copy_out(cmd, buf, len, alloc);
}

static enum nvme_scsi_xlat nvme_scsi_inquiry(struct nvme_scsi_ctrl *ctrl,
					     struct scsi_cmnd *cmd,
					     const struct nvme_scsi_ns *ns)
{
	const u8 *cdb = cmd->cmnd;
	unsigned int alloc = get_unaligned_be16(&cdb[3]);

	if (cdb[1] & 0x02)			/* CMDDT */
		return nvme_scsi_invalid_field(cmd);
	if (!(cdb[1] & 0x01)) {
		if (cdb[2])
			return nvme_scsi_invalid_field(cmd);
		return nvme_scsi_std_inquiry(ctrl, cmd, ns, alloc);
	}
	if (!ns)
		return nvme_scsi_check(cmd, ILLEGAL_REQUEST, 0x25, 0x00);
	return nvme_scsi_vpd(ctrl, cmd, ns, cdb[2], alloc);
}

static enum nvme_scsi_xlat nvme_scsi_read_capacity(struct nvme_scsi_ctrl *ctrl,
						   struct scsi_cmnd *cmd,
						   const struct nvme_scsi_ns *ns)
{
	const u8 *cdb = cmd->cmnd;
	u64 last = ns->nsze - 1;
	u8 buf[32] = { };

	if (cdb[0] == READ_CAPACITY) {
		put_unaligned_be32(min_t(u64, last, 0xffffffff), &buf[0]);
		put_unaligned_be32(1U << ns->lba_shift, &buf[4]);
		return nvme_scsi_copy_out(cmd, buf, 8, 8);
	}
	/* SERVICE ACTION IN(16) / READ CAPACITY(16) */
	if ((cdb[1] & 0x1f) != SAI_READ_CAPACITY_16)
		return nvme_scsi_invalid_field(cmd);
	put_unaligned_be64(last, &buf[0]);
	put_unaligned_be32(1U << ns->lba_shift, &buf[8]);
	if (nvme_scsi_has_dsm(ctrl))
		buf[14] = 0x80;			/* LBPME */
	return nvme_scsi_copy_out(cmd, buf, sizeof(buf),
				  get_unaligned_be32(&cdb[10]));
}

static enum nvme_scsi_xlat nvme_scsi_report_luns_cmd(struct nvme_scsi_ctrl *ctrl,
						     struct scsi_cmnd *cmd)
{
	const u8 *cdb = cmd->cmnd;
	unsigned int alloc = get_unaligned_be32(&cdb[6]);
	unsigned int size = 8 + 8 * ctrl->nr_luns, len;
	enum nvme_scsi_xlat ret;
	u8 *buf;

	if (alloc < 4)		/* SPC-4 */
		return nvme_scsi_invalid_field(cmd);
	buf = kmalloc(size, GFP_ATOMIC);
	if (!buf)
		return NVME_SCSI_XLAT_BUSY;
	len = nvme_scsi_report_luns(ctrl, cdb[2], buf, size);
	if (!len)
		ret = nvme_scsi_invalid_field(cmd);
	else
		ret = nvme_scsi_copy_out(cmd, buf, len, alloc);
	kfree(buf);
	return ret;
}

static enum nvme_scsi_xlat nvme_scsi_request_sense(struct scsi_cmnd *cmd)
{
	const u8 *cdb = cmd->cmnd;
	bool desc = cdb[1] & 0x01;
	u8 buf[18] = { };

	scsi_build_sense_buffer(desc, buf, NO_SENSE, 0, 0);
	return nvme_scsi_copy_out(cmd, buf, desc ? 8 : 18, cdb[4]);
}

/*
 * MODE SENSE(6/10): caching (08h), control (0Ah), informational exceptions
 * control (1Ch) and all (3Fh) pages.
 */
static unsigned int nvme_scsi_mode_page(struct nvme_scsi_ctrl *ctrl, u8 page,
					u8 pc, u8 *p)
{
	bool changeable = pc == 1;

	switch (page) {
	case 0x08:
		memset(p, 0, 20);
		p[0] = 0x08;
		p[1] = 0x12;
		if (changeable ? ctrl->vwc_present :
		    (pc == 0 ? ctrl->vwc_enabled : ctrl->vwc_present))
			p[2] = 0x04;		/* WCE (default: cache on if present) */
		return 20;
	case 0x0a:
		memset(p, 0, 12);
		p[0] = 0x0a;
		p[1] = 0x0a;
		if (changeable) {
			p[2] = 0x04;		/* D_SENSE can be changed */
		} else {
			if (pc == 0 && ctrl->d_sense)
				p[2] = 0x04;	/* D_SENSE */
			p[3] = 0x10;		/* unrestricted reordering */
		}
		return 12;
	case 0x1c:
		/*
		 * As the Translation Reference has it: DEXCPT 0 (exceptions are
		 * reported, so health tools see SMART as enabled) and MRIE 0 (only
		 * on request: LOG SENSE 2Fh); nothing changeable.
		 */
		memset(p, 0, 12);
		p[0] = 0x1c;
		p[1] = 0x0a;
		return 12;
	}
	return 0;
}

static enum nvme_scsi_xlat nvme_scsi_mode_sense(struct nvme_scsi_ctrl *ctrl,
						struct scsi_cmnd *cmd,
						const struct nvme_scsi_ns *ns)
{
	const u8 *cdb = cmd->cmnd;
	bool ten = cdb[0] == MODE_SENSE_10;
	bool dbd = cdb[1] & 0x08, llbaa = ten && (cdb[1] & 0x10);
	u8 pc = cdb[2] >> 6, page = cdb[2] & 0x3f, subpage = cdb[3];
	unsigned int alloc = ten ? get_unaligned_be16(&cdb[7]) : cdb[4];
	unsigned int hdr = ten ? 8 : 4, off, bd_len = 0;
	u8 buf[8 + 16 + 20 + 12 + 12] = { };

	if (pc == 3)
		return nvme_scsi_check(cmd, ILLEGAL_REQUEST, 0x39, 0x00);
	if (subpage && !(page == 0x3f && subpage == 0xff))
		return nvme_scsi_invalid_field(cmd);
	if (page != 0x08 && page != 0x0a && page != 0x1c && page != 0x3f)
		return nvme_scsi_invalid_field(cmd);

	off = hdr;
	if (!dbd) {
		if (llbaa) {
			put_unaligned_be64(ns->nsze, &buf[off]);
			put_unaligned_be32(1U << ns->lba_shift, &buf[off + 12]);
			bd_len = 16;
		} else {
			put_unaligned_be32(min_t(u64, ns->nsze, 0xffffffff), &buf[off]);
			put_unaligned_be24(1U << ns->lba_shift, &buf[off + 5]);
			bd_len = 8;
		}
		off += bd_len;
	}
	if (page == 0x08 || page == 0x3f)
		off += nvme_scsi_mode_page(ctrl, 0x08, pc, &buf[off]);
	if (page == 0x0a || page == 0x3f)
		off += nvme_scsi_mode_page(ctrl, 0x0a, pc, &buf[off]);
	if (page == 0x1c || page == 0x3f)
		off += nvme_scsi_mode_page(ctrl, 0x1c, pc, &buf[off]);

	if (ten) {
		put_unaligned_be16(off - 2, &buf[0]);
		buf[3] = 0x10;			/* DPOFUA */
		if (bd_len == 16)
			buf[4] = 0x01;		/* LONGLBA */
		put_unaligned_be16(bd_len, &buf[6]);
	} else {
		buf[0] = off - 1;
		buf[2] = 0x10;			/* DPOFUA */
		buf[3] = bd_len;
	}
	return nvme_scsi_copy_out(cmd, buf, off, alloc);
}

/* ---- queuecommand ------------------------------------------------------ */

static bool nvme_scsi_get_ns(struct nvme_scsi_ctrl *ctrl, u64 lun,
			     struct nvme_scsi_ns *copy)
{
	struct nvme_scsi_ns *ns;
	bool found = false;

	if (lun >= ctrl->nr_luns)
		return false;
	rcu_read_lock();
	ns = rcu_dereference(ctrl->ns[lun]);
	if (ns) {
		*copy = *ns;
		found = true;
	}
	rcu_read_unlock();
	return found;
}

/* ---- commands translated in process context ---------------------------- */

/*
 * MODE SELECT, LOG SENSE, START STOP UNIT, UNMAP, WRITE BUFFER and FORMAT
 * UNIT need an NVMe admin command, parameter data or both: queuecommand
 * hands them to a work item, which runs the NVMe command(s) with a driver
 * CID (admin slot or passthrough CID of an IO queue) and then ends the SCSI
 * command. The block-layer timer is re-armed while the work runs; the NVMe
 * commands have their own timeouts (and a timeout there resets the
 * controller).
 */

/* NVMe command for a deferred SCSI command; @data is copied in or out. */
static int nvme_scsi_deferred_exec(struct nvme_scsi_ctrl *ctrl, bool io,
				   struct nvme_command *c, void *data, u32 len,
				   bool to_dev, u64 *result, unsigned long timeout)
{
	struct nvme_scsi_pt_buf b;
	struct nvme_scsi_queue *q;
	int ret;

	if (nvme_scsi_state(ctrl) != NVME_SCSI_LIVE)
		return -EINTR;
	if (len) {
		ret = nvme_scsi_pt_buf_alloc(ctrl, &b, len, c);
		if (ret)
			return ret;
		if (to_dev)
			memcpy(b.cpu, data, len);
	}
	q = io ? nvme_scsi_pt_io_queue(ctrl) : &ctrl->queues[0];
	ret = nvme_scsi_exec(ctrl, q, c, result, timeout);
	if (len) {
		if (!ret && !to_dev)
			memcpy(data, b.cpu, len);
		nvme_scsi_pt_buf_free(ctrl, &b);
	}
	return ret;
}

/* Result of nvme_scsi_deferred_exec() as a SCSI result; true if GOOD. */
static bool nvme_scsi_deferred_status(struct scsi_cmnd *cmd, int ret)
{
	if (ret > 0) {
		nvme_scsi_set_status(cmd, ret);
		return false;
	}
	switch (ret) {
	case 0:
		cmd->result = 0;
		return true;
	case -ENODEV:
		cmd->result = DID_NO_CONNECT << 16;
		break;
	case -ENOMEM:
	case -EBUSY:
		cmd->result = DID_REQUEUE << 16;
		break;
	default:	/* cancelled or timed out: the controller is being reset */
		cmd->result = DID_RESET << 16;
		break;
	}
	return false;
}

static void nvme_scsi_bad_param(struct scsi_cmnd *cmd)
{
	nvme_scsi_check(cmd, ILLEGAL_REQUEST, 0x26, 0x00);	/* invalid field in parameter list */
}

static void nvme_scsi_param_len_error(struct scsi_cmnd *cmd)
{
	nvme_scsi_check(cmd, ILLEGAL_REQUEST, 0x1a, 0x00);	/* parameter list length error */
}

/* Set Features 06h: volatile write cache on/off. */
static bool nvme_scsi_set_wce(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd,
			      bool wce)
{
	struct nvme_command c = { };
	int ret;

	c.features.opcode = nvme_admin_set_features;
	c.features.fid = cpu_to_le32(NVME_FEAT_VOLATILE_WC);
	c.features.dword11 = cpu_to_le32(wce ? 1 : 0);
	ret = nvme_scsi_deferred_exec(ctrl, false, &c, NULL, 0, false, NULL,
				      nvme_scsi_admin_timeout * HZ);
	if (!nvme_scsi_deferred_status(cmd, ret))
		return false;
	WRITE_ONCE(ctrl->vwc_enabled, wce);
	dev_info(ctrl->dev, "volatile write cache %s (MODE SELECT)\n",
		 wce ? "enabled" : "disabled");
	return true;
}

/*
 * MODE SELECT(6/10): caching page WCE -> Set Features 06h; control D_SENSE;
 * informational exceptions control only as it is (nothing there changes).
 */
static void nvme_scsi_mode_select(struct nvme_scsi_ctrl *ctrl,
				  struct scsi_cmnd *cmd)
{
	const u8 *cdb = cmd->cmnd;
	bool ten = cdb[0] == MODE_SELECT_10;
	unsigned int len = ten ? get_unaligned_be16(&cdb[7]) : cdb[4];
	unsigned int hdr = ten ? 8 : 4, off;
	u8 buf[256];

	if (!(cdb[1] & 0x10) || (cdb[1] & 0x01)) {	/* PF=0 or SP=1 */
		nvme_scsi_invalid_field(cmd);
		return;
	}
	cmd->result = 0;
	if (!len)
		return;
	if (len > sizeof(buf) || len > scsi_bufflen(cmd) || len < hdr) {
		nvme_scsi_param_len_error(cmd);
		return;
	}
	scsi_sg_copy_to_buffer(cmd, buf, len);
	off = hdr + (ten ? get_unaligned_be16(&buf[6]) : buf[3]);
	while (off < len) {
		u8 page = buf[off] & 0x3f, plen;

		if (off + 2 > len || (buf[off] & 0x40)) {	/* SPF: no subpages */
			nvme_scsi_bad_param(cmd);
			return;
		}
		plen = buf[off + 1];
		if (off + 2 + plen > len) {
			nvme_scsi_param_len_error(cmd);
			return;
		}
		switch (page) {
		case 0x08: {
			bool wce;

			if (plen < 0x12) {
				nvme_scsi_bad_param(cmd);
				return;
			}
			wce = buf[off + 2] & 0x04;
			if (wce == READ_ONCE(ctrl->vwc_enabled))
				break;
			if (!ctrl->vwc_present) {
				nvme_scsi_bad_param(cmd);
				return;
			}
			if (!nvme_scsi_set_wce(ctrl, cmd, wce))
				return;
			break;
		}
		case 0x0a:
			if (plen < 0x0a) {
				nvme_scsi_bad_param(cmd);
				return;
			}
			WRITE_ONCE(ctrl->d_sense, !!(buf[off + 2] & 0x04));
			break;
		case 0x1c:
			if (plen < 0x0a || memchr_inv(&buf[off + 2], 0, plen)) {
				nvme_scsi_bad_param(cmd);
				return;
			}
			break;
		default:
			nvme_scsi_bad_param(cmd);
			return;
		}
		off += 2 + plen;
	}
	cmd->result = 0;
}

static const u8 nvme_scsi_log_pages[] = { 0x00, 0x0d, 0x2f };

/* LOG SENSE: supported pages, temperature (0Dh), informational exceptions (2Fh). */
static void nvme_scsi_log_sense(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd)
{
	const u8 *cdb = cmd->cmnd;
	u8 page = cdb[2] & 0x3f, subpage = cdb[3];
	unsigned int alloc = get_unaligned_be16(&cdb[7]), len;
	struct nvme_smart_log *smart;
	struct nvme_command c = { };
	u8 buf[16] = { };
	int temp, ret;

	if ((cdb[1] & 0x01) || subpage) {	/* PPC, subpages */
		nvme_scsi_invalid_field(cmd);
		return;
	}
	buf[0] = page;
	if (page == 0x00) {
		memcpy(&buf[4], nvme_scsi_log_pages, sizeof(nvme_scsi_log_pages));
		len = 4 + sizeof(nvme_scsi_log_pages);
		put_unaligned_be16(len - 4, &buf[2]);
		nvme_scsi_copy_out(cmd, buf, len, alloc);
		return;
	}
	if (page != 0x0d && page != 0x2f) {
		nvme_scsi_invalid_field(cmd);
		return;
	}

	smart = kzalloc(sizeof(*smart), GFP_KERNEL);
	if (!smart) {
		cmd->result = DID_REQUEUE << 16;
		return;
	}
	c.get_log_page.opcode = nvme_admin_get_log_page;
	c.get_log_page.nsid = cpu_to_le32(NVME_NSID_ALL);
	c.get_log_page.lid = NVME_LOG_SMART;
	c.get_log_page.numdl = cpu_to_le16(sizeof(*smart) / 4 - 1);
	ret = nvme_scsi_deferred_exec(ctrl, false, &c, smart, sizeof(*smart),
				      false, NULL, nvme_scsi_admin_timeout * HZ);
	if (!nvme_scsi_deferred_status(cmd, ret)) {
		kfree(smart);
		return;
	}
	/* composite temperature in Kelvin -> Celsius, FFh if unknown */
	temp = get_unaligned_le16(smart->temperature);
	temp = temp ? clamp(temp - 273, 0, 0xfe) : 0xff;

	if (page == 0x0d) {
		/* 0000h temperature, 0001h reference temperature (unknown) */
		u8 params[] = { 0x00, 0x00, 0x03, 0x02, 0x00, temp,
				0x00, 0x01, 0x03, 0x02, 0x00, 0xff };

		memcpy(&buf[4], params, sizeof(params));
		len = 4 + sizeof(params);
	} else {
		/*
		 * 0000h general: IE ASC/ASCQ (5Dh/00h on a critical warning),
		 * temperature, threshold temperature (not available)
		 */
		u8 params[] = { 0x00, 0x00, 0x03, 0x04,
				smart->critical_warning ? 0x5d : 0x00, 0x00, temp, 0xff };

		memcpy(&buf[4], params, sizeof(params));
		len = 4 + sizeof(params);
	}
	put_unaligned_be16(len - 4, &buf[2]);
	kfree(smart);
	nvme_scsi_copy_out(cmd, buf, len, alloc);
}

/* START STOP UNIT: stopping flushes the volatile cache (power states unused). */
static void nvme_scsi_start_stop(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd,
				 const struct nvme_scsi_ns *ns)
{
	const u8 *cdb = cmd->cmnd;
	struct nvme_command c = { };
	int ret;

	if (cdb[4] & 0x02) {			/* LOEJ: nothing to eject */
		nvme_scsi_invalid_field(cmd);
		return;
	}
	cmd->result = 0;
	if ((cdb[4] & 0xf1) || !READ_ONCE(ctrl->vwc_enabled))
		return;				/* START or a power condition */
	c.common.opcode = nvme_cmd_flush;
	c.common.nsid = cpu_to_le32(ns->nsid);
	ret = nvme_scsi_deferred_exec(ctrl, true, &c, NULL, 0, false, NULL,
				      nvme_scsi_io_timeout * HZ);
	nvme_scsi_deferred_status(cmd, ret);
}

/* UNMAP -> Dataset Management, Deallocate. */
static void nvme_scsi_unmap_cmd(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd,
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
				      true, NULL, nvme_scsi_io_timeout * HZ);
	nvme_scsi_deferred_status(cmd, ret);
out:
	kfree(ranges);
	kfree(buf);
}

/* Firmware Activate (Commit): @action 1 = replace + activate at reset, 2 = activate. */
static void nvme_scsi_fw_activate(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd,
				  u8 action, u8 slot)
{
	struct nvme_command c = { };
	int ret;

	c.common.opcode = nvme_admin_activate_fw;
	c.common.cdw10 = cpu_to_le32((action << 3) | (slot & 0x7));
	ret = nvme_scsi_deferred_exec(ctrl, false, &c, NULL, 0, false, NULL,
				      nvme_scsi_admin_timeout * HZ);
	nvme_scsi_deferred_status(cmd, ret);
}

/* Firmware Image Download of the command's data, in max_xfer pieces. */
static bool nvme_scsi_fw_download(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd,
				  u32 offset, u32 len)
{
	u32 done = 0, chunk = min_t(u32, len, ctrl->max_xfer);
	void *buf;
	int ret = 0;

	buf = kvmalloc(chunk, GFP_KERNEL);
	if (!buf) {
		cmd->result = DID_REQUEUE << 16;
		return false;
	}
	while (done < len) {
		struct nvme_command c = { };
		u32 n = min(len - done, chunk);

		sg_pcopy_to_buffer(scsi_sglist(cmd), scsi_sg_count(cmd), buf, n, done);
		c.dlfw.opcode = nvme_admin_download_fw;
		c.dlfw.numd = cpu_to_le32(n / 4 - 1);
		c.dlfw.offset = cpu_to_le32((offset + done) / 4);
		ret = nvme_scsi_deferred_exec(ctrl, false, &c, buf, n, true, NULL,
					      nvme_scsi_admin_timeout * HZ);
		if (ret)
			break;
		done += n;
	}
	kvfree(buf);
	return nvme_scsi_deferred_status(cmd, ret);
}

/* WRITE BUFFER: 05h download + activate, 0Eh download with offsets, 0Fh activate. */
static void nvme_scsi_write_buffer(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd)
{
	const u8 *cdb = cmd->cmnd;
	u8 mode = cdb[1] & 0x1f, id = cdb[2];
	u32 offset = get_unaligned_be24(&cdb[3]), len = get_unaligned_be24(&cdb[6]);

	switch (mode) {
	case 0x05:
	case 0x0e:
		if ((mode == 0x05 && offset) || (offset & 3) || (len & 3) ||
		    !len || len > scsi_bufflen(cmd)) {
			nvme_scsi_invalid_field(cmd);
			return;
		}
		if (!nvme_scsi_fw_download(ctrl, cmd, offset, len))
			return;
		if (mode == 0x05)
			nvme_scsi_fw_activate(ctrl, cmd, 1, 0);
		return;
	case 0x0f:
		if (offset || len) {
			nvme_scsi_invalid_field(cmd);
			return;
		}
		nvme_scsi_fw_activate(ctrl, cmd, 2, id);
		return;
	default:
		nvme_scsi_invalid_field(cmd);
		return;
	}
}

/* FORMAT UNIT -> Format NVM with the namespace's current LBA format. */
static void nvme_scsi_format_unit(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd,
				  const struct nvme_scsi_ns *ns)
{
	const u8 *cdb = cmd->cmnd;
	struct nvme_command c = { };
	struct nvme_id_ns *id;
	int ret;

	if (cdb[1] & 0xc0) {			/* FMTPINFO: no protection information */
		nvme_scsi_invalid_field(cmd);
		return;
	}
	id = kzalloc(sizeof(*id), GFP_KERNEL);
	if (!id) {
		cmd->result = DID_REQUEUE << 16;
		return;
	}
	c.identify.opcode = nvme_admin_identify;
	c.identify.nsid = cpu_to_le32(ns->nsid);
	c.identify.cns = NVME_ID_CNS_NS;
	ret = nvme_scsi_deferred_exec(ctrl, false, &c, id, sizeof(*id), false, NULL,
				      nvme_scsi_admin_timeout * HZ);
	if (nvme_scsi_deferred_status(cmd, ret)) {
		memset(&c, 0, sizeof(c));
		c.format.opcode = nvme_admin_format_nvm;
		c.format.nsid = cpu_to_le32(ns->nsid);
		c.format.cdw10 = cpu_to_le32(id->flbas & NVME_NS_FLBAS_LBA_MASK);
		dev_info(ctrl->dev, "FORMAT UNIT: Format NVM of NSID %u\n", ns->nsid);
		ret = nvme_scsi_deferred_exec(ctrl, false, &c, NULL, 0, false, NULL,
					      10 * nvme_scsi_admin_timeout * HZ);
		nvme_scsi_deferred_status(cmd, ret);
	}
	kfree(id);
}

static void nvme_scsi_deferred_work(struct work_struct *work)
{
	struct nvme_scsi_iod *iod = container_of(work, struct nvme_scsi_iod, work);
	struct scsi_cmnd *cmd = iod->cmd;
	struct nvme_scsi_ctrl *ctrl = shost_to_ctrl(cmd->device->host);
	struct nvme_scsi_ns ns;

	cmd->result = 0;
	scsi_set_resid(cmd, scsi_bufflen(cmd));
	if (!nvme_scsi_get_ns(ctrl, cmd->device->lun, &ns)) {
		nvme_scsi_check(cmd, ILLEGAL_REQUEST, 0x25, 0x00);
	} else {
		switch (cmd->cmnd[0]) {
		case MODE_SELECT:
		case MODE_SELECT_10:
			nvme_scsi_mode_select(ctrl, cmd);
			break;
		case LOG_SENSE:
			nvme_scsi_log_sense(ctrl, cmd);
			break;
		case START_STOP:
			nvme_scsi_start_stop(ctrl, cmd, &ns);
			break;
		case UNMAP:
			nvme_scsi_unmap_cmd(ctrl, cmd, &ns);
			break;
		case WRITE_BUFFER:
			nvme_scsi_write_buffer(ctrl, cmd);
			break;
		case FORMAT_UNIT:
			nvme_scsi_format_unit(ctrl, cmd, &ns);
			break;
		}
	}
	WRITE_ONCE(iod->deferred, false);
	scsi_done(cmd);
}

static enum nvme_scsi_xlat nvme_scsi_defer(struct scsi_cmnd *cmd)
{
	struct nvme_scsi_iod *iod = scsi_cmd_priv(cmd);

	iod->cmd = cmd;
	WRITE_ONCE(iod->deferred, true);
	INIT_WORK(&iod->work, nvme_scsi_deferred_work);
	queue_work(system_unbound_wq, &iod->work);
	return NVME_SCSI_XLAT_SUBMITTED;
}

static enum nvme_scsi_xlat nvme_scsi_translate(struct nvme_scsi_ctrl *ctrl,
					       struct scsi_cmnd *cmd)
{
	struct nvme_scsi_ns nsbuf, *ns = NULL;
	u8 op = cmd->cmnd[0];

	if (nvme_scsi_get_ns(ctrl, cmd->device->lun, &nsbuf))
		ns = &nsbuf;

	/* commands any LUN answers, namespace or not */
	switch (op) {
	case INQUIRY:
		return nvme_scsi_inquiry(ctrl, cmd, ns);
	case REPORT_LUNS:
		return nvme_scsi_report_luns_cmd(ctrl, cmd);
	case REQUEST_SENSE:
		return nvme_scsi_request_sense(cmd);
	case TEST_UNIT_READY:
		if (!ns || !nvme_scsi_ctrl_ready(ctrl))
			return nvme_scsi_check(cmd, NOT_READY, 0x04, 0x00);
		return nvme_scsi_copy_out(cmd, NULL, 0, 0);
	}

	if (!ns)
		return nvme_scsi_check(cmd, ILLEGAL_REQUEST, 0x25, 0x00);

	switch (op) {
	case READ_6:
	case READ_10:
	case READ_12:
	case READ_16:
	case WRITE_6:
	case WRITE_10:
	case WRITE_12:
	case WRITE_16:
		return nvme_scsi_rw(ctrl, cmd, ns);
	case SYNCHRONIZE_CACHE:
	case SYNCHRONIZE_CACHE_16:
		return nvme_scsi_flush(ctrl, cmd, ns);
	case READ_CAPACITY:
	case SERVICE_ACTION_IN_16:
		return nvme_scsi_read_capacity(ctrl, cmd, ns);
	case MODE_SENSE:
	case MODE_SENSE_10:
		return nvme_scsi_mode_sense(ctrl, cmd, ns);
	case ALLOW_MEDIUM_REMOVAL:
		/* the medium cannot be removed: allowing it is no change */
		if (cmd->cmnd[4] & 0x03)
			return nvme_scsi_invalid_field(cmd);
		return nvme_scsi_copy_out(cmd, NULL, 0, 0);
	case MODE_SELECT:
	case MODE_SELECT_10:
	case LOG_SENSE:
	case START_STOP:
	case UNMAP:
	case WRITE_BUFFER:
	case FORMAT_UNIT:
		return nvme_scsi_defer(cmd);
	default:
		return nvme_scsi_check(cmd, ILLEGAL_REQUEST, 0x20, 0x00);
	}
}

static int nvme_scsi_queuecommand(struct Scsi_Host *shost, struct scsi_cmnd *cmd)
{
	struct nvme_scsi_ctrl *ctrl = shost_to_ctrl(shost);

	switch (nvme_scsi_state(ctrl)) {
	case NVME_SCSI_LIVE:
		break;
	case NVME_SCSI_NEW:
	case NVME_SCSI_RESETTING:
		return SCSI_MLQUEUE_HOST_BUSY;
	default:
		cmd->result = DID_NO_CONNECT << 16;
		scsi_done(cmd);
		return 0;
	}

	cmd->result = 0;
	switch (nvme_scsi_translate(ctrl, cmd)) {
	case NVME_SCSI_XLAT_SUBMITTED:
		return 0;
	case NVME_SCSI_XLAT_BUSY:
		return SCSI_MLQUEUE_HOST_BUSY;
	case NVME_SCSI_XLAT_DONE:
		break;
	}
	scsi_done(cmd);
	return 0;
}

/* blk-mq had more to send but stopped: ring the doorbell now. */
static void nvme_scsi_commit_rqs(struct Scsi_Host *shost, u16 hwq)
{
	struct nvme_scsi_ctrl *ctrl = shost_to_ctrl(shost);

	if (hwq < ctrl->nr_io_queues)
		nvme_scsi_ring_sq(&ctrl->queues[hwq + 1]);
}

static void nvme_scsi_map_queues(struct Scsi_Host *shost)
{
	struct nvme_scsi_ctrl *ctrl = shost_to_ctrl(shost);
	struct blk_mq_queue_map *map = &shost->tag_set.map[HCTX_TYPE_DEFAULT];

	/* IO queue n uses MSI-X vector n, whose affinity blk-mq follows */
	if (ctrl->nr_vectors > 1)
		blk_mq_pci_map_queues(map, ctrl->pdev, 1);
	else
		blk_mq_map_queues(map);
}

/* ---- error handling ---------------------------------------------------- */

/*
 * Block-layer timeout (io_timeout), as Linux's nvme-pci handles it:
 *  - controller fatal status (CSTS.CFS) -> controller reset; the command is
 *    cancelled with DID_RESET and retried, so just re-arm its timer;
 *  - a completion already in the CQ (lost interrupt) ends the command here,
 *    and the midlayer then leaves it alone (scsi_done() marked it complete);
 *  - first timeout of this submission -> NVMe Abort (asynchronous) and
 *    re-arm: an aborted command completes with 0/07h, ABORTED COMMAND, and
 *    the midlayer retries it; an Abort that fails schedules a reset;
 *  - second timeout of the same submission (the controller did not abort
 *    it) -> SCSI error handling, which ends in a controller reset.
 * During a controller reset the command is about to be cancelled and
 * retried: give it time.
 */
static enum blk_eh_timer_return nvme_scsi_eh_timed_out(struct scsi_cmnd *cmd)
{
	struct nvme_scsi_ctrl *ctrl = shost_to_ctrl(cmd->device->host);
	struct nvme_scsi_iod *iod = scsi_cmd_priv(cmd);
	struct nvme_scsi_queue *q;
	u32 csts;
	u16 cid;

	/* a translated command in its work item: NVMe timeouts cover it */
	if (READ_ONCE(iod->deferred))
		return BLK_EH_RESET_TIMER;
	/*
	 * The device is being removed: no abort or reset, shut the controller
	 * down and fail everything outstanding, this command included.
	 */
	if (READ_ONCE(ctrl->removing)) {
		q = nvme_scsi_cmd_queue(ctrl, cmd, &cid);
		if (q && nvme_scsi_req_inflight(q, cid, &iod->req)) {
			scmd_printk(KERN_WARNING, cmd, "qid %u cid %u timed out during removal, disabling controller\n",
				    q->qid, cid);
			atomic_inc(&q->nr_timeouts);
			nvme_scsi_kill_ctrl(ctrl, "command timeout during removal");
		}
		return BLK_EH_DONE;
	}
	switch (nvme_scsi_state(ctrl)) {
	case NVME_SCSI_RESETTING:
		return BLK_EH_RESET_TIMER;
	case NVME_SCSI_LIVE:
		break;
	default:
		return BLK_EH_DONE;
	}
	q = nvme_scsi_cmd_queue(ctrl, cmd, &cid);
	if (!q || !nvme_scsi_req_inflight(q, cid, &iod->req))
		return BLK_EH_DONE;
	atomic_inc(&q->nr_timeouts);

	/*
	 * Surprise removal: the function is gone (CSTS reads all ones, or the
	 * config space does). Nothing will complete: fail it all now.
	 */
	csts = readl(ctrl->bar + NVME_REG_CSTS);
	if (csts == ~0U || !pci_device_is_present(ctrl->pdev)) {
		scmd_printk(KERN_WARNING, cmd, "qid %u cid %u timed out, controller gone (CSTS %#x)\n",
			    q->qid, cid, csts);
		nvme_scsi_kill_ctrl(ctrl, "controller gone");
		return BLK_EH_DONE;
	}
	if (csts & NVME_CSTS_CFS) {
		scmd_printk(KERN_WARNING, cmd, "qid %u cid %u timed out, controller fatal status (CSTS %#x)\n",
			    q->qid, cid, csts);
		nvme_scsi_schedule_reset(ctrl, "controller fatal status");
		return BLK_EH_RESET_TIMER;
	}

	if (nvme_scsi_poll_cq(q) && !nvme_scsi_req_inflight(q, cid, &iod->req)) {
		scmd_printk(KERN_WARNING, cmd,
			    "qid %u cid %u: completion found by polling (lost interrupt?)\n",
			    q->qid, cid);
		return BLK_EH_DONE;
	}
	if (!READ_ONCE(ctrl->enabled))
		return BLK_EH_RESET_TIMER;	/* disabled, a reset is on its way */

	if (iod->abort_sent) {
		scmd_printk(KERN_WARNING, cmd, "qid %u cid %u timed out again after an abort; resetting\n",
			    q->qid, cid);
		return BLK_EH_DONE;
	}
	if (nvme_scsi_abort_async(ctrl, q->qid, cid)) {
		scmd_printk(KERN_WARNING, cmd, "qid %u cid %u timed out, no abort possible\n",
			    q->qid, cid);
		return BLK_EH_DONE;
	}
	iod->abort_sent = true;
	scmd_printk(KERN_WARNING, cmd, "qid %u cid %u opcode %#x timed out, aborting\n",
		    q->qid, cid, cmd->cmnd[0]);
	return BLK_EH_RESET_TIMER;
}

/*
 * Abort: for now only catches a lost interrupt (the completion is already
 * in the CQ). A command the controller still owns makes the midlayer
 * escalate to a controller reset.
 */
static int nvme_scsi_eh_abort(struct scsi_cmnd *cmd)
{
	struct nvme_scsi_ctrl *ctrl = shost_to_ctrl(cmd->device->host);
	struct nvme_scsi_iod *iod = scsi_cmd_priv(cmd);
	struct nvme_scsi_queue *q;
	u16 cid;

	q = nvme_scsi_cmd_queue(ctrl, cmd, &cid);
	if (!q)
		return SUCCESS;
	nvme_scsi_poll_cq(q);
	if (!nvme_scsi_req_inflight(q, cid, &iod->req)) {
		scmd_printk(KERN_INFO, cmd, "abort: qid %u cid %u not outstanding\n",
			    q->qid, cid);
		return SUCCESS;
	}
	scmd_printk(KERN_WARNING, cmd, "abort: qid %u cid %u opcode %#x still outstanding\n",
		    q->qid, cid, cmd->cmnd[0]);
	return FAILED;
}

static bool nvme_scsi_sdev_busy(struct nvme_scsi_ctrl *ctrl,
				struct scsi_device *sdev)
{
	unsigned int i;
	bool busy = false;

	for (i = 1; i <= ctrl->nr_io_queues && !busy; i++) {
		struct nvme_scsi_queue *q = &ctrl->queues[i];
		unsigned long flags;
		u16 cid;

		nvme_scsi_poll_cq(q);
		spin_lock_irqsave(&q->cq_lock, flags);
		for (cid = 0; cid < q->nr_cids; cid++) {
			struct nvme_scsi_req *req = q->rqs[cid];
			struct nvme_scsi_iod *iod;

			if (!req || req->end != nvme_scsi_cmd_end)
				continue;
			iod = container_of(req, struct nvme_scsi_iod, req);
			if (iod->cmd->device == sdev) {
				busy = true;
				break;
			}
		}
		spin_unlock_irqrestore(&q->cq_lock, flags);
	}
	return busy;
}

/*
 * NVMe has no LUN reset: succeed when nothing of this LUN is left on the
 * controller, otherwise let the midlayer go on to a controller reset.
 */
static int nvme_scsi_eh_device_reset(struct scsi_cmnd *cmd)
{
	struct nvme_scsi_ctrl *ctrl = shost_to_ctrl(cmd->device->host);

	if (nvme_scsi_state(ctrl) != NVME_SCSI_LIVE)
		return FAILED;
	return nvme_scsi_sdev_busy(ctrl, cmd->device) ? FAILED : SUCCESS;
}

static int nvme_scsi_eh_host_reset(struct scsi_cmnd *cmd)
{
	struct nvme_scsi_ctrl *ctrl = shost_to_ctrl(cmd->device->host);

	return nvme_scsi_reset_ctrl(ctrl) ? FAILED : SUCCESS;
}

/*
 * sysfs host_reset ("adapter"): same controller reset, but with IO still in
 * flight; cancelled commands end with DID_RESET and are retried.
 */
static int nvme_scsi_host_reset(struct Scsi_Host *shost, int reset_type)
{
	if (reset_type != SCSI_ADAPTER_RESET)
		return -EOPNOTSUPP;
	return nvme_scsi_reset_ctrl(shost_to_ctrl(shost));
}

/*
 * A dead controller's LUNs go offline (the midlayer then fails their IO
 * without calling us); a reset that revives the controller brings them
 * back. Returns how many changed state.
 *
 * Called after reset_lock is dropped, so a reset may have changed the
 * controller's state since: each LUN only follows the state the controller
 * is in now (checked under the LUN's state_mutex, which the other caller
 * takes too), or a late "offline" would strand a revived controller's LUNs.
 */
unsigned int nvme_scsi_set_luns_offline(struct nvme_scsi_ctrl *ctrl, bool offline)
{
	enum scsi_device_state from = offline ? SDEV_RUNNING : SDEV_OFFLINE;
	enum scsi_device_state to = offline ? SDEV_OFFLINE : SDEV_RUNNING;
	struct scsi_device *sdev;
	unsigned int n = 0;

	shost_for_each_device(sdev, ctrl->shost) {
		enum nvme_scsi_state state;
		bool changed = false;

		mutex_lock(&sdev->state_mutex);
		state = nvme_scsi_state(ctrl);
		if (sdev->sdev_state == from &&
		    (offline ? state == NVME_SCSI_DEAD || state == NVME_SCSI_DELETING :
			       state == NVME_SCSI_LIVE))
			changed = !scsi_device_set_state(sdev, to);
		mutex_unlock(&sdev->state_mutex);
		if (changed) {
			n++;
			/* fail (or restart) what waits in the block layer */
			blk_mq_run_hw_queues(sdev->request_queue, true);
		}
	}
	return n;
}

/* ---- sysfs: /sys/class/scsi_host/hostN/nvme_* -------------------------- */

static struct nvme_scsi_ctrl *dev_to_ctrl(struct device *dev)
{
	return shost_to_ctrl(class_to_shost(dev));
}

static ssize_t nvme_state_show(struct device *dev, struct device_attribute *attr,
			       char *buf)
{
	return sysfs_emit(buf, "%s\n",
			  nvme_scsi_state_name(nvme_scsi_state(dev_to_ctrl(dev))));
}
static DEVICE_ATTR_RO(nvme_state);

static ssize_t nvme_model_show(struct device *dev, struct device_attribute *attr,
			       char *buf)
{
	return sysfs_emit(buf, "%s\n", dev_to_ctrl(dev)->mn);
}
static DEVICE_ATTR_RO(nvme_model);

static ssize_t nvme_serial_show(struct device *dev, struct device_attribute *attr,
				char *buf)
{
	return sysfs_emit(buf, "%s\n", dev_to_ctrl(dev)->sn);
}
static DEVICE_ATTR_RO(nvme_serial);

static ssize_t nvme_firmware_rev_show(struct device *dev,
				      struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%s\n", dev_to_ctrl(dev)->fr);
}
static DEVICE_ATTR_RO(nvme_firmware_rev);

static ssize_t nvme_io_queues_show(struct device *dev,
				   struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", dev_to_ctrl(dev)->nr_io_queues);
}
static DEVICE_ATTR_RO(nvme_io_queues);

static ssize_t nvme_queue_depth_show(struct device *dev,
				     struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", dev_to_ctrl(dev)->io_depth);
}
static DEVICE_ATTR_RO(nvme_queue_depth);

static ssize_t nvme_max_transfer_kb_show(struct device *dev,
					 struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", dev_to_ctrl(dev)->max_xfer / 1024);
}
static DEVICE_ATTR_RO(nvme_max_transfer_kb);

static struct attribute *nvme_scsi_host_attrs[] = {
	&dev_attr_nvme_state.attr,
	&dev_attr_nvme_model.attr,
	&dev_attr_nvme_serial.attr,
	&dev_attr_nvme_firmware_rev.attr,
	&dev_attr_nvme_io_queues.attr,
	&dev_attr_nvme_queue_depth.attr,
	&dev_attr_nvme_max_transfer_kb.attr,
	NULL
};
ATTRIBUTE_GROUPS(nvme_scsi_host);

static int nvme_scsi_slave_configure(struct scsi_device *sdev)
{
	blk_queue_rq_timeout(sdev->request_queue, nvme_scsi_io_timeout * HZ);
	return 0;
}

static const char *nvme_scsi_info(struct Scsi_Host *shost)
{
	return "NVMe 1.0e controller (nvme_scsi)";
}

struct scsi_host_template nvme_scsi_sht = {
	.module			= THIS_MODULE,
	.name			= NVME_SCSI_NAME,
	.proc_name		= NVME_SCSI_NAME,
	.info			= nvme_scsi_info,
	.queuecommand		= nvme_scsi_queuecommand,
	.commit_rqs		= nvme_scsi_commit_rqs,
	.map_queues		= nvme_scsi_map_queues,
	.slave_configure	= nvme_scsi_slave_configure,
	.eh_timed_out		= nvme_scsi_eh_timed_out,
	.eh_abort_handler	= nvme_scsi_eh_abort,
	.eh_device_reset_handler = nvme_scsi_eh_device_reset,
	.eh_host_reset_handler	= nvme_scsi_eh_host_reset,
	.host_reset		= nvme_scsi_host_reset,
	.change_queue_depth	= scsi_change_queue_depth,
	.this_id		= -1,
	.can_queue		= 1,		/* set per controller in probe */
	.sg_tablesize		= 1,		/* ditto */
	.max_sectors		= 8,		/* ditto */
	.virt_boundary_mask	= NVME_SCSI_PAGE_SIZE - 1,
	.cmd_size		= sizeof(struct nvme_scsi_iod),
	.shost_groups		= nvme_scsi_host_groups,
};

void nvme_scsi_setup_host(struct nvme_scsi_ctrl *ctrl)
{
	struct Scsi_Host *shost = ctrl->shost;

	shost->max_channel = 0;
	shost->max_id = 1;
	shost->max_lun = ctrl->nr_luns;
	shost->this_id = -1;
	shost->max_cmd_len = 16;
	shost->unique_id = shost->host_no;
	shost->nr_hw_queues = ctrl->nr_io_queues;
	/* tags (= CIDs) stop below the driver's own CIDs */
	shost->can_queue = ctrl->io_tags;
	shost->cmd_per_lun = shost->can_queue;
	shost->max_sectors = ctrl->max_xfer >> SECTOR_SHIFT;
	shost->sg_tablesize = ctrl->max_xfer / NVME_SCSI_PAGE_SIZE + 1;
}
