// SPDX-License-Identifier: GPL-2.0
/*
 * Mode pages: MODE SENSE(6/10) and MODE SELECT(6/10) of the caching (08h),
 * control (0Ah) and informational exceptions control (1Ch) pages. WCE is
 * the controller's volatile write cache (Features 06h); D_SENSE picks the
 * sense format.
 */
#include <linux/kernel.h>
#include <asm/unaligned.h>
#include <scsi/scsi_device.h>
#include <scsi/scsi_host.h>

#include "xlat.h"

/*
 * MODE SENSE(6/10): caching (08h), control (0Ah), informational exceptions
 * control (1Ch) and all (3Fh) pages.
 */
static unsigned int nvme_scsi_mode_page(struct nvme_scsi_ctrl *ctrl, u8 page,
					u8 pc, u8 *p)
{
	bool changeable = pc == 1;

	switch (page) {
	case 0x08:
		memset(p, 0, 20);
		p[0] = 0x08;
		p[1] = 0x12;
		if (changeable ? ctrl->vwc_present :
		    (pc == 0 ? ctrl->vwc_enabled : ctrl->vwc_present))
			p[2] = 0x04;		/* WCE (default: cache on if present) */
		return 20;
	case 0x0a:
		memset(p, 0, 12);
		p[0] = 0x0a;
		p[1] = 0x0a;
		if (changeable) {
			p[2] = 0x04;		/* D_SENSE can be changed */
		} else {
			if (pc == 0 && ctrl->d_sense)
				p[2] = 0x04;	/* D_SENSE */
			p[3] = 0x10;		/* unrestricted reordering */
		}
		return 12;
	case 0x1c:
		/*
		 * As the Translation Reference has it: DEXCPT 0 (exceptions are
		 * reported, so health tools see SMART as enabled) and MRIE 0 (only
		 * on request: LOG SENSE 2Fh); nothing changeable.
		 */
		memset(p, 0, 12);
		p[0] = 0x1c;
		p[1] = 0x0a;
		return 12;
	}
	return 0;
}

enum nvme_scsi_xlat nvme_scsi_mode_sense(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd,
					 const struct nvme_scsi_ns *ns)
{
	const u8 *cdb = cmd->cmnd;
	bool ten = cdb[0] == MODE_SENSE_10;
	bool dbd = cdb[1] & 0x08, llbaa = ten && (cdb[1] & 0x10);
	u8 pc = cdb[2] >> 6, page = cdb[2] & 0x3f, subpage = cdb[3];
	unsigned int alloc = ten ? get_unaligned_be16(&cdb[7]) : cdb[4];
	unsigned int hdr = ten ? 8 : 4, off, bd_len = 0;
	u8 buf[8 + 16 + 20 + 12 + 12] = { };

	if (pc == 3)
		return nvme_scsi_check(cmd, ILLEGAL_REQUEST, 0x39, 0x00);
	if (subpage && !(page == 0x3f && subpage == 0xff))
		return nvme_scsi_invalid_field(cmd);
	if (page != 0x08 && page != 0x0a && page != 0x1c && page != 0x3f)
		return nvme_scsi_invalid_field(cmd);

	off = hdr;
	if (!dbd) {
		if (llbaa) {
			put_unaligned_be64(ns->nsze, &buf[off]);
			put_unaligned_be32(1U << ns->lba_shift, &buf[off + 12]);
			bd_len = 16;
		} else {
			put_unaligned_be32(min_t(u64, ns->nsze, 0xffffffff), &buf[off]);
			put_unaligned_be24(1U << ns->lba_shift, &buf[off + 5]);
			bd_len = 8;
		}
		off += bd_len;
	}
	if (page == 0x08 || page == 0x3f)
		off += nvme_scsi_mode_page(ctrl, 0x08, pc, &buf[off]);
	if (page == 0x0a || page == 0x3f)
		off += nvme_scsi_mode_page(ctrl, 0x0a, pc, &buf[off]);
	if (page == 0x1c || page == 0x3f)
		off += nvme_scsi_mode_page(ctrl, 0x1c, pc, &buf[off]);

	if (ten) {
		put_unaligned_be16(off - 2, &buf[0]);
		buf[3] = 0x10;			/* DPOFUA */
		if (bd_len == 16)
			buf[4] = 0x01;		/* LONGLBA */
		put_unaligned_be16(bd_len, &buf[6]);
	} else {
		buf[0] = off - 1;
		buf[2] = 0x10;			/* DPOFUA */
		buf[3] = bd_len;
	}
	return nvme_scsi_copy_out(cmd, buf, off, alloc);
}

