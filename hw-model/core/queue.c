// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cosim-nvme core: submission/completion queues, doorbells, command fetch,
 * completion posting and interrupts.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Commands fetched from one SQ per pass, so no queue starves the others. */
#define NVME_FETCH_BURST	32

/* ---- interrupts ---- */

static bool nvme_msix(struct nvme_ctrl *ctrl)
{
	return ctrl->ops->msix_enabled && ctrl->ops->msix_enabled(ctrl->opaque);
}

static uint32_t nvme_vector_bit(uint16_t iv)
{
	return 1u << (iv < 32 ? iv : 31);
}

/* Pin-based: INTx is asserted while an unmasked vector has unread CQEs. */
void nvme_irq_update(struct nvme_ctrl *ctrl)
{
	bool level = false;

	if (!nvme_msix(ctrl))
		level = (ctrl->irq_status & ~ctrl->intms) != 0;
	if (level != ctrl->intx_level) {
		ctrl->intx_level = level;
		if (ctrl->ops->intx_set)
			ctrl->ops->intx_set(ctrl->opaque, level);
	}
}

/*
 * Interrupt coalescing (Set Features 08h) for I/O CQs with MSI-X whose
 * vector does not have CD set (09h): hold the interrupt until THR+1
 * completions are in or TIME x 100 us have passed since the first one.
 * TIME 0 means no delay.  True if the interrupt is held back.
 */
static bool nvme_coalesce(struct nvme_ctrl *ctrl, struct nvme_cq *cq)
{
	uint32_t f = ctrl->feat[NVME_FEAT_IRQ_COALESCE];
	uint64_t time_ns = ((f >> 8) & 0xff) * 100000ull;

	if (!cq->qid || !time_ns || !ctrl->ops->clock_ns ||
	    (ctrl->irq_cd[cq->iv / 8] & (1u << (cq->iv % 8))))
		return false;
	if (++cq->coalesced >= (f & 0xff) + 1u) {
		cq->coalesced = 0;
		cq->irq_deadline = UINT64_MAX;
		return false;
	}
	if (cq->irq_deadline == UINT64_MAX) {
		cq->irq_deadline = nvme_clock_ns(ctrl) + time_ns;
		nvme_fault_timer_update(ctrl);
	}
	return true;
}

/* The host timer fired: send the interrupts whose aggregation time is up. */
void nvme_coalesce_timer(struct nvme_ctrl *ctrl)
{
	uint64_t now = nvme_clock_ns(ctrl);
	uint32_t i;

	for (i = 1; i < ctrl->nqueues; i++) {
		struct nvme_cq *cq = ctrl->cq[i];

		if (!cq || cq->irq_deadline > now)
			continue;
		cq->irq_deadline = UINT64_MAX;
		cq->coalesced = 0;
		if (cq->ien && nvme_msix(ctrl) && !ctrl->disabling &&
		    !(ctrl->csts & NVME_CSTS_CFS) && !ctrl->gone && !ctrl->reset_pending)
			ctrl->ops->msix_notify(ctrl->opaque, cq->iv);
	}
}

static void nvme_cq_notify(struct nvme_ctrl *ctrl, struct nvme_cq *cq)
{
	/* the CQE write that reset us asks for no interrupt either */
	if (!cq->ien || ctrl->reset_pending)
		return;
	if (nvme_fault_event(ctrl, NVME_FAULT_DROP_IRQ, cq->qid, NULL)) {
		ctrl->stats.irqs_dropped++;
		return;
	}
	if (nvme_msix(ctrl)) {
		if (!nvme_coalesce(ctrl, cq))
			ctrl->ops->msix_notify(ctrl->opaque, cq->iv);
		return;
	}
	ctrl->irq_status |= nvme_vector_bit(cq->iv);
	nvme_irq_update(ctrl);
}

