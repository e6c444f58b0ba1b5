# SPDX-License-Identifier: GPL-2.0-or-later
"""Verifying workloads: fio writing data unique to the job into every block,
run in the guest in the background so faults can be injected while it runs.
Nothing that fio reports as written is taken on trust: a final verify-only
pass re-reads it.

Every block holds the job's own 8-byte pattern and the block's offset
(fio's verify=pattern with `%o`), and every byte is compared when read
back.  The pattern is drawn for each write job from the run, the test
(pytest's PYTEST_CURRENT_TEST), the device, the job's options and how many
times the test wrote that job before, so data left by any earlier test, run
or pass fails the check (a lost write), as does a block of the job's own
data at another offset (a misdirected write) or a block only partly new (a
torn one).  A verify-only pass with the same options checks against the
last such write.  A checksum in a header would not do: a stale block with
a valid checksum from an identical earlier job passes it.
"""
import collections
import hashlib
import json
import os
import re
import secrets
import time
from dataclasses import dataclass

from .errors import GuestError

FIO_BASE = ("fio --direct=1 --ioengine=libaio --verify=pattern --verify_fatal=1 "
            "--verify_state_save=0 --randrepeat=1 --output-format=json")

_RUN = secrets.token_hex(16)            # this process's run of the suites
_writes = collections.Counter()         # (test, dev, layout) -> write jobs so far
# options that change how a job checks, not what it writes
_CHECK_ONLY = re.compile(r"--(do_verify|verify_only|verify_backlog|verify_fatal)=\S+")


def _job_key(dev, opts):
    test = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" ", 1)[0]
    return test, dev, " ".join(_CHECK_ONLY.sub("", opts).split())


def _pattern(key, nth):
    digest = hashlib.sha256(repr((_RUN, key, nth)).encode()).hexdigest()
    return f"--verify_pattern=0x{digest[:16]}%o"


def data_opts(dev, opts):
    """The verify pattern for a job on @dev with @opts: a new one for a job
    that writes, the last written one for --verify_only=1."""
    key = _job_key(dev, opts)
    if "--verify_only=1" not in opts:
        _writes[key] += 1
    elif not _writes[key]:
        raise GuestError(f"verify-only on {dev} with '{key[2]}': this test wrote "
                         "nothing with those options to check against")
    return f"{opts} {_pattern(key, _writes[key])}"


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
        self.cmd = f"{FIO_BASE} --name={name} --filename={dev} {data_opts(dev, opts)}"
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
    job = data_opts(dev, " ".join(opts))
    result = guest.run(f"{FIO_BASE} --name=verify --filename={dev} {job}",
                       timeout=timeout, check=False)
    parsed = _parse(result.status, result.output)
    if result.status != 0 or not parsed.ios:
        raise GuestError(f"fio failed\n{result}")
    return parsed


def verify_only(guest, dev, opts, timeout=600):
    """Re-read what a previous fio job with the same `opts` wrote and check
    every block's checksum: lost or corrupted data fails here."""
    job = data_opts(dev, f"{opts} --verify_only=1")
    result = guest.run(f"{FIO_BASE} --name=reverify --filename={dev} {job}",
                       timeout=timeout, check=False)
    parsed = _parse(result.status, result.output)
    if result.status != 0:
        raise GuestError(f"verify pass failed: data lost or corrupted\n{result}")
    return parsed
