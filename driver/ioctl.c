// SPDX-License-Identifier: GPL-2.0
/*
 * Passthrough char device, one per controller (/dev/nvme_scsiN), speaking
 * Linux's <linux/nvme_ioctl.h> ABI so nvme-cli and other tools work.
 */
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/fs.h>
#include <linux/cdev.h>
#include <linux/idr.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/capability.h>
#include <linux/dma-mapping.h>
#include <linux/blk-mq.h>
#include <linux/nvme_ioctl.h>
#include <linux/sched/mm.h>
#include <scsi/scsi_device.h>

#include "nvme_scsi.h"

static dev_t nvme_scsi_devt;
static struct class *nvme_scsi_class;
/* minor -> controller; the lock orders open() against remove() */
static DEFINE_IDR(nvme_scsi_minors);
static DEFINE_MUTEX(nvme_scsi_minors_lock);

/* ---- command execution ------------------------------------------------- */

/* The lowest active NSID: what NVME_IOCTL_ID and SUBMIT_IO use. */
static int nvme_scsi_default_ns(struct nvme_scsi_ctrl *ctrl, u8 *lba_shift)
{
	unsigned int lun;
	int nsid = -ENOTTY;

	rcu_read_lock();
	for (lun = 0; lun < ctrl->nr_luns; lun++) {
		struct nvme_scsi_ns *ns = rcu_dereference(ctrl->ns[lun]);

		if (ns) {
			nsid = ns->nsid;
			if (lba_shift)
				*lba_shift = ns->lba_shift;
			break;
		}
	}
	rcu_read_unlock();
	return nsid;
}

/*
 * NVME_IOCTL_ID: this node stands for the controller, like Linux's nvmeN,
 * whose answer is -ENOTTY; nvme-cli then addresses the controller (NSID
 * FFFFFFFFh or 0) in feature and log commands instead of namespace 1,
 * which a controller may reject for controller-wide features. Module
 * parameter ioctl_id_nsid=1 makes it return the lowest active NSID instead.
 */
static bool ioctl_id_nsid;
module_param(ioctl_id_nsid, bool, 0644);
MODULE_PARM_DESC(ioctl_id_nsid, "NVME_IOCTL_ID on /dev/nvme_scsiN returns the lowest active NSID (default: -ENOTTY, as on Linux's controller node)");

static int nvme_scsi_ioctl_id(struct nvme_scsi_ctrl *ctrl)
{
	return ioctl_id_nsid ? nvme_scsi_default_ns(ctrl, NULL) : -ENOTTY;
}

/* The IO queue blk-mq uses for the current CPU. */
struct nvme_scsi_queue *nvme_scsi_pt_io_queue(struct nvme_scsi_ctrl *ctrl)
{
	struct blk_mq_queue_map *map = &ctrl->shost->tag_set.map[HCTX_TYPE_DEFAULT];
	unsigned int hwq = 0;

	if (map->mq_map)
		hwq = map->mq_map[raw_smp_processor_id()];
	if (hwq >= ctrl->nr_io_queues)
		hwq = 0;
	return &ctrl->queues[hwq + 1];
}

/*
 * Run @c (data_len bytes at user address @ubuf) on the admin queue or an IO
 * queue. Returns -errno or the NVMe status; @result gets completion dword 0
 * (and 1).
 */
static int nvme_scsi_pt_exec(struct nvme_scsi_ctrl *ctrl, bool io,
			     struct nvme_command *c, void __user *ubuf,
			     u32 data_len, u32 timeout_ms, u64 *result)
{
	struct nvme_scsi_queue *q;
	struct nvme_scsi_buf b = { };
	bool to_dev = c->common.opcode & 1, from_dev = !to_dev ||
		(c->common.opcode & 3) == 3;
	unsigned long timeout;
	int ret;

	if (data_len > ctrl->max_xfer)
		return -EINVAL;
	if (data_len && !ubuf)
		return -EFAULT;
	if (nvme_scsi_state(ctrl) != NVME_SCSI_LIVE)
		return -ENODEV;

	if (data_len) {
		ret = nvme_scsi_buf_alloc(ctrl, &b, data_len, c);
		if (ret)
			return ret;
		if (to_dev && copy_from_user(b.cpu, ubuf, data_len)) {
			ret = -EFAULT;
			goto out;
		}
	}

	if (timeout_ms)
		timeout = msecs_to_jiffies(timeout_ms);
	else
		timeout = (io ? nvme_scsi_io_timeout : nvme_scsi_admin_timeout) * HZ;
	q = io ? nvme_scsi_pt_io_queue(ctrl) : &ctrl->queues[0];
	ret = nvme_scsi_exec(ctrl, q, c, result, timeout);
	if (ret >= 0 && data_len && from_dev &&
	    copy_to_user(ubuf, b.cpu, data_len))
		ret = -EFAULT;
out:
	if (data_len)
		nvme_scsi_buf_free(ctrl, &b);
	return ret;
}

