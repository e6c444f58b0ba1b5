# SPDX-License-Identifier: GPL-2.0-or-later
"""The tools disk's stand-ins for fio's engine libraries: fio loads with
them in place of the real ones (every function it takes from them is
there; they define no symbol versions, and the dynamic loader checks
versions only in a library that defines some), runs with a local engine,
and an engine that needs a stubbed library fails with the library named,
never silently."""
import os
import shutil
import subprocess

import pytest

from cosim import image, stub_libs

FIO = shutil.which("fio")
pytestmark = pytest.mark.skipif(FIO is None, reason="fio not installed (harness/setup.sh)")


@pytest.fixture(scope="module")
def stubs(tmp_path_factory):
    """A directory of the stubs, built as the tools disk builds them."""
    libs, stubbed = image._libraries([FIO])
    assert "librados.so.2" in stubbed and set(stubbed) <= set(stub_libs.STUBBED)
    assert not set(libs) & set(stubbed.values())
    out = tmp_path_factory.mktemp("stubs")
    want = stub_libs.wanted([FIO, *libs], stubbed)
    for soname in stubbed:
        stub_libs.build(soname, want.get(soname, []), out)
    return out


def fio(stubs, *args, tmp_path):
    """fio against the stubs; LD_BIND_NOW: every function it takes from them
    must be there at start, not only the ones a run happens to call."""
    env = dict(os.environ, LD_LIBRARY_PATH=str(stubs), LD_BIND_NOW="1")
    return subprocess.run([FIO, *args], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)


def test_fio_loads_no_real_engine_library(stubs, tmp_path):
    env = dict(os.environ, LD_LIBRARY_PATH=str(stubs))
    out = subprocess.run(["ldd", FIO], env=env, capture_output=True, text=True).stdout
    for soname in stub_libs.STUBBED:
        assert f"{soname} => {stubs}/{soname}" in out, out
    for heavy in ("libceph-common", "libglusterfs", "libstdc++", "libboost"):
        assert heavy not in out, out


def test_fio_verifies_with_a_local_engine(stubs, tmp_path):
    r = fio(stubs, "--name=v", "--filename=data", "--size=1m", "--rw=randwrite", "--bs=4k",
            "--ioengine=psync", "--verify=crc32c", "--output-format=terse", tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("3;fio-"), r.stdout


def test_stubbed_engine_fails_naming_the_library(stubs, tmp_path):
    r = fio(stubs, "--name=r", "--ioengine=rbd", "--rbdname=x", "--size=1m", tmp_path=tmp_path)
    assert r.returncode != 0
    assert "librados.so.2 is not on this guest" in r.stderr, r.stderr
