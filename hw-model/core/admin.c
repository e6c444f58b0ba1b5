// SPDX-License-Identifier: GPL-2.0-or-later
/* cosim-nvme core: the admin command set (NVMe 1.0e section 5). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Returned by a handler that parked the command instead of completing it. */
#define NVME_NO_COMPLETE	0xffff

#define NVME_INVALID_FIELD	(NVME_SC_INVALID_FIELD | NVME_DNR)

/* Power states in Identify (NPSS = 2): all operational, 25 / 12 / 6 W. */
#define NVME_NPSS	2
static const uint16_t nvme_ps_centiwatts[NVME_NPSS + 1] = { 2500, 1200, 600 };
/* The controller's temperature, Kelvin (37 C) */
#define NVME_TEMP_KELVIN	310


/* ---- Identify ---- */

/* Identify strings are ASCII, space padded, not NUL terminated. */
void nvme_id_string(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	memset(dst, ' ', size);
	memcpy(dst, src, n < size ? n : size);
}

static uint16_t nvme_identify_ctrl(struct nvme_ctrl *ctrl, struct nvme_req *req)
{
	struct nvme_id_ctrl id;
	unsigned int i;

	memset(&id, 0, sizeof(id));
	id.vid = ctrl->p.vid;
	id.ssvid = ctrl->p.ssvid;
	nvme_id_string(id.sn, sizeof(id.sn), ctrl->p.serial);
	nvme_id_string(id.mn, sizeof(id.mn), ctrl->p.model);
	memcpy(id.fr, ctrl->fw_rev[ctrl->fw_active], sizeof(id.fr));
	id.rab = 6;
	id.mdts = ctrl->p.mdts;
	if (ctrl->p.vs >= NVME_VS_1_2)
		id.ver = ctrl->p.vs;
	if (ctrl->p.ns_notice_aen)
		id.oaes = NVME_OAES_NS_ATTR;
	id.oacs = NVME_OACS_FORMAT | NVME_OACS_FW;	/* no security commands */
	id.acl = ctrl->p.acl;
	id.aerl = ctrl->p.aerl;
	id.frmw = (uint8_t)(ctrl->p.fw_slots << 1 | 1);	/* slot 1 read-only */
	id.lpa = 0;
	id.elpe = NVME_ERROR_LOG_ENTRIES - 1;
	id.npss = NVME_NPSS;
	id.sqes = NVME_SQES_LOG2 << 4 | NVME_SQES_LOG2;
	id.cqes = NVME_CQES_LOG2 << 4 | NVME_CQES_LOG2;
	id.nn = ctrl->p.nn;
	id.oncs = NVME_ONCS_COMPARE | NVME_ONCS_WRITE_UNCOR | NVME_ONCS_DSM;
	id.vwc = 1;
	for (i = 0; i <= NVME_NPSS; i++) {
		id.psd[i].mp = nvme_ps_centiwatts[i];
		/* entry/exit latency (us) and relative performance grow with the state */
		id.psd[i].enlat = i * 1000;
		id.psd[i].exlat = i * 1000;
		id.psd[i].rrt = id.psd[i].rrl = id.psd[i].rwt = id.psd[i].rwl = (uint8_t)i;
	}
	return nvme_dma_to_guest(ctrl, req, &id, sizeof(id));
}

static uint16_t nvme_identify_ns(struct nvme_ctrl *ctrl, struct nvme_req *req)
{
	uint32_t nsid = req->cmd.nsid;
	struct nvme_ns *ns;
	struct nvme_id_ns id;

	if (nsid < 1 || nsid > ctrl->p.nn)
		return NVME_SC_INVALID_NS | NVME_DNR;
	memset(&id, 0, sizeof(id));
	/* a valid but unattached nsid reads as zeroes (NCAP 0): "not present" */
	ns = ctrl->ns[nsid];
	if (ns) {
		id.nsze = ns->nlbas;
		id.ncap = ns->nlbas;
		id.nuse = ns->nlbas;
		uint8_t lbads[16];
		unsigned int i, n = nvme_ns_lbafs(ns, lbads);

		id.nlbaf = (uint8_t)(n - 1);
		for (i = 0; i < n; i++) {
			id.lbaf[i].lbads = lbads[i];
			/* relative performance: 4 KiB is "best", the rest "better" */
			id.lbaf[i].rp = lbads[i] == 12 ? 0 : 1;
			if (lbads[i] == ns->lbads)
				id.flbas = (uint8_t)i;
		}
	}
	return nvme_dma_to_guest(ctrl, req, &id, sizeof(id));
}