/*
 * Format NVM changes the LBA size (and the data) under the SCSI disks, and
 * the translation sizes every transfer by the LBA size it knows: IO with
 * the old size would have the device move up to 8x the mapped buffer. So
 * no IO runs while the format does: every LUN's queue is frozen (what is in
 * flight drains first) and passthrough NVM IO waits on format_rwsem; the
 * namespaces are identified again before IO resumes, and sd then
 * revalidates the disks. sd's READ CAPACITY goes through the queue, so that
 * waits for the thaw; sd's commands sized by the old LBA size are refused
 * meanwhile (nvme_scsi_rw). If the format's outcome or the new LBA size is
 * unknown (the command timed out, the namespace could not be identified),
 * the namespace is forgotten: its LUN takes no IO until a rescan. Linux's
 * nvme freezes around a format in the same way (nvme_passthru_start/end).
 */
static int nvme_scsi_pt_format(struct nvme_scsi_ctrl *ctrl, struct nvme_command *c,
			       void __user *ubuf, u32 data_len, u32 timeout_ms,
			       u64 *result)
{
	struct scsi_device **frozen, *sdev;
	unsigned int n = 0, i, noio;
	int ret;

	if (data_len || ubuf)
		return -EINVAL;		/* Format NVM moves no data */
	frozen = kcalloc(ctrl->nr_luns, sizeof(*frozen), GFP_KERNEL);
	if (!frozen)
		return -ENOMEM;
	down_write(&ctrl->format_rwsem);
	/* no rescan adds or removes a LUN between freeze and thaw */
	mutex_lock(&ctrl->scan_lock);
	shost_for_each_device(sdev, ctrl->shost) {
		if (n == ctrl->nr_luns || scsi_device_get(sdev))
			continue;
		blk_mq_freeze_queue(sdev->request_queue);
		frozen[n++] = sdev;
	}
	/* reclaim must not wait for IO on the frozen disks */
	noio = memalloc_noio_save();
	ret = nvme_scsi_pt_exec(ctrl, false, c, NULL, 0, timeout_ms, result);
	if (ret < 0 || nvme_scsi_state(ctrl) != NVME_SCSI_LIVE ||
	    nvme_scsi_scan_namespaces(ctrl, true)) {
		dev_warn(ctrl->dev, "Format NVM of NSID %#x: outcome unknown (%d), namespace(s) offline until a rescan\n",
			 le32_to_cpu(c->common.nsid), ret);
		nvme_scsi_forget_namespaces(ctrl, le32_to_cpu(c->common.nsid));
	}
	memalloc_noio_restore(noio);
	for (i = 0; i < n; i++)
		blk_mq_unfreeze_queue(frozen[i]->request_queue);
	mutex_unlock(&ctrl->scan_lock);
	up_write(&ctrl->format_rwsem);
	/* sd learns the new LBA size and capacity */
	nvme_scsi_rescan(ctrl);
	for (i = 0; i < n; i++)
		scsi_device_put(frozen[i]);
	kfree(frozen);
	return ret;
}