/* Set Features 06h: volatile write cache on/off. */
static bool nvme_scsi_set_wce(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd,
			      bool wce)
{
	struct nvme_command c = { };
	int ret;

	c.features.opcode = nvme_admin_set_features;
	c.features.fid = cpu_to_le32(NVME_FEAT_VOLATILE_WC);
	c.features.dword11 = cpu_to_le32(wce ? 1 : 0);
	ret = nvme_scsi_deferred_cmd(ctrl, false, &c, nvme_scsi_admin_timeout * HZ);
	if (!nvme_scsi_deferred_status(cmd, ret))
		return false;
	WRITE_ONCE(ctrl->vwc_enabled, wce);
	dev_info(ctrl->dev, "volatile write cache %s (MODE SELECT)\n",
		 wce ? "enabled" : "disabled");
	return true;
}

/*
 * MODE SELECT(6/10): caching page WCE -> Set Features 06h; control D_SENSE;
 * informational exceptions control only as it is (nothing there changes).
 */
void nvme_scsi_mode_select(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd,
			   const struct nvme_scsi_ns *ns)
{
	const u8 *cdb = cmd->cmnd;
	bool ten = cdb[0] == MODE_SELECT_10;
	unsigned int len = ten ? get_unaligned_be16(&cdb[7]) : cdb[4];
	unsigned int hdr = ten ? 8 : 4, off;
	u8 buf[256];

	if (!(cdb[1] & 0x10) || (cdb[1] & 0x01)) {	/* PF=0 or SP=1 */
		nvme_scsi_invalid_field(cmd);
		return;
	}
	cmd->result = 0;
	if (!len)
		return;
	if (len > sizeof(buf) || len > scsi_bufflen(cmd) || len < hdr) {
		nvme_scsi_param_len_error(cmd);
		return;
	}
	scsi_sg_copy_to_buffer(cmd, buf, len);
	off = hdr + (ten ? get_unaligned_be16(&buf[6]) : buf[3]);
	while (off < len) {
		u8 page = buf[off] & 0x3f, plen;

		if (off + 2 > len || (buf[off] & 0x40)) {	/* SPF: no subpages */
			nvme_scsi_bad_param(cmd);
			return;
		}
		plen = buf[off + 1];
		if (off + 2 + plen > len) {
			nvme_scsi_param_len_error(cmd);
			return;
		}
		switch (page) {
		case 0x08: {
			bool wce;

			if (plen < 0x12) {
				nvme_scsi_bad_param(cmd);
				return;
			}
			wce = buf[off + 2] & 0x04;
			if (wce == READ_ONCE(ctrl->vwc_enabled))
				break;
			if (!ctrl->vwc_present) {
				nvme_scsi_bad_param(cmd);
				return;
			}
			if (!nvme_scsi_set_wce(ctrl, cmd, wce))
				return;
			break;
		}
		case 0x0a:
			if (plen < 0x0a) {
				nvme_scsi_bad_param(cmd);
				return;
			}
			WRITE_ONCE(ctrl->d_sense, !!(buf[off + 2] & 0x04));
			break;
		case 0x1c:
			if (plen < 0x0a || memchr_inv(&buf[off + 2], 0, plen)) {
				nvme_scsi_bad_param(cmd);
				return;
			}
			break;
		default:
			nvme_scsi_bad_param(cmd);
			return;
		}
		off += 2 + plen;
	}
	cmd->result = 0;
}
