/* SPDX-License-Identifier: GPL-2.0-or-later */
/* cosim-nvme core: state shared between the core's source files. */
#ifndef COSIM_NVME_INTERNAL_H
#define COSIM_NVME_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nvme_ctrl.h"
#include "nvme_spec.h"

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define MIN(a, b)	((a) < (b) ? (a) : (b))

/* The transfer bound the model keeps for MDTS 0 ("no limit"): 4 KiB << 11 = 8 MiB */
#define NVME_MDTS_NO_LIMIT_SHIFT	11

/* Minimal intrusive doubly linked list (Linux list_head style). */
struct list_node {
	struct list_node *prev, *next;
};

static inline void list_init(struct list_node *h)
{
	h->prev = h->next = h;
}

static inline bool list_empty(const struct list_node *h)
{
	return h->next == h;
}

static inline void list_add_tail(struct list_node *h, struct list_node *n)
{
	n->prev = h->prev;
	n->next = h;
	h->prev->next = n;
	h->prev = n;
}

static inline void list_del(struct list_node *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = n;
}

#define list_first(h, type, member) container_of((h)->next, type, member)

/*
 * Life of a command: FREE -> (fetched) ACTIVE -> one of
 *   completed at once (back to FREE via nvme_req_complete),
 *   HELD    parked in the controller (AER; later: fault engine delays),
 *   BACKEND out at the host's block layer,
 *   CQ_WAIT completion ready but its CQ is full.
 * Abort and queue deletion look at this state to decide what they may do.
 */
enum nvme_req_state {
	NVME_REQ_FREE,
	NVME_REQ_ACTIVE,
	NVME_REQ_HELD,
	NVME_REQ_BACKEND,
	NVME_REQ_CQ_WAIT,
};

/* A set of LBA ranges [start, end), sorted and disjoint (range.c). */
struct nvme_range {
	uint64_t start, end;
};

struct nvme_range_set {
	struct nvme_range *r;
	unsigned int n, cap;
};

/* at most this many disjoint ranges, whether added or split by a removal */
#define NVME_RANGE_SET_MAX	256

struct nvme_ns {
	uint32_t nsid;
	uint8_t lbads;
	uint64_t nlbas;
	uint64_t bytes;			/* capacity, fixed; nlbas = bytes >> lbads */
	uint8_t lbads_attach;		/* the LBA size the host attached it with */
	void *backend;
	struct nvme_range_set uncor;	/* Write Uncorrectable LBAs */
	/* LBA Range Type (Set Features 03h); NULL: the default single range */
	struct nvme_lba_range_type *lbart;
	unsigned int nlbart;
	struct nvme_ledger_entry *ledger;	/* nlbas entries, or NULL (ledger.c) */
};

struct nvme_req {
	struct nvme_sq *sq;
	enum nvme_req_state state;
	struct nvme_sqe cmd;
	uint32_t dw0;
	uint16_t status;
	struct list_node link;		/* free list, CQ wait list or AER list */
	struct nvme_io io;
	struct nvme_sg *sg;		/* sg_cap entries, grown to what a command needs */
	unsigned int sg_cap;
	void *buf;			/* per-command host buffer (Compare, DSM, Format) */
	uint64_t bounce;		/* bytes of buf counted in ctrl->bounce_bytes */
	uint16_t fault_flags;		/* NVME_REQ_F_* set by the fault engine */
	uint16_t fault_status;		/* NVME_REQ_F_STATUS: the status to report */
	uint16_t fault_sq_head;		/* NVME_REQ_F_SQ_HEAD: the head to report */
	uint16_t patch_offset;		/* NVME_REQ_F_PATCH: where, */
	uint8_t patch_width;		/* how many bytes, */
	uint64_t fault_value;		/* and what (little-endian); NVME_REQ_F_TORN:
					 * LBAs written; NVME_REQ_F_MISDIRECT: shift */
	uint64_t deadline;		/* delay: when to execute (ns) */
	/* a Write: the CRC-32 of each LBA's data, for the ledger (ledger.c) */
	uint32_t *crcs;
	uint64_t crc_slba;
	uint64_t crc_nlb;
};

/*
 * A request slot keeps an sg array of up to this many entries between
 * commands (a 128 KiB transfer in 4 KiB pages); larger ones are freed at
 * release, so idle slots cost little whatever the max transfer.
 */
#define NVME_SG_KEEP		34
/* host memory all Compare commands of a controller may hold at once */
#define NVME_BOUNCE_MAX		(64ull << 20)

