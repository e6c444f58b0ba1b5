// SPDX-License-Identifier: GPL-2.0
/*
 * SCSI host: the host template, queuecommand and the table of the SCSI
 * commands the driver translates (one family per file: rw.c, rw_range.c,
 * inquiry.c, mode.c, log.c, maint.c; sense in sense.c, error handling in
 * eh.c), the
 * work item that runs translations needing admin commands, LUN state and
 * the host's sysfs attributes.
 */
#include <linux/kernel.h>
#include <linux/blk-mq.h>
#include <linux/blk-mq-pci.h>
#include <linux/slab.h>
#include <linux/workqueue.h>
#include <scsi/scsi.h>
#include <scsi/scsi_cmnd.h>
#include <scsi/scsi_device.h>
#include <scsi/scsi_host.h>

#include "xlat.h"

/* A copy of the namespace behind @lun, if it has one. */
static bool nvme_scsi_get_ns(struct nvme_scsi_ctrl *ctrl, u64 lun,
			     struct nvme_scsi_ns *copy)
{
	struct nvme_scsi_ns *ns;
	bool found = false;

	if (lun >= ctrl->nr_luns)
		return false;
	rcu_read_lock();
	ns = rcu_dereference(ctrl->ns[lun]);
	if (ns) {
		*copy = *ns;
		found = true;
	}
	rcu_read_unlock();
	return found;
}

/* ---- unit attentions --------------------------------------------------- */

static const u8 nvme_scsi_ua_sense[NVME_SCSI_NR_UA][2] = {
	[NVME_SCSI_UA_MICROCODE_CHANGED]	= { 0x3f, 0x01 },
	[NVME_SCSI_UA_INQUIRY_CHANGED]		= { 0x3f, 0x03 },
	[NVME_SCSI_UA_CAPACITY_CHANGED]		= { 0x2a, 0x09 },
};

/*
 * The bits live in the controller, per LUN, not in the scsi_device: a
 * reset raises them while a LUN may be going away (its hostdata freed).
 */
void nvme_scsi_unit_attention(struct nvme_scsi_ctrl *ctrl, int lun, enum nvme_scsi_ua ua)
{
	unsigned int i;

	for (i = 0; i < ctrl->nr_luns; i++)
		if (lun < 0 || i == lun)
			set_bit(ua, &ctrl->ua[i]);
}

/*
 * Take the most important unit attention pending on @cmd's LUN: its
 * ASC/ASCQ in @asc, @ascq; false if there is none. Each is reported once.
 */
bool nvme_scsi_take_ua(struct scsi_cmnd *cmd, u8 *asc, u8 *ascq)
{
	struct nvme_scsi_ctrl *ctrl = shost_to_ctrl(cmd->device->host);
	u64 lun = cmd->device->lun;
	unsigned int ua;

	if (lun >= ctrl->nr_luns || !READ_ONCE(ctrl->ua[lun]))
		return false;
	for (ua = 0; ua < NVME_SCSI_NR_UA; ua++) {
		if (test_and_clear_bit(ua, &ctrl->ua[lun])) {
			*asc = nvme_scsi_ua_sense[ua][0];
			*ascq = nvme_scsi_ua_sense[ua][1];
			return true;
		}
	}
	return false;
}

/* A LUN that appears has nothing to report yet. */
static int nvme_scsi_slave_alloc(struct scsi_device *sdev)
{
	struct nvme_scsi_ctrl *ctrl = shost_to_ctrl(sdev->host);

	if (sdev->lun < ctrl->nr_luns)
		WRITE_ONCE(ctrl->ua[sdev->lun], 0);
	return 0;
}

/* ---- commands translated in process context ---------------------------- */

/*
 * Commands with an .exec translation need an NVMe admin command, parameter
 * data or several NVMe commands: queuecommand hands them to a work item,
 * which runs the NVMe command(s) with a driver CID (admin slot or
 * passthrough CID of an IO queue) and then ends the SCSI command. The
 * block-layer timer is re-armed while the work runs; the NVMe commands have
 * their own timeouts (and a timeout there resets the controller).
 */

