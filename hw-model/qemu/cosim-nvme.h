/*
 * cosim-nvme: QEMU glue for the NVMe 1.0e controller model in ../core.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HW_COSIM_NVME_H
#define HW_COSIM_NVME_H

#include "hw/pci/pci.h"
#include "hw/block/block.h"
#include "qom/object.h"
#include "../core/nvme_ctrl.h"

#define TYPE_COSIM_NVME "cosim-nvme"
OBJECT_DECLARE_SIMPLE_TYPE(CosimNvmeState, COSIM_NVME)

#define TYPE_COSIM_NVME_BUS "cosim-nvme-bus"
OBJECT_DECLARE_SIMPLE_TYPE(CosimNvmeBus, COSIM_NVME_BUS)

#define TYPE_COSIM_NVME_NS "cosim-nvme-ns"
OBJECT_DECLARE_SIMPLE_TYPE(CosimNvmeNs, COSIM_NVME_NS)

/* Test-only PCI ID under QEMU's de-facto emulated-device vendor 0x1234. */
#define COSIM_NVME_VENDOR_ID    0x1234
#define COSIM_NVME_DEVICE_ID    0x4e56

typedef struct CosimNvmeIo CosimNvmeIo;
typedef struct CosimNvmeCache CosimNvmeCache;

/* The controller's namespace bus; named after the controller's id=. */
struct CosimNvmeBus {
    BusState parent_obj;
};

struct CosimNvmeState {
    PCIDevice parent_obj;

    MemoryRegion bar0;
    CosimNvmeBus bus;
    QEMUBH *bh;
    QEMUTimer *timer;                   /* fault engine: delay, ready-delay */
    struct nvme_ctrl *ctrl;
    struct nvme_ctrl_params params;
    QTAILQ_HEAD(, CosimNvmeIo) ios;     /* block requests in flight */
    uint64_t old_bytes;                 /* their saved old data (COSIM_NVME_OLD_MAX) */
    Error *migration_blocker;

    /* properties */
    char *serial;
    char *model;
    char *firmware;
    uint16_t vendor_id;
    uint16_t device_id;
    uint16_t subsys_vendor_id;
    uint16_t subsys_id;
    uint8_t mdts;
    uint16_t max_ioqpairs;
    uint16_t mqes;
    uint8_t dstrd;
    uint32_t nn;
    uint8_t aerl;
    uint8_t acl;
    uint8_t cap_to;
    bool ns_notice_aen;
    uint8_t fw_slots;
    uint32_t vs;
    uint32_t ready_delay_ms;
    uint8_t ams;                        /* CAP.AMS: 1 = WRR with urgent */
    uint32_t volatile_cache_mb;         /* per namespace; 0: writes durable */
    bool ledger;                        /* keep the ledger of acknowledged writes */
    char *faults;                       /* JSON file of fault rules */
};

struct CosimNvmeNs {
    DeviceState parent_obj;

    BlockConf blkconf;
    uint32_t nsid;          /* property; the attached id once realized */
    bool attached;
    CosimNvmeCache *cache;  /* volatile write cache, or NULL */
    GHashTable *stale;      /* stale-read fault: sector -> data to serve once */
};

/* cosim-nvme.c: finish every block request of one backend */
void cosim_nvme_drain_blk(CosimNvmeState *s, BlockBackend *blk, bool may_orphan);
/* cosim-nvme-fault.c: faults= and the stats properties */
bool cosim_nvme_load_faults(CosimNvmeState *s, const char *path, Error **errp);
void cosim_nvme_get_stats(Object *obj, Visitor *v, const char *name,
                          void *opaque, Error **errp);
void cosim_nvme_fault_event(CosimNvmeState *s, uint32_t rule, const char *action,
                            uint16_t qid, uint16_t cid);
/* cosim-nvme-ns.c: ... of every namespace */
void cosim_nvme_drain(CosimNvmeState *s, bool may_orphan);
int64_t cosim_nvme_ns_power_loss(CosimNvmeState *s, Error **errp);
void cosim_nvme_ns_write_cache_off(CosimNvmeState *s);
int64_t cosim_nvme_ns_ledger_save(CosimNvmeState *s, const char *path, Error **errp);
/* cosim-nvme.c: the controller loses power and comes back */
int64_t cosim_nvme_power_loss(CosimNvmeState *s, Error **errp);

/* cosim-nvme-cache.c: a namespace's volatile write cache (see there) */
#define COSIM_NVME_CACHE_SECTOR 512
CosimNvmeCache *cosim_nvme_cache_new(uint64_t bytes);
void cosim_nvme_cache_free(CosimNvmeCache *c);
bool cosim_nvme_cache_holds(const CosimNvmeCache *c, uint64_t len);
void cosim_nvme_cache_save(CosimNvmeCache *c, uint64_t offset,
                           const uint8_t *old, uint64_t len);
void cosim_nvme_cache_persist(CosimNvmeCache *c, uint64_t offset, uint64_t len);
uint64_t cosim_nvme_cache_flush_begin(CosimNvmeCache *c);
void cosim_nvme_cache_flushed(CosimNvmeCache *c, uint64_t gen);
int64_t cosim_nvme_cache_power_loss(CosimNvmeCache *c, BlockBackend *blk,
                                    struct nvme_ctrl *ctrl, uint32_t nsid);
void cosim_nvme_stale_save(CosimNvmeNs *ns, uint64_t offset, const uint8_t *old,
                           uint64_t len);
void cosim_nvme_stale_drop(CosimNvmeNs *ns, uint64_t offset, uint64_t len);
void cosim_nvme_stale_serve(CosimNvmeNs *ns, PCIDevice *pci,
                            const struct nvme_io *io);
void cosim_nvme_stale_free(CosimNvmeNs *ns);

#endif
