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
from cosim.errors import BuildError

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


def compile_c(out, source, *args):
    src = out.with_suffix(".c")
    src.write_text(source)
    subprocess.run(["gcc", "-o", str(out), str(src), *args], check=True)
    return out


@pytest.fixture
def fake_nbd(tmp_path):
    """A libnbd.so.0 of our own with a function and a variable in it."""
    return compile_c(tmp_path / "libnbd.so.0", "int nbd_flags = 1;\nint nbd_create(void) "
                     "{ return 0; }\n", "-shared", "-fPIC", "-Wl,-soname,libnbd.so.0")


def program_using(fake_nbd, name, body):
    return compile_c(fake_nbd.parent / name, "extern int nbd_flags; int nbd_create(void);\n"
                     f"int main(void) {{ {body} }}\n", str(fake_nbd),
                     f"-Wl,-rpath,{fake_nbd.parent}")


def test_a_stub_stands_in_only_for_functions(fake_nbd):
    """A stub has only functions to give; a program that takes a variable
    from a stubbed library must stop the build, not boot to a broken tool."""
    calls = program_using(fake_nbd, "calls", "return nbd_create();")
    assert stub_libs.wanted([str(calls)], {"libnbd.so.0": str(fake_nbd)}) == \
        {"libnbd.so.0": ["nbd_create"]}
    reads = program_using(fake_nbd, "reads", "return nbd_flags;")
    with pytest.raises(BuildError, match="nbd_flags from libnbd.so.0, and not as a function"):
        stub_libs.wanted([str(reads)], {"libnbd.so.0": str(fake_nbd)})


def test_a_library_ldd_cannot_find_is_named(tmp_path):
    lib = compile_c(tmp_path / "libcosim-gone.so.0", "int gone(void) { return 0; }\n",
                    "-shared", "-fPIC", "-Wl,-soname,libcosim-gone.so.0")
    prog = compile_c(tmp_path / "prog", "int gone(void);\nint main(void) { return gone(); }\n",
                     str(lib), f"-Wl,-rpath,{tmp_path}")
    assert "libcosim-gone.so.0" in image._ldd([str(prog)])
    lib.unlink()
    with pytest.raises(BuildError, match="libcosim-gone.so.0, which a guest tool needs, is not"):
        image._libraries([str(prog)])