/* After a CQ head update: drop the vector's pin status once all its CQs are read. */
static void nvme_cq_irq_check(struct nvme_ctrl *ctrl, struct nvme_cq *cq)
{
	uint32_t bit = nvme_vector_bit(cq->iv);
	uint32_t i;

	for (i = 0; i < ctrl->nqueues; i++) {
		struct nvme_cq *other = ctrl->cq[i];

		if (other && other->ien && nvme_vector_bit(other->iv) == bit &&
		    other->head != other->tail)
			return;
	}
	ctrl->irq_status &= ~bit;
	nvme_irq_update(ctrl);
}

/* ---- queue objects ---- */

struct nvme_cq *nvme_cq_create(struct nvme_ctrl *ctrl, uint16_t qid, uint64_t base,
			       uint32_t size, bool ien, uint16_t iv)
{
	struct nvme_cq *cq = calloc(1, sizeof(*cq));

	if (!cq)
		return NULL;
	cq->qid = qid;
	cq->base = base;
	cq->size = size;
	cq->phase = true;
	cq->ien = ien;
	cq->iv = iv;
	cq->irq_deadline = UINT64_MAX;
	list_init(&cq->wait);
	ctrl->cq[qid] = cq;
	return cq;
}

void nvme_cq_free(struct nvme_ctrl *ctrl, struct nvme_cq *cq)
{
	ctrl->cq[cq->qid] = NULL;
	cq->head = cq->tail;
	nvme_cq_irq_check(ctrl, cq);
	free(cq);
}

struct nvme_sq *nvme_sq_create(struct nvme_ctrl *ctrl, uint16_t qid, uint64_t base,
			       uint32_t size, struct nvme_cq *cq)
{
	struct nvme_sq *sq = calloc(1, sizeof(*sq));
	uint32_t i;

	if (!sq)
		return NULL;
	sq->reqs = calloc(size, sizeof(*sq->reqs));
	if (!sq->reqs) {
		free(sq);
		return NULL;
	}
	sq->ctrl = ctrl;
	sq->qid = qid;
	sq->base = base;
	sq->size = size;
	sq->cq = cq;
	list_init(&sq->free);
	for (i = 0; i < size; i++) {
		struct nvme_req *req = &sq->reqs[i];

		req->sq = sq;
		req->state = NVME_REQ_FREE;
		list_add_tail(&sq->free, &req->link);
	}
	cq->nsq++;
	ctrl->sq[qid] = sq;
	return sq;
}

static void nvme_sq_unlink(struct nvme_ctrl *ctrl, struct nvme_sq *sq)
{
	ctrl->sq[sq->qid] = NULL;
	sq->cq->nsq--;
	sq->cq = NULL;
}

static void nvme_sq_free_mem(struct nvme_sq *sq)
{
	uint32_t i;

	for (i = 0; i < sq->size; i++) {
		list_del(&sq->reqs[i].link);
		free(sq->reqs[i].sg);
		free(sq->reqs[i].buf);
		/* a zombie's Write still out has its ledger CRCs */
		free(sq->reqs[i].crcs);
	}
	free(sq->reqs);
	free(sq);
}

static void nvme_sq_free(struct nvme_ctrl *ctrl, struct nvme_sq *sq)
{
	nvme_sq_unlink(ctrl, sq);
	nvme_sq_free_mem(sq);
}

/*
 * A hard reset cannot wait for the host's block layer.  An SQ with requests
 * still out there leaves the controller but stays allocated, so their late
 * completions land on valid memory and are dropped.
 */
static void nvme_sq_orphan(struct nvme_ctrl *ctrl, struct nvme_sq *sq)
{
	uint32_t i;

	sq->deleting = true;
	sq->zombie = true;
	sq->delete_req = NULL;
	for (i = 0; i < sq->size; i++)
		if (sq->reqs[i].state == NVME_REQ_HELD || sq->reqs[i].state == NVME_REQ_CQ_WAIT)
			nvme_req_release(&sq->reqs[i]);
	nvme_sq_unlink(ctrl, sq);
	ctrl->io_inflight -= sq->backend;
	list_add_tail(&ctrl->zombies, &sq->zombie_link);
}