/* NVMe 1.1 CNS 2: up to 1024 active nsids above NSID, ascending. */
static uint16_t nvme_identify_ns_list(struct nvme_ctrl *ctrl, struct nvme_req *req)
{
	uint32_t list[1024] = { 0 };
	uint32_t nsid, n = 0;

	if (req->cmd.nsid >= 0xfffffffeu)
		return NVME_INVALID_FIELD;
	for (nsid = req->cmd.nsid + 1; nsid <= ctrl->p.nn && n < 1024; nsid++)
		if (ctrl->ns[nsid])
			list[n++] = nsid;
	return nvme_dma_to_guest(ctrl, req, list, sizeof(list));
}

static uint16_t nvme_identify(struct nvme_ctrl *ctrl, struct nvme_req *req)
{
	switch (req->cmd.cdw10 & 0xff) {
	case NVME_ID_CNS_NS:
		return nvme_identify_ns(ctrl, req);
	case NVME_ID_CNS_CTRL:
		return nvme_identify_ctrl(ctrl, req);
	case NVME_ID_CNS_NS_LIST:
		if (ctrl->p.vs >= NVME_VS_1_1)
			return nvme_identify_ns_list(ctrl, req);
		return NVME_INVALID_FIELD;
	default:
		return NVME_INVALID_FIELD;
	}
}

/* ---- queue management ---- */

static bool nvme_queue_base_ok(struct nvme_ctrl *ctrl, uint64_t base)
{
	return base && !(base & (ctrl->page_size - 1));
}

static uint16_t nvme_create_cq(struct nvme_ctrl *ctrl, struct nvme_req *req)
{
	const struct nvme_sqe *cmd = &req->cmd;
	uint32_t qid = cmd->cdw10 & 0xffff;
	uint32_t size = (cmd->cdw10 >> 16) + 1;
	uint16_t iv = cmd->cdw11 >> 16;

	if (!qid || qid >= ctrl->nqueues || ctrl->cq[qid])
		return NVME_SC_QID_INVALID | NVME_DNR;
	if (size < 2 || size > ctrl->p.mqes + 1u)
		return NVME_SC_QUEUE_SIZE | NVME_DNR;
	/* CAP.CQR: only physically contiguous queues */
	if (!(cmd->cdw11 & NVME_QUEUE_PC) || !nvme_queue_base_ok(ctrl, cmd->prp1))
		return NVME_INVALID_FIELD;
	if (NVME_CC_IOCQES(ctrl->cc) != NVME_CQES_LOG2)
		return NVME_INVALID_FIELD;
	if (iv >= ctrl->p.nr_vectors)
		return NVME_SC_INVALID_VECTOR | NVME_DNR;
	if (!nvme_cq_create(ctrl, qid, cmd->prp1, size, cmd->cdw11 & NVME_CQ_IEN, iv))
		return NVME_SC_INTERNAL;
	return NVME_SC_SUCCESS;
}

static uint16_t nvme_create_sq(struct nvme_ctrl *ctrl, struct nvme_req *req)
{
	const struct nvme_sqe *cmd = &req->cmd;
	uint32_t qid = cmd->cdw10 & 0xffff;
	uint32_t size = (cmd->cdw10 >> 16) + 1;
	uint32_t cqid = cmd->cdw11 >> 16;
	struct nvme_sq *sq;

	if (!qid || qid >= ctrl->nqueues || ctrl->sq[qid])
		return NVME_SC_QID_INVALID | NVME_DNR;
	if (!cqid || cqid >= ctrl->nqueues || !ctrl->cq[cqid])
		return NVME_SC_CQ_INVALID | NVME_DNR;
	if (size < 2 || size > ctrl->p.mqes + 1u)
		return NVME_SC_QUEUE_SIZE | NVME_DNR;
	if (!(cmd->cdw11 & NVME_QUEUE_PC) || !nvme_queue_base_ok(ctrl, cmd->prp1))
		return NVME_INVALID_FIELD;
	if (NVME_CC_IOSQES(ctrl->cc) != NVME_SQES_LOG2)
		return NVME_INVALID_FIELD;
	sq = nvme_sq_create(ctrl, qid, cmd->prp1, size, ctrl->cq[cqid]);
	if (!sq)
		return NVME_SC_INTERNAL;
	/* kept whatever CC.AMS says; round robin simply does not look at it */
	sq->prio = NVME_SQ_QPRIO(cmd->cdw11);
	return NVME_SC_SUCCESS;
}

