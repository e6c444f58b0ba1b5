// SPDX-License-Identifier: GPL-2.0
/*
 * Maintenance commands: START STOP UNIT, WRITE BUFFER (firmware download
 * and activation) and FORMAT UNIT, each one or more admin commands run from
 * the translation work item.
 */
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/mm.h>
#include <asm/unaligned.h>
#include <scsi/scsi_device.h>

#include "xlat.h"

/* START STOP UNIT: stopping flushes the volatile cache (power states unused). */
void nvme_scsi_start_stop(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd,
			  const struct nvme_scsi_ns *ns)
{
	const u8 *cdb = cmd->cmnd;
	struct nvme_command c = { };
	int ret;

	if (cdb[4] & 0x02) {			/* LOEJ: nothing to eject */
		nvme_scsi_invalid_field(cmd);
		return;
	}
	cmd->result = 0;
	if ((cdb[4] & 0xf1) || !READ_ONCE(ctrl->vwc_enabled))
		return;				/* START or a power condition */
	c.common.opcode = nvme_cmd_flush;
	c.common.nsid = cpu_to_le32(ns->nsid);
	ret = nvme_scsi_deferred_exec(ctrl, true, &c, NULL, 0, false, NULL,
				      nvme_scsi_io_timeout * HZ);
	nvme_scsi_deferred_status(cmd, ret);
}

static void nvme_scsi_fw_activate(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd,
				  u8 action, u8 slot)
{
	struct nvme_command c = { };
	int ret;

	c.common.opcode = nvme_admin_activate_fw;
	c.common.cdw10 = cpu_to_le32((action << 3) | (slot & 0x7));
	ret = nvme_scsi_deferred_exec(ctrl, false, &c, NULL, 0, false, NULL,
				      nvme_scsi_admin_timeout * HZ);
	nvme_scsi_deferred_status(cmd, ret);
}

/* Firmware Image Download of the command's data, in max_xfer pieces. */
static bool nvme_scsi_fw_download(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd,
				  u32 offset, u32 len)
{
	u32 done = 0, chunk = min_t(u32, len, ctrl->max_xfer);
	void *buf;
	int ret = 0;

	buf = kvmalloc(chunk, GFP_KERNEL);
	if (!buf) {
		cmd->result = DID_REQUEUE << 16;
		return false;
	}
	while (done < len) {
		struct nvme_command c = { };
		u32 n = min(len - done, chunk);

		sg_pcopy_to_buffer(scsi_sglist(cmd), scsi_sg_count(cmd), buf, n, done);
		c.dlfw.opcode = nvme_admin_download_fw;
		c.dlfw.numd = cpu_to_le32(n / 4 - 1);
		c.dlfw.offset = cpu_to_le32((offset + done) / 4);
		ret = nvme_scsi_deferred_exec(ctrl, false, &c, buf, n, true, NULL,
					      nvme_scsi_admin_timeout * HZ);
		if (ret)
			break;
		done += n;
	}
	kvfree(buf);
	return nvme_scsi_deferred_status(cmd, ret);
}

/* WRITE BUFFER: 05h download + activate, 0Eh download with offsets, 0Fh activate. */
void nvme_scsi_write_buffer(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd,
			    const struct nvme_scsi_ns *ns)
{
	const u8 *cdb = cmd->cmnd;
	u8 mode = cdb[1] & 0x1f, id = cdb[2];
	u32 offset = get_unaligned_be24(&cdb[3]), len = get_unaligned_be24(&cdb[6]);

	switch (mode) {
	case 0x05:
	case 0x0e:
		if ((mode == 0x05 && offset) || (offset & 3) || (len & 3) ||
		    !len || len > scsi_bufflen(cmd)) {
			nvme_scsi_invalid_field(cmd);
			return;
		}
		if (!nvme_scsi_fw_download(ctrl, cmd, offset, len))
			return;
		if (mode == 0x05)
			nvme_scsi_fw_activate(ctrl, cmd, 1, 0);
		return;
	case 0x0f:
		if (offset || len) {
			nvme_scsi_invalid_field(cmd);
			return;
		}
		nvme_scsi_fw_activate(ctrl, cmd, 2, id);
		return;
	default:
		nvme_scsi_invalid_field(cmd);
		return;
	}
}

/* FORMAT UNIT -> Format NVM with the namespace's current LBA format. */
void nvme_scsi_format_unit(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd,
			   const struct nvme_scsi_ns *ns)
{
	const u8 *cdb = cmd->cmnd;
	struct nvme_command c = { };
	struct nvme_id_ns *id;
	int ret;

	if (cdb[1] & 0xc0) {			/* FMTPINFO: no protection information */
		nvme_scsi_invalid_field(cmd);
		return;
	}
	id = kzalloc(sizeof(*id), GFP_KERNEL);
	if (!id) {
		cmd->result = DID_REQUEUE << 16;
		return;
	}
	c.identify.opcode = nvme_admin_identify;
	c.identify.nsid = cpu_to_le32(ns->nsid);
	c.identify.cns = NVME_ID_CNS_NS;
	ret = nvme_scsi_deferred_exec(ctrl, false, &c, id, sizeof(*id), false, NULL,
				      nvme_scsi_admin_timeout * HZ);
	if (nvme_scsi_deferred_status(cmd, ret)) {
		memset(&c, 0, sizeof(c));
		c.format.opcode = nvme_admin_format_nvm;
		c.format.nsid = cpu_to_le32(ns->nsid);
		c.format.cdw10 = cpu_to_le32(id->flbas & NVME_NS_FLBAS_LBA_MASK);
		dev_info(ctrl->dev, "FORMAT UNIT: Format NVM of NSID %u\n", ns->nsid);
		ret = nvme_scsi_deferred_exec(ctrl, false, &c, NULL, 0, false, NULL,
					      10 * nvme_scsi_admin_timeout * HZ);
		nvme_scsi_deferred_status(cmd, ret);
	}
	kfree(id);
}