void nvme_zombie_io_done(struct nvme_req *req)
{
	struct nvme_sq *sq = req->sq;

	sq->backend--;
	nvme_req_release(req);
	if (!sq->backend) {
		list_del(&sq->zombie_link);
		nvme_sq_free_mem(sq);
	}
}

void nvme_zombies_free(struct nvme_ctrl *ctrl)
{
	while (!list_empty(&ctrl->zombies)) {
		struct nvme_sq *sq = list_first(&ctrl->zombies, struct nvme_sq, zombie_link);

		list_del(&sq->zombie_link);
		nvme_sq_free_mem(sq);
	}
}

/*
 * Give back the host memory a command holds once its completion is decided:
 * its buffer, and an sg array larger than an idle slot keeps.  A completion
 * waiting for CQ space holds nothing, however long the host lets it wait.
 */
void nvme_req_free_buffers(struct nvme_req *req)
{
	nvme_ledger_release(req->sq->ctrl, req);
	req->sq->ctrl->bounce_bytes -= req->bounce;
	req->bounce = 0;
	free(req->buf);
	req->buf = NULL;
	if (req->sg_cap > NVME_SG_KEEP) {
		free(req->sg);
		req->sg = NULL;
		req->sg_cap = 0;
	}
}

void nvme_req_release(struct nvme_req *req)
{
	struct nvme_sq *sq = req->sq;

	list_del(&req->link);
	nvme_req_free_buffers(req);
	req->state = NVME_REQ_FREE;
	list_add_tail(&sq->free, &req->link);
	/*
	 * The host may refill SQ slots as soon as a CQE reports the new head,
	 * so more commands than slots can be outstanding: fetching that
	 * stopped for want of a free request resumes here.
	 */
	if (sq->head != sq->tail && !sq->deleting)
		sq->ctrl->ops->schedule(sq->ctrl->opaque);
}

struct nvme_req *nvme_req_find(struct nvme_sq *sq, uint16_t cid)
{
	uint32_t i;

	for (i = 0; i < sq->size; i++)
		if (sq->reqs[i].state != NVME_REQ_FREE && sq->reqs[i].cmd.cid == cid)
			return &sq->reqs[i];
	return NULL;
}

/*
 * Free the SQ once nothing of it is out at the block layer; then a waiting
 * Delete I/O SQ command completes.
 */
bool nvme_sq_try_free(struct nvme_ctrl *ctrl, struct nvme_sq *sq)
{
	struct nvme_req *delete_req = sq->delete_req;

	if (sq->backend)
		return false;
	nvme_sq_free(ctrl, sq);
	if (delete_req)
		nvme_req_complete(delete_req);
	return true;
}

/*
 * Stop an SQ: no more fetching, commands held in the controller or waiting
 * for CQ space are dropped (the queue is gone, so is their completion).
 * Commands out at the block layer keep the SQ alive until they return.
 */
void nvme_sq_delete(struct nvme_ctrl *ctrl, struct nvme_sq *sq)
{
	uint32_t i;

	sq->deleting = true;
	for (i = 0; i < sq->size; i++) {
		struct nvme_req *req = &sq->reqs[i];

		if (req->state == NVME_REQ_HELD || req->state == NVME_REQ_CQ_WAIT)
			nvme_req_release(req);
	}
	nvme_sq_try_free(ctrl, sq);
}

/* Back to the start of the arbitration cycle (controller reset). */
static void nvme_arb_reset(struct nvme_ctrl *ctrl)
{
	memset(ctrl->arb_next, 0, sizeof(ctrl->arb_next));
	ctrl->wrr_class = NVME_SQ_PRIO_LOW;	/* the first turn starts with high */
	ctrl->wrr_credit = 0;
}

