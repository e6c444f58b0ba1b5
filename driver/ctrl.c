// SPDX-License-Identifier: GPL-2.0
/*
 * The controller: its state, registers (enable, disable and shutdown, all
 * bounded by CAP.TO or shutdown_timeout), Identify Controller, MSI-X
 * vectors and IO queues, and the one bring-up that probe and every reset
 * run.
 */
#include <linux/kernel.h>
#include <linux/pci.h>
#include <linux/interrupt.h>
#include <linux/delay.h>
#include <linux/slab.h>
#include <linux/sched/signal.h>
#include <linux/workqueue.h>
#include <linux/io-64-nonatomic-lo-hi.h>

#include "nvme_scsi.h"

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
		/* NEW: the first bring-up runs as a reset does */
		ok = old == NVME_SCSI_NEW || old == NVME_SCSI_LIVE || old == NVME_SCSI_DEAD;
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

int nvme_scsi_disable_ctrl(struct nvme_scsi_ctrl *ctrl)
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
void nvme_scsi_stop_dma(struct nvme_scsi_ctrl *ctrl)
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

void nvme_scsi_shutdown_ctrl(struct nvme_scsi_ctrl *ctrl)
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
void nvme_scsi_fail_outstanding(struct nvme_scsi_ctrl *ctrl)
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

