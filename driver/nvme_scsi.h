/* SPDX-License-Identifier: GPL-2.0 */
/*
 * nvme_scsi: an NVMe 1.0e PCI controller presented to the SCSI midlayer.
 *
 * Objects (see DESIGN.md):
 *   nvme_scsi_ctrl  - one per PCI function; lives in the Scsi_Host's hostdata.
 *   nvme_scsi_queue - one SQ/CQ pair; queues[0] is the admin queue, queues[1..n]
 *                     are IO queues, IO queue i+1 serves blk-mq hardware queue i.
 *   nvme_scsi_req   - anything that owns a command identifier (CID) on a queue.
 *   nvme_scsi_iod   - per-SCSI-command driver data (scsi_cmd_priv), embeds a req.
 *   nvme_scsi_ns    - an active namespace, LUN (nsid - 1).
 */
#ifndef NVME_SCSI_H
#define NVME_SCSI_H

#include <linux/types.h>
#include <linux/sizes.h>
#include <linux/spinlock.h>
#include <linux/mutex.h>
#include <linux/wait.h>
#include <linux/completion.h>
#include <linux/rcupdate.h>
#include <linux/pci.h>
#include <linux/dmapool.h>
#include <linux/nvme.h>
#include <linux/cdev.h>
#include <linux/rwsem.h>
#include <linux/workqueue.h>
#include <linux/scatterlist.h>
#include <scsi/scsi_host.h>
#include <scsi/scsi_cmnd.h>

#define NVME_SCSI_NAME			"nvme_scsi"

/* Host memory page size used for PRPs and CC.MPS (2^(12 + 0)). */
#define NVME_SCSI_PAGE_SHIFT		12
#define NVME_SCSI_PAGE_SIZE		SZ_4K
static_assert(NVME_SCSI_PAGE_SIZE == 1U << NVME_SCSI_PAGE_SHIFT);
#define NVME_SCSI_PRPS_PER_PAGE		(NVME_SCSI_PAGE_SIZE / sizeof(__le64))

/* Largest transfer the driver ever builds, whatever MDTS allows. */
#define NVME_SCSI_MAX_XFER		(4U << 20)
/*
 * PRP list pages for the largest transfer: one PRP per page plus one for a
 * first page that is not aligned, less PRP1, with the last entry of each
 * full list page used as the chain pointer.
 */
#define NVME_SCSI_MAX_PRP_PAGES \
	DIV_ROUND_UP(NVME_SCSI_MAX_XFER / NVME_SCSI_PAGE_SIZE, \
		     NVME_SCSI_PRPS_PER_PAGE - 1)

/*
 * Command identifiers of every IO queue for the driver's own commands
 * (passthrough, translated UNMAP etc.): NVME_SCSI_PT_CIDS CIDs right above
 * the blk-mq tags (= CIDs). Up to that many SQ slots are kept back for them,
 * but never more than half the queue; on smaller queues (see
 * nvme_scsi_queue.shared_slots) they share the slots with blk-mq.
 */
#define NVME_SCSI_PT_CIDS		4
/*
 * A command identifier on the wire: the low 12 bits index the queue's CID
 * table (rqs[]), the top 4 are a generation counted up at each submission
 * of that index. A late or repeated completion for an index that has been
 * reused since then does not match the new owner's generation and is
 * dropped, as in Linux's nvme (NVME_CID_GENCTR). So a queue has at most
 * 4096 CIDs.
 */
#define NVME_SCSI_CID_BITS		12
#define NVME_SCSI_MAX_CIDS		4096U
static_assert(NVME_SCSI_MAX_CIDS == 1U << NVME_SCSI_CID_BITS);
#define NVME_SCSI_CID_IDX(cid)		((cid) & (NVME_SCSI_MAX_CIDS - 1))
#define NVME_SCSI_CID_GEN(cid)		((cid) >> NVME_SCSI_CID_BITS)
#define NVME_SCSI_CID_GEN_MASK		0xf

/* smallest IO queue (NVMe): one command and the slot that stays empty */
#define NVME_SCSI_MIN_IO_DEPTH		2