/* Remove every queue now, whatever is outstanding (controller reset). */
void nvme_queues_teardown(struct nvme_ctrl *ctrl)
{
	uint32_t i;

	for (i = 0; i < ctrl->nqueues; i++)
		if (ctrl->sq[i])
			ctrl->sq[i]->delete_req = NULL;
	for (i = 0; i < ctrl->nqueues; i++) {
		struct nvme_sq *sq = ctrl->sq[i];

		if (sq && sq->backend)
			nvme_sq_orphan(ctrl, sq);
		else if (sq)
			nvme_sq_free(ctrl, sq);
	}
	for (i = 0; i < ctrl->nqueues; i++)
		if (ctrl->cq[i])
			nvme_cq_free(ctrl, ctrl->cq[i]);
	list_init(&ctrl->aer_reqs);
	ctrl->aer_count = 0;
	nvme_arb_reset(ctrl);
}

/* ---- completion ---- */

static bool nvme_cq_full(const struct nvme_cq *cq)
{
	return (cq->tail + 1) % cq->size == cq->head;
}

/* Write one CQE at the tail; false (and CSTS.CFS) if the write failed. */
static bool nvme_cq_put(struct nvme_ctrl *ctrl, struct nvme_cq *cq, struct nvme_sq *sq,
			uint16_t sq_head,
			uint16_t cid, uint16_t status, uint32_t dw0)
{
	struct nvme_cqe cqe = {
		.dw0 = dw0,
		.sq_head = sq_head,
		.sq_id = sq->qid,
		.cid = cid,
		.status = (uint16_t)(status << 1 | cq->phase),
	};

	if (ctrl->reset_pending)
		return false;	/* the last write reset us: nothing more goes out */
	if (ctrl->ops->dma_write(ctrl->opaque, cq->base + (uint64_t)cq->tail * sizeof(cqe),
				 &cqe, sizeof(cqe))) {
		nvme_fatal(ctrl, "cannot write a completion queue entry");
		return false;
	}
	if (ctrl->ops->trace_cqe)
		ctrl->ops->trace_cqe(ctrl->opaque, sq->qid, cqe.cid, status, cqe.dw0);
	if (++cq->tail == cq->size) {
		cq->tail = 0;
		cq->phase = !cq->phase;
	}
	return true;
}

static uint32_t nvme_cq_room(const struct nvme_cq *cq)
{
	return (cq->head + cq->size - cq->tail - 1) % cq->size;
}

/* bad-cid: a CID no command of @sq has outstanding */
static uint16_t nvme_stray_cid(struct nvme_sq *sq, uint16_t cid)
{
	uint16_t c = cid ^ 0x8000;
	unsigned int tries;

	for (tries = 0; tries < 0x10000 && nvme_req_find(sq, c); tries++)
		c++;
	return c;
}

static void nvme_cq_post(struct nvme_ctrl *ctrl, struct nvme_cq *cq, struct nvme_req *req)
{
	struct nvme_sq *sq = req->sq;
	/* sq-head: a head the host never advanced to, or past its tail */
	uint16_t head = req->fault_flags & NVME_REQ_F_SQ_HEAD ? req->fault_sq_head :
			(uint16_t)sq->head;

	/* fault engine: the extra entries only go in while the CQ has room */
	if ((req->fault_flags & NVME_REQ_F_BAD_CID) && nvme_cq_room(cq) >= 2) {
		if (!nvme_cq_put(ctrl, cq, sq, head, nvme_stray_cid(sq, req->cmd.cid),
				 req->status, req->dw0))
			return;
		ctrl->stats.extra_completions++;
	}
	if (!nvme_cq_put(ctrl, cq, sq, head, req->cmd.cid, req->status, req->dw0))
		return;
	if (sq->qid)
		ctrl->stats.io_completed++;
	else
		ctrl->stats.admin_completed++;
	ctrl->q_completed[sq->qid]++;
	if ((req->fault_flags & NVME_REQ_F_DUP) && nvme_cq_room(cq) >= 1 &&
	    nvme_cq_put(ctrl, cq, sq, head, req->cmd.cid, req->status, req->dw0))
		ctrl->stats.extra_completions++;
	if (req->fault_flags & NVME_REQ_F_STALE) {
		sq->stale.armed = true;
		sq->stale.cid = req->cmd.cid;
		sq->stale.status = req->status;
		sq->stale.dw0 = req->dw0;
	}
	nvme_cq_notify(ctrl, cq);
}

