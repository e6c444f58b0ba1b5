# SPDX-License-Identifier: GPL-2.0-or-later
"""The README's examples that need no QEMU: every config block loads, and
every shell example is run by a test or listed with the reason it is not
(the QMP examples run in tests/device, the guest ones in tests/guest)."""
import shlex

import pytest

from cosim import config, readme


def test_every_shell_example_is_run_or_says_why():
    sims, guest, skipped = readme.classify()
    assert sims and guest, "no runnable shell examples found: is the README's layout new?"
    # an exemption whose example is gone is documentation of nothing
    # (read as classify() reads them: quotes gone, comment dropped)
    listed = {" ".join(shlex.split(line, comments=True)) for _, line, _ in skipped}
    assert set(readme.NOT_RUN) <= listed, set(readme.NOT_RUN) - listed


def test_a_new_make_example_nobody_runs_is_refused():
    text = "```sh\nmake bench BENCH_RUNTIME=5\n```\n"
    with pytest.raises(ValueError, match="README.md:2: no test runs `make bench"):
        readme.classify(text)
    with pytest.raises(ValueError, match="'SIM_CMDS=ls'"):
        readme.classify("```sh\nmake sim SIM_CMDS=ls\n```\n")


def test_sim_example_answer_is_its_one_word_comment():
    sims, _, _ = readme.classify("```sh\nmake sim CONFIG=c.toml SIM_CMD='echo 1 # x'  # 1\n"
                                 "make sim SIM_CMD='ls'   # the disks\n```\n")
    assert [(s.vars, s.expect) for s in sims] == [
        ({"CONFIG": "c.toml", "SIM_CMD": "echo 1 # x"}, "1"), ({"SIM_CMD": "ls"}, "")]


@pytest.mark.parametrize("block", readme.configs(), ids=lambda b: f"README.md:{b.line}")
def test_config_example_loads(tmp_path, block):
    path = tmp_path / "readme.toml"
    path.write_text(block.text)
    cfg = config.load(path)
    assert config.controller_properties(cfg), "the sample sets no controller key"