/*
 * Commands of the SQ still at the block layer keep the Delete pending; it
 * completes when the last of them returns (nvme_sq_try_free).
 */
static uint16_t nvme_delete_sq(struct nvme_ctrl *ctrl, struct nvme_req *req)
{
	uint32_t qid = req->cmd.cdw10 & 0xffff;
	struct nvme_sq *sq;

	if (!qid || qid >= ctrl->nqueues || !ctrl->sq[qid] || ctrl->sq[qid]->deleting)
		return NVME_SC_QID_INVALID | NVME_DNR;
	sq = ctrl->sq[qid];
	req->state = NVME_REQ_HELD;
	sq->delete_req = req;
	nvme_sq_delete(ctrl, sq);
	return NVME_NO_COMPLETE;
}

static uint16_t nvme_delete_cq(struct nvme_ctrl *ctrl, struct nvme_req *req)
{
	uint32_t qid = req->cmd.cdw10 & 0xffff;

	if (!qid || qid >= ctrl->nqueues || !ctrl->cq[qid])
		return NVME_SC_QID_INVALID | NVME_DNR;
	if (ctrl->cq[qid]->nsq)
		return NVME_SC_QUEUE_DELETION | NVME_DNR;
	nvme_cq_free(ctrl, ctrl->cq[qid]);
	return NVME_SC_SUCCESS;
}

/* ---- asynchronous events ---- */

static void nvme_aer_complete(struct nvme_ctrl *ctrl, struct nvme_req *req, uint16_t status)
{
	list_del(&req->link);
	ctrl->aer_count--;
	req->state = NVME_REQ_ACTIVE;
	req->status = status;
	nvme_req_complete(req);
}

/* Deliver pending, unmasked events to outstanding requests. */
void nvme_aer_kick(struct nvme_ctrl *ctrl)
{
	unsigned int i;

	while (!list_empty(&ctrl->aer_reqs)) {
		struct nvme_req *req;
		struct nvme_event ev;

		for (i = 0; i < ctrl->nevents; i++)
			if (!(ctrl->aer_masked & (1u << ctrl->events[i].type)))
				break;
		if (i == ctrl->nevents)
			return;
		ev = ctrl->events[i];
		memmove(&ctrl->events[i], &ctrl->events[i + 1],
			(ctrl->nevents - i - 1) * sizeof(ev));
		ctrl->nevents--;
		/* the type stays masked until the host reads the log page */
		ctrl->aer_masked |= 1u << ev.type;
		req = list_first(&ctrl->aer_reqs, struct nvme_req, link);
		req->dw0 = NVME_AER_DW0(ev.type, ev.info, ev.lid);
		nvme_aer_complete(ctrl, req, NVME_SC_SUCCESS);
	}
}

void nvme_ctrl_raise_event(struct nvme_ctrl *ctrl, uint8_t type, uint8_t info, uint8_t lid)
{
	unsigned int i;

	if (!ctrl->enabled || ctrl->disabling || type > 7)
		return;
	for (i = 0; i < ctrl->nevents; i++)
		if (ctrl->events[i].type == type && ctrl->events[i].info == info)
			return;
	if (ctrl->nevents == NVME_MAX_EVENTS)
		return;
	ctrl->events[ctrl->nevents++] = (struct nvme_event){ type, info, lid };
	/* delivered from nvme_ctrl_process: this may be called inside an MMIO access */
	if (!list_empty(&ctrl->aer_reqs))
		ctrl->ops->schedule(ctrl->opaque);
}

/* Reset: outstanding AERs end without completion (spec 5.2). */
void nvme_aer_drop_all(struct nvme_ctrl *ctrl)
{
	while (!list_empty(&ctrl->aer_reqs)) {
		struct nvme_req *req = list_first(&ctrl->aer_reqs, struct nvme_req, link);

		ctrl->aer_count--;
		nvme_req_release(req);
	}
	ctrl->aer_count = 0;
}

