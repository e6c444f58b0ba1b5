// SPDX-License-Identifier: GPL-2.0
/*
 * debugfs: /sys/kernel/debug/nvme_scsi/nvme_scsiN/{queues,irqs}, per queue
 * statistics and where each queue's interrupt goes (DESIGN.md, Statistics).
 */
#include <linux/kernel.h>
#include <linux/debugfs.h>
#include <linux/seq_file.h>
#include <linux/pci.h>

#include "nvme_scsi.h"

static struct dentry *nvme_scsi_debugfs_root;

static int nvme_scsi_queues_show(struct seq_file *m, void *unused)
{
	struct nvme_scsi_ctrl *ctrl = m->private;
	unsigned int i;

	seq_printf(m, "state %s resets %d\n",
		   nvme_scsi_state_name(nvme_scsi_state(ctrl)),
		   atomic_read(&ctrl->nr_resets));
	seq_puts(m, "qid depth submitted completed cancelled timeouts aborts aborts_failed\n");
	for (i = 0; i <= ctrl->nr_io_queues; i++) {
		struct nvme_scsi_queue *q = &ctrl->queues[i];

		if (!q->ctrl)
			continue;
		seq_printf(m, "%u %u %llu %llu %llu %d %d %d\n", q->qid, q->depth,
			   READ_ONCE(q->nr_submitted), READ_ONCE(q->nr_completed),
			   READ_ONCE(q->nr_cancelled), atomic_read(&q->nr_timeouts),
			   atomic_read(&q->nr_aborts),
			   atomic_read(&q->nr_aborts_failed));
	}
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(nvme_scsi_queues);

/* NUMA node of all CPUs in @mask, or NUMA_NO_NODE if they span nodes. */
static int nvme_scsi_mask_node(const struct cpumask *mask)
{
	int cpu, node = NUMA_NO_NODE;

	for_each_cpu(cpu, mask) {
		if (node == NUMA_NO_NODE)
			node = cpu_to_node(cpu);
		else if (node != cpu_to_node(cpu))
			return NUMA_NO_NODE;
	}
	return node;
}

/*
 * Where each queue's interrupt goes: "node N" (the controller's NUMA node),
 * then per queue qid, MSI-X vector, Linux irq, the blk-mq hardware queue it
 * serves (-1: admin), the NUMA node of its CPUs (-1: several) and the CPUs.
 */
static int nvme_scsi_irqs_show(struct seq_file *m, void *unused)
{
	struct nvme_scsi_ctrl *ctrl = m->private;
	unsigned int i;

	seq_printf(m, "node %d\n", dev_to_node(ctrl->dev));
	seq_puts(m, "qid vector irq hctx node cpus\n");
	nvme_scsi_reset_lock(ctrl);
	for (i = 0; i <= ctrl->nr_io_queues; i++) {
		struct nvme_scsi_queue *q = &ctrl->queues[i];
		const struct cpumask *mask;

		if (!q->ctrl || !q->irq_requested)
			continue;
		mask = pci_irq_get_affinity(ctrl->pdev, q->cq_vector);
		if (!mask)
			mask = cpu_possible_mask;
		seq_printf(m, "%u %u %d %d %d %*pbl\n", q->qid, q->cq_vector,
			   pci_irq_vector(ctrl->pdev, q->cq_vector), (int)q->qid - 1,
			   nvme_scsi_mask_node(mask), cpumask_pr_args(mask));
	}
	nvme_scsi_reset_unlock(ctrl);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(nvme_scsi_irqs);

/* Named after the passthrough node (nvme_scsiN): made once that exists. */
void nvme_scsi_debugfs_add(struct nvme_scsi_ctrl *ctrl)
{
	if (!nvme_scsi_debugfs_root || ctrl->instance < 0)
		return;
	ctrl->debugfs = debugfs_create_dir(dev_name(ctrl->cdev_dev),
					   nvme_scsi_debugfs_root);
	debugfs_create_file("queues", 0444, ctrl->debugfs, ctrl,
			    &nvme_scsi_queues_fops);
	debugfs_create_file("irqs", 0444, ctrl->debugfs, ctrl,
			    &nvme_scsi_irqs_fops);
}

void nvme_scsi_debugfs_del(struct nvme_scsi_ctrl *ctrl)
{
	debugfs_remove_recursive(ctrl->debugfs);
	ctrl->debugfs = NULL;
}

void nvme_scsi_debugfs_init(void)
{
	nvme_scsi_debugfs_root = debugfs_create_dir(NVME_SCSI_NAME, NULL);
	if (IS_ERR(nvme_scsi_debugfs_root))
		nvme_scsi_debugfs_root = NULL;
}

void nvme_scsi_debugfs_exit(void)
{
	debugfs_remove_recursive(nvme_scsi_debugfs_root);
}
