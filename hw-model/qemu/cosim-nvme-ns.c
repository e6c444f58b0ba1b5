/*
 * cosim-nvme-ns: a namespace of a cosim-nvme controller, backed by a QEMU
 * block backend, on the controller's hot-pluggable namespace bus.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/module.h"
#include "hw/qdev-properties.h"
#include "hw/qdev-properties-system.h"
#include "sysemu/block-backend.h"
#include "cosim-nvme.h"
#include "trace.h"

static CosimNvmeState *cosim_nvme_ns_ctrl(DeviceState *dev)
{
    return COSIM_NVME(qdev_get_parent_bus(dev)->parent);
}

static void cosim_nvme_ns_realize(DeviceState *dev, Error **errp)
{
    CosimNvmeNs *ns = COSIM_NVME_NS(dev);
    CosimNvmeState *s = cosim_nvme_ns_ctrl(dev);
    BlockBackend *blk = ns->blkconf.blk;
    struct nvme_ns_params p = { .nsid = ns->nsid, .backend = ns };
    const char *err = NULL;
    int64_t len;
    uint32_t nsid;

    if (!blk) {
        error_setg(errp, "cosim-nvme-ns: drive property not set");
        return;
    }
    if (!blkconf_blocksizes(&ns->blkconf, errp) ||
        !blkconf_apply_backend_options(&ns->blkconf, false, false, errp)) {
        return;
    }
    len = blk_getlength(blk);
    if (len < 0) {
        error_setg_errno(errp, -len, "cosim-nvme-ns: cannot get drive size");
        return;
    }
    p.lbads = ctz32(ns->blkconf.logical_block_size);
    p.nlbas = (uint64_t)len >> p.lbads;
    nsid = nvme_ctrl_ns_attach(s->ctrl, &p, &err);
    if (!nsid) {
        error_setg(errp, "cosim-nvme-ns: %s", err);
        return;
    }
    ns->nsid = nsid;
    ns->attached = true;
    if (s->volatile_cache_mb) {
        ns->cache = cosim_nvme_cache_new((uint64_t)s->volatile_cache_mb << 20);
    }
    trace_cosim_nvme_ns_attach(nsid, p.nlbas, p.lbads);
}

static void cosim_nvme_ns_unrealize(DeviceState *dev)
{
    CosimNvmeNs *ns = COSIM_NVME_NS(dev);
    CosimNvmeState *s = cosim_nvme_ns_ctrl(dev);

    if (!ns->attached) {
        return;
    }
    /* the core must not hold block requests of a namespace it forgets */
    cosim_nvme_drain_blk(s, ns->blkconf.blk, false);
    trace_cosim_nvme_ns_detach(ns->nsid);
    nvme_ctrl_ns_detach(s->ctrl, ns->nsid);
    ns->attached = false;
    /* what the cache held stays: the namespace leaves, power stays on */
    cosim_nvme_cache_free(ns->cache);
    ns->cache = NULL;
    cosim_nvme_stale_free(ns);
    /*
     * The BlockBackend goes only when the device is finalized, after an
     * RCU grace period; give up its permissions now so the same drive can
     * be plugged again right after device_del.
     */
    blk_set_perm(ns->blkconf.blk, 0, BLK_PERM_ALL, NULL);
}

/*
 * Finish every block request of every namespace (reset, teardown); with
 * @may_orphan some may be left to the core (see cosim_nvme_drain_blk).
 */
void cosim_nvme_drain(CosimNvmeState *s, bool may_orphan)
{
    BusChild *kid;

    QTAILQ_FOREACH(kid, &BUS(&s->bus)->children, sibling) {
        CosimNvmeNs *ns = COSIM_NVME_NS(kid->child);

        if (ns->attached) {
            cosim_nvme_drain_blk(s, ns->blkconf.blk, may_orphan);
        }
    }
}

/*
 * Power loss: every namespace loses what its volatile write cache held (no
 * request may be in flight).  Returns the sectors lost.
 */
