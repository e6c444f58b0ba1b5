// SPDX-License-Identifier: GPL-2.0
/*
 * Submission/completion queues: DMA memory, doorbells, submission,
 * completion processing with phase tags, MSI-X handlers, the driver's own
 * commands (admin and passthrough CIDs, their timeouts) and NVMe Abort.
 */
#include <linux/kernel.h>
#include <linux/interrupt.h>
#include <linux/dma-mapping.h>
#include <linux/slab.h>
#include <linux/delay.h>
#include <linux/pci.h>

#include "nvme_scsi.h"

static u32 __iomem *nvme_scsi_db(struct nvme_scsi_ctrl *ctrl, u16 qid, bool cq)
{
	return ctrl->bar + NVME_REG_DBS + (2 * qid + (cq ? 1 : 0)) * ctrl->db_stride;
}

/*
 * Allocate queue @qid of @depth entries. An IO queue serves @nr_tags blk-mq
 * tags (CIDs 0..nr_tags-1) and NVME_SCSI_PT_CIDS driver CIDs above them;
 * the admin queue's CIDs are its command slots.
 */
int nvme_scsi_alloc_queue(struct nvme_scsi_ctrl *ctrl, u16 qid, u16 depth,
			  u16 nr_tags)
{
	struct nvme_scsi_queue *q = &ctrl->queues[qid];

	memset(q, 0, sizeof(*q));
	q->ctrl = ctrl;
	q->qid = qid;
	q->depth = depth;
	q->nr_cids = depth;
	if (qid) {
		q->pt_cid_base = nr_tags;
		q->nr_cids = nr_tags + NVME_SCSI_PT_CIDS;
		q->shared_slots = depth - 1 - nr_tags < NVME_SCSI_PT_CIDS;
	}
	/* the top bits of a CID are its generation */
	if (WARN_ON_ONCE(q->nr_cids > NVME_SCSI_MAX_CIDS)) {
		q->ctrl = NULL;
		return -EINVAL;
	}
	spin_lock_init(&q->sq_lock);
	spin_lock_init(&q->cq_lock);

	q->cqes = dma_alloc_coherent(ctrl->dev, depth * sizeof(struct nvme_completion),
				     &q->cq_dma, GFP_KERNEL);
	if (!q->cqes)
		goto fail;
	q->sqes = dma_alloc_coherent(ctrl->dev, depth * sizeof(struct nvme_command),
				     &q->sq_dma, GFP_KERNEL);
	if (!q->sqes)
		goto fail;
	q->rqs = kcalloc(q->nr_cids, sizeof(*q->rqs), GFP_KERNEL);
	if (!q->rqs)
		goto fail;
	q->gen = kcalloc(q->nr_cids, sizeof(*q->gen), GFP_KERNEL);
	if (!q->gen)
		goto fail;

	q->sq_db = nvme_scsi_db(ctrl, qid, false);
	q->cq_db = nvme_scsi_db(ctrl, qid, true);
	snprintf(q->irqname, sizeof(q->irqname), NVME_SCSI_NAME "%uq%u",
		 ctrl->shost->host_no, qid);
	nvme_scsi_init_queue_state(q);
	return 0;

fail:
	nvme_scsi_free_queue(q);
	return -ENOMEM;
}

void nvme_scsi_free_queue(struct nvme_scsi_queue *q)
{
	struct nvme_scsi_ctrl *ctrl = q->ctrl;

	if (!ctrl)
		return;
	kfree(q->rqs);
	q->rqs = NULL;
	kfree(q->gen);
	q->gen = NULL;
	if (q->sqes)
		dma_free_coherent(ctrl->dev, q->depth * sizeof(struct nvme_command),
				  q->sqes, q->sq_dma);
	q->sqes = NULL;
	if (q->cqes)
		dma_free_coherent(ctrl->dev, q->depth * sizeof(struct nvme_completion),
				  q->cqes, q->cq_dma);
	q->cqes = NULL;
	q->ctrl = NULL;
}

