// SPDX-License-Identifier: GPL-2.0
/*
 * Log pages: LOG SENSE of the temperature (0Dh) and informational
 * exceptions (2Fh) pages, both from the SMART / Health log (02h).
 */
#include <linux/kernel.h>
#include <linux/slab.h>
#include <asm/unaligned.h>
#include <scsi/scsi_device.h>

#include "xlat.h"

static const u8 nvme_scsi_log_pages[] = { 0x00, 0x0d, 0x2f };

/*
 * Get Log Page SMART / Health (02h), controller-wide, for @cmd: the log
 * (kfree it), or NULL with @cmd's result set.
 */
struct nvme_smart_log *nvme_scsi_smart_log(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd)
{
	struct nvme_smart_log *smart;
	struct nvme_command c = { };
	int ret;

	smart = kzalloc(sizeof(*smart), GFP_KERNEL);
	if (!smart) {
		cmd->result = DID_REQUEUE << 16;
		return NULL;
	}
	c.get_log_page.opcode = nvme_admin_get_log_page;
	c.get_log_page.nsid = cpu_to_le32(NVME_NSID_ALL);
	c.get_log_page.lid = NVME_LOG_SMART;
	c.get_log_page.numdl = cpu_to_le16(sizeof(*smart) / 4 - 1);
	ret = nvme_scsi_deferred_exec(ctrl, false, &c, smart, sizeof(*smart),
				      false, nvme_scsi_admin_timeout * HZ);
	if (!nvme_scsi_deferred_status(cmd, ret)) {
		kfree(smart);
		return NULL;
	}
	return smart;
}

/* LOG SENSE: supported pages, temperature (0Dh), informational exceptions (2Fh). */
void nvme_scsi_log_sense(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd,
			 const struct nvme_scsi_ns *ns)
{
	const u8 *cdb = cmd->cmnd;
	u8 page = cdb[2] & 0x3f, subpage = cdb[3];
	unsigned int alloc = get_unaligned_be16(&cdb[7]), len;
	struct nvme_smart_log *smart;
	u8 buf[16] = { };
	int temp;

	if ((cdb[1] & 0x01) || subpage) {	/* PPC, subpages */
		nvme_scsi_invalid_field(cmd);
		return;
	}
	buf[0] = page;
	if (page == 0x00) {
		memcpy(&buf[4], nvme_scsi_log_pages, sizeof(nvme_scsi_log_pages));
		len = 4 + sizeof(nvme_scsi_log_pages);
		put_unaligned_be16(len - 4, &buf[2]);
		nvme_scsi_copy_out(cmd, buf, len, alloc);
		return;
	}
	if (page != 0x0d && page != 0x2f) {
		nvme_scsi_invalid_field(cmd);
		return;
	}

	smart = nvme_scsi_smart_log(ctrl, cmd);
	if (!smart)
		return;
	/* composite temperature in Kelvin -> Celsius, FFh if unknown */
	temp = get_unaligned_le16(smart->temperature);
	temp = temp ? clamp(temp - 273, 0, 0xfe) : 0xff;

	if (page == 0x0d) {
		/* 0000h temperature, 0001h reference temperature (unknown) */
		u8 params[] = { 0x00, 0x00, 0x03, 0x02, 0x00, temp,
				0x00, 0x01, 0x03, 0x02, 0x00, 0xff };

		memcpy(&buf[4], params, sizeof(params));
		len = 4 + sizeof(params);
	} else {
		/*
		 * 0000h general: IE ASC/ASCQ (5Dh/00h on a critical warning),
		 * temperature, threshold temperature (not available)
		 */
		u8 params[] = { 0x00, 0x00, 0x03, 0x04,
				smart->critical_warning ? 0x5d : 0x00, 0x00, temp, 0xff };

		memcpy(&buf[4], params, sizeof(params));
		len = 4 + sizeof(params);
	}
	put_unaligned_be16(len - 4, &buf[2]);
	kfree(smart);
	nvme_scsi_copy_out(cmd, buf, len, alloc);
}
