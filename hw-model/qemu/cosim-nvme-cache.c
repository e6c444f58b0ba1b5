/*
 * cosim-nvme-cache: the volatile write cache of a namespace, and power loss.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The controller reports a volatile write cache (Identify VWC=1).  With
 * volatile-cache-mb > 0 the cache really is volatile: data a Write put in
 * the cache reaches the medium only with FUA, with a Flush that completed
 * after it, or when the cache has to make room; a power loss loses the
 * rest.
 *
 * Writes still go to the image at once, so every later Read sees them as a
 * cache would serve them.  What the cache keeps is the other side: for each
 * 512-byte sector written since it was last made durable, the contents it
 * had then (an undo log).  A power loss writes those back, which leaves the
 * image as if every non-durable write had never left the cache -- the
 * harshest outcome a real power loss may have, and the one a driver that
 * forgets Flush or FUA cannot survive.
 *
 * Durability is decided per sector:
 *  - a Write without FUA saves the sectors' old contents first, unless
 *    they are saved already (the oldest contents are the durable ones);
 *  - a Write with FUA, a Deallocate, or a Write larger than the cache
 *    makes its sectors durable (drops their saved contents);
 *  - a Flush makes durable every sector saved before it was submitted, once
 *    it completes with success (entries carry the flush generation current
 *    when they were saved);
 *  - past the cache's size the oldest sectors are made durable (written
 *    back, as a full cache does on its own).
 */
#include "qemu/osdep.h"
#include "qemu/queue.h"
#include "sysemu/block-backend.h"
#include "sysemu/dma.h"
#include "cosim-nvme.h"

typedef struct CosimNvmeCacheEntry CosimNvmeCacheEntry;

struct CosimNvmeCacheEntry {
    uint64_t sector;                /* the hash key */
    uint64_t gen;                   /* flush generation when saved */
    QTAILQ_ENTRY(CosimNvmeCacheEntry) next;
    uint8_t data[COSIM_NVME_CACHE_SECTOR];  /* contents before the write */
};

struct CosimNvmeCache {
    GHashTable *sectors;            /* sector -> entry */
    QTAILQ_HEAD(, CosimNvmeCacheEntry) order;   /* oldest first */
    uint64_t entries;
    uint64_t max_entries;
    uint64_t gen;
};

CosimNvmeCache *cosim_nvme_cache_new(uint64_t bytes)
{
    CosimNvmeCache *c = g_new0(CosimNvmeCache, 1);

    c->sectors = g_hash_table_new(g_int64_hash, g_int64_equal);
    QTAILQ_INIT(&c->order);
    c->max_entries = bytes / COSIM_NVME_CACHE_SECTOR;
    return c;
}

static void cosim_nvme_cache_drop(CosimNvmeCache *c, CosimNvmeCacheEntry *e)
{
    g_hash_table_remove(c->sectors, &e->sector);
    QTAILQ_REMOVE(&c->order, e, next);
    c->entries--;
    g_free(e);
}

void cosim_nvme_cache_free(CosimNvmeCache *c)
{
    CosimNvmeCacheEntry *e, *next;

    if (!c) {
        return;
    }
    QTAILQ_FOREACH_SAFE(e, &c->order, next, next) {
        cosim_nvme_cache_drop(c, e);
    }
    g_hash_table_destroy(c->sectors);
    g_free(c);
}

bool cosim_nvme_cache_holds(const CosimNvmeCache *c, uint64_t len)
{
    return len / COSIM_NVME_CACHE_SECTOR <= c->max_entries;
}

/* A Write of @len bytes at @offset, whose old contents are @old, enters. */
void cosim_nvme_cache_save(CosimNvmeCache *c, uint64_t offset,
                           const uint8_t *old, uint64_t len)
{
    uint64_t first = offset / COSIM_NVME_CACHE_SECTOR;
    uint64_t n = len / COSIM_NVME_CACHE_SECTOR;
    uint64_t i;

    for (i = 0; i < n; i++) {
        uint64_t sector = first + i;
        CosimNvmeCacheEntry *e;

        if (g_hash_table_contains(c->sectors, &sector)) {
            continue;
        }
        e = g_new(CosimNvmeCacheEntry, 1);
        e->sector = sector;
        e->gen = c->gen;
        memcpy(e->data, old + i * COSIM_NVME_CACHE_SECTOR,
               COSIM_NVME_CACHE_SECTOR);
        g_hash_table_add(c->sectors, &e->sector);
        QTAILQ_INSERT_TAIL(&c->order, e, next);
        c->entries++;
    }
    while (c->entries > c->max_entries) {
        cosim_nvme_cache_drop(c, QTAILQ_FIRST(&c->order));
    }
}

/* @len bytes at @offset are durable now (FUA, Deallocate, write-through). */
void cosim_nvme_cache_persist(CosimNvmeCache *c, uint64_t offset, uint64_t len)
{
    uint64_t first = offset / COSIM_NVME_CACHE_SECTOR;
    uint64_t end = DIV_ROUND_UP(offset + len, COSIM_NVME_CACHE_SECTOR);
    uint64_t sector;

    if (end - first > c->entries) {
        /* a large range over a small cache: look at the entries instead */
        CosimNvmeCacheEntry *e, *next;

        QTAILQ_FOREACH_SAFE(e, &c->order, next, next) {
            if (e->sector >= first && e->sector < end) {
                cosim_nvme_cache_drop(c, e);
            }
        }
        return;
    }
    for (sector = first; sector < end; sector++) {
        CosimNvmeCacheEntry *e = g_hash_table_lookup(c->sectors, &sector);

        if (e) {
            cosim_nvme_cache_drop(c, e);
        }
    }
}

