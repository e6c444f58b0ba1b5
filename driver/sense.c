// SPDX-License-Identifier: GPL-2.0
/*
 * Status and sense data: NVMe completion status -> SCSI result and sense
 * (fixed or descriptor format, as the control mode page's D_SENSE says),
 * the sense helpers every translation uses, and REQUEST SENSE.
 */
#include <linux/kernel.h>
#include <linux/blk-mq.h>
#include <scsi/scsi_device.h>
#include <scsi/scsi_host.h>
#include <scsi/scsi_eh.h>

#include "xlat.h"

/* Fixed or descriptor format, as the control mode page's D_SENSE says. */
static int nvme_scsi_desc_sense(struct scsi_cmnd *cmd)
{
	return READ_ONCE(shost_to_ctrl(cmd->device->host)->d_sense);
}

enum nvme_scsi_xlat nvme_scsi_check(struct scsi_cmnd *cmd, u8 key, u8 asc, u8 ascq)
{
	scsi_build_sense(cmd, nvme_scsi_desc_sense(cmd), key, asc, ascq);
	scsi_set_resid(cmd, scsi_bufflen(cmd));
	return NVME_SCSI_XLAT_DONE;
}

enum nvme_scsi_xlat nvme_scsi_invalid_field(struct scsi_cmnd *cmd)
{
	return nvme_scsi_check(cmd, ILLEGAL_REQUEST, 0x24, 0x00);
}

/* NVMe completion status -> SCSI result and sense (DESIGN.md table). */
void nvme_scsi_set_status(struct scsi_cmnd *cmd, u16 status)
{
	u8 key = ILLEGAL_REQUEST, asc = 0, ascq = 0;

	if (nvme_scsi_status_is_driver(status)) {
		/* cancelled by a reset: retry; controller dead: give up */
		cmd->result = (status == NVME_SCSI_SC_CANCELLED ? DID_RESET :
			       DID_NO_CONNECT) << 16;
		return;
	}
	switch (NVME_SCSI_STATUS_CODE(status)) {
	case NVME_SC_SUCCESS:
		cmd->result = 0;
		return;
	case NVME_SC_INVALID_OPCODE:
		asc = 0x20;				/* invalid command op code */
		break;
	case NVME_SC_INVALID_FIELD:
		asc = 0x24;				/* invalid field in CDB */
		break;
	case NVME_SC_DATA_XFER_ERROR:
		key = MEDIUM_ERROR;
		break;
	case NVME_SC_INTERNAL:
		key = HARDWARE_ERROR;
		asc = 0x44;				/* internal target failure */
		break;
	case NVME_SC_ABORT_REQ:
	case NVME_SC_ABORT_QUEUE:
	case NVME_SC_FUSED_FAIL:
	case NVME_SC_FUSED_MISSING:
		key = ABORTED_COMMAND;			/* task aborted */
		break;
	case NVME_SC_INVALID_NS:
		asc = 0x20;
		ascq = 0x09;				/* invalid LU identifier */
		break;
	case NVME_SC_LBA_RANGE:
		asc = 0x21;				/* LBA out of range */
		break;
	case NVME_SC_NS_NOT_READY:
		key = NOT_READY;
		asc = 0x04;				/* LU not ready */
		break;
	case NVME_SC_WRITE_FAULT:
		key = MEDIUM_ERROR;
		asc = 0x03;				/* peripheral write fault */
		break;
	case NVME_SC_READ_ERROR:
		key = MEDIUM_ERROR;
		asc = 0x11;				/* unrecovered read error */
		break;
	case NVME_SC_COMPARE_FAILED:
		key = MISCOMPARE;
		asc = 0x1d;				/* miscompare during verify */
		break;
	default:
		break;
	}
	nvme_scsi_check(cmd, key, asc, ascq);
	/*
	 * DNR: the controller says the same command will fail again.  Sense
	 * data has no such bit and the midlayer retries ABORTED COMMAND and
	 * most MEDIUM ERRORs; REQ_FAILFAST_DEV makes scsi_noretry_cmd() fail
	 * the command at once instead.
	 */
	if (status & NVME_STATUS_DNR)
		scsi_cmd_to_rq(cmd)->cmd_flags |= REQ_FAILFAST_DEV;
}

/* Copy emulated response data into the command's buffer. */
enum nvme_scsi_xlat nvme_scsi_copy_out(struct scsi_cmnd *cmd, const void *buf,
				       unsigned int len, unsigned int alloc)
{
	unsigned int n = min(len, alloc);

	n = n ? scsi_sg_copy_from_buffer(cmd, buf, n) : 0;
	scsi_set_resid(cmd, scsi_bufflen(cmd) - n);
	cmd->result = 0;
	return NVME_SCSI_XLAT_DONE;
}

/*
 * REQUEST SENSE: a pending unit attention (and clears it), else NO SENSE;
 * no deferred errors are kept.
 */
enum nvme_scsi_xlat nvme_scsi_request_sense(struct nvme_scsi_ctrl *ctrl,
					    struct scsi_cmnd *cmd,
					    const struct nvme_scsi_ns *ns)
{
	const u8 *cdb = cmd->cmnd;
	bool desc = cdb[1] & 0x01;
	u8 buf[18] = { }, asc, ascq;

	if (nvme_scsi_take_ua(cmd, &asc, &ascq))
		scsi_build_sense_buffer(desc, buf, UNIT_ATTENTION, asc, ascq);
	else
		scsi_build_sense_buffer(desc, buf, NO_SENSE, 0, 0);
	return nvme_scsi_copy_out(cmd, buf, desc ? 8 : 18, cdb[4]);
}

void nvme_scsi_bad_param(struct scsi_cmnd *cmd)
{
	/* invalid field in parameter list */
	nvme_scsi_check(cmd, ILLEGAL_REQUEST, 0x26, 0x00);
}

void nvme_scsi_param_len_error(struct scsi_cmnd *cmd)
{
	nvme_scsi_check(cmd, ILLEGAL_REQUEST, 0x1a, 0x00);	/* parameter list length error */
}

