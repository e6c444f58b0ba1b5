// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cosim-nvme core: the fault engine.  Rules live in a list on the
 * controller, checked in the order they were added.  Command rules are
 * consulted once per fetched command (nvme_fault_cmd); event rules
 * (ready-delay, ignore-shutdown, drop-irq) at their event.  The first rule
 * that fires decides; rules after it do not see the command or event.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct nvme_fault_rule {
	struct list_node link;
	uint32_t id;
	struct nvme_fault_spec spec;
	uint64_t matches, hits;
	uint64_t rng;			/* splitmix64 state */
};

static const char *const action_names[NVME_FAULT_NR_ACTIONS] = {
	[NVME_FAULT_DROP] = "drop",
	[NVME_FAULT_DELAY] = "delay",
	[NVME_FAULT_STATUS] = "status",
	[NVME_FAULT_CFS] = "cfs",
	[NVME_FAULT_READY_DELAY] = "ready-delay",
	[NVME_FAULT_IGNORE_SHUTDOWN] = "ignore-shutdown",
	[NVME_FAULT_DROP_IRQ] = "drop-irq",
	[NVME_FAULT_DUP_COMPLETION] = "dup-completion",
	[NVME_FAULT_BAD_CID] = "bad-cid",
	[NVME_FAULT_CORRUPT_READ] = "corrupt-read",
	[NVME_FAULT_VANISH] = "vanish",
	[NVME_FAULT_STALE_COMPLETION] = "stale-completion",
	[NVME_FAULT_PATCH_DATA] = "patch-data",
	[NVME_FAULT_SQ_HEAD] = "sq-head",
	[NVME_FAULT_LOSE_WRITE] = "lose-write",
	[NVME_FAULT_TORN_WRITE] = "torn-write",
	[NVME_FAULT_MISDIRECTED_WRITE] = "misdirected-write",
	[NVME_FAULT_STALE_READ] = "stale-read",
};

void nvme_fault_spec_init(struct nvme_fault_spec *s)
{
	memset(s, 0, sizeof(*s));
	s->action = NVME_FAULT_DROP;
	s->queue = s->opcode = s->nsid = NVME_FAULT_UNSET;
	s->lba_start = s->lba_end = NVME_FAULT_UNSET;
	s->nth = s->every = s->count = NVME_FAULT_UNSET;
	s->delay_us = s->sct = s->sc = s->ms = s->cq = NVME_FAULT_UNSET;
	s->offset = s->width = s->value = NVME_FAULT_UNSET;
}

const char *nvme_fault_action_name(enum nvme_fault_action a)
{
	return (unsigned int)a < NVME_FAULT_NR_ACTIONS ? action_names[a] : "?";
}

int nvme_fault_action_parse(const char *name)
{
	int i;

	for (i = 0; i < NVME_FAULT_NR_ACTIONS; i++)
		if (!strcmp(name, action_names[i]))
			return i;
	return -1;
}

const char *nvme_fault_action_list(void)
{
	return "drop, delay, status, cfs, ready-delay, ignore-shutdown, drop-irq, "
	       "dup-completion, bad-cid, corrupt-read, vanish, stale-completion, "
	       "patch-data, sq-head";
}

static bool is_event_action(enum nvme_fault_action a)
{
	return a == NVME_FAULT_READY_DELAY || a == NVME_FAULT_IGNORE_SHUTDOWN ||
	       a == NVME_FAULT_DROP_IRQ;
}

/* ---- validation ---- */

__attribute__((format(printf, 2, 3)))
static bool fail(char *err, const char *fmt, ...)
{
	char msg[NVME_FAULT_ERR_LEN - 16];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(err, NVME_FAULT_ERR_LEN, "fault rule: %s", msg);
	return false;
}

