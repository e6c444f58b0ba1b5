# SPDX-License-Identifier: GPL-2.0-or-later
"""Errors the harness reports to users; importable before QEMU is fetched."""


class GuestError(RuntimeError):
    """The guest or QEMU failed; the message names the console log or run directory."""


class BuildError(RuntimeError):
    """Building QEMU, the driver or the guest image failed; the output is above."""


class BootRetry(UserWarning):
    """A guest boot hung and was tried again; the hung boot's logs are named."""
