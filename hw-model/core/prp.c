// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cosim-nvme core: Physical Region Page entries and lists (spec 4.3) into
 * scatter/gather extents of guest memory.
 */
#include <stdlib.h>

#include "internal.h"

/* PRP list entries read from guest memory per DMA */
#define PRP_CHUNK	64

struct prp_walk {
	struct nvme_sg *sg;
	unsigned int max_sg;
	unsigned int nsg;
};

static uint16_t prp_add(struct prp_walk *w, uint64_t addr, uint64_t len)
{
	struct nvme_sg *last = w->nsg ? &w->sg[w->nsg - 1] : NULL;

	if (addr + len < addr)
		return NVME_SC_INVALID_FIELD | NVME_DNR;	/* wraps the address space */

	/* merge physically contiguous pages: fewer extents for the block layer */
	if (last && last->addr + last->len == addr) {
		last->len += len;
		return NVME_SC_SUCCESS;
	}
	if (w->nsg == w->max_sg)
		return NVME_SC_INVALID_FIELD | NVME_DNR;
	w->sg[w->nsg].addr = addr;
	w->sg[w->nsg].len = len;
	w->nsg++;
	return NVME_SC_SUCCESS;
}

/*
 * Walk a PRP list starting at @list for @remaining bytes.  Each list page
 * holds page_size/8 entries; when more entries are needed than fit in the
 * rest of a page, its last entry points to the next list page.
 *
 * Only the first list may start inside a page (spec 4.3: PRP2 as a list
 * pointer has a qword-aligned offset); a chain pointer is a PRP entry and
 * so has offset 0.  That alone makes the walk finish: every chained page
 * holds page_size/8 - 1 data entries before its own chain pointer.  A list
 * at offset 0xff8 whose one slot points back into itself would otherwise
 * loop forever with QEMU's main loop held.  With aligned chains the pages
 * walked are bounded by the transfer (at most max_xfer / page_size entries).
 */
static uint16_t prp_walk_list(struct nvme_ctrl *ctrl, struct prp_walk *w,
			      uint64_t list, uint64_t remaining)
{
	uint64_t psz = ctrl->page_size;
	uint64_t entries[PRP_CHUNK];

	if (list & 0x7) {
		nvme_guest_error(ctrl, "PRP list pointer 0x%llx not qword aligned",
				 (unsigned long long)list);
		return NVME_SC_INVALID_FIELD | NVME_DNR;
	}
	while (remaining) {
		uint64_t slots = (psz - (list & (psz - 1))) / 8;
		uint64_t needed = (remaining + psz - 1) / psz;
		uint64_t n = needed > slots ? slots : needed;
		uint64_t i;

		for (i = 0; i < n; i++) {
			uint64_t e;
			uint16_t st;

			if (i % PRP_CHUNK == 0) {
				uint64_t cnt = MIN(n - i, (uint64_t)PRP_CHUNK);

				if (ctrl->ops->dma_read(ctrl->opaque, list + i * 8, entries, cnt * 8))
					return NVME_SC_DATA_XFER_ERROR;
			}
			e = entries[i % PRP_CHUNK];
			if (needed > slots && i == n - 1) {
				/* last slot of a full page: chain to the next list page */
				if (e & (psz - 1)) {
					nvme_guest_error(ctrl, "chained PRP list pointer 0x%llx has an offset",
							 (unsigned long long)e);
					return NVME_SC_INVALID_FIELD | NVME_DNR;
				}
				list = e;
				break;
			}
			if (e & (psz - 1)) {
				nvme_guest_error(ctrl, "PRP list entry 0x%llx has an offset",
						 (unsigned long long)e);
				return NVME_SC_INVALID_FIELD | NVME_DNR;
			}
			st = prp_add(w, e, MIN(psz, remaining));
			if (st)
				return st;
			remaining -= MIN(psz, remaining);
		}
	}
	return NVME_SC_SUCCESS;
}

uint16_t nvme_prp_map(struct nvme_ctrl *ctrl, uint64_t prp1, uint64_t prp2, uint64_t len,
		      struct nvme_sg *sg, unsigned int max_sg, unsigned int *nsg)
{
	uint64_t psz = ctrl->page_size;
	struct prp_walk w = { .sg = sg, .max_sg = max_sg };
	uint64_t first, remaining;
	uint16_t st;