/* Back to the state a controller reset leaves a queue in. */
void nvme_scsi_init_queue_state(struct nvme_scsi_queue *q)
{
	unsigned long flags;

	spin_lock_irqsave(&q->cq_lock, flags);
	spin_lock(&q->sq_lock);
	q->sq_tail = 0;
	q->last_sq_tail = 0;
	q->cq_head = 0;
	q->cq_phase = 1;
	memset(q->cqes, 0, q->depth * sizeof(struct nvme_completion));
	spin_unlock(&q->sq_lock);
	spin_unlock_irqrestore(&q->cq_lock, flags);
}

static void nvme_scsi_write_sq_db(struct nvme_scsi_queue *q)
{
	if (q->sq_tail != q->last_sq_tail) {
		writel(q->sq_tail, q->sq_db);
		q->last_sq_tail = q->sq_tail;
	}
}

/*
 * Open or close a queue for submissions. Closing it under sq_lock is the
 * cut-off for a reset: a submission either happened before (and is
 * cancelled with the rest) or sees the queue closed.
 */
void nvme_scsi_queue_set_live(struct nvme_scsi_queue *q, bool live)
{
	unsigned long flags;

	spin_lock_irqsave(&q->sq_lock, flags);
	q->live = live;
	spin_unlock_irqrestore(&q->sq_lock, flags);
}

/*
 * Take one of the SQ's depth - 1 slots for a command about to be submitted
 * (queues with shared_slots only; elsewhere the CIDs are the limit).
 */
bool nvme_scsi_get_slot(struct nvme_scsi_queue *q)
{
	return atomic_add_unless(&q->nr_out, 1, q->depth - 1);
}

/* The controller is done with a command (or it was never submitted). */
void nvme_scsi_put_slot(struct nvme_scsi_queue *q)
{
	struct nvme_scsi_ctrl *ctrl = q->ctrl;

	if (!q->shared_slots)
		return;
	atomic_dec(&q->nr_out);
	if (atomic_read(&q->pt_waiting))
		wake_up(&ctrl->admin_wait);
}

/*
 * Put one command in the SQ. The caller owns command_id (a blk-mq tag or an
 * admin slot, the CID index), so nobody else touches rqs[cid] until the
 * command ends; the index's next generation goes into the top bits of
 * command_id, which is left so (the CID an Abort names).
 * The doorbell write orders the SQ entry and rqs[] before the device sees it.
 * Returns -EAGAIN if the queue is closed (controller reset or teardown).
 */
int nvme_scsi_submit(struct nvme_scsi_queue *q, struct nvme_command *cmd,
		     struct nvme_scsi_req *req, bool ring)
{
	u16 cid = cmd->common.command_id;
	unsigned long flags;
	u8 gen;

	spin_lock_irqsave(&q->sq_lock, flags);
	if (unlikely(!q->live)) {
		spin_unlock_irqrestore(&q->sq_lock, flags);
		return -EAGAIN;
	}
	gen = (q->gen[cid] + 1) & NVME_SCSI_CID_GEN_MASK;
	WRITE_ONCE(q->gen[cid], gen);
	/* a completion that finds the new owner must see its generation */
	smp_wmb();
	WRITE_ONCE(q->rqs[cid], req);
	cmd->common.command_id = cid | gen << NVME_SCSI_CID_BITS;
	memcpy(&q->sqes[q->sq_tail], cmd, sizeof(*cmd));
	q->nr_submitted++;
	if (++q->sq_tail == q->depth)
		q->sq_tail = 0;
	if (ring)
		nvme_scsi_write_sq_db(q);
	spin_unlock_irqrestore(&q->sq_lock, flags);
	return 0;
}

void nvme_scsi_ring_sq(struct nvme_scsi_queue *q)
{
	unsigned long flags;

	spin_lock_irqsave(&q->sq_lock, flags);
	nvme_scsi_write_sq_db(q);
	spin_unlock_irqrestore(&q->sq_lock, flags);
}