/*
 * NVMe command for a deferred SCSI command, its data (if any) already in a
 * driver buffer that @c points to (nvme_scsi_buf_alloc/_map).
 */
int nvme_scsi_deferred_cmd(struct nvme_scsi_ctrl *ctrl, bool io,
			   struct nvme_command *c, unsigned long timeout)
{
	struct nvme_scsi_queue *q;

	if (nvme_scsi_state(ctrl) != NVME_SCSI_LIVE)
		return -EINTR;
	q = io ? nvme_scsi_pt_io_queue(ctrl) : &ctrl->queues[0];
	return nvme_scsi_exec(ctrl, q, c, NULL, timeout);
}

/*
 * NVMe command for a deferred SCSI command with @len (> 0) bytes of data in
 * a driver buffer; @data is copied in or out.
 */
int nvme_scsi_deferred_exec(struct nvme_scsi_ctrl *ctrl, bool io,
			    struct nvme_command *c, void *data, u32 len,
			    bool to_dev, unsigned long timeout)
{
	struct nvme_scsi_buf b;
	int ret;

	ret = nvme_scsi_buf_alloc(ctrl, &b, len, c);
	if (ret)
		return ret;
	if (to_dev)
		memcpy(b.cpu, data, len);
	ret = nvme_scsi_deferred_cmd(ctrl, io, c, timeout);
	if (!ret && !to_dev)
		memcpy(data, b.cpu, len);
	nvme_scsi_buf_free(ctrl, &b);
	return ret;
}

/* Result of nvme_scsi_deferred_exec() as a SCSI result; true if GOOD. */
bool nvme_scsi_deferred_status(struct scsi_cmnd *cmd, int ret)
{
	if (ret > 0) {
		nvme_scsi_set_status(cmd, ret);
		return false;
	}
	switch (ret) {
	case 0:
		cmd->result = 0;
		return true;
	case -ENODEV:
		cmd->result = DID_NO_CONNECT << 16;
		break;
	case -ENOMEM:
	case -EBUSY:
		cmd->result = DID_REQUEUE << 16;
		break;
	default:	/* cancelled or timed out: the controller is being reset */
		cmd->result = DID_RESET << 16;
		break;
	}
	return false;
}

static void nvme_scsi_deferred_work(struct work_struct *work)
{
	struct nvme_scsi_iod *iod = container_of(work, struct nvme_scsi_iod, work);
	struct scsi_cmnd *cmd = iod->cmd;
	struct nvme_scsi_ctrl *ctrl = shost_to_ctrl(cmd->device->host);
	struct nvme_scsi_ns ns;

	cmd->result = 0;
	scsi_set_resid(cmd, scsi_bufflen(cmd));
	if (!nvme_scsi_get_ns(ctrl, cmd->device->lun, &ns))
		nvme_scsi_check(cmd, ILLEGAL_REQUEST, 0x25, 0x00);
	else
		iod->op->exec(ctrl, cmd, &ns);
	WRITE_ONCE(iod->deferred, false);
	scsi_done(cmd);
}

static enum nvme_scsi_xlat nvme_scsi_defer(struct scsi_cmnd *cmd,
					   const struct nvme_scsi_op *op)
{
	struct nvme_scsi_iod *iod = scsi_cmd_priv(cmd);

	iod->cmd = cmd;
	iod->op = op;
	WRITE_ONCE(iod->deferred, true);
	INIT_WORK(&iod->work, nvme_scsi_deferred_work);
	queue_work(nvme_scsi_xlat_wq, &iod->work);
	return NVME_SCSI_XLAT_SUBMITTED;
}

/* ---- the command table ------------------------------------------------- */

static enum nvme_scsi_xlat nvme_scsi_test_unit_ready(struct nvme_scsi_ctrl *ctrl,
						     struct scsi_cmnd *cmd,
						     const struct nvme_scsi_ns *ns)
{
	if (!ns || !nvme_scsi_ctrl_ready(ctrl))
		return nvme_scsi_check(cmd, NOT_READY, 0x04, 0x00);
	return nvme_scsi_copy_out(cmd, NULL, 0, 0);
}