/* A Flush is submitted: returns what to pass to cosim_nvme_cache_flushed. */
uint64_t cosim_nvme_cache_flush_begin(CosimNvmeCache *c)
{
    return ++c->gen;
}

/* The Flush that began as @gen completed with success. */
void cosim_nvme_cache_flushed(CosimNvmeCache *c, uint64_t gen)
{
    CosimNvmeCacheEntry *e;

    while ((e = QTAILQ_FIRST(&c->order)) && e->gen < gen) {
        cosim_nvme_cache_drop(c, e);
    }
}

/*
 * Power loss: the medium loses every sector not yet durable, and the
 * ledger of acknowledged writes what it knew of them.  No request of @blk
 * may be in flight.  Returns the sectors lost, or a negative errno
 * if the image could not be written.
 */
int64_t cosim_nvme_cache_power_loss(CosimNvmeCache *c, BlockBackend *blk,
                                    struct nvme_ctrl *ctrl, uint32_t nsid)
{
    CosimNvmeCacheEntry *e, *next;
    int64_t lost = 0;
    int ret;

    QTAILQ_FOREACH_SAFE(e, &c->order, next, next) {
        ret = blk_pwrite(blk, e->sector * COSIM_NVME_CACHE_SECTOR,
                         COSIM_NVME_CACHE_SECTOR, e->data, 0);
        if (ret < 0) {
            return ret;
        }
        /* what the sector holds now is not what the host was told of */
        nvme_ctrl_ledger_forget(ctrl, nsid, e->sector * COSIM_NVME_CACHE_SECTOR,
                                COSIM_NVME_CACHE_SECTOR);
        cosim_nvme_cache_drop(c, e);
        lost++;
    }
    ret = blk_flush(blk);
    return ret < 0 ? ret : lost;
}

/*
 * The stale-read fault: a Write reaches the medium, but the cache keeps
 * what its sectors held before and serves that, once, to the next Read of
 * them -- a stale cache line.  A later Write or Deallocate of a sector
 * supersedes it.
 */
void cosim_nvme_stale_save(CosimNvmeNs *ns, uint64_t offset, const uint8_t *old,
                           uint64_t len)
{
    uint64_t i;

    if (!ns->stale) {
        ns->stale = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free,
                                          g_free);
    }
    for (i = 0; i < len / COSIM_NVME_CACHE_SECTOR; i++) {
        uint64_t *sector = g_new(uint64_t, 1);

        *sector = offset / COSIM_NVME_CACHE_SECTOR + i;
        g_hash_table_replace(ns->stale, sector,
                             g_memdup2(old + i * COSIM_NVME_CACHE_SECTOR,
                                       COSIM_NVME_CACHE_SECTOR));
    }
}

void cosim_nvme_stale_drop(CosimNvmeNs *ns, uint64_t offset, uint64_t len)
{
    uint64_t sector = offset / COSIM_NVME_CACHE_SECTOR;
    uint64_t end = DIV_ROUND_UP(offset + len, COSIM_NVME_CACHE_SECTOR);
    GHashTableIter it;
    gpointer key;

    if (!ns->stale || !g_hash_table_size(ns->stale)) {
        return;
    }
    if (end - sector <= g_hash_table_size(ns->stale)) {
        for (; sector < end; sector++) {
            g_hash_table_remove(ns->stale, &sector);
        }
        return;
    }
    /* a large range (Deallocate) over a few entries: walk the entries */
    g_hash_table_iter_init(&it, ns->stale);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        if (*(uint64_t *)key >= sector && *(uint64_t *)key < end) {
            g_hash_table_iter_remove(&it);
        }
    }
}

/* A Read's data is in guest memory: overwrite the stale sectors in it. */
void cosim_nvme_stale_serve(CosimNvmeNs *ns, PCIDevice *pci,
                            const struct nvme_io *io)
{
    uint64_t pos = 0;       /* byte of the transfer */
    unsigned int i;

    if (!ns->stale || !g_hash_table_size(ns->stale)) {
        return;
    }
    for (i = 0; i < io->nsg; i++) {
        uint64_t done = 0;

        while (done < io->sg[i].len) {
            uint64_t byte = io->offset + pos;
            uint64_t sector = byte / COSIM_NVME_CACHE_SECTOR;
            uint64_t in = byte % COSIM_NVME_CACHE_SECTOR;
            uint64_t n = MIN(io->sg[i].len - done, COSIM_NVME_CACHE_SECTOR - in);
            const uint8_t *old = g_hash_table_lookup(ns->stale, &sector);

            if (old) {
                pci_dma_write(pci, io->sg[i].addr + done, old + in, n);
                if (in + n == COSIM_NVME_CACHE_SECTOR) {
                    g_hash_table_remove(ns->stale, &sector);     /* served */
                }
            }
            done += n;
            pos += n;
        }
    }
}

void cosim_nvme_stale_free(CosimNvmeNs *ns)
{
    if (ns->stale) {
        g_hash_table_destroy(ns->stale);
        ns->stale = NULL;
    }
}