void nvme_scsi_reset_work(struct work_struct *work)
{
	struct nvme_scsi_ctrl *ctrl =
		container_of(work, struct nvme_scsi_ctrl, reset_work);

	ctrl->reset_result = nvme_scsi_reset_ctrl(ctrl);
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
	if (queue_work(nvme_scsi_reset_wq, &ctrl->reset_work))
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

int nvme_scsi_check_cap(struct nvme_scsi_ctrl *ctrl)
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

/*
 * Identify Controller, at every bring-up: a reset may follow a firmware
 * activation, and the new firmware may say different things. A changed
 * firmware revision is announced to every LUN with unit attentions.
 */
static int nvme_scsi_identify_ctrl(struct nvme_scsi_ctrl *ctrl)
{
	struct nvme_id_ctrl *id;
	char fr[sizeof(ctrl->fr)];
	u32 max_xfer, old_max = ctrl->max_xfer;
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
	kfree(ctrl->id);
	ctrl->id = id;
	nvme_scsi_copy_str(ctrl->sn, id->sn, sizeof(id->sn));
	nvme_scsi_copy_str(ctrl->mn, id->mn, sizeof(id->mn));
	nvme_scsi_copy_str(fr, id->fr, sizeof(id->fr));
	ctrl->nn = le32_to_cpu(id->nn);
	ctrl->vwc_present = id->vwc & NVME_CTRL_VWC_PRESENT;
	ctrl->oncs = le16_to_cpu(id->oncs);
	ctrl->oacs = le16_to_cpu(id->oacs);

	max_xfer = min(NVME_SCSI_MAX_XFER, nvme_scsi_max_xfer_param());
	max_xfer = min(max_xfer, nvme_scsi_mdts_bytes(ctrl, id->mdts));
	ctrl->max_xfer = max_t(u32, round_down(max_xfer, NVME_SCSI_PAGE_SIZE),
			       NVME_SCSI_PAGE_SIZE);

	if (!ctrl->started) {
		strscpy(ctrl->fr, fr, sizeof(ctrl->fr));
		dev_info(ctrl->dev, "model \"%s\" serial \"%s\" firmware \"%s\", %u namespace(s), MDTS %u (max transfer %u KiB)%s\n",
			 ctrl->mn, ctrl->sn, ctrl->fr, ctrl->nn, id->mdts,
			 ctrl->max_xfer / 1024,
			 ctrl->vwc_present ? ", volatile write cache" : "");
		return 0;
	}
	if (strcmp(fr, ctrl->fr)) {
		dev_info(ctrl->dev, "firmware revision \"%s\" -> \"%s\"\n", ctrl->fr, fr);
		strscpy(ctrl->fr, fr, sizeof(ctrl->fr));
		nvme_scsi_unit_attention(ctrl, -1, NVME_SCSI_UA_MICROCODE_CHANGED);
		nvme_scsi_unit_attention(ctrl, -1, NVME_SCSI_UA_INQUIRY_CHANGED);
	}
	/* the SCSI host keeps its limits: larger transfers are refused */
	if (ctrl->max_xfer < old_max)
		dev_warn(ctrl->dev, "MDTS now allows %u KiB (was %u KiB): larger transfers fail\n",
			 ctrl->max_xfer / 1024, old_max / 1024);
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
 * Interrupt coalescing (Set Features 08h) when irq_coalesce_time asks for
 * it: an interrupt per irq_coalesce_thr completions, or once the first has
 * waited that long, so fewer interrupts at depth and a wait at depth 1.  A
 * reset puts the feature back at the controller's default (off), so every
 * bring-up sets it again.  A controller that refuses it (QEMU's nvme: not
 * changeable) runs without; one that does not answer fails the bring-up.
 */
static int nvme_scsi_set_irq_coalescing(struct nvme_scsi_ctrl *ctrl)
{
	struct nvme_command cmd = { };
	int ret;

	if (!nvme_scsi_irq_coalesce_time)
		return 0;
	cmd.features.opcode = nvme_admin_set_features;
	cmd.features.fid = cpu_to_le32(NVME_FEAT_IRQ_COALESCE);
	cmd.features.dword11 = cpu_to_le32(nvme_scsi_irq_coalesce_time << 8 |
					   (nvme_scsi_irq_coalesce_thr - 1));
	ret = nvme_scsi_admin_exec(ctrl, &cmd, NULL);
	if (ret > 0)
		dev_warn(ctrl->dev, "interrupt coalescing not set: status %#x\n", ret);
	return ret < 0 ? ret : 0;
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

/*
 * IO queues: allocated at the first bring-up, as many as the controller
 * grants of those asked for (at most one per MSI-X vector); created again
 * at every later one. The SCSI host's hardware queues are fixed once it is
 * added, so a controller that grants fewer after a reset cannot be driven.
 */
static int nvme_scsi_setup_io_queues(struct nvme_scsi_ctrl *ctrl)
{
	unsigned int wanted, granted, max_db, i;
	int ret;

	wanted = ctrl->started ? ctrl->nr_io_queues : nvme_scsi_wanted_io_queues();
	granted = wanted;
	ret = nvme_scsi_set_queue_count(ctrl, &granted);
	if (ret) {
		dev_err(ctrl->dev, "Set Features (number of queues) failed: %d\n", ret);
		return ret < 0 ? ret : -EIO;
	}
	/* doorbells of queue n sit at 0x1000 + (2n, 2n+1) * stride */
	max_db = (ctrl->bar_len - NVME_REG_DBS) / (2 * ctrl->db_stride) - 1;
	granted = min3(granted, wanted, max_db);
	if (ctrl->started) {
		if (granted < wanted) {
			dev_err(ctrl->dev, "controller grants %u of %u IO queues, the SCSI host needs all\n",
				granted, wanted);
			return -ENODEV;
		}
		return nvme_scsi_create_io_queues(ctrl);
	}
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
	ctrl->io_depth = min3(nvme_scsi_io_queue_size, (u32)NVME_CAP_MQES(ctrl->cap) + 1,
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

/* ---- bring-up and reset ------------------------------------------------ */

/*
 * Bring the controller up: at probe and after every reset, the same steps
 * (the shape of Linux's nvme_reset_work). Disable it and take back what it
 * owned, enable it with the admin queue, Identify Controller, IO queues,
 * write cache, events and namespaces. Caller holds reset_lock.
 */
static int nvme_scsi_bring_up(struct nvme_scsi_ctrl *ctrl)
{
	unsigned int i;
	int ret;

	/* a controller that will not stop may still DMA: do not reuse queues */
	ret = nvme_scsi_disable_ctrl(ctrl);
	nvme_scsi_stop_dma(ctrl);
	if (ret)
		return ret;
	for (i = 0; i <= ctrl->nr_io_queues; i++) {
		struct nvme_scsi_queue *q = &ctrl->queues[i];

		if (!q->ctrl)
			continue;
		q->created = false;
		nvme_scsi_cancel_queue(q, NVME_SCSI_SC_CANCELLED);
		nvme_scsi_init_queue_state(q);
	}
	ret = nvme_scsi_enable_ctrl(ctrl);
	if (ret)
		return ret;
	ret = nvme_scsi_identify_ctrl(ctrl);
	if (ret)
		return ret;
	ret = nvme_scsi_setup_io_queues(ctrl);
	if (ret)
		return ret;
	ret = nvme_scsi_set_irq_coalescing(ctrl);
	if (ret)
		return ret;
	if (ctrl->started)
		nvme_scsi_restore_vwc(ctrl);
	else
		nvme_scsi_get_vwc(ctrl);
	nvme_scsi_setup_aen(ctrl);
	ret = nvme_scsi_scan_namespaces(ctrl, false);
	/*
	 * A command above that timed out was abandoned and the controller
	 * disabled (nvme_scsi_disable_after_timeout): the bring-up failed,
	 * whatever the step returned. Its reset request is void while this
	 * one runs, so nothing else would ever enable the controller again.
	 */
	if (!READ_ONCE(ctrl->enabled))
		return -ETIMEDOUT;
	/* the LUNs keep what they had; the rescan after the reset tries again */
	if (ret && ctrl->started) {
		dev_warn(ctrl->dev, "namespace scan after reset failed (%d): LUN table kept\n",
			 ret);
		ret = 0;
	}
	return ret;
}

/*
 * Controller reset, and the first bring-up (probe runs it from the reset
 * work too). Called from SCSI error handling (host reset), the reset work
 * (failed Abort, command timeout, CSTS.CFS), sysfs host_reset and the
 * RESET ioctl, so with or without SCSI commands outstanding: cancelled ones
 * end with DID_RESET and the midlayer retries them after the reset.
 * Afterwards the namespace rescan work adds, removes and revalidates LUNs.
 */
int nvme_scsi_reset_ctrl(struct nvme_scsi_ctrl *ctrl)
{
	enum nvme_scsi_state old;
	int ret;

	nvme_scsi_reset_lock(ctrl);
	old = nvme_scsi_state(ctrl);
	if (!nvme_scsi_change_state(ctrl, NVME_SCSI_RESETTING)) {
		nvme_scsi_reset_unlock(ctrl);
		return -EBUSY;
	}
	if (ctrl->started) {
		dev_warn(ctrl->dev, "resetting controller\n");
		atomic_inc(&ctrl->nr_resets);
	}
	ret = nvme_scsi_bring_up(ctrl);
	if (ret)
		goto dead;
	nvme_scsi_change_state(ctrl, NVME_SCSI_LIVE);
	if (!ctrl->started) {
		ctrl->started = true;
		nvme_scsi_reset_unlock(ctrl);
		return 0;
	}
	nvme_scsi_reset_unlock(ctrl);
	if (old == NVME_SCSI_DEAD)
		dev_info(ctrl->dev, "controller reset complete, %u SCSI device(s) back online\n",
			 nvme_scsi_set_luns_offline(ctrl, false));
	else
		dev_info(ctrl->dev, "controller reset complete\n");
	nvme_scsi_schedule_rescan(ctrl);
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
	if (!ctrl->started)
		dev_err(ctrl->dev, "controller bring-up failed: %d\n", ret);
	else
		dev_err(ctrl->dev, "reset failed (%d): controller marked dead, %u SCSI device(s) offline\n",
			ret, nvme_scsi_set_luns_offline(ctrl, true));
	return ret < 0 ? ret : -EIO;
}

/* ---- teardown ---------------------------------------------------------- */

/*
 * Stop the controller and release everything queue related: delete IO
 * queues (if the controller still answers), shut down or just disable,
 * then free IRQs and queue memory. Used by remove() and by a failed probe.
 */
void nvme_scsi_teardown_queues(struct nvme_scsi_ctrl *ctrl, bool shutdown)
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