/* AERs the controller failed in a row before the driver stops resending. */
#define NVME_SCSI_AER_RETRIES		3

/* Char device minors (one per controller). */
#define NVME_SCSI_MINORS		64

/*
 * LUNs: NSID n is LUN n - 1; max_luns (default 8, at most this) LUNs are
 * exposed, namespaces above are ignored.
 */
#define NVME_SCSI_MAX_LUNS		256

/*
 * Driver-made status values passed to a request's end() when the controller
 * did not complete it. A completion's status field is 15 bits (phase tag
 * dropped), so a value with bit 15 set can never come from the device,
 * whatever it sends (NVMe's own "host" codes 0x370/0x371 included).
 */
#define NVME_SCSI_STATUS_DRIVER		0x8000
#define NVME_SCSI_SC_CANCELLED		(NVME_SCSI_STATUS_DRIVER | 1)	/* reset: retry */
#define NVME_SCSI_SC_DEAD		(NVME_SCSI_STATUS_DRIVER | 2)	/* controller gone */

/* Status field of a completion, phase bit dropped: DNR/M/CRD/SCT/SC. */
#define NVME_SCSI_STATUS_CODE(s)	((s) & 0x7ff)	/* SCT << 8 | SC */

/* Did the driver end the request (reset, dead controller), not the device? */
static inline bool nvme_scsi_status_is_driver(u16 status)
{
	return status & NVME_SCSI_STATUS_DRIVER;
}

enum nvme_scsi_state {
	NVME_SCSI_NEW = 0,	/* probing */
	NVME_SCSI_LIVE,		/* queues up, commands flow */
	NVME_SCSI_RESETTING,	/* controller being disabled and re-enabled */
	NVME_SCSI_DEAD,		/* given up on: commands fail at once */
	NVME_SCSI_DELETING,	/* remove() in progress */
};

struct nvme_scsi_queue;

struct nvme_scsi_req {
	/*
	 * Called once per submission, from completion processing with the
	 * queue's cq_lock held, or from cancellation when the controller was
	 * disabled. @status is the 15-bit status without the phase tag, or one of
	 * the driver's NVME_SCSI_SC_* values.
	 */
	void (*end)(struct nvme_scsi_queue *q, struct nvme_scsi_req *req,
		    u16 status, union nvme_result result);
};

struct nvme_scsi_queue {
	struct nvme_scsi_ctrl *ctrl;
	u16 qid;
	u16 depth;		/* entries in the SQ and in the CQ */
	u16 nr_cids;		/* CID indexes 0..nr_cids-1: blk-mq tags + driver CIDs */
	u16 cq_vector;		/* MSI-X vector index */
	bool created;		/* known to the controller (IO queues) */
	bool live;		/* accepts submissions (under sq_lock) */
	bool irq_requested;

	spinlock_t sq_lock;	/* sq_tail, SQ memory, doorbell */
	struct nvme_command *sqes;
	dma_addr_t sq_dma;
	u16 sq_tail;
	u16 last_sq_tail;	/* tail last written to the doorbell */

	spinlock_t cq_lock;	/* cq_head, cq_phase, rqs[] clearing */
	struct nvme_completion *cqes;
	dma_addr_t cq_dma;
	u16 cq_head;
	u8 cq_phase;

	u32 __iomem *sq_db;
	u32 __iomem *cq_db;

	/*
	 * CID index -> owner; indexes are blk-mq tags on IO queues, slots on
	 * admin. gen[] is each index's generation at its last submission.
	 */
	struct nvme_scsi_req **rqs;
	u8 *gen;

	/* driver CIDs on an IO queue (bit n = CID pt_cid_base + n) */
	unsigned long pt_cids;
	u16 pt_cid_base;	/* = the number of blk-mq tags */
	/*
	 * Fewer than NVME_SCSI_PT_CIDS slots kept back for driver commands:
	 * every command, blk-mq's or the driver's, takes one of the SQ's
	 * depth - 1 slots (nr_out) before it is submitted, so the SQ can
	 * never be overrun; blk-mq backs off while driver commands wait.
	 */
	bool shared_slots;
	atomic_t nr_out;	/* commands holding a slot (shared_slots) */
	atomic_t pt_waiting;	/* driver commands waiting for a slot */

