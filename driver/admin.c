// SPDX-License-Identifier: GPL-2.0
/*
 * Admin commands the driver sends on its own: Identify, Set Features
 * (number of queues), Create/Delete I/O Submission and Completion Queue,
 * and the Asynchronous Event Requests with the event work they start.
 */
#include <linux/kernel.h>
#include <linux/dma-mapping.h>
#include <linux/workqueue.h>

#include "nvme_scsi.h"

/* ---- admin commands of the bring-up ------------------------------------ */

int nvme_scsi_identify(struct nvme_scsi_ctrl *ctrl, u32 nsid, u8 cns, void *buf)
{
	struct nvme_command cmd = { };
	dma_addr_t dma;
	void *data;
	int ret;

	data = dma_alloc_coherent(ctrl->dev, NVME_IDENTIFY_DATA_SIZE, &dma,
				  GFP_KERNEL);
	if (!data)
		return -ENOMEM;
	cmd.identify.opcode = nvme_admin_identify;
	cmd.identify.nsid = cpu_to_le32(nsid);
	cmd.identify.cns = cns;
	cmd.identify.dptr.prp1 = cpu_to_le64(dma);
	ret = nvme_scsi_admin_exec(ctrl, &cmd, NULL);
	if (!ret)
		memcpy(buf, data, NVME_IDENTIFY_DATA_SIZE);
	/*
	 * After a timeout the controller has been disabled, so the buffer is
	 * no longer a DMA target and can be freed.
	 */
	dma_free_coherent(ctrl->dev, NVME_IDENTIFY_DATA_SIZE, data, dma);
	return ret;
}

/* Ask for @count IO queue pairs; returns the number granted in @count. */
int nvme_scsi_set_queue_count(struct nvme_scsi_ctrl *ctrl, unsigned int *count)
{
	struct nvme_command cmd = { };
	u32 q = *count - 1, result = 0;
	int ret;

	cmd.features.opcode = nvme_admin_set_features;
	cmd.features.fid = cpu_to_le32(NVME_FEAT_NUM_QUEUES);
	cmd.features.dword11 = cpu_to_le32(q | (q << 16));
	ret = nvme_scsi_admin_exec(ctrl, &cmd, &result);
	if (ret)
		return ret;
	*count = min(result & 0xffff, result >> 16) + 1;
	return 0;
}

int nvme_scsi_create_io_queue(struct nvme_scsi_queue *q)
{
	struct nvme_scsi_ctrl *ctrl = q->ctrl;
	struct nvme_command cmd = { };
	int ret;

	cmd.create_cq.opcode = nvme_admin_create_cq;
	cmd.create_cq.prp1 = cpu_to_le64(q->cq_dma);
	cmd.create_cq.cqid = cpu_to_le16(q->qid);
	cmd.create_cq.qsize = cpu_to_le16(q->depth - 1);
	cmd.create_cq.cq_flags = cpu_to_le16(NVME_QUEUE_PHYS_CONTIG | NVME_CQ_IRQ_ENABLED);
	cmd.create_cq.irq_vector = cpu_to_le16(q->cq_vector);
	ret = nvme_scsi_admin_exec(ctrl, &cmd, NULL);
	if (ret) {
		dev_err(ctrl->dev, "create CQ %u failed: %d\n", q->qid, ret);
		return ret < 0 ? ret : -EIO;
	}

	memset(&cmd, 0, sizeof(cmd));
	cmd.create_sq.opcode = nvme_admin_create_sq;
	cmd.create_sq.prp1 = cpu_to_le64(q->sq_dma);
	cmd.create_sq.sqid = cpu_to_le16(q->qid);
	cmd.create_sq.qsize = cpu_to_le16(q->depth - 1);
	cmd.create_sq.sq_flags = cpu_to_le16(NVME_QUEUE_PHYS_CONTIG);
	cmd.create_sq.cqid = cpu_to_le16(q->qid);
	ret = nvme_scsi_admin_exec(ctrl, &cmd, NULL);
	if (ret) {
		dev_err(ctrl->dev, "create SQ %u failed: %d\n", q->qid, ret);
		memset(&cmd, 0, sizeof(cmd));
		cmd.delete_queue.opcode = nvme_admin_delete_cq;
		cmd.delete_queue.qid = cpu_to_le16(q->qid);
		nvme_scsi_admin_exec(ctrl, &cmd, NULL);
		return ret < 0 ? ret : -EIO;
	}
	q->created = true;
	nvme_scsi_queue_set_live(q, true);
	return 0;
}

