# SPDX-License-Identifier: GPL-2.0-or-later
"""Simulation configs: TOML files in configs/, read with tomllib and checked
key by key, so a typo names the key and the file instead of being ignored."""
import os
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path

from . import drivers, paths

DEFAULT = paths.REPO / "configs" / "default.toml"
MODELS = ("cosim", "qemu")
DRIVERS = tuple(drivers.DRIVERS)


NoneType = type(None)


class ConfigError(ValueError):
    pass


@dataclass
class Machine:
    cpus: int = 2
    memory_mib: int = 1024
    accel: str = "tcg"
    numa_nodes: int = 1         # CPUs and memory split evenly over this many nodes
    kernel_args: str = ""       # appended to the guest kernel command line

    def numa_cells(self):
        """[(node, first cpu, last cpu, memory MiB)]; the last node takes what
        does not divide evenly."""
        n = self.numa_nodes
        cpus, mem = self.cpus // n, self.memory_mib // n
        return [(node, node * cpus,
                 self.cpus - 1 if node == n - 1 else (node + 1) * cpus - 1,
                 self.memory_mib - mem * (n - 1) if node == n - 1 else mem)
                for node in range(n)]


@dataclass
class Controller:
    model: str = "cosim"
    serial: str = "COSIM0001"
    # Where the controller sits: on the root complex (default), behind a PCIe
    # root port (hotplug: device_del/device_add of the controller work), or
    # behind a PCIe expander bridge on a NUMA node (numa_node, implies a port).
    hotplug: bool = False
    numa_node: int | None = None
    # The rest keep the model's own defaults unless the config sets them
    # (None: not set, so that every value a key accepts can be written).
    io_queues: int | None = None        # IO queue pairs offered
    mqes: int | None = None             # CAP.MQES (0-based queue size limit)
    mdts: int | None = None             # max transfer = 2^mdts pages; 0 = no limit
    dstrd: int | None = None            # doorbell stride 4 << dstrd
    cap_to: int | None = None           # CAP.TO in 500 ms units
    firmware: str | None = None         # Identify FR
    ns_notice_aen: bool | None = None   # namespace attribute notice AEN on hot add/remove
    vs: str | None = None               # reported NVMe version: "1.0", "1.1" or "1.2"
    ready_delay_ms: int | None = None   # CSTS.RDY follows CC.EN this much later (within CAP.TO)
    fw_slots: int | None = None         # firmware slots (1..7)
    nn: int | None = None               # Identify NN: namespace ids 1..nn
    ams: str | None = None              # arbitration offered: "rr" or "wrr" (+ urgent class)
    # MiB of written data each namespace's volatile write cache holds until
    # FUA or Flush: what a power loss loses.  0: completed writes are durable.
    volatile_cache_mb: int | None = None
    ledger: bool | None = None          # keep the ledger of acknowledged writes (default off)
    vendor_id: int | None = None        # PCI IDs (Identify VID/SSVID follow them)
    device_id: int | None = None
    subsys_vendor_id: int | None = None
    subsys_id: int | None = None


@dataclass
class Namespace:
    size_mib: int = 256
    lba_size: int = 512
    # "file": a fresh sparse image in the run directory; "null": reads zeroes,
    # writes go nowhere (no data check possible); or the path of a raw image
    # of your own, used as it is (its size is the namespace's).
    backing: str = "file"
    count: int = 1              # this many namespaces alike, at consecutive ids


@dataclass
class Driver:
    name: str = "nvme_scsi"
    params: str = ""


@dataclass
class SimConfig:
    source: str = "<defaults>"
    machine: Machine = field(default_factory=Machine)
    controller: Controller = field(default_factory=Controller)
    namespaces: list = field(default_factory=lambda: [Namespace()])
    driver: Driver = field(default_factory=Driver)
    # Fault rules armed at start-up: dicts with the QMP cosim-nvme-fault-add
    # arguments (less `id`), checked by the model itself when QEMU starts.
    faults: list = field(default_factory=list)


