/*
 * cosim-nvme: PCI NVMe 1.0e controller.  This file is the thin QEMU side:
 * PCI config and BARs, MSI-X/INTx, DMA, the block layer, properties and
 * the namespace bus.  NVMe behaviour lives in ../core (see ../DESIGN.md).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "qemu/cutils.h"
#include "qemu/error-report.h"
#include "qemu/log.h"
#include "qemu/main-loop.h"
#include "qemu/module.h"
#include "qemu/timer.h"
#include "hw/hotplug.h"
#include "hw/pci/msix.h"
#include "hw/pci/pcie.h"
#include "hw/qdev-properties.h"
#include "migration/blocker.h"
#include "sysemu/block-backend.h"
#include "sysemu/dma.h"
#include "cosim-nvme.h"
#include "../core/nvme_spec.h"
#include "trace.h"

#define COSIM_NVME_MSIX_BAR 4

/*
 * Calls into the core from outside an MMIO access (bottom half, block
 * completions) run with the device's re-entrancy guard engaged, so a guest
 * pointing DMA at our own BAR cannot re-enter the core half-way.
 */
#define CORE_CALL(s, call) do {                                         \
        MemReentrancyGuard *g_ = &DEVICE(s)->mem_reentrancy_guard;      \
        bool was_ = g_->engaged_in_io;                                  \
        g_->engaged_in_io = true;                                       \
        call;                                                           \
        g_->engaged_in_io = was_;                                       \
    } while (0)

/* ---- host ops for the core ---- */

static int cosim_nvme_dma_read(void *opaque, uint64_t addr, void *buf,
                               size_t len)
{
    CosimNvmeState *s = opaque;

    return pci_dma_read(PCI_DEVICE(s), addr, buf, len) != MEMTX_OK;
}

static int cosim_nvme_dma_write(void *opaque, uint64_t addr, const void *buf,
                                size_t len)
{
    CosimNvmeState *s = opaque;

    return pci_dma_write(PCI_DEVICE(s), addr, buf, len) != MEMTX_OK;
}

static bool cosim_nvme_msix_enabled(void *opaque)
{
    return msix_enabled(PCI_DEVICE(opaque));
}

static void cosim_nvme_msix_notify(void *opaque, uint16_t vector)
{
    PCIDevice *pci = PCI_DEVICE(opaque);

    /* the core checks vectors at CQ creation; stay safe regardless */
    if (vector < pci->msix_entries_nr) {
        trace_cosim_nvme_msix_notify(vector);
        msix_notify(pci, vector);
    }
}

static void cosim_nvme_intx_set(void *opaque, bool level)
{
    trace_cosim_nvme_intx(level);
    pci_set_irq(PCI_DEVICE(opaque), level);
}

static void cosim_nvme_schedule(void *opaque)
{
    CosimNvmeState *s = opaque;

    qemu_bh_schedule(s->bh);
}

static void cosim_nvme_guest_error(void *opaque, const char *msg)
{
    qemu_log_mask(LOG_GUEST_ERROR, "%s: %s\n", TYPE_COSIM_NVME, msg);
}

static void cosim_nvme_trace_cmd(void *opaque, uint16_t sqid, uint16_t cid,
                                 uint8_t opcode, uint32_t nsid)
{
    trace_cosim_nvme_cmd(sqid, cid, opcode, nsid);
}

static void cosim_nvme_trace_cqe(void *opaque, uint16_t sqid, uint16_t cid,
                                 uint16_t status, uint32_t dw0)
{
    trace_cosim_nvme_cqe(sqid, cid, status, dw0);
}

static uint64_t cosim_nvme_clock_ns(void *opaque)
{
    return qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);
}

static void cosim_nvme_timer_mod(void *opaque, uint64_t deadline_ns)
{
    CosimNvmeState *s = opaque;

    if (deadline_ns == UINT64_MAX) {
        timer_del(s->timer);
    } else {
        timer_mod(s->timer, MIN(deadline_ns, (uint64_t)INT64_MAX));
    }
}

static void cosim_nvme_timer_cb(void *opaque)
{
    CosimNvmeState *s = opaque;

    CORE_CALL(s, nvme_ctrl_timer(s->ctrl));
}