static void nvme_scsi_handle_cqe(struct nvme_scsi_queue *q,
				 struct nvme_completion *cqe)
{
	u16 wire = READ_ONCE(cqe->command_id);
	u16 status = le16_to_cpu(READ_ONCE(cqe->status)) >> 1;
	u16 cid = NVME_SCSI_CID_IDX(wire);
	struct nvme_scsi_req *req;

	req = cid < q->nr_cids ? READ_ONCE(q->rqs[cid]) : NULL;
	if (unlikely(!req)) {
		dev_warn_ratelimited(q->ctrl->dev,
				     "qid %u: completion for unknown command id %#x (status %#x)\n",
				     q->qid, wire, status);
		return;
	}
	/* pairs with nvme_scsi_submit(): the owner's generation is set first */
	smp_rmb();
	if (unlikely(READ_ONCE(q->gen[cid]) != NVME_SCSI_CID_GEN(wire))) {
		/* late or repeated: the index has been submitted again since */
		dev_warn_ratelimited(q->ctrl->dev,
				     "qid %u: stale completion for command id %#x (now %#x, status %#x) dropped\n",
				     q->qid, wire, nvme_scsi_wire_cid(q, cid), status);
		return;
	}
	WRITE_ONCE(q->rqs[cid], NULL);
	q->nr_completed++;
	nvme_scsi_put_slot(q);
	req->end(q, req, status, cqe->result);
}

/* Consume every new CQ entry; caller holds cq_lock. Returns entries seen. */
static int nvme_scsi_process_cq(struct nvme_scsi_queue *q)
{
	int found = 0;

	if (!q->cqes)
		return 0;
	for (;;) {
		struct nvme_completion *cqe = &q->cqes[q->cq_head];

		if ((le16_to_cpu(READ_ONCE(cqe->status)) & 1) != q->cq_phase)
			break;
		/* read the rest of the entry only after seeing its phase */
		dma_rmb();
		nvme_scsi_handle_cqe(q, cqe);
		if (++q->cq_head == q->depth) {
			q->cq_head = 0;
			q->cq_phase ^= 1;
		}
		found++;
	}
	if (found)
		writel(q->cq_head, q->cq_db);
	return found;
}

int nvme_scsi_poll_cq(struct nvme_scsi_queue *q)
{
	unsigned long flags;
	int found;

	spin_lock_irqsave(&q->cq_lock, flags);
	found = nvme_scsi_process_cq(q);
	spin_unlock_irqrestore(&q->cq_lock, flags);
	return found;
}

static irqreturn_t nvme_scsi_irq(int irq, void *data)
{
	struct nvme_scsi_queue *q = data;
	int found;

	spin_lock(&q->cq_lock);
	found = nvme_scsi_process_cq(q);
	spin_unlock(&q->cq_lock);
	return found ? IRQ_HANDLED : IRQ_NONE;
}

int nvme_scsi_queue_request_irq(struct nvme_scsi_queue *q)
{
	int ret;

	ret = pci_request_irq(q->ctrl->pdev, q->cq_vector, nvme_scsi_irq, NULL,
			      q, "%s", q->irqname);
	if (!ret)
		q->irq_requested = true;
	return ret;
}

void nvme_scsi_queue_free_irq(struct nvme_scsi_queue *q)
{
	if (!q->irq_requested)
		return;
	pci_free_irq(q->ctrl->pdev, q->cq_vector, q);
	q->irq_requested = false;
}

/*
 * End every command still owned by the queue with a driver status. Only
 * valid once the controller is disabled (it will post nothing more).
 */
