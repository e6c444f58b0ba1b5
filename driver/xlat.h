/* SPDX-License-Identifier: GPL-2.0 */
/*
 * SCSI -> NVMe translation, shared by the files that translate one family
 * of SCSI commands each (see DESIGN.md, "Files").
 *
 * A command is translated either in queuecommand (.xlat: answered at once
 * or sent as one NVMe IO command) or, when it needs an admin command,
 * parameter data or several NVMe commands, in a work item (.exec: runs the
 * NVMe commands with a driver CID and sets the SCSI result).
 */
#ifndef NVME_SCSI_XLAT_H
#define NVME_SCSI_XLAT_H

#include <scsi/scsi.h>
#include <scsi/scsi_cmnd.h>

#include "nvme_scsi.h"

enum nvme_scsi_xlat {
	NVME_SCSI_XLAT_DONE,		/* answered here: call scsi_done() */
	NVME_SCSI_XLAT_SUBMITTED,	/* an NVMe command will complete it */
	NVME_SCSI_XLAT_BUSY,		/* out of resources: midlayer retries */
};

/* nvme_scsi_op.flags */
#define NVME_SCSI_OP_ANY_LUN	0x01	/* answered on a LUN without a namespace too */
#define NVME_SCSI_OP_SA		0x02	/* only with service action .sa (CDB byte 1) */
#define NVME_SCSI_OP_NO_UA	0x04	/* never reports a unit attention */
#define NVME_SCSI_OP_DSM	0x08	/* only if the controller has Dataset Management */
#define NVME_SCSI_OP_FORMAT	0x10	/* only if the controller has Format NVM */
#define NVME_SCSI_OP_LONG	0x20	/* may take 10 x admin_timeout (FORMAT UNIT) */

/* Identify Controller OACS bit 1 (<linux/nvme.h> has no name for it) */
#define NVME_SCSI_OACS_FORMAT	BIT(1)

/*
 * How one SCSI operation code is translated: exactly one of xlat, exec.
 * usage: the CDB usage data REPORT SUPPORTED OPERATION CODES returns,
 * cdb_len bytes (see the table in scsi.c); with NVME_SCSI_OP_SA its byte 1
 * is the one service action taken (nvme_scsi_op_sa()).
 */
struct nvme_scsi_op {
	u8 cdb_len;
	u8 flags;
	const u8 *usage;
	enum nvme_scsi_xlat (*xlat)(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd,
				    const struct nvme_scsi_ns *ns);
	void (*exec)(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd,
		     const struct nvme_scsi_ns *ns);
};

/* scsi.c: the table, indexed by operation code */
extern const struct nvme_scsi_op nvme_scsi_ops[256];
bool nvme_scsi_op_supported(struct nvme_scsi_ctrl *ctrl, const struct nvme_scsi_op *op);

static inline u8 nvme_scsi_op_sa(const struct nvme_scsi_op *op)
{
	return op->usage[1] & 0x1f;
}

/* Dataset Management (deallocate) backs UNMAP / logical block provisioning. */
static inline bool nvme_scsi_has_dsm(struct nvme_scsi_ctrl *ctrl)
{
	return ctrl->oncs & NVME_CTRL_ONCS_DSM;
}

#define NVME_SCSI_MAX_DSM_RANGES	(NVME_SCSI_PAGE_SIZE / sizeof(struct nvme_dsm_range))

/* sense.c: status and sense data */
enum nvme_scsi_xlat nvme_scsi_check(struct scsi_cmnd *cmd, u8 key, u8 asc, u8 ascq);
enum nvme_scsi_xlat nvme_scsi_invalid_field(struct scsi_cmnd *cmd);
void nvme_scsi_bad_param(struct scsi_cmnd *cmd);
void nvme_scsi_param_len_error(struct scsi_cmnd *cmd);
void nvme_scsi_set_status(struct scsi_cmnd *cmd, u16 status);
enum nvme_scsi_xlat nvme_scsi_copy_out(struct scsi_cmnd *cmd, const void *buf,
				       unsigned int len, unsigned int alloc);
enum nvme_scsi_xlat nvme_scsi_request_sense(struct nvme_scsi_ctrl *ctrl,
					    struct scsi_cmnd *cmd,
					    const struct nvme_scsi_ns *ns);

