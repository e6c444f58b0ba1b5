// SPDX-License-Identifier: GPL-2.0
/*
 * nvme_scsi: module init/exit, PCI probe/remove, controller registers
 * (enable/disable/shutdown honouring CAP.TO), queue setup and reset.
 */
#include <linux/module.h>
#include <linux/kmod.h>
#include <linux/kernel.h>
#include <linux/pci.h>
#include <linux/interrupt.h>
#include <linux/dma-mapping.h>
#include <linux/delay.h>
#include <linux/slab.h>
#include <linux/sched/signal.h>
#include <linux/workqueue.h>
#include <linux/io-64-nonatomic-lo-hi.h>
#include <scsi/scsi_host.h>

#include "nvme_scsi.h"

#define NVME_SCSI_MAX_IO_QUEUES	64

static unsigned int io_queues;
module_param(io_queues, uint, 0444);
MODULE_PARM_DESC(io_queues, "IO queue pairs to ask for (0 = one per possible CPU, max 64)");

static char *io_queue_mode = "cpu";
module_param(io_queue_mode, charp, 0444);
MODULE_PARM_DESC(io_queue_mode, "with io_queues=0: \"cpu\" = one IO queue per possible CPU, \"numa\" = one per NUMA node");

static unsigned int io_queue_size = 256;
module_param(io_queue_size, uint, 0444);
MODULE_PARM_DESC(io_queue_size, "entries per IO queue (2-4096, capped by CAP.MQES+1); up to 4 slots are kept for passthrough");
/* the earlier name */
module_param_named(io_queue_depth, io_queue_size, uint, 0444);
MODULE_PARM_DESC(io_queue_depth, "same as io_queue_size");

static unsigned int admin_queue_size = NVME_AQ_DEPTH;
module_param(admin_queue_size, uint, 0444);
MODULE_PARM_DESC(admin_queue_size, "entries in the admin queue (4-4096; at most 64 commands out at once)");

static unsigned int max_transfer_size;
module_param(max_transfer_size, uint, 0444);
MODULE_PARM_DESC(max_transfer_size, "largest transfer in bytes, a multiple of 4096 up to 4194304 (0 = max_transfer_kb); capped by MDTS");

static unsigned int max_transfer_kb = NVME_SCSI_MAX_XFER / 1024;
module_param(max_transfer_kb, uint, 0444);
MODULE_PARM_DESC(max_transfer_kb, "largest transfer in KiB, 4-4096 (capped by MDTS); max_transfer_size wins if set");

static unsigned int max_luns = 8;
module_param(max_luns, uint, 0444);
MODULE_PARM_DESC(max_luns, "LUNs per controller, 1-256: NSID n is LUN n-1, NSIDs above are not exposed");

static unsigned int namespaces[NVME_SCSI_MAX_LUNS];
static unsigned int nr_namespaces;
module_param_array(namespaces, uint, &nr_namespaces, 0444);
MODULE_PARM_DESC(namespaces, "comma-separated NSIDs to expose (default: all active up to max_luns)");

bool nvme_scsi_nsid_wanted(u32 nsid)
{
	unsigned int i;

	if (!nr_namespaces)
		return true;
	for (i = 0; i < nr_namespaces; i++)
		if (namespaces[i] == nsid)
			return true;
	return false;
}

unsigned int nvme_scsi_admin_timeout = 30;
module_param_named(admin_timeout, nvme_scsi_admin_timeout, uint, 0644);
MODULE_PARM_DESC(admin_timeout, "admin command timeout in seconds");

unsigned int nvme_scsi_io_timeout = 30;
module_param_named(io_timeout, nvme_scsi_io_timeout, uint, 0644);
MODULE_PARM_DESC(io_timeout, "IO command timeout in seconds (1-3600): then NVMe Abort, then a controller reset");

unsigned int nvme_scsi_shutdown_timeout = 5;
module_param_named(shutdown_timeout, nvme_scsi_shutdown_timeout, uint, 0644);
MODULE_PARM_DESC(shutdown_timeout, "time to wait for CSTS.SHST after CC.SHN, in seconds");

/* ---- controller state -------------------------------------------------- */

static const char *const nvme_scsi_state_names[] = {
	[NVME_SCSI_NEW]		= "new",
	[NVME_SCSI_LIVE]	= "live",
	[NVME_SCSI_RESETTING]	= "resetting",
	[NVME_SCSI_DEAD]	= "dead",
	[NVME_SCSI_DELETING]	= "deleting",
};

const char *nvme_scsi_state_name(enum nvme_scsi_state state)
{
	if (state < ARRAY_SIZE(nvme_scsi_state_names) && nvme_scsi_state_names[state])
		return nvme_scsi_state_names[state];
	return "unknown";
}

enum nvme_scsi_state nvme_scsi_state(struct nvme_scsi_ctrl *ctrl)
{
	return READ_ONCE(ctrl->state);
}

bool nvme_scsi_change_state(struct nvme_scsi_ctrl *ctrl,
			    enum nvme_scsi_state new_state)
{
	enum nvme_scsi_state old;
	unsigned long flags;
	bool ok = false;

	spin_lock_irqsave(&ctrl->state_lock, flags);
	old = ctrl->state;
	switch (new_state) {
	case NVME_SCSI_LIVE:
		ok = old == NVME_SCSI_NEW || old == NVME_SCSI_RESETTING;
		break;
	case NVME_SCSI_RESETTING:
		ok = old == NVME_SCSI_LIVE || old == NVME_SCSI_DEAD;
		break;
	case NVME_SCSI_DEAD:
		ok = old != NVME_SCSI_DELETING;
		break;
	case NVME_SCSI_DELETING:
		ok = true;
		break;
	case NVME_SCSI_NEW:
		break;
	}
	if (ok)
		WRITE_ONCE(ctrl->state, new_state);
	spin_unlock_irqrestore(&ctrl->state_lock, flags);
	if (ok && old != new_state)
		dev_dbg(ctrl->dev, "state %s -> %s\n", nvme_scsi_state_names[old],
			nvme_scsi_state_names[new_state]);
	return ok;
}

