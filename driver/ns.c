// SPDX-License-Identifier: GPL-2.0
/*
 * Namespaces and LUNs: Identify Namespace, the LUN table (NSID n = LUN n-1),
 * REPORT LUNS data, adding SCSI devices for active namespaces.
 */
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/rcupdate.h>
#include <asm/unaligned.h>
#include <scsi/scsi.h>
#include <scsi/scsi_device.h>
#include <scsi/scsi_host.h>

#include "nvme_scsi.h"

/* Replace the namespace at @lun (NULL removes it); caller holds ns_lock. */
static void nvme_scsi_set_ns(struct nvme_scsi_ctrl *ctrl, unsigned int lun,
			     struct nvme_scsi_ns *ns)
{
	struct nvme_scsi_ns *old;

	old = rcu_dereference_protected(ctrl->ns[lun],
					lockdep_is_held(&ctrl->ns_lock));
	rcu_assign_pointer(ctrl->ns[lun], ns);
	/* same namespace, new size or block size: tell the LUN (sd rereads) */
	if (old && ns && (old->nsze != ns->nsze || old->lba_shift != ns->lba_shift))
		nvme_scsi_unit_attention(ctrl, lun, NVME_SCSI_UA_CAPACITY_CHANGED);
	if (old)
		kfree_rcu(old, rcu);
}

/*
 * Build a namespace from Identify Namespace data; NULL if it is inactive
 * (NSZE 0) or uses a format this driver cannot drive yet.
 */
static struct nvme_scsi_ns *nvme_scsi_parse_ns(struct nvme_scsi_ctrl *ctrl,
					       u32 nsid, struct nvme_id_ns *id)
{
	struct nvme_scsi_ns *ns;
	unsigned int fmt = id->flbas & NVME_NS_FLBAS_LBA_MASK;
	u8 ds;
	u16 ms;

	if (!le64_to_cpu(id->nsze))
		return NULL;
	if (fmt > id->nlbaf) {
		dev_warn(ctrl->dev, "NSID %u: FLBAS %#x selects a format beyond NLBAF %u\n",
			 nsid, id->flbas, id->nlbaf);
		return NULL;
	}
	ds = id->lbaf[fmt].ds;
	ms = le16_to_cpu(id->lbaf[fmt].ms);
	if (ds < SECTOR_SHIFT || ds > NVME_SCSI_PAGE_SHIFT) {
		dev_warn(ctrl->dev, "NSID %u: LBA size 2^%u not supported\n", nsid, ds);
		return NULL;
	}
	if (ms) {
		dev_warn(ctrl->dev, "NSID %u: LBA format with %u metadata bytes not supported\n",
			 nsid, ms);
		return NULL;
	}

	ns = kzalloc(sizeof(*ns), GFP_KERNEL);
	if (!ns)
		return NULL;
	ns->nsid = nsid;
	ns->lba_shift = ds;
	ns->nsze = le64_to_cpu(id->nsze);
	/* NVMe 1.3 DLFEAT 001b; a 1.0 controller leaves the byte reserved (0) */
	ns->dealloc_zeroes = (id->dlfeat & 0x7) == 0x1;
	memcpy(ns->eui64, id->eui64, sizeof(ns->eui64));
	memcpy(ns->nguid, id->nguid, sizeof(ns->nguid));
	return ns;
}

/* What the scan found for a LUN whose namespace it could not identify now. */
#define NVME_SCSI_NS_KEEP	ERR_PTR(-EAGAIN)

/*
 * Identify namespaces 1..min(NN, max_luns) (those the namespaces parameter
 * lists, if given) and refresh the LUN table. Invalid Namespace, NSZE 0 or
 * a format this driver cannot drive means "no namespace"; another NVMe
 * error status keeps what the table had (a namespace busy formatting is not
 * gone), unless @strict (after a Format NVM what the table had may be
 * wrong); a transport error (timeout, dead controller) fails the scan and
 * changes nothing. The commands run without ns_lock: an abandoned one
 * takes reset_lock, which a reset holds while it scans.
 */
