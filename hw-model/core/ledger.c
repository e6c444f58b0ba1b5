// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cosim-nvme core: the ledger of acknowledged writes.
 *
 * Per namespace and LBA: the CRC-32 of the data the controller last told
 * the host it had written there, and the generation of that command (one
 * number per command, counting up from 1; 0 = nothing known).  A harness
 * reads the ledger (nvme_ctrl_ledger) and compares it with the medium: any
 * LBA whose data differs was lost, torn or misdirected on the way, however
 * self-consistent the data looks.
 *
 * The data is the host's: a Write's CRCs are taken from guest memory when
 * the command is mapped, before any fault rule bends the transfer, and
 * enter the ledger only when the command completes with success.  From
 * submission until then the LBAs are unknown: a Write that fails, is
 * aborted or is cut short by a reset leaves the medium undefined there.
 * Deallocate records zeroes; Write Uncorrectable, Format NVM and a power
 * loss (what the volatile cache lost) make LBAs unknown.
 */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "internal.h"

/* The namespace's entries, allocated on first use; NULL if out of memory. */
static struct nvme_ledger_entry *nvme_ledger_of(struct nvme_ns *ns)
{
	if (!ns->ledger && ns->nlbas)
		ns->ledger = calloc(ns->nlbas, sizeof(*ns->ledger));
	return ns->ledger;
}

void nvme_ledger_forget(struct nvme_ns *ns, uint64_t slba, uint64_t nlb)
{
	if (!ns->ledger || slba >= ns->nlbas)
		return;
	nlb = MIN(nlb, ns->nlbas - slba);
	memset(&ns->ledger[slba], 0, nlb * sizeof(*ns->ledger));
}

void nvme_ledger_free(struct nvme_ns *ns)
{
	free(ns->ledger);
	ns->ledger = NULL;
}

/*
 * A Write is about to go out: take the CRC of each of its LBAs from guest
 * memory (req->crcs), and forget what the ledger knew of them.  Guest
 * memory that cannot be read (PRPs into MMIO) leaves the LBAs unknown.
 */
void nvme_ledger_write_start(struct nvme_ctrl *ctrl, struct nvme_req *req,
			     struct nvme_ns *ns, uint64_t slba, uint64_t nlb, unsigned int nsg)
{
	uint32_t lba_size = 1u << ns->lbads, in_lba = 0;
	uLong crc = crc32(0, NULL, 0);
	uint64_t n = 0;
	unsigned int i;

	nvme_ledger_forget(ns, slba, nlb);
	if (!ctrl->p.ledger || !nvme_ledger_of(ns) ||
	    ctrl->bounce_bytes + nlb * 4 > NVME_BOUNCE_MAX)
		return;
	if (!ctrl->ledger_buf)
		ctrl->ledger_buf = malloc(NVME_LEDGER_CHUNK);
	req->crcs = malloc(nlb * sizeof(*req->crcs));
	if (!req->crcs || !ctrl->ledger_buf)
		goto fail;
	/* guest memory in large reads; an LBA may straddle sg entries */
	for (i = 0; i < nsg; i++) {
		uint64_t off;

		for (off = 0; off < req->sg[i].len; off += NVME_LEDGER_CHUNK) {
			uint64_t chunk = MIN(req->sg[i].len - off, (uint64_t)NVME_LEDGER_CHUNK);
			const uint8_t *p = ctrl->ledger_buf;

			if (ctrl->ops->dma_read(ctrl->opaque, req->sg[i].addr + off,
						ctrl->ledger_buf, chunk))
				goto fail;
			while (chunk) {
				uint32_t take = (uint32_t)MIN(chunk, (uint64_t)(lba_size - in_lba));

				if (n == nlb)
					goto fail;	/* more data than LBAs */
				crc = crc32(crc, p, take);
				p += take;
				chunk -= take;
				in_lba += take;
				if (in_lba == lba_size) {
					req->crcs[n++] = (uint32_t)crc;
					crc = crc32(0, NULL, 0);
					in_lba = 0;
				}
			}
		}
	}
	if (n != nlb)
		goto fail;
	req->crc_slba = slba;
	req->crc_nlb = nlb;
	/* counted as the request's bounce bytes, like a Compare buffer */
	req->bounce += nlb * 4;
	ctrl->bounce_bytes += nlb * 4;
	return;
fail:
	free(req->crcs);
	req->crcs = NULL;
}

