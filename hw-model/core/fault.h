/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cosim-nvme core: the fault engine.  Rules match commands (queue, opcode,
 * nsid, LBA range) or controller events (enable, shutdown, interrupts),
 * fire on a schedule (nth, every, count, seeded probability) and change
 * what the guest sees.  See ../DESIGN.md, "Fault injection".
 */
#ifndef COSIM_NVME_FAULT_H
#define COSIM_NVME_FAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nvme_ctrl;

enum nvme_fault_action {
	NVME_FAULT_DROP,		/* never complete (Abort / reset end it) */
	NVME_FAULT_DELAY,		/* execute delay-us later */
	NVME_FAULT_STATUS,		/* complete with sct/sc/dnr/more (after running it if execute) */
	NVME_FAULT_CFS,			/* set CSTS.CFS; the command is dropped */
	NVME_FAULT_READY_DELAY,		/* next CC.EN=1: CSTS.RDY after ms (-1: never) */
	NVME_FAULT_IGNORE_SHUTDOWN,	/* next CC.SHN: SHST never completes */
	NVME_FAULT_DROP_IRQ,		/* no MSI-X/INTx for a CQ's completions */
	NVME_FAULT_DUP_COMPLETION,	/* post the completion twice */
	NVME_FAULT_BAD_CID,		/* an extra completion with a CID not outstanding */
	NVME_FAULT_CORRUPT_READ,	/* flip data a Read returns */
	NVME_FAULT_VANISH,		/* drop off the bus: registers and config space all ones */
	NVME_FAULT_STALE_COMPLETION,	/* post the completion again after the SQ's next fetch */
	NVME_FAULT_PATCH_DATA,		/* admin data: overwrite width bytes at offset with value */
	NVME_FAULT_SQ_HEAD,		/* the completion reports SQ head = value */
	/* firmware that lies about Writes: each completes with success */
	NVME_FAULT_LOSE_WRITE,		/* nothing reaches the medium */
	NVME_FAULT_TORN_WRITE,		/* only the first value LBAs reach it */
	NVME_FAULT_MISDIRECTED_WRITE,	/* the data lands value LBAs further on */
	NVME_FAULT_STALE_READ,		/* it lands, but the next Read of its LBAs
					 * returns what they held before */
	NVME_FAULT_NR_ACTIONS,
};

/* "not given" for every integer field of a spec */
#define NVME_FAULT_UNSET	INT64_MIN
/* queue values besides a qid */
#define NVME_FAULT_QUEUE_ANY	(-1)
#define NVME_FAULT_QUEUE_ADMIN	(-2)	/* same as qid 0 */
#define NVME_FAULT_QUEUE_IO	(-3)

/*
 * A rule as given by the user.  Integer fields are int64 so that out of
 * range values reach the validator (and its message) unchanged; a field
 * not given is NVME_FAULT_UNSET (probability, seed: has_*).
 */
struct nvme_fault_spec {
	enum nvme_fault_action action;
	int64_t queue;			/* qid or NVME_FAULT_QUEUE_*; UNSET = any */
	int64_t opcode, nsid;
	int64_t lba_start, lba_end;
	int64_t nth, every, count;
	bool has_probability;
	double probability;
	bool has_seed;
	uint64_t seed;
	int64_t delay_us;
	int64_t sct, sc;
	bool dnr, more;
	bool execute;			/* status: run the command, then report sct/sc */
	int64_t ms;
	int64_t cq;
	int64_t offset, width, value;	/* patch-data: where, how many bytes (1..8), what */
};

/* A rule as listed. */
struct nvme_fault_info {
	uint32_t id;
	struct nvme_fault_spec spec;
	uint64_t matches;		/* times the match part held */
	uint64_t hits;			/* times it fired */
	bool active;			/* false once it fired `count` times */
};

#define NVME_FAULT_MAX_RULES	256
#define NVME_FAULT_ERR_LEN	160

/* Every field unset, action drop. */
void nvme_fault_spec_init(struct nvme_fault_spec *s);
const char *nvme_fault_action_name(enum nvme_fault_action a);
/* -1 if @name is no action */
int nvme_fault_action_parse(const char *name);
/* "drop, delay, ..." */
const char *nvme_fault_action_list(void);

/*
 * Add a rule; returns its id (1, 2, ...; never reused while the controller
 * lives) or 0 with a message naming the bad field in @err, e.g.
 * "fault rule: 'queue' 70000 out of range (0..8, or admin, io, any)".
 */
uint32_t nvme_ctrl_fault_add(struct nvme_ctrl *ctrl, const struct nvme_fault_spec *s,
			     char err[NVME_FAULT_ERR_LEN]);
bool nvme_ctrl_fault_remove(struct nvme_ctrl *ctrl, uint32_t id);
void nvme_ctrl_fault_clear(struct nvme_ctrl *ctrl);
/* Copy out up to @max rules, oldest first; returns how many there are. */
unsigned int nvme_ctrl_fault_list(const struct nvme_ctrl *ctrl, struct nvme_fault_info *out,
				  unsigned int max);

/* Counters for tests and the harness (qom-get stats). */
struct nvme_ctrl_stats {
	uint64_t admin_submitted, admin_completed;	/* fetched / CQEs posted */
	uint64_t io_submitted, io_completed;
	uint64_t faults_fired;				/* every action, every rule */
	uint64_t cmds_dropped;				/* drop and cfs */
	uint64_t cmds_delayed;
	uint64_t cmds_status;				/* completions with a status rule's status */
	uint64_t irqs_dropped;
	uint64_t extra_completions;			/* dup-, stale-completion, bad-cid */
	uint64_t reads_corrupted;
	uint64_t writes_lost, writes_torn, writes_misdirected, writes_stale;
	uint64_t aborts, aborts_succeeded;		/* Abort commands / "aborted" */
	uint64_t resets;				/* CC.EN 1->0 */
	uint64_t hard_resets;				/* nvme_ctrl_reset */
	uint64_t vanished;				/* vanish fired */
};

void nvme_ctrl_get_stats(const struct nvme_ctrl *ctrl, struct nvme_ctrl_stats *st);
/* Per SQ id (0..max-ioqpairs): commands fetched and CQEs posted; false if out of range. */
bool nvme_ctrl_get_queue_stats(const struct nvme_ctrl *ctrl, uint32_t qid,
			       uint64_t *submitted, uint64_t *completed);

/*
 * A vanish rule fired and no hard reset (power cycle) came since: the
 * function is off the bus, so the glue answers config space reads with all
 * ones as a missing device does.
 */
bool nvme_ctrl_gone(const struct nvme_ctrl *ctrl);

/* The host's timer (ops->timer_mod) expired. */
void nvme_ctrl_timer(struct nvme_ctrl *ctrl);

#endif /* COSIM_NVME_FAULT_H */
