// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cosim-nvme core: controller lifecycle, register file, enable/disable,
 * namespaces.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* CAP.MPSMIN = 0 (4 KiB), CAP.MPSMAX = 4 (64 KiB) */
#define NVME_MPSMAX		4

void nvme_ctrl_params_default(struct nvme_ctrl_params *p)
{
	memset(p, 0, sizeof(*p));
	p->vid = 0x1d1d;
	p->ssvid = 0x1d1d;
	snprintf(p->serial, sizeof(p->serial), "COSIM0001");
	snprintf(p->model, sizeof(p->model), "cosim-nvme NVMe 1.0e model");
	snprintf(p->firmware, sizeof(p->firmware), "cosim-1");
	p->mdts = 5;
	p->max_ioqpairs = 8;
	p->mqes = 1023;
	p->dstrd = 0;
	p->nn = 32;
	p->nr_vectors = 9;
	p->aerl = 3;
	p->acl = 3;
	p->timeout = 20;
	p->fw_slots = 2;
	p->vs = NVME_VS_1_0;
	p->ready_delay_ms = 0;
	p->ledger = false;
}

const char *nvme_ctrl_params_check(const struct nvme_ctrl_params *p)
{
	if (p->mdts > 10)
		return "mdts must be 0 (no limit) or 1..10";
	if (p->max_ioqpairs < 1 || p->max_ioqpairs > 1024)
		return "max-ioqpairs must be 1..1024";
	if (p->mqes < 1)
		return "mqes must be 1..65535";
	if (p->dstrd > 8)
		return "dstrd must be 0..8";
	if (p->nn < 1 || p->nn > 1024)
		return "nn must be 1..1024";
	if (p->nr_vectors < 1 || p->nr_vectors > 2048)
		return "vector count must be 1..2048";
	if (p->aerl > 15)
		return "aerl must be 0..15";
	if (!p->timeout)
		return "timeout must be 1..255";
	if (p->fw_slots < 1 || p->fw_slots > 7)
		return "fw-slots must be 1..7";
	if (p->vs != NVME_VS_1_0 && p->vs != NVME_VS_1_1 && p->vs != NVME_VS_1_2)
		return "vs must be 0x10000, 0x10100 or 0x10200 (NVMe 1.0, 1.1, 1.2)";
	if (p->ready_delay_ms > p->timeout * 500u)
		return "ready-delay-ms must be within CAP.TO (cap-to * 500 ms)";
	if (p->ams > 1)
		return "ams must be 0 (round robin) or 1 (weighted round robin with urgent class)";
	return NULL;
}

uint64_t nvme_ctrl_bar_size(const struct nvme_ctrl_params *p)
{
	uint64_t need = NVME_REG_DBS + (uint64_t)(p->max_ioqpairs + 1) * 2 * (4u << p->dstrd);
	uint64_t size = 8192;	/* Linux maps DBS + 4 KiB before it knows more */

	while (size < need)
		size <<= 1;
	return size;
}

void nvme_guest_error(struct nvme_ctrl *ctrl, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	if (!ctrl->ops->guest_error)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ctrl->ops->guest_error(ctrl->opaque, msg);
}

/* Guest misprogramming the controller cannot recover from: CSTS.CFS. */
void nvme_fatal(struct nvme_ctrl *ctrl, const char *why)
{
	nvme_guest_error(ctrl, "controller fatal status: %s", why);
	ctrl->csts |= NVME_CSTS_CFS;
}

struct nvme_ns *nvme_ns_get(struct nvme_ctrl *ctrl, uint32_t nsid)
{
	if (nsid < 1 || nsid > ctrl->p.nn)
		return NULL;
	return ctrl->ns[nsid];
}

static uint64_t nvme_cap_value(const struct nvme_ctrl_params *p)
{
	return (uint64_t)p->mqes << NVME_CAP_MQES_SHIFT |
	       NVME_CAP_CQR |
	       (p->ams ? NVME_CAP_AMS_WRR : 0) |
	       (uint64_t)p->timeout << NVME_CAP_TO_SHIFT |
	       (uint64_t)p->dstrd << NVME_CAP_DSTRD_SHIFT |
	       NVME_CAP_CSS_NVM |
	       0ull << NVME_CAP_MPSMIN_SHIFT |
	       (uint64_t)NVME_MPSMAX << NVME_CAP_MPSMAX_SHIFT;
}