void nvme_scsi_cancel_queue(struct nvme_scsi_queue *q, u16 status)
{
	union nvme_result res = { .u64 = 0 };
	unsigned long flags;
	u16 cid;

	if (!q->rqs)
		return;
	spin_lock_irqsave(&q->cq_lock, flags);
	for (cid = 0; cid < q->nr_cids; cid++) {
		struct nvme_scsi_req *req = q->rqs[cid];

		if (!req)
			continue;
		WRITE_ONCE(q->rqs[cid], NULL);
		q->nr_cancelled++;
		nvme_scsi_put_slot(q);
		req->end(q, req, status, res);
	}
	spin_unlock_irqrestore(&q->cq_lock, flags);
}

/* Is @req still the owner of @cid (i.e. not completed by the controller)? */
bool nvme_scsi_req_inflight(struct nvme_scsi_queue *q, u16 cid,
			    struct nvme_scsi_req *req)
{
	unsigned long flags;
	bool ret;

	if (cid >= q->nr_cids)
		return false;
	spin_lock_irqsave(&q->cq_lock, flags);
	ret = q->rqs[cid] == req;
	spin_unlock_irqrestore(&q->cq_lock, flags);
	return ret;
}

/* The CID on the wire of the latest submission of index @cid. */
u16 nvme_scsi_wire_cid(struct nvme_scsi_queue *q, u16 cid)
{
	return cid | READ_ONCE(q->gen[cid]) << NVME_SCSI_CID_BITS;
}

/* ---- driver-internal and passthrough commands ------------------------ */

struct nvme_scsi_sync_req {
	struct nvme_scsi_req req;
	struct completion done;
	u16 status;
	u64 result;
};

static void nvme_scsi_sync_end(struct nvme_scsi_queue *q,
			       struct nvme_scsi_req *req, u16 status,
			       union nvme_result result)
{
	struct nvme_scsi_sync_req *sreq =
		container_of(req, struct nvme_scsi_sync_req, req);

	sreq->status = status;
	sreq->result = le64_to_cpu(result.u64);
	complete(&sreq->done);
}

/*
 * CIDs not owned by blk-mq: admin slots 0..nr_admin_cids-1, and on an
 * IO queue the NVME_SCSI_PT_CIDS CIDs from pt_cid_base up (can_queue stops
 * below them). Where the SQ keeps fewer slots than that back for them
 * (shared_slots), the CID comes with an SQ slot or not at all.
 */
bool nvme_scsi_get_cid(struct nvme_scsi_queue *q, int *cid)
{
	struct nvme_scsi_ctrl *ctrl = q->ctrl;
	unsigned long *map = q->qid ? &q->pt_cids : &ctrl->admin_cids;
	unsigned int bits = q->qid ? NVME_SCSI_PT_CIDS : ctrl->nr_admin_cids;
	unsigned long flags, bit;
	bool ok;

	spin_lock_irqsave(&ctrl->admin_lock, flags);
	bit = find_first_zero_bit(map, bits);
	ok = bit < bits && (!q->shared_slots || nvme_scsi_get_slot(q));
	if (ok) {
		__set_bit(bit, map);
		*cid = bit + (q->qid ? q->pt_cid_base : 0);
	}
	spin_unlock_irqrestore(&ctrl->admin_lock, flags);
	return ok;
}

void nvme_scsi_put_cid(struct nvme_scsi_queue *q, int cid)
{
	struct nvme_scsi_ctrl *ctrl = q->ctrl;
	unsigned long flags;

	spin_lock_irqsave(&ctrl->admin_lock, flags);
	if (q->qid)
		__clear_bit(cid - q->pt_cid_base, &q->pt_cids);
	else
		__clear_bit(cid, &ctrl->admin_cids);
	spin_unlock_irqrestore(&ctrl->admin_lock, flags);
	wake_up(&ctrl->admin_wait);
}

