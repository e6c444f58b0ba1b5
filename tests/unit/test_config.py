# SPDX-License-Identifier: GPL-2.0-or-later
"""Sim configs: a bad key or value is refused with the key and the file named."""
import re

import pytest

from cosim import config


def write(tmp_path, text):
    path = tmp_path / "sim.toml"
    path.write_text(text)
    return path


def test_default_config_loads():
    cfg = config.load()
    assert cfg.controller.model in config.MODELS
    assert cfg.driver.name in config.DRIVERS
    assert cfg.namespaces and all(ns.size_mib > 0 for ns in cfg.namespaces)


@pytest.mark.parametrize("text, key", [
    ("[machine]\ncpu = 2\n", "machine.cpu"),
    ("[machine]\ncpus = 'two'\n", "machine.cpus"),
    ("[machine]\ncpus = 0\n", "machine.cpus"),
    ("[controller]\nmodel = 'spdk'\n", "controller.model"),
    ("[[namespace]]\nsize_mib = 1\n[[namespace]]\nsize = 1\n", "namespace[1].size"),
    ("[drivers]\nname = 'nvme'\n", "drivers"),
    ("[driver]\nname = true\n", "driver.name"),
])
def test_bad_key_or_value_names_key_and_file(tmp_path, text, key):
    path = write(tmp_path, text)
    with pytest.raises(config.ConfigError) as e:
        config.load(path)
    assert f"'{key}'" in str(e.value) and str(path) in str(e.value)


def test_bad_toml_names_file(tmp_path):
    path = write(tmp_path, "[machine\n")
    with pytest.raises(config.ConfigError, match=str(path)):
        config.load(path)


def test_overrides_are_checked(tmp_path):
    path = write(tmp_path, "")
    assert config.load(path, model="qemu", driver="nvme").driver.name == "nvme"
    with pytest.raises(config.ConfigError, match="controller.model"):
        config.load(path, model="bogus")


def test_controller_keys_become_model_properties(tmp_path):
    path = write(tmp_path, "[controller]\nmqes = 15\nmdts = 0\nns_notice_aen = true\n")
    assert config.controller_properties(config.load(path)) == {
        "mqes": 15, "mdts": 0, "ns-notice-aen": "on"}


def test_key_the_model_lacks_is_refused(tmp_path):
    path = write(tmp_path, "[controller]\nmqes = 15\n")
    with pytest.raises(config.ConfigError,
                       match="'controller.mqes' is not supported by MODEL=qemu"):
        config.load(path, model="qemu")


@pytest.mark.parametrize("text, key", [
    ("[[namespace]]\nlba_size = 1024\n", "namespace[0].lba_size"),
    ("[controller]\nmdts = -1\n", "controller.mdts"),
    ("[controller]\nmqes = 0\n", "controller.mqes"),
])
def test_bad_controller_and_namespace_values(tmp_path, text, key):
    with pytest.raises(config.ConfigError, match=re.escape(f"'{key}'")):
        config.load(write(tmp_path, text))


def test_fault_rules_at_start_up(tmp_path):
    path = write(tmp_path, "[[fault]]\naction = 'drop'\nqueue = 'io'\nlba_start = 8\n")
    assert config.load(path).faults == [{"action": "drop", "queue": "io", "lba-start": 8}]
    with pytest.raises(config.ConfigError, match="'fault' rules need MODEL=cosim"):
        config.load(path, model="qemu")


def test_reported_version_becomes_vs_register(tmp_path):
    path = write(tmp_path, "[controller]\nvs = '1.2'\nready_delay_ms = 3000\nfw_slots = 3\n")
    assert config.controller_properties(config.load(path)) == {
        "vs": "0x10200", "ready-delay-ms": 3000, "fw-slots": 3}
    with pytest.raises(config.ConfigError, match="'controller.vs' must be one of"):
        config.load(write(tmp_path, "[controller]\nvs = '2.0'\n"))


@pytest.mark.parametrize("text, key", [
    ("[controller]\nvendor_id = 0x10000\n", "controller.vendor_id"),
    ("[controller]\nams = 'urgent'\n", "controller.ams"),
    ("[machine]\nnuma_nodes = 0\n", "machine.numa_nodes"),
    ("[machine]\ncpus = 1\nnuma_nodes = 2\n", "machine.numa_nodes"),
    ("[machine]\nnuma_nodes = 2\n[controller]\nnuma_node = 2\n", "controller.numa_node"),
    ("[[namespace]]\ncount = 0\n", "namespace[0].count"),
    ("[[namespace]]\nbacking = 'disk.img'\n", "namespace[0].backing"),
])
def test_bad_placement_values(tmp_path, text, key):
    with pytest.raises(config.ConfigError, match=re.escape(f"'{key}'")):
        config.load(write(tmp_path, text))


def test_namespace_count_expands(tmp_path):
    cfg = config.load(write(tmp_path, "[[namespace]]\nsize_mib = 4\n"
                                      "[[namespace]]\nsize_mib = 1\ncount = 3\n"))
    assert [ns.size_mib for ns in cfg.namespaces] == [4, 1, 1, 1]


def test_image_backing_takes_its_size(tmp_path):
    image = tmp_path / "ns.raw"
    image.write_bytes(b"\0" * (3 << 20))
    cfg = config.load(write(tmp_path, f"[[namespace]]\nbacking = '{image}'\n"))
    assert cfg.namespaces[0].size_mib == 3
    with pytest.raises(config.ConfigError, match="'namespace\\[0\\].size_mib' conflicts"):
        config.load(write(tmp_path, f"[[namespace]]\nbacking = '{image}'\nsize_mib = 3\n"))


def test_numa_split_covers_every_cpu_and_mib(tmp_path):
    cfg = config.load(write(tmp_path, "[machine]\ncpus = 3\nmemory_mib = 1025\n"
                                      "numa_nodes = 2\n"))
    assert cfg.machine.numa_cells() == [(0, 0, 0, 512), (1, 1, 2, 513)]


def test_pci_ids_and_arbitration_become_properties(tmp_path):
    path = write(tmp_path, "[controller]\nvendor_id = 0x11f8\nsubsys_id = 1\nams = 'wrr'\n"
                           "hotplug = true\n")
    assert config.controller_properties(config.load(path)) == {
        "vendor-id": 0x11f8, "subsys-id": 1, "ams": 1}


def test_driver_override_drops_the_other_drivers_parameters(tmp_path):
    path = write(tmp_path, "[driver]\nname = 'nvme_scsi'\nparams = 'io_queue_mode=numa'\n")
    assert config.load(path, driver="nvme_scsi").driver.params == "io_queue_mode=numa"
    assert config.load(path, driver="nvme").driver.params == ""


def test_every_value_a_key_accepts_can_be_written(tmp_path):
    """The smallest value of each key is a setting, not 'use the default'."""
    path = write(tmp_path, "[machine]\nnuma_nodes = 2\n[controller]\nmdts = 0\ndstrd = 0\n"
                           "ready_delay_ms = 0\nns_notice_aen = false\nnuma_node = 0\n")
    cfg = config.load(path)
    assert cfg.controller.numa_node == 0
    assert config.controller_properties(cfg) == {
        "mdts": 0, "dstrd": 0, "ready-delay-ms": 0, "ns-notice-aen": "off"}
    assert config.controller_properties(config.load(write(tmp_path, ""))) == {}