struct nvme_ctrl *nvme_ctrl_new(const struct nvme_ctrl_params *p,
				const struct nvme_host_ops *ops, void *opaque)
{
	struct nvme_ctrl *ctrl;

	if (nvme_ctrl_params_check(p))
		return NULL;
	ctrl = calloc(1, sizeof(*ctrl));
	if (!ctrl)
		return NULL;
	ctrl->ops = ops;
	ctrl->opaque = opaque;
	ctrl->p = *p;
	ctrl->p.serial[sizeof(p->serial) - 1] = '\0';
	ctrl->p.model[sizeof(p->model) - 1] = '\0';
	ctrl->p.firmware[sizeof(p->firmware) - 1] = '\0';
	ctrl->cap = nvme_cap_value(p);
	ctrl->nqueues = p->max_ioqpairs + 1u;
	ctrl->sq = calloc(ctrl->nqueues, sizeof(*ctrl->sq));
	ctrl->cq = calloc(ctrl->nqueues, sizeof(*ctrl->cq));
	ctrl->ns = calloc(p->nn + 1u, sizeof(*ctrl->ns));
	ctrl->ns_changed = calloc(p->nn / 8 + 1u, 1);
	ctrl->q_submitted = calloc(ctrl->nqueues, sizeof(*ctrl->q_submitted));
	ctrl->q_completed = calloc(ctrl->nqueues, sizeof(*ctrl->q_completed));
	ctrl->arb_qids = calloc((size_t)NVME_ARB_CLASSES * ctrl->nqueues, sizeof(*ctrl->arb_qids));
	ctrl->irq_cd = calloc(p->nr_vectors / 8 + 1u, 1);
	if (!ctrl->irq_cd ||
	    !ctrl->sq || !ctrl->cq || !ctrl->ns || !ctrl->ns_changed ||
	    !ctrl->q_submitted || !ctrl->q_completed || !ctrl->arb_qids) {
		nvme_ctrl_free(ctrl);
		return NULL;
	}
	/*
	 * MDTS is in units of CAP.MPSMIN (4 KiB), whatever CC.MPS says.  MDTS 0
	 * promises the host no limit; the model still sizes its SG tables, so it
	 * takes 8 MiB, twice what Linux's nvme ever sends (NVME_MAX_KB_SZ), and
	 * answers Invalid Field beyond that.
	 */
	ctrl->max_xfer = 4096ull << (p->mdts ? p->mdts : NVME_MDTS_NO_LIMIT_SHIFT);
	list_init(&ctrl->aer_reqs);
	list_init(&ctrl->zombies);
	nvme_fault_init(ctrl);
	ctrl->rdy_off_deadline = UINT64_MAX;
	nvme_features_reset(ctrl);
	nvme_fw_init(ctrl);
	return ctrl;
}

void nvme_ctrl_free(struct nvme_ctrl *ctrl)
{
	uint32_t i;

	if (!ctrl)
		return;
	if (ctrl->sq && ctrl->cq) {
		nvme_queues_teardown(ctrl);
		nvme_zombies_free(ctrl);
	}
	if (ctrl->faults.next)
		nvme_fault_free(ctrl);
	nvme_fw_free(ctrl);
	if (ctrl->ns)
		for (i = 1; i <= ctrl->p.nn; i++)
			if (ctrl->ns[i]) {
				nvme_range_clear(&ctrl->ns[i]->uncor);
				nvme_ledger_free(ctrl->ns[i]);
				free(ctrl->ns[i]->lbart);
				free(ctrl->ns[i]);
			}
	free(ctrl->ns);
	free(ctrl->ns_changed);
	free(ctrl->ledger_buf);
	free(ctrl->irq_cd);
	free(ctrl->q_submitted);
	free(ctrl->q_completed);
	free(ctrl->arb_qids);
	free(ctrl->sq);
	free(ctrl->cq);
	free(ctrl);
}