int nvme_scsi_scan_namespaces(struct nvme_scsi_ctrl *ctrl, bool strict)
{
	unsigned int nr = min_t(u32, ctrl->nn, ctrl->nr_luns);
	struct nvme_scsi_ns **found;
	struct nvme_id_ns *id;
	unsigned int lun;
	int ret = 0;

	if (ctrl->nn > ctrl->nr_luns && !ctrl->started)
		dev_info(ctrl->dev, "controller has %u namespaces; exposing NSID 1-%u (max_luns)\n",
			 ctrl->nn, ctrl->nr_luns);
	found = kcalloc(ctrl->nr_luns, sizeof(*found), GFP_KERNEL);
	id = kmalloc(NVME_IDENTIFY_DATA_SIZE, GFP_KERNEL);
	if (!found || !id) {
		ret = -ENOMEM;
		goto out;
	}
	for (lun = 0; lun < nr; lun++) {
		u32 nsid = lun + 1;

		if (!nvme_scsi_nsid_wanted(nsid))
			continue;
		ret = nvme_scsi_identify(ctrl, nsid, NVME_ID_CNS_NS, id);
		if (ret < 0) {
			dev_err(ctrl->dev, "Identify Namespace %u failed: %d\n", nsid, ret);
			goto out;
		}
		if (ret > 0) {
			dev_dbg(ctrl->dev, "Identify Namespace %u: status %#x\n", nsid, ret);
			if (!strict && NVME_SCSI_STATUS_CODE(ret) != NVME_SC_INVALID_NS)
				found[lun] = NVME_SCSI_NS_KEEP;
			ret = 0;
			continue;
		}
		found[lun] = nvme_scsi_parse_ns(ctrl, nsid, id);
		if (found[lun])
			dev_info(ctrl->dev, "NSID %u (LUN %u): %llu blocks of %u bytes\n",
				 nsid, lun, found[lun]->nsze, 1U << found[lun]->lba_shift);
	}
	mutex_lock(&ctrl->ns_lock);
	for (lun = 0; lun < ctrl->nr_luns; lun++) {
		if (found[lun] != NVME_SCSI_NS_KEEP)
			nvme_scsi_set_ns(ctrl, lun, found[lun]);
		found[lun] = NULL;
	}
	mutex_unlock(&ctrl->ns_lock);
out:
	for (lun = 0; found && lun < ctrl->nr_luns; lun++)
		if (!IS_ERR_OR_NULL(found[lun]))
			kfree(found[lun]);
	kfree(found);
	kfree(id);
	return ret;
}

/* Is there a namespace behind @lun right now? */
static bool nvme_scsi_lun_active(struct nvme_scsi_ctrl *ctrl, unsigned int lun)
{
	bool active;

	rcu_read_lock();
	active = rcu_access_pointer(ctrl->ns[lun]);
	rcu_read_unlock();
	return active;
}

static void nvme_scsi_add_lun(struct nvme_scsi_ctrl *ctrl, unsigned int lun)
{
	int ret = scsi_add_device(ctrl->shost, 0, 0, lun);

	if (ret)
		dev_warn(ctrl->dev, "could not add LUN %u (NSID %u): %d\n", lun, lun + 1, ret);
}

/* Make sure every active namespace has a SCSI device. */
void nvme_scsi_sync_luns(struct nvme_scsi_ctrl *ctrl)
{
	struct Scsi_Host *shost = ctrl->shost;
	unsigned int lun;

	for (lun = 0; lun < ctrl->nr_luns; lun++) {
		struct scsi_device *sdev;

		if (!nvme_scsi_lun_active(ctrl, lun))
			continue;
		sdev = scsi_device_lookup(shost, 0, 0, lun);
		if (sdev) {
			scsi_device_put(sdev);
			continue;
		}
		nvme_scsi_add_lun(ctrl, lun);
	}
}

/*
 * Rescan: Identify every namespace again, then add SCSI devices for new
 * namespaces, remove those of namespaces that went away and have sd
 * revalidate the rest (a namespace may have changed size). Runs from the
 * RESCAN ioctl, the sysfs "rescan" attribute, the Namespace Attribute
 * Changed notice and after every reset (scan work).
 */