/* Delete the SQ, then the CQ; both are attempted even if one fails. */
int nvme_scsi_delete_io_queue(struct nvme_scsi_queue *q)
{
	struct nvme_command cmd = { };
	int ret, ret2;

	if (!q->created)
		return 0;
	nvme_scsi_queue_set_live(q, false);
	cmd.delete_queue.opcode = nvme_admin_delete_sq;
	cmd.delete_queue.qid = cpu_to_le16(q->qid);
	ret = nvme_scsi_admin_exec(q->ctrl, &cmd, NULL);

	memset(&cmd, 0, sizeof(cmd));
	cmd.delete_queue.opcode = nvme_admin_delete_cq;
	cmd.delete_queue.qid = cpu_to_le16(q->qid);
	ret2 = nvme_scsi_admin_exec(q->ctrl, &cmd, NULL);
	q->created = false;
	if (ret || ret2)
		dev_warn(q->ctrl->dev, "deleting IO queue %u: status %d/%d\n",
			 q->qid, ret, ret2);
	return ret ? ret : ret2;
}

/* ---- Asynchronous Event Requests --------------------------------------- */

/*
 * The controller failed an AER. With none outstanding no event would ever
 * arrive, so the event work sends another, unless the controller says that
 * is pointless (DNR) or keeps failing them (no loop with a broken device).
 */
static void nvme_scsi_aer_failed(struct nvme_scsi_ctrl *ctrl, u16 status)
{
	unsigned int errors = READ_ONCE(ctrl->aer_errors) + 1;
	bool again = !(status & NVME_STATUS_DNR) && errors <= NVME_SCSI_AER_RETRIES;

	WRITE_ONCE(ctrl->aer_errors, errors);
	dev_warn(ctrl->dev, "Asynchronous Event Request failed: status %#x%s\n", status,
		 again ? ", sending another" : "");
	if (!again || READ_ONCE(ctrl->aen_stop))
		return;
	WRITE_ONCE(ctrl->aer_resend, true);
	queue_work(nvme_scsi_wq, &ctrl->async_work);
}

static void nvme_scsi_aer_end(struct nvme_scsi_queue *aq,
			      struct nvme_scsi_req *req, u16 status,
			      union nvme_result result)
{
	struct nvme_scsi_ctrl *ctrl = aq->ctrl;

	nvme_scsi_put_cid(aq, ctrl->aer_cid);
	clear_bit(0, &ctrl->aer_busy);
	if (nvme_scsi_status_is_driver(status))
		return;			/* a reset re-arms it */
	if (NVME_SCSI_STATUS_CODE(status)) {
		nvme_scsi_aer_failed(ctrl, status);
		return;
	}
	WRITE_ONCE(ctrl->aer_errors, 0);
	WRITE_ONCE(ctrl->aen_result, le32_to_cpu(result.u32));
	if (!READ_ONCE(ctrl->aen_stop))
		queue_work(nvme_scsi_wq, &ctrl->async_work);
}

/* Keep one Asynchronous Event Request outstanding (it holds an admin CID). */
static void nvme_scsi_submit_aer(struct nvme_scsi_ctrl *ctrl)
{
	struct nvme_scsi_queue *aq = &ctrl->queues[0];
	struct nvme_command c = { };
	int cid;

	if (!READ_ONCE(ctrl->aen_enabled) || READ_ONCE(ctrl->aen_stop) ||
	    test_and_set_bit(0, &ctrl->aer_busy))
		return;
	if (!nvme_scsi_get_cid(aq, &cid)) {
		clear_bit(0, &ctrl->aer_busy);
		dev_warn(ctrl->dev, "no admin command slot for an AER\n");
		return;
	}
	ctrl->aer_cid = cid;
	ctrl->aer_req.end = nvme_scsi_aer_end;
	c.common.opcode = nvme_admin_async_event;
	c.common.command_id = cid;
	if (nvme_scsi_submit(aq, &c, &ctrl->aer_req, true)) {
		nvme_scsi_put_cid(aq, cid);
		clear_bit(0, &ctrl->aer_busy);
	}
}

