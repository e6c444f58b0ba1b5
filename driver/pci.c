// SPDX-License-Identifier: GPL-2.0
/*
 * nvme_scsi: module init/exit and the PCI driver: probe maps the function
 * and runs the controller's bring-up (ctrl.c) from its reset work, then
 * adds the SCSI host; remove and shutdown.
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/pci.h>
#include <linux/dma-mapping.h>
#include <linux/slab.h>
#include <linux/workqueue.h>
#include <scsi/scsi_host.h>

#include "nvme_scsi.h"

struct workqueue_struct *nvme_scsi_reset_wq;
struct workqueue_struct *nvme_scsi_wq;
struct workqueue_struct *nvme_scsi_xlat_wq;

static int nvme_scsi_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct nvme_scsi_ctrl *ctrl;
	struct Scsi_Host *shost;
	int ret;

	shost = scsi_host_alloc(&nvme_scsi_sht, sizeof(*ctrl));
	if (!shost)
		return -ENOMEM;
	ctrl = shost_to_ctrl(shost);
	ctrl->shost = shost;
	ctrl->pdev = pdev;
	ctrl->dev = &pdev->dev;
	ctrl->state = NVME_SCSI_NEW;
	spin_lock_init(&ctrl->state_lock);
	mutex_init(&ctrl->reset_lock);
	spin_lock_init(&ctrl->admin_lock);
	init_waitqueue_head(&ctrl->admin_wait);
	mutex_init(&ctrl->ns_lock);
	mutex_init(&ctrl->scan_lock);
	INIT_WORK(&ctrl->reset_work, nvme_scsi_reset_work);
	INIT_WORK(&ctrl->async_work, nvme_scsi_async_work);
	INIT_WORK(&ctrl->scan_work, nvme_scsi_scan_work);
	init_rwsem(&ctrl->pt_rwsem);
	init_rwsem(&ctrl->format_rwsem);
	ctrl->instance = -1;
	ctrl->nr_luns = nvme_scsi_max_luns;
	pci_set_drvdata(pdev, ctrl);

	ret = pci_enable_device_mem(pdev);
	if (ret)
		goto err_put_host;
	pci_set_master(pdev);
	ret = dma_set_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(64));
	if (ret) {
		dev_err(&pdev->dev, "no usable DMA mask\n");
		goto err_disable_dev;
	}
	ret = pci_request_mem_regions(pdev, NVME_SCSI_NAME);
	if (ret)
		goto err_disable_dev;
	ctrl->bar_len = pci_resource_len(pdev, 0);
	ctrl->bar = pci_ioremap_bar(pdev, 0);
	if (!ctrl->bar) {
		ret = -ENOMEM;
		goto err_release;
	}
	ret = nvme_scsi_check_cap(ctrl);
	if (ret)
		goto err_unmap;
	ctrl->ctrl_config = readl(ctrl->bar + NVME_REG_CC);

	ret = pci_alloc_irq_vectors(pdev, 1, 1, PCI_IRQ_MSIX);
	if (ret < 0) {
		dev_err(&pdev->dev, "MSI-X is required but not available (%d); not binding\n",
			ret);
		goto err_unmap;
	}
	ctrl->nr_vectors = ret;

	ctrl->prp_pool = dma_pool_create("nvme_scsi_prp", &pdev->dev,
					 NVME_SCSI_PAGE_SIZE, NVME_SCSI_PAGE_SIZE, 0);
	if (!ctrl->prp_pool) {
		ret = -ENOMEM;
		goto err_vectors;
	}
	ctrl->queues = kcalloc(nvme_scsi_wanted_io_queues() + 1, sizeof(*ctrl->queues),
			       GFP_KERNEL);
	if (!ctrl->queues) {
		ret = -ENOMEM;
		goto err_pool;
	}
	/* CAP.MQES limits IO queues only (as Linux's nvme, AQA is ours) */
	ctrl->admin_depth = nvme_scsi_admin_queue_size;
	ctrl->nr_admin_cids = min_t(u32, ctrl->admin_depth - 1, BITS_PER_LONG);
	ret = nvme_scsi_alloc_queue(ctrl, 0, ctrl->admin_depth, 0);
	if (ret)
		goto err_queues;

	ret = nvme_scsi_queue_request_irq(&ctrl->queues[0]);
	if (ret)
		goto err_teardown;

	/* the bring-up every reset runs, from the same work item */
	queue_work(nvme_scsi_reset_wq, &ctrl->reset_work);
	flush_work(&ctrl->reset_work);
	if (nvme_scsi_state(ctrl) != NVME_SCSI_LIVE) {
		ret = ctrl->reset_result ? ctrl->reset_result : -ENODEV;
		goto err_ns;
	}

	nvme_scsi_setup_host(ctrl);
	ret = scsi_add_host(shost, &pdev->dev);
	if (ret)
		goto err_ns;
	scsi_scan_host(shost);
	nvme_scsi_sync_luns(ctrl);
	WRITE_ONCE(ctrl->scsi_ready, true);
	/* a namespace notice that came before (nvme_scsi_schedule_rescan) */
	smp_mb();
	if (READ_ONCE(ctrl->rescan_wanted))
		queue_work(nvme_scsi_wq, &ctrl->scan_work);
	ret = nvme_scsi_chrdev_add(ctrl);
	if (ret)
		dev_warn(ctrl->dev, "no passthrough char device: %d\n", ret);
	return 0;