/* ---- registers --------------------------------------------------------- */

static int nvme_scsi_wait_csts(struct nvme_scsi_ctrl *ctrl, u32 mask, u32 val,
			       unsigned long timeout, const char *what)
{
	unsigned long deadline = jiffies + timeout;
	u32 csts;

	for (;;) {
		csts = readl(ctrl->bar + NVME_REG_CSTS);
		if ((csts & mask) == val && csts != ~0U)
			return 0;
		/* a removed function may read all ones, or (QEMU) zeroes */
		if (csts == ~0U || !pci_device_is_present(ctrl->pdev)) {
			dev_err(ctrl->dev, "controller gone (CSTS %#x, no config space) while waiting for %s\n",
				csts, what);
			return -ENODEV;
		}
		if (time_after(jiffies, deadline)) {
			dev_err(ctrl->dev, "timed out after %u ms waiting for %s (CSTS %#x)\n",
				jiffies_to_msecs(timeout), what, csts);
			return -ETIMEDOUT;
		}
		if (fatal_signal_pending(current))
			return -EINTR;
		usleep_range(1000, 2000);
	}
}

static int nvme_scsi_disable_ctrl(struct nvme_scsi_ctrl *ctrl)
{
	unsigned int i;

	WRITE_ONCE(ctrl->enabled, false);
	for (i = 0; ctrl->queues && i <= ctrl->nr_io_queues; i++)
		if (ctrl->queues[i].ctrl)
			nvme_scsi_queue_set_live(&ctrl->queues[i], false);
	ctrl->ctrl_config &= ~(NVME_CC_SHN_MASK | NVME_CC_ENABLE);
	writel(ctrl->ctrl_config, ctrl->bar + NVME_REG_CC);
	return nvme_scsi_wait_csts(ctrl, NVME_CSTS_RDY, 0, ctrl->ready_timeout,
				   "CSTS.RDY=0");
}

/*
 * The controller may still own commands whose memory is about to be failed,
 * reused or freed: as Linux's nvme_dev_disable(), take its bus mastering
 * away first, so that even one that ignored CC.EN=0 (CSTS.RDY stuck at 1)
 * cannot DMA into that memory any more. nvme_scsi_enable_ctrl() gives it
 * back.
 */
static void nvme_scsi_stop_dma(struct nvme_scsi_ctrl *ctrl)
{
	pci_clear_master(ctrl->pdev);
}

/* Program the admin queue and set CC.EN; the admin queue must be idle. */
static int nvme_scsi_enable_ctrl(struct nvme_scsi_ctrl *ctrl)
{
	struct nvme_scsi_queue *aq = &ctrl->queues[0];
	u32 aqa = (aq->depth - 1) | ((aq->depth - 1) << 16);
	int ret;

	pci_set_master(ctrl->pdev);
	writel(aqa, ctrl->bar + NVME_REG_AQA);
	lo_hi_writeq(aq->sq_dma, ctrl->bar + NVME_REG_ASQ);
	lo_hi_writeq(aq->cq_dma, ctrl->bar + NVME_REG_ACQ);

	ctrl->ctrl_config = NVME_CC_CSS_NVM |
		((NVME_SCSI_PAGE_SHIFT - 12) << NVME_CC_MPS_SHIFT) |
		NVME_CC_AMS_RR | NVME_CC_SHN_NONE |
		NVME_CC_IOSQES | NVME_CC_IOCQES;
	writel(ctrl->ctrl_config, ctrl->bar + NVME_REG_CC);
	ctrl->ctrl_config |= NVME_CC_ENABLE;
	writel(ctrl->ctrl_config, ctrl->bar + NVME_REG_CC);
	ret = nvme_scsi_wait_csts(ctrl, NVME_CSTS_RDY, NVME_CSTS_RDY,
				  ctrl->ready_timeout, "CSTS.RDY=1");
	if (ret)
		return ret;
	WRITE_ONCE(ctrl->enabled, true);
	nvme_scsi_queue_set_live(aq, true);
	return 0;
}

static void nvme_scsi_shutdown_ctrl(struct nvme_scsi_ctrl *ctrl)
{
	ctrl->ctrl_config &= ~NVME_CC_SHN_MASK;
	ctrl->ctrl_config |= NVME_CC_SHN_NORMAL;
	writel(ctrl->ctrl_config, ctrl->bar + NVME_REG_CC);
	nvme_scsi_wait_csts(ctrl, NVME_CSTS_SHST_MASK, NVME_CSTS_SHST_CMPLT,
			    nvme_scsi_shutdown_timeout * HZ,
			    "shutdown (CSTS.SHST=complete)");
}

/*
 * reset_lock, noting its owner: nvme_scsi_exec() runs both inside the paths
 * that hold it (reset, remove) and outside them, and must know which.
 */
void nvme_scsi_reset_lock(struct nvme_scsi_ctrl *ctrl)
{
	mutex_lock(&ctrl->reset_lock);
	WRITE_ONCE(ctrl->reset_owner, current);
}

void nvme_scsi_reset_unlock(struct nvme_scsi_ctrl *ctrl)
{
	WRITE_ONCE(ctrl->reset_owner, NULL);
	mutex_unlock(&ctrl->reset_lock);
}

bool nvme_scsi_reset_lock_held(struct nvme_scsi_ctrl *ctrl)
{
	return READ_ONCE(ctrl->reset_owner) == current;
}