unsigned int nvme_ctrl_io_inflight(const struct nvme_ctrl *ctrl)
{
	return ctrl->io_inflight;
}

/* ---- enable / disable ---- */

static bool nvme_enable(struct nvme_ctrl *ctrl)
{
	uint32_t cc = ctrl->cc;
	uint32_t asqs = NVME_AQA_ASQS(ctrl->aqa) + 1;
	uint32_t acqs = NVME_AQA_ACQS(ctrl->aqa) + 1;
	struct nvme_cq *cq;

	if (NVME_CC_CSS(cc) != 0) {
		nvme_fatal(ctrl, "CC.CSS is not the NVM command set");
		return false;
	}
	/* round robin always; WRR only if CAP.AMS offers it; vendor specific never */
	if (NVME_CC_AMS(cc) != NVME_CC_AMS_RR &&
	    !(NVME_CC_AMS(cc) == NVME_CC_AMS_WRR && ctrl->p.ams)) {
		nvme_fatal(ctrl, "CC.AMS selects an arbitration CAP.AMS does not offer");
		return false;
	}
	if (NVME_CC_MPS(cc) > NVME_MPSMAX) {
		nvme_fatal(ctrl, "CC.MPS above CAP.MPSMAX");
		return false;
	}
	if (asqs < 2 || acqs < 2) {
		nvme_fatal(ctrl, "AQA: admin queues need at least 2 entries");
		return false;
	}
	/* CC.AMS may only change while disabled: what the enable saw holds */
	ctrl->wrr = NVME_CC_AMS(cc) == NVME_CC_AMS_WRR;
	ctrl->page_bits = 12 + NVME_CC_MPS(cc);
	ctrl->page_size = 1ull << ctrl->page_bits;
	if (!ctrl->asq || !ctrl->acq ||
	    (ctrl->asq & (ctrl->page_size - 1)) || (ctrl->acq & (ctrl->page_size - 1))) {
		nvme_fatal(ctrl, "ASQ/ACQ zero or not page aligned");
		return false;
	}
	/* a max transfer at arbitrary page offset spans one extra page */
	ctrl->max_sg = (unsigned int)(ctrl->max_xfer >> ctrl->page_bits) + 2;

	cq = nvme_cq_create(ctrl, 0, ctrl->acq, acqs, true, 0);
	if (!cq) {
		nvme_fatal(ctrl, "out of memory for the admin CQ");
		return false;
	}
	if (!nvme_sq_create(ctrl, 0, ctrl->asq, asqs, cq)) {
		nvme_cq_free(ctrl, cq);
		nvme_fatal(ctrl, "out of memory for the admin SQ");
		return false;
	}
	ctrl->enabled = true;
	ctrl->csts = (ctrl->csts & ~NVME_CSTS_SHST_MASK) | NVME_CSTS_RDY;
	return true;
}

/*
 * CC.EN 0 -> 1, unless a ready-delay rule fires: then the controller stays
 * off (CSTS.RDY 0, doorbells ignored) until the timer ends the wait.
 */
static void nvme_enable_or_wait(struct nvme_ctrl *ctrl)
{
	int64_t ms;

	/* enabled again before a delayed CSTS.RDY 1 -> 0 was shown */
	if (ctrl->rdy_off_deadline != UINT64_MAX) {
		ctrl->rdy_off_deadline = UINT64_MAX;
		ctrl->csts &= ~NVME_CSTS_RDY;
	}

	if (nvme_fault_event(ctrl, NVME_FAULT_READY_DELAY, 0, &ms)) {
		ctrl->ready_wait = true;
		ctrl->ready_deadline = ms < 0 ? UINT64_MAX
					      : nvme_clock_ns(ctrl) + (uint64_t)ms * 1000000;
		nvme_fault_timer_update(ctrl);
		return;
	}
	/* a controller that takes its time to get ready (property ready-delay-ms) */
	if (ctrl->p.ready_delay_ms && ctrl->ops->clock_ns) {
		ctrl->ready_wait = true;
		ctrl->ready_deadline = nvme_clock_ns(ctrl) +
				       (uint64_t)ctrl->p.ready_delay_ms * 1000000;
		nvme_fault_timer_update(ctrl);
		return;
	}
	nvme_enable(ctrl);
}

