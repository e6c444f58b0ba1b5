// SPDX-License-Identifier: GPL-2.0
/*
 * SCSI error handling: the block-layer timeout (abort, then reset), the
 * midlayer's abort, LUN reset and host reset handlers.
 */
#include <linux/kernel.h>
#include <linux/blk-mq.h>
#include <scsi/scsi_device.h>
#include <scsi/scsi_host.h>
#include <scsi/scsi_eh.h>

#include "xlat.h"

/*
 * Block-layer timeout (io_timeout): the timeout ladder every command climbs
 * (nvme_scsi_cmd_timed_out). A reset cancels the command with DID_RESET and
 * the midlayer retries it, so waiting is re-arming the timer; a completion
 * found in the CQ has called scsi_done() and the midlayer leaves the
 * command alone; an aborted command completes with 0/07h, ABORTED COMMAND,
 * and is retried; giving up is SCSI error handling, which ends in a
 * controller reset. During a controller reset the command is about to be
 * cancelled and retried: give it time.
 */
enum blk_eh_timer_return nvme_scsi_eh_timed_out(struct scsi_cmnd *cmd)
{
	struct nvme_scsi_ctrl *ctrl = shost_to_ctrl(cmd->device->host);
	struct nvme_scsi_iod *iod = scsi_cmd_priv(cmd);
	enum nvme_scsi_timeout next;
	struct nvme_scsi_queue *q;
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
	if (!q)
		return BLK_EH_DONE;
	next = nvme_scsi_cmd_timed_out(q, cid, &iod->req, &iod->abort_sent, cmd->cmnd[0]);
	if (next == NVME_SCSI_TIMEOUT_WAIT)
		return BLK_EH_RESET_TIMER;
	/* surprise removal: nothing will complete, fail it all now */
	if (next == NVME_SCSI_TIMEOUT_GONE)
		nvme_scsi_kill_ctrl(ctrl, "controller gone");
	/* done, or SCSI error handling: abort, LUN reset, then host reset */
	return BLK_EH_DONE;
}

/*
 * Abort: for now only catches a lost interrupt (the completion is already
 * in the CQ). A command the controller still owns makes the midlayer
 * escalate to a controller reset.
 */
int nvme_scsi_eh_abort(struct scsi_cmnd *cmd)
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

			if (!req || !nvme_scsi_is_scsi_req(req))
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
int nvme_scsi_eh_device_reset(struct scsi_cmnd *cmd)
{
	struct nvme_scsi_ctrl *ctrl = shost_to_ctrl(cmd->device->host);

	if (nvme_scsi_state(ctrl) != NVME_SCSI_LIVE)
		return FAILED;
	return nvme_scsi_sdev_busy(ctrl, cmd->device) ? FAILED : SUCCESS;
}

int nvme_scsi_eh_host_reset(struct scsi_cmnd *cmd)
{
	struct nvme_scsi_ctrl *ctrl = shost_to_ctrl(cmd->device->host);

	return nvme_scsi_reset_ctrl(ctrl) ? FAILED : SUCCESS;
}

/*
 * sysfs host_reset ("adapter"): same controller reset, but with IO still in
 * flight; cancelled commands end with DID_RESET and are retried.
 */
int nvme_scsi_host_reset(struct Scsi_Host *shost, int reset_type)
{
	if (reset_type != SCSI_ADAPTER_RESET)
		return -EOPNOTSUPP;
	return nvme_scsi_reset_ctrl(shost_to_ctrl(shost));
}