/*
 * A driver command was abandoned (@resets: nr_resets when it was): stop the
 * controller before the caller frees the command's buffers. CC is written
 * under reset_lock, or it could land in the middle of a reset (a controller
 * the reset just enabled would be disabled behind its back). A reset that
 * ran meanwhile has disabled the controller after the command was
 * abandoned, which is all that is needed.
 */
void nvme_scsi_disable_after_timeout(struct nvme_scsi_ctrl *ctrl, int resets)
{
	bool held = nvme_scsi_reset_lock_held(ctrl);

	if (!held)
		nvme_scsi_reset_lock(ctrl);
	if (atomic_read(&ctrl->nr_resets) == resets) {
		dev_warn(ctrl->dev, "disabling controller after a command timeout\n");
		nvme_scsi_disable_ctrl(ctrl);
		nvme_scsi_stop_dma(ctrl);
		nvme_scsi_schedule_reset(ctrl, "command timeout");
	}
	if (!held)
		nvme_scsi_reset_unlock(ctrl);
}

/* Nothing will complete any more: fail every outstanding command with DID_NO_CONNECT. */
static void nvme_scsi_fail_outstanding(struct nvme_scsi_ctrl *ctrl)
{
	unsigned int i;

	for (i = 0; i <= ctrl->nr_io_queues; i++)
		nvme_scsi_cancel_queue(&ctrl->queues[i], NVME_SCSI_SC_DEAD);
}

/*
 * Give up on the controller for good (its function is gone, or a command
 * timed out while the device is being removed, as Linux's nvme does in
 * state DELETING): shut it down if it still answers, disable it, fail
 * everything outstanding with DID_NO_CONNECT and take the LUNs offline.
 * Not with reset_lock held (it takes it).
 */
void nvme_scsi_kill_ctrl(struct nvme_scsi_ctrl *ctrl, const char *why)
{
	nvme_scsi_reset_lock(ctrl);
	if (nvme_scsi_state(ctrl) == NVME_SCSI_DEAD ||
	    !nvme_scsi_change_state(ctrl, NVME_SCSI_DEAD)) {
		nvme_scsi_reset_unlock(ctrl);
		return;
	}
	if (READ_ONCE(ctrl->enabled) && pci_device_is_present(ctrl->pdev))
		nvme_scsi_shutdown_ctrl(ctrl);
	nvme_scsi_disable_ctrl(ctrl);
	nvme_scsi_stop_dma(ctrl);
	nvme_scsi_fail_outstanding(ctrl);
	nvme_scsi_reset_unlock(ctrl);
	dev_err(ctrl->dev, "%s: controller marked dead, %u SCSI device(s) offline\n",
		why, nvme_scsi_set_luns_offline(ctrl, true));
}

static void nvme_scsi_reset_work(struct work_struct *work)
{
	struct nvme_scsi_ctrl *ctrl =
		container_of(work, struct nvme_scsi_ctrl, reset_work);

	nvme_scsi_reset_ctrl(ctrl);
}

/*
 * Reset the controller from a work item (failed Abort, command timeout
 * outside SCSI error handling, CSTS.CFS). Only a live controller is reset
 * this way: one that failed a reset stays dead (no reset loop).
 */
void nvme_scsi_schedule_reset(struct nvme_scsi_ctrl *ctrl, const char *why)
{
	if (nvme_scsi_state(ctrl) != NVME_SCSI_LIVE)
		return;
	if (queue_work(system_unbound_wq, &ctrl->reset_work))
		dev_warn(ctrl->dev, "%s: controller reset scheduled\n", why);
}

bool nvme_scsi_ctrl_ready(struct nvme_scsi_ctrl *ctrl)
{
	u32 csts;

	if (nvme_scsi_state(ctrl) != NVME_SCSI_LIVE)
		return false;
	csts = readl(ctrl->bar + NVME_REG_CSTS);
	return csts != ~0U && (csts & NVME_CSTS_RDY) && !(csts & NVME_CSTS_CFS);
}

static int nvme_scsi_check_cap(struct nvme_scsi_ctrl *ctrl)
{
	u64 cap = lo_hi_readq(ctrl->bar + NVME_REG_CAP);
	u32 to;

	if (cap == ~0ULL) {
		dev_err(ctrl->dev, "CAP reads all ones: no controller behind BAR0\n");
		return -ENODEV;
	}
	ctrl->cap = cap;
	ctrl->vs = readl(ctrl->bar + NVME_REG_VS);
	ctrl->db_stride = 4U << NVME_CAP_STRIDE(cap);
	to = NVME_CAP_TIMEOUT(cap) ? NVME_CAP_TIMEOUT(cap) : 1;
	ctrl->ready_timeout = msecs_to_jiffies(to * 500);

	if (!NVME_CAP_MQES(cap)) {
		dev_err(ctrl->dev, "CAP.MQES 0 is invalid (queues need 2 entries)\n");
		return -ENODEV;
	}
	if (!(NVME_CAP_CSS(cap) & NVME_CAP_CSS_NVM)) {
		dev_err(ctrl->dev, "controller lacks the NVM command set (CAP %#llx)\n", cap);
		return -ENODEV;
	}
	if (NVME_CAP_MPSMIN(cap) > NVME_SCSI_PAGE_SHIFT - 12 ||
	    NVME_CAP_MPSMAX(cap) < NVME_SCSI_PAGE_SHIFT - 12) {
		dev_err(ctrl->dev, "controller page sizes 2^%llu..2^%llu exclude 4 KiB\n",
			NVME_CAP_MPSMIN(cap) + 12, NVME_CAP_MPSMAX(cap) + 12);
		return -ENODEV;
	}
	if (ctrl->bar_len < NVME_REG_DBS + 2 * ctrl->db_stride) {
		dev_err(ctrl->dev, "BAR0 too small (%pa) for the admin doorbells\n",
			&ctrl->bar_len);
		return -ENODEV;
	}
	dev_info(ctrl->dev, "NVMe %u.%u controller, CAP %#llx (MQES %llu, TO %u ms, DSTRD %u)\n",
		 NVME_MAJOR(ctrl->vs), NVME_MINOR(ctrl->vs), cap,
		 NVME_CAP_MQES(cap) + 1, to * 500, ctrl->db_stride);
	return 0;
}

