# SPDX-License-Identifier: GPL-2.0-or-later
"""The guest's kernel command line and CPU: the TSC frequency a TCG guest on
this host is given (and only where /proc/cpuinfo states the TSC's rate), and
the CPU features taken away, alike for QEMU and for libvirt."""
import pytest

from cosim import config, image, libvirt_vm, machine, paths, qemu_args

VM_CPUINFO = """processor\t: 0
cpu MHz\t\t: 2299.998
flags\t\t: fpu tsc constant_tsc nonstop_tsc tsc_known_freq
"""


def test_tsc_rate_of_a_vm_host(tmp_path):
    assert qemu_args.host_tsc_khz(VM_CPUINFO, tmp_path / "no-cpufreq") == 2299998


@pytest.mark.parametrize("cpuinfo", [
    VM_CPUINFO.replace("constant_tsc", ""),                 # the TSC's rate drifts
    VM_CPUINFO.replace("tsc_known_freq", ""),               # calibrated: maybe >1% off
    VM_CPUINFO.replace("nonstop_tsc", "aperfmperf"),        # cpu MHz is the core clock
    VM_CPUINFO.replace("cpu MHz", "BogoMIPS"),              # not said at all
    "",
])
def test_no_tsc_rate_unless_cpuinfo_states_it(cpuinfo, tmp_path):
    assert qemu_args.host_tsc_khz(cpuinfo, tmp_path / "no-cpufreq") is None


def test_no_tsc_rate_under_a_cpufreq_driver(tmp_path):
    """cpu MHz is then the driver's current clock, whatever the flags say."""
    assert qemu_args.host_tsc_khz(VM_CPUINFO, tmp_path) is None


def guest_image(tmp_path, hz=250):
    return image.GuestImage(tmp_path / "k", tmp_path / "i", tmp_path / "t", hz)


def cmdline(monkeypatch, tmp_path, accel="tcg", libvirt=None, hz=250):
    monkeypatch.setattr(qemu_args, "host_tsc_khz", lambda: 2299998)
    monkeypatch.delenv("LIBVIRT_URI", raising=False)
    cfg = config.load()
    cfg.machine.accel = accel
    guest = machine.Guest(cfg, rundir=tmp_path, libvirt=libvirt)
    return guest._cmdline(guest_image(tmp_path, hz)).split()


@pytest.mark.parametrize("libvirt", [None, "embed", "qemu:///system"])
def test_tcg_guest_here_skips_tsc_calibration(monkeypatch, tmp_path, libvirt):
    args = cmdline(monkeypatch, tmp_path, libvirt=libvirt)
    assert "tsc_early_khz=2299998" in args
    assert args[:len(qemu_args.KERNEL_ARGS.split())] == qemu_args.KERNEL_ARGS.split()


@pytest.mark.parametrize("hz, lpj", [(250, 9199992), (1000, 2299998), (300, 7666660)])
def test_delay_loop_rate_is_the_boot_cpus(monkeypatch, tmp_path, hz, lpj):
    """What the boot CPU computes from the TSC (tsc.c: tsc_khz * 1000 / HZ,
    "lpj=9199992" in a Debian guest's dmesg on this host): every CPU takes
    lpj= as it is, so a wrong value makes every udelay() wrong by as much."""
    assert f"lpj={lpj}" in cmdline(monkeypatch, tmp_path, hz=hz)


def test_hz_from_the_headers_config(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "kernel_headers", lambda release: tmp_path)
    (tmp_path / ".config").write_text("CONFIG_HZ_1000=y\nCONFIG_HZ=1000\nCONFIG_HZ_PERIODIC=y\n")
    assert image.kernel_hz("6.1.0-9-amd64") == 1000
    (tmp_path / ".config").write_text("CONFIG_HZ_1000=y\n")
    with pytest.raises(image.BuildError, match="no CONFIG_HZ"):
        image.kernel_hz("6.1.0-9-amd64")


@pytest.mark.parametrize("accel, libvirt", [("kvm", None),
                                            ("tcg", "qemu+ssh://hostb/system")])
def test_tsc_calibrated_elsewhere(monkeypatch, tmp_path, accel, libvirt):
    """KVM has its own clock; a remote host's TSC is not ours."""
    assert not [a for a in cmdline(monkeypatch, tmp_path, accel, libvirt)
                if a.startswith(("tsc_early_khz", "lpj"))]


def test_cpu_features_disabled_for_qemu_and_libvirt(monkeypatch, tmp_path):
    monkeypatch.delenv("LIBVIRT_URI", raising=False)
    cfg = config.load()
    guest = machine.Guest(cfg, rundir=tmp_path)
    args = guest._qemu_args(guest_image(tmp_path))
    assert args[args.index("-cpu") + 1] == "max,-erms"
    spec = libvirt_vm.DomainSpec("d", cfg, "k", "i", "", tmp_path / "c", None,
                                 tmp_path / "a", [])
    assert "<cpu mode='maximum'><feature policy='disable' name='erms'/></cpu>" in \
        libvirt_vm.domain_xml(spec)


def test_plugins_go_to_qemu_and_not_through_libvirt(monkeypatch, tmp_path):
    monkeypatch.delenv("LIBVIRT_URI", raising=False)
    cfg = config.load()
    guest = machine.Guest(cfg, rundir=tmp_path, plugins=["/p/a.so,ctl=/x", "/p/b.so"])
    args = guest._qemu_args(guest_image(tmp_path))
    assert args[-4:] == ["-plugin", "/p/a.so,ctl=/x", "-plugin", "/p/b.so"]
    with pytest.raises(machine.GuestError, match="not through libvirt"):
        guest._libvirt_vm("embed", guest_image(tmp_path))