static void cosim_nvme_trace_fault(void *opaque, uint32_t rule,
                                   const char *action, uint16_t qid,
                                   uint16_t cid)
{
    trace_cosim_nvme_fault(rule, action, qid, cid);
    cosim_nvme_fault_event(opaque, rule, action, qid, cid);
}

/* One block request in flight: the core's nvme_io plus our DMA state. */
struct CosimNvmeIo {
    CosimNvmeState *s;
    BlockBackend *blk;
    struct nvme_io *io;
    BlockAIOCB *aiocb;
    QEMUSGList qsg;
    QEMUIOVector iov;       /* NVME_IO_READ_BUF, a cached Write's old data */
    uint8_t *old;           /* a cached Write: its sectors' contents before */
    uint64_t flush_gen;     /* NVME_IO_FLUSH into a volatile cache */
    unsigned int next;      /* NVME_IO_ZERO: range being zeroed ... */
    uint64_t done;          /* ... and how much of it is done */
    BlockAcctCookie acct;
    QTAILQ_ENTRY(CosimNvmeIo) entry;
};

static void cosim_nvme_io_done(void *opaque, int ret);

/* Deallocate: zero (and let the format unmap) one range after the other. */
#define COSIM_NVME_ZERO_CHUNK (1ull << 30)  /* below BDRV_REQUEST_MAX_BYTES */

static void cosim_nvme_zero_next(void *opaque, int ret)
{
    CosimNvmeIo *r = opaque;
    const struct nvme_sg *range;
    uint64_t len;

    while (r->next < r->io->nsg && r->done == r->io->sg[r->next].len) {
        r->next++;
        r->done = 0;
    }
    if (ret < 0 || r->next == r->io->nsg) {
        cosim_nvme_io_done(r, ret);
        return;
    }
    range = &r->io->sg[r->next];
    len = MIN(range->len - r->done, COSIM_NVME_ZERO_CHUNK);
    r->aiocb = blk_aio_pwrite_zeroes(r->blk, range->addr + r->done, len,
                                     BDRV_REQ_MAY_UNMAP, cosim_nvme_zero_next,
                                     r);
    r->done += len;
}

static void cosim_nvme_io_done(void *opaque, int ret)
{
    CosimNvmeIo *r = opaque;
    CosimNvmeState *s = r->s;
    CosimNvmeNs *ns = r->io->backend;
    BlockAcctStats *stats = blk_get_stats(r->blk);

    if (ret < 0) {
        block_acct_failed(stats, &r->acct);
    } else {
        block_acct_done(stats, &r->acct);
    }
    if (r->qsg.sg) {
        qemu_sglist_destroy(&r->qsg);
    }
    if (r->iov.iov) {
        qemu_iovec_destroy(&r->iov);
    }
    if (r->old) {
        s->old_bytes -= r->io->len;
        g_free(r->old);
    }
    if (r->io->op == NVME_IO_READ && ret == 0) {
        cosim_nvme_stale_serve(ns, PCI_DEVICE(s), r->io);
    }
    if (r->io->op == NVME_IO_FLUSH && ret == 0 && ns->cache) {
        cosim_nvme_cache_flushed(ns->cache, r->flush_gen);
    }
    trace_cosim_nvme_io_done(r->io, ret);
    QTAILQ_REMOVE(&s->ios, r, entry);
    CORE_CALL(s, nvme_io_complete(r->io, ret < 0 ? ret : 0));
    blk_unref(r->blk);
    g_free(r);
}

static BlockAIOCB *cosim_nvme_io_readv(int64_t offset, QEMUIOVector *iov,
                                       BlockCompletionFunc *cb,
                                       void *cb_opaque, void *opaque)
{
    CosimNvmeIo *r = opaque;

    return blk_aio_preadv(r->blk, offset, iov, 0, cb, cb_opaque);
}

static BlockAIOCB *cosim_nvme_io_writev(int64_t offset, QEMUIOVector *iov,
                                        BlockCompletionFunc *cb,
                                        void *cb_opaque, void *opaque)
{
    CosimNvmeIo *r = opaque;

    return blk_aio_pwritev(r->blk, offset, iov,
                           r->io->fua ? BDRV_REQ_FUA : 0, cb, cb_opaque);
}

static void cosim_nvme_io_dma(CosimNvmeIo *r);

