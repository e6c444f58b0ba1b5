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


@dataclass
class Controller:
    model: str = "cosim"
    serial: str = "COSIM0001"


@dataclass
class Namespace:
    size_mib: int = 256


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


# Allowed values for keys that take one of a few.
CHOICES = {"controller.model": MODELS, "driver.name": DRIVERS,
           "machine.accel": ("tcg", "kvm")}


def _fill(obj, table, where, source):
    for key, value in table.items():
        name = f"{where}.{key}"
        if not hasattr(obj, key):
            raise ConfigError(f"{source}: unknown key '{name}'")
        want = type(getattr(obj, key))
        if not isinstance(value, want) or isinstance(value, bool) != (want is bool):
            raise ConfigError(f"{source}: '{name}' must be {want.__name__}, "
                              f"not {value!r}")
        if want is int and value <= 0:
            raise ConfigError(f"{source}: '{name}' must be positive, not {value}")
        if name in CHOICES and value not in CHOICES[name]:
            raise ConfigError(f"{source}: '{name}' must be one of "
                              f"{', '.join(CHOICES[name])}, not {value!r}")
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
        else:
            raise ConfigError(f"{source}: unknown key '{key}'")

    overrides = {"controller.model": model, "driver.name": driver}
    for name, value in overrides.items():
        if value:
            section, key = name.split(".")
            _fill(sections[section], {key: value}, section, f"{source} (override)")
    return cfg


def from_env(model=None, driver=None):
    """The config `make sim` and the tests use: CONFIG=, MODEL=, DRIVER= from the
    environment, with explicit arguments taking precedence."""
    env = os.environ
    return load(env.get("CONFIG") or None, model=model or env.get("MODEL") or None,
                driver=driver or env.get("DRIVER") or None)