static int nvme_scsi_user_cmd(struct nvme_scsi_ctrl *ctrl, bool io,
			      void __user *arg, bool is64)
{
	struct nvme_passthru_cmd64 pc;
	struct nvme_command c = { };
	u64 result = 0;
	int ret;

	if (is64) {
		if (copy_from_user(&pc, arg, sizeof(pc)))
			return -EFAULT;
	} else {
		struct nvme_passthru_cmd pc32;

		if (copy_from_user(&pc32, arg, sizeof(pc32)))
			return -EFAULT;
		/* identical layout up to timeout_ms; result differs */
		memcpy(&pc, &pc32, offsetof(struct nvme_passthru_cmd, result));
		pc.rsvd2 = 0;
	}
	if (pc.flags)
		return -EINVAL;
	if (pc.metadata_len || pc.metadata)
		return -EINVAL;		/* no metadata support */

	c.common.opcode = pc.opcode;
	c.common.nsid = cpu_to_le32(pc.nsid);
	c.common.cdw2[0] = cpu_to_le32(pc.cdw2);
	c.common.cdw2[1] = cpu_to_le32(pc.cdw3);
	c.common.cdw10 = cpu_to_le32(pc.cdw10);
	c.common.cdw11 = cpu_to_le32(pc.cdw11);
	c.common.cdw12 = cpu_to_le32(pc.cdw12);
	c.common.cdw13 = cpu_to_le32(pc.cdw13);
	c.common.cdw14 = cpu_to_le32(pc.cdw14);
	c.common.cdw15 = cpu_to_le32(pc.cdw15);

	if (!io && pc.opcode == nvme_admin_format_nvm)
		ret = nvme_scsi_pt_format(ctrl, &c, u64_to_user_ptr(pc.addr),
					  pc.data_len, pc.timeout_ms, &result);
	else
		ret = nvme_scsi_pt_exec(ctrl, io, &c, u64_to_user_ptr(pc.addr),
					pc.data_len, pc.timeout_ms, &result);
	if (ret >= 0) {
		if (is64) {
			if (put_user(result, &((struct nvme_passthru_cmd64 __user *)arg)->result))
				return -EFAULT;
		} else {
			if (put_user(lower_32_bits(result),
				     &((struct nvme_passthru_cmd __user *)arg)->result))
				return -EFAULT;
		}
	}
	return ret;
}

/* NVME_IOCTL_SUBMIT_IO: Read/Write/Compare on the default namespace. */
static int nvme_scsi_submit_user_io(struct nvme_scsi_ctrl *ctrl,
				    struct nvme_user_io __user *arg)
{
	struct nvme_user_io io;
	struct nvme_command c = { };
	u8 lba_shift = 9;
	u64 len;
	int nsid;

	if (copy_from_user(&io, arg, sizeof(io)))
		return -EFAULT;
	if (io.flags)
		return -EINVAL;
	if (io.metadata)
		return -EINVAL;
	switch (io.opcode) {
	case nvme_cmd_write:
	case nvme_cmd_read:
	case nvme_cmd_compare:
		break;
	default:
		return -EINVAL;
	}
	nsid = nvme_scsi_default_ns(ctrl, &lba_shift);
	if (nsid < 0)
		return nsid;
	len = ((u64)io.nblocks + 1) << lba_shift;
	if (len > ctrl->max_xfer)
		return -EINVAL;

	c.rw.opcode = io.opcode;
	c.rw.nsid = cpu_to_le32(nsid);
	c.rw.slba = cpu_to_le64(io.slba);
	c.rw.length = cpu_to_le16(io.nblocks);
	c.rw.control = cpu_to_le16(io.control);
	c.rw.dsmgmt = cpu_to_le32(io.dsmgmt);
	c.rw.reftag = cpu_to_le32(io.reftag);
	c.rw.apptag = cpu_to_le16(io.apptag);
	c.rw.appmask = cpu_to_le16(io.appmask);
	return nvme_scsi_pt_exec(ctrl, true, &c, u64_to_user_ptr(io.addr),
				 len, 0, NULL);
}

/* ---- file operations --------------------------------------------------- */

static int nvme_scsi_open(struct inode *inode, struct file *file)
{
	struct nvme_scsi_ctrl *ctrl;
	int ret = -ENODEV;

	mutex_lock(&nvme_scsi_minors_lock);
	ctrl = idr_find(&nvme_scsi_minors, iminor(inode));
	/* the host reference keeps ctrl (its hostdata) until release */
	if (ctrl && scsi_host_get(ctrl->shost)) {
		file->private_data = ctrl;
		ret = 0;
	}
	mutex_unlock(&nvme_scsi_minors_lock);
	return ret;
}

