# SPDX-License-Identifier: GPL-2.0-or-later
"""The README's examples, by kind, for the tests that run them
(tests/unit/test_readme_examples.py, tests/device/test_readme_qmp.py,
tests/guest/test_readme_guest.py), so an example that stops working fails
`make test` instead of misleading the next reader.

Fenced blocks are read by their language: ``toml`` (configs), ``json``
(QMP commands: the lines with "execute"), ``python`` (run with a booted
guest as `guest`, or, when its first line is a comment naming a file
such as `# my-suite/conftest.py`, a file of an example suite), ``sh``
(host commands: `make sim ... SIM_CMD='...'`, the pytest command that
runs the example suite, or a command for the guest's shell).  Lines of a block without a language
that start with "(QEMU) " are qmp-shell commands.  A shell line that
fits none of these must be listed in NOT_RUN with the reason.
"""
import json
import re
import shlex
from dataclasses import dataclass, field

from . import paths

README = paths.REPO / "README.md"

# Shell examples no test runs, and why.  Keep this short: every entry is
# documentation nobody checks.
NOT_RUN = {
    "make sim": "interactive: a shell on the guest console",
    "make test": "the suite itself",
    "make test LIBVIRT_URI=embed": "the suite itself, through libvirt",
    "make interop LIBVIRT_URI=embed": "the interop matrix: longer than make test",
    "make test HOSTS=qemu+ssh://root@hosta/system qemu+ssh://root@hostb/system":
        "the suite itself, on hosts of the reader's",
    "make interop HOSTS=qemu+tcp://127.0.0.1/system embed HOST_JOBS=1":
        "the interop matrix over two hosts: longer than make test",
    "make bench": "a measurement, not a test: ~15 min (its arithmetic: test_bench.py)",
    "make bench BENCH_REPEAT=5 BENCH_RUNTIME=20": "the same, longer",
    "make profile": "a measurement, not a test: its own QEMU build and five boots "
                    "(its arithmetic: test_profile.py)",
    "make profile PROFILE_JOB=4k randwrite QD32 PROFILE_RUNTIME=20": "the same, another job",
}
# The command that runs the example suite, from the tree's top directory.
SUITE_RUN = re.compile(r"^PYTHONPATH=harness /usr/bin/python3 -m pytest ")
# The first line of a suite file's block: its path.
SUITE_FILE = re.compile(r"^# ([\w.-]+/[\w.-]+\.py)\n")
# Variables of `make sim` an example may set.
SIM_VARS = ("SIM_CMD", "CONFIG", "DRIVER", "MODEL", "LIBVIRT_URI")


@dataclass
class Block:
    lang: str
    text: str
    line: int           # 1-based line of the block's first line in README.md

    def lines(self):
        """(line number, logical line) with backslash continuations joined."""
        out, start, cur = [], None, ""
        for i, raw in enumerate(self.text.splitlines()):
            if start is None:
                start = self.line + i
            if raw.endswith("\\"):
                cur += raw[:-1] + " "
                continue
            out.append((start, cur + raw))
            start, cur = None, ""
        return out


@dataclass
class SimCommand:
    """`make sim VAR=... SIM_CMD='...'`, maybe with `# expected` after it."""
    line: int
    source: str
    vars: dict = field(default_factory=dict)
    expect: str = ""        # a one-word comment: a token the output must hold

    @property
    def cmd(self):
        return self.vars["SIM_CMD"]


def blocks(text=None):
    text = README.read_text() if text is None else text
    out = []
    for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.S | re.M):
        out.append(Block(m.group(1), m.group(2), text.count("\n", 0, m.start(2)) + 1))
    return out


def configs(text=None):
    return [b for b in blocks(text) if b.lang == "toml"]


def python_blocks(text=None):
    """The Python examples to run with a guest (not the suite's files)."""
    return [b for b in blocks(text) if b.lang == "python" and not SUITE_FILE.match(b.text)]


def suite_files(text=None):
    """{relative path: text} of the example suite's files."""
    return {m.group(1): b.text for b in blocks(text) if b.lang == "python"
            for m in [SUITE_FILE.match(b.text)] if m}


def suite_commands(text=None):
    """(line, command) of the shell lines that run the example suite."""
    return [(n, line) for n, line in shell_lines(text) if SUITE_RUN.match(line)]


def qmp_commands(text=None):
    """[(line, command, arguments)] of the ```json blocks and qmp-shell lines."""
    out = []
    for b in blocks(text):
        for n, line in b.lines():
            if b.lang == "json" and '"execute"' in line:
                msg = json.loads(line)
                out.append((n, msg["execute"], msg.get("arguments", {})))
            elif not b.lang and line.startswith("(QEMU) "):
                cmd, *args = line[len("(QEMU) "):].split()
                out.append((n, cmd, dict(_qmp_shell_arg(a) for a in args)))
    return out


def _qmp_shell_arg(arg):
    """key=value as qmp-shell reads it: JSON where it parses, else a string."""
    key, _, value = arg.partition("=")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def shell_lines(text=None):
    """Every (line, command) of the ```sh blocks, comments kept."""
    return [(n, line) for b in blocks(text) if b.lang == "sh"
            for n, line in b.lines() if line.strip()]


def classify(text=None):
    """(sim commands, guest commands, not run) of the shell examples; raises
    ValueError naming the line of a `make` command it cannot place."""
    sims, guest, skipped = [], [], []
    for n, line in shell_lines(text):
        words = shlex.split(line, comments=True)
        if not words:
            continue
        bare = " ".join(words)
        if SUITE_RUN.match(line):
            continue            # suite_commands()
        if bare in NOT_RUN:
            skipped.append((n, line, NOT_RUN[bare]))
        elif words[:2] == ["make", "sim"]:
            sims.append(_sim(n, line, words))
        elif words[0] == "make":
            raise ValueError(f"README.md:{n}: no test runs `{line}`: run it or list it "
                             "in cosim.readme.NOT_RUN with the reason")
        else:
            guest.append((n, line))
    return sims, guest, skipped


def _sim(n, line, words):
    sim = SimCommand(n, line)
    for w in words[2:]:
        key, eq, value = w.partition("=")
        if not eq or key not in SIM_VARS:
            raise ValueError(f"README.md:{n}: `make sim` with {w!r}: not one of {SIM_VARS}")
        sim.vars[key] = value
    if "SIM_CMD" not in sim.vars:
        raise ValueError(f"README.md:{n}: `make sim` without SIM_CMD is interactive: "
                         "list it in cosim.readme.NOT_RUN")
    # the comment after the closing quote, if it is one word, is the answer
    tail = line[line.rfind("'") + 1:] if "'" in line else ""
    comment = tail.partition("#")[2].strip()
    if comment and " " not in comment:
        sim.expect = comment
    return sim