static uint16_t nvme_async_event(struct nvme_ctrl *ctrl, struct nvme_req *req)
{
	if (ctrl->aer_count >= ctrl->p.aerl + 1u)
		return NVME_SC_ASYNC_LIMIT | NVME_DNR;
	req->state = NVME_REQ_HELD;
	list_add_tail(&ctrl->aer_reqs, &req->link);
	ctrl->aer_count++;
	nvme_aer_kick(ctrl);
	return NVME_NO_COMPLETE;
}

/* ---- Abort ---- */

/*
 * An I/O command at the block layer: mark it and ask the host to stop the
 * request.  It completes with Command Abort Requested when the request
 * returns (from inside io_cancel if the host could stop it at once), so
 * the Abort can report success now.  Admin commands at the block layer
 * (Format's erase) are not aborted.
 */
static bool nvme_abort_backend(struct nvme_ctrl *ctrl, struct nvme_req *victim)
{
	if (!victim->sq->qid || (victim->fault_flags & NVME_REQ_F_ABORTED))
		return false;
	victim->fault_flags |= NVME_REQ_F_ABORTED;
	if (ctrl->ops->io_cancel)
		ctrl->ops->io_cancel(ctrl->opaque, &victim->io);	/* may complete it */
	return true;
}

/*
 * Commands parked in the controller and I/O commands at the block layer
 * can be aborted; a command whose completion is already decided (CQ_WAIT)
 * or not found answers "not aborted" (dword 0 bit 0).
 */
static uint16_t nvme_abort(struct nvme_ctrl *ctrl, struct nvme_req *req)
{
	uint32_t sqid = req->cmd.cdw10 & 0xffff;
	uint16_t cid = req->cmd.cdw10 >> 16;
	struct nvme_req *victim;

	req->dw0 = 1;
	ctrl->stats.aborts++;
	if (sqid >= ctrl->nqueues || !ctrl->sq[sqid])
		return NVME_SC_SUCCESS;
	victim = nvme_req_find(ctrl->sq[sqid], cid);
	if (victim && victim->state == NVME_REQ_BACKEND) {
		if (nvme_abort_backend(ctrl, victim)) {
			req->dw0 = 0;
			ctrl->stats.aborts_succeeded++;
		}
		return NVME_SC_SUCCESS;
	}
	if (!victim || victim == req || victim->state != NVME_REQ_HELD)
		return NVME_SC_SUCCESS;
	if (nvme_fault_abort(ctrl, victim)) {
		req->dw0 = 0;
	} else if (sqid == 0 && victim->cmd.opcode == NVME_ADM_ASYNC_EVENT) {
		nvme_aer_complete(ctrl, victim, NVME_SC_ABORT_REQ);
		req->dw0 = 0;
	}
	if (!req->dw0)
		ctrl->stats.aborts_succeeded++;
	return NVME_SC_SUCCESS;
}

/* ---- features ---- */

void nvme_features_reset(struct nvme_ctrl *ctrl)
{
	uint32_t nq = ctrl->p.max_ioqpairs - 1u;
	uint32_t i;

	memset(ctrl->feat, 0, sizeof(ctrl->feat));
	ctrl->feat[NVME_FEAT_TEMP_THRESH] = 343;	/* Kelvin, 70 C */
	ctrl->feat[NVME_FEAT_VOLATILE_WC] = 1;
	ctrl->feat[NVME_FEAT_NUM_QUEUES] = nq | nq << 16;
	ctrl->crit_warning = 0;
	memset(ctrl->irq_cd, 0, ctrl->p.nr_vectors / 8 + 1u);
	for (i = 1; i <= ctrl->p.nn; i++) {
		if (ctrl->ns[i]) {
			free(ctrl->ns[i]->lbart);
			ctrl->ns[i]->lbart = NULL;
			ctrl->ns[i]->nlbart = 0;
		}
	}
}

/*
 * Temperature threshold: above it the SMART critical warning shows bit 1
 * and, if the host enabled it (AEC bit 1), a SMART/health event is raised.
 */