/* struct nvme_req.fault_flags */
#define NVME_REQ_F_HELD		0x01	/* HELD by drop/cfs/delay (abortable) */
#define NVME_REQ_F_DELAYED	0x02	/* ... and on ctrl->delayed */
#define NVME_REQ_F_DUP		0x04	/* post the completion twice */
#define NVME_REQ_F_BAD_CID	0x08	/* post a stray completion first */
#define NVME_REQ_F_CORRUPT	0x10	/* flip the data of this Read */
#define NVME_REQ_F_ABORTED	0x20	/* Abort named it at the block layer */
#define NVME_REQ_F_STATUS	0x40	/* ran; report fault_status if it succeeded */
#define NVME_REQ_F_STALE	0x80	/* replay the completion after the next fetch */
#define NVME_REQ_F_PATCH	0x100	/* patch the data this admin command returns */
#define NVME_REQ_F_SQ_HEAD	0x200	/* report fault_sq_head as the SQ head */
#define NVME_REQ_F_TORN		0x400	/* write only the first fault_value LBAs */
#define NVME_REQ_F_MISDIRECT	0x800	/* write fault_value LBAs further on */
#define NVME_REQ_F_LOSE		0x1000	/* complete with success, write nothing */
#define NVME_REQ_F_STALE_READ	0x2000	/* the next Read of these LBAs gets the old data */

struct nvme_cq {
	uint16_t qid;
	uint32_t size;			/* entries */
	uint32_t head, tail;
	bool phase;
	bool ien;
	uint16_t iv;
	uint64_t base;
	unsigned int nsq;		/* SQs bound to this CQ */
	unsigned int coalesced;		/* interrupts held back by coalescing (08h) */
	uint64_t irq_deadline;		/* ... until then (ns), UINT64_MAX: none */
	struct list_node wait;		/* reqs whose completion did not fit */
};

struct nvme_sq {
	struct nvme_ctrl *ctrl;
	uint16_t qid;
	uint32_t size;
	uint32_t head, tail;
	uint64_t base;
	struct nvme_cq *cq;
	struct nvme_req *reqs;		/* one per slot */
	struct list_node free;
	unsigned int backend;		/* reqs in NVME_REQ_BACKEND */
	uint8_t prio;			/* QPRIO (enum nvme_sq_prio), used under WRR */
	bool deleting;
	struct nvme_req *delete_req;	/* Delete I/O SQ waiting for backend */
	/* orphaned by a hard reset while requests were out at the host */
	bool zombie;
	struct list_node zombie_link;
	/* stale-completion: a CQE posted once more after the next fetch */
	struct {
		bool armed;
		uint16_t cid, status;
		uint32_t dw0;
	} stale;
};

#define NVME_ARB_CLASSES	4

struct nvme_event {
	uint8_t type, info, lid;
};

#define NVME_MAX_EVENTS	16
#define NVME_ERROR_LOG_ENTRIES	16	/* ELPE = 15 */
#define NVME_FW_IMAGE_MAX	(4u << 20)

struct nvme_ctrl {
	const struct nvme_host_ops *ops;
	void *opaque;
	struct nvme_ctrl_params p;

	/* registers */
	uint64_t cap;
	uint32_t cc, csts, aqa, intms;
	uint64_t asq, acq;

	/* derived from CC at enable */
	uint32_t page_bits;
	uint64_t page_size;
	uint64_t max_xfer;		/* bytes, from MDTS */
	unsigned int max_sg;		/* sg entries a max transfer may need */
	uint64_t bounce_bytes;		/* Compare buffers and Write CRCs held, at most
					 * NVME_BOUNCE_MAX */
	uint32_t ledger_gen;		/* the last generation the ledger gave out */
	uint8_t *ledger_buf;		/* NVME_LEDGER_CHUNK bytes of Write data to hash */

	bool enabled;			/* CC.EN seen 0->1 and accepted */
	bool disabling;			/* CC.EN 1->0, waiting for the backend */
	bool shutting_down;		/* CC.SHN set, waiting for the backend */
	bool gone;			/* vanish fault: off the bus until a hard reset */
	unsigned int depth;		/* host entry points on the stack (nvme_enter) */
	bool reset_pending;		/* nvme_ctrl_reset asked for with depth > 0 */

	uint32_t nqueues;		/* max_ioqpairs + 1 */
	struct nvme_sq **sq;
	struct nvme_cq **cq;
	/*
	 * Arbitration (queue.c).  Round robin: every I/O SQ is in class 0.
	 * WRR: class = QPRIO, 0 urgent first, then 1..3 high/medium/low by
	 * weight.  arb_next[c]: the SQ id a class's round resumes at;
	 * arb_qids: scratch for a pass, NVME_ARB_CLASSES lists of nqueues.
	 */
	uint32_t arb_next[NVME_ARB_CLASSES];
	uint16_t *arb_qids;
	bool wrr;			/* CC.AMS at enable: weighted round robin */
	uint8_t wrr_class;		/* weighted class being served, 1..3 */
	uint32_t wrr_credit;		/* commands it may still fetch this cycle */