static void nvme_ready_wait_cancel(struct nvme_ctrl *ctrl)
{
	ctrl->ready_wait = false;
	ctrl->ready_deadline = UINT64_MAX;
	nvme_fault_timer_update(ctrl);
}

static void nvme_timer(struct nvme_ctrl *ctrl)
{
	if (ctrl->ready_wait && nvme_clock_ns(ctrl) >= ctrl->ready_deadline) {
		ctrl->ready_wait = false;
		ctrl->ready_deadline = UINT64_MAX;
		if ((ctrl->cc & NVME_CC_EN) && !ctrl->enabled && !ctrl->disabling)
			nvme_enable(ctrl);
	}
	if (nvme_clock_ns(ctrl) >= ctrl->rdy_off_deadline) {
		ctrl->rdy_off_deadline = UINT64_MAX;
		ctrl->csts &= ~NVME_CSTS_RDY;
	}
	nvme_fault_run_delayed(ctrl);
	nvme_coalesce_timer(ctrl);
	nvme_fault_timer_update(ctrl);
	if (ctrl->enabled)
		ctrl->ops->schedule(ctrl->opaque);
}

void nvme_ctrl_timer(struct nvme_ctrl *ctrl)
{
	/* the host timer fired: it is no longer armed */
	ctrl->timer_deadline = UINT64_MAX;
	if (ctrl->gone)
		return;		/* delayed commands and ready waits died with it */
	nvme_enter(ctrl);
	nvme_timer(ctrl);
	nvme_leave(ctrl);
}

/* Back to the state after a controller reset; the backend is idle. */
static void nvme_reset_finish(struct nvme_ctrl *ctrl)
{
	nvme_queues_teardown(ctrl);
	nvme_features_reset(ctrl);
	nvme_fw_reset(ctrl);
	ctrl->nevents = 0;
	ctrl->aer_masked = 0;
	memset(ctrl->ns_changed, 0, ctrl->p.nn / 8 + 1u);
	ctrl->irq_status = 0;
	ctrl->intms = 0;
	nvme_irq_update(ctrl);
	ctrl->enabled = false;
	ctrl->disabling = false;
	ctrl->csts &= ~(NVME_CSTS_RDY | NVME_CSTS_CFS);
}

/*
 * CC.EN 1 -> 0.  Stop fetching, forget held commands; commands out at the
 * block layer finish first (their completions are dropped), then the
 * queues go and CSTS.RDY drops.  Nothing blocks the caller.
 */
static void nvme_disable(struct nvme_ctrl *ctrl)
{
	uint32_t i;

	ctrl->disabling = true;
	ctrl->shutting_down = false;
	ctrl->stats.resets++;
	nvme_aer_drop_all(ctrl);
	/* pending Delete I/O SQ commands live in the admin SQ, which goes first */
	for (i = 0; i < ctrl->nqueues; i++)
		if (ctrl->sq[i])
			ctrl->sq[i]->delete_req = NULL;
	for (i = 0; i < ctrl->nqueues; i++)
		if (ctrl->sq[i])
			nvme_sq_delete(ctrl, ctrl->sq[i]);
	nvme_check_idle(ctrl);
}