int64_t cosim_nvme_ns_power_loss(CosimNvmeState *s, Error **errp)
{
    BusChild *kid;
    int64_t lost = 0;

    QTAILQ_FOREACH(kid, &BUS(&s->bus)->children, sibling) {
        CosimNvmeNs *ns = COSIM_NVME_NS(kid->child);
        int64_t n;

        if (!ns->attached || !ns->cache) {
            continue;
        }
        n = cosim_nvme_cache_power_loss(ns->cache, ns->blkconf.blk, s->ctrl,
                                        ns->nsid);
        if (n < 0) {
            error_setg_errno(errp, -n, "cosim-nvme: namespace %u: cannot "
                             "write the image back to its durable state",
                             ns->nsid);
            return n;
        }
        trace_cosim_nvme_ns_power_loss(ns->nsid, n);
        lost += n;
    }
    return lost;
}

/*
 * Write Cache Enable went off: what every namespace's cache holds is
 * written back (the image has it already: it becomes durable).
 */
void cosim_nvme_ns_write_cache_off(CosimNvmeState *s)
{
    BusChild *kid;

    QTAILQ_FOREACH(kid, &BUS(&s->bus)->children, sibling) {
        CosimNvmeNs *ns = COSIM_NVME_NS(kid->child);

        if (ns->attached && ns->cache) {
            cosim_nvme_cache_flushed(ns->cache, cosim_nvme_cache_flush_begin(ns->cache));
        }
    }
}

/*
 * The ledger of acknowledged writes of every namespace, as records of
 * little-endian { u32 nsid, u32 lba_size, u64 lba, u32 gen, u32 crc32 }
 * for the LBAs it knows.  Returns the records, or -1 with @errp set.
 */
int64_t cosim_nvme_ns_ledger_save(CosimNvmeState *s, const char *path, Error **errp)
{
    g_autoptr(GByteArray) out = g_byte_array_new();
    g_autoptr(GError) err = NULL;
    BusChild *kid;
    int64_t n = 0;

    QTAILQ_FOREACH(kid, &BUS(&s->bus)->children, sibling) {
        CosimNvmeNs *ns = COSIM_NVME_NS(kid->child);
        const struct nvme_ledger_entry *l;
        uint64_t nlbas, lba;
        unsigned int lbads;

        if (!ns->attached) {
            continue;
        }
        l = nvme_ctrl_ledger(s->ctrl, ns->nsid, &nlbas, &lbads);
        for (lba = 0; l && lba < nlbas; lba++) {
            struct {
                uint32_t nsid, lba_size;
                uint64_t lba;
                uint32_t gen, crc;
            } QEMU_PACKED rec = {
                cpu_to_le32(ns->nsid), cpu_to_le32(1u << lbads),
                cpu_to_le64(lba), cpu_to_le32(l[lba].gen), cpu_to_le32(l[lba].crc),
            };

            if (l[lba].gen) {
                g_byte_array_append(out, (const guint8 *)&rec, sizeof(rec));
                n++;
            }
        }
    }
    if (!g_file_set_contents(path, (const char *)out->data, out->len, &err)) {
        error_setg(errp, "'path': %s", err->message);
        return -1;
    }
    return n;
}

static Property cosim_nvme_ns_props[] = {
    DEFINE_BLOCK_PROPERTIES(CosimNvmeNs, blkconf),
    DEFINE_PROP_UINT32("nsid", CosimNvmeNs, nsid, 0),
    DEFINE_PROP_END_OF_LIST(),
};

static void cosim_nvme_ns_class_init(ObjectClass *oc, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(oc);

    set_bit(DEVICE_CATEGORY_STORAGE, dc->categories);
    dc->bus_type = TYPE_COSIM_NVME_BUS;
    dc->realize = cosim_nvme_ns_realize;
    dc->unrealize = cosim_nvme_ns_unrealize;
    dc->hotpluggable = true;
    dc->desc = "cosim-nvme namespace";
    device_class_set_props(dc, cosim_nvme_ns_props);
}

static const TypeInfo cosim_nvme_ns_info = {
    .name = TYPE_COSIM_NVME_NS,
    .parent = TYPE_DEVICE,
    .instance_size = sizeof(CosimNvmeNs),
    .class_init = cosim_nvme_ns_class_init,
};

static const TypeInfo cosim_nvme_bus_info = {
    .name = TYPE_COSIM_NVME_BUS,
    .parent = TYPE_BUS,
    .instance_size = sizeof(CosimNvmeBus),
};

static void cosim_nvme_ns_register_types(void)
{
    type_register_static(&cosim_nvme_bus_info);
    type_register_static(&cosim_nvme_ns_info);
}

type_init(cosim_nvme_ns_register_types)
