// SPDX-License-Identifier: GPL-2.0
/*
 * The one PRP builder: describes a DMA-mapped scatterlist with PRP1/PRP2
 * and chained PRP list pages. SCSI data (rw.c) and the driver's own bounce
 * buffers (passthrough, translated commands with parameter data) both go
 * through it; a bounce buffer is a one-entry scatterlist.
 */
#include <linux/kernel.h>
#include <linux/dma-mapping.h>
#include <linux/dmapool.h>
#include <linux/scatterlist.h>

#include "nvme_scsi.h"

void nvme_scsi_free_prps(struct nvme_scsi_ctrl *ctrl, struct nvme_scsi_prps *prps)
{
	while (prps->nr) {
		prps->nr--;
		dma_pool_free(ctrl->prp_pool, prps->list[prps->nr], prps->dma[prps->nr]);
	}
}

static __le64 *nvme_scsi_prp_page(struct nvme_scsi_ctrl *ctrl,
				  struct nvme_scsi_prps *prps, gfp_t gfp,
				  dma_addr_t *dma)
{
	__le64 *list;

	if (prps->nr == NVME_SCSI_MAX_PRP_PAGES)
		return ERR_PTR(-EINVAL);
	list = dma_pool_alloc(ctrl->prp_pool, gfp, dma);
	if (!list)
		return ERR_PTR(-ENOMEM);
	prps->list[prps->nr] = list;
	prps->dma[prps->nr] = *dma;
	prps->nr++;
	return list;
}

/*
 * Describe @len bytes of the DMA-mapped scatterlist @sg with PRP1/PRP2 and,
 * past two pages, PRP lists (chained through the last entry of a full list
 * page). PRP rules: only the first entry may start inside a page, and every
 * segment but the last must end on a page boundary. The host template's
 * virt_boundary_mask makes the block layer build such lists; anything else
 * is refused with -EINVAL rather than transferring the wrong bytes. List
 * pages are recorded in @prps (free with nvme_scsi_free_prps, also after
 * an error).
 */
int nvme_scsi_build_prps(struct nvme_scsi_ctrl *ctrl, struct nvme_scsi_prps *prps,
			 struct nvme_command *c, struct scatterlist *sg, u32 len,
			 gfp_t gfp)
{
	const u32 psz = NVME_SCSI_PAGE_SIZE, pmask = NVME_SCSI_PAGE_SIZE - 1;
	dma_addr_t addr = sg_dma_address(sg), list_dma;
	u32 seg_len = sg_dma_len(sg), total = len;
	u32 first = psz - (addr & pmask);
	__le64 *list;
	unsigned int i;

	c->common.dptr.prp1 = cpu_to_le64(addr);
	if (len <= first) {
		if (seg_len < len)
			goto bad;
		return 0;
	}
	if (seg_len < first)
		goto bad;
	len -= first;
	if (seg_len > first) {
		addr += first;
		seg_len -= first;
	} else {
		sg = sg_next(sg);
		if (!sg)
			goto bad;
		addr = sg_dma_address(sg);
		seg_len = sg_dma_len(sg);
	}
	if (len <= psz) {
		if ((addr & pmask) || seg_len < len)
			goto bad;
		c->common.dptr.prp2 = cpu_to_le64(addr);
		return 0;
	}

	list = nvme_scsi_prp_page(ctrl, prps, gfp, &list_dma);
	if (IS_ERR(list))
		return PTR_ERR(list);
	c->common.dptr.prp2 = cpu_to_le64(list_dma);
	i = 0;
	for (;;) {
		if (addr & pmask)
			goto bad;
		if (i == NVME_SCSI_PRPS_PER_PAGE) {
			__le64 *old = list;

			list = nvme_scsi_prp_page(ctrl, prps, gfp, &list_dma);
			if (IS_ERR(list))
				return PTR_ERR(list);
			list[0] = old[i - 1];
			old[i - 1] = cpu_to_le64(list_dma);
			i = 1;
		}
		list[i++] = cpu_to_le64(addr);
		if (len <= psz) {
			if (seg_len < len)
				goto bad;
			break;
		}
		len -= psz;
		if (seg_len > psz) {
			addr += psz;
			seg_len -= psz;
		} else {
			if (seg_len != psz)
				goto bad;
			sg = sg_next(sg);
			if (!sg)
				goto bad;
			addr = sg_dma_address(sg);
			seg_len = sg_dma_len(sg);
		}
	}
	return 0;

bad:
	dev_err_ratelimited(ctrl->dev, "a %u-byte scatterlist cannot be described by PRPs\n",
			    total);
	return -EINVAL;
}

/*
 * A driver-owned data buffer (passthrough, translated commands that carry
 * parameter data): one DMA-coherent bounce buffer, zeroed so a read the
 * controller does not fill returns zeroes, never stale kernel memory.
 * Allocate @len bytes (len <= max_xfer) and point @c's PRPs at them.
 */
int nvme_scsi_buf_alloc(struct nvme_scsi_ctrl *ctrl, struct nvme_scsi_buf *b,
			u32 len, struct nvme_command *c)
{
	int ret;

	memset(b, 0, sizeof(*b));
	b->alloc = round_up(len, NVME_SCSI_PAGE_SIZE);
	b->cpu = dma_alloc_coherent(ctrl->dev, b->alloc, &b->dma, GFP_KERNEL);
	if (!b->cpu)
		return -ENOMEM;
	sg_init_table(&b->sg, 1);
	sg_dma_address(&b->sg) = b->dma;
	sg_dma_len(&b->sg) = b->alloc;
	ret = nvme_scsi_buf_map(ctrl, b, len, c);
	if (ret)
		nvme_scsi_buf_free(ctrl, b);
	return ret;
}

/*
 * Point @c's PRPs at the first @len bytes of the buffer (len <= what was
 * allocated), for one command of several that reuse it: PRP2 is a list
 * pointer or a data pointer depending on the length, so each length needs
 * its own PRPs. The list pages built for the previous command are freed.
 */
int nvme_scsi_buf_map(struct nvme_scsi_ctrl *ctrl, struct nvme_scsi_buf *b,
		      u32 len, struct nvme_command *c)
{
	if (len > b->alloc)
		return -EINVAL;
	nvme_scsi_free_prps(ctrl, &b->prps);
	return nvme_scsi_build_prps(ctrl, &b->prps, c, &b->sg, len, GFP_KERNEL);
}

void nvme_scsi_buf_free(struct nvme_scsi_ctrl *ctrl, struct nvme_scsi_buf *b)
{
	nvme_scsi_free_prps(ctrl, &b->prps);
	if (b->cpu)
		dma_free_coherent(ctrl->dev, b->alloc, b->cpu, b->dma);
	b->cpu = NULL;
}