static bool range(char *err, const char *name, int64_t v, int64_t lo, int64_t hi)
{
	if (v == NVME_FAULT_UNSET || (v >= lo && v <= hi))
		return true;
	return fail(err, "'%s' %" PRId64 " out of range (%" PRId64 "..%" PRId64 ")",
		    name, v, lo, hi);
}

/* A field that only some actions take. */
static bool only_for(char *err, const char *name, bool given, enum nvme_fault_action a,
		     bool applies)
{
	if (!given || applies)
		return true;
	return fail(err, "'%s' does not apply to action %s", name, action_names[a]);
}

/* patch-data: admin data only; the value must fit in width bytes */
static bool nvme_fault_check_patch(const struct nvme_fault_spec *s, char *err)
{
	int64_t width = s->width == NVME_FAULT_UNSET ? 1 : s->width;

	if (s->queue != NVME_FAULT_UNSET && s->queue != NVME_FAULT_QUEUE_ANY &&
	    s->queue != NVME_FAULT_QUEUE_ADMIN && s->queue != 0)
		return fail(err, "'queue' must be admin for action patch-data");
	if (s->offset == NVME_FAULT_UNSET)
		return fail(err, "'offset' is required for action patch-data");
	if (s->value == NVME_FAULT_UNSET)
		return fail(err, "'value' is required for action patch-data");
	if (!range(err, "offset", s->offset, 0, 0xffff) || !range(err, "width", width, 1, 8))
		return false;
	if (s->value < 0 || (width < 8 && s->value >> (8 * width)))
		return fail(err, "'value' %" PRId64 " does not fit in %" PRId64 " byte(s)",
			    s->value, width);
	return true;
}

static bool is_write_lie(enum nvme_fault_action a)
{
	return a == NVME_FAULT_LOSE_WRITE || a == NVME_FAULT_TORN_WRITE ||
	       a == NVME_FAULT_MISDIRECTED_WRITE || a == NVME_FAULT_STALE_READ;
}

/* lose-, torn-, misdirected-write: Writes on I/O queues; what the value means */
static bool nvme_fault_check_write_lie(const struct nvme_fault_spec *s, char *err)
{
	const char *name = action_names[s->action];

	if (s->opcode != NVME_FAULT_UNSET && s->opcode != NVME_CMD_WRITE)
		return fail(err, "'opcode' must be 1 (Write) for action %s", name);
	if (s->queue == 0 || s->queue == NVME_FAULT_QUEUE_ADMIN)
		return fail(err, "'queue' must be an I/O queue for action %s", name);
	if (s->action == NVME_FAULT_LOSE_WRITE || s->action == NVME_FAULT_STALE_READ)
		return true;
	if (s->value == NVME_FAULT_UNSET)
		return fail(err, "'value' is required for action %s", name);
	if (s->action == NVME_FAULT_TORN_WRITE)
		return range(err, "value", s->value, 1, 0xffff);
	return range(err, "value", s->value, 1, UINT32_MAX);
}