/* PREVENT ALLOW MEDIUM REMOVAL: the medium cannot be removed, allowing it is no change. */
static enum nvme_scsi_xlat nvme_scsi_allow_removal(struct nvme_scsi_ctrl *ctrl,
						   struct scsi_cmnd *cmd,
						   const struct nvme_scsi_ns *ns)
{
	if (cmd->cmnd[4] & 0x03)
		return nvme_scsi_invalid_field(cmd);
	return nvme_scsi_copy_out(cmd, NULL, 0, 0);
}

/*
 * Table entries. The variable arguments are the CDB usage data that REPORT
 * SUPPORTED OPERATION CODES returns, one byte per CDB byte (so they also
 * give the CDB length): byte 0 the operation code, byte 1 of a command with
 * service actions its service action, every other bit 1 where the driver
 * accepts a one (it uses the field, or ignores it as the translation
 * reference allows), 0 where a one is reserved or refused.
 */
#define OP_USAGE(...)		.usage = (const u8[]){ __VA_ARGS__ }, \
				.cdb_len = sizeof((const u8[]){ __VA_ARGS__ })
#define XLAT(fl, fn, ...)	{ .xlat = fn, .flags = fl, OP_USAGE(__VA_ARGS__) }
#define EXEC(fl, fn, ...)	{ .exec = fn, .flags = fl, OP_USAGE(__VA_ARGS__) }
#define XLAT_SA(fn, ...)	{ .xlat = fn, .flags = NVME_SCSI_OP_SA, OP_USAGE(__VA_ARGS__) }

#define ANY_LUN			NVME_SCSI_OP_ANY_LUN
#define ANY_LUN_NO_UA		(NVME_SCSI_OP_ANY_LUN | NVME_SCSI_OP_NO_UA)
#define FF			0xff
#define RW_BITS			0x1a	/* DPO, FUA, FUA_NV; RDPROTECT/WRPROTECT 0 */
#define VERIFY_BITS		0x16	/* DPO, BYTCHK; VRPROTECT 0 */
#define GROUP			0x1f

/*
 * Every SCSI command the driver accepts, by operation code: what queuecommand
 * dispatches on and what REPORT SUPPORTED OPERATION CODES lists, so the two
 * cannot disagree. Anything else is INVALID COMMAND OPERATION CODE.
 */