static int nvme_scsi_release(struct inode *inode, struct file *file)
{
	struct nvme_scsi_ctrl *ctrl = file->private_data;

	scsi_host_put(ctrl->shost);
	return 0;
}

static long nvme_scsi_ioctl(struct file *file, unsigned int cmd,
			    unsigned long arg)
{
	struct nvme_scsi_ctrl *ctrl = file->private_data;
	void __user *argp = (void __user *)arg;
	long ret;

	switch (cmd) {
	case NVME_IOCTL_ID:
	case NVME_IOCTL_ADMIN_CMD:
	case NVME_IOCTL_ADMIN64_CMD:
	case NVME_IOCTL_IO_CMD:
	case NVME_IOCTL_IO64_CMD:
	case NVME_IOCTL_SUBMIT_IO:
	case NVME_IOCTL_RESET:
	case NVME_IOCTL_RESCAN:
		break;
	default:
		/* SUBSYS_RESET (no NVM subsystem reset in 1.0e hosts) and the rest */
		return -ENOTTY;
	}
	if (!capable(CAP_SYS_ADMIN))
		return -EACCES;

	down_read(&ctrl->pt_rwsem);
	if (ctrl->pt_gone) {
		up_read(&ctrl->pt_rwsem);
		return -ENODEV;
	}
	switch (cmd) {
	case NVME_IOCTL_ID:
		ret = nvme_scsi_ioctl_id(ctrl);
		break;
	case NVME_IOCTL_ADMIN_CMD:
		ret = nvme_scsi_user_cmd(ctrl, false, argp, false);
		break;
	case NVME_IOCTL_ADMIN64_CMD:
		ret = nvme_scsi_user_cmd(ctrl, false, argp, true);
		break;
	case NVME_IOCTL_IO_CMD:
	case NVME_IOCTL_IO64_CMD:
	case NVME_IOCTL_SUBMIT_IO:
		/* not while a Format NVM changes the LBA size under it */
		down_read(&ctrl->format_rwsem);
		if (cmd == NVME_IOCTL_SUBMIT_IO)
			ret = nvme_scsi_submit_user_io(ctrl, argp);
		else
			ret = nvme_scsi_user_cmd(ctrl, true, argp,
						 cmd == NVME_IOCTL_IO64_CMD);
		up_read(&ctrl->format_rwsem);
		break;
	case NVME_IOCTL_RESET:
		dev_info(ctrl->dev, "controller reset requested through %s\n",
			 dev_name(ctrl->cdev_dev));
		ret = nvme_scsi_reset_ctrl(ctrl);
		break;
	case NVME_IOCTL_RESCAN:
		ret = nvme_scsi_rescan(ctrl);
		break;
	default:
		ret = -ENOTTY;
		break;
	}
	up_read(&ctrl->pt_rwsem);
	return ret;
}

static const struct file_operations nvme_scsi_fops = {
	.owner		= THIS_MODULE,
	.open		= nvme_scsi_open,
	.release	= nvme_scsi_release,
	.unlocked_ioctl	= nvme_scsi_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
};

/* ---- sysfs: /sys/class/nvme_scsi/nvme_scsiN/ --------------------------- */

static ssize_t rescan_store(struct device *dev, struct device_attribute *attr,
			    const char *buf, size_t count)
{
	struct nvme_scsi_ctrl *ctrl = dev_get_drvdata(dev);
	int ret;

	down_read(&ctrl->pt_rwsem);
	ret = ctrl->pt_gone ? -ENODEV : nvme_scsi_rescan(ctrl);
	up_read(&ctrl->pt_rwsem);
	return ret ? ret : count;
}
static DEVICE_ATTR_WO(rescan);

static ssize_t host_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	struct nvme_scsi_ctrl *ctrl = dev_get_drvdata(dev);

	return sysfs_emit(buf, "host%u\n", ctrl->shost->host_no);
}
static DEVICE_ATTR_RO(host);