static void nvme_temp_check(struct nvme_ctrl *ctrl)
{
	if (NVME_TEMP_KELVIN <= (ctrl->feat[NVME_FEAT_TEMP_THRESH] & 0xffff)) {
		ctrl->crit_warning &= ~NVME_SMART_CRIT_TEMP;
		return;
	}
	if (ctrl->crit_warning & NVME_SMART_CRIT_TEMP)
		return;
	ctrl->crit_warning |= NVME_SMART_CRIT_TEMP;
	if (ctrl->feat[NVME_FEAT_ASYNC_EVENT] & NVME_SMART_CRIT_TEMP)
		nvme_ctrl_raise_event(ctrl, NVME_AER_TYPE_SMART, NVME_AER_SMART_TEMP,
				      NVME_LOG_SMART);
}

/* The LBA Range Type data of @ns: what the host set, or one range over all of it. */
static unsigned int nvme_lbart_get(const struct nvme_ns *ns, struct nvme_lba_range_type *out)
{
	if (ns->lbart) {
		memcpy(out, ns->lbart, ns->nlbart * sizeof(*out));
		return ns->nlbart;
	}
	memset(out, 0, sizeof(*out));
	out->type = NVME_LBART_TYPE_GP;
	out->attributes = NVME_LBART_ATTR_OVERWRITE;
	out->slba = 0;
	out->nlb = ns->nlbas - 1;
	return 1;
}

static uint16_t nvme_set_lba_range(struct nvme_ctrl *ctrl, struct nvme_req *req)
{
	struct nvme_ns *ns = nvme_ns_get(ctrl, req->cmd.nsid);
	unsigned int i, n = (req->cmd.cdw11 & 0x3f) + 1;
	struct nvme_lba_range_type *r;
	uint16_t st;

	if (!ns)
		return NVME_SC_INVALID_NS | NVME_DNR;
	r = calloc(n, sizeof(*r));
	if (!r)
		return NVME_SC_INTERNAL;
	st = nvme_dma_from_guest(ctrl, req, r, n * sizeof(*r));
	for (i = 0; i < n && !st; i++)
		if (r[i].slba >= ns->nlbas || r[i].nlb >= ns->nlbas - r[i].slba)
			st = NVME_INVALID_FIELD;
	if (st) {
		free(r);
		return st;
	}
	free(ns->lbart);
	ns->lbart = r;
	ns->nlbart = n;
	return NVME_SC_SUCCESS;
}

static uint16_t nvme_get_lba_range(struct nvme_ctrl *ctrl, struct nvme_req *req)
{
	struct nvme_lba_range_type r[NVME_LBART_MAX];
	struct nvme_ns *ns = nvme_ns_get(ctrl, req->cmd.nsid);
	unsigned int n;

	if (!ns)
		return NVME_SC_INVALID_NS | NVME_DNR;
	memset(r, 0, sizeof(r));
	n = nvme_lbart_get(ns, r);
	req->dw0 = n - 1;
	return nvme_dma_to_guest(ctrl, req, r, sizeof(r));
}