/*
 * A Write into a volatile cache, or one a stale-read fault hit: its
 * sectors' contents are read ...
 */
static void cosim_nvme_old_saved(void *opaque, int ret)
{
    CosimNvmeIo *r = opaque;
    CosimNvmeNs *ns = r->io->backend;

    if (ret < 0) {
        cosim_nvme_io_done(r, ret);
        return;
    }
    /* ... and kept, before the Write may change them */
    if (ns->cache && !r->io->fua && cosim_nvme_cache_holds(ns->cache, r->io->len)) {
        cosim_nvme_cache_save(ns->cache, r->io->offset, r->old, r->io->len);
    }
    if (r->io->stale_read) {
        cosim_nvme_stale_save(ns, r->io->offset, r->old, r->io->len);
    }
    qemu_iovec_destroy(&r->iov);
    memset(&r->iov, 0, sizeof(r->iov));
    r->s->old_bytes -= r->io->len;
    g_free(r->old);
    r->old = NULL;
    cosim_nvme_io_dma(r);
}

/*
 * Old data held for Writes in flight, all queues together: the guest picks
 * how many large Writes are out at once.  Beyond it a Write goes through
 * (durable, no stale-read), as a cache with a fixed buffer pool would.
 */
#define COSIM_NVME_OLD_MAX (64ull << 20)

static bool cosim_nvme_save_old(CosimNvmeIo *r)
{
    if (r->s->old_bytes + r->io->len > COSIM_NVME_OLD_MAX) {
        return false;
    }
    r->s->old_bytes += r->io->len;
    r->old = g_malloc(r->io->len);
    qemu_iovec_init(&r->iov, 1);
    qemu_iovec_add(&r->iov, r->old, r->io->len);
    r->aiocb = blk_aio_preadv(r->blk, r->io->offset, &r->iov, 0,
                              cosim_nvme_old_saved, r);
    return true;
}

static void cosim_nvme_io_submit(void *opaque, struct nvme_io *io)
{
    CosimNvmeState *s = opaque;
    CosimNvmeNs *ns = io->backend;
    CosimNvmeIo *r = g_new0(CosimNvmeIo, 1);
    bool write = io->op == NVME_IO_WRITE;
    unsigned int i;

    r->s = s;
    r->io = io;
    io->host_priv = r;
    r->blk = ns->blkconf.blk;
    blk_ref(r->blk);        /* outlives an unplug of the namespace */
    trace_cosim_nvme_io_submit(io, io->op, io->offset, io->len, io->fua,
                               io->nsg);
    /* the callbacks never run before blk_aio_flush/dma_blk_io return */
    QTAILQ_INSERT_TAIL(&s->ios, r, entry);
    if (io->op == NVME_IO_FLUSH) {
        block_acct_start(blk_get_stats(r->blk), &r->acct, 0, BLOCK_ACCT_FLUSH);
        if (ns->cache) {
            r->flush_gen = cosim_nvme_cache_flush_begin(ns->cache);
        }
        r->aiocb = blk_aio_flush(r->blk, cosim_nvme_io_done, r);
        return;
    }
    if (io->op == NVME_IO_ZERO) {
        uint64_t bytes = 0;

        for (i = 0; i < io->nsg; i++) {
            bytes += io->sg[i].len;
            cosim_nvme_stale_drop(ns, io->sg[i].addr, io->sg[i].len);
            if (ns->cache) {
                /* deallocated blocks do not come back */
                cosim_nvme_cache_persist(ns->cache, io->sg[i].addr,
                                         io->sg[i].len);
            }
        }
        block_acct_start(blk_get_stats(r->blk), &r->acct, bytes,
                         BLOCK_ACCT_UNMAP);
        cosim_nvme_zero_next(r, 0);
        return;
    }
    if (io->op == NVME_IO_READ_BUF) {
        block_acct_start(blk_get_stats(r->blk), &r->acct, io->len,
                         BLOCK_ACCT_READ);
        qemu_iovec_init(&r->iov, 1);
        qemu_iovec_add(&r->iov, io->buf, io->len);
        r->aiocb = blk_aio_preadv(r->blk, io->offset, &r->iov, 0,
                                  cosim_nvme_io_done, r);
        return;
    }
    block_acct_start(blk_get_stats(r->blk), &r->acct, io->len,
                     write ? BLOCK_ACCT_WRITE : BLOCK_ACCT_READ);
    if (write) {
        bool cached = ns->cache && !io->fua &&
                      cosim_nvme_cache_holds(ns->cache, io->len);

        cosim_nvme_stale_drop(ns, io->offset, io->len);
        if ((cached || io->stale_read) && cosim_nvme_save_old(r)) {
            return;
        }
        if (ns->cache) {
            cosim_nvme_cache_persist(ns->cache, io->offset, io->len);
        }
    }
    cosim_nvme_io_dma(r);
}