/* ---- identify ---------------------------------------------------------- */

static void nvme_scsi_copy_str(char *dst, const char *src, size_t len)
{
	memcpy(dst, src, len);
	dst[len] = '\0';
	strim(dst);
}

/*
 * MDTS in bytes (units of CAP.MPSMIN pages, 0 = no limit). MDTS is a u8:
 * anything at or beyond the most the driver ever maps does not limit it, and
 * must not be used as a shift count.
 */
static u32 nvme_scsi_mdts_bytes(struct nvme_scsi_ctrl *ctrl, u8 mdts)
{
	unsigned int shift = mdts + 12 + NVME_CAP_MPSMIN(ctrl->cap);

	if (!mdts || shift >= ilog2(NVME_SCSI_MAX_XFER))
		return NVME_SCSI_MAX_XFER;
	return 1U << shift;
}

static int nvme_scsi_identify_ctrl(struct nvme_scsi_ctrl *ctrl)
{
	struct nvme_id_ctrl *id;
	u64 max_xfer;
	int ret;

	id = kzalloc(NVME_IDENTIFY_DATA_SIZE, GFP_KERNEL);
	if (!id)
		return -ENOMEM;
	ret = nvme_scsi_identify(ctrl, 0, NVME_ID_CNS_CTRL, id);
	if (ret) {
		dev_err(ctrl->dev, "Identify Controller failed: %d\n", ret);
		kfree(id);
		return ret < 0 ? ret : -EIO;
	}
	ctrl->id = id;
	nvme_scsi_copy_str(ctrl->sn, id->sn, sizeof(id->sn));
	nvme_scsi_copy_str(ctrl->mn, id->mn, sizeof(id->mn));
	nvme_scsi_copy_str(ctrl->fr, id->fr, sizeof(id->fr));
	ctrl->nn = le32_to_cpu(id->nn);
	ctrl->vwc_present = id->vwc & NVME_CTRL_VWC_PRESENT;
	ctrl->oncs = le16_to_cpu(id->oncs);

	max_xfer = min_t(u64, NVME_SCSI_MAX_XFER,
			 max_transfer_size ? max_transfer_size : (u64)max_transfer_kb * 1024);
	max_xfer = min_t(u64, max_xfer, nvme_scsi_mdts_bytes(ctrl, id->mdts));
	ctrl->max_xfer = max_t(u64, round_down(max_xfer, NVME_SCSI_PAGE_SIZE),
			       NVME_SCSI_PAGE_SIZE);

	dev_info(ctrl->dev, "model \"%s\" serial \"%s\" firmware \"%s\", %u namespace(s), MDTS %u (max transfer %u KiB)%s\n",
		 ctrl->mn, ctrl->sn, ctrl->fr, ctrl->nn, id->mdts,
		 ctrl->max_xfer / 1024, ctrl->vwc_present ? ", volatile write cache" : "");
	return 0;
}

/* Current state of the volatile write cache (Get Features 06h). */
static void nvme_scsi_get_vwc(struct nvme_scsi_ctrl *ctrl)
{
	struct nvme_command cmd = { };
	u32 result = 0;
	int ret;

	ctrl->vwc_enabled = false;
	if (!ctrl->vwc_present)
		return;
	cmd.features.opcode = nvme_admin_get_features;
	cmd.features.fid = cpu_to_le32(NVME_FEAT_VOLATILE_WC);
	ret = nvme_scsi_admin_exec(ctrl, &cmd, &result);
	if (ret) {
		/* be safe: with an unknown cache state, keep flushing */
		dev_warn(ctrl->dev, "Get Features (volatile write cache) failed: %d\n", ret);
		ctrl->vwc_enabled = true;
		return;
	}
	ctrl->vwc_enabled = result & 1;
}

/*
 * A reset (or a power loss) puts Write Cache Enable back at the
 * controller's default.  Put back the state the SCSI side reports -- MODE
 * SELECT may have turned the cache off, and sd then sends no SYNCHRONIZE
 * CACHE for writes a re-enabled volatile cache would hold.  If that fails,
 * say the cache is on: flushing for nothing is safe, not flushing is not.
 */
static void nvme_scsi_restore_vwc(struct nvme_scsi_ctrl *ctrl)
{
	struct nvme_command cmd = { };
	int ret;

	if (!ctrl->vwc_present)
		return;
	cmd.features.opcode = nvme_admin_set_features;
	cmd.features.fid = cpu_to_le32(NVME_FEAT_VOLATILE_WC);
	cmd.features.dword11 = cpu_to_le32(READ_ONCE(ctrl->vwc_enabled) ? 1 : 0);
	ret = nvme_scsi_admin_exec(ctrl, &cmd, NULL);
	if (ret && !READ_ONCE(ctrl->vwc_enabled)) {
		dev_warn(ctrl->dev, "after reset: write cache stays enabled (%d); flushing again\n",
			 ret);
		WRITE_ONCE(ctrl->vwc_enabled, true);
	}
}

/* ---- IO queues and vectors --------------------------------------------- */

/*
 * Re-allocate MSI-X vectors for the admin queue (vector 0, no affinity) plus
 * one per IO queue spread over the CPUs. With a single vector the IO queue
 * shares vector 0 with the admin queue.
 */