static bool nvme_fault_check(const struct nvme_ctrl *ctrl, const struct nvme_fault_spec *s,
			     char *err)
{
	enum nvme_fault_action a = s->action;
	int64_t maxq = (int64_t)ctrl->nqueues - 1;
	bool ev;

	if ((unsigned int)a >= NVME_FAULT_NR_ACTIONS)
		return fail(err, "'action' must be one of %s", nvme_fault_action_list());
	ev = is_event_action(a);
	if (s->queue != NVME_FAULT_UNSET && s->queue != NVME_FAULT_QUEUE_ANY &&
	    s->queue != NVME_FAULT_QUEUE_ADMIN && s->queue != NVME_FAULT_QUEUE_IO &&
	    (s->queue < 0 || s->queue > maxq))
		return fail(err, "'queue' %" PRId64 " out of range (0..%" PRId64
			    ", or admin, io, any)", s->queue, maxq);
	if (!range(err, "opcode", s->opcode, 0, 255) ||
	    !range(err, "nsid", s->nsid, 0, UINT32_MAX) ||
	    !range(err, "lba-start", s->lba_start, 0, INT64_MAX) ||
	    !range(err, "lba-end", s->lba_end, 0, INT64_MAX) ||
	    !range(err, "nth", s->nth, 1, INT64_MAX) ||
	    !range(err, "every", s->every, 1, INT64_MAX) ||
	    !range(err, "count", s->count, 0, INT64_MAX) ||
	    !range(err, "delay-us", s->delay_us, 0, 3600ll * 1000000) ||
	    !range(err, "sct", s->sct, 0, 7) ||
	    !range(err, "sc", s->sc, 0, 255) ||
	    !range(err, "ms", s->ms, -1, 3600ll * 1000) ||
	    !range(err, "cq", s->cq, 0, maxq))
		return false;
	if (s->lba_start != NVME_FAULT_UNSET && s->lba_end != NVME_FAULT_UNSET &&
	    s->lba_end < s->lba_start)
		return fail(err, "'lba-end' %" PRId64 " is below 'lba-start' %" PRId64,
			    s->lba_end, s->lba_start);
	if (s->has_probability && !(s->probability > 0 && s->probability <= 1))
		return fail(err, "'probability' must be in (0, 1]");
	/* "any" is the default, so it goes with every action */
	if (!only_for(err, "queue", s->queue != NVME_FAULT_UNSET &&
		      s->queue != NVME_FAULT_QUEUE_ANY, a, !ev) ||
	    !only_for(err, "opcode", s->opcode != NVME_FAULT_UNSET, a, !ev) ||
	    !only_for(err, "nsid", s->nsid != NVME_FAULT_UNSET, a, !ev) ||
	    !only_for(err, "lba-start", s->lba_start != NVME_FAULT_UNSET, a, !ev) ||
	    !only_for(err, "lba-end", s->lba_end != NVME_FAULT_UNSET, a, !ev) ||
	    !only_for(err, "delay-us", s->delay_us != NVME_FAULT_UNSET, a,
		      a == NVME_FAULT_DELAY) ||
	    !only_for(err, "sct", s->sct != NVME_FAULT_UNSET, a, a == NVME_FAULT_STATUS) ||
	    !only_for(err, "sc", s->sc != NVME_FAULT_UNSET, a, a == NVME_FAULT_STATUS) ||
	    !only_for(err, "dnr", s->dnr, a, a == NVME_FAULT_STATUS) ||
	    !only_for(err, "more", s->more, a, a == NVME_FAULT_STATUS) ||
	    !only_for(err, "execute", s->execute, a, a == NVME_FAULT_STATUS) ||
	    !only_for(err, "ms", s->ms != NVME_FAULT_UNSET, a, a == NVME_FAULT_READY_DELAY) ||
	    !only_for(err, "cq", s->cq != NVME_FAULT_UNSET, a, a == NVME_FAULT_DROP_IRQ) ||
	    !only_for(err, "offset", s->offset != NVME_FAULT_UNSET, a,
		      a == NVME_FAULT_PATCH_DATA) ||
	    !only_for(err, "width", s->width != NVME_FAULT_UNSET, a,
		      a == NVME_FAULT_PATCH_DATA) ||
	    !only_for(err, "value", s->value != NVME_FAULT_UNSET, a,
		      a == NVME_FAULT_PATCH_DATA || a == NVME_FAULT_SQ_HEAD ||
		      a == NVME_FAULT_TORN_WRITE || a == NVME_FAULT_MISDIRECTED_WRITE))
		return false;
	if (a == NVME_FAULT_DELAY && s->delay_us == NVME_FAULT_UNSET)
		return fail(err, "'delay-us' is required for action delay");
	if (a == NVME_FAULT_STATUS && s->sc == NVME_FAULT_UNSET)
		return fail(err, "'sc' is required for action status");
	if (a == NVME_FAULT_READY_DELAY && s->ms == NVME_FAULT_UNSET)
		return fail(err, "'ms' is required for action ready-delay");
	if (a == NVME_FAULT_PATCH_DATA && !nvme_fault_check_patch(s, err))
		return false;
	if (a == NVME_FAULT_SQ_HEAD) {
		if (s->value == NVME_FAULT_UNSET)
			return fail(err, "'value' is required for action sq-head");
		if (!range(err, "value", s->value, 0, 0xffff))
			return false;
	}
	if (a == NVME_FAULT_CORRUPT_READ) {
		if (s->opcode != NVME_FAULT_UNSET && s->opcode != NVME_CMD_READ)
			return fail(err, "'opcode' must be 2 (Read) for action corrupt-read");
		if (s->queue == 0 || s->queue == NVME_FAULT_QUEUE_ADMIN)
			return fail(err, "'queue' must be an I/O queue for action corrupt-read");
	}
	if (is_write_lie(a) && !nvme_fault_check_write_lie(s, err))
		return false;
	return true;
}