/* Read/Write: DMA between guest memory and the image. */
static void cosim_nvme_io_dma(CosimNvmeIo *r)
{
    struct nvme_io *io = r->io;
    bool write = io->op == NVME_IO_WRITE;
    unsigned int i;

    qemu_sglist_init(&r->qsg, DEVICE(r->s), io->nsg,
                     pci_get_address_space(PCI_DEVICE(r->s)));
    for (i = 0; i < io->nsg; i++) {
        qemu_sglist_add(&r->qsg, io->sg[i].addr, io->sg[i].len);
    }
    /*
     * Alignment 1: the dma helpers then never trim a partial mapping (as
     * happens for PRPs into MMIO); the block layer aligns by itself.
     */
    r->aiocb = dma_blk_io(blk_get_aio_context(r->blk), &r->qsg, io->offset, 1,
                          write ? cosim_nvme_io_writev : cosim_nvme_io_readv,
                          r, cosim_nvme_io_done, r,
                          write ? DMA_DIRECTION_TO_DEVICE :
                                  DMA_DIRECTION_FROM_DEVICE);
}

/*
 * Abort named a request still out (the core keeps it BACKEND until we call
 * back).  QEMU 7.2 can stop DMA parked for a bounce buffer, which then
 * completes with -ECANCELED from inside this call; block I/O already
 * submitted (including requests queued by a throttle group) runs to the
 * end, and the core reports the command aborted when it returns.
 */
static void cosim_nvme_io_cancel(void *opaque, struct nvme_io *io)
{
    CosimNvmeIo *r = io->host_priv;

    trace_cosim_nvme_io_cancel(io);
    blk_aio_cancel_async(r->aiocb);
}

/*
 * Reset and unplug need every request of @blk finished.  blk_drain() waits
 * for the block layer, but DMA parked for a bounce buffer (PRPs into MMIO
 * or unassigned memory) is not in the block layer yet: cancel it, which
 * completes it with -ECANCELED at once.
 *
 * A cancelled request whose block I/O was in flight continues its DMA loop
 * once that I/O returns and may be in flight or parked again: repeat until
 * none is left.  Each round finishes at least one chunk of a finite
 * transfer, but DMA through the single bounce buffer moves 4 KiB a chunk,
 * so a guest can make that thousands of rounds.  A reset (@may_orphan)
 * stops after COSIM_NVME_DRAIN_ROUNDS and leaves the rest to the core,
 * which orphans their queues and keeps them allocated until they return;
 * unplug and teardown free the core, so they wait for the last one.
 */
#define COSIM_NVME_DRAIN_ROUNDS 100

void cosim_nvme_drain_blk(CosimNvmeState *s, BlockBackend *blk, bool may_orphan)
{
    CosimNvmeIo *r, *next;
    bool pending;
    int rounds = 0;

    do {
        blk_drain(blk);
        pending = false;
        QTAILQ_FOREACH_SAFE(r, &s->ios, entry, next) {
            if (r->blk == blk) {
                pending = true;
                blk_aio_cancel_async(r->aiocb);
            }
        }
    } while (pending && (!may_orphan || ++rounds < COSIM_NVME_DRAIN_ROUNDS));
    if (pending) {
        /* the core orphans them; the blk reference keeps the DMA safe */
        warn_report("cosim-nvme: block requests did not drain");
    }
}

static void cosim_nvme_write_cache_off(void *opaque)
{
    cosim_nvme_ns_write_cache_off(opaque);
}