	uint32_t irq_status;		/* pin-based: vectors with pending CQEs */
	bool intx_level;

	struct nvme_ns **ns;		/* [1..nn] */

	uint32_t feat[NVME_FEAT_MAX];
	uint8_t *irq_cd;		/* Interrupt Vector Configuration CD, per vector */
	uint8_t crit_warning;		/* SMART critical warning */

	struct list_node aer_reqs;	/* outstanding Async Event Requests */
	unsigned int aer_count;
	struct nvme_event events[NVME_MAX_EVENTS];
	unsigned int nevents;
	uint8_t aer_masked;		/* event types awaiting their log read */

	unsigned int io_inflight;	/* reqs out at the host (zombies not counted) */
	struct list_node zombies;	/* orphaned SQs, freed as their requests return */

	uint8_t *ns_changed;		/* bitmap [0..nn] for the Changed NS List log */

	/* SMART counters */
	uint64_t units_read, units_written;	/* 512-byte units */
	uint64_t host_reads, host_writes;
	uint64_t media_errors;

	/* Error Information log: a ring of NVME_ERROR_LOG_ENTRIES, newest at err_next - 1 */
	struct nvme_error_log_entry errors[NVME_ERROR_LOG_ENTRIES];
	unsigned int err_next;
	uint64_t error_count;

	/* firmware slots (firmware.c): revisions [1..fw_slots], 8 spaces-padded chars */
	char fw_rev[8][8];
	uint8_t fw_active;		/* running slot */
	uint8_t fw_next;		/* slot to run after the next reset, 0: none */
	uint8_t *fw_img;		/* Firmware Image Download buffer */
	uint64_t fw_len;

	/* fault engine (fault.c) */
	struct list_node faults;	/* struct nvme_fault_rule, oldest first */
	unsigned int nfaults;
	uint32_t fault_next_id;
	struct list_node fault_held;	/* reqs dropped by drop/cfs rules */
	struct list_node delayed;	/* reqs waiting for their deadline */
	bool ready_wait;		/* CC.EN=1 seen, CSTS.RDY held back */
	uint64_t ready_deadline;	/* UINT64_MAX: for ever */
	uint64_t rdy_off_deadline;	/* ready-delay-ms: CSTS.RDY drops then, UINT64_MAX: none */
	uint64_t timer_deadline;	/* armed host timer, UINT64_MAX: none */
	struct nvme_ctrl_stats stats;
	uint64_t *q_submitted, *q_completed;	/* per SQ id, [nqueues] */
};

