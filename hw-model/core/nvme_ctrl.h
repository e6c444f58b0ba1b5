/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cosim-nvme core: an NVMe 1.0e controller in plain C.
 *
 * The core owns the register file, the queues and command semantics.  It
 * knows nothing of the emulator hosting it: guest memory, interrupts, block
 * storage and deferred work all go through struct nvme_host_ops.  The QEMU
 * glue in ../qemu and the fake host of the unit tests are the two hosts.
 *
 * Threading: the core is not thread safe; the host calls every entry point
 * from one thread (QEMU: under the BQL, main loop).
 */
#ifndef COSIM_NVME_CTRL_H
#define COSIM_NVME_CTRL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nvme_ctrl;

/* One guest-physical extent of a data transfer, built from PRPs. */
struct nvme_sg {
	uint64_t addr;
	uint64_t len;
};

enum nvme_io_op {
	NVME_IO_READ,		/* storage -> guest memory */
	NVME_IO_WRITE,		/* guest memory -> storage */
	NVME_IO_FLUSH,		/* make previous writes durable */
	NVME_IO_READ_BUF,	/* storage -> io->buf, a host buffer of len bytes */
	/*
	 * Deallocate: io->sg[0..nsg) are byte ranges of storage (addr = offset,
	 * len = bytes), not guest memory; afterwards they read as zeroes (the
	 * host writes zeroes and may unmap).  offset/len are unused.
	 */
	NVME_IO_ZERO,
};

/*
 * A block request handed to the host by io_submit().  The host performs it
 * asynchronously (DMA straight between storage and the sg extents) and then
 * calls nvme_io_complete() exactly once, from any later point in time --
 * including from within io_submit() itself.
 */
struct nvme_io {
	enum nvme_io_op op;
	void *backend;		/* the namespace's host handle (nvme_ns_params) */
	uint64_t offset;	/* bytes */
	uint64_t len;		/* bytes; 0 for flush */
	bool fua;		/* write: force unit access */
	/*
	 * write (stale-read fault): the host keeps what the LBAs held before,
	 * and returns it instead to the next Read of them
	 */
	bool stale_read;
	const struct nvme_sg *sg;
	unsigned int nsg;
	void *buf;		/* NVME_IO_READ_BUF only */
	void *host_priv;	/* free for the host's own bookkeeping */
};

/* Errors a host reports through nvme_io_complete(): 0 or a negative errno. */

struct nvme_host_ops {
	/* Guest memory access; return 0 on success, nonzero if the access failed. */
	int (*dma_read)(void *opaque, uint64_t addr, void *buf, size_t len);
	int (*dma_write)(void *opaque, uint64_t addr, const void *buf, size_t len);
	/* Interrupts: MSI-X (one vector per CQ) when enabled, else INTx level. */
	bool (*msix_enabled)(void *opaque);
	void (*msix_notify)(void *opaque, uint16_t vector);
	void (*intx_set)(void *opaque, bool level);
	/*
	 * Ask the host to call nvme_ctrl_process() soon from a clean context
	 * (not from inside an MMIO access).  Doorbells only record and schedule.
	 */
	void (*schedule)(void *opaque);
	/* Start a block request; see struct nvme_io. */
	void (*io_submit)(void *opaque, struct nvme_io *io);
	/* Optional: report guest misprogramming (one line, no newline). */
	void (*guest_error)(void *opaque, const char *msg);
	/* Optional: observe each fetched command and each posted completion. */
	void (*trace_cmd)(void *opaque, uint16_t sqid, uint16_t cid, uint8_t opcode,
			  uint32_t nsid);
	void (*trace_cqe)(void *opaque, uint16_t sqid, uint16_t cid, uint16_t status,
			  uint32_t dw0);
	/*
	 * Optional (fault engine: delay, ready-delay): a clock in ns and one
	 * timer; at @deadline_ns the host calls nvme_ctrl_timer().
	 * UINT64_MAX cancels.  Without them delays end at the next process().
	 */
	uint64_t (*clock_ns)(void *opaque);
	void (*timer_mod)(void *opaque, uint64_t deadline_ns);
	/*
	 * Optional: a fault rule fired.  Command rules give the command's SQ id
	 * and CID; event rules give qid = the CQ (drop-irq) or 0, cid 0xffff.
	 */
	void (*trace_fault)(void *opaque, uint32_t rule, const char *action, uint16_t qid,
			    uint16_t cid);
	/*
	 * Optional: an Abort named this block request.  Stop it early if the
	 * host can (QEMU: blk_aio_cancel_async); either way the host still
	 * calls nvme_io_complete() exactly once, possibly from inside this
	 * call.  The core completes the command with Command Abort Requested
	 * whatever the result, so a request that could not be stopped only
	 * takes longer.
	 */
	void (*io_cancel)(void *opaque, struct nvme_io *io);
	/*
	 * Optional: Set Features turned the volatile write cache off (WCE
	 * 1 -> 0).  The host writes back what its caches hold before the
	 * command completes, as a drive does: a later power loss must not
	 * take what the cache held when it was turned off.
	 */
	void (*write_cache_off)(void *opaque);
};