static const struct nvme_host_ops cosim_nvme_host_ops = {
    .dma_read = cosim_nvme_dma_read,
    .dma_write = cosim_nvme_dma_write,
    .msix_enabled = cosim_nvme_msix_enabled,
    .msix_notify = cosim_nvme_msix_notify,
    .intx_set = cosim_nvme_intx_set,
    .schedule = cosim_nvme_schedule,
    .io_submit = cosim_nvme_io_submit,
    .io_cancel = cosim_nvme_io_cancel,
    .guest_error = cosim_nvme_guest_error,
    .trace_cmd = cosim_nvme_trace_cmd,
    .trace_cqe = cosim_nvme_trace_cqe,
    .clock_ns = cosim_nvme_clock_ns,
    .timer_mod = cosim_nvme_timer_mod,
    .trace_fault = cosim_nvme_trace_fault,
    .write_cache_off = cosim_nvme_write_cache_off,
};

/* ---- BAR0 ---- */

static uint64_t cosim_nvme_mmio_read(void *opaque, hwaddr addr, unsigned size)
{
    CosimNvmeState *s = opaque;
    uint64_t val = nvme_ctrl_mmio_read(s->ctrl, addr, size);

    trace_cosim_nvme_mmio_read(addr, size, val);
    return val;
}

static void cosim_nvme_mmio_write(void *opaque, hwaddr addr, uint64_t val,
                                  unsigned size)
{
    CosimNvmeState *s = opaque;

    trace_cosim_nvme_mmio_write(addr, size, val);
    nvme_ctrl_mmio_write(s->ctrl, addr, val, size);
}

static const MemoryRegionOps cosim_nvme_mmio_ops = {
    .read = cosim_nvme_mmio_read,
    .write = cosim_nvme_mmio_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    /* the core rejects (and logs) anything but aligned 4/8-byte access */
    .valid = { .min_access_size = 1, .max_access_size = 8 },
    .impl = { .min_access_size = 1, .max_access_size = 8 },
};

static void cosim_nvme_bh(void *opaque)
{
    CosimNvmeState *s = opaque;

    nvme_ctrl_process(s->ctrl);
}

/* ---- device ---- */

static unsigned int cosim_nvme_instances;

/* Identify strings: optional property, ASCII, bounded by the field size. */
static bool cosim_nvme_id_string(char *dst, size_t size, const char *val,
                                 const char *name, Error **errp)
{
    if (!val) {
        return true;
    }
    if (strlen(val) >= size) {
        error_setg(errp, "cosim-nvme: %s is longer than %zu characters",
                   name, size - 1);
        return false;
    }
    pstrcpy(dst, size, val);
    return true;
}

static bool cosim_nvme_params(CosimNvmeState *s, Error **errp)
{
    struct nvme_ctrl_params *p = &s->params;
    const char *err;

    nvme_ctrl_params_default(p);
    /*
     * Without serial= each controller still gets its own (COSIM0001, 0002,
     * ...): Linux folds controllers with equal VID/SN/MN into one subsystem.
     */
    snprintf(p->serial, sizeof(p->serial), "COSIM%04u", ++cosim_nvme_instances);
    if (!cosim_nvme_id_string(p->serial, sizeof(p->serial), s->serial,
                              "serial", errp) ||
        !cosim_nvme_id_string(p->model, sizeof(p->model), s->model,
                              "model", errp) ||
        !cosim_nvme_id_string(p->firmware, sizeof(p->firmware), s->firmware,
                              "firmware", errp)) {
        return false;
    }
    p->vid = s->vendor_id;
    p->ssvid = s->subsys_vendor_id;
    p->mdts = s->mdts;
    p->max_ioqpairs = s->max_ioqpairs;
    p->mqes = s->mqes;
    p->dstrd = s->dstrd;
    p->nn = s->nn;
    p->aerl = s->aerl;
    p->acl = s->acl;
    p->timeout = s->cap_to;
    p->ns_notice_aen = s->ns_notice_aen;
    p->fw_slots = s->fw_slots;
    p->vs = s->vs;
    p->ready_delay_ms = s->ready_delay_ms;
    p->ams = s->ams;
    p->ledger = s->ledger;
    p->nr_vectors = s->max_ioqpairs + 1;
    err = nvme_ctrl_params_check(p);
    if (err) {
        error_setg(errp, "cosim-nvme: %s", err);
        return false;
    }
    return true;
}