/*
 * stale-completion: a completion of @sq's posted once more, now that the
 * host has submitted another command.  Its CID was freed when the first
 * copy arrived and the host may have given it to the command just fetched
 * (a host with one command out always does): the late copy then completes
 * the wrong command unless the host checks more than the CID.
 */
static void nvme_sq_stale_replay(struct nvme_ctrl *ctrl, struct nvme_sq *sq)
{
	struct nvme_cq *cq = sq->cq;

	/* the real completion of what is out must still fit behind it */
	if (nvme_cq_room(cq) < 2 || !list_empty(&cq->wait))
		return;
	sq->stale.armed = false;
	if (!nvme_cq_put(ctrl, cq, sq, (uint16_t)sq->head, sq->stale.cid, sq->stale.status,
			 sq->stale.dw0))
		return;
	ctrl->stats.extra_completions++;
	nvme_cq_notify(ctrl, cq);
}

/*
 * Post req's completion (req->status, req->dw0), or park it until the CQ
 * has room.  Completions for a queue being deleted are dropped.
 */
void nvme_req_complete(struct nvme_req *req)
{
	struct nvme_sq *sq = req->sq;
	struct nvme_ctrl *ctrl = sq->ctrl;
	struct nvme_cq *cq = sq->cq;

	if (sq->deleting || ctrl->disabling || (ctrl->csts & NVME_CSTS_CFS) || ctrl->gone ||
	    ctrl->reset_pending) {
		nvme_req_release(req);
		return;
	}
	/* status rule with execute: the command ran; its own failure wins */
	if ((req->fault_flags & NVME_REQ_F_STATUS) && !req->status) {
		req->status = req->fault_status;
		ctrl->stats.cmds_status++;
	}
	if (req->status)
		nvme_error_log_add(ctrl, req);
	/* the host is told now (or once its CQ has room): the ledger too */
	nvme_ledger_complete(ctrl, req);
	if (!list_empty(&cq->wait) || nvme_cq_full(cq)) {
		nvme_req_free_buffers(req);
		list_del(&req->link);
		req->state = NVME_REQ_CQ_WAIT;
		list_add_tail(&cq->wait, &req->link);
		return;
	}
	nvme_cq_post(ctrl, cq, req);
	nvme_req_release(req);
}

static void nvme_cq_flush_wait(struct nvme_ctrl *ctrl, struct nvme_cq *cq)
{
	while (!list_empty(&cq->wait) && !nvme_cq_full(cq) &&
	       !(ctrl->csts & NVME_CSTS_CFS)) {
		struct nvme_req *req = list_first(&cq->wait, struct nvme_req, link);

		nvme_cq_post(ctrl, cq, req);
		nvme_req_release(req);
	}
}

/* ---- doorbells ---- */

/* Spec 4.1: report bad doorbell writes through an error Asynchronous Event. */
static void nvme_doorbell_error(struct nvme_ctrl *ctrl, uint8_t info)
{
	nvme_ctrl_raise_event(ctrl, NVME_AER_TYPE_ERROR, info, NVME_LOG_ERROR);
}

static void nvme_sq_doorbell(struct nvme_ctrl *ctrl, struct nvme_sq *sq, uint32_t tail)
{
	if (tail >= sq->size) {
		nvme_guest_error(ctrl, "SQ %u tail %u beyond size %u", sq->qid, tail, sq->size);
		nvme_doorbell_error(ctrl, NVME_AER_ERR_INVALID_DB);
		return;
	}
	sq->tail = tail;
	ctrl->ops->schedule(ctrl->opaque);
}

