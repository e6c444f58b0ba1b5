// SPDX-License-Identifier: GPL-2.0
/*
 * Maintenance commands: START STOP UNIT, WRITE BUFFER (firmware download
 * and activation), FORMAT UNIT and SEND DIAGNOSTIC, each one or more admin
 * commands run from the translation work item; REPORT SUPPORTED OPERATION
 * CODES, answered from the command table.
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
	ret = nvme_scsi_deferred_cmd(ctrl, true, &c, nvme_scsi_io_timeout * HZ);
	nvme_scsi_deferred_status(cmd, ret);
}

static void nvme_scsi_fw_activate(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd,
				  u8 action, u8 slot)
{
	struct nvme_command c = { };
	int ret;

	c.common.opcode = nvme_admin_activate_fw;
	c.common.cdw10 = cpu_to_le32((action << 3) | (slot & 0x7));
	ret = nvme_scsi_deferred_cmd(ctrl, false, &c, nvme_scsi_admin_timeout * HZ);
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
		ret = nvme_scsi_deferred_exec(ctrl, false, &c, buf, n, true,
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
	ret = nvme_scsi_identify(ctrl, ns->nsid, NVME_ID_CNS_NS, id);
	if (nvme_scsi_deferred_status(cmd, ret)) {
		c.format.opcode = nvme_admin_format_nvm;
		c.format.nsid = cpu_to_le32(ns->nsid);
		c.format.cdw10 = cpu_to_le32(id->flbas & NVME_NS_FLBAS_LBA_MASK);
		dev_info(ctrl->dev, "FORMAT UNIT: Format NVM of NSID %u\n", ns->nsid);
		ret = nvme_scsi_deferred_cmd(ctrl, false, &c,
					     10 * nvme_scsi_admin_timeout * HZ);
		nvme_scsi_deferred_status(cmd, ret);
	}
	kfree(id);
}

/*
 * SEND DIAGNOSTIC. SELFTEST=1 (the default self-test): a health check of
 * the controller, the SMART / Health log; a critical warning fails it
 * (HARDWARE ERROR, LOGICAL UNIT FAILED SELF-TEST). SELFTEST=0 with no
 * parameter list does nothing. NVMe 1.0 has no Device Self-test and the
 * driver no diagnostic pages: a self-test code or a parameter list is
 * INVALID FIELD IN CDB.
 */
void nvme_scsi_send_diagnostic(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd,
			       const struct nvme_scsi_ns *ns)
{
	const u8 *cdb = cmd->cmnd;
	struct nvme_smart_log *smart;

	if ((cdb[1] & 0xe0) || get_unaligned_be16(&cdb[3])) {
		nvme_scsi_invalid_field(cmd);
		return;
	}
	cmd->result = 0;
	if (!(cdb[1] & 0x04))			/* SELFTEST */
		return;
	smart = nvme_scsi_smart_log(ctrl, cmd);
	if (!smart)
		return;
	if (smart->critical_warning) {
		dev_warn(ctrl->dev, "SEND DIAGNOSTIC: self-test failed, SMART critical warning %#x\n",
			 smart->critical_warning);
		nvme_scsi_check(cmd, HARDWARE_ERROR, 0x3e, 0x03);
	}
	kfree(smart);
}

/* REPORT SUPPORTED OPERATION CODES: command timeouts descriptor (RCTD). */
static unsigned int nvme_scsi_rsoc_timeouts(const struct nvme_scsi_op *op, u8 *p)
{
	u32 timeout = nvme_scsi_io_timeout;

	/* an .exec translation may wait for an admin command too */
	if (op->exec)
		timeout = max(timeout, nvme_scsi_admin_timeout);
	if (op->flags & NVME_SCSI_OP_LONG)
		timeout = 10 * nvme_scsi_admin_timeout;
	put_unaligned_be16(0x0a, &p[0]);
	put_unaligned_be32(0, &p[4]);		/* nominal: not specified */
	put_unaligned_be32(timeout, &p[8]);	/* recommended, seconds */
	return 12;
}