/* ctrl.c */
void nvme_guest_error(struct nvme_ctrl *ctrl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void nvme_fatal(struct nvme_ctrl *ctrl, const char *why);
void nvme_check_idle(struct nvme_ctrl *ctrl);
struct nvme_ns *nvme_ns_get(struct nvme_ctrl *ctrl, uint32_t nsid);

/*
 * Commands are fetched, executed and completed only while this holds:
 * enabled, not disabling, no fatal status, and still on the bus.
 */
static inline bool nvme_ctrl_running(const struct nvme_ctrl *ctrl)
{
	return ctrl->enabled && !ctrl->disabling && !(ctrl->csts & NVME_CSTS_CFS) &&
	       !ctrl->gone && !ctrl->reset_pending;
}

/* queue.c */
struct nvme_cq *nvme_cq_create(struct nvme_ctrl *ctrl, uint16_t qid, uint64_t base,
			       uint32_t size, bool ien, uint16_t iv);
void nvme_cq_free(struct nvme_ctrl *ctrl, struct nvme_cq *cq);
struct nvme_sq *nvme_sq_create(struct nvme_ctrl *ctrl, uint16_t qid, uint64_t base,
			       uint32_t size, struct nvme_cq *cq);
void nvme_sq_delete(struct nvme_ctrl *ctrl, struct nvme_sq *sq);
bool nvme_sq_try_free(struct nvme_ctrl *ctrl, struct nvme_sq *sq);
void nvme_zombie_io_done(struct nvme_req *req);
void nvme_zombies_free(struct nvme_ctrl *ctrl);
void nvme_queues_teardown(struct nvme_ctrl *ctrl);
void nvme_doorbell_write(struct nvme_ctrl *ctrl, uint64_t off, uint32_t val);
void nvme_queues_process(struct nvme_ctrl *ctrl);
void nvme_enter(struct nvme_ctrl *ctrl);
void nvme_leave(struct nvme_ctrl *ctrl);
void nvme_req_complete(struct nvme_req *req);
void nvme_req_release(struct nvme_req *req);
void nvme_req_free_buffers(struct nvme_req *req);
void nvme_req_exec(struct nvme_ctrl *ctrl, struct nvme_req *req);
void nvme_irq_update(struct nvme_ctrl *ctrl);
void nvme_coalesce_timer(struct nvme_ctrl *ctrl);
struct nvme_req *nvme_req_find(struct nvme_sq *sq, uint16_t cid);

/* admin.c */
void nvme_admin_exec(struct nvme_ctrl *ctrl, struct nvme_req *req);
void nvme_aer_drop_all(struct nvme_ctrl *ctrl);
void nvme_aer_kick(struct nvme_ctrl *ctrl);
void nvme_features_reset(struct nvme_ctrl *ctrl);
void nvme_ns_changed(struct nvme_ctrl *ctrl, uint32_t nsid);
void nvme_error_log_add(struct nvme_ctrl *ctrl, const struct nvme_req *req);

/* fault.c */
bool nvme_fault_cmd(struct nvme_ctrl *ctrl, struct nvme_req *req);
bool nvme_fault_event(struct nvme_ctrl *ctrl, enum nvme_fault_action action, uint16_t cq,
		      int64_t *ms);
bool nvme_fault_abort(struct nvme_ctrl *ctrl, struct nvme_req *victim);
void nvme_fault_read_done(struct nvme_ctrl *ctrl, struct nvme_req *req);
void nvme_fault_write_lie(struct nvme_ctrl *ctrl, struct nvme_req *req,
			  const struct nvme_ns *ns);
void *nvme_fault_patch(const struct nvme_req *req, const void *buf, uint64_t len);
void nvme_fault_timer_update(struct nvme_ctrl *ctrl);
void nvme_fault_run_delayed(struct nvme_ctrl *ctrl);
void nvme_fault_init(struct nvme_ctrl *ctrl);
void nvme_fault_free(struct nvme_ctrl *ctrl);
uint64_t nvme_clock_ns(struct nvme_ctrl *ctrl);

/* firmware.c: Firmware Image Download / Activate, Format NVM */
void nvme_fw_init(struct nvme_ctrl *ctrl);
void nvme_fw_reset(struct nvme_ctrl *ctrl);
void nvme_fw_free(struct nvme_ctrl *ctrl);
uint16_t nvme_fw_download(struct nvme_ctrl *ctrl, struct nvme_req *req);
uint16_t nvme_fw_activate(struct nvme_ctrl *ctrl, struct nvme_req *req);
uint16_t nvme_format(struct nvme_ctrl *ctrl, struct nvme_req *req);
bool nvme_format_io_done(struct nvme_ctrl *ctrl, struct nvme_req *req);
unsigned int nvme_ns_lbafs(const struct nvme_ns *ns, uint8_t *lbads);
void nvme_id_string(char *dst, size_t size, const char *src);

/* range.c */
bool nvme_range_add(struct nvme_range_set *s, uint64_t start, uint64_t end);
bool nvme_range_remove(struct nvme_range_set *s, uint64_t start, uint64_t end);
bool nvme_range_overlaps(const struct nvme_range_set *s, uint64_t start, uint64_t end);
void nvme_range_clear(struct nvme_range_set *s);

/* io.c */
void nvme_io_exec(struct nvme_ctrl *ctrl, struct nvme_req *req);
void nvme_io_submit(struct nvme_ctrl *ctrl, struct nvme_req *req);

/* prp.c */
uint16_t nvme_prp_map(struct nvme_ctrl *ctrl, uint64_t prp1, uint64_t prp2, uint64_t len,
		      struct nvme_sg *sg, unsigned int max_sg, unsigned int *nsg);
uint16_t nvme_dma_from_guest(struct nvme_ctrl *ctrl, struct nvme_req *req,
			     void *buf, uint64_t len);
uint16_t nvme_req_map(struct nvme_ctrl *ctrl, struct nvme_req *req, uint64_t len);
uint16_t nvme_dma_to_guest(struct nvme_ctrl *ctrl, struct nvme_req *req,
			   const void *buf, uint64_t len);

/* ledger.c: the ledger of acknowledged writes */
#define NVME_LEDGER_CHUNK	(64u << 10)
void nvme_ledger_write_start(struct nvme_ctrl *ctrl, struct nvme_req *req,
			     struct nvme_ns *ns, uint64_t slba, uint64_t nlb, unsigned int nsg);
void nvme_ledger_complete(struct nvme_ctrl *ctrl, struct nvme_req *req);
void nvme_ledger_release(struct nvme_ctrl *ctrl, struct nvme_req *req);
void nvme_ledger_zero(struct nvme_ctrl *ctrl, struct nvme_ns *ns, uint64_t slba, uint64_t nlb);
void nvme_ledger_forget(struct nvme_ns *ns, uint64_t slba, uint64_t nlb);
void nvme_ledger_free(struct nvme_ns *ns);

#endif /* COSIM_NVME_INTERNAL_H */