static void nvme_cq_doorbell(struct nvme_ctrl *ctrl, struct nvme_cq *cq, uint32_t head)
{
	if (head >= cq->size) {
		nvme_guest_error(ctrl, "CQ %u head %u beyond size %u", cq->qid, head, cq->size);
		nvme_doorbell_error(ctrl, NVME_AER_ERR_INVALID_DB);
		return;
	}
	cq->head = head;
	/* pin-based only: MSI-X never sets irq_status */
	if (cq->head == cq->tail && (ctrl->irq_status & nvme_vector_bit(cq->iv)))
		nvme_cq_irq_check(ctrl, cq);
	if (!list_empty(&cq->wait))
		ctrl->ops->schedule(ctrl->opaque);
}

void nvme_doorbell_write(struct nvme_ctrl *ctrl, uint64_t off, uint32_t val)
{
	uint64_t stride = 4ull << ctrl->p.dstrd;
	uint64_t idx = off / stride;
	uint32_t qid = (uint32_t)(idx / 2);
	bool is_cq = idx & 1;

	if (off % stride) {
		nvme_guest_error(ctrl, "write between doorbells at 0x%llx",
				 (unsigned long long)off);
		return;
	}
	if (!ctrl->enabled || ctrl->disabling)
		return;
	if (qid < ctrl->nqueues && is_cq && ctrl->cq[qid]) {
		nvme_cq_doorbell(ctrl, ctrl->cq[qid], val);
		return;
	}
	if (qid < ctrl->nqueues && !is_cq && ctrl->sq[qid] && !ctrl->sq[qid]->deleting) {
		nvme_sq_doorbell(ctrl, ctrl->sq[qid], val);
		return;
	}
	nvme_guest_error(ctrl, "doorbell for missing %s %u", is_cq ? "CQ" : "SQ", qid);
	nvme_doorbell_error(ctrl, NVME_AER_ERR_INVALID_SQ);
}

/* ---- fetch ---- */

/* Run a fetched (or formerly delayed) command. */
void nvme_req_exec(struct nvme_ctrl *ctrl, struct nvme_req *req)
{
	if (req->sq->qid == 0)
		nvme_admin_exec(ctrl, req);
	else
		nvme_io_exec(ctrl, req);
}

static bool nvme_sq_ready(const struct nvme_sq *sq)
{
	return sq && !sq->deleting && sq->head != sq->tail && !list_empty(&sq->free);
}

/* Fetch and start up to @max commands of @sq; returns how many were fetched. */
static uint32_t nvme_sq_fetch(struct nvme_ctrl *ctrl, struct nvme_sq *sq, uint32_t max)
{
	uint32_t n;

	for (n = 0; n < max; n++) {
		struct nvme_req *req;

		if (sq->head == sq->tail || list_empty(&sq->free))
			break;
		req = list_first(&sq->free, struct nvme_req, link);
		if (ctrl->ops->dma_read(ctrl->opaque,
					sq->base + (uint64_t)sq->head * sizeof(req->cmd),
					&req->cmd, sizeof(req->cmd))) {
			nvme_fatal(ctrl, "cannot read a submission queue entry");
			break;
		}
		if (ctrl->ops->trace_cmd)
			ctrl->ops->trace_cmd(ctrl->opaque, sq->qid, req->cmd.cid,
					     req->cmd.opcode, req->cmd.nsid);
		list_del(&req->link);
		req->state = NVME_REQ_ACTIVE;
		req->status = NVME_SC_SUCCESS;
		req->dw0 = 0;
		req->fault_flags = 0;
		sq->head = (sq->head + 1) % sq->size;
		if (sq->qid)
			ctrl->stats.io_submitted++;
		else
			ctrl->stats.admin_submitted++;
		ctrl->q_submitted[sq->qid]++;
		if (sq->stale.armed) {
			nvme_sq_stale_replay(ctrl, sq);
			if (!nvme_ctrl_running(ctrl)) {
				/* that CQE write failed or reset us: this one never ran */
				nvme_req_release(req);
				return n + 1;
			}
		}
		if (!nvme_fault_cmd(ctrl, req))
			nvme_req_exec(ctrl, req);
		if (!nvme_ctrl_running(ctrl) || sq->deleting)
			return n + 1;
	}
	return n;
}