static uint16_t nvme_set_features(struct nvme_ctrl *ctrl, struct nvme_req *req)
{
	uint8_t fid = req->cmd.cdw10 & 0xff;
	uint32_t dw11 = req->cmd.cdw11;
	uint32_t v;

	if (req->cmd.cdw10 & NVME_FEAT_SAVE)
		return NVME_SC_FEATURE_NOT_SAVEABLE | NVME_DNR;
	switch (fid) {
	case NVME_FEAT_ARBITRATION:
		/* AB limits every queue's turn; the weights only matter under WRR */
		dw11 &= 0xffffff07;
		break;
	case NVME_FEAT_POWER_MGMT:
		if ((dw11 & 0x1f) > NVME_NPSS)
			return NVME_INVALID_FIELD;
		dw11 &= 0x1f;
		break;
	case NVME_FEAT_LBA_RANGE:
		return nvme_set_lba_range(ctrl, req);
	case NVME_FEAT_TEMP_THRESH:
		ctrl->feat[fid] = dw11 & 0xffff;
		nvme_temp_check(ctrl);
		return NVME_SC_SUCCESS;
	case NVME_FEAT_ERR_RECOVERY:
		dw11 &= 0xffff;		/* TLER */
		break;
	case NVME_FEAT_VOLATILE_WC:
		dw11 &= 1;
		if ((ctrl->feat[fid] & 1) && !dw11 && ctrl->ops->write_cache_off)
			ctrl->ops->write_cache_off(ctrl->opaque);
		break;
	case NVME_FEAT_NUM_QUEUES:
		if ((dw11 & 0xffff) == 0xffff || (dw11 >> 16) == 0xffff)
			return NVME_INVALID_FIELD;
		/* always grant the maximum; the host uses min(asked, granted) */
		req->dw0 = ctrl->feat[NVME_FEAT_NUM_QUEUES];
		return NVME_SC_SUCCESS;
	case NVME_FEAT_IRQ_COALESCE:
		dw11 &= 0xffff;		/* THR, TIME */
		break;
	case NVME_FEAT_IRQ_CONFIG:
		v = dw11 & 0xffff;
		if (v >= ctrl->p.nr_vectors)
			return NVME_INVALID_FIELD;
		if (dw11 & NVME_FEAT_IRQ_CD)
			ctrl->irq_cd[v / 8] |= (uint8_t)(1u << (v % 8));
		else
			ctrl->irq_cd[v / 8] &= (uint8_t)~(1u << (v % 8));
		return NVME_SC_SUCCESS;
	case NVME_FEAT_WRITE_ATOMIC:
		dw11 &= 1;		/* DN */
		break;
	case NVME_FEAT_ASYNC_EVENT:
		dw11 &= 0xff | (ctrl->p.ns_notice_aen ? NVME_AEC_NS_ATTR : 0);
		ctrl->feat[fid] = dw11;
		/* a temperature already above the threshold is reported now */
		if (dw11 & NVME_SMART_CRIT_TEMP && ctrl->crit_warning & NVME_SMART_CRIT_TEMP) {
			ctrl->crit_warning &= ~NVME_SMART_CRIT_TEMP;
			nvme_temp_check(ctrl);
		}
		return NVME_SC_SUCCESS;
	case NVME_FEAT_SW_PROGRESS:
		dw11 &= 0xff;
		break;
	default:
		return NVME_INVALID_FIELD;
	}
	ctrl->feat[fid] = dw11;
	return NVME_SC_SUCCESS;
}

static uint16_t nvme_get_features(struct nvme_ctrl *ctrl, struct nvme_req *req)
{
	uint8_t fid = req->cmd.cdw10 & 0xff;
	uint32_t v;

	switch (fid) {
	case NVME_FEAT_LBA_RANGE:
		return nvme_get_lba_range(ctrl, req);
	case NVME_FEAT_IRQ_CONFIG:
		v = req->cmd.cdw11 & 0xffff;
		if (v >= ctrl->p.nr_vectors)
			return NVME_INVALID_FIELD;
		req->dw0 = v | (ctrl->irq_cd[v / 8] & (1u << (v % 8)) ? NVME_FEAT_IRQ_CD : 0);
		return NVME_SC_SUCCESS;
	case NVME_FEAT_ARBITRATION:
	case NVME_FEAT_POWER_MGMT:
	case NVME_FEAT_TEMP_THRESH:
	case NVME_FEAT_ERR_RECOVERY:
	case NVME_FEAT_VOLATILE_WC:
	case NVME_FEAT_NUM_QUEUES:
	case NVME_FEAT_IRQ_COALESCE:
	case NVME_FEAT_WRITE_ATOMIC:
	case NVME_FEAT_ASYNC_EVENT:
	case NVME_FEAT_SW_PROGRESS:
		req->dw0 = ctrl->feat[fid];
		return NVME_SC_SUCCESS;
	default:
		return NVME_INVALID_FIELD;
	}
}

/* ---- log pages ---- */

static void nvme_put128(uint64_t dst[2], uint64_t v)
{
	dst[0] = v;
	dst[1] = 0;
}