/* Deallocate: the ranges read back as zeroes. */
void nvme_ledger_zero(struct nvme_ctrl *ctrl, struct nvme_ns *ns, uint64_t slba, uint64_t nlb)
{
	struct nvme_ledger_entry *e = ctrl->p.ledger ? nvme_ledger_of(ns) : NULL;
	uint32_t gen = ++ctrl->ledger_gen, crc;
	uint8_t *zero;
	uint64_t n;

	if (!e || slba >= ns->nlbas)
		return;
	zero = calloc(1, 1u << ns->lbads);
	if (!zero) {
		nvme_ledger_forget(ns, slba, nlb);
		return;
	}
	crc = (uint32_t)crc32(0, zero, 1u << ns->lbads);
	free(zero);
	nlb = MIN(nlb, ns->nlbas - slba);
	for (n = 0; n < nlb; n++)
		e[slba + n] = (struct nvme_ledger_entry){ .gen = gen, .crc = crc };
}

/*
 * The command is about to be completed to the host with req->status: a
 * successful Write enters the ledger.  Its CRCs go either way.
 */
void nvme_ledger_complete(struct nvme_ctrl *ctrl, struct nvme_req *req)
{
	struct nvme_ns *ns;
	uint32_t gen;
	uint64_t n;

	if (!req->crcs)
		return;
	ns = nvme_ns_get(ctrl, req->cmd.nsid);
	if (!req->status && ns && ns->ledger && req->crc_slba + req->crc_nlb <= ns->nlbas) {
		gen = ++ctrl->ledger_gen;
		for (n = 0; n < req->crc_nlb; n++)
			ns->ledger[req->crc_slba + n] =
				(struct nvme_ledger_entry){ .gen = gen, .crc = req->crcs[n] };
	}
	nvme_ledger_release(ctrl, req);
}

void nvme_ledger_release(struct nvme_ctrl *ctrl, struct nvme_req *req)
{
	if (!req->crcs)
		return;
	req->bounce -= req->crc_nlb * 4;
	ctrl->bounce_bytes -= req->crc_nlb * 4;
	free(req->crcs);
	req->crcs = NULL;
	req->crc_nlb = 0;
}

const struct nvme_ledger_entry *nvme_ctrl_ledger(const struct nvme_ctrl *ctrl, uint32_t nsid,
						 uint64_t *nlbas, unsigned int *lbads)
{
	const struct nvme_ns *ns = nsid && nsid <= ctrl->p.nn ? ctrl->ns[nsid] : NULL;

	if (!ns)
		return NULL;
	*nlbas = ns->ledger ? ns->nlbas : 0;
	*lbads = ns->lbads;
	return ns->ledger;
}

void nvme_ctrl_ledger_clear(struct nvme_ctrl *ctrl)
{
	uint32_t i;

	for (i = 1; i <= ctrl->p.nn; i++)
		if (ctrl->ns[i])
			nvme_ledger_free(ctrl->ns[i]);
}

void nvme_ctrl_ledger_forget(struct nvme_ctrl *ctrl, uint32_t nsid, uint64_t offset,
			     uint64_t len)
{
	struct nvme_ns *ns = nsid && nsid <= ctrl->p.nn ? ctrl->ns[nsid] : NULL;
	uint64_t slba, elba;

	if (!ns)
		return;
	slba = offset >> ns->lbads;
	elba = (offset + len + (1u << ns->lbads) - 1) >> ns->lbads;
	nvme_ledger_forget(ns, slba, elba - slba);
}