const struct nvme_scsi_op nvme_scsi_ops[256] = {
	[TEST_UNIT_READY]	= XLAT(ANY_LUN, nvme_scsi_test_unit_ready,
				       TEST_UNIT_READY, 0, 0, 0, 0, 0),
	[REQUEST_SENSE]		= XLAT(ANY_LUN_NO_UA, nvme_scsi_request_sense,
				       REQUEST_SENSE, 0x01, 0, 0, FF, 0),
	[FORMAT_UNIT]		= EXEC(NVME_SCSI_OP_FORMAT | NVME_SCSI_OP_LONG,
				       nvme_scsi_format_unit, FORMAT_UNIT, 0x3f, 0, 0, 0, 0),
	[READ_6]		= XLAT(0, nvme_scsi_rw, READ_6, 0x1f, FF, FF, FF, 0),
	[WRITE_6]		= XLAT(0, nvme_scsi_rw, WRITE_6, 0x1f, FF, FF, FF, 0),
	[SEND_DIAGNOSTIC]	= EXEC(0, nvme_scsi_send_diagnostic,
				       SEND_DIAGNOSTIC, 0x17, 0, 0, 0, 0),
	[INQUIRY]		= XLAT(ANY_LUN_NO_UA, nvme_scsi_inquiry,
				       INQUIRY, 0x01, FF, FF, FF, 0),
	[MODE_SELECT]		= EXEC(0, nvme_scsi_mode_select, MODE_SELECT, 0x10, 0, 0, FF, 0),
	[MODE_SENSE]		= XLAT(0, nvme_scsi_mode_sense, MODE_SENSE, 0x08, FF, FF, FF, 0),
	[START_STOP]		= EXEC(0, nvme_scsi_start_stop, START_STOP, 0x01, 0, 0x0f, 0xf5, 0),
	[ALLOW_MEDIUM_REMOVAL]	= XLAT(0, nvme_scsi_allow_removal,
				       ALLOW_MEDIUM_REMOVAL, 0, 0, 0, 0, 0),
	[READ_CAPACITY]		= XLAT(0, nvme_scsi_read_capacity,
				       READ_CAPACITY, 0, 0, 0, 0, 0, 0, 0, 0, 0),
	[READ_10]		= XLAT(0, nvme_scsi_rw,
				       READ_10, RW_BITS, FF, FF, FF, FF, GROUP, FF, FF, 0),
	[WRITE_10]		= XLAT(0, nvme_scsi_rw,
				       WRITE_10, RW_BITS, FF, FF, FF, FF, GROUP, FF, FF, 0),
	[VERIFY]		= EXEC(0, nvme_scsi_verify,
				       VERIFY, VERIFY_BITS, FF, FF, FF, FF, GROUP, FF, FF, 0),
	[SYNCHRONIZE_CACHE]	= XLAT(0, nvme_scsi_flush,
				       SYNCHRONIZE_CACHE, 0x02, FF, FF, FF, FF, GROUP, FF, FF, 0),
	[WRITE_BUFFER]		= EXEC(0, nvme_scsi_write_buffer,
				       WRITE_BUFFER, 0x1f, FF, FF, FF, FF, FF, FF, FF, 0),
	[WRITE_SAME]		= EXEC(0, nvme_scsi_write_same,
				       WRITE_SAME, 0x08, FF, FF, FF, FF, GROUP, FF, FF, 0),
	[UNMAP]			= EXEC(NVME_SCSI_OP_DSM, nvme_scsi_unmap_cmd,
				       UNMAP, 0, 0, 0, 0, 0, GROUP, FF, FF, 0),
	[LOG_SENSE]		= EXEC(0, nvme_scsi_log_sense,
				       LOG_SENSE, 0x02, FF, 0, 0, FF, FF, FF, FF, 0),
	[MODE_SELECT_10]	= EXEC(0, nvme_scsi_mode_select,
				       MODE_SELECT_10, 0x10, 0, 0, 0, 0, 0, FF, FF, 0),
	[MODE_SENSE_10]		= XLAT(0, nvme_scsi_mode_sense,
				       MODE_SENSE_10, 0x18, FF, FF, 0, 0, 0, FF, FF, 0),
	[READ_16]		= XLAT(0, nvme_scsi_rw, READ_16, RW_BITS,
				       FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, GROUP, 0),
	[WRITE_16]		= XLAT(0, nvme_scsi_rw, WRITE_16, RW_BITS,
				       FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, GROUP, 0),
	[VERIFY_16]		= EXEC(0, nvme_scsi_verify, VERIFY_16, VERIFY_BITS,
				       FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, GROUP, 0),
	[SYNCHRONIZE_CACHE_16]	= XLAT(0, nvme_scsi_flush, SYNCHRONIZE_CACHE_16, 0x02,
				       FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, GROUP, 0),
	[WRITE_SAME_16]		= EXEC(0, nvme_scsi_write_same, WRITE_SAME_16, 0x09,
				       FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, FF, GROUP, 0),
	[SERVICE_ACTION_IN_16]	= XLAT_SA(nvme_scsi_read_capacity,
					  SERVICE_ACTION_IN_16, SAI_READ_CAPACITY_16,
					  0, 0, 0, 0, 0, 0, 0, 0, FF, FF, FF, FF, 0, 0),
	[REPORT_LUNS]		= XLAT(ANY_LUN_NO_UA, nvme_scsi_report_luns_cmd,
				       REPORT_LUNS, 0, FF, 0, 0, 0, FF, FF, FF, FF, 0, 0),
	[MAINTENANCE_IN]	= XLAT_SA(nvme_scsi_report_opcodes,
					  MAINTENANCE_IN, MI_REPORT_SUPPORTED_OPERATION_CODES,
					  0x87, FF, FF, FF, FF, FF, FF, FF, 0, 0),
	[READ_12]		= XLAT(0, nvme_scsi_rw,
				       READ_12, RW_BITS, FF, FF, FF, FF, FF, FF, FF, FF, GROUP, 0),
	[WRITE_12]		= XLAT(0, nvme_scsi_rw,
				       WRITE_12, RW_BITS, FF, FF, FF, FF, FF, FF, FF, FF, GROUP, 0),
	[VERIFY_12]		= EXEC(0, nvme_scsi_verify, VERIFY_12, VERIFY_BITS,
				       FF, FF, FF, FF, FF, FF, FF, FF, GROUP, 0),
};

