# SPDX-License-Identifier: GPL-2.0-or-later
"""The guest's serial console log: where panics, oopses and warnings show up."""
import re
from pathlib import Path

# A line matching FATAL means the guest is gone or wedged: stop waiting on it.
FATAL = re.compile(r"Kernel panic - not syncing|\bBUG: |\bOops[: ]|"
                   r"general protection fault|kernel BUG at")
# These leave the guest running but fail whatever test saw them.
SUSPECT = re.compile(r"WARNING: |INFO: task .* blocked for more than|"
                     r"\bhung_task|rcu: INFO: .* stall|soft lockup|hard LOCKUP|"
                     r"UBSAN:|KASAN:|list_(add|del) corruption")


class ConsoleLog:
    """Reads a console log file that QEMU appends to, remembering where the
    last check stopped so each check only looks at new output."""

    def __init__(self, path):
        self.path = Path(path)
        self._offset = 0
        self._partial = ""

    def _read(self, offset=0):
        """The log's bytes from `offset` on (nothing yet if QEMU hasn't made it)."""
        try:
            with open(self.path, "rb") as f:
                f.seek(offset)
                return f.read()
        except FileNotFoundError:
            return b""

    def text(self):
        return self._read().decode(errors="replace")

    def new_lines(self):
        data = self._read(self._offset)
        self._offset += len(data)
        chunk = self._partial + data.decode(errors="replace")
        lines = chunk.split("\n")
        self._partial = lines.pop()
        return lines

    def new_fatal(self):
        """The first fatal line in output not yet scanned, or None."""
        return next((line.strip() for line in self.new_lines() if FATAL.search(line)), None)

    def problems(self, since=0):
        """Lines from byte offset `since` (a size() taken earlier) on that mean
        the guest is unwell."""
        return [line.strip()
                for line in self._read(since).decode(errors="replace").splitlines()
                if FATAL.search(line) or SUSPECT.search(line)]

    def size(self):
        """Where the log ends now, for a later problems(since=...)."""
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0
