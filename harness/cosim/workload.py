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

On a guest whose controller keeps the ledger of acknowledged writes
(controller.ledger), every job also logs each completed IO with its offset
(--write_lat_log, --log_offset=1), and the writes it saw succeed are noted
for the ledger check (cosim.ledger.application_wrote): the application's
writes must all be among those the controller acknowledged.
"""
import collections
import hashlib
import itertools
import json
import os
import re
import secrets
import time
from dataclasses import dataclass

from . import ledger
from .errors import GuestError

FIO_BASE = ("fio --direct=1 --ioengine=libaio --verify=pattern --verify_fatal=1 "
            "--verify_state_save=0 --randrepeat=1 --output-format=json")

_RUN = secrets.token_hex(16)            # this process's run of the suites
_writes = collections.Counter()         # (test, dev, layout) -> write jobs so far
# options that change how a job checks, not what it writes
_CHECK_ONLY = re.compile(r"--(do_verify|verify_only|verify_backlog|verify_fatal)=\S+")


# fio's completion log of a job (prefix; fio adds _clat.1.log and others),
# numbered: jobs run side by side
ACK_LOG = "/tmp/fio-ack-{}"
_jobs = itertools.count()
# The job's successful writes (direction 1 in the completion log; fio logs
# only IOs that completed without error) as merged byte ranges
# "first end", after the disk's logical block size.
WRITTEN = ("cat {log}_clat.*.log 2>/dev/null | awk -F, '$3 + 0 == 1 {{print $5 + 0, $5 + $4}}' | "
           "sort -n | "
           "awk 'NR == 1 {{s = $1; e = $2; next}} $1 <= e {{if ($2 > e) e = $2; next}} "
           "{{print s, e; s = $1; e = $2}} END {{if (NR) print s, e}}'; rm -f {log}_*.log")


@dataclass
class AckLog:
    """A job's completion log and where its writes go: the namespace and
    its LBA size, taken as the job starts (the disk may be gone at its end)."""
    path: str
    nsid: int
    lba_size: int


def _ack_log(guest, dev):
    """(fio options logging every completion, its AckLog) on a guest with
    the ledger on; ("", None) elsewhere."""
    if not guest.cfg.controller.ledger:
        return "", None
    disk = next((d for d in guest.driver.block_devices() if d[0] == dev), None)
    if disk is None:            # not a namespace's disk (a partition, say)
        return "", None
    lba_size = int(guest.run(f"cat /sys/block/{dev[5:]}/queue/logical_block_size").output)
    log = AckLog(ACK_LOG.format(next(_jobs)), guest.driver.nsid_of(disk), lba_size)
    return f" --write_lat_log={log.path} --log_offset=1", log


def _note_written(guest, log):
    """Tell the ledger check what the job saw written (see the module's doc)."""
    if log is None:
        return
    out = guest.run(WRITTEN.format(log=log.path), check=False).output
    ranges = [tuple(int(v) for v in line.split()) for line in out.splitlines()
              if re.fullmatch(r"\d+ \d+", line.strip())]
    ledger.application_wrote(guest, log.nsid, log.lba_size, ranges)


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
        ack, self.ack_log = _ack_log(guest, dev)
        self.cmd = f"{FIO_BASE} --name={name} --filename={dev} {data_opts(dev, opts)}{ack}"
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
        result = _parse(status, self.guest.run(f"cat {self.out}").output)
        _note_written(self.guest, self.ack_log)
        return result


def fio_verify(guest, dev, *opts, timeout=600):
    """Run a verifying fio job to the end; GuestError if fio reports any error."""
    ack, log = _ack_log(guest, dev)
    job = data_opts(dev, " ".join(opts)) + ack
    result = guest.run(f"{FIO_BASE} --name=verify --filename={dev} {job}",
                       timeout=timeout, check=False)
    parsed = _parse(result.status, result.output)
    if result.status != 0 or not parsed.ios:
        raise GuestError(f"fio failed\n{result}")
    _note_written(guest, log)
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