/*
 * After bring-up or a reset: if the controller offers the Namespace
 * Attribute Changed notice (OAES bit 8, NVMe 1.2; cosim-nvme's
 * ns-notice-aen=on), enable it and keep an AER outstanding.
 */
void nvme_scsi_setup_aen(struct nvme_scsi_ctrl *ctrl)
{
	struct nvme_command c = { };
	int ret;

	if (!(le32_to_cpu(ctrl->id->oaes) & NVME_AEN_CFG_NS_ATTR))
		return;
	c.features.opcode = nvme_admin_set_features;
	c.features.fid = cpu_to_le32(NVME_FEAT_ASYNC_EVENT);
	c.features.dword11 = cpu_to_le32(NVME_AEN_CFG_NS_ATTR);
	ret = nvme_scsi_admin_exec(ctrl, &c, NULL);
	if (ret) {
		dev_warn(ctrl->dev, "enabling namespace notices failed: %d\n", ret);
		return;
	}
	if (!ctrl->aen_enabled)
		dev_info(ctrl->dev, "namespace attribute notices enabled\n");
	WRITE_ONCE(ctrl->aer_errors, 0);
	WRITE_ONCE(ctrl->aen_enabled, true);
	nvme_scsi_submit_aer(ctrl);
}

/* Read (and so clear) log page @lid, @len bytes. */
static void nvme_scsi_clear_log(struct nvme_scsi_ctrl *ctrl, u8 lid, u32 len)
{
	struct nvme_command c = { };
	dma_addr_t dma;
	void *buf;

	buf = dma_alloc_coherent(ctrl->dev, len, &dma, GFP_KERNEL);
	if (!buf)
		return;
	c.get_log_page.opcode = nvme_admin_get_log_page;
	c.get_log_page.nsid = cpu_to_le32(NVME_NSID_ALL);
	c.get_log_page.lid = lid;
	c.get_log_page.numdl = cpu_to_le16(len / 4 - 1);
	c.get_log_page.dptr.prp1 = cpu_to_le64(dma);
	nvme_scsi_admin_exec(ctrl, &c, NULL);
	dma_free_coherent(ctrl->dev, len, buf, dma);
}

void nvme_scsi_async_work(struct work_struct *work)
{
	struct nvme_scsi_ctrl *ctrl =
		container_of(work, struct nvme_scsi_ctrl, async_work);
	u32 res = READ_ONCE(ctrl->aen_result);
	u8 type = res & 0x7, info = (res >> 8) & 0xff, lid = (res >> 16) & 0xff;

	if (xchg(&ctrl->aer_resend, false)) {
		/* the last AER failed: no event to handle */
		nvme_scsi_submit_aer(ctrl);
		return;
	}
	if (type == NVME_AER_NOTICE && info == NVME_AER_NOTICE_NS_CHANGED) {
		dev_info(ctrl->dev, "namespace attribute changed: rescanning\n");
		/* the event stays masked until the Changed Namespace List is read */
		nvme_scsi_clear_log(ctrl, NVME_LOG_CHANGED_NS, NVME_IDENTIFY_DATA_SIZE);
		nvme_scsi_schedule_rescan(ctrl);
	} else {
		dev_warn(ctrl->dev, "asynchronous event %#x (type %u, info %#x, log page %#x)\n",
			 res, type, info, lid);
		if (lid)
			nvme_scsi_clear_log(ctrl, lid, 64);
	}
	nvme_scsi_submit_aer(ctrl);
}