static int nvme_scsi_setup_vectors(struct nvme_scsi_ctrl *ctrl, unsigned int nr_io)
{
	struct irq_affinity affd = { .pre_vectors = 1 };
	struct nvme_scsi_queue *aq = &ctrl->queues[0];
	int nvec, ret;

	nvme_scsi_queue_free_irq(aq);
	pci_free_irq_vectors(ctrl->pdev);
	ctrl->nr_vectors = 0;

	nvec = pci_alloc_irq_vectors_affinity(ctrl->pdev, 1, nr_io + 1,
					      PCI_IRQ_MSIX | PCI_IRQ_AFFINITY, &affd);
	if (nvec < 0) {
		dev_err(ctrl->dev, "MSI-X vectors for %u IO queue(s) not available: %d\n",
			nr_io, nvec);
		return nvec;
	}
	ctrl->nr_vectors = nvec;
	ctrl->nr_io_queues = nvec > 1 ? nvec - 1 : 1;
	aq->cq_vector = 0;
	ret = nvme_scsi_queue_request_irq(aq);
	if (ret)
		dev_err(ctrl->dev, "admin queue irq: %d\n", ret);
	return ret;
}

static void nvme_scsi_free_io_queues(struct nvme_scsi_ctrl *ctrl)
{
	unsigned int i;

	for (i = ctrl->nr_io_queues; i >= 1; i--) {
		struct nvme_scsi_queue *q = &ctrl->queues[i];

		if (!q->ctrl)
			continue;
		nvme_scsi_queue_free_irq(q);
		nvme_scsi_cancel_queue(q, NVME_SCSI_SC_DEAD);
		nvme_scsi_free_queue(q);
	}
}

static void nvme_scsi_delete_io_queues(struct nvme_scsi_ctrl *ctrl)
{
	unsigned int i;

	for (i = ctrl->nr_io_queues; i >= 1; i--) {
		if (!READ_ONCE(ctrl->enabled))
			break;
		if (ctrl->queues[i].ctrl)
			nvme_scsi_delete_io_queue(&ctrl->queues[i]);
	}
}

static int nvme_scsi_create_io_queues(struct nvme_scsi_ctrl *ctrl)
{
	unsigned int i;
	int ret;

	for (i = 1; i <= ctrl->nr_io_queues; i++) {
		struct nvme_scsi_queue *q = &ctrl->queues[i];

		ret = nvme_scsi_create_io_queue(q);
		if (ret)
			return ret;
	}
	return 0;
}

static int nvme_scsi_setup_io_queues(struct nvme_scsi_ctrl *ctrl,
				     unsigned int wanted)
{
	unsigned int granted = wanted, max_db, i;
	int ret;

	ret = nvme_scsi_set_queue_count(ctrl, &granted);
	if (ret) {
		dev_err(ctrl->dev, "Set Features (number of queues) failed: %d\n", ret);
		return ret < 0 ? ret : -EIO;
	}
	/* doorbells of queue n sit at 0x1000 + (2n, 2n+1) * stride */
	max_db = (ctrl->bar_len - NVME_REG_DBS) / (2 * ctrl->db_stride) - 1;
	granted = min3(granted, wanted, max_db);
	if (!granted) {
		dev_err(ctrl->dev, "controller grants no IO queue\n");
		return -ENODEV;
	}

	ret = nvme_scsi_setup_vectors(ctrl, granted);
	if (ret)
		return ret;

	/*
	 * CAP.MQES is 0's based and at least 1, so a queue has 2 entries or
	 * more. One slot stays empty; of the rest, up to NVME_SCSI_PT_CIDS
	 * (at most half) are kept for driver commands, the others are blk-mq
	 * tags. With fewer kept back the driver commands share the slots.
	 */
	ctrl->io_depth = min3(io_queue_size, (u32)NVME_CAP_MQES(ctrl->cap) + 1,
			      NVME_SCSI_MAX_CIDS);	/* CIDs carry a generation */
	ctrl->io_tags = ctrl->io_depth - 1 -
		min_t(u16, NVME_SCSI_PT_CIDS, (ctrl->io_depth - 1) / 2);

	for (i = 1; i <= ctrl->nr_io_queues; i++) {
		struct nvme_scsi_queue *q = &ctrl->queues[i];

		ret = nvme_scsi_alloc_queue(ctrl, i, ctrl->io_depth, ctrl->io_tags);
		if (ret)
			return ret;
		q->cq_vector = ctrl->nr_vectors > 1 ? i : 0;
		ret = nvme_scsi_queue_request_irq(q);
		if (ret) {
			dev_err(ctrl->dev, "IO queue %u irq: %d\n", i, ret);
			return ret;
		}
	}
	ret = nvme_scsi_create_io_queues(ctrl);
	if (ret)
		return ret;
	dev_info(ctrl->dev, "%u IO queue(s) of depth %u (%u tags%s), %u MSI-X vector(s)\n",
		 ctrl->nr_io_queues, ctrl->io_depth, ctrl->io_tags,
		 ctrl->queues[1].shared_slots ? ", slots shared with driver commands" : "",
		 ctrl->nr_vectors);
	return 0;
}

/* ---- reset ------------------------------------------------------------- */

/*
 * Full controller reset (SCSI host reset). Only called by SCSI error
 * handling, when every outstanding SCSI command belongs to it: cancelled
 * commands are handed back to the midlayer, which ignores the completion of
 * a timed-out command and retries it after a successful reset.
 */
