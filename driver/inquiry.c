// SPDX-License-Identifier: GPL-2.0
/*
 * What a LUN says about itself: standard INQUIRY and the VPD pages, READ
 * CAPACITY(10/16), REPORT LUNS.
 */
#include <linux/kernel.h>
#include <linux/slab.h>
#include <asm/unaligned.h>
#include <scsi/scsi_device.h>

#include "xlat.h"

static void nvme_scsi_put_str(u8 *dst, const char *src, size_t len)
{
	size_t n = strnlen(src, len);

	memset(dst, ' ', len);
	memcpy(dst, src, n);
}

static enum nvme_scsi_xlat nvme_scsi_std_inquiry(struct nvme_scsi_ctrl *ctrl,
						 struct scsi_cmnd *cmd,
						 const struct nvme_scsi_ns *ns,
						 unsigned int alloc)
{
	/* version descriptors (SPC-4 7.6.2): SAM-5, SPC-4, SBC-3 */
	static const u16 versions[] = { 0x00a0, 0x0460, 0x04c0 };
	u8 buf[74] = { };
	size_t fr_len;
	unsigned int i;

	buf[0] = ns ? TYPE_DISK : TYPE_NO_LUN;	/* PQ 011b + 1Fh when no namespace */
	buf[2] = 0x06;				/* SPC-4 */
	buf[3] = 0x02;				/* response data format */
	buf[4] = sizeof(buf) - 5;
	buf[7] = 0x02;				/* CMDQUE */
	nvme_scsi_put_str(&buf[8], "NVMe", 8);
	nvme_scsi_put_str(&buf[16], ctrl->mn, 16);
	/* revision: the last four characters of the firmware revision */
	fr_len = strlen(ctrl->fr);
	nvme_scsi_put_str(&buf[32], ctrl->fr + fr_len - min_t(size_t, fr_len, 4), 4);
	for (i = 0; i < ARRAY_SIZE(versions); i++)
		put_unaligned_be16(versions[i], &buf[58 + 2 * i]);
	return nvme_scsi_copy_out(cmd, buf, sizeof(buf), alloc);
}

static bool nvme_scsi_nonzero(const u8 *p, size_t len)
{
	return memchr_inv(p, 0, len);
}

static const u8 nvme_scsi_vpd_pages[] = { 0x00, 0x80, 0x83, 0x86, 0xb0, 0xb1, 0xb2 };

static enum nvme_scsi_xlat nvme_scsi_vpd(struct nvme_scsi_ctrl *ctrl,
					 struct scsi_cmnd *cmd,
					 const struct nvme_scsi_ns *ns, u8 page,
					 unsigned int alloc)
{
	u8 buf[128] = { };
	unsigned int len = 4, n;
	u8 *d;

	buf[0] = TYPE_DISK;
	buf[1] = page;
	switch (page) {
	case 0x00:	/* supported pages */
		memcpy(&buf[4], nvme_scsi_vpd_pages, sizeof(nvme_scsi_vpd_pages));
		len += sizeof(nvme_scsi_vpd_pages) - (nvme_scsi_has_dsm(ctrl) ? 0 : 1);
		break;
	case 0x80:	/* unit serial number: controller serial + NSID */
		n = scnprintf(&buf[4], sizeof(buf) - 4, "%s_%08x", ctrl->sn, ns->nsid);
		len += n;
		break;
	case 0x83:	/* device identification */
		d = &buf[4];
		if (nvme_scsi_nonzero(ns->nguid, sizeof(ns->nguid))) {
			d[0] = 0x01;		/* binary */
			d[1] = 0x02;		/* LU, EUI-64 based */
			d[3] = sizeof(ns->nguid);
			memcpy(&d[4], ns->nguid, sizeof(ns->nguid));
			d += 4 + sizeof(ns->nguid);
		} else if (nvme_scsi_nonzero(ns->eui64, sizeof(ns->eui64))) {
			d[0] = 0x01;
			d[1] = 0x02;
			d[3] = sizeof(ns->eui64);
			memcpy(&d[4], ns->eui64, sizeof(ns->eui64));
			d += 4 + sizeof(ns->eui64);
		}
		/* T10 vendor ID: "NVMe" + model + serial + NSID, always present */
		d[0] = 0x02;			/* ASCII */
		d[1] = 0x01;			/* LU, T10 vendor ID */
		nvme_scsi_put_str(&d[4], "NVMe", 8);
		nvme_scsi_put_str(&d[12], ctrl->mn, 40);
		nvme_scsi_put_str(&d[52], ctrl->sn, 20);
		snprintf(&d[72], 9, "%08x", ns->nsid);
		d[3] = 8 + 40 + 20 + 8;
		d += 4 + d[3];
		len = d - buf;
		break;
	case 0x86:	/* extended INQUIRY data */
		len = 0x40;
		buf[5] = 0x07;			/* HEADSUP ORDSUP SIMPSUP */
		if (ctrl->vwc_present)
			buf[6] = 0x01;		/* V_SUP: volatile cache */
		break;
	case 0xb0:	/* block limits */
		len = 0x40;
		buf[4] = 0x01;			/* WSNZ: WRITE SAME of no blocks refused */
		put_unaligned_be32(ctrl->max_xfer >> ns->lba_shift, &buf[8]);
		if (nvme_scsi_has_dsm(ctrl)) {
			/* max unmap LBA count, max unmap block descriptors */
			put_unaligned_be32(0xffffffff, &buf[20]);
			put_unaligned_be32(NVME_SCSI_MAX_DSM_RANGES, &buf[24]);
		}
		put_unaligned_be64(nvme_scsi_max_write_same(ns), &buf[36]);
		break;
	case 0xb2:	/* logical block provisioning */
		if (!nvme_scsi_has_dsm(ctrl))
			return nvme_scsi_invalid_field(cmd);
		len = 8;
		buf[5] = 0x80;			/* LBPU: UNMAP */
		if (nvme_scsi_ws_unmap(ctrl, ns))
			buf[5] |= 0x60;		/* LBPWS, LBPWS10: WRITE SAME with UNMAP */
		break;
	case 0xb1:	/* block device characteristics */
		len = 0x40;
		put_unaligned_be16(0x0001, &buf[4]);	/* non-rotating medium */
		break;
	default:
		return nvme_scsi_invalid_field(cmd);
	}
	put_unaligned_be16(len - 4, &buf[2]);
	return nvme_scsi_copy_out(cmd, buf, len, alloc);
}

