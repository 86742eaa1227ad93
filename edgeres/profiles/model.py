"""The device profile data model: frozen dataclasses checked in ``__post_init__``.

A profile says how to recognise a device (``Match``) and how to run and measure models on it
(threads, providers, camera, sensors, benchmark budget, theoretical peaks). The YAML files are
turned into these classes by ``schema.build``, so the type hints here are the file schema.

Torch-free: runtime, stream and bench import this on a device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import yaml

from edgeres.errors import UsageError
from edgeres.formats import FORMATS, all_engines
from edgeres.profiles.facts import HostFacts, this_machine
from edgeres.profiles.schema import SchemaError, to_plain
from edgeres.text import shown

HOST = "host"
PRECISIONS = ("fp32", "fp16", "int8")
INT8_ACTIVATIONS = ("uint8", "int8")


def profile_formats() -> tuple[str, ...]:
    """Every format the registry knows now; a profile may name providers for any of them."""
    return tuple(FORMATS)


def accelerators(fmt: str) -> tuple[str, ...]:
    """Providers/delegates that run a format's files on a GPU or NPU (from its engines' rows)."""
    return tuple(dict.fromkeys(a for e in FORMATS[fmt].engines for a in e.accelerators))


def __getattr__(name: str):
    # Read from the format table when asked, so a format registered later is included.
    if name == "PROFILE_FORMATS":
        return profile_formats()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class Match:
    """How a device is recognised. It matches when its architecture is listed (or none are) and
    every non-empty rule below matches; a profile with no rule besides ``architectures`` describes
    a class of machine and is never chosen automatically (the ``host`` profile covers those).

    Attributes:
        architectures: ``uname -m`` values accepted (``aarch64``, ``x86_64``).
        device_tree_model: Any of these substrings in ``/proc/device-tree/model``.
        nv_tegra_release: Any of these substrings in ``/etc/nv_tegra_release`` (e.g. ``R36``).
        cpu_model: Any of these substrings in ``/proc/cpuinfo``'s model name.
    """

    architectures: tuple[str, ...] = ()
    device_tree_model: tuple[str, ...] = ()
    nv_tegra_release: tuple[str, ...] = ()
    cpu_model: tuple[str, ...] = ()

    @property
    def is_specific(self) -> bool:
        return bool(self.device_tree_model or self.nv_tegra_release or self.cpu_model)

    def matches(self, facts: HostFacts) -> bool:
        """Whether a machine with these facts is this device."""
        if not self.is_specific:
            return False
        if self.architectures and facts.arch not in self.architectures:
            return False
        rules = (
            (self.device_tree_model, facts.dt_model),
            (self.nv_tegra_release, facts.tegra_release),
            (self.cpu_model, facts.cpu_model),
        )
        return all(_any_in(subs, text) for subs, text in rules if subs)


def _any_in(substrings: tuple[str, ...], text: str | None) -> bool:
    return text is not None and any(s.lower() in text.lower() for s in substrings)


@dataclass(frozen=True)
class Camera:
    """Camera defaults for ``edgeres run`` (``source``: ``0``, ``picamera``, ``gst:PIPELINE``, ...)."""

    source: str
    width: int
    height: int
    fps: float

    def __post_init__(self) -> None:
        if self.width < 1 or self.height < 1 or self.fps <= 0:
            raise UsageError(
                f"camera width, height and fps must be positive, got {self.width}x{self.height} "
                f"at {self.fps} fps"
            )


SENSOR_ROOTS = ("/sys/", "/proc/")
# A sensor glob is read before and after every benchmark row: bound the walk it can ask for
# (``/sys/*/*/*/*/*/*/*/*/*/*/*/*`` ran past 120 s at 1 GB). ``environment.sensor_files``
# also stops at ``MAX_SENSOR_MATCHES`` files per glob.
MAX_SENSOR_PARTS = 8
MAX_SENSOR_WILDCARD_PARTS = 2
MAX_SENSOR_GLOBS = 16
MAX_SENSOR_MATCHES = 64
THROTTLE_READERS = ("", "raspberry-pi")


@dataclass(frozen=True)
class Sensors:
    """Where temperature and throttling are read: files under ``/sys`` or ``/proc`` only.

    A profile is data that users share: it names files to read as numbers, never a command.

    Attributes:
        temperature: Globs of files holding millidegrees Celsius.
        throttle_files: Globs of files whose non-zero number means throttling happened.
        throttle_reader: A reader built into edgeres: ``raspberry-pi`` reads the firmware's
            throttle flags (what ``vcgencmd get_throttled`` prints); empty for none.
    """

    REMOVED_KEYS: ClassVar[dict[str, str]] = {
        "throttle_command": "profiles never name a command to run (a profile is data others "
        "share); remove the key, and use 'throttle_reader: raspberry-pi' for vcgencmd's "
        "get_throttled flags"
    }

    temperature: tuple[str, ...] = ("/sys/class/thermal/thermal_zone*/temp",)
    throttle_files: tuple[str, ...] = ()
    throttle_reader: str = ""

    def __post_init__(self) -> None:
        for key in ("temperature", "throttle_files"):
            if len(getattr(self, key)) > MAX_SENSOR_GLOBS:
                raise UsageError(f"{key}: more than {MAX_SENSOR_GLOBS} globs")
            for pattern in getattr(self, key):
                if not pattern.startswith(SENSOR_ROOTS) or ".." in pattern.split("/"):
                    raise UsageError(
                        f"{key}: '{shown(pattern)}' is not under /sys/ or /proc/; sensor files "
                        "are read from those two places only (e.g. "
                        "/sys/class/thermal/thermal_zone*/temp)"
                    )
                _check_depth(key, pattern)
        if self.throttle_reader not in THROTTLE_READERS:
            raise UsageError(
                f"throttle_reader must be one of {', '.join(repr(r) for r in THROTTLE_READERS)}, "
                f"got '{self.throttle_reader}'"
            )


def _check_depth(key: str, pattern: str) -> None:
    """A sensor glob names a file a few folders down, with a wildcard or two (``zone*``)."""
    parts = [p for p in pattern.split("/") if p]
    wild = [p for p in parts if any(c in p for c in "*?[")]
    if "**" in pattern or len(parts) > MAX_SENSOR_PARTS or len(wild) > MAX_SENSOR_WILDCARD_PARTS:
        raise UsageError(
            f"{key}: '{shown(pattern)[:80]}' walks too much of the file system (at most "
            f"{MAX_SENSOR_PARTS} levels, {MAX_SENSOR_WILDCARD_PARTS} with wildcards, no '**'); "
            "name the sensor's folder, e.g. /sys/class/thermal/thermal_zone*/temp"
        )


# A benchmark budget past these is a typo or a crafted profile (``min_seconds: 1e300``).
MAX_BUDGET_SECONDS = 3600.0
MAX_BUDGET_RUNS = 10_000_000


@dataclass(frozen=True)
class Budget:
    """How long ``edgeres benchmark`` measures: warm-up by count and time, then each trial runs
    until both ``min_runs`` and ``min_seconds`` are reached, ``trials`` times with a pause between."""

    warmup_runs: int = 10
    warmup_seconds: float = 1.0
    min_runs: int = 50
    min_seconds: float = 2.0
    trials: int = 3
    pause_seconds: float = 0.5

    def __post_init__(self) -> None:
        if self.warmup_runs < 0 or self.warmup_seconds < 0 or self.pause_seconds < 0:
            raise UsageError("warm-up runs, warm-up seconds and pause must be >= 0")
        if self.min_runs < 1 or self.trials < 1:
            raise UsageError(
                f"min_runs and trials must be >= 1, got {self.min_runs} and {self.trials}"
            )
        if self.min_seconds < 0:
            raise UsageError(f"min_seconds must be >= 0, got {self.min_seconds}")
        for name in ("warmup_seconds", "min_seconds", "pause_seconds"):
            value = getattr(self, name)
            if not math.isfinite(value) or value > MAX_BUDGET_SECONDS:
                raise UsageError(
                    f"{name} must be a number of seconds up to {MAX_BUDGET_SECONDS}, got {value}"
                )
        for name in ("warmup_runs", "min_runs", "trials"):
            if getattr(self, name) > MAX_BUDGET_RUNS:
                raise UsageError(
                    f"{name} must be at most {MAX_BUDGET_RUNS}, got {getattr(self, name)}"
                )


@dataclass(frozen=True)
class Figure:
    """One performance figure and where it comes from (``value`` null when unknown)."""

    value: float | None
    source: str

    def __post_init__(self) -> None:
        if self.value is not None and self.value <= 0:
            raise UsageError(f"a peak figure must be positive or null, got {self.value}")
        if not self.source.strip():
            raise UsageError("every peak figure needs a 'source' saying where it comes from")


@dataclass(frozen=True)
class Peak:
    """Theoretical peaks of one compute unit (the CPU, or a Jetson's GPU)."""

    fp32_gflops: Figure
    int8_gops: Figure
    memory_gbs: Figure


@dataclass(frozen=True)
class Profile:
    """A device profile.

    Attributes:
        name: Profile name (``raspberry-pi-5``): letters, digits and dashes.
        description: One line: the device, its SoC, its clock.
        match: How the device is recognised.
        threads: Threads the engines use.
        providers: Per format (``onnx:``) or per engine (``onnxruntime:``), ONNX Runtime providers
            or TFLite delegates in order of preference; an engine's own list wins over its
            format's, so two engines of one format can each have theirs.
        preferred_format: The format to deploy on this device (``tflite``/``onnx``).
        precision: Preferred precision (``fp32``, ``fp16``, ``int8``).
        int8_activations: INT8 activation type for quantization: ``uint8`` (x86: ORT's u8s8
            kernels, measured 3x faster here) or ``int8`` (ARM, TensorRT).
        camera: Camera defaults.
        sensors: Where temperature and throttling are read.
        budget: Benchmark budgets.
        peaks: Per compute unit (``cpu`` required, ``gpu`` optional), theoretical peaks with sources.
        notes: Free text shown by ``edgeres devices NAME``.
        engines: Per format, engine names to try first, in order (``onnx: [openvino,
            onnxruntime]``); the format's other engines follow, so a missing one never blocks.
        source: Where the profile came from (file path or ``computed``); not a YAML key.
    """

    name: str
    description: str
    match: Match
    threads: int
    providers: dict[str, tuple[str, ...]]
    preferred_format: str
    precision: str
    int8_activations: str
    camera: Camera
    sensors: Sensors
    budget: Budget
    peaks: dict[str, Peak]
    notes: str = ""
    engines: dict[str, tuple[str, ...]] = field(default_factory=dict)
    source: str = field(default="", compare=False, metadata={"yaml": False})

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("-", "").replace("_", "").isalnum():
            raise SchemaError("name", f"must be letters, digits and '-', got '{self.name}'")
        if self.threads < 1:
            raise SchemaError("threads", f"must be >= 1, got {self.threads}")
        formats = profile_formats()
        engines = tuple(e.name for e in all_engines() if e.profile_option)
        for key, names in self.providers.items():
            if key not in formats and key not in engines:
                raise SchemaError(
                    f"providers.{key}",
                    f"unknown format or engine (formats: {', '.join(formats)}; engines that take "
                    f"a list: {', '.join(engines)})",
                )
            if not names:
                raise SchemaError(f"providers.{key}", "needs at least one provider/delegate")
        for fmt, names in self.engines.items():
            _check_choice(f"engines.{fmt}", fmt, formats)
            valid = tuple(e.name for e in FORMATS[fmt].engines)
            for name in names:
                _check_choice(f"engines.{fmt}", name, valid)
        _check_choice("preferred_format", self.preferred_format, formats)
        _check_choice("precision", self.precision, PRECISIONS)
        _check_choice("int8_activations", self.int8_activations, INT8_ACTIVATIONS)
        if "cpu" not in self.peaks:
            raise SchemaError("peaks", "needs a 'cpu' entry")
        for unit in self.peaks:
            _check_choice(f"peaks.{unit}", unit, ("cpu", "gpu"))

    @property
    def is_host(self) -> bool:
        """Whether this profile describes the machine running now."""
        return self.name == HOST or self.match.matches(this_machine())

    def providers_for(self, fmt: str, engine: str | None = None) -> tuple[str, ...]:
        """Providers/delegates for an engine running a format: the engine's own list, else the
        format's; empty when the profile says nothing about either."""
        if engine is not None and engine in self.providers:
            return self.providers[engine]
        return self.providers.get(fmt, ())

    def engine_order(self, fmt: str) -> tuple[str, ...]:
        """Engine names for a format in this profile's order, then the format's remaining ones."""
        listed = self.engines.get(fmt, ())
        return (*listed, *(e.name for e in FORMATS[fmt].engines if e.name not in listed))

    def peak_for(self, fmt: str) -> tuple[str, Peak]:
        """The compute unit (``cpu``/``gpu``) a format runs on with this profile, and its peaks."""
        engine = next(iter(self.engine_order(fmt)), None)
        first = next(iter(self.providers_for(fmt, engine)), "")
        unit = "gpu" if first in accelerators(fmt) and "gpu" in self.peaks else "cpu"
        return unit, self.peaks[unit]

    def to_dict(self) -> dict:
        """Plain data (what the YAML holds), plus ``source`` and ``is_host``."""
        return {**to_plain(self), "source": self.source, "is_host": self.is_host}

    def to_yaml(self) -> str:
        return yaml.safe_dump(to_plain(self), sort_keys=False, width=100)


def _check_choice(key: str, value: str, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise SchemaError(key, f"'{value}' is not valid (valid: {', '.join(valid)})")