	/* statistics (debugfs) */
	u64 nr_submitted;	/* under sq_lock */
	u64 nr_completed;	/* under cq_lock, controller completions */
	u64 nr_cancelled;	/* under cq_lock, ended by a reset/teardown */
	atomic_t nr_timeouts;
	atomic_t nr_aborts;
	atomic_t nr_aborts_failed;

	char irqname[24];
};

/* PRP list pages of one command (prp.c). */
struct nvme_scsi_prps {
	u8 nr;
	__le64 *list[NVME_SCSI_MAX_PRP_PAGES];
	dma_addr_t dma[NVME_SCSI_MAX_PRP_PAGES];
};

struct nvme_scsi_op;

/* Per-SCSI-command data, allocated by the midlayer (cmd_size). */
struct nvme_scsi_iod {
	struct nvme_scsi_req req;
	struct scsi_cmnd *cmd;
	bool dma_mapped;
	bool abort_sent;	/* an NVMe Abort went out for this submission */
	bool deferred;		/* translated in process context (work) */
	const struct nvme_scsi_op *op;	/* its translation, when deferred */
	struct work_struct work;
	struct nvme_scsi_prps prps;
};

struct nvme_scsi_ns {
	struct rcu_head rcu;
	u32 nsid;
	u8 lba_shift;		/* log2 of the LBA data size */
	u64 nsze;		/* size in logical blocks */
	bool dealloc_zeroes;	/* DLFEAT: deallocated blocks read as zeroes */
	u8 eui64[8];
	u8 nguid[16];
};

struct nvme_scsi_ctrl {
	struct pci_dev *pdev;
	struct device *dev;
	struct Scsi_Host *shost;

	void __iomem *bar;
	resource_size_t bar_len;
	u64 cap;
	u32 vs;
	u32 db_stride;		/* doorbell stride in bytes */
	unsigned long ready_timeout;	/* CAP.TO in jiffies */
	u32 ctrl_config;
	bool started;		/* the first bring-up succeeded (under reset_lock) */
	bool scsi_ready;	/* the SCSI host is added and scanned */
	bool rescan_wanted;	/* a rescan was asked for (scan_work clears it) */
	int reset_result;	/* what the reset work's last reset returned */
	bool enabled;		/* CC.EN=1 and CSTS.RDY=1 last we set it */
	bool removing;		/* remove() started: a timeout kills the controller */

	spinlock_t state_lock;		/* state changes */
	enum nvme_scsi_state state;
	struct mutex reset_lock;	/* serialises reset, remove, queue setup, CC */
	struct task_struct *reset_owner;	/* who holds reset_lock */

	/* queues[0] = admin, queues[1..nr_io_queues] = IO */
	struct nvme_scsi_queue *queues;
	unsigned int nr_io_queues;
	unsigned int nr_vectors;	/* MSI-X vectors allocated */
	u16 io_depth;
	u16 io_tags;		/* blk-mq tags per IO queue (can_queue) */

	/* admin command slots (CID on the admin queue) */
	spinlock_t admin_lock;
	unsigned long admin_cids;	/* bitmap, nr_admin_cids bits */
	unsigned int nr_admin_cids;	/* min(admin depth - 1, BITS_PER_LONG) */
	u16 admin_depth;
	wait_queue_head_t admin_wait;	/* free admin and passthrough CIDs */

	struct dma_pool *prp_pool;

	/* Identify Controller, read again at every bring-up */
	struct nvme_id_ctrl *id;
	char sn[21];
	char mn[41];
	char fr[9];
	u32 nn;
	u32 max_xfer;		/* bytes */
	bool vwc_present;
	bool vwc_enabled;
	bool d_sense;		/* control mode page D_SENSE: descriptor sense */
	u16 oncs;		/* optional NVM commands (DSM, ...) */
	u16 oacs;		/* optional admin commands (Format NVM, ...) */