/*
 * The one timeout ladder, for SCSI commands (eh_timed_out) and the driver's
 * own (nvme_scsi_exec), as Linux's nvme_timeout: what to do about command
 * @cid of @q, owned by @req, whose timeout just expired. @abort_sent says
 * whether this submission was aborted already, and is set when an Abort
 * goes out now; @opcode (NVMe, or SCSI for a SCSI command) is for the log.
 *  - no longer outstanding: DONE;
 *  - the function is gone (CSTS all ones, or no config space): GONE, the
 *    caller gives up on the controller;
 *  - controller fatal status (CSTS.CFS): a reset is scheduled, which
 *    cancels the command: WAIT;
 *  - its completion is in the CQ (lost interrupt): ended here, DONE;
 *  - the controller is disabled: a reset is on its way, WAIT;
 *  - an admin command, or one aborted already: RESET;
 *  - otherwise an NVMe Abort goes out (asynchronously; an Abort that
 *    fails schedules a reset): WAIT, and the next expiry resets.
 */
enum nvme_scsi_timeout nvme_scsi_cmd_timed_out(struct nvme_scsi_queue *q, u16 cid,
					       struct nvme_scsi_req *req, bool *abort_sent,
					       u8 opcode)
{
	struct nvme_scsi_ctrl *ctrl = q->ctrl;
	u32 csts;

	if (!nvme_scsi_req_inflight(q, cid, req))
		return NVME_SCSI_TIMEOUT_DONE;
	atomic_inc(&q->nr_timeouts);
	csts = readl(ctrl->bar + NVME_REG_CSTS);
	if (csts == ~0U || !pci_device_is_present(ctrl->pdev)) {
		dev_warn(ctrl->dev, "qid %u cid %u timed out, controller gone (CSTS %#x)\n",
			 q->qid, cid, csts);
		return NVME_SCSI_TIMEOUT_GONE;
	}
	if (csts & NVME_CSTS_CFS) {
		dev_warn(ctrl->dev, "qid %u cid %u timed out, controller fatal status (CSTS %#x)\n",
			 q->qid, cid, csts);
		nvme_scsi_schedule_reset(ctrl, "controller fatal status");
		return NVME_SCSI_TIMEOUT_WAIT;
	}
	if (nvme_scsi_poll_cq(q) && !nvme_scsi_req_inflight(q, cid, req)) {
		dev_warn(ctrl->dev, "qid %u cid %u: completion found by polling (lost interrupt?)\n",
			 q->qid, cid);
		return NVME_SCSI_TIMEOUT_DONE;
	}
	if (!READ_ONCE(ctrl->enabled))
		return NVME_SCSI_TIMEOUT_WAIT;
	if (*abort_sent) {
		dev_warn(ctrl->dev, "qid %u cid %u timed out again after an abort; resetting\n",
			 q->qid, cid);
		return NVME_SCSI_TIMEOUT_RESET;
	}
	if (!q->qid || nvme_scsi_abort_async(ctrl, q->qid, cid)) {
		dev_warn(ctrl->dev, "qid %u cid %u opcode %#x timed out, no abort possible\n",
			 q->qid, cid, opcode);
		return NVME_SCSI_TIMEOUT_RESET;
	}
	*abort_sent = true;
	dev_warn(ctrl->dev, "qid %u cid %u opcode %#x timed out, aborting\n", q->qid, cid, opcode);
	return NVME_SCSI_TIMEOUT_WAIT;
}

/*
 * Give up on driver command @cid: the controller is disabled (so it can no
 * longer DMA into buffers the caller is about to free) and a reset
 * scheduled. False if the command ended meanwhile (its end() has run).
 */
static bool nvme_scsi_abandon(struct nvme_scsi_queue *q, int cid, struct nvme_scsi_req *req,
			      u8 opcode, unsigned long timeout)
{
	struct nvme_scsi_ctrl *ctrl = q->ctrl;
	bool abandoned = false;
	unsigned long flags;
	int resets = 0;

	spin_lock_irqsave(&q->cq_lock, flags);
	if (q->rqs[cid] == req) {
		WRITE_ONCE(q->rqs[cid], NULL);
		/* counted as the reset's: it will never complete */
		q->nr_cancelled++;
		abandoned = true;
		resets = atomic_read(&ctrl->nr_resets);
	}
	spin_unlock_irqrestore(&q->cq_lock, flags);
	if (!abandoned)
		return false;
	dev_err(ctrl->dev, "qid %u: command %#04x (cid %d) timed out after %u ms\n",
		q->qid, opcode, cid, jiffies_to_msecs(timeout));
	nvme_scsi_disable_after_timeout(ctrl, resets);
	/* disabled: its SQ slot is free again */
	nvme_scsi_put_slot(q);
	return true;
}

