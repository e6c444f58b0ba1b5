/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A fake host for the core's unit tests: a flat array is guest RAM, more
 * arrays are namespace storage, block requests wait in a list until the
 * test (or fh_run) completes them.
 */
#ifndef FAKE_HOST_H
#define FAKE_HOST_H

#include <stdbool.h>
#include <stdint.h>

#include "nvme_ctrl.h"
#include "nvme_spec.h"

#define FH_RAM_SIZE	(8u << 20)
#define FH_MAX_NS	4
#define FH_MAX_IO	1024
#define FH_FETCH_LOG	4096

/* guest memory map used by the tests */
#define FH_ASQ		0x10000
#define FH_ACQ		0x20000
#define FH_IOSQ		0x30000
#define FH_IOCQ		0x40000
#define FH_PRPLIST	0x80000
#define FH_DATA		0x100000

struct fh_queue {
	uint16_t qid;
	uint32_t size;
	uint64_t sq_base, cq_base;
	uint32_t sq_tail, cq_head;
	bool phase;
};

struct fake_host {
	struct nvme_ctrl *ctrl;
	struct nvme_ctrl_params params;
	uint8_t *ram;
	bool scheduled;
	bool msix;
	bool intx;
	unsigned int msix_count[64];
	bool sync_io;			/* complete IO inside io_submit */
	int io_error;			/* errno (negative) for the next IO */
	bool cancel_wins;		/* io_cancel completes a pending IO at once */
	unsigned int cancels;		/* io_cancel calls */
	struct nvme_io *pending[FH_MAX_IO];
	unsigned int npending;
	uint8_t *disk[FH_MAX_NS + 1];
	uint64_t disk_size[FH_MAX_NS + 1];
	unsigned int flushes, fua_writes, guest_errors, zeroes;
	struct fh_queue admin;
	unsigned int faults_traced;	/* trace_fault calls */
	uint16_t last_fault_cid;
	/* fetched commands, sqid << 16 | cid (trace_cmd), a ring of the last FH_FETCH_LOG */
	uint32_t fetched[FH_FETCH_LOG];
	unsigned int nfetched;
	/*
	 * The n-th MSI-X message / guest memory write from now resets the
	 * controller from inside the op, as a guest aiming them at a bridge's
	 * Secondary Bus Reset would; 0: never.
	 */
	unsigned int reset_at_msix, reset_at_dma_write;
	uint64_t now_ns;		/* the fake clock */
	uint64_t timer_deadline;	/* armed timer, UINT64_MAX: none */
};

struct fake_host *fh_new(const struct nvme_ctrl_params *p);
void fh_free(struct fake_host *fh);
/* run scheduled work and complete block IO until nothing is left */
void fh_run(struct fake_host *fh);
/* run scheduled work only; block IO stays pending */
void fh_run_no_io(struct fake_host *fh);
void fh_complete_io(struct fake_host *fh);
/* advance the clock by @ns, fire the timer if due, then fh_run */
void fh_advance(struct fake_host *fh, uint64_t ns);
uint32_t fh_attach_ns(struct fake_host *fh, uint32_t nsid, uint8_t lbads, uint64_t nlbas);

uint32_t fh_rd32(struct fake_host *fh, uint64_t off);
uint64_t fh_rd64(struct fake_host *fh, uint64_t off);
void fh_wr32(struct fake_host *fh, uint64_t off, uint32_t val);
void fh_wr64(struct fake_host *fh, uint64_t off, uint64_t val);

/* enable with an admin queue pair of @size entries; asserts CSTS.RDY */
void fh_enable(struct fake_host *fh, uint32_t size);
void fh_disable(struct fake_host *fh);

void fh_submit(struct fake_host *fh, struct fh_queue *q, const struct nvme_sqe *cmd);
bool fh_poll(struct fake_host *fh, struct fh_queue *q, struct nvme_cqe *cqe);
/* submit, run, and return the completion (asserts there is one) */
struct nvme_cqe fh_cmd(struct fake_host *fh, struct fh_queue *q, struct nvme_sqe *cmd);
/* status field (SCT/SC/DNR) of a CQE */
uint16_t fh_status(const struct nvme_cqe *cqe);
/* SCT/SC only, without DNR/M */
static inline uint16_t fh_sc(struct nvme_cqe cqe)
{
	return fh_status(&cqe) & 0x7ff;
}
#define FH_SC(cqe)	fh_sc(cqe)

/* create I/O CQ+SQ @qid of @size entries at FH_IOCQ/FH_IOSQ + qid pages */
void fh_create_io_pair(struct fake_host *fh, struct fh_queue *q, uint16_t qid, uint32_t size);

#endif