	struct mutex ns_lock;	/* updates to ns[] */
	unsigned int nr_luns;	/* max_luns */
	/* per LUN: pending unit attentions, bit = enum nvme_scsi_ua */
	unsigned long ua[NVME_SCSI_MAX_LUNS];
	struct nvme_scsi_ns __rcu *ns[NVME_SCSI_MAX_LUNS];
	struct mutex scan_lock;	/* serialises namespace rescans */
	struct work_struct scan_work;	/* rescan after a reset */

	/* resets not started by SCSI error handling (timeouts, CFS) */
	struct work_struct reset_work;
	atomic_t nr_resets;

	/* Asynchronous Event Requests (Namespace Attribute Changed notice) */
	bool aen_enabled;		/* OAES bit 8 and Set Features 0Bh done */
	bool aen_stop;			/* remove(): no more AERs or event work */
	unsigned long aer_busy;		/* bit 0: an AER is outstanding */
	int aer_cid;
	u32 aen_result;			/* dword 0 of the last AER completion */
	bool aer_resend;		/* the last AER failed: event work resends */
	unsigned int aer_errors;	/* AERs failed in a row */
	struct nvme_scsi_req aer_req;
	struct work_struct async_work;

	/* passthrough char device (ioctl.c) */
	int instance;		/* N in /dev/nvme_scsiN, -1 if none */
	struct cdev *cdev;
	struct device *cdev_dev;
	struct rw_semaphore pt_rwsem;	/* ioctls (read) vs. remove (write) */
	/* passthrough NVM IO (read) vs. a passthrough Format NVM (write) */
	struct rw_semaphore format_rwsem;
	bool pt_gone;			/* controller removed: ioctls fail */
	struct dentry *debugfs;
};

/* params.c: module parameters */
extern unsigned int nvme_scsi_admin_timeout;	/* seconds */
extern unsigned int nvme_scsi_shutdown_timeout;	/* seconds */
extern unsigned int nvme_scsi_io_timeout;	/* seconds */
extern unsigned int nvme_scsi_io_queue_size;
extern unsigned int nvme_scsi_admin_queue_size;
extern unsigned int nvme_scsi_max_luns;
extern unsigned int nvme_scsi_irq_coalesce_thr;		/* completions */
extern unsigned int nvme_scsi_irq_coalesce_time;	/* 100 us units */
int nvme_scsi_check_params(void);
bool nvme_scsi_nsid_wanted(u32 nsid);
unsigned int nvme_scsi_wanted_io_queues(void);
u32 nvme_scsi_max_xfer_param(void);

/*
 * pci.c: work queues, all WQ_MEM_RECLAIM (they sit in the writeback path),
 * kept apart so that one kind of work never waits behind another on a
 * rescuer thread: resets; events and rescans; SCSI commands translated in
 * process context (a rescan's LUN removal waits for those).
 */
extern struct workqueue_struct *nvme_scsi_reset_wq;
extern struct workqueue_struct *nvme_scsi_wq;
extern struct workqueue_struct *nvme_scsi_xlat_wq;

/* ctrl.c */
bool nvme_scsi_change_state(struct nvme_scsi_ctrl *ctrl,
			    enum nvme_scsi_state new_state);
enum nvme_scsi_state nvme_scsi_state(struct nvme_scsi_ctrl *ctrl);
const char *nvme_scsi_state_name(enum nvme_scsi_state state);
bool nvme_scsi_ctrl_ready(struct nvme_scsi_ctrl *ctrl);
int nvme_scsi_check_cap(struct nvme_scsi_ctrl *ctrl);
int nvme_scsi_disable_ctrl(struct nvme_scsi_ctrl *ctrl);
void nvme_scsi_stop_dma(struct nvme_scsi_ctrl *ctrl);
void nvme_scsi_shutdown_ctrl(struct nvme_scsi_ctrl *ctrl);
void nvme_scsi_fail_outstanding(struct nvme_scsi_ctrl *ctrl);
void nvme_scsi_teardown_queues(struct nvme_scsi_ctrl *ctrl, bool shutdown);
int nvme_scsi_reset_ctrl(struct nvme_scsi_ctrl *ctrl);
void nvme_scsi_reset_work(struct work_struct *work);
void nvme_scsi_reset_lock(struct nvme_scsi_ctrl *ctrl);
void nvme_scsi_reset_unlock(struct nvme_scsi_ctrl *ctrl);
bool nvme_scsi_reset_lock_held(struct nvme_scsi_ctrl *ctrl);
void nvme_scsi_disable_after_timeout(struct nvme_scsi_ctrl *ctrl, int resets);
void nvme_scsi_kill_ctrl(struct nvme_scsi_ctrl *ctrl, const char *why);
void nvme_scsi_schedule_reset(struct nvme_scsi_ctrl *ctrl, const char *why);