/* scsi.c: unit attentions; NVMe commands of a translation in a work item */
bool nvme_scsi_take_ua(struct scsi_cmnd *cmd, u8 *asc, u8 *ascq);
int nvme_scsi_deferred_cmd(struct nvme_scsi_ctrl *ctrl, bool io,
			   struct nvme_command *c, unsigned long timeout);
int nvme_scsi_deferred_exec(struct nvme_scsi_ctrl *ctrl, bool io,
			    struct nvme_command *c, void *data, u32 len,
			    bool to_dev, unsigned long timeout);
bool nvme_scsi_deferred_status(struct scsi_cmnd *cmd, int ret);

/* rw.c: READ, WRITE, SYNCHRONIZE CACHE, UNMAP */
struct nvme_scsi_queue *nvme_scsi_cmd_queue(struct nvme_scsi_ctrl *ctrl,
					    struct scsi_cmnd *cmd, u16 *cid);
bool nvme_scsi_is_scsi_req(struct nvme_scsi_req *req);
enum nvme_scsi_xlat nvme_scsi_rw(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd,
				 const struct nvme_scsi_ns *ns);
enum nvme_scsi_xlat nvme_scsi_flush(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd,
				    const struct nvme_scsi_ns *ns);
void nvme_scsi_unmap_cmd(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd,
			 const struct nvme_scsi_ns *ns);
bool nvme_scsi_range_ok(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd,
			const struct nvme_scsi_ns *ns, u64 lba, u32 nlb);

/* rw_range.c: VERIFY, WRITE SAME */
void nvme_scsi_verify(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd,
		      const struct nvme_scsi_ns *ns);
void nvme_scsi_write_same(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd,
			  const struct nvme_scsi_ns *ns);
u32 nvme_scsi_max_write_same(const struct nvme_scsi_ns *ns);
bool nvme_scsi_ws_unmap(struct nvme_scsi_ctrl *ctrl, const struct nvme_scsi_ns *ns);

/* inquiry.c: INQUIRY and VPD pages, READ CAPACITY, REPORT LUNS */
enum nvme_scsi_xlat nvme_scsi_inquiry(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd,
				      const struct nvme_scsi_ns *ns);
enum nvme_scsi_xlat nvme_scsi_read_capacity(struct nvme_scsi_ctrl *ctrl,
					    struct scsi_cmnd *cmd,
					    const struct nvme_scsi_ns *ns);
enum nvme_scsi_xlat nvme_scsi_report_luns_cmd(struct nvme_scsi_ctrl *ctrl,
					      struct scsi_cmnd *cmd,
					      const struct nvme_scsi_ns *ns);

/* mode.c: MODE SENSE, MODE SELECT */
enum nvme_scsi_xlat nvme_scsi_mode_sense(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd,
					 const struct nvme_scsi_ns *ns);
void nvme_scsi_mode_select(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd,
			   const struct nvme_scsi_ns *ns);

/* log.c: LOG SENSE */
struct nvme_smart_log *nvme_scsi_smart_log(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd);
void nvme_scsi_log_sense(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd,
			 const struct nvme_scsi_ns *ns);

/*
 * maint.c: START STOP UNIT, WRITE BUFFER, FORMAT UNIT, SEND DIAGNOSTIC,
 * REPORT SUPPORTED OPERATION CODES
 */
void nvme_scsi_start_stop(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd,
			  const struct nvme_scsi_ns *ns);
void nvme_scsi_write_buffer(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd,
			    const struct nvme_scsi_ns *ns);
void nvme_scsi_format_unit(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd,
			   const struct nvme_scsi_ns *ns);
void nvme_scsi_send_diagnostic(struct nvme_scsi_ctrl *ctrl, struct scsi_cmnd *cmd,
			       const struct nvme_scsi_ns *ns);
enum nvme_scsi_xlat nvme_scsi_report_opcodes(struct nvme_scsi_ctrl *ctrl,
					     struct scsi_cmnd *cmd,
					     const struct nvme_scsi_ns *ns);

/* eh.c: SCSI error handling */
enum blk_eh_timer_return nvme_scsi_eh_timed_out(struct scsi_cmnd *cmd);
int nvme_scsi_eh_abort(struct scsi_cmnd *cmd);
int nvme_scsi_eh_device_reset(struct scsi_cmnd *cmd);
int nvme_scsi_eh_host_reset(struct scsi_cmnd *cmd);
int nvme_scsi_host_reset(struct Scsi_Host *shost, int reset_type);

#endif /* NVME_SCSI_XLAT_H */