/* ---- rules ---- */

void nvme_fault_init(struct nvme_ctrl *ctrl)
{
	list_init(&ctrl->faults);
	list_init(&ctrl->fault_held);
	list_init(&ctrl->delayed);
	ctrl->fault_next_id = 1;
	ctrl->timer_deadline = UINT64_MAX;
	ctrl->ready_deadline = UINT64_MAX;
}

uint32_t nvme_ctrl_fault_add(struct nvme_ctrl *ctrl, const struct nvme_fault_spec *s,
			     char err[NVME_FAULT_ERR_LEN])
{
	struct nvme_fault_rule *r;

	if (!nvme_fault_check(ctrl, s, err))
		return 0;
	if (ctrl->nfaults >= NVME_FAULT_MAX_RULES) {
		fail(err, "too many rules (%u)", NVME_FAULT_MAX_RULES);
		return 0;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		fail(err, "out of memory");
		return 0;
	}
	r->id = ctrl->fault_next_id++;
	r->spec = *s;
	r->rng = s->has_seed ? s->seed : 0;
	list_add_tail(&ctrl->faults, &r->link);
	ctrl->nfaults++;
	return r->id;
}

static void nvme_fault_rule_free(struct nvme_ctrl *ctrl, struct nvme_fault_rule *r)
{
	list_del(&r->link);
	ctrl->nfaults--;
	free(r);
}

bool nvme_ctrl_fault_remove(struct nvme_ctrl *ctrl, uint32_t id)
{
	struct list_node *n;

	for (n = ctrl->faults.next; n != &ctrl->faults; n = n->next) {
		struct nvme_fault_rule *r = container_of(n, struct nvme_fault_rule, link);

		if (r->id == id) {
			nvme_fault_rule_free(ctrl, r);
			return true;
		}
	}
	return false;
}

void nvme_ctrl_fault_clear(struct nvme_ctrl *ctrl)
{
	while (!list_empty(&ctrl->faults))
		nvme_fault_rule_free(ctrl, list_first(&ctrl->faults, struct nvme_fault_rule, link));
}

void nvme_fault_free(struct nvme_ctrl *ctrl)
{
	nvme_ctrl_fault_clear(ctrl);
}

static bool nvme_fault_active(const struct nvme_fault_rule *r)
{
	int64_t count = r->spec.count == NVME_FAULT_UNSET ? 1 : r->spec.count;

	return !count || r->hits < (uint64_t)count;
}

unsigned int nvme_ctrl_fault_list(const struct nvme_ctrl *ctrl, struct nvme_fault_info *out,
				  unsigned int max)
{
	const struct list_node *n;
	unsigned int i = 0;

	for (n = ctrl->faults.next; n != &ctrl->faults; n = n->next, i++) {
		const struct nvme_fault_rule *r = container_of(n, struct nvme_fault_rule, link);

		if (i >= max)
			continue;
		out[i] = (struct nvme_fault_info){
			.id = r->id, .spec = r->spec, .matches = r->matches,
			.hits = r->hits, .active = nvme_fault_active(r),
		};
	}
	return i;
}