# Allowed values for keys that take one of a few.
CHOICES = {"controller.model": MODELS, "driver.name": DRIVERS,
           "machine.accel": ("tcg", "kvm"), "lba_size": (512, 4096),
           "controller.vs": ("1.0", "1.1", "1.2"), "controller.ams": ("rr", "wrr")}

# Controller keys that place the device instead of setting its properties.
PLACEMENT = ("model", "serial", "hotplug", "numa_node")

# Smallest value of an int key; keys not listed here must be at least 1.
MINIMUM = {"mdts": 0, "dstrd": 0, "numa_node": 0, "ready_delay_ms": 0, "volatile_cache_mb": 0}
# Largest value of an int key.
MAXIMUM = {"vendor_id": 0xffff, "device_id": 0xffff, "subsys_vendor_id": 0xffff,
           "subsys_id": 0xffff, "mqes": 0xffff, "numa_node": 7, "numa_nodes": 8}

# Config key -> device property, for each model; a key a model lacks is an error.
CONTROLLER_PROPS = {
    "cosim": {"io_queues": "max-ioqpairs", "mqes": "mqes", "mdts": "mdts",
              "dstrd": "dstrd", "cap_to": "cap-to", "firmware": "firmware",
              "ns_notice_aen": "ns-notice-aen", "vs": "vs",
              "ready_delay_ms": "ready-delay-ms", "fw_slots": "fw-slots", "nn": "nn",
              "ams": "ams", "vendor_id": "vendor-id", "device_id": "device-id",
              "subsys_vendor_id": "subsys-vendor-id", "subsys_id": "subsys-id",
              "volatile_cache_mb": "volatile-cache-mb", "ledger": "ledger"},
    "qemu": {"io_queues": "max_ioqpairs", "mdts": "mdts"},
}


def _key_type(obj, key):
    """The type a key's value must have (int for `int | None`)."""
    hint = typing.get_type_hints(type(obj))[key]
    return next((t for t in typing.get_args(hint) if t is not NoneType), hint)


def _fill(obj, table, where, source):
    for key, value in table.items():
        name = f"{where}.{key}"
        if not hasattr(obj, key):
            raise ConfigError(f"{source}: unknown key '{name}'")
        want = _key_type(obj, key)
        if not isinstance(value, want) or isinstance(value, bool) != (want is bool):
            raise ConfigError(f"{source}: '{name}' must be {want.__name__}, "
                              f"not {value!r}")
        if want is int and value < MINIMUM.get(key, 1):
            raise ConfigError(f"{source}: '{name}' must be at least "
                              f"{MINIMUM.get(key, 1)}, not {value}")
        if want is int and value > MAXIMUM.get(key, value):
            raise ConfigError(f"{source}: '{name}' must be at most {MAXIMUM[key]}, "
                              f"not {value}")
        choices = CHOICES.get(name) or CHOICES.get(key)
        if choices and value not in choices:
            raise ConfigError(f"{source}: '{name}' must be one of "
                              f"{', '.join(map(str, choices))}, not {value!r}")
        setattr(obj, key, value)
    return obj


def load(path=None, model=None, driver=None):
    """Read a config file; `model`/`driver` (from MODEL=/DRIVER=) override it."""
    path = Path(path) if path else DEFAULT
    source = str(path)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{source}: no such config file") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{source}: {e}") from None

    cfg = SimConfig(source=source)
    sections = {"machine": cfg.machine, "controller": cfg.controller, "driver": cfg.driver}
    for key, value in data.items():
        if key in sections:
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: '{key}' must be a table")
            _fill(sections[key], value, key, source)
        elif key == "namespace":
            cfg.namespaces = _namespaces(value, source)
        elif key == "fault":
            if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
                raise ConfigError(f"{source}: 'fault' must be [[fault]] tables")
            cfg.faults = [{k.replace("_", "-"): v for k, v in rule.items()}
                          for rule in value]
        else:
            raise ConfigError(f"{source}: unknown key '{key}'")

    if driver and driver != cfg.driver.name:
        cfg.driver.params = ""      # they were the config's driver's parameters
    overrides = {"controller.model": model, "driver.name": driver}
    for name, value in overrides.items():
        if value:
            section, key = name.split(".")
            _fill(sections[section], {key: value}, section, f"{source} (override)")
    _check_placement(cfg)
    controller_properties(cfg)      # a key the model lacks is an error now, not at boot
    if cfg.faults and cfg.controller.model != "cosim":
        raise ConfigError(f"{source}: 'fault' rules need MODEL=cosim (QEMU's nvme has no "
                          "fault injection)")
    return cfg