/* Does @ctrl take @op at all (the NVMe commands behind it are optional)? */
bool nvme_scsi_op_supported(struct nvme_scsi_ctrl *ctrl, const struct nvme_scsi_op *op)
{
	if (!op->xlat && !op->exec)
		return false;
	if ((op->flags & NVME_SCSI_OP_DSM) && !nvme_scsi_has_dsm(ctrl))
		return false;
	if ((op->flags & NVME_SCSI_OP_FORMAT) && !(ctrl->oacs & NVME_SCSI_OACS_FORMAT))
		return false;
	return true;
}

static enum nvme_scsi_xlat nvme_scsi_translate(struct nvme_scsi_ctrl *ctrl,
					       struct scsi_cmnd *cmd)
{
	const struct nvme_scsi_op *op = &nvme_scsi_ops[cmd->cmnd[0]];
	struct nvme_scsi_ns nsbuf, *ns = NULL;
	u8 asc, ascq;

	/* SAM-5: every command but INQUIRY, REPORT LUNS, REQUEST SENSE */
	if (!(op->flags & NVME_SCSI_OP_NO_UA) && nvme_scsi_take_ua(cmd, &asc, &ascq))
		return nvme_scsi_check(cmd, UNIT_ATTENTION, asc, ascq);
	if (nvme_scsi_get_ns(ctrl, cmd->device->lun, &nsbuf))
		ns = &nsbuf;
	if (!nvme_scsi_op_supported(ctrl, op)) {
		if (!ns)
			return nvme_scsi_check(cmd, ILLEGAL_REQUEST, 0x25, 0x00);
		return nvme_scsi_check(cmd, ILLEGAL_REQUEST, 0x20, 0x00);
	}
	/* a LUN without a namespace answers only what any LUN must */
	if (!ns && !(op->flags & NVME_SCSI_OP_ANY_LUN))
		return nvme_scsi_check(cmd, ILLEGAL_REQUEST, 0x25, 0x00);
	if ((op->flags & NVME_SCSI_OP_SA) && (cmd->cmnd[1] & 0x1f) != nvme_scsi_op_sa(op))
		return nvme_scsi_invalid_field(cmd);
	if (op->exec)
		return nvme_scsi_defer(cmd, op);
	return op->xlat(ctrl, cmd, ns);
}

static int nvme_scsi_queuecommand(struct Scsi_Host *shost, struct scsi_cmnd *cmd)
{
	struct nvme_scsi_ctrl *ctrl = shost_to_ctrl(shost);

	switch (nvme_scsi_state(ctrl)) {
	case NVME_SCSI_LIVE:
		break;
	case NVME_SCSI_NEW:
	case NVME_SCSI_RESETTING:
		return SCSI_MLQUEUE_HOST_BUSY;
	default:
		cmd->result = DID_NO_CONNECT << 16;
		scsi_done(cmd);
		return 0;
	}

	cmd->result = 0;
	switch (nvme_scsi_translate(ctrl, cmd)) {
	case NVME_SCSI_XLAT_SUBMITTED:
		return 0;
	case NVME_SCSI_XLAT_BUSY:
		return SCSI_MLQUEUE_HOST_BUSY;
	case NVME_SCSI_XLAT_DONE:
		break;
	}
	scsi_done(cmd);
	return 0;
}