/* Reporting options 000b: a command descriptor per supported command. */
static enum nvme_scsi_xlat nvme_scsi_rsoc_all(struct nvme_scsi_ctrl *ctrl,
					      struct scsi_cmnd *cmd, bool rctd, u32 alloc)
{
	unsigned int i, n = 0, len, size = 8 + (rctd ? 12 : 0);
	enum nvme_scsi_xlat ret;
	u8 *buf, *p;

	for (i = 0; i < ARRAY_SIZE(nvme_scsi_ops); i++)
		n += nvme_scsi_op_supported(ctrl, &nvme_scsi_ops[i]);
	len = 4 + n * size;
	buf = kzalloc(len, GFP_ATOMIC);
	if (!buf)
		return NVME_SCSI_XLAT_BUSY;
	p = buf + 4;
	for (i = 0; i < ARRAY_SIZE(nvme_scsi_ops); i++) {
		const struct nvme_scsi_op *op = &nvme_scsi_ops[i];

		if (!nvme_scsi_op_supported(ctrl, op))
			continue;
		p[0] = i;
		if (op->flags & NVME_SCSI_OP_SA) {
			put_unaligned_be16(nvme_scsi_op_sa(op), &p[2]);
			p[5] |= 0x01;			/* SERVACTV */
		}
		put_unaligned_be16(op->cdb_len, &p[6]);
		if (rctd) {
			p[5] |= 0x02;			/* CTDP */
			nvme_scsi_rsoc_timeouts(op, &p[8]);
		}
		p += size;
	}
	put_unaligned_be32(len - 4, &buf[0]);
	ret = nvme_scsi_copy_out(cmd, buf, len, alloc);
	kfree(buf);
	return ret;
}

/*
 * REPORT SUPPORTED OPERATION CODES (MAINTENANCE IN, 0Ch), generated from
 * nvme_scsi_ops[]: reporting options 000b (all commands), 001b (one
 * command without service actions) and 010b (one command and service
 * action), with the command timeouts descriptor when RCTD is set. A single
 * command comes with its CDB usage data (SUPPORT 011b) or, when the driver
 * does not take it, SUPPORT 001b. Other reporting options: INVALID FIELD IN
 * CDB.
 */
enum nvme_scsi_xlat nvme_scsi_report_opcodes(struct nvme_scsi_ctrl *ctrl,
					     struct scsi_cmnd *cmd,
					     const struct nvme_scsi_ns *ns)
{
	const u8 *cdb = cmd->cmnd;
	bool rctd = cdb[2] & 0x80;
	u8 options = cdb[2] & 0x07, opcode = cdb[3];
	u16 sa = get_unaligned_be16(&cdb[4]);
	u32 alloc = get_unaligned_be32(&cdb[6]);
	const struct nvme_scsi_op *op = &nvme_scsi_ops[opcode];
	bool supported = nvme_scsi_op_supported(ctrl, op);
	u8 buf[4 + 16 + 12] = { };
	unsigned int len = 4;

	switch (options) {
	case 0:
		return nvme_scsi_rsoc_all(ctrl, cmd, rctd, alloc);
	case 1:		/* the opcode must not have service actions */
		if (supported && (op->flags & NVME_SCSI_OP_SA))
			return nvme_scsi_invalid_field(cmd);
		break;
	case 2:		/* the opcode must have service actions */
		if (supported && !(op->flags & NVME_SCSI_OP_SA))
			return nvme_scsi_invalid_field(cmd);
		supported = supported && sa == nvme_scsi_op_sa(op);
		break;
	default:
		return nvme_scsi_invalid_field(cmd);
	}
	if (!supported) {
		buf[1] = 0x01;		/* SUPPORT 001b: not supported */
		return nvme_scsi_copy_out(cmd, buf, len, alloc);
	}
	buf[1] = 0x03;			/* SUPPORT 011b: as the standard says */
	put_unaligned_be16(op->cdb_len, &buf[2]);
	memcpy(&buf[4], op->usage, op->cdb_len);
	len += op->cdb_len;
	if (rctd) {
		buf[1] |= 0x80;		/* CTDP */
		len += nvme_scsi_rsoc_timeouts(op, &buf[len]);
	}
	return nvme_scsi_copy_out(cmd, buf, len, alloc);
}