err_ns:
	WRITE_ONCE(ctrl->aen_stop, true);
	WRITE_ONCE(ctrl->removing, true);
	cancel_work_sync(&ctrl->async_work);
	cancel_work_sync(&ctrl->reset_work);
	cancel_work_sync(&ctrl->scan_work);
	nvme_scsi_free_namespaces(ctrl);
err_teardown:
	nvme_scsi_teardown_queues(ctrl, false);
	kfree(ctrl->id);
	ctrl->id = NULL;
err_queues:
	kfree(ctrl->queues);
	ctrl->queues = NULL;
err_pool:
	dma_pool_destroy(ctrl->prp_pool);
err_vectors:
	pci_free_irq_vectors(pdev);
err_unmap:
	iounmap(ctrl->bar);
err_release:
	pci_release_mem_regions(pdev);
err_disable_dev:
	pci_disable_device(pdev);
err_put_host:
	pci_set_drvdata(pdev, NULL);
	scsi_host_put(shost);
	return ret;
}

static void nvme_scsi_remove(struct pci_dev *pdev)
{
	struct nvme_scsi_ctrl *ctrl = pci_get_drvdata(pdev);
	struct Scsi_Host *shost = ctrl->shost;

	/* from here on a command timeout ends it all (no abort, no reset) */
	WRITE_ONCE(ctrl->removing, true);
	nvme_scsi_chrdev_del(ctrl);
	/* no event work from here on (an AER completion queues none) */
	WRITE_ONCE(ctrl->aen_stop, true);
	cancel_work_sync(&ctrl->async_work);
	cancel_work_sync(&ctrl->scan_work);
	if (!pci_device_is_present(pdev)) {
		/* surprise removal: nothing will complete, fail it all now */
		nvme_scsi_change_state(ctrl, NVME_SCSI_DEAD);
		WRITE_ONCE(ctrl->enabled, false);
		nvme_scsi_stop_dma(ctrl);
		nvme_scsi_fail_outstanding(ctrl);
	}
	/* the controller stays live here so sd can flush its cache */
	scsi_remove_host(shost);

	nvme_scsi_reset_lock(ctrl);
	nvme_scsi_change_state(ctrl, NVME_SCSI_DELETING);
	nvme_scsi_teardown_queues(ctrl, true);
	nvme_scsi_reset_unlock(ctrl);
	cancel_work_sync(&ctrl->reset_work);
	/* a reset that ended as remove began may have queued a rescan */
	cancel_work_sync(&ctrl->scan_work);
	/*
	 * An AER that completed (or failed) just as aen_stop was set may have
	 * queued event work after the cancel above; its interrupt is gone now.
	 */
	cancel_work_sync(&ctrl->async_work);

	nvme_scsi_free_namespaces(ctrl);
	kfree(ctrl->id);
	kfree(ctrl->queues);
	dma_pool_destroy(ctrl->prp_pool);
	pci_free_irq_vectors(pdev);
	iounmap(ctrl->bar);
	pci_release_mem_regions(pdev);
	pci_disable_device(pdev);
	pci_set_drvdata(pdev, NULL);
	scsi_host_put(shost);
}