void nvme_ctrl_get_stats(const struct nvme_ctrl *ctrl, struct nvme_ctrl_stats *st)
{
	*st = ctrl->stats;
}

bool nvme_ctrl_get_queue_stats(const struct nvme_ctrl *ctrl, uint32_t qid,
			       uint64_t *submitted, uint64_t *completed)
{
	if (qid >= ctrl->nqueues)
		return false;
	*submitted = ctrl->q_submitted[qid];
	*completed = ctrl->q_completed[qid];
	return true;
}

/* ---- firing ---- */

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* The match part held: count it and decide whether the rule fires. */
static bool nvme_fault_trigger(struct nvme_ctrl *ctrl, struct nvme_fault_rule *r,
			       uint16_t qid, uint16_t cid)
{
	const struct nvme_fault_spec *s = &r->spec;

	if (!nvme_fault_active(r))
		return false;
	r->matches++;
	if (s->nth != NVME_FAULT_UNSET && r->matches != (uint64_t)s->nth)
		return false;
	if (s->every != NVME_FAULT_UNSET && r->matches % (uint64_t)s->every)
		return false;
	/* 53 random bits as a double in [0, 1) */
	if (s->has_probability &&
	    (double)(splitmix64(&r->rng) >> 11) * 0x1.0p-53 >= s->probability)
		return false;
	r->hits++;
	ctrl->stats.faults_fired++;
	if (ctrl->ops->trace_fault)
		ctrl->ops->trace_fault(ctrl->opaque, r->id, action_names[s->action], qid, cid);
	return true;
}

static bool nvme_fault_match_cmd(const struct nvme_fault_spec *s, const struct nvme_req *req)
{
	const struct nvme_sqe *cmd = &req->cmd;
	uint16_t qid = req->sq->qid;
	bool rw = qid && (cmd->opcode == NVME_CMD_READ || cmd->opcode == NVME_CMD_WRITE);

	if (is_event_action(s->action))
		return false;
	if ((s->queue == NVME_FAULT_QUEUE_ADMIN && qid) ||
	    (s->queue == NVME_FAULT_QUEUE_IO && !qid) ||
	    (s->queue >= 0 && s->queue != qid))
		return false;
	if (s->opcode != NVME_FAULT_UNSET && cmd->opcode != s->opcode)
		return false;
	if (s->nsid != NVME_FAULT_UNSET && cmd->nsid != s->nsid)
		return false;
	if (s->action == NVME_FAULT_CORRUPT_READ && (!qid || cmd->opcode != NVME_CMD_READ))
		return false;
	if (is_write_lie(s->action) && (!qid || cmd->opcode != NVME_CMD_WRITE))
		return false;
	if (s->action == NVME_FAULT_PATCH_DATA && qid)
		return false;
	if (s->lba_start != NVME_FAULT_UNSET || s->lba_end != NVME_FAULT_UNSET) {
		uint64_t slba = (uint64_t)cmd->cdw11 << 32 | cmd->cdw10;
		uint64_t last = slba + (cmd->cdw12 & 0xffff);
		uint64_t lo = s->lba_start == NVME_FAULT_UNSET ? 0 : (uint64_t)s->lba_start;
		uint64_t hi = s->lba_end == NVME_FAULT_UNSET ? UINT64_MAX : (uint64_t)s->lba_end;

		if (!rw || last < slba /* wraps */ || slba > hi || last < lo)
			return false;
	}
	return true;
}

uint64_t nvme_clock_ns(struct nvme_ctrl *ctrl)
{
	return ctrl->ops->clock_ns ? ctrl->ops->clock_ns(ctrl->opaque) : 0;
}