/* Expiries of a driver command's timeout after which it is abandoned anyway. */
#define NVME_SCSI_EXEC_ROUNDS	3

/*
 * Run one command on @q (admin or IO) with a CID of our own and wait up to
 * @timeout for it. Returns 0, a positive NVMe status (SCT << 8 | SC, with
 * DNR/M bits), or a negative errno; completion dword 0/1 in @result.
 *
 * Each expiry of @timeout climbs the timeout ladder (nvme_scsi_cmd_timed_out):
 * an IO command is aborted and given another @timeout; a command still
 * outstanding after that, an admin command, or one that outlives
 * NVME_SCSI_EXEC_ROUNDS expiries is abandoned (nvme_scsi_abandon) and
 * -ETIMEDOUT returned. A controller found gone is given up on (-ENODEV).
 */
int nvme_scsi_exec(struct nvme_scsi_ctrl *ctrl, struct nvme_scsi_queue *q,
		   struct nvme_command *cmd, u64 *result, unsigned long timeout)
{
	u8 opcode = cmd->common.opcode;
	struct nvme_scsi_sync_req sreq;
	bool abort_sent = false;
	unsigned int round;
	int cid = -1;
	long left;

	if (!q->cqes || !READ_ONCE(ctrl->enabled))
		return -ENODEV;
	/* on a queue with shared slots, blk-mq backs off while we wait */
	if (q->shared_slots)
		atomic_inc(&q->pt_waiting);
	left = wait_event_timeout(ctrl->admin_wait, nvme_scsi_get_cid(q, &cid),
				  max(timeout, (unsigned long)HZ));
	if (q->shared_slots)
		atomic_dec(&q->pt_waiting);
	if (!left)
		return -EBUSY;

	sreq.req.end = nvme_scsi_sync_end;
	init_completion(&sreq.done);
	sreq.status = 0;
	sreq.result = 0;
	cmd->common.command_id = cid;
	if (nvme_scsi_submit(q, cmd, &sreq.req, true)) {
		nvme_scsi_put_slot(q);
		nvme_scsi_put_cid(q, cid);
		return -ENODEV;
	}

	for (round = 1; !wait_for_completion_timeout(&sreq.done, timeout); round++) {
		enum nvme_scsi_timeout next;

		next = nvme_scsi_cmd_timed_out(q, cid, &sreq.req, &abort_sent, opcode);
		/*
		 * Inside the reset or remove path (reset_lock held) no reset
		 * comes to cancel an admin command: waiting is pointless.
		 */
		if (next == NVME_SCSI_TIMEOUT_WAIT && round < NVME_SCSI_EXEC_ROUNDS &&
		    (q->qid || !nvme_scsi_reset_lock_held(ctrl)))
			continue;
		/* the reset path that holds reset_lock cannot kill the controller */
		if (next == NVME_SCSI_TIMEOUT_GONE && !nvme_scsi_reset_lock_held(ctrl))
			nvme_scsi_kill_ctrl(ctrl, "controller gone");
		if (next != NVME_SCSI_TIMEOUT_DONE &&
		    nvme_scsi_abandon(q, cid, &sreq.req, opcode, timeout)) {
			nvme_scsi_put_cid(q, cid);
			return -ETIMEDOUT;
		}
		/* it ended (or the kill ended it): end() has run or is running */
		wait_for_completion(&sreq.done);
		break;
	}
	nvme_scsi_put_cid(q, cid);

