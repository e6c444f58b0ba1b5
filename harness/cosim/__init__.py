# SPDX-License-Identifier: GPL-2.0-or-later
"""nvme-cosim harness: build QEMU with the cosim-nvme model, build the guest,
boot it, talk to it, and drive the model over QMP."""