static uint16_t nvme_fault_status(const struct nvme_fault_spec *s)
{
	return (uint16_t)(NVME_SCT(s->sct == NVME_FAULT_UNSET ? 0 : s->sct) | s->sc |
			  (s->more ? NVME_MORE : 0) | (s->dnr ? NVME_DNR : 0));
}

/* Park @req in the controller: Abort finds it, queue deletion and reset drop it. */
static void nvme_fault_hold(struct nvme_req *req, struct list_node *list, uint16_t flags)
{
	list_del(&req->link);
	req->state = NVME_REQ_HELD;
	req->fault_flags |= flags;
	list_add_tail(list, &req->link);
}

/*
 * A command was just fetched (state ACTIVE).  Returns true if a rule took
 * it over (drop, cfs, delay, status); false to execute it as usual, maybe
 * with completion or data flags set.
 */
bool nvme_fault_cmd(struct nvme_ctrl *ctrl, struct nvme_req *req)
{
	struct list_node *n;

	for (n = ctrl->faults.next; n != &ctrl->faults; n = n->next) {
		struct nvme_fault_rule *r = container_of(n, struct nvme_fault_rule, link);
		const struct nvme_fault_spec *s = &r->spec;

		if (!nvme_fault_match_cmd(s, req) ||
		    !nvme_fault_trigger(ctrl, r, req->sq->qid, req->cmd.cid))
			continue;
		switch (s->action) {
		case NVME_FAULT_CFS:
			ctrl->csts |= NVME_CSTS_CFS;
			/* fall through */
		case NVME_FAULT_DROP:
			ctrl->stats.cmds_dropped++;
			nvme_fault_hold(req, &ctrl->fault_held, NVME_REQ_F_HELD);
			return true;
		case NVME_FAULT_VANISH:
			/*
			 * As a card losing power: nothing it held completes,
			 * reads return all ones, writes go nowhere.
			 */
			ctrl->gone = true;
			ctrl->stats.vanished++;
			nvme_fault_hold(req, &ctrl->fault_held, NVME_REQ_F_HELD);
			return true;
		case NVME_FAULT_DELAY:
			ctrl->stats.cmds_delayed++;
			req->deadline = nvme_clock_ns(ctrl) + (uint64_t)s->delay_us * 1000;
			nvme_fault_hold(req, &ctrl->delayed, NVME_REQ_F_HELD | NVME_REQ_F_DELAYED);
			nvme_fault_timer_update(ctrl);
			return true;
		case NVME_FAULT_STATUS:
			if (s->execute) {
				/* e.g. a Write that reached the medium reports a failure */
				req->fault_flags |= NVME_REQ_F_STATUS;
				req->fault_status = nvme_fault_status(s);
				return false;
			}
			ctrl->stats.cmds_status++;
			req->status = nvme_fault_status(s);
			nvme_req_complete(req);
			return true;
		case NVME_FAULT_DUP_COMPLETION:
			req->fault_flags |= NVME_REQ_F_DUP;
			return false;
		case NVME_FAULT_BAD_CID:
			req->fault_flags |= NVME_REQ_F_BAD_CID;
			return false;
		case NVME_FAULT_CORRUPT_READ:
			req->fault_flags |= NVME_REQ_F_CORRUPT;
			return false;
		case NVME_FAULT_STALE_COMPLETION:
			req->fault_flags |= NVME_REQ_F_STALE;
			return false;
		case NVME_FAULT_PATCH_DATA:
			req->fault_flags |= NVME_REQ_F_PATCH;
			req->patch_offset = (uint16_t)s->offset;
			req->patch_width = (uint8_t)(s->width == NVME_FAULT_UNSET ? 1 : s->width);
			req->fault_value = (uint64_t)s->value;
			return false;
		case NVME_FAULT_SQ_HEAD:
			req->fault_flags |= NVME_REQ_F_SQ_HEAD;
			req->fault_sq_head = (uint16_t)s->value;
			return false;
		case NVME_FAULT_LOSE_WRITE:
			/* checked and mapped as usual, then success and nothing written */
			req->fault_flags |= NVME_REQ_F_LOSE;
			return false;
		case NVME_FAULT_TORN_WRITE:
			req->fault_flags |= NVME_REQ_F_TORN;
			req->fault_value = (uint64_t)s->value;
			return false;
		case NVME_FAULT_MISDIRECTED_WRITE:
			req->fault_flags |= NVME_REQ_F_MISDIRECT;
			req->fault_value = (uint64_t)s->value;
			return false;
		case NVME_FAULT_STALE_READ:
			req->fault_flags |= NVME_REQ_F_STALE_READ;
			return false;
		default:
			return false;
		}
	}
	return false;
}

