# SPDX-License-Identifier: GPL-2.0-or-later
"""`make test HOSTS="uri1 uri2 ..."`: one pytest run spread over libvirt hosts.

Each pytest-xdist worker binds to one host for its whole life (worker gwN
takes HOSTS[N % len(HOSTS)]) and boots every guest there, by setting
LIBVIRT_URI in its own environment before any guest starts.  The tests of
a module stay on one worker (--dist loadscope) and so on one host.  The
JUnit file and the result tables need no merging of their own: xdist's
controller writes the one JUnit file, and the tables are built from the
JSON lines every worker appends (cosim.report).  An entry may be `embed`
(this host, libvirt's embedded driver) or any libvirt URI."""
import os
import subprocess

from . import paths
from .errors import GuestError


def hosts(value=None):
    """The URIs of HOSTS (space-separated), in order."""
    return (os.environ.get("HOSTS", "") if value is None else value).split()


def worker_index(worker):
    """N of xdist's worker id gwN; 0 outside xdist (worker None or "master")."""
    if worker and worker.startswith("gw") and worker[2:].isdigit():
        return int(worker[2:])
    return 0


def uri_for_worker(uris, worker):
    """The host a worker binds to, or None without HOSTS."""
    if not uris:
        return None
    return uris[worker_index(worker) % len(uris)]


def bind_worker():
    """Point this process's guests at its host (LIBVIRT_URI); the URI, or None."""
    uri = uri_for_worker(hosts(), os.environ.get("PYTEST_XDIST_WORKER"))
    if uri:
        os.environ["LIBVIRT_URI"] = uri
    return uri


# The stand-in for another host that make test (and CI) use: a libvirtd of
# our own on loopback, reached over TCP (harness/libvirtd-loopback.sh).
LOOPBACK = "qemu+tcp://127.0.0.1/system"


def start_loopback_libvirtd():
    """Start the loopback libvirtd unless it answers already (quick then);
    GuestError with its script's complaint if it cannot start.  Root only."""
    script = paths.REPO / "harness" / "libvirtd-loopback.sh"
    done = subprocess.run(["sh", str(script)], capture_output=True, text=True, timeout=60)
    if done.returncode:
        raise GuestError(f"{script} failed:\n{done.stderr}")