enum nvme_scsi_xlat nvme_scsi_inquiry(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd,
				      const struct nvme_scsi_ns *ns)
{
	const u8 *cdb = cmd->cmnd;
	unsigned int alloc = get_unaligned_be16(&cdb[3]);

	if (cdb[1] & 0x02)			/* CMDDT */
		return nvme_scsi_invalid_field(cmd);
	if (!(cdb[1] & 0x01)) {
		if (cdb[2])
			return nvme_scsi_invalid_field(cmd);
		return nvme_scsi_std_inquiry(ctrl, cmd, ns, alloc);
	}
	if (!ns)
		return nvme_scsi_check(cmd, ILLEGAL_REQUEST, 0x25, 0x00);
	return nvme_scsi_vpd(ctrl, cmd, ns, cdb[2], alloc);
}

enum nvme_scsi_xlat nvme_scsi_read_capacity(struct nvme_scsi_ctrl *ctrl,
					    struct scsi_cmnd *cmd,
					    const struct nvme_scsi_ns *ns)
{
	const u8 *cdb = cmd->cmnd;
	u64 last = ns->nsze - 1;
	u8 buf[32] = { };

	if (cdb[0] == READ_CAPACITY) {
		put_unaligned_be32(min_t(u64, last, 0xffffffff), &buf[0]);
		put_unaligned_be32(1U << ns->lba_shift, &buf[4]);
		return nvme_scsi_copy_out(cmd, buf, 8, 8);
	}
	/* SERVICE ACTION IN(16) / READ CAPACITY(16): the table checked the SA */
	put_unaligned_be64(last, &buf[0]);
	put_unaligned_be32(1U << ns->lba_shift, &buf[8]);
	if (nvme_scsi_has_dsm(ctrl))
		buf[14] = 0x80;			/* LBPME */
	return nvme_scsi_copy_out(cmd, buf, sizeof(buf),
				  get_unaligned_be32(&cdb[10]));
}

enum nvme_scsi_xlat nvme_scsi_report_luns_cmd(struct nvme_scsi_ctrl *ctrl,
					      struct scsi_cmnd *cmd,
					      const struct nvme_scsi_ns *ns)
{
	const u8 *cdb = cmd->cmnd;
	unsigned int alloc = get_unaligned_be32(&cdb[6]);
	unsigned int size = 8 + 8 * ctrl->nr_luns, len;
	enum nvme_scsi_xlat ret;
	u8 *buf;

	if (alloc < 4)		/* SPC-4 */
		return nvme_scsi_invalid_field(cmd);
	buf = kmalloc(size, GFP_ATOMIC);
	if (!buf)
		return NVME_SCSI_XLAT_BUSY;
	len = nvme_scsi_report_luns(ctrl, cdb[2], buf, size);
	if (!len)
		ret = nvme_scsi_invalid_field(cmd);
	else
		ret = nvme_scsi_copy_out(cmd, buf, len, alloc);
	kfree(buf);
	return ret;
}