/* System power-off/reboot: tell the controller, leave the rest to the OS. */
static void nvme_scsi_pci_shutdown(struct pci_dev *pdev)
{
	struct nvme_scsi_ctrl *ctrl = pci_get_drvdata(pdev);

	if (!ctrl)
		return;
	nvme_scsi_reset_lock(ctrl);
	nvme_scsi_change_state(ctrl, NVME_SCSI_DEAD);
	if (READ_ONCE(ctrl->enabled)) {
		nvme_scsi_shutdown_ctrl(ctrl);
		nvme_scsi_disable_ctrl(ctrl);
	}
	nvme_scsi_reset_unlock(ctrl);
}

static const struct pci_device_id nvme_scsi_ids[] = {
	{ PCI_DEVICE_CLASS(PCI_CLASS_STORAGE_EXPRESS, 0xffffff) },
	{ }
};
MODULE_DEVICE_TABLE(pci, nvme_scsi_ids);

static struct pci_driver nvme_scsi_pci_driver = {
	.name		= NVME_SCSI_NAME,
	.id_table	= nvme_scsi_ids,
	.probe		= nvme_scsi_probe,
	.remove		= nvme_scsi_remove,
	.shutdown	= nvme_scsi_pci_shutdown,
};

static void nvme_scsi_free_wqs(void)
{
	if (nvme_scsi_xlat_wq)
		destroy_workqueue(nvme_scsi_xlat_wq);
	if (nvme_scsi_wq)
		destroy_workqueue(nvme_scsi_wq);
	if (nvme_scsi_reset_wq)
		destroy_workqueue(nvme_scsi_reset_wq);
}

static int __init nvme_scsi_alloc_wqs(void)
{
	const unsigned int flags = WQ_UNBOUND | WQ_MEM_RECLAIM;

	nvme_scsi_reset_wq = alloc_workqueue("nvme_scsi_reset_wq", flags, 0);
	nvme_scsi_wq = alloc_workqueue("nvme_scsi_wq", flags, 0);
	nvme_scsi_xlat_wq = alloc_workqueue("nvme_scsi_xlat_wq", flags, 0);
	if (nvme_scsi_reset_wq && nvme_scsi_wq && nvme_scsi_xlat_wq)
		return 0;
	nvme_scsi_free_wqs();
	return -ENOMEM;
}

static int __init nvme_scsi_init(void)
{
	int ret;

	BUILD_BUG_ON(sizeof(struct nvme_command) != 64);
	BUILD_BUG_ON(sizeof(struct nvme_completion) != 16);
	BUILD_BUG_ON(NVME_SCSI_PT_CIDS > BITS_PER_LONG);

	ret = nvme_scsi_check_params();
	if (ret)
		return ret;
	ret = nvme_scsi_alloc_wqs();
	if (ret)
		return ret;
	ret = nvme_scsi_chrdev_init();
	if (ret)
		goto err_wq;
	nvme_scsi_debugfs_init();
	ret = pci_register_driver(&nvme_scsi_pci_driver);
	if (ret)
		goto err_debugfs;
	return 0;

err_debugfs:
	nvme_scsi_debugfs_exit();
	nvme_scsi_chrdev_exit();
err_wq:
	nvme_scsi_free_wqs();
	return ret;
}

static void __exit nvme_scsi_exit(void)
{
	pci_unregister_driver(&nvme_scsi_pci_driver);
	nvme_scsi_debugfs_exit();
	nvme_scsi_chrdev_exit();
	nvme_scsi_free_wqs();
}

module_init(nvme_scsi_init);
module_exit(nvme_scsi_exit);

MODULE_DESCRIPTION("NVMe 1.0e PCI controller as a SCSI host (NSID n = LUN n-1)");
MODULE_LICENSE("GPL");
MODULE_VERSION("0.1");
/* namespaces are disks: have modprobe load sd first */
MODULE_SOFTDEP("pre: sd_mod");