static void cosim_nvme_del_blocker(CosimNvmeState *s)
{
    migrate_del_blocker(s->migration_blocker);
    error_free(s->migration_blocker);
    s->migration_blocker = NULL;
}

static void cosim_nvme_realize(PCIDevice *pci, Error **errp)
{
    CosimNvmeState *s = COSIM_NVME(pci);
    DeviceState *dev = DEVICE(pci);
    uint8_t *conf = pci->config;
    unsigned int v;

    if (!cosim_nvme_params(s, errp)) {
        return;
    }
    /*
     * Say why rather than QEMU's "non-migratable device": nothing of the
     * core's state (queues, commands out at the block layer, fault rules)
     * is in the migration stream.  Blocks migrate, savevm and snapshot-save.
     */
    error_setg(&s->migration_blocker, "cosim-nvme%s%s does not support "
               "migration or snapshots: its queues, commands in flight and "
               "fault rules are not saved", dev->id ? " " : "",
               dev->id ? dev->id : "");
    if (migrate_add_blocker(s->migration_blocker, errp) < 0) {
        error_free(s->migration_blocker);
        s->migration_blocker = NULL;
        return;
    }

    pci_config_set_vendor_id(conf, s->vendor_id);
    pci_config_set_device_id(conf, s->device_id);
    pci_config_set_class(conf, PCI_CLASS_STORAGE_EXPRESS);
    pci_config_set_prog_interface(conf, 0x2);
    pci_set_word(conf + PCI_SUBSYSTEM_VENDOR_ID, s->subsys_vendor_id);
    pci_set_word(conf + PCI_SUBSYSTEM_ID, s->subsys_id);
    conf[PCI_INTERRUPT_PIN] = 1;
    pcie_endpoint_cap_init(pci, 0x80);

    memory_region_init_io(&s->bar0, OBJECT(s), &cosim_nvme_mmio_ops, s,
                          "cosim-nvme-regs", nvme_ctrl_bar_size(&s->params));
    pci_register_bar(pci, 0, PCI_BASE_ADDRESS_SPACE_MEMORY |
                     PCI_BASE_ADDRESS_MEM_TYPE_64, &s->bar0);
    if (msix_init_exclusive_bar(pci, s->params.nr_vectors,
                                COSIM_NVME_MSIX_BAR, errp)) {
        cosim_nvme_del_blocker(s);
        return;
    }
    for (v = 0; v < s->params.nr_vectors; v++) {
        msix_vector_use(pci, v);
    }

    s->ctrl = nvme_ctrl_new(&s->params, &cosim_nvme_host_ops, s);
    if (!s->ctrl) {
        msix_uninit_exclusive_bar(pci);
        cosim_nvme_del_blocker(s);
        error_setg(errp, "cosim-nvme: cannot create the controller");
        return;
    }
    s->bh = qemu_bh_new_guarded(cosim_nvme_bh, s, &dev->mem_reentrancy_guard);
    s->timer = timer_new_ns(QEMU_CLOCK_VIRTUAL, cosim_nvme_timer_cb, s);
    QTAILQ_INIT(&s->ios);
    if (s->faults && !cosim_nvme_load_faults(s, s->faults, errp)) {
        timer_free(s->timer);
        qemu_bh_delete(s->bh);
        nvme_ctrl_free(s->ctrl);
        s->ctrl = NULL;
        msix_uninit_exclusive_bar(pci);
        cosim_nvme_del_blocker(s);
        return;
    }

    /* namespaces attach with -device cosim-nvme-ns,bus=<controller id> */
    qbus_init(&s->bus, sizeof(s->bus), TYPE_COSIM_NVME_BUS, dev, dev->id);
    qbus_set_hotplug_handler(BUS(&s->bus), OBJECT(s));
}

static void cosim_nvme_exit(PCIDevice *pci)
{
    CosimNvmeState *s = COSIM_NVME(pci);

    cosim_nvme_drain(s, false);
    timer_free(s->timer);
    qemu_bh_delete(s->bh);
    nvme_ctrl_free(s->ctrl);
    s->ctrl = NULL;
    msix_uninit_exclusive_bar(pci);
    cosim_nvme_del_blocker(s);
}

