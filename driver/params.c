// SPDX-License-Identifier: GPL-2.0
/*
 * Module parameters, each checked at load: a bad value fails modprobe with
 * one line naming the parameter and what it allows.
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/cpumask.h>
#include <linux/nodemask.h>
#include <linux/string.h>

#include "nvme_scsi.h"

#define NVME_SCSI_MAX_IO_QUEUES	64

static unsigned int io_queues;
module_param(io_queues, uint, 0444);
MODULE_PARM_DESC(io_queues, "IO queue pairs to ask for (0 = one per possible CPU, max 64)");

static char *io_queue_mode = "cpu";
module_param(io_queue_mode, charp, 0444);
MODULE_PARM_DESC(io_queue_mode, "with io_queues=0: \"cpu\" = one IO queue per possible CPU, \"numa\" = one per NUMA node");

unsigned int nvme_scsi_io_queue_size = 256;
module_param_named(io_queue_size, nvme_scsi_io_queue_size, uint, 0444);
MODULE_PARM_DESC(io_queue_size, "entries per IO queue (2-4096, capped by CAP.MQES+1); up to 4 slots are kept for passthrough");
/* the earlier name */
module_param_named(io_queue_depth, nvme_scsi_io_queue_size, uint, 0444);
MODULE_PARM_DESC(io_queue_depth, "same as io_queue_size");

unsigned int nvme_scsi_admin_queue_size = NVME_AQ_DEPTH;
module_param_named(admin_queue_size, nvme_scsi_admin_queue_size, uint, 0444);
MODULE_PARM_DESC(admin_queue_size, "entries in the admin queue (4-4096; at most 64 commands out at once)");

static unsigned int max_transfer_size;
module_param(max_transfer_size, uint, 0444);
MODULE_PARM_DESC(max_transfer_size, "largest transfer in bytes, a multiple of 4096 up to 4194304 (0 = max_transfer_kb); capped by MDTS");

static unsigned int max_transfer_kb = NVME_SCSI_MAX_XFER / 1024;
module_param(max_transfer_kb, uint, 0444);
MODULE_PARM_DESC(max_transfer_kb, "largest transfer in KiB, 4-4096 (capped by MDTS); max_transfer_size wins if set");

unsigned int nvme_scsi_max_luns = 8;
module_param_named(max_luns, nvme_scsi_max_luns, uint, 0444);
MODULE_PARM_DESC(max_luns, "LUNs per controller, 1-256: NSID n is LUN n-1, NSIDs above are not exposed");

static unsigned int namespaces[NVME_SCSI_MAX_LUNS];
static unsigned int nr_namespaces;
module_param_array(namespaces, uint, &nr_namespaces, 0444);
MODULE_PARM_DESC(namespaces, "comma-separated NSIDs to expose (default: all active up to max_luns)");

bool nvme_scsi_nsid_wanted(u32 nsid)
{
	unsigned int i;

	if (!nr_namespaces)
		return true;
	for (i = 0; i < nr_namespaces; i++)
		if (namespaces[i] == nsid)
			return true;
	return false;
}

unsigned int nvme_scsi_admin_timeout = 30;
module_param_named(admin_timeout, nvme_scsi_admin_timeout, uint, 0644);
MODULE_PARM_DESC(admin_timeout, "admin command timeout in seconds");

unsigned int nvme_scsi_io_timeout = 30;
module_param_named(io_timeout, nvme_scsi_io_timeout, uint, 0644);
MODULE_PARM_DESC(io_timeout, "IO command timeout in seconds (1-3600): then NVMe Abort, then a controller reset");

unsigned int nvme_scsi_shutdown_timeout = 5;
module_param_named(shutdown_timeout, nvme_scsi_shutdown_timeout, uint, 0644);
MODULE_PARM_DESC(shutdown_timeout, "time to wait for CSTS.SHST after CC.SHN, in seconds");

unsigned int nvme_scsi_irq_coalesce_thr = 1;
module_param_named(irq_coalesce_thr, nvme_scsi_irq_coalesce_thr, uint, 0444);
MODULE_PARM_DESC(irq_coalesce_thr, "with irq_coalesce_time: completions per interrupt, 2-256 (Set Features 08h THR + 1)");

unsigned int nvme_scsi_irq_coalesce_time;
module_param_named(irq_coalesce_time, nvme_scsi_irq_coalesce_time, uint, 0444);
MODULE_PARM_DESC(irq_coalesce_time, "longest an IO completion's interrupt may be held, in units of 100 us, 0-255 (0 = no interrupt coalescing)");

/* The max_transfer_size / max_transfer_kb limit in bytes (before MDTS). */
u32 nvme_scsi_max_xfer_param(void)
{
	return max_transfer_size ? max_transfer_size : max_transfer_kb * 1024;
}

/* IO queue pairs to ask the controller for. */
unsigned int nvme_scsi_wanted_io_queues(void)
{
	unsigned int n = io_queues;

	if (!n)
		n = strcmp(io_queue_mode, "numa") ? num_possible_cpus() :
			num_possible_nodes();

	return clamp_t(unsigned int, n, 1, NVME_SCSI_MAX_IO_QUEUES);
}