/* Called whenever backend work may have drained. */
void nvme_check_idle(struct nvme_ctrl *ctrl)
{
	/* a pending reset tears down once the stack above us has unwound */
	if (ctrl->io_inflight || ctrl->reset_pending)
		return;
	if (ctrl->disabling) {
		nvme_reset_finish(ctrl);
		/* EN may have been set again while we were draining */
		if (ctrl->cc & NVME_CC_EN) {
			nvme_enable_or_wait(ctrl);
		} else if (ctrl->p.ready_delay_ms && ctrl->ops->clock_ns) {
			/* ready-delay-ms: CSTS.RDY follows CC.EN = 0 late too */
			ctrl->csts |= NVME_CSTS_RDY;
			ctrl->rdy_off_deadline = nvme_clock_ns(ctrl) +
						 (uint64_t)ctrl->p.ready_delay_ms * 1000000;
			nvme_fault_timer_update(ctrl);
		}
	}
	if (ctrl->shutting_down) {
		ctrl->shutting_down = false;
		ctrl->csts = (ctrl->csts & ~NVME_CSTS_SHST_MASK) |
			     NVME_SHST_COMPLETE << NVME_CSTS_SHST_SHIFT;
	}
}

static void nvme_shutdown(struct nvme_ctrl *ctrl)
{
	ctrl->csts = (ctrl->csts & ~NVME_CSTS_SHST_MASK) |
		     NVME_SHST_OCCURRING << NVME_CSTS_SHST_SHIFT;
	/* ignore-shutdown: "occurring" until CC.SHN is cleared or a reset */
	if (nvme_fault_event(ctrl, NVME_FAULT_IGNORE_SHUTDOWN, 0, NULL))
		return;
	ctrl->shutting_down = true;
	nvme_check_idle(ctrl);
}

/*
 * Every entry point that may call the host's ops runs between nvme_enter()
 * and nvme_leave().  An op can reset the function under us: an MSI-X
 * message or a DMA write the guest aimed at a bridge's config space
 * (Secondary Bus Reset) resets it from inside ops->msix_notify or
 * ops->dma_write, while the frames below hold queues and requests the
 * reset frees.  Such a reset stops all completions at once and runs when
 * the outermost entry point returns, before the guest runs again.
 */
void nvme_enter(struct nvme_ctrl *ctrl)
{
	ctrl->depth++;
}

bool nvme_ctrl_in_call(const struct nvme_ctrl *ctrl)
{
	return ctrl->depth > 0;
}

void nvme_leave(struct nvme_ctrl *ctrl)
{
	if (--ctrl->depth || !ctrl->reset_pending)
		return;
	ctrl->reset_pending = false;
	nvme_ctrl_reset(ctrl);
}

void nvme_ctrl_reset(struct nvme_ctrl *ctrl)
{
	if (ctrl->depth) {
		/* nothing is fetched, completed or torn down until it runs */
		ctrl->reset_pending = true;
		return;
	}
	nvme_enter(ctrl);
	/* nothing may complete towards the guest from here on */
	ctrl->disabling = true;
	ctrl->stats.hard_resets++;
	ctrl->gone = false;	/* power comes back */
	nvme_ready_wait_cancel(ctrl);
	nvme_aer_drop_all(ctrl);
	/* requests still out at the host are orphaned (see nvme_sq_orphan) */
	nvme_reset_finish(ctrl);
	ctrl->shutting_down = false;
	ctrl->rdy_off_deadline = UINT64_MAX;
	ctrl->cc = 0;
	ctrl->csts = 0;
	ctrl->aqa = 0;
	ctrl->asq = 0;
	ctrl->acq = 0;
	nvme_leave(ctrl);
}

/* ---- registers ---- */

static void nvme_cc_write(struct nvme_ctrl *ctrl, uint32_t val)
{
	uint32_t old = ctrl->cc;

	ctrl->cc = val & NVME_CC_WRITABLE;
	if ((val & NVME_CC_EN) && !(old & NVME_CC_EN)) {
		if (!ctrl->disabling && !ctrl->enabled)
			nvme_enable_or_wait(ctrl);
	} else if (!(val & NVME_CC_EN) && (old & NVME_CC_EN)) {
		if (ctrl->ready_wait)
			nvme_ready_wait_cancel(ctrl);
		if (ctrl->enabled && !ctrl->disabling)
			nvme_disable(ctrl);
		else if (!ctrl->enabled)
			ctrl->csts &= ~(NVME_CSTS_RDY | NVME_CSTS_CFS);
	}
	if (NVME_CC_SHN(val) && !NVME_CC_SHN(old))
		nvme_shutdown(ctrl);	/* also when disabled: nothing to do, complete */
	else if (!NVME_CC_SHN(val) && NVME_CC_SHN(old))
		ctrl->csts &= ~NVME_CSTS_SHST_MASK;
}