static void cosim_nvme_reset(DeviceState *dev)
{
    CosimNvmeState *s = COSIM_NVME(dev);

    trace_cosim_nvme_reset();
    if (nvme_ctrl_in_call(s->ctrl)) {
        /*
         * A guest-aimed MSI-X message or DMA write reset us while the core
         * was calling out: draining here would run completions and our
         * bottom half under it.  The core stops at once and resets as it
         * returns; block requests still out are orphaned (see
         * nvme_ctrl_reset).
         */
        nvme_ctrl_reset(s->ctrl);
        return;
    }
    cosim_nvme_drain(s, true);
    nvme_ctrl_reset(s->ctrl);
}

/*
 * Power loss and power back on: commands are gone without a completion
 * (block requests already out still reach the medium), the volatile write
 * caches lose what was not durable, and the
 * controller comes back in its power-on state (CC.EN=0, no queues).  The
 * PCI function keeps its configuration, so the host notices only as a
 * controller that stopped answering: its commands time out, and it resets
 * and brings the controller up again.  The core is reset first, so that it
 * fetches nothing more while the namespaces drain; the requests it orphans
 * are then drained to the end, every namespace's, before any cache is
 * rolled back: what reaches the image must be settled first, and nothing
 * may complete into a cache while it is written back.
 */
int64_t cosim_nvme_power_loss(CosimNvmeState *s, Error **errp)
{
    int64_t lost;

    nvme_ctrl_reset(s->ctrl);
    cosim_nvme_drain(s, false);
    lost = cosim_nvme_ns_power_loss(s, errp);
    trace_cosim_nvme_power_loss(lost);
    return lost;
}

/*
 * After a vanish fault the function is off the bus: config reads return all
 * ones (what a root port answers for a missing device, and how a driver's
 * pci_device_is_present() finds out) and writes go nowhere, until a reset
 * powers it on again.
 */
static uint32_t cosim_nvme_config_read(PCIDevice *pci, uint32_t addr, int len)
{
    CosimNvmeState *s = COSIM_NVME(pci);

    if (s->ctrl && nvme_ctrl_gone(s->ctrl)) {
        return MAKE_64BIT_MASK(0, len * 8);
    }
    return pci_default_read_config(pci, addr, len);
}

static void cosim_nvme_config_write(PCIDevice *pci, uint32_t addr,
                                    uint32_t val, int len)
{
    CosimNvmeState *s = COSIM_NVME(pci);

    if (s->ctrl && nvme_ctrl_gone(s->ctrl)) {
        return;
    }
    pci_default_write_config(pci, addr, val, len);
}

/* device_del of a namespace: its unrealize drains and detaches it. */
static void cosim_nvme_ns_unplug(HotplugHandler *hotplug_dev, DeviceState *dev,
                                 Error **errp)
{
    qdev_unrealize(dev);
}

/*
 * Read-only QOM state for the harness (qom-get over QMP): the registers a
 * host sees and the block requests the model has out.
 */
static void cosim_nvme_get_state(Object *obj, Visitor *v, const char *name,
                                 void *opaque, Error **errp)
{
    CosimNvmeState *s = COSIM_NVME(obj);
    uint32_t val = 0;

    if (s->ctrl) {
        if (!strcmp(name, "csts")) {
            val = nvme_ctrl_mmio_read(s->ctrl, NVME_REG_CSTS, 4);
        } else if (!strcmp(name, "cc")) {
            val = nvme_ctrl_mmio_read(s->ctrl, NVME_REG_CC, 4);
        } else {
            val = nvme_ctrl_io_inflight(s->ctrl);
        }
    }
    visit_type_uint32(v, name, &val, errp);
}

