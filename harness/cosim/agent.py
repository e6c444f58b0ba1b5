# SPDX-License-Identifier: GPL-2.0-or-later
"""Host side of the guest command channel: a serial port (ttyS1) with a small
shell agent behind it (harness/guest/cosim-agent).  One request at a time;
every wait has a deadline and a health check, so nothing hangs for ever.

The channel is a connected socket: QEMU's unix socket for the port
(unix_channel()), or, for a guest on another libvirt host, the harness's
end of a socketpair that cosim.libvirt_stream joins to libvirt's stream on
the port.  One code path reads both."""
import base64
import itertools
import select
import socket
import time
from dataclasses import dataclass


class AgentError(RuntimeError):
    pass


class AgentTimeout(AgentError):
    pass


@dataclass
class Result:
    cmd: str
    status: int
    output: str

    def __str__(self):
        return f"$ {self.cmd}\n{self.output}[exit {self.status}]"


def unix_channel(path):
    """The channel of a serial port that QEMU serves on a unix socket."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
    except OSError:
        sock.close()
        raise
    return sock


class Agent:
    def __init__(self, channel, health_check):
        """`channel`: a connected socket to the agent's serial port.
        `health_check()` is called while waiting and raises when the guest
        or QEMU died, so a wait ends at once instead of at its deadline."""
        self._sock = channel
        self._health_check = health_check
        self._buf = b""
        self._ids = itertools.count(1)

    def close(self):
        self._sock.close()

    def _readline(self, deadline, what):
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AgentTimeout(f"guest did not answer in time ({what})")
            ready, _, _ = select.select([self._sock], [], [], min(left, 0.25))
            self._health_check()
            if ready:
                data = self._sock.recv(65536)
                if not data:
                    raise AgentError("guest command channel closed")
                self._buf += data
        line, _, self._buf = self._buf.partition(b"\n")
        return line.decode(errors="replace").rstrip("\r")

    def wait_ready(self, timeout):
        """Wait for the agent's greeting; returns the guest's uptime (s) when
        init started and when the agent came up."""
        deadline = time.monotonic() + timeout
        while True:
            line = self._readline(deadline, f"boot, {timeout:.0f}s")
            if line.startswith("@@BOOTFAIL "):
                raise AgentError(f"guest boot failed: {line[len('@@BOOTFAIL '):]}")
            if line.startswith("@@READY"):
                try:
                    init, ready = (float(f) for f in line.split()[1:3])
                except ValueError:
                    raise AgentError(f"malformed greeting from the guest agent: {line!r}")
                return init, ready

    def run(self, cmd, timeout):
        rid = next(self._ids)
        script = base64.b64encode(cmd.encode()).decode()
        self._sock.sendall(f"{rid} {script}\n".encode())
        deadline = time.monotonic() + timeout
        what = f"{cmd!r} after {timeout:.0f}s"
        while self._readline(deadline, what) != f"@@BEGIN {rid}":
            pass
        chunks = []
        while True:
            line = self._readline(deadline, what)
            if line.startswith(f"@@END {rid} "):
                status = int(line.split()[2])
                break
            chunks.append(line)
        output = base64.b64decode("".join(chunks)).decode(errors="replace")
        return Result(cmd, status, output)