int nvme_scsi_rescan(struct nvme_scsi_ctrl *ctrl)
{
	struct Scsi_Host *shost = ctrl->shost;
	unsigned int lun;
	int ret;

	mutex_lock(&ctrl->scan_lock);
	if (nvme_scsi_state(ctrl) != NVME_SCSI_LIVE || !READ_ONCE(ctrl->scsi_ready) ||
	    READ_ONCE(ctrl->removing)) {
		ret = -ENODEV;
		goto out;
	}
	ret = nvme_scsi_scan_namespaces(ctrl, false);
	if (ret)
		goto out;
	for (lun = 0; lun < ctrl->nr_luns; lun++) {
		bool active = nvme_scsi_lun_active(ctrl, lun);
		struct scsi_device *sdev;

		sdev = scsi_device_lookup(shost, 0, 0, lun);
		if (active && !sdev) {
			dev_info(ctrl->dev, "rescan: adding LUN %u (NSID %u)\n",
				 lun, lun + 1);
			nvme_scsi_add_lun(ctrl, lun);
		} else if (!active && sdev) {
			dev_info(ctrl->dev, "rescan: removing LUN %u (NSID %u)\n",
				 lun, lun + 1);
			scsi_remove_device(sdev);
		} else if (sdev) {
			scsi_rescan_device(sdev);
		}
		if (sdev)
			scsi_device_put(sdev);
	}
out:
	mutex_unlock(&ctrl->scan_lock);
	return ret;
}

void nvme_scsi_scan_work(struct work_struct *work)
{
	struct nvme_scsi_ctrl *ctrl = container_of(work, struct nvme_scsi_ctrl, scan_work);

	WRITE_ONCE(ctrl->rescan_wanted, false);
	nvme_scsi_rescan(ctrl);
}

/*
 * Rescan from the scan work: after a reset (not from the reset itself,
 * which SCSI error handling may be running) and on a namespace notice. One
 * asked for before the SCSI host is ready is run by probe once it is.
 */
void nvme_scsi_schedule_rescan(struct nvme_scsi_ctrl *ctrl)
{
	WRITE_ONCE(ctrl->rescan_wanted, true);
	smp_mb();	/* pairs with probe's setting scsi_ready */
	if (READ_ONCE(ctrl->scsi_ready) && !READ_ONCE(ctrl->removing))
		queue_work(nvme_scsi_wq, &ctrl->scan_work);
}

/*
 * Forget what the driver knew of NSID @nsid (all of them for FFFFFFFFh):
 * its LUN takes no IO until a rescan identifies it again.  For when a
 * Format NVM may or may not have happened and the namespace could not be
 * identified afterwards: IO sized by the old LBA size would overrun.
 */
void nvme_scsi_forget_namespaces(struct nvme_scsi_ctrl *ctrl, u32 nsid)
{
	unsigned int lun;

	mutex_lock(&ctrl->ns_lock);
	for (lun = 0; lun < ctrl->nr_luns; lun++)
		if (nsid == NVME_NSID_ALL || nsid == lun + 1)
			nvme_scsi_set_ns(ctrl, lun, NULL);
	mutex_unlock(&ctrl->ns_lock);
}

void nvme_scsi_free_namespaces(struct nvme_scsi_ctrl *ctrl)
{
	unsigned int lun;

	mutex_lock(&ctrl->ns_lock);
	for (lun = 0; lun < ctrl->nr_luns; lun++)
		nvme_scsi_set_ns(ctrl, lun, NULL);
	mutex_unlock(&ctrl->ns_lock);
}

/*
 * REPORT LUNS parameter data for SELECT REPORT @select into @buf; returns
 * its length, or 0 for an unsupported SELECT REPORT.
 */
unsigned int nvme_scsi_report_luns(struct nvme_scsi_ctrl *ctrl, u8 select,
				   u8 *buf, unsigned int len)
{
	unsigned int lun, n = 0;

	if (len < 8)
		return 0;
	memset(buf, 0, 8);
	switch (select) {
	case 0x00:	/* all logical units (no well-known ones here) */
	case 0x02:
		rcu_read_lock();
		for (lun = 0; lun < ctrl->nr_luns; lun++) {
			if (!rcu_access_pointer(ctrl->ns[lun]))
				continue;
			if (8 + 8 * (n + 1) > len)
				break;
			int_to_scsilun(lun, (struct scsi_lun *)&buf[8 + 8 * n]);
			n++;
		}
		rcu_read_unlock();
		break;
	case 0x01:	/* well-known logical units only: none */
		break;
	default:
		return 0;
	}
	put_unaligned_be32(8 * n, &buf[0]);
	return 8 + 8 * n;
}