/* ---- arbitration (spec 4.7) ---- */

/*
 * The I/O SQs of one class with commands to fetch, in SQ id order; the
 * class's round robin goes on at @pos.  Rebuilt for every pass.
 */
struct nvme_arb_list {
	uint16_t *qid;
	uint32_t n, pos;
};

/* Arbitration burst (Feature 01h AB): commands one SQ may fetch per turn. */
static uint32_t nvme_arb_burst(const struct nvme_ctrl *ctrl)
{
	uint32_t ab = NVME_ARB_AB(ctrl->feat[NVME_FEAT_ARBITRATION]);

	return ab == NVME_ARB_AB_NO_LIMIT ? UINT32_MAX : 1u << ab;
}

/* Sort the ready I/O SQs into their classes; returns how many there are. */
static uint32_t nvme_arb_collect(struct nvme_ctrl *ctrl, struct nvme_arb_list *l)
{
	bool wrr = ctrl->wrr;
	uint32_t total = 0;
	uint32_t c, qid;

	for (c = 0; c < NVME_ARB_CLASSES; c++)
		l[c] = (struct nvme_arb_list){ .qid = ctrl->arb_qids + c * ctrl->nqueues };
	for (qid = 1; qid < ctrl->nqueues; qid++) {
		struct nvme_sq *sq = ctrl->sq[qid];

		if (!nvme_sq_ready(sq))
			continue;
		c = wrr ? sq->prio : 0;
		/* the round resumes at the first SQ at or after arb_next */
		if (qid < ctrl->arb_next[c])
			l[c].pos++;
		l[c].qid[l[c].n++] = (uint16_t)qid;
		total++;
	}
	for (c = 0; c < NVME_ARB_CLASSES; c++)
		if (l[c].pos >= l[c].n)
			l[c].pos = 0;
	return total;
}

/*
 * One turn: the class's next SQ fetches up to @max commands.  It stays in
 * the round while it has more; the next pass resumes after it.
 */
static uint32_t nvme_arb_turn(struct nvme_ctrl *ctrl, struct nvme_arb_list *l, uint32_t c,
			      uint32_t max)
{
	uint16_t qid = l->qid[l->pos];
	uint32_t got = 0;

	if (nvme_sq_ready(ctrl->sq[qid]))
		got = nvme_sq_fetch(ctrl, ctrl->sq[qid], max);
	ctrl->arb_next[c] = qid + 1u;
	if (got && nvme_sq_ready(ctrl->sq[qid])) {
		l->pos++;
	} else {
		l->n--;
		memmove(&l->qid[l->pos], &l->qid[l->pos + 1], (l->n - l->pos) * sizeof(*l->qid));
	}
	if (l->pos >= l->n)
		l->pos = 0;
	return got;
}

static uint32_t nvme_wrr_weight(const struct nvme_ctrl *ctrl, uint32_t c)
{
	uint32_t f = ctrl->feat[NVME_FEAT_ARBITRATION];

	switch (c) {
	case NVME_SQ_PRIO_HIGH:
		return NVME_ARB_HPW(f) + 1;
	case NVME_SQ_PRIO_MEDIUM:
		return NVME_ARB_MPW(f) + 1;
	default:
		return NVME_ARB_LPW(f) + 1;
	}
}

/* The weighted cycle moves on: high -> medium -> low -> high, fresh credit. */
static void nvme_wrr_next_class(struct nvme_ctrl *ctrl)
{
	ctrl->wrr_class = ctrl->wrr_class % 3 + 1;
	ctrl->wrr_credit = nvme_wrr_weight(ctrl, ctrl->wrr_class);
}

static uint32_t min3(uint32_t a, uint32_t b, uint32_t c)
{
	return MIN(MIN(a, b), c);
}