static void nvme_smart_log(struct nvme_ctrl *ctrl, struct nvme_smart_log *log)
{
	uint16_t kelvin = NVME_TEMP_KELVIN;

	log->critical_warning = ctrl->crit_warning;
	log->temperature[0] = kelvin & 0xff;
	log->temperature[1] = kelvin >> 8;
	log->avail_spare = 100;
	log->spare_thresh = 10;
	/* data units are thousands of 512-byte units, rounded up */
	nvme_put128(log->data_units_read, (ctrl->units_read + 999) / 1000);
	nvme_put128(log->data_units_written, (ctrl->units_written + 999) / 1000);
	nvme_put128(log->host_reads, ctrl->host_reads);
	nvme_put128(log->host_writes, ctrl->host_writes);
	nvme_put128(log->power_cycles, 1);
	nvme_put128(log->media_errors, ctrl->media_errors);
	nvme_put128(log->num_err_log_entries, ctrl->error_count);
}

/*
 * A namespace came or went: remember it for the Changed Namespace List and,
 * if the host asked for Namespace Attribute Notices, raise one.
 */
void nvme_ns_changed(struct nvme_ctrl *ctrl, uint32_t nsid)
{
	if (!ctrl->p.ns_notice_aen || !ctrl->enabled)
		return;
	ctrl->ns_changed[nsid / 8] |= 1u << (nsid % 8);
	if (ctrl->feat[NVME_FEAT_ASYNC_EVENT] & NVME_AEC_NS_ATTR)
		nvme_ctrl_raise_event(ctrl, NVME_AER_TYPE_NOTICE, NVME_AER_NOTICE_NS_CHANGED,
				      NVME_LOG_CHANGED_NS);
}

/* Changed Namespace List: ascending nsids, zero terminated; reading clears it. */
static void nvme_changed_ns_log(struct nvme_ctrl *ctrl, uint32_t *list, uint64_t len)
{
	uint64_t max = MIN(len / 4, (uint64_t)NVME_CHANGED_NS_MAX);
	uint64_t n = 0;
	uint32_t nsid;

	for (nsid = 1; nsid <= ctrl->p.nn && n < max; nsid++)
		if (ctrl->ns_changed[nsid / 8] & (1u << (nsid % 8)))
			list[n++] = nsid;
	memset(ctrl->ns_changed, 0, ctrl->p.nn / 8 + 1u);
}

/* A command failed: it becomes the Error Information log entry. */
void nvme_error_log_add(struct nvme_ctrl *ctrl, const struct nvme_req *req)
{
	struct nvme_error_log_entry *e = &ctrl->errors[ctrl->err_next];

	ctrl->err_next = (ctrl->err_next + 1) % NVME_ERROR_LOG_ENTRIES;
	memset(e, 0, sizeof(*e));
	e->error_count = ++ctrl->error_count;
	e->sqid = req->sq->qid;
	e->cid = req->cmd.cid;
	/* status field as in the CQE (bits 15:1), phase tag 0 */
	e->status = (uint16_t)(req->status << 1);
	e->param_error_location = 0xffff;	/* not tracked */
	e->nsid = req->cmd.nsid;
	if (req->sq->qid && (req->cmd.opcode == NVME_CMD_READ ||
			     req->cmd.opcode == NVME_CMD_WRITE ||
			     req->cmd.opcode == NVME_CMD_COMPARE ||
			     req->cmd.opcode == NVME_CMD_WRITE_UNCOR))
		e->lba = (uint64_t)req->cmd.cdw11 << 32 | req->cmd.cdw10;
}

static void nvme_log_read_unmask(struct nvme_ctrl *ctrl, uint8_t lid)
{
	/* events of the type reported through this log are unmasked (5.2) */
	if (lid == NVME_LOG_ERROR)
		ctrl->aer_masked &= ~(1u << NVME_AER_TYPE_ERROR);
	else if (lid == NVME_LOG_SMART)
		ctrl->aer_masked &= ~(1u << NVME_AER_TYPE_SMART);
	else if (lid == NVME_LOG_CHANGED_NS)
		ctrl->aer_masked &= ~(1u << NVME_AER_TYPE_NOTICE);
	/* deliver what this unmasked after the Get Log Page completion */
	if (ctrl->nevents)
		ctrl->ops->schedule(ctrl->opaque);
}