/* queue.c */
int nvme_scsi_alloc_queue(struct nvme_scsi_ctrl *ctrl, u16 qid, u16 depth,
			  u16 nr_tags);
void nvme_scsi_free_queue(struct nvme_scsi_queue *q);
void nvme_scsi_init_queue_state(struct nvme_scsi_queue *q);
int nvme_scsi_queue_request_irq(struct nvme_scsi_queue *q);
void nvme_scsi_queue_free_irq(struct nvme_scsi_queue *q);
bool nvme_scsi_get_slot(struct nvme_scsi_queue *q);
void nvme_scsi_put_slot(struct nvme_scsi_queue *q);
int nvme_scsi_submit(struct nvme_scsi_queue *q, struct nvme_command *cmd,
		     struct nvme_scsi_req *req, bool ring);
void nvme_scsi_queue_set_live(struct nvme_scsi_queue *q, bool live);
void nvme_scsi_ring_sq(struct nvme_scsi_queue *q);
int nvme_scsi_poll_cq(struct nvme_scsi_queue *q);
void nvme_scsi_cancel_queue(struct nvme_scsi_queue *q, u16 status);
bool nvme_scsi_req_inflight(struct nvme_scsi_queue *q, u16 cid,
			    struct nvme_scsi_req *req);
u16 nvme_scsi_wire_cid(struct nvme_scsi_queue *q, u16 cid);
int nvme_scsi_admin_exec(struct nvme_scsi_ctrl *ctrl, struct nvme_command *cmd,
			 u32 *result);
int nvme_scsi_exec(struct nvme_scsi_ctrl *ctrl, struct nvme_scsi_queue *q,
		   struct nvme_command *cmd, u64 *result, unsigned long timeout);
int nvme_scsi_abort_async(struct nvme_scsi_ctrl *ctrl, u16 sqid, u16 cid);

/* What a command's timeout leads to (nvme_scsi_cmd_timed_out). */
enum nvme_scsi_timeout {
	NVME_SCSI_TIMEOUT_DONE,		/* no longer outstanding */
	NVME_SCSI_TIMEOUT_WAIT,		/* aborted, or a reset will cancel it: wait again */
	NVME_SCSI_TIMEOUT_RESET,	/* give up on it: reset the controller */
	NVME_SCSI_TIMEOUT_GONE,		/* the controller is gone: give up on it */
};

enum nvme_scsi_timeout nvme_scsi_cmd_timed_out(struct nvme_scsi_queue *q, u16 cid,
					       struct nvme_scsi_req *req, bool *abort_sent,
					       u8 opcode);
bool nvme_scsi_get_cid(struct nvme_scsi_queue *q, int *cid);
void nvme_scsi_put_cid(struct nvme_scsi_queue *q, int cid);

/* admin.c: admin commands of the bring-up, Asynchronous Event Requests */
void nvme_scsi_setup_aen(struct nvme_scsi_ctrl *ctrl);
void nvme_scsi_async_work(struct work_struct *work);
int nvme_scsi_create_io_queue(struct nvme_scsi_queue *q);
int nvme_scsi_delete_io_queue(struct nvme_scsi_queue *q);
int nvme_scsi_set_queue_count(struct nvme_scsi_ctrl *ctrl, unsigned int *count);
int nvme_scsi_identify(struct nvme_scsi_ctrl *ctrl, u32 nsid, u8 cns,
		       void *buf);