int nvme_scsi_reset_ctrl(struct nvme_scsi_ctrl *ctrl)
{
	unsigned int i, granted;
	bool was_dead;
	int ret;

	nvme_scsi_reset_lock(ctrl);
	was_dead = nvme_scsi_state(ctrl) == NVME_SCSI_DEAD;
	if (!nvme_scsi_change_state(ctrl, NVME_SCSI_RESETTING)) {
		nvme_scsi_reset_unlock(ctrl);
		return -EBUSY;
	}
	dev_warn(ctrl->dev, "resetting controller\n");
	atomic_inc(&ctrl->nr_resets);

	/* a controller that will not stop may still DMA: do not reuse queues */
	ret = nvme_scsi_disable_ctrl(ctrl);
	nvme_scsi_stop_dma(ctrl);
	if (ret)
		goto dead;
	for (i = 0; i <= ctrl->nr_io_queues; i++) {
		struct nvme_scsi_queue *q = &ctrl->queues[i];

		q->created = false;
		nvme_scsi_cancel_queue(q, NVME_SCSI_SC_CANCELLED);
		nvme_scsi_init_queue_state(q);
	}

	ret = nvme_scsi_enable_ctrl(ctrl);
	if (ret)
		goto dead;
	granted = ctrl->nr_io_queues;
	ret = nvme_scsi_set_queue_count(ctrl, &granted);
	if (ret || granted < ctrl->nr_io_queues) {
		dev_err(ctrl->dev, "after reset: %d, %u of %u IO queues granted\n",
			ret, granted, ctrl->nr_io_queues);
		goto dead;
	}
	ret = nvme_scsi_create_io_queues(ctrl);
	if (ret)
		goto dead;
	nvme_scsi_restore_vwc(ctrl);
	nvme_scsi_setup_aen(ctrl);
	nvme_scsi_change_state(ctrl, NVME_SCSI_LIVE);
	nvme_scsi_reset_unlock(ctrl);
	if (was_dead)
		dev_info(ctrl->dev, "controller reset complete, %u SCSI device(s) back online\n",
			 nvme_scsi_set_luns_offline(ctrl, false));
	else
		dev_info(ctrl->dev, "controller reset complete\n");
	return 0;

dead:
	/*
	 * Give up: nothing outstanding will complete, fail it all now with
	 * DID_NO_CONNECT. The LUNs go offline, so the midlayer fails later
	 * IO before it reaches us; the RESET ioctl may try once more.
	 */
	nvme_scsi_change_state(ctrl, NVME_SCSI_DEAD);
	nvme_scsi_disable_ctrl(ctrl);
	nvme_scsi_stop_dma(ctrl);
	nvme_scsi_fail_outstanding(ctrl);
	nvme_scsi_reset_unlock(ctrl);
	dev_err(ctrl->dev, "reset failed (%d): controller marked dead, %u SCSI device(s) offline\n",
		ret, nvme_scsi_set_luns_offline(ctrl, true));
	return ret < 0 ? ret : -EIO;
}

/* ---- probe / remove ---------------------------------------------------- */

/*
 * Stop the controller and release everything queue related: delete IO
 * queues (if the controller still answers), shut down or just disable,
 * then free IRQs and queue memory. Used by remove() and by a failed probe.
 */
static void nvme_scsi_teardown_queues(struct nvme_scsi_ctrl *ctrl, bool shutdown)
{
	if (READ_ONCE(ctrl->enabled)) {
		nvme_scsi_delete_io_queues(ctrl);
		if (shutdown)
			nvme_scsi_shutdown_ctrl(ctrl);
	}
	nvme_scsi_disable_ctrl(ctrl);
	nvme_scsi_stop_dma(ctrl);
	nvme_scsi_free_io_queues(ctrl);
	nvme_scsi_queue_free_irq(&ctrl->queues[0]);
	nvme_scsi_cancel_queue(&ctrl->queues[0], NVME_SCSI_SC_DEAD);
	nvme_scsi_free_queue(&ctrl->queues[0]);
}

static unsigned int nvme_scsi_wanted_io_queues(void)
{
	unsigned int n = io_queues;

	if (!n)
		n = strcmp(io_queue_mode, "numa") ? num_possible_cpus() :
			num_possible_nodes();

	return clamp_t(unsigned int, n, 1, NVME_SCSI_MAX_IO_QUEUES);
}