def _namespaces(tables, source):
    """[[namespace]] tables -> one Namespace per namespace id (count expanded)."""
    if not isinstance(tables, list) or not tables or \
            not all(isinstance(t, dict) for t in tables):
        raise ConfigError(f"{source}: 'namespace' must be one or more [[namespace]] tables")
    namespaces = []
    for i, table in enumerate(tables):
        where = f"namespace[{i}]"
        ns = _fill(Namespace(), table, where, source)
        if ns.backing not in ("file", "null"):
            image = Path(ns.backing)
            if not image.is_absolute() or not image.is_file():
                raise ConfigError(f"{source}: '{where}.backing' must be \"file\", \"null\" "
                                  f"or the absolute path of an image, not {ns.backing!r}")
            if "size_mib" in table:
                raise ConfigError(f"{source}: '{where}.size_mib' conflicts with "
                                  f"'{where}.backing': an image's size is its own")
            if ns.count > 1:
                raise ConfigError(f"{source}: '{where}.count' must be 1 with an image "
                                  "as backing (namespaces would share it)")
            ns.size_mib = -(-image.stat().st_size >> 20)
        namespaces += [Namespace(ns.size_mib, ns.lba_size, ns.backing)
                       for _ in range(ns.count)]
    return namespaces


def _check_placement(cfg):
    """Settings that only make sense together, named with the file."""
    m, ctrl = cfg.machine, cfg.controller
    if m.cpus < m.numa_nodes:
        raise ConfigError(f"{cfg.source}: 'machine.numa_nodes' ({m.numa_nodes}) needs at "
                          f"least as many CPUs, 'machine.cpus' is {m.cpus}")
    if ctrl.numa_node is not None and ctrl.numa_node >= m.numa_nodes:
        raise ConfigError(f"{cfg.source}: 'controller.numa_node' {ctrl.numa_node} does not "
                          f"exist: 'machine.numa_nodes' is {m.numa_nodes}")


def controller_properties(cfg):
    """{device property: value} for the keys the config sets."""
    ctrl = cfg.controller
    table = CONTROLLER_PROPS[ctrl.model]
    props = {}
    for key, value in vars(ctrl).items():
        if key in PLACEMENT or value is None:
            continue
        if key not in table:
            raise ConfigError(f"{cfg.source}: 'controller.{key}' is not supported by "
                              f"MODEL={ctrl.model}")
        if key == "vs":         # "1.2" -> 0x10200, as the VS register holds it
            major, minor = value.split(".")
            value = hex(int(major) << 16 | int(minor) << 8)
        elif key == "ams":      # CAP.AMS: bit 0 offers weighted round robin
            value = int(value == "wrr")
        props[table[key]] = ("on" if value else "off") if isinstance(value, bool) else value
    return props


def named(name, model=None, driver=None):
    """configs/NAME.toml, as load() reads it."""
    return load(DEFAULT.parent / f"{name}.toml", model=model, driver=driver)


def from_env(model=None, driver=None):
    """The config `make sim` and the tests use: CONFIG=, MODEL=, DRIVER= from the
    environment, with explicit arguments taking precedence."""
    env = os.environ
    return load(env.get("CONFIG") or None, model=model or env.get("MODEL") or None,
                driver=driver or env.get("DRIVER") or None)