/* scsi.c */
extern struct scsi_host_template nvme_scsi_sht;
void nvme_scsi_setup_host(struct nvme_scsi_ctrl *ctrl);
unsigned int nvme_scsi_set_luns_offline(struct nvme_scsi_ctrl *ctrl, bool offline);

/* Unit attentions a LUN reports once each (SPC-4), most important first. */
enum nvme_scsi_ua {
	NVME_SCSI_UA_MICROCODE_CHANGED,	/* 3Fh/01h: firmware activated */
	NVME_SCSI_UA_INQUIRY_CHANGED,	/* 3Fh/03h: INQUIRY data changed */
	NVME_SCSI_UA_CAPACITY_CHANGED,	/* 2Ah/09h: size or block size changed */
	NVME_SCSI_NR_UA,
};

/* Raise @ua on LUN @lun, or on every LUN when @lun < 0. */
void nvme_scsi_unit_attention(struct nvme_scsi_ctrl *ctrl, int lun, enum nvme_scsi_ua ua);

/*
 * A driver-owned data buffer (passthrough, translated commands that carry
 * parameter data): one DMA-coherent bounce buffer (zeroed) described by
 * PRP1/PRP2 or a PRP list.
 */
struct nvme_scsi_buf {
	void *cpu;
	dma_addr_t dma;
	size_t alloc;
	struct scatterlist sg;
	struct nvme_scsi_prps prps;
};

/* prp.c */
int nvme_scsi_build_prps(struct nvme_scsi_ctrl *ctrl, struct nvme_scsi_prps *prps,
			 struct nvme_command *c, struct scatterlist *sg, u32 len,
			 gfp_t gfp);
void nvme_scsi_free_prps(struct nvme_scsi_ctrl *ctrl, struct nvme_scsi_prps *prps);
int nvme_scsi_buf_alloc(struct nvme_scsi_ctrl *ctrl, struct nvme_scsi_buf *b,
			u32 len, struct nvme_command *c);
int nvme_scsi_buf_map(struct nvme_scsi_ctrl *ctrl, struct nvme_scsi_buf *b,
		      u32 len, struct nvme_command *c);
void nvme_scsi_buf_free(struct nvme_scsi_ctrl *ctrl, struct nvme_scsi_buf *b);

/* ioctl.c */
struct nvme_scsi_queue *nvme_scsi_pt_io_queue(struct nvme_scsi_ctrl *ctrl);
int nvme_scsi_chrdev_init(void);
void nvme_scsi_chrdev_exit(void);
int nvme_scsi_chrdev_add(struct nvme_scsi_ctrl *ctrl);
void nvme_scsi_chrdev_del(struct nvme_scsi_ctrl *ctrl);

/* debugfs.c */
void nvme_scsi_debugfs_init(void);
void nvme_scsi_debugfs_exit(void);
void nvme_scsi_debugfs_add(struct nvme_scsi_ctrl *ctrl);
void nvme_scsi_debugfs_del(struct nvme_scsi_ctrl *ctrl);

/* ns.c */
int nvme_scsi_rescan(struct nvme_scsi_ctrl *ctrl);
void nvme_scsi_scan_work(struct work_struct *work);
void nvme_scsi_schedule_rescan(struct nvme_scsi_ctrl *ctrl);
void nvme_scsi_forget_namespaces(struct nvme_scsi_ctrl *ctrl, u32 nsid);
int nvme_scsi_scan_namespaces(struct nvme_scsi_ctrl *ctrl, bool strict);
void nvme_scsi_sync_luns(struct nvme_scsi_ctrl *ctrl);
void nvme_scsi_free_namespaces(struct nvme_scsi_ctrl *ctrl);
unsigned int nvme_scsi_report_luns(struct nvme_scsi_ctrl *ctrl, u8 select,
				   u8 *buf, unsigned int len);

static inline struct nvme_scsi_ctrl *shost_to_ctrl(struct Scsi_Host *shost)
{
	return shost_priv(shost);
}

#endif /* NVME_SCSI_H */