static void nvme_set_reg64_half(uint64_t *reg, uint64_t off_in_reg, uint32_t val)
{
	if (off_in_reg)
		*reg = (*reg & 0xffffffffull) | (uint64_t)val << 32;
	else
		*reg = (*reg & ~0xffffffffull) | val;
}

/* One 32-bit register write; 64-bit registers arrive as two halves. */
static void nvme_reg_write32(struct nvme_ctrl *ctrl, uint64_t addr, uint32_t val)
{
	switch (addr) {
	case NVME_REG_INTMS:
		ctrl->intms |= val;
		nvme_irq_update(ctrl);
		break;
	case NVME_REG_INTMC:
		ctrl->intms &= ~val;
		nvme_irq_update(ctrl);
		break;
	case NVME_REG_CC:
		nvme_cc_write(ctrl, val);
		break;
	case NVME_REG_AQA:
		if (ctrl->enabled)
			nvme_guest_error(ctrl, "AQA written while enabled");
		ctrl->aqa = val & NVME_AQA_WRITABLE;
		break;
	case NVME_REG_ASQ:
	case NVME_REG_ASQ + 4:
		nvme_set_reg64_half(&ctrl->asq, addr - NVME_REG_ASQ, val);
		ctrl->asq &= ~0xfffull;
		break;
	case NVME_REG_ACQ:
	case NVME_REG_ACQ + 4:
		nvme_set_reg64_half(&ctrl->acq, addr - NVME_REG_ACQ, val);
		ctrl->acq &= ~0xfffull;
		break;
	default:
		nvme_guest_error(ctrl, "write 0x%x to read-only/reserved register 0x%llx",
				 val, (unsigned long long)addr);
		break;
	}
}

static uint32_t nvme_reg_read32(struct nvme_ctrl *ctrl, uint64_t addr)
{
	switch (addr) {
	case NVME_REG_CAP:
		return (uint32_t)ctrl->cap;
	case NVME_REG_CAP + 4:
		return (uint32_t)(ctrl->cap >> 32);
	case NVME_REG_VS:
		return ctrl->p.vs;
	case NVME_REG_INTMS:
	case NVME_REG_INTMC:
		return ctrl->intms;
	case NVME_REG_CC:
		return ctrl->cc;
	case NVME_REG_CSTS:
		return ctrl->csts;
	case NVME_REG_AQA:
		return ctrl->aqa;
	case NVME_REG_ASQ:
		return (uint32_t)ctrl->asq;
	case NVME_REG_ASQ + 4:
		return (uint32_t)(ctrl->asq >> 32);
	case NVME_REG_ACQ:
		return (uint32_t)ctrl->acq;
	case NVME_REG_ACQ + 4:
		return (uint32_t)(ctrl->acq >> 32);
	default:
		return 0;
	}
}

uint64_t nvme_ctrl_mmio_read(struct nvme_ctrl *ctrl, uint64_t addr, unsigned int size)
{
	uint64_t val;

	if (ctrl->gone)		/* a read nobody answers: the root port returns all ones */
		return size >= 8 ? UINT64_MAX : (1ull << (size * 8)) - 1;
	if ((size != 4 && size != 8) || (addr & (size - 1))) {
		nvme_guest_error(ctrl, "bad register read size %u at 0x%llx",
				 size, (unsigned long long)addr);
		return 0;
	}
	if (addr >= NVME_REG_DBS)
		return 0;	/* doorbells are write-only */
	val = nvme_reg_read32(ctrl, addr);
	if (size == 8)
		val |= (uint64_t)nvme_reg_read32(ctrl, addr + 4) << 32;
	return val;
}