struct nvme_ctrl_params {
	uint16_t vid;			/* PCI vendor id, echoed in Identify VID */
	uint16_t ssvid;			/* PCI subsystem vendor id */
	char serial[21];		/* Identify SN, ASCII */
	char model[41];			/* Identify MN */
	char firmware[9];		/* Identify FR */
	uint8_t mdts;			/* max transfer = 2^mdts * 4 KiB, 1..10 */
	uint16_t max_ioqpairs;		/* I/O SQs = I/O CQs, 1..1024 */
	uint16_t mqes;			/* CAP.MQES, 0-based, 1..65535 */
	uint8_t dstrd;			/* CAP.DSTRD, 0..8 */
	uint32_t nn;			/* namespace ids 1..nn, 1..1024 */
	uint16_t nr_vectors;		/* MSI-X vectors the host provides */
	uint8_t aerl;			/* 0-based outstanding AER limit */
	uint8_t acl;			/* 0-based outstanding Abort limit */
	uint8_t timeout;		/* CAP.TO in 500 ms units */
	/*
	 * Beyond 1.0e: announce namespace attach/detach with the NVMe 1.2
	 * Notice event and Changed Namespace List log (OAES bit 8).
	 */
	bool ns_notice_aen;
	uint8_t fw_slots;		/* firmware slots 1..7; slot 1 is read-only */
	/*
	 * VS register: NVME_VS_1_0 (default), _1_1 (adds Identify CNS 2) or
	 * _1_2 (adds Identify VER); the command set stays 1.0e's.
	 */
	uint32_t vs;
	/* CSTS.RDY follows CC.EN 0->1 after this many ms, <= CAP.TO * 500 */
	uint32_t ready_delay_ms;
	/*
	 * CAP.AMS: 0 = round robin only, 1 = weighted round robin with
	 * urgent priority class offered (the host selects it with CC.AMS).
	 */
	uint8_t ams;
	/*
	 * Keep the ledger of acknowledged writes (nvme_ctrl_ledger): a read
	 * and a CRC of every Write's data, so off unless asked for.
	 */
	bool ledger;
};

/* Fill @p with the defaults (see DESIGN.md) */
void nvme_ctrl_params_default(struct nvme_ctrl_params *p);
/* NULL if @p is usable, else a message naming the bad field */
const char *nvme_ctrl_params_check(const struct nvme_ctrl_params *p);
/* Size BAR0 must have (registers + doorbells), a power of two >= 8 KiB */
uint64_t nvme_ctrl_bar_size(const struct nvme_ctrl_params *p);

struct nvme_ctrl *nvme_ctrl_new(const struct nvme_ctrl_params *p,
				const struct nvme_host_ops *ops, void *opaque);
void nvme_ctrl_free(struct nvme_ctrl *ctrl);

/* BAR0 access; size is 4 or 8.  Never fails; bad accesses are ignored. */
uint64_t nvme_ctrl_mmio_read(struct nvme_ctrl *ctrl, uint64_t addr, unsigned int size);
void nvme_ctrl_mmio_write(struct nvme_ctrl *ctrl, uint64_t addr, uint64_t val,
			  unsigned int size);

/* Deferred work requested through ops->schedule(). */
void nvme_ctrl_process(struct nvme_ctrl *ctrl);

/*
 * Controller-level reset (PCI/system reset), immediate, unless an op the
 * core is calling asked for it (a guest-aimed MSI-X message or DMA write
 * that resets the function): then nothing completes from that moment and
 * the reset runs as the core returns to the host.  The host should finish
 * its block requests first (QEMU: drain); any still out are orphaned: their
 * later nvme_io_complete() is accepted and dropped.
 */
void nvme_ctrl_reset(struct nvme_ctrl *ctrl);

/*
 * The core is calling one of the host's ops right now: a reset requested
 * now only stops the controller, and the host must not drain (its nested
 * event loop would run completions and bottom halves under the core).
 */
bool nvme_ctrl_in_call(const struct nvme_ctrl *ctrl);

/* Block requests the host has not completed yet. */
unsigned int nvme_ctrl_io_inflight(const struct nvme_ctrl *ctrl);

void nvme_io_complete(struct nvme_io *io, int ret);

/* ---- Namespaces ---- */
struct nvme_ns_params {
	uint32_t nsid;			/* 0: lowest free id */
	uint8_t lbads;			/* log2 LBA size, 9..12 */
	uint64_t nlbas;			/* capacity in LBAs */
	void *backend;			/* passed back in nvme_io.backend */
};

/* Returns the attached nsid, or 0 with *err set. */
uint32_t nvme_ctrl_ns_attach(struct nvme_ctrl *ctrl, const struct nvme_ns_params *p,
			     const char **err);
/* The host must have drained the namespace's block requests. */
void nvme_ctrl_ns_detach(struct nvme_ctrl *ctrl, uint32_t nsid);

/*
 * The ledger of acknowledged writes (ledger.c): per LBA of a namespace, the
 * generation (0 = nothing known) and CRC-32 (zlib's) of the data the host
 * was last told had been written there.  nvme_ctrl_ledger returns the
 * namespace's entries (*nlbas of them, LBAs of 1 << *lbads bytes), or NULL
 * with *nlbas = 0 if nothing was recorded since the ledger was cleared.
 */
struct nvme_ledger_entry {
	uint32_t gen;
	uint32_t crc;
};
const struct nvme_ledger_entry *nvme_ctrl_ledger(const struct nvme_ctrl *ctrl, uint32_t nsid,
						 uint64_t *nlbas, unsigned int *lbads);
void nvme_ctrl_ledger_clear(struct nvme_ctrl *ctrl);
/* The host's medium changed under the model (a power loss): nothing known there. */
void nvme_ctrl_ledger_forget(struct nvme_ctrl *ctrl, uint32_t nsid, uint64_t offset,
			     uint64_t len);
bool nvme_ctrl_ns_present(const struct nvme_ctrl *ctrl, uint32_t nsid);

/*
 * Queue an asynchronous event; it completes an outstanding Async Event
 * Request now or when the host sends one.  Events of a type stay masked
 * until the host reads log page @lid (spec 5.2).
 */
void nvme_ctrl_raise_event(struct nvme_ctrl *ctrl, uint8_t type, uint8_t info, uint8_t lid);

#include "fault.h"

#endif /* COSIM_NVME_CTRL_H */
