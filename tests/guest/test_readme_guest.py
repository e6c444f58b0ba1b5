# SPDX-License-Identifier: GPL-2.0-or-later
"""The README's guest examples, run as a reader would run them: each
`make sim ... SIM_CMD='...'` line in a guest booted with its CONFIG, MODEL,
DRIVER and LIBVIRT_URI (pooled, so the default guest is the one the other
tests use), the nvme-cli lines for the passthrough device in the default
guest, and the Python example with that guest as `guest`.  A command must
succeed, and a one-word comment after it is a token its output must hold."""
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
        guest.load_driver()


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