	if (result)
		*result = sreq.result;
	if (sreq.status == NVME_SCSI_SC_CANCELLED)
		return -EINTR;
	if (sreq.status == NVME_SCSI_SC_DEAD)
		return -ENODEV;
	return sreq.status;
}

/*
 * Run one admin command and wait admin_timeout for it (see nvme_scsi_exec).
 */
int nvme_scsi_admin_exec(struct nvme_scsi_ctrl *ctrl, struct nvme_command *cmd,
			 u32 *result)
{
	u64 res = 0;
	int ret;

	ret = nvme_scsi_exec(ctrl, &ctrl->queues[0], cmd, &res,
			     nvme_scsi_admin_timeout * HZ);
	if (result)
		*result = lower_32_bits(res);
	return ret;
}

/* ---- asynchronous Abort (block-layer timeouts) ------------------------- */

struct nvme_scsi_abort_req {
	struct nvme_scsi_req req;
	u16 sqid;
	u16 cid;
	int admin_cid;
};

static void nvme_scsi_abort_end(struct nvme_scsi_queue *aq,
				struct nvme_scsi_req *req, u16 status,
				union nvme_result result)
{
	struct nvme_scsi_abort_req *ar =
		container_of(req, struct nvme_scsi_abort_req, req);
	struct nvme_scsi_ctrl *ctrl = aq->ctrl;
	struct nvme_scsi_queue *q = &ctrl->queues[ar->sqid];
	u16 sc = NVME_SCSI_STATUS_CODE(status);

	if (nvme_scsi_status_is_driver(status)) {
		/* the controller went away under the abort: nothing to add */
	} else if (sc) {
		atomic_inc(&q->nr_aborts_failed);
		dev_warn(ctrl->dev, "abort of qid %u cid %#x failed with status %#x\n",
			 ar->sqid, ar->cid, status);
		nvme_scsi_schedule_reset(ctrl, "abort failed");
	} else if (le32_to_cpu(result.u32) & 1) {
		/* not aborted: a second timeout of the command resets */
		atomic_inc(&q->nr_aborts_failed);
		dev_info(ctrl->dev, "qid %u cid %#x: controller did not abort the command\n",
			 ar->sqid, ar->cid);
	} else {
		dev_info(ctrl->dev, "qid %u cid %#x aborted\n", ar->sqid, ar->cid);
	}
	nvme_scsi_put_cid(aq, ar->admin_cid);
	kfree(ar);
}

/*
 * Send an Abort for (@sqid, CID index @cid, at the generation it was last
 * submitted with) without waiting; its completion is only logged (or, if
 * the Abort itself fails, a controller reset is scheduled).
 * Returns 0 if the Abort was submitted.
 */
int nvme_scsi_abort_async(struct nvme_scsi_ctrl *ctrl, u16 sqid, u16 cid)
{
	struct nvme_scsi_queue *aq = &ctrl->queues[0];
	struct nvme_scsi_abort_req *ar;
	struct nvme_command c = { };

	if (!READ_ONCE(ctrl->enabled))
		return -ENODEV;
	ar = kzalloc(sizeof(*ar), GFP_ATOMIC);
	if (!ar)
		return -ENOMEM;
	if (!nvme_scsi_get_cid(aq, &ar->admin_cid)) {
		kfree(ar);
		return -EBUSY;
	}
	ar->req.end = nvme_scsi_abort_end;
	ar->sqid = sqid;
	ar->cid = nvme_scsi_wire_cid(&ctrl->queues[sqid], cid);
	c.abort.opcode = nvme_admin_abort_cmd;
	c.abort.sqid = cpu_to_le16(sqid);
	c.abort.cid = ar->cid;
	c.abort.command_id = ar->admin_cid;
	atomic_inc(&ctrl->queues[sqid].nr_aborts);
	if (nvme_scsi_submit(aq, &c, &ar->req, true)) {
		nvme_scsi_put_cid(aq, ar->admin_cid);
		kfree(ar);
		return -ENODEV;
	}
	return 0;
}