/* An event-type rule (ready-delay, ignore-shutdown, drop-irq): fire? */
bool nvme_fault_event(struct nvme_ctrl *ctrl, enum nvme_fault_action action, uint16_t cq,
		      int64_t *ms)
{
	struct list_node *n;

	for (n = ctrl->faults.next; n != &ctrl->faults; n = n->next) {
		struct nvme_fault_rule *r = container_of(n, struct nvme_fault_rule, link);

		if (r->spec.action != action)
			continue;
		if (action == NVME_FAULT_DROP_IRQ && r->spec.cq != NVME_FAULT_UNSET &&
		    r->spec.cq != cq)
			continue;
		if (!nvme_fault_trigger(ctrl, r, cq, 0xffff))
			continue;
		if (ms)
			*ms = r->spec.ms;
		return true;
	}
	return false;
}

/* Abort of a command a rule holds (drop, cfs, delay): it completes with 0/07h. */
bool nvme_fault_abort(struct nvme_ctrl *ctrl, struct nvme_req *victim)
{
	if (victim->state != NVME_REQ_HELD || !(victim->fault_flags & NVME_REQ_F_HELD))
		return false;
	list_del(&victim->link);
	victim->fault_flags &= (uint16_t)~(NVME_REQ_F_HELD | NVME_REQ_F_DELAYED);
	victim->state = NVME_REQ_ACTIVE;
	victim->status = NVME_SC_ABORT_REQ;
	nvme_req_complete(victim);
	nvme_fault_timer_update(ctrl);
	return true;
}

/* Arm the host timer for the earliest delayed command or ready-delay. */
void nvme_fault_timer_update(struct nvme_ctrl *ctrl)
{
	uint64_t next = ctrl->ready_wait ? ctrl->ready_deadline : UINT64_MAX;
	struct list_node *n;
	uint32_t i;

	if (ctrl->rdy_off_deadline < next)
		next = ctrl->rdy_off_deadline;
	/* interrupt coalescing deadlines share the timer */
	for (i = 1; i < ctrl->nqueues; i++)
		if (ctrl->cq[i] && ctrl->cq[i]->irq_deadline < next)
			next = ctrl->cq[i]->irq_deadline;
	for (n = ctrl->delayed.next; n != &ctrl->delayed; n = n->next) {
		struct nvme_req *req = container_of(n, struct nvme_req, link);

		if (req->deadline < next)
			next = req->deadline;
	}
	if (next == ctrl->timer_deadline)
		return;
	ctrl->timer_deadline = next;
	if (ctrl->ops->timer_mod)
		ctrl->ops->timer_mod(ctrl->opaque, next);
	else if (next != UINT64_MAX)
		ctrl->ops->schedule(ctrl->opaque);
}