/* blk-mq had more to send but stopped: ring the doorbell now. */
static void nvme_scsi_commit_rqs(struct Scsi_Host *shost, u16 hwq)
{
	struct nvme_scsi_ctrl *ctrl = shost_to_ctrl(shost);

	if (hwq < ctrl->nr_io_queues)
		nvme_scsi_ring_sq(&ctrl->queues[hwq + 1]);
}

static void nvme_scsi_map_queues(struct Scsi_Host *shost)
{
	struct nvme_scsi_ctrl *ctrl = shost_to_ctrl(shost);
	struct blk_mq_queue_map *map = &shost->tag_set.map[HCTX_TYPE_DEFAULT];

	/* IO queue n uses MSI-X vector n, whose affinity blk-mq follows */
	if (ctrl->nr_vectors > 1)
		blk_mq_pci_map_queues(map, ctrl->pdev, 1);
	else
		blk_mq_map_queues(map);
}

/* ---- LUN state --------------------------------------------------------- */

/*
 * A dead controller's LUNs go offline (the midlayer then fails their IO
 * without calling us); a reset that revives the controller brings them
 * back. Returns how many changed state.
 *
 * Called after reset_lock is dropped, so a reset may have changed the
 * controller's state since: each LUN only follows the state the controller
 * is in now (checked under the LUN's state_mutex, which the other caller
 * takes too), or a late "offline" would strand a revived controller's LUNs.
 */
unsigned int nvme_scsi_set_luns_offline(struct nvme_scsi_ctrl *ctrl, bool offline)
{
	enum scsi_device_state from = offline ? SDEV_RUNNING : SDEV_OFFLINE;
	enum scsi_device_state to = offline ? SDEV_OFFLINE : SDEV_RUNNING;
	struct scsi_device *sdev;
	unsigned int n = 0;

	shost_for_each_device(sdev, ctrl->shost) {
		enum nvme_scsi_state state;
		bool changed = false;

		mutex_lock(&sdev->state_mutex);
		state = nvme_scsi_state(ctrl);
		if (sdev->sdev_state == from &&
		    (offline ? state == NVME_SCSI_DEAD || state == NVME_SCSI_DELETING :
			       state == NVME_SCSI_LIVE))
			changed = !scsi_device_set_state(sdev, to);
		mutex_unlock(&sdev->state_mutex);
		if (changed) {
			n++;
			/* fail (or restart) what waits in the block layer */
			blk_mq_run_hw_queues(sdev->request_queue, true);
		}
	}
	return n;
}

/* ---- sysfs: /sys/class/scsi_host/hostN/nvme_* -------------------------- */

static struct nvme_scsi_ctrl *dev_to_ctrl(struct device *dev)
{
	return shost_to_ctrl(class_to_shost(dev));
}

static ssize_t nvme_state_show(struct device *dev, struct device_attribute *attr,
			       char *buf)
{
	return sysfs_emit(buf, "%s\n",
			  nvme_scsi_state_name(nvme_scsi_state(dev_to_ctrl(dev))));
}
static DEVICE_ATTR_RO(nvme_state);

static ssize_t nvme_model_show(struct device *dev, struct device_attribute *attr,
			       char *buf)
{
	return sysfs_emit(buf, "%s\n", dev_to_ctrl(dev)->mn);
}
static DEVICE_ATTR_RO(nvme_model);

static ssize_t nvme_serial_show(struct device *dev, struct device_attribute *attr,
				char *buf)
{
	return sysfs_emit(buf, "%s\n", dev_to_ctrl(dev)->sn);
}
static DEVICE_ATTR_RO(nvme_serial);

static ssize_t nvme_firmware_rev_show(struct device *dev,
				      struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%s\n", dev_to_ctrl(dev)->fr);
}
static DEVICE_ATTR_RO(nvme_firmware_rev);