static int nvme_scsi_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	unsigned int wanted = nvme_scsi_wanted_io_queues();
	struct nvme_scsi_ctrl *ctrl;
	struct Scsi_Host *shost;
	int ret;

	shost = scsi_host_alloc(&nvme_scsi_sht, sizeof(*ctrl));
	if (!shost)
		return -ENOMEM;
	ctrl = shost_to_ctrl(shost);
	ctrl->shost = shost;
	ctrl->pdev = pdev;
	ctrl->dev = &pdev->dev;
	ctrl->state = NVME_SCSI_NEW;
	spin_lock_init(&ctrl->state_lock);
	mutex_init(&ctrl->reset_lock);
	spin_lock_init(&ctrl->admin_lock);
	init_waitqueue_head(&ctrl->admin_wait);
	mutex_init(&ctrl->ns_lock);
	mutex_init(&ctrl->scan_lock);
	INIT_WORK(&ctrl->reset_work, nvme_scsi_reset_work);
	INIT_WORK(&ctrl->async_work, nvme_scsi_async_work);
	init_rwsem(&ctrl->pt_rwsem);
	init_rwsem(&ctrl->format_rwsem);
	ctrl->instance = -1;
	ctrl->nr_luns = max_luns;
	pci_set_drvdata(pdev, ctrl);

	ret = pci_enable_device_mem(pdev);
	if (ret)
		goto err_put_host;
	pci_set_master(pdev);
	ret = dma_set_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(64));
	if (ret) {
		dev_err(&pdev->dev, "no usable DMA mask\n");
		goto err_disable_dev;
	}
	ret = pci_request_mem_regions(pdev, NVME_SCSI_NAME);
	if (ret)
		goto err_disable_dev;
	ctrl->bar_len = pci_resource_len(pdev, 0);
	ctrl->bar = pci_ioremap_bar(pdev, 0);
	if (!ctrl->bar) {
		ret = -ENOMEM;
		goto err_release;
	}
	ret = nvme_scsi_check_cap(ctrl);
	if (ret)
		goto err_unmap;
	ctrl->ctrl_config = readl(ctrl->bar + NVME_REG_CC);

	ret = pci_alloc_irq_vectors(pdev, 1, 1, PCI_IRQ_MSIX);
	if (ret < 0) {
		dev_err(&pdev->dev, "MSI-X is required but not available (%d); not binding\n",
			ret);
		goto err_unmap;
	}
	ctrl->nr_vectors = ret;

	ctrl->prp_pool = dma_pool_create("nvme_scsi_prp", &pdev->dev,
					 NVME_SCSI_PAGE_SIZE, NVME_SCSI_PAGE_SIZE, 0);
	if (!ctrl->prp_pool) {
		ret = -ENOMEM;
		goto err_vectors;
	}
	ctrl->queues = kcalloc(wanted + 1, sizeof(*ctrl->queues), GFP_KERNEL);
	if (!ctrl->queues) {
		ret = -ENOMEM;
		goto err_pool;
	}
	/* CAP.MQES limits IO queues only (as Linux's nvme, AQA is ours) */
	ctrl->admin_depth = admin_queue_size;
	ctrl->nr_admin_cids = min_t(u32, ctrl->admin_depth - 1, BITS_PER_LONG);
	ret = nvme_scsi_alloc_queue(ctrl, 0, ctrl->admin_depth, 0);
	if (ret)
		goto err_queues;

	/* bring-up: disable, program the admin queue, enable */
	ret = nvme_scsi_disable_ctrl(ctrl);
	if (ret)
		goto err_teardown;
	ret = nvme_scsi_queue_request_irq(&ctrl->queues[0]);
	if (ret)
		goto err_teardown;
	ret = nvme_scsi_enable_ctrl(ctrl);
	if (ret)
		goto err_teardown;

	ret = nvme_scsi_identify_ctrl(ctrl);
	if (ret)
		goto err_teardown;
	nvme_scsi_get_vwc(ctrl);
	ret = nvme_scsi_setup_io_queues(ctrl, wanted);
	if (ret)
		goto err_teardown;
	ret = nvme_scsi_scan_namespaces(ctrl);
	if (ret)
		goto err_ns;

	nvme_scsi_setup_host(ctrl);
	ret = scsi_add_host(shost, &pdev->dev);
	if (ret)
		goto err_ns;
	nvme_scsi_change_state(ctrl, NVME_SCSI_LIVE);
	/*
	 * Namespaces are disks. Where no udev loads sd on demand (busybox
	 * modprobe ignores the softdep below), ask for it; sd binds to the
	 * LUNs whenever it arrives.
	 */
	if (IS_MODULE(CONFIG_BLK_DEV_SD))
		request_module_nowait("sd_mod");
	scsi_scan_host(shost);
	nvme_scsi_sync_luns(ctrl);
	ret = nvme_scsi_chrdev_add(ctrl);
	if (ret)
		dev_warn(ctrl->dev, "no passthrough char device: %d\n", ret);
	nvme_scsi_setup_aen(ctrl);
	return 0;

err_ns:
	nvme_scsi_free_namespaces(ctrl);
err_teardown:
	nvme_scsi_teardown_queues(ctrl, false);
	kfree(ctrl->id);
	ctrl->id = NULL;
err_queues:
	kfree(ctrl->queues);
	ctrl->queues = NULL;
err_pool:
	dma_pool_destroy(ctrl->prp_pool);
err_vectors:
	pci_free_irq_vectors(pdev);
err_unmap:
	iounmap(ctrl->bar);
err_release:
	pci_release_mem_regions(pdev);
err_disable_dev:
	pci_disable_device(pdev);
err_put_host:
	pci_set_drvdata(pdev, NULL);
	scsi_host_put(shost);
	return ret;
}

static void nvme_scsi_remove(struct pci_dev *pdev)
{
	struct nvme_scsi_ctrl *ctrl = pci_get_drvdata(pdev);
	struct Scsi_Host *shost = ctrl->shost;

	/* from here on a command timeout ends it all (no abort, no reset) */
	WRITE_ONCE(ctrl->removing, true);
	nvme_scsi_chrdev_del(ctrl);
	/* no event work from here on (an AER completion queues none) */
	WRITE_ONCE(ctrl->aen_stop, true);
	cancel_work_sync(&ctrl->async_work);
	if (!pci_device_is_present(pdev)) {
		/* surprise removal: nothing will complete, fail it all now */
		nvme_scsi_change_state(ctrl, NVME_SCSI_DEAD);
		WRITE_ONCE(ctrl->enabled, false);
		nvme_scsi_stop_dma(ctrl);
		nvme_scsi_fail_outstanding(ctrl);
	}
	/* the controller stays live here so sd can flush its cache */
	scsi_remove_host(shost);

	nvme_scsi_reset_lock(ctrl);
	nvme_scsi_change_state(ctrl, NVME_SCSI_DELETING);
	nvme_scsi_teardown_queues(ctrl, true);
	nvme_scsi_reset_unlock(ctrl);
	cancel_work_sync(&ctrl->reset_work);
	/*
	 * An AER that completed (or failed) just as aen_stop was set may have
	 * queued event work after the cancel above; its interrupt is gone now.
	 */
	cancel_work_sync(&ctrl->async_work);

	nvme_scsi_free_namespaces(ctrl);
	kfree(ctrl->id);
	kfree(ctrl->queues);
	dma_pool_destroy(ctrl->prp_pool);
	pci_free_irq_vectors(pdev);
	iounmap(ctrl->bar);
	pci_release_mem_regions(pdev);
	pci_disable_device(pdev);
	pci_set_drvdata(pdev, NULL);
	scsi_host_put(shost);
}