static Property cosim_nvme_props[] = {
    DEFINE_PROP_STRING("serial", CosimNvmeState, serial),
    DEFINE_PROP_STRING("model", CosimNvmeState, model),
    DEFINE_PROP_STRING("firmware", CosimNvmeState, firmware),
    DEFINE_PROP_UINT16("vendor-id", CosimNvmeState, vendor_id,
                       COSIM_NVME_VENDOR_ID),
    DEFINE_PROP_UINT16("device-id", CosimNvmeState, device_id,
                       COSIM_NVME_DEVICE_ID),
    DEFINE_PROP_UINT16("subsys-vendor-id", CosimNvmeState, subsys_vendor_id,
                       COSIM_NVME_VENDOR_ID),
    DEFINE_PROP_UINT16("subsys-id", CosimNvmeState, subsys_id, 0x0001),
    DEFINE_PROP_UINT8("mdts", CosimNvmeState, mdts, 5),
    DEFINE_PROP_UINT16("max-ioqpairs", CosimNvmeState, max_ioqpairs, 8),
    DEFINE_PROP_UINT16("mqes", CosimNvmeState, mqes, 1023),
    DEFINE_PROP_UINT8("dstrd", CosimNvmeState, dstrd, 0),
    DEFINE_PROP_UINT32("nn", CosimNvmeState, nn, 32),
    DEFINE_PROP_UINT8("aerl", CosimNvmeState, aerl, 3),
    DEFINE_PROP_UINT8("acl", CosimNvmeState, acl, 3),
    DEFINE_PROP_UINT8("cap-to", CosimNvmeState, cap_to, 20),
    DEFINE_PROP_BOOL("ns-notice-aen", CosimNvmeState, ns_notice_aen, false),
    DEFINE_PROP_UINT8("fw-slots", CosimNvmeState, fw_slots, 2),
    DEFINE_PROP_UINT32("vs", CosimNvmeState, vs, 0x10000),
    DEFINE_PROP_UINT32("ready-delay-ms", CosimNvmeState, ready_delay_ms, 0),
    DEFINE_PROP_UINT8("ams", CosimNvmeState, ams, 0),
    DEFINE_PROP_UINT32("volatile-cache-mb", CosimNvmeState, volatile_cache_mb,
                       0),
    DEFINE_PROP_BOOL("ledger", CosimNvmeState, ledger, false),
    DEFINE_PROP_STRING("faults", CosimNvmeState, faults),
    DEFINE_PROP_END_OF_LIST(),
};

static void cosim_nvme_class_init(ObjectClass *oc, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(oc);
    PCIDeviceClass *pc = PCI_DEVICE_CLASS(oc);
    HotplugHandlerClass *hc = HOTPLUG_HANDLER_CLASS(oc);

    pc->realize = cosim_nvme_realize;
    pc->exit = cosim_nvme_exit;
    pc->config_read = cosim_nvme_config_read;
    pc->config_write = cosim_nvme_config_write;
    pc->class_id = PCI_CLASS_STORAGE_EXPRESS;
    pc->vendor_id = COSIM_NVME_VENDOR_ID;
    pc->device_id = COSIM_NVME_DEVICE_ID;
    hc->unplug = cosim_nvme_ns_unplug;

    set_bit(DEVICE_CATEGORY_STORAGE, dc->categories);
    dc->desc = "cosim-nvme NVMe 1.0e controller model";
    dc->reset = cosim_nvme_reset;
    device_class_set_props(dc, cosim_nvme_props);
    object_class_property_add(oc, "csts", "uint32", cosim_nvme_get_state,
                              NULL, NULL, NULL);
    object_class_property_add(oc, "cc", "uint32", cosim_nvme_get_state,
                              NULL, NULL, NULL);
    object_class_property_add(oc, "io-inflight", "uint32",
                              cosim_nvme_get_state, NULL, NULL, NULL);
    object_class_property_add(oc, "stats", "CosimNvmeStats",
                              cosim_nvme_get_stats, NULL, NULL, NULL);
    object_class_property_add(oc, "commands-completed", "uint64",
                              cosim_nvme_get_stats, NULL, NULL, NULL);
    object_class_property_add(oc, "commands-dropped", "uint64",
                              cosim_nvme_get_stats, NULL, NULL, NULL);
}

static const TypeInfo cosim_nvme_info = {
    .name = TYPE_COSIM_NVME,
    .parent = TYPE_PCI_DEVICE,
    .instance_size = sizeof(CosimNvmeState),
    .class_init = cosim_nvme_class_init,
    .interfaces = (InterfaceInfo[]) {
        { INTERFACE_PCIE_DEVICE },
        { TYPE_HOTPLUG_HANDLER },
        { }
    },
};

static void cosim_nvme_register_types(void)
{
    type_register_static(&cosim_nvme_info);
}

type_init(cosim_nvme_register_types)