static ssize_t nvme_io_queues_show(struct device *dev,
				   struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", dev_to_ctrl(dev)->nr_io_queues);
}
static DEVICE_ATTR_RO(nvme_io_queues);

static ssize_t nvme_queue_depth_show(struct device *dev,
				     struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", dev_to_ctrl(dev)->io_depth);
}
static DEVICE_ATTR_RO(nvme_queue_depth);

static ssize_t nvme_max_transfer_kb_show(struct device *dev,
					 struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", dev_to_ctrl(dev)->max_xfer / 1024);
}
static DEVICE_ATTR_RO(nvme_max_transfer_kb);

static struct attribute *nvme_scsi_host_attrs[] = {
	&dev_attr_nvme_state.attr,
	&dev_attr_nvme_model.attr,
	&dev_attr_nvme_serial.attr,
	&dev_attr_nvme_firmware_rev.attr,
	&dev_attr_nvme_io_queues.attr,
	&dev_attr_nvme_queue_depth.attr,
	&dev_attr_nvme_max_transfer_kb.attr,
	NULL
};
ATTRIBUTE_GROUPS(nvme_scsi_host);

static int nvme_scsi_slave_configure(struct scsi_device *sdev)
{
	blk_queue_rq_timeout(sdev->request_queue, nvme_scsi_io_timeout * HZ);
	return 0;
}

static const char *nvme_scsi_info(struct Scsi_Host *shost)
{
	return "NVMe 1.0e controller (nvme_scsi)";
}

struct scsi_host_template nvme_scsi_sht = {
	.module			= THIS_MODULE,
	.name			= NVME_SCSI_NAME,
	.proc_name		= NVME_SCSI_NAME,
	.info			= nvme_scsi_info,
	.queuecommand		= nvme_scsi_queuecommand,
	.commit_rqs		= nvme_scsi_commit_rqs,
	.map_queues		= nvme_scsi_map_queues,
	.slave_alloc		= nvme_scsi_slave_alloc,
	.slave_configure	= nvme_scsi_slave_configure,
	.eh_timed_out		= nvme_scsi_eh_timed_out,
	.eh_abort_handler	= nvme_scsi_eh_abort,
	.eh_device_reset_handler = nvme_scsi_eh_device_reset,
	.eh_host_reset_handler	= nvme_scsi_eh_host_reset,
	.host_reset		= nvme_scsi_host_reset,
	/*
	 * A host reset returns once the controller is ready and its namespaces
	 * are read again: there is no bus to settle, and the midlayer's 10 s
	 * wait would only hold back the retried commands.
	 */
	.skip_settle_delay	= 1,
	.change_queue_depth	= scsi_change_queue_depth,
	.this_id		= -1,
	.can_queue		= 1,		/* set per controller in probe */
	.sg_tablesize		= 1,		/* ditto */
	.max_sectors		= 8,		/* ditto */
	.virt_boundary_mask	= NVME_SCSI_PAGE_SIZE - 1,
	.cmd_size		= sizeof(struct nvme_scsi_iod),
	.shost_groups		= nvme_scsi_host_groups,
};

void nvme_scsi_setup_host(struct nvme_scsi_ctrl *ctrl)
{
	struct Scsi_Host *shost = ctrl->shost;

	shost->max_channel = 0;
	shost->max_id = 1;
	shost->max_lun = ctrl->nr_luns;
	shost->this_id = -1;
	shost->max_cmd_len = 16;
	shost->unique_id = shost->host_no;
	shost->nr_hw_queues = ctrl->nr_io_queues;
	/* tags (= CIDs) stop below the driver's own CIDs */
	shost->can_queue = ctrl->io_tags;
	shost->cmd_per_lun = shost->can_queue;
	shost->max_sectors = ctrl->max_xfer >> SECTOR_SHIFT;
	shost->sg_tablesize = ctrl->max_xfer / NVME_SCSI_PAGE_SIZE + 1;
}

