# SPDX-License-Identifier: GPL-2.0-or-later
"""The README's guest examples, run as a reader would run them: each
`make sim ... SIM_CMD='...'` line in a guest booted with its CONFIG, MODEL,
DRIVER and LIBVIRT_URI (pooled, so the default guest is the one the other
tests use), the nvme-cli lines for the passthrough device in the default
guest, and the Python example with that guest as `guest`.  A command must
succeed, and a one-word comment after it is a token its output must hold."""
import os
import re
import subprocess

import pytest

from cosim import config, fleet, paths, readme

SIMS, GUEST_LINES, _ = readme.classify()


def sim_config(sim):
    path = sim.vars.get("CONFIG")
    return config.load(paths.REPO / path if path else None, model=sim.vars.get("MODEL"),
                       driver=sim.vars.get("DRIVER"))


def restore_driver(guest):
    """An example that reloaded the driver with its own parameters leaves the
    pooled guest as the next test expects it."""
    name = guest.cfg.driver.name
    if name != "none":
        guest.run(f"rmmod {name}", check=False)
        guest.driver.load()


@pytest.mark.parametrize("sim", SIMS, ids=lambda s: f"README.md:{s.line}")
def test_sim_example(guest_for, sim):
    if sim.vars.get("LIBVIRT_URI") == fleet.LOOPBACK:
        fleet.start_loopback_libvirtd()     # as make test does
    guest = guest_for(sim_config(sim), sim.vars.get("LIBVIRT_URI"))
    result = guest.run(sim.cmd, timeout=120, check=False)
    if "modprobe" in sim.cmd or "rmmod" in sim.cmd:
        restore_driver(guest)
    assert result.status == 0, f"README.md:{sim.line}: {sim.cmd}\n{result}"
    if sim.expect:
        assert sim.expect in result.output.split(), \
            f"README.md:{sim.line}: wanted {sim.expect!r} from {sim.cmd}:\n{result.output}"


def test_passthrough_examples(guest):
    """nvme-cli on /dev/nvme_scsi0, line by line as the README lists them."""
    assert GUEST_LINES
    for line, cmd in GUEST_LINES:
        result = guest.run(cmd, timeout=120, check=False)
        assert result.status == 0, f"README.md:{line}: {cmd}\n{result}"


@pytest.mark.parametrize("block", readme.python_blocks(), ids=lambda b: f"README.md:{b.line}")
def test_python_example(guest, block):
    # blank lines in front: a failure's traceback names the README's own line
    code = compile("\n" * (block.line - 1) + block.text, str(readme.README), "exec")
    exec(code, {"guest": guest})


def test_example_suite(tmp_path):
    """The README's suite of one's own, its files written where it says and
    run with its command line: it must pass, and its case must be in the
    fault table it prints."""
    files, commands = readme.suite_files(), readme.suite_commands()
    assert files and len(commands) == 1, (files, commands)
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    (tmp_path / "harness").symlink_to(paths.REPO / "harness")
    line, cmd = commands[0]
    # a run of its own: not this run's workers, tables or JUnit report
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "COSIM_RUN_ID"))}
    proc = subprocess.run(["bash", "-c", f"{cmd} -p no:cacheprovider"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"README.md:{line}: {cmd}\n{out[-4000:]}"
    assert re.search(r"^test_\w+\[nvme_scsi\] +passed", out, re.M), out[-4000:]