/*
 * A turn's size: the burst, but a lone SQ in its round would get every
 * turn anyway, so it takes them at once (the common one-queue case).
 */
static uint32_t nvme_arb_turn_max(const struct nvme_arb_list *l, uint32_t burst,
				  uint32_t budget)
{
	return l->n == 1 ? budget : MIN(burst, budget);
}

/* Round robin over every ready I/O SQ, each turn up to a burst. */
static void nvme_arb_rr(struct nvme_ctrl *ctrl, struct nvme_arb_list *l, uint32_t budget)
{
	uint32_t burst = nvme_arb_burst(ctrl);

	while (budget && l->n && nvme_ctrl_running(ctrl))
		budget -= nvme_arb_turn(ctrl, l, 0, nvme_arb_turn_max(l, burst, budget));
}

/*
 * Weighted round robin with urgent priority class: urgent SQs strictly
 * first (round robin among them), then high, medium and low in a cycle
 * in which each class may fetch its weight (HPW/MPW/LPW + 1) in commands;
 * a class with nothing to fetch gives up its share of the cycle.
 */
static void nvme_arb_wrr(struct nvme_ctrl *ctrl, struct nvme_arb_list *l, uint32_t budget)
{
	uint32_t burst = nvme_arb_burst(ctrl);
	uint32_t got;

	while (budget && nvme_ctrl_running(ctrl)) {
		struct nvme_arb_list *cl;

		if (l[NVME_SQ_PRIO_URGENT].n) {
			budget -= nvme_arb_turn(ctrl, &l[NVME_SQ_PRIO_URGENT], NVME_SQ_PRIO_URGENT,
						nvme_arb_turn_max(&l[NVME_SQ_PRIO_URGENT],
								  burst, budget));
			continue;
		}
		if (!l[NVME_SQ_PRIO_HIGH].n && !l[NVME_SQ_PRIO_MEDIUM].n && !l[NVME_SQ_PRIO_LOW].n)
			return;
		cl = &l[ctrl->wrr_class];
		if (!ctrl->wrr_credit || !cl->n) {
			nvme_wrr_next_class(ctrl);
			continue;
		}
		got = nvme_arb_turn(ctrl, cl, ctrl->wrr_class,
				    min3(burst, ctrl->wrr_credit, budget));
		ctrl->wrr_credit -= got;
		budget -= got;
	}
}

void nvme_queues_process(struct nvme_ctrl *ctrl)
{
	struct nvme_arb_list l[NVME_ARB_CLASSES];
	bool more = false;
	uint32_t i, nready;

	nvme_aer_kick(ctrl);
	if (!ctrl->ops->timer_mod && !list_empty(&ctrl->delayed))
		nvme_fault_run_delayed(ctrl);
	for (i = 0; i < ctrl->nqueues; i++)
		if (ctrl->cq[i])
			nvme_cq_flush_wait(ctrl, ctrl->cq[i]);

	/* the admin SQ goes first, whatever the arbitration (spec 4.7) */
	if (nvme_sq_ready(ctrl->sq[0]) && nvme_ctrl_running(ctrl)) {
		nvme_sq_fetch(ctrl, ctrl->sq[0], NVME_FETCH_BURST);
		more = nvme_sq_ready(ctrl->sq[0]);
	}
	if (!nvme_ctrl_running(ctrl))
		return;

	/* at most 32 commands per ready SQ in a pass, then yield to the main loop */
	nready = nvme_arb_collect(ctrl, l);
	if (ctrl->wrr)
		nvme_arb_wrr(ctrl, l, nready * NVME_FETCH_BURST);
	else
		nvme_arb_rr(ctrl, l, nready * NVME_FETCH_BURST);
	for (i = 0; i < NVME_ARB_CLASSES; i++)
		if (l[i].n)
			more = true;
	if (more && nvme_ctrl_running(ctrl))
		ctrl->ops->schedule(ctrl->opaque);
}