static struct attribute *nvme_scsi_class_attrs[] = {
	&dev_attr_rescan.attr,
	&dev_attr_host.attr,
	NULL
};
ATTRIBUTE_GROUPS(nvme_scsi_class);

/* ---- per controller ---------------------------------------------------- */

int nvme_scsi_chrdev_add(struct nvme_scsi_ctrl *ctrl)
{
	struct cdev *cdev;
	dev_t devt;
	int minor, ret;

	init_rwsem(&ctrl->pt_rwsem);
	ctrl->instance = -1;
	mutex_lock(&nvme_scsi_minors_lock);
	minor = idr_alloc(&nvme_scsi_minors, NULL, 0, NVME_SCSI_MINORS, GFP_KERNEL);
	mutex_unlock(&nvme_scsi_minors_lock);
	if (minor < 0)
		return minor;
	devt = MKDEV(MAJOR(nvme_scsi_devt), minor);

	cdev = cdev_alloc();
	if (!cdev) {
		ret = -ENOMEM;
		goto err_idr;
	}
	cdev->owner = THIS_MODULE;
	cdev->ops = &nvme_scsi_fops;
	ret = cdev_add(cdev, devt, 1);
	if (ret) {
		kobject_put(&cdev->kobj);
		goto err_idr;
	}
	ctrl->cdev = cdev;
	ctrl->cdev_dev = device_create(nvme_scsi_class, ctrl->dev, devt, ctrl,
				       NVME_SCSI_NAME "%d", minor);
	if (IS_ERR(ctrl->cdev_dev)) {
		ret = PTR_ERR(ctrl->cdev_dev);
		ctrl->cdev_dev = NULL;
		cdev_del(cdev);
		ctrl->cdev = NULL;
		goto err_idr;
	}
	ctrl->instance = minor;
	mutex_lock(&nvme_scsi_minors_lock);
	idr_replace(&nvme_scsi_minors, ctrl, minor);
	mutex_unlock(&nvme_scsi_minors_lock);
	nvme_scsi_debugfs_add(ctrl);
	return 0;

err_idr:
	mutex_lock(&nvme_scsi_minors_lock);
	idr_remove(&nvme_scsi_minors, minor);
	mutex_unlock(&nvme_scsi_minors_lock);
	return ret;
}

/*
 * No new opens after this; ioctls in progress finish first, later ones (on
 * files still open) fail with -ENODEV.
 */
void nvme_scsi_chrdev_del(struct nvme_scsi_ctrl *ctrl)
{
	if (ctrl->instance < 0)
		return;
	nvme_scsi_debugfs_del(ctrl);
	mutex_lock(&nvme_scsi_minors_lock);
	idr_remove(&nvme_scsi_minors, ctrl->instance);
	mutex_unlock(&nvme_scsi_minors_lock);
	down_write(&ctrl->pt_rwsem);
	ctrl->pt_gone = true;
	up_write(&ctrl->pt_rwsem);
	device_destroy(nvme_scsi_class, ctrl->cdev_dev->devt);
	cdev_del(ctrl->cdev);
	ctrl->cdev = NULL;
	ctrl->cdev_dev = NULL;
	ctrl->instance = -1;
}

int nvme_scsi_chrdev_init(void)
{
	int ret;

	ret = alloc_chrdev_region(&nvme_scsi_devt, 0, NVME_SCSI_MINORS,
				  NVME_SCSI_NAME);
	if (ret)
		return ret;
	nvme_scsi_class = class_create(THIS_MODULE, NVME_SCSI_NAME);
	if (IS_ERR(nvme_scsi_class)) {
		ret = PTR_ERR(nvme_scsi_class);
		unregister_chrdev_region(nvme_scsi_devt, NVME_SCSI_MINORS);
		return ret;
	}
	nvme_scsi_class->dev_groups = nvme_scsi_class_groups;
	return 0;
}

void nvme_scsi_chrdev_exit(void)
{
	class_destroy(nvme_scsi_class);
	unregister_chrdev_region(nvme_scsi_devt, NVME_SCSI_MINORS);
	idr_destroy(&nvme_scsi_minors);
}
