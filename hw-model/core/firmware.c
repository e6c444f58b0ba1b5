// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cosim-nvme core: Firmware Image Download / Firmware Activate (firmware
 * slots, activation at the next reset) and Format NVM (LBA formats, user
 * data erase).  NVMe 1.0e sections 5.7, 5.8 and 5.14.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define NVME_INVALID_FIELD	(NVME_SC_INVALID_FIELD | NVME_DNR)
/* as in io.c: the request went out to the host */
#define NVME_SUBMITTED		0xffff

/* ---- firmware ---- */

void nvme_fw_init(struct nvme_ctrl *ctrl)
{
	memset(ctrl->fw_rev, 0, sizeof(ctrl->fw_rev));
	nvme_id_string(ctrl->fw_rev[1], sizeof(ctrl->fw_rev[1]), ctrl->p.firmware);
	ctrl->fw_active = 1;
	ctrl->fw_next = 0;
}

/* Any reset (CC.EN 1->0, PCI/system reset) starts the committed image. */
void nvme_fw_reset(struct nvme_ctrl *ctrl)
{
	if (ctrl->fw_next) {
		ctrl->fw_active = ctrl->fw_next;
		ctrl->fw_next = 0;
	}
}

void nvme_fw_free(struct nvme_ctrl *ctrl)
{
	free(ctrl->fw_img);
	ctrl->fw_img = NULL;
	ctrl->fw_len = 0;
}

uint16_t nvme_fw_download(struct nvme_ctrl *ctrl, struct nvme_req *req)
{
	uint64_t len = ((uint64_t)req->cmd.cdw10 + 1) * 4;
	uint64_t off = (uint64_t)req->cmd.cdw11 * 4;
	uint8_t *img;
	uint16_t st;

	if (len > ctrl->max_xfer)
		return NVME_INVALID_FIELD;
	/* pieces come in order: offset 0 starts a new image */
	if (off != 0 && off != ctrl->fw_len)
		return NVME_INVALID_FIELD;
	if (off + len > NVME_FW_IMAGE_MAX)
		return NVME_INVALID_FIELD;
	img = realloc(ctrl->fw_img, off + len);
	if (!img)
		return NVME_SC_INTERNAL;
	ctrl->fw_img = img;
	ctrl->fw_len = off;
	st = nvme_dma_from_guest(ctrl, req, img + off, len);
	if (st)
		return st;
	ctrl->fw_len = off + len;
	return NVME_SC_SUCCESS;
}

/*
 * The revision an image carries: its first 8 bytes when they are printable
 * ASCII (and not all spaces), else "FW" and 6 hex digits of its FNV-1a hash.
 */
static void nvme_fw_image_rev(const uint8_t *img, uint64_t len, char rev[8])
{
	uint32_t h = 2166136261u;
	bool printable = len >= 8;
	char tmp[9];
	uint64_t i;

	for (i = 0; i < 8 && printable; i++)
		printable = img[i] >= 0x20 && img[i] <= 0x7e;
	if (printable && memcmp(img, "        ", 8)) {
		memcpy(rev, img, 8);
		return;
	}
	for (i = 0; i < len; i++)
		h = (h ^ img[i]) * 16777619u;
	snprintf(tmp, sizeof(tmp), "FW%06x", h & 0xffffff);
	memcpy(rev, tmp, 8);
}

static bool nvme_fw_slot_empty(const struct nvme_ctrl *ctrl, unsigned int slot)
{
	static const char zero[8];

	return !memcmp(ctrl->fw_rev[slot], zero, sizeof(zero));
}

uint16_t nvme_fw_activate(struct nvme_ctrl *ctrl, struct nvme_req *req)
{
	unsigned int fs = NVME_FW_FS(req->cmd.cdw10);
	unsigned int aa = NVME_FW_AA(req->cmd.cdw10);

	if (aa > NVME_FW_AA_ACTIVATE)
		return NVME_INVALID_FIELD;		/* 11b is reserved in 1.0e */
	if (fs > ctrl->p.fw_slots)
		return NVME_SC_FIRMWARE_SLOT | NVME_DNR;
	if (aa == NVME_FW_AA_ACTIVATE) {
		if (!fs)
			return NVME_SC_FIRMWARE_SLOT | NVME_DNR;
		if (nvme_fw_slot_empty(ctrl, fs))
			return NVME_SC_FIRMWARE_IMAGE | NVME_DNR;
		ctrl->fw_next = (uint8_t)fs;
		return NVME_SC_SUCCESS;
	}
	if (!fs) {
		/* the controller chooses: the lowest writable slot not running */
		for (fs = 2; fs <= ctrl->p.fw_slots && fs == ctrl->fw_active; fs++)
			;
		if (fs > ctrl->p.fw_slots)
			return NVME_SC_FIRMWARE_SLOT | NVME_DNR;
	}
	if (fs == 1)
		return NVME_SC_FIRMWARE_SLOT | NVME_DNR;	/* read-only (FRMW bit 0) */
	if (!ctrl->fw_len)
		return NVME_SC_FIRMWARE_IMAGE | NVME_DNR;
	nvme_fw_image_rev(ctrl->fw_img, ctrl->fw_len, ctrl->fw_rev[fs]);
	nvme_fw_free(ctrl);
	if (aa == NVME_FW_AA_REPLACE_ACTIVATE)
		ctrl->fw_next = (uint8_t)fs;
	return NVME_SC_SUCCESS;
}