/* Execute delayed commands whose time has come. */
void nvme_fault_run_delayed(struct nvme_ctrl *ctrl)
{
	bool again = true;

	if (!nvme_ctrl_running(ctrl))
		again = false;
	while (again) {
		uint64_t now = nvme_clock_ns(ctrl);
		struct list_node *n;

		again = false;
		for (n = ctrl->delayed.next; n != &ctrl->delayed; n = n->next) {
			struct nvme_req *req = container_of(n, struct nvme_req, link);

			if (req->deadline > now)
				continue;
			list_del(&req->link);
			req->fault_flags &= (uint16_t)~(NVME_REQ_F_HELD | NVME_REQ_F_DELAYED);
			req->state = NVME_REQ_ACTIVE;
			/* executing may change the list (an Abort, a queue deletion) */
			nvme_req_exec(ctrl, req);
			again = nvme_ctrl_running(ctrl);
			break;
		}
	}
	nvme_fault_timer_update(ctrl);
}

/* corrupt-read: flip the first byte of every logical block the Read returned. */
void nvme_fault_read_done(struct nvme_ctrl *ctrl, struct nvme_req *req)
{
	const struct nvme_io *io = &req->io;
	uint64_t nlb = (req->cmd.cdw12 & 0xffff) + 1ull;
	uint64_t lba_size = io->len / nlb, off = 0;
	unsigned int i;

	if (!lba_size)
		return;
	for (i = 0; i < io->nsg; i++) {
		uint64_t start = io->sg[i].addr, end = start + io->sg[i].len;
		/* next block start at or after this extent's first byte */
		uint64_t at = start + (lba_size - off % lba_size) % lba_size;

		for (; at < end; at += lba_size) {
			uint8_t b;

			if (ctrl->ops->dma_read(ctrl->opaque, at, &b, 1))
				continue;
			b ^= 0xff;
			ctrl->ops->dma_write(ctrl->opaque, at, &b, 1);
		}
		off += io->sg[i].len;
	}
	ctrl->stats.reads_corrupted++;
}

/*
 * torn-write, misdirected-write: change where a Write's data goes once it
 * is mapped, so the host's buffer is read as it would be and the command
 * still completes with success.  A torn Write keeps its first fault_value
 * LBAs; a misdirected one lands fault_value LBAs further on, wrapped to
 * stay within the namespace.
 */
void nvme_fault_write_lie(struct nvme_ctrl *ctrl, struct nvme_req *req,
			  const struct nvme_ns *ns)
{
	struct nvme_io *io = &req->io;
	uint64_t nlb = io->len >> ns->lbads;
	uint64_t slba = io->offset >> ns->lbads;

	if ((req->fault_flags & NVME_REQ_F_TORN) && req->fault_value < nlb) {
		uint64_t keep = req->fault_value << ns->lbads, left = keep;
		unsigned int i;

		/* io->sg is req->sg, the slot's own array */
		for (i = 0; i < io->nsg && left; i++) {
			req->sg[i].len = MIN(req->sg[i].len, left);
			left -= req->sg[i].len;
		}
		io->nsg = i;
		io->len = keep;
		ctrl->stats.writes_torn++;
	}
	if (req->fault_flags & NVME_REQ_F_MISDIRECT) {
		/* the LBAs where a Write of nlb blocks may start */
		uint64_t starts = ns->nlbas - nlb + 1;

		io->offset = ((slba + req->fault_value) % starts) << ns->lbads;
		ctrl->stats.writes_misdirected++;
	}
}

/*
 * patch-data: the data an admin command returns, with the rule's value
 * stored little-endian at its offset, as firmware with a bad Identify or
 * log page would send it.  Returns a copy for the caller to free, or NULL
 * to send @buf as it is (no rule, or the offset lies past @len).
 */
void *nvme_fault_patch(const struct nvme_req *req, const void *buf, uint64_t len)
{
	uint64_t end = (uint64_t)req->patch_offset + req->patch_width;
	uint8_t *copy;
	unsigned int i;

	if (!(req->fault_flags & NVME_REQ_F_PATCH) || end > len)
		return NULL;
	copy = malloc(len);
	if (!copy)
		return NULL;
	memcpy(copy, buf, len);
	for (i = 0; i < req->patch_width; i++)
		copy[req->patch_offset + i] = (uint8_t)(req->fault_value >> (8 * i));
	return copy;
}
