# SPDX-License-Identifier: GPL-2.0-or-later
"""Verifying workloads: fio with a checksum in every block, run in the guest in
the background so faults can be injected while it runs.  Nothing that fio
reports as written is taken on trust: a final verify-only pass re-reads it."""
import json
import time
from dataclasses import dataclass

from .errors import GuestError

FIO_BASE = ("fio --direct=1 --ioengine=libaio --verify=crc32c --verify_fatal=1 "
            "--verify_state_save=0 --randrepeat=1 --output-format=json")


@dataclass
class FioResult:
    status: int
    ios: int            # IOs fio completed (reads + writes)
    errors: int         # IO errors fio saw
    output: str
    writes: int = 0     # of which writes


def _parse(status, output):
    try:
        job = json.loads(output[output.index("{"):])["jobs"][0]
    except (ValueError, KeyError, IndexError):
        return FioResult(status, 0, 0, output)
    writes = job["write"]["total_ios"]
    return FioResult(status, job["read"]["total_ios"] + writes, job.get("error", 0), output,
                     writes)


class Fio:
    """One fio job on `dev`, started in the background in the guest."""

    def __init__(self, guest, dev, opts, name="verify"):
        self.guest = guest
        self.cmd = f"{FIO_BASE} --name={name} --filename={dev} {opts}"
        self.out = f"/tmp/fio-{name}.json"
        self.t_end = None

    def start(self):
        self.guest.run(f"rm -f {self.out}.rc; ({self.cmd} > {self.out} 2>&1; "
                       f"echo $? > {self.out}.rc) &")
        return self

    def wait(self, timeout):
        """Wait for fio to end; FioResult with its exit status and IO count."""
        self.guest.wait_until(f"[ -e {self.out}.rc ]", timeout=timeout)
        self.t_end = time.monotonic()
        status = int(self.guest.run(f"cat {self.out}.rc").output)
        return _parse(status, self.guest.run(f"cat {self.out}").output)


def fio_verify(guest, dev, *opts, timeout=600):
    """Run a verifying fio job to the end; GuestError if fio reports any error."""
    result = guest.run(f"{FIO_BASE} --name=verify --filename={dev} {' '.join(opts)}",
                       timeout=timeout, check=False)
    parsed = _parse(result.status, result.output)
    if result.status != 0 or not parsed.ios:
        raise GuestError(f"fio failed\n{result}")
    return parsed


def verify_only(guest, dev, opts, timeout=600):
    """Re-read what a previous fio job with the same `opts` wrote and check
    every block's checksum: lost or corrupted data fails here."""
    result = guest.run(f"{FIO_BASE} --name=reverify --filename={dev} {opts} "
                       "--verify_only=1", timeout=timeout, check=False)
    parsed = _parse(result.status, result.output)
    if result.status != 0:
        raise GuestError(f"verify pass failed: data lost or corrupted\n{result}")
    return parsed