	*nsg = 0;
	if (!len)
		return NVME_SC_SUCCESS;
	if (prp1 & 0x3) {
		nvme_guest_error(ctrl, "PRP1 0x%llx not dword aligned", (unsigned long long)prp1);
		return NVME_SC_INVALID_FIELD | NVME_DNR;
	}
	first = MIN(len, psz - (prp1 & (psz - 1)));
	st = prp_add(&w, prp1, first);
	remaining = len - first;
	if (!st && remaining) {
		if (remaining <= psz) {
			/* PRP2 is the second (and last) data page */
			if (prp2 & (psz - 1)) {
				nvme_guest_error(ctrl, "PRP2 0x%llx has an offset",
						 (unsigned long long)prp2);
				st = NVME_SC_INVALID_FIELD | NVME_DNR;
			} else {
				st = prp_add(&w, prp2, remaining);
			}
		} else {
			st = prp_walk_list(ctrl, &w, prp2, remaining);
		}
	}
	*nsg = w.nsg;
	return st;
}

/*
 * Ensure req's sg array holds the extents of a @len-byte transfer: at most
 * one per page it spans, which is never more than ctrl->max_sg.
 */
static bool nvme_req_sg(struct nvme_ctrl *ctrl, struct nvme_req *req, uint64_t len)
{
	uint64_t need = MIN((len + ctrl->page_size - 1) / ctrl->page_size + 1,
			    (uint64_t)ctrl->max_sg);
	struct nvme_sg *sg;

	if (req->sg_cap >= need)
		return true;
	sg = realloc(req->sg, need * sizeof(*sg));
	if (!sg)
		return false;
	req->sg = sg;
	req->sg_cap = (unsigned int)need;
	return true;
}

/*
 * Copy between a controller buffer and the command's PRPs: to the guest for
 * Identify and log pages, from it for DSM ranges and firmware images.
 */
static uint16_t nvme_dma_copy(struct nvme_ctrl *ctrl, struct nvme_req *req,
			      uint8_t *buf, uint64_t len, bool to_guest)
{
	unsigned int nsg, i;
	uint16_t st;
	int err;

	if (!nvme_req_sg(ctrl, req, len))
		return NVME_SC_INTERNAL;
	st = nvme_prp_map(ctrl, req->cmd.prp1, req->cmd.prp2, len, req->sg, req->sg_cap, &nsg);
	if (st)
		return st;
	for (i = 0; i < nsg; i++) {
		if (to_guest)
			err = ctrl->ops->dma_write(ctrl->opaque, req->sg[i].addr, buf,
						   req->sg[i].len);
		else
			err = ctrl->ops->dma_read(ctrl->opaque, req->sg[i].addr, buf,
						  req->sg[i].len);
		if (err)
			return NVME_SC_DATA_XFER_ERROR;
		buf += req->sg[i].len;
	}
	return NVME_SC_SUCCESS;
}

uint16_t nvme_dma_to_guest(struct nvme_ctrl *ctrl, struct nvme_req *req,
			   const void *buf, uint64_t len)
{
	void *patched = nvme_fault_patch(req, buf, len);
	uint16_t status;

	/* dma_write only reads the buffer; the cast serves the shared walker */
	status = nvme_dma_copy(ctrl, req, patched ? patched : (uint8_t *)buf, len, true);
	free(patched);
	return status;
}

uint16_t nvme_dma_from_guest(struct nvme_ctrl *ctrl, struct nvme_req *req,
			     void *buf, uint64_t len)
{
	return nvme_dma_copy(ctrl, req, buf, len, false);
}

uint16_t nvme_req_map(struct nvme_ctrl *ctrl, struct nvme_req *req, uint64_t len)
{
	if (!nvme_req_sg(ctrl, req, len))
		return NVME_SC_INTERNAL;
	return nvme_prp_map(ctrl, req->cmd.prp1, req->cmd.prp2, len, req->sg, req->sg_cap,
			    &req->io.nsg);
}