/* System power-off/reboot: tell the controller, leave the rest to the OS. */
static void nvme_scsi_pci_shutdown(struct pci_dev *pdev)
{
	struct nvme_scsi_ctrl *ctrl = pci_get_drvdata(pdev);

	if (!ctrl)
		return;
	nvme_scsi_reset_lock(ctrl);
	nvme_scsi_change_state(ctrl, NVME_SCSI_DEAD);
	if (READ_ONCE(ctrl->enabled)) {
		nvme_scsi_shutdown_ctrl(ctrl);
		nvme_scsi_disable_ctrl(ctrl);
	}
	nvme_scsi_reset_unlock(ctrl);
}

static const struct pci_device_id nvme_scsi_ids[] = {
	{ PCI_DEVICE_CLASS(PCI_CLASS_STORAGE_EXPRESS, 0xffffff) },
	{ }
};
MODULE_DEVICE_TABLE(pci, nvme_scsi_ids);

static struct pci_driver nvme_scsi_pci_driver = {
	.name		= NVME_SCSI_NAME,
	.id_table	= nvme_scsi_ids,
	.probe		= nvme_scsi_probe,
	.remove		= nvme_scsi_remove,
	.shutdown	= nvme_scsi_pci_shutdown,
};

/* A bad module parameter fails the load, saying which and why. */
static int __init nvme_scsi_check_params(void)
{
	unsigned int i, j;

	if (io_queue_size < NVME_SCSI_MIN_IO_DEPTH || io_queue_size > 4096) {
		pr_err(NVME_SCSI_NAME ": io_queue_size=%u: must be %u-4096\n",
		       io_queue_size, NVME_SCSI_MIN_IO_DEPTH);
		return -EINVAL;
	}
	if (admin_queue_size < 4 || admin_queue_size > 4096) {
		pr_err(NVME_SCSI_NAME ": admin_queue_size=%u: must be 4-4096\n",
		       admin_queue_size);
		return -EINVAL;
	}
	if (strcmp(io_queue_mode, "cpu") && strcmp(io_queue_mode, "numa")) {
		pr_err(NVME_SCSI_NAME ": io_queue_mode=%s: must be \"cpu\" or \"numa\"\n",
		       io_queue_mode);
		return -EINVAL;
	}
	if (max_transfer_size && (max_transfer_size % NVME_SCSI_PAGE_SIZE ||
				  max_transfer_size > NVME_SCSI_MAX_XFER)) {
		pr_err(NVME_SCSI_NAME ": max_transfer_size=%u: must be a multiple of %u up to %u\n",
		       max_transfer_size, NVME_SCSI_PAGE_SIZE, NVME_SCSI_MAX_XFER);
		return -EINVAL;
	}
	if (!max_luns || max_luns > NVME_SCSI_MAX_LUNS) {
		pr_err(NVME_SCSI_NAME ": max_luns=%u: must be 1-%u\n", max_luns,
		       NVME_SCSI_MAX_LUNS);
		return -EINVAL;
	}
	for (i = 0; i < nr_namespaces; i++) {
		if (!namespaces[i] || namespaces[i] > max_luns) {
			pr_err(NVME_SCSI_NAME ": namespaces: NSID %u is not 1-%u (max_luns)\n",
			       namespaces[i], max_luns);
			return -EINVAL;
		}
		for (j = 0; j < i; j++) {
			if (namespaces[j] == namespaces[i]) {
				pr_err(NVME_SCSI_NAME ": namespaces: NSID %u listed twice\n",
				       namespaces[i]);
				return -EINVAL;
			}
		}
	}
	if (io_queues > NVME_SCSI_MAX_IO_QUEUES) {
		pr_err(NVME_SCSI_NAME ": io_queues=%u: at most %u\n", io_queues,
		       NVME_SCSI_MAX_IO_QUEUES);
		return -EINVAL;
	}
	if (max_transfer_kb < NVME_SCSI_PAGE_SIZE / 1024 ||
	    max_transfer_kb > NVME_SCSI_MAX_XFER / 1024) {
		pr_err(NVME_SCSI_NAME ": max_transfer_kb=%u: must be %u-%u\n",
		       max_transfer_kb, NVME_SCSI_PAGE_SIZE / 1024,
		       NVME_SCSI_MAX_XFER / 1024);
		return -EINVAL;
	}
	if (!nvme_scsi_io_timeout || nvme_scsi_io_timeout > 3600) {
		pr_err(NVME_SCSI_NAME ": io_timeout=%u: must be 1-3600 seconds\n",
		       nvme_scsi_io_timeout);
		return -EINVAL;
	}
	if (!nvme_scsi_admin_timeout || nvme_scsi_admin_timeout > 3600) {
		pr_err(NVME_SCSI_NAME ": admin_timeout=%u: must be 1-3600 seconds\n",
		       nvme_scsi_admin_timeout);
		return -EINVAL;
	}
	return 0;
}

static int __init nvme_scsi_init(void)
{
	int ret;

	BUILD_BUG_ON(sizeof(struct nvme_command) != 64);
	BUILD_BUG_ON(sizeof(struct nvme_completion) != 16);
	BUILD_BUG_ON(NVME_SCSI_PT_CIDS > BITS_PER_LONG);

	ret = nvme_scsi_check_params();
	if (ret)
		return ret;
	ret = nvme_scsi_chrdev_init();
	if (ret)
		return ret;
	ret = pci_register_driver(&nvme_scsi_pci_driver);
	if (ret)
		nvme_scsi_chrdev_exit();
	return ret;
}

static void __exit nvme_scsi_exit(void)
{
	pci_unregister_driver(&nvme_scsi_pci_driver);
	nvme_scsi_chrdev_exit();
}

module_init(nvme_scsi_init);
module_exit(nvme_scsi_exit);

MODULE_DESCRIPTION("NVMe 1.0e PCI controller as a SCSI host (NSID n = LUN n-1)");
MODULE_LICENSE("GPL");
MODULE_VERSION("0.1");
/* namespaces are disks: have sd loaded where no udev would load it on demand */
MODULE_SOFTDEP("pre: sd_mod");