static void nvme_mmio_write(struct nvme_ctrl *ctrl, uint64_t addr, uint64_t val,
			    unsigned int size)
{
	if ((size != 4 && size != 8) || (addr & (size - 1))) {
		nvme_guest_error(ctrl, "bad register write size %u at 0x%llx",
				 size, (unsigned long long)addr);
		return;
	}
	if (addr >= NVME_REG_DBS) {
		if (size != 4) {
			nvme_guest_error(ctrl, "doorbell write must be 32-bit");
			return;
		}
		nvme_doorbell_write(ctrl, addr - NVME_REG_DBS, (uint32_t)val);
		return;
	}
	if (size == 8) {
		/* only the 64-bit registers take a 64-bit access as a whole */
		if (addr != NVME_REG_ASQ && addr != NVME_REG_ACQ && addr != NVME_REG_CAP) {
			nvme_guest_error(ctrl, "64-bit write to 32-bit register 0x%llx",
					 (unsigned long long)addr);
			return;
		}
		nvme_reg_write32(ctrl, addr, (uint32_t)val);
		nvme_reg_write32(ctrl, addr + 4, (uint32_t)(val >> 32));
		return;
	}
	nvme_reg_write32(ctrl, addr, (uint32_t)val);
}

void nvme_ctrl_mmio_write(struct nvme_ctrl *ctrl, uint64_t addr, uint64_t val,
			  unsigned int size)
{
	if (ctrl->gone)
		return;
	nvme_enter(ctrl);
	nvme_mmio_write(ctrl, addr, val, size);
	nvme_leave(ctrl);
}

bool nvme_ctrl_gone(const struct nvme_ctrl *ctrl)
{
	return ctrl->gone;
}

void nvme_ctrl_process(struct nvme_ctrl *ctrl)
{
	if (!nvme_ctrl_running(ctrl))
		return;
	nvme_enter(ctrl);
	nvme_queues_process(ctrl);
	nvme_leave(ctrl);
}

/* ---- namespaces ---- */

uint32_t nvme_ctrl_ns_attach(struct nvme_ctrl *ctrl, const struct nvme_ns_params *p,
			     const char **err)
{
	struct nvme_ns *ns;
	uint32_t nsid = p->nsid;

	if (p->lbads < 9 || p->lbads > 12) {
		*err = "LBA size must be 512 B..4 KiB";
		return 0;
	}
	if (!p->nlbas) {
		*err = "namespace is smaller than one LBA";
		return 0;
	}
	if (nsid > ctrl->p.nn) {
		*err = "nsid is above the controller's namespace count";
		return 0;
	}
	if (!nsid) {
		for (nsid = 1; nsid <= ctrl->p.nn && ctrl->ns[nsid]; nsid++)
			;
		if (nsid > ctrl->p.nn) {
			*err = "no free namespace id";
			return 0;
		}
	} else if (ctrl->ns[nsid]) {
		*err = "nsid already in use";
		return 0;
	}
	ns = calloc(1, sizeof(*ns));
	if (!ns) {
		*err = "out of memory";
		return 0;
	}
	ns->nsid = nsid;
	ns->lbads = p->lbads;
	ns->lbads_attach = p->lbads;
	ns->nlbas = p->nlbas;
	ns->bytes = p->nlbas << p->lbads;
	ns->backend = p->backend;
	ctrl->ns[nsid] = ns;
	nvme_enter(ctrl);
	nvme_ns_changed(ctrl, nsid);
	nvme_leave(ctrl);
	return nsid;
}

void nvme_ctrl_ns_detach(struct nvme_ctrl *ctrl, uint32_t nsid)
{
	struct nvme_ns *ns = nvme_ns_get(ctrl, nsid);

	if (!ns)
		return;
	ctrl->ns[nsid] = NULL;
	nvme_range_clear(&ns->uncor);
	nvme_ledger_free(ns);
	free(ns->lbart);
	free(ns);
	nvme_enter(ctrl);
	nvme_ns_changed(ctrl, nsid);
	nvme_leave(ctrl);
}

bool nvme_ctrl_ns_present(const struct nvme_ctrl *ctrl, uint32_t nsid)
{
	return nsid >= 1 && nsid <= ctrl->p.nn && ctrl->ns[nsid];
}