/* A bad module parameter fails the load, saying which and why. */
int __init nvme_scsi_check_params(void)
{
	unsigned int i, j;

	if (nvme_scsi_io_queue_size < NVME_SCSI_MIN_IO_DEPTH || nvme_scsi_io_queue_size > 4096) {
		pr_err(NVME_SCSI_NAME ": io_queue_size=%u: must be %u-4096\n",
		       nvme_scsi_io_queue_size, NVME_SCSI_MIN_IO_DEPTH);
		return -EINVAL;
	}
	if (nvme_scsi_admin_queue_size < 4 || nvme_scsi_admin_queue_size > 4096) {
		pr_err(NVME_SCSI_NAME ": admin_queue_size=%u: must be 4-4096\n",
		       nvme_scsi_admin_queue_size);
		return -EINVAL;
	}
	if (strcmp(io_queue_mode, "cpu") && strcmp(io_queue_mode, "numa")) {
		pr_err(NVME_SCSI_NAME ": io_queue_mode=%s: must be \"cpu\" or \"numa\"\n",
		       io_queue_mode);
		return -EINVAL;
	}
	if (max_transfer_size && (max_transfer_size % NVME_SCSI_PAGE_SIZE ||
				  max_transfer_size > NVME_SCSI_MAX_XFER)) {
		pr_err(NVME_SCSI_NAME ": max_transfer_size=%u: must be a multiple of %u up to %u\n",
		       max_transfer_size, NVME_SCSI_PAGE_SIZE, NVME_SCSI_MAX_XFER);
		return -EINVAL;
	}
	if (!nvme_scsi_max_luns || nvme_scsi_max_luns > NVME_SCSI_MAX_LUNS) {
		pr_err(NVME_SCSI_NAME ": max_luns=%u: must be 1-%u\n", nvme_scsi_max_luns,
		       NVME_SCSI_MAX_LUNS);
		return -EINVAL;
	}
	for (i = 0; i < nr_namespaces; i++) {
		if (!namespaces[i] || namespaces[i] > nvme_scsi_max_luns) {
			pr_err(NVME_SCSI_NAME ": namespaces: NSID %u is not 1-%u (max_luns)\n",
			       namespaces[i], nvme_scsi_max_luns);
			return -EINVAL;
		}
		for (j = 0; j < i; j++) {
			if (namespaces[j] == namespaces[i]) {
				pr_err(NVME_SCSI_NAME ": namespaces: NSID %u listed twice\n",
				       namespaces[i]);
				return -EINVAL;
			}
		}
	}
	if (io_queues > NVME_SCSI_MAX_IO_QUEUES) {
		pr_err(NVME_SCSI_NAME ": io_queues=%u: at most %u\n", io_queues,
		       NVME_SCSI_MAX_IO_QUEUES);
		return -EINVAL;
	}
	if (max_transfer_kb < NVME_SCSI_PAGE_SIZE / 1024 ||
	    max_transfer_kb > NVME_SCSI_MAX_XFER / 1024) {
		pr_err(NVME_SCSI_NAME ": max_transfer_kb=%u: must be %u-%u\n",
		       max_transfer_kb, NVME_SCSI_PAGE_SIZE / 1024,
		       NVME_SCSI_MAX_XFER / 1024);
		return -EINVAL;
	}
	if (!nvme_scsi_io_timeout || nvme_scsi_io_timeout > 3600) {
		pr_err(NVME_SCSI_NAME ": io_timeout=%u: must be 1-3600 seconds\n",
		       nvme_scsi_io_timeout);
		return -EINVAL;
	}
	if (nvme_scsi_irq_coalesce_time > 255) {
		pr_err(NVME_SCSI_NAME ": irq_coalesce_time=%u: must be 0-255 (x 100 us)\n",
		       nvme_scsi_irq_coalesce_time);
		return -EINVAL;
	}
	/* one completion per interrupt, or no time to wait: nothing coalesces */
	if (nvme_scsi_irq_coalesce_time &&
	    (nvme_scsi_irq_coalesce_thr < 2 || nvme_scsi_irq_coalesce_thr > 256)) {
		pr_err(NVME_SCSI_NAME ": irq_coalesce_thr=%u: must be 2-256 with irq_coalesce_time\n",
		       nvme_scsi_irq_coalesce_thr);
		return -EINVAL;
	}
	if (!nvme_scsi_irq_coalesce_time && nvme_scsi_irq_coalesce_thr != 1) {
		pr_err(NVME_SCSI_NAME ": irq_coalesce_thr=%u: needs irq_coalesce_time\n",
		       nvme_scsi_irq_coalesce_thr);
		return -EINVAL;
	}
	if (!nvme_scsi_admin_timeout || nvme_scsi_admin_timeout > 3600) {
		pr_err(NVME_SCSI_NAME ": admin_timeout=%u: must be 1-3600 seconds\n",
		       nvme_scsi_admin_timeout);
		return -EINVAL;
	}
	return 0;
}