static uint16_t nvme_get_log_page(struct nvme_ctrl *ctrl, struct nvme_req *req)
{
	uint8_t lid = req->cmd.cdw10 & 0xff;
	uint64_t len = (((req->cmd.cdw10 >> 16) & 0xfff) + 1ull) * 4;
	uint8_t *buf;
	uint16_t st;

	if (len > ctrl->max_xfer)
		return NVME_INVALID_FIELD;
	switch (lid) {
	case NVME_LOG_ERROR:
	case NVME_LOG_SMART:
	case NVME_LOG_FW_SLOT:
		break;
	case NVME_LOG_CHANGED_NS:
		if (ctrl->p.ns_notice_aen)
			break;
		/* fall through */
	default:
		return NVME_SC_INVALID_LOG_PAGE | NVME_DNR;
	}
	/* the log is built in at least its full size; bytes past its end read 0 */
	buf = calloc(1, len < sizeof(ctrl->errors) ? sizeof(ctrl->errors) : len);
	if (!buf)
		return NVME_SC_INTERNAL;
	if (lid == NVME_LOG_SMART) {
		nvme_smart_log(ctrl, (struct nvme_smart_log *)buf);
	} else if (lid == NVME_LOG_FW_SLOT) {
		struct nvme_fw_slot_log *fw = (struct nvme_fw_slot_log *)buf;
		unsigned int i;

		fw->afi = (uint8_t)(ctrl->fw_active | ctrl->fw_next << 4);
		for (i = 1; i <= ctrl->p.fw_slots; i++)
			memcpy(fw->frs[i - 1], ctrl->fw_rev[i], sizeof(fw->frs[0]));
	} else if (lid == NVME_LOG_ERROR) {
		/* newest first; entries never used stay zero */
		struct nvme_error_log_entry *e = (struct nvme_error_log_entry *)buf;
		unsigned int i, n = MIN(ctrl->error_count, (uint64_t)NVME_ERROR_LOG_ENTRIES);

		for (i = 0; i < n; i++)
			e[i] = ctrl->errors[(ctrl->err_next + NVME_ERROR_LOG_ENTRIES - 1 - i) %
					    NVME_ERROR_LOG_ENTRIES];
	} else if (lid == NVME_LOG_CHANGED_NS) {
		nvme_changed_ns_log(ctrl, (uint32_t *)buf, len);
	}
	st = nvme_dma_to_guest(ctrl, req, buf, len);
	free(buf);
	if (st == NVME_SC_SUCCESS)
		nvme_log_read_unmask(ctrl, lid);
	return st;
}

/* ---- dispatch ---- */

static uint16_t nvme_admin_dispatch(struct nvme_ctrl *ctrl, struct nvme_req *req)
{
	if (req->cmd.flags & NVME_FUSE_MASK)
		return NVME_INVALID_FIELD;	/* FUSES = 0 */
	switch (req->cmd.opcode) {
	case NVME_ADM_DELETE_SQ:
		return nvme_delete_sq(ctrl, req);
	case NVME_ADM_CREATE_SQ:
		return nvme_create_sq(ctrl, req);
	case NVME_ADM_GET_LOG_PAGE:
		return nvme_get_log_page(ctrl, req);
	case NVME_ADM_DELETE_CQ:
		return nvme_delete_cq(ctrl, req);
	case NVME_ADM_CREATE_CQ:
		return nvme_create_cq(ctrl, req);
	case NVME_ADM_IDENTIFY:
		return nvme_identify(ctrl, req);
	case NVME_ADM_ABORT:
		return nvme_abort(ctrl, req);
	case NVME_ADM_SET_FEATURES:
		return nvme_set_features(ctrl, req);
	case NVME_ADM_GET_FEATURES:
		return nvme_get_features(ctrl, req);
	case NVME_ADM_ASYNC_EVENT:
		return nvme_async_event(ctrl, req);
	case NVME_ADM_FW_ACTIVATE:
		return nvme_fw_activate(ctrl, req);
	case NVME_ADM_FW_DOWNLOAD:
		return nvme_fw_download(ctrl, req);
	case NVME_ADM_FORMAT_NVM:
		return nvme_format(ctrl, req);
	default:
		/* no security commands (OACS bit 0) */
		return NVME_SC_INVALID_OPCODE | NVME_DNR;
	}
}

void nvme_admin_exec(struct nvme_ctrl *ctrl, struct nvme_req *req)
{
	uint16_t st = nvme_admin_dispatch(ctrl, req);

	/* NVME_NO_COMPLETE: parked, or out at the host (Format NVM erase) */
	if (st == NVME_NO_COMPLETE)
		return;
	req->status = st;
	nvme_req_complete(req);
}
