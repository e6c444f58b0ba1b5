# SPDX-License-Identifier: GPL-2.0-or-later
# Devices of the minimal x86_64-softmmu that nvme-cosim builds
# (configure --without-default-devices --with-devices-x86_64=cosim).
CONFIG_Q35=y
# the model under test, and QEMU's own NVMe device as the reference
CONFIG_COSIM_NVME=y
CONFIG_NVME_PCI=y
# guest panic -> QMP GUEST_PANICKED
CONFIG_PVPANIC_ISA=y
# PCIe root ports: hot-pluggable slots for controllers (and what cxl-rp derives from)
CONFIG_PCIE_PORT=y
# PCI expander bridge, to put a controller on a NUMA node
CONFIG_PXB=y
# pci_expander_bridge.c links against the CXL code, which needs the type 3 device
CONFIG_CXL=y
CONFIG_CXL_MEM_DEVICE=y
# the guest's read-only tools disk (fio, nvme-cli, sg3_utils and their libraries)
CONFIG_VIRTIO_PCI=y
CONFIG_VIRTIO_BLK=y
