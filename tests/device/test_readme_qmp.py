# SPDX-License-Identifier: GPL-2.0-or-later
"""The README's QMP examples (the ```json commands and the qmp-shell lines),
sent in order to a QEMU with the model: each must be accepted as written."""
from pathlib import Path

from cosim import readme

from nvme_qtest import qemu_args


def test_qmp_examples_are_accepted(launch, image, tmp_path):
    vm = launch(qemu_args(image))
    commands = readme.qmp_commands()
    assert any(cmd == "cosim-nvme-fault-add" for _, cmd, _ in commands)
    for line, cmd, args in commands:
        backing = args.get("file", {}).get("filename") if cmd == "blockdev-add" else None
        if backing:
            # the example's image, made where the test keeps its files
            args["file"]["filename"] = str(tmp_path / Path(backing).name)
            with open(args["file"]["filename"], "wb") as f:
                f.truncate(64 << 20)
        resp = vm.qmp(cmd, args_dict=args)
        assert "error" not in resp, f"README.md:{line}: {cmd} {args}: {resp['error']}"
