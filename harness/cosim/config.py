"""Simulation configs: TOML files in configs/, read with tomllib and checked
key by key, so a typo names the key and the file instead of being ignored."""
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from . import paths

DEFAULT = paths.REPO / "configs" / "default.toml"
MODELS = ("cosim", "qemu")
DRIVERS = ("nvme_scsi", "nvme", "none")


class ConfigError(ValueError):
    pass


@dataclass
class Machine:
    cpus: int = 2
    memory_mib: int = 1024
    accel: str = "tcg"
    kernel_args: str = ""       # appended to the guest kernel command line


@dataclass
class Controller:
    model: str = "cosim"
    serial: str = "COSIM0001"
    # The rest default to the model's own defaults (-1 / 0 / "" / False: not set).
    io_queues: int = 0          # IO queue pairs offered
    mqes: int = 0               # CAP.MQES (0-based queue size limit)
    mdts: int = -1              # max transfer = 2^mdts pages; 0 = no limit
    dstrd: int = -1             # doorbell stride 4 << dstrd
    cap_to: int = 0             # CAP.TO in 500 ms units
    firmware: str = ""          # Identify FR
    ns_notice_aen: bool = False  # namespace attribute notice AEN on hot add/remove
    vs: str = ""                # reported NVMe version: "1.0", "1.1" or "1.2"
    ready_delay_ms: int = 0     # CSTS.RDY follows CC.EN this much later (within CAP.TO)
    fw_slots: int = 0           # firmware slots (1..7)


@dataclass
class Namespace:
    size_mib: int = 256
    lba_size: int = 512


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
           "controller.vs": ("1.0", "1.1", "1.2")}

# Smallest value of an int key; keys not listed here must be at least 1.
MINIMUM = {"mdts": 0, "dstrd": 0}

# Config key -> device property, for each model; a key a model lacks is an error.
CONTROLLER_PROPS = {
    "cosim": {"io_queues": "max-ioqpairs", "mqes": "mqes", "mdts": "mdts",
              "dstrd": "dstrd", "cap_to": "cap-to", "firmware": "firmware",
              "ns_notice_aen": "ns-notice-aen", "vs": "vs",
              "ready_delay_ms": "ready-delay-ms", "fw_slots": "fw-slots"},
    "qemu": {"io_queues": "max_ioqpairs", "mdts": "mdts"},
}


def _fill(obj, table, where, source):
    for key, value in table.items():
        name = f"{where}.{key}"
        if not hasattr(obj, key):
            raise ConfigError(f"{source}: unknown key '{name}'")
        want = type(getattr(obj, key))
        if not isinstance(value, want) or isinstance(value, bool) != (want is bool):
            raise ConfigError(f"{source}: '{name}' must be {want.__name__}, "
                              f"not {value!r}")
        if want is int and value < MINIMUM.get(key, 1):
            raise ConfigError(f"{source}: '{name}' must be at least "
                              f"{MINIMUM.get(key, 1)}, not {value}")
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
            if not isinstance(value, list) or not value:
                raise ConfigError(f"{source}: 'namespace' must be one or more "
                                  "[[namespace]] tables")
            cfg.namespaces = [_fill(Namespace(), ns, f"namespace[{i}]", source)
                              for i, ns in enumerate(value)]
        elif key == "fault":
            if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
                raise ConfigError(f"{source}: 'fault' must be [[fault]] tables")
            cfg.faults = [{k.replace("_", "-"): v for k, v in rule.items()}
                          for rule in value]
        else:
            raise ConfigError(f"{source}: unknown key '{key}'")

    overrides = {"controller.model": model, "driver.name": driver}
    for name, value in overrides.items():
        if value:
            section, key = name.split(".")
            _fill(sections[section], {key: value}, section, f"{source} (override)")
    controller_properties(cfg)      # a key the model lacks is an error now, not at boot
    if cfg.faults and cfg.controller.model != "cosim":
        raise ConfigError(f"{source}: 'fault' rules need MODEL=cosim (QEMU's nvme has no "
                          "fault injection)")
    return cfg


def controller_properties(cfg):
    """{device property: value} for the keys the config sets."""
    ctrl = cfg.controller
    table = CONTROLLER_PROPS[ctrl.model]
    props = {}
    for key, default in vars(Controller()).items():
        value = getattr(ctrl, key)
        if key in ("model", "serial") or value == default:
            continue
        if key not in table:
            raise ConfigError(f"{cfg.source}: 'controller.{key}' is not supported by "
                              f"MODEL={ctrl.model}")
        if key == "vs":         # "1.2" -> 0x10200, as the VS register holds it
            major, minor = value.split(".")
            value = hex(int(major) << 16 | int(minor) << 8)
        props[table[key]] = ("on" if value else "off") if isinstance(value, bool) else value
    return props


def from_env(model=None, driver=None):
    """The config `make sim` and the tests use: CONFIG=, MODEL=, DRIVER= from the
    environment, with explicit arguments taking precedence."""
    env = os.environ
    return load(env.get("CONFIG") or None, model=model or env.get("MODEL") or None,
                driver=driver or env.get("DRIVER") or None)