/* ---- Format NVM ---- */

/*
 * The LBA formats a namespace offers: 512 B and 4 KiB, plus the size it
 * was attached with if that is neither.  No metadata, no protection.
 */
unsigned int nvme_ns_lbafs(const struct nvme_ns *ns, uint8_t *lbads)
{
	unsigned int n = 0;

	lbads[n++] = 9;
	lbads[n++] = 12;
	if (ns->lbads_attach != 9 && ns->lbads_attach != 12)
		lbads[n++] = ns->lbads_attach;
	return n;
}

/* State of a Format NVM with user data erase, in req->buf. */
struct nvme_format_state {
	uint32_t nsid;			/* namespace being erased */
	bool all;			/* NSID FFFFFFFFh: then the next ones */
	struct nvme_sg range;
};

/* Start erasing the next namespace from @nsid on; false if none is left. */
static bool nvme_format_erase_next(struct nvme_ctrl *ctrl, struct nvme_req *req, uint32_t nsid)
{
	struct nvme_format_state *fs = req->buf;
	struct nvme_ns *ns = NULL;

	for (; nsid <= ctrl->p.nn; nsid++) {
		ns = ctrl->ns[nsid];
		if (ns || !fs->all)
			break;
	}
	if (!ns || nsid > ctrl->p.nn)
		return false;
	fs->nsid = nsid;
	fs->range = (struct nvme_sg){ .addr = 0, .len = ns->bytes };
	req->io = (struct nvme_io){
		.op = NVME_IO_ZERO,
		.backend = ns->backend,
		.sg = &fs->range,
		.nsg = 1,
	};
	nvme_io_submit(ctrl, req);
	return true;
}

/* The erase of one namespace returned: go on with the next (true), or complete. */
bool nvme_format_io_done(struct nvme_ctrl *ctrl, struct nvme_req *req)
{
	struct nvme_format_state *fs = req->buf;

	if (req->cmd.opcode != NVME_ADM_FORMAT_NVM || !fs || req->status || !fs->all)
		return false;
	if (req->sq->deleting || ctrl->disabling)
		return false;
	return nvme_format_erase_next(ctrl, req, fs->nsid + 1);
}

static uint16_t nvme_format_check(struct nvme_ns *ns, uint32_t dw10)
{
	uint8_t lbads[16];

	if (NVME_FORMAT_LBAF(dw10) >= nvme_ns_lbafs(ns, lbads))
		return NVME_SC_INVALID_FORMAT | NVME_DNR;
	return NVME_SC_SUCCESS;
}

static void nvme_format_apply(struct nvme_ns *ns, uint32_t dw10)
{
	uint8_t lbads[16];

	nvme_ns_lbafs(ns, lbads);
	ns->lbads = lbads[NVME_FORMAT_LBAF(dw10)];
	ns->nlbas = ns->bytes >> ns->lbads;
	nvme_range_clear(&ns->uncor);
	nvme_ledger_free(ns);
}

uint16_t nvme_format(struct nvme_ctrl *ctrl, struct nvme_req *req)
{
	uint32_t dw10 = req->cmd.cdw10;
	uint32_t nsid = req->cmd.nsid;
	bool all = nsid == NVME_NSID_ALL;
	unsigned int ses = NVME_FORMAT_SES(dw10);
	struct nvme_format_state *fs;
	uint32_t i;
	uint16_t st;

	if (!all && !nvme_ns_get(ctrl, nsid))
		return NVME_SC_INVALID_NS | NVME_DNR;
	if (NVME_FORMAT_PI(dw10))
		return NVME_SC_INVALID_FORMAT | NVME_DNR;	/* no protection information */
	if (ses > 1)
		return NVME_INVALID_FIELD;			/* no cryptographic erase (FNA) */
	for (i = all ? 1 : nsid; i <= (all ? ctrl->p.nn : nsid); i++) {
		if (ctrl->ns[i] && (st = nvme_format_check(ctrl->ns[i], dw10)))
			return st;
	}
	for (i = all ? 1 : nsid; i <= (all ? ctrl->p.nn : nsid); i++)
		if (ctrl->ns[i])
			nvme_format_apply(ctrl->ns[i], dw10);
	if (!ses)
		return NVME_SC_SUCCESS;
	fs = calloc(1, sizeof(*fs));
	if (!fs)
		return NVME_SC_INTERNAL;
	fs->all = all;
	req->buf = fs;
	if (!nvme_format_erase_next(ctrl, req, all ? 1 : nsid))
		return NVME_SC_SUCCESS;		/* no namespace attached */
	return NVME_SUBMITTED;
}
