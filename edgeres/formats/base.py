"""What a model file format and an inference engine are, as the registry lists them.

A format module (``edgeres/formats/onnx.py``, ...) describes one file format with a ``Format``: its
suffixes and magic bytes, the verifier and metadata reader that run before any engine sees a file,
its tensor layout, how its MACs are counted, and, as lazy ``"module:attribute"`` references, the
exporter, the INT8 quantizer and the engines that run it. Torch-free: a device imports this.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeres.errors import ModelFileError, UsageError
from edgeres.spec import ModelInfo

METADATA_KEY = "edgeres"


def resolve(ref: str) -> Any:
    """Import ``"module:attribute"`` lazily."""
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


def parse_info(text: str, where: str) -> ModelInfo:
    """Read the embedded edgeres JSON of a ``where`` (``ONNX``, ``TFLite``) file.

    Raises:
        ModelFileError: The entry is not valid edgeres metadata.
    """
    try:
        return ModelInfo.from_json(text)
    except UsageError as e:
        raise ModelFileError(f"the {where} file's edgeres metadata is unreadable: {e}") from None


@dataclass(frozen=True)
class Probe:
    """What ``edgeres doctor`` learns from an engine that imports: its version and what it can use.

    Attributes:
        detail: One line: the version and, where the engine says, its devices or providers.
        options: The values its ``profile_option`` can take here (ONNX Runtime's available
            providers), or None when the engine cannot list them.
    """

    detail: str
    options: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Engine:
    """One inference engine that runs a format: a ``Backend`` class and everything known about it.

    This row is the one place an engine is named: the environment record, reports, ``doctor``,
    the profiles' accelerators and default order, ``tune`` and ``--engine`` all read it.

    Attributes:
        name: Public name for ``--engine`` (``onnxruntime``, ``litert``...).
        backend: ``"module:Class"`` of the ``edgeres.runtime.base.Backend`` subclass.
        modules: Python modules the engine needs; it is available when any of them is importable.
        install: The install line shown when it is missing.
        profile_option: Constructor argument that receives a profile's list (``providers``,
            ``delegates``), or None when the engine takes none.
        options: Fixed constructor arguments selecting this engine inside a shared class.
        distributions: Its pip distributions, the usual one first; their versions go into every
            benchmark's environment record and report.
        probe: ``"module:function"`` returning a ``Probe``; ``doctor`` calls it (it imports the
            engine), or None to report the distribution's version only.
        accelerators: Values of ``profile_option`` that run on a GPU or NPU, so a profile
            listing one first is measured against its ``gpu`` peaks.
        core: Part of the core install: missing or broken is a problem, not an option.
        preferred_on: Architectures (``uname -m``) on which it is tried before the format's
            other engines when no profile says otherwise (measured faster there).
        note: What ``doctor`` says about it when it is not installed.
        repair: The fix ``doctor`` gives when it is installed but does not import (default:
            reinstall its distribution).
    """

    name: str
    backend: str
    modules: tuple[str, ...]
    install: str
    profile_option: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    distributions: tuple[str, ...] = ()
    probe: str | None = None
    accelerators: tuple[str, ...] = ()
    core: bool = False
    preferred_on: tuple[str, ...] = ()
    note: str = ""
    repair: str = ""

    @property
    def available(self) -> bool:
        """Whether one of the engine's modules can be imported here (without importing it)."""
        for name in self.modules:
            try:
                if importlib.util.find_spec(name) is not None:
                    return True
            except (ImportError, ValueError):  # a parent package missing or half-installed
                continue
        return False

    @property
    def distribution(self) -> str:
        """The usual pip distribution (the engine's name when the row names none)."""
        return self.distributions[0] if self.distributions else self.name

    def installed_version(self) -> str | None:
        """The version of the first of its distributions that is installed, read without importing."""
        for dist in self.distributions:
            try:
                return importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                continue
        return None

    @property
    def needs_torch(self) -> bool:
        """Whether it runs on the workstation side only (PyTorch itself)."""
        return "torch" in self.modules

    def backend_class(self) -> type:
        return resolve(self.backend)


@dataclass(frozen=True)
class Quantization:
    """How a format gets its INT8 version.

    Attributes:
        quantizer: ``"module:function"`` called as ``quantizer(source, out_path, options)``.
        sources: Format names it can quantize from (``pytorch``: the checkpoint itself).
        asked_sources: Those of ``sources`` it quantizes from only when ``--to`` names it (an
            ONNX file read back into PyTorch for TFLite), not by default.
        checker: ``"module:function"`` returning the file's ``IntegerCheck`` (which ops stay float).
        layer_errors: ``"module:function"`` measuring per-layer error against the FP32 file, or None.
        methods: Calibration methods its quantizer honours (``--method``); empty: it has one.
        float_layers: Whether its quantizer can keep the layers in ``options.exclude`` in float.
    """

    quantizer: str
    sources: tuple[str, ...]
    checker: str
    asked_sources: tuple[str, ...] = ()
    layer_errors: str | None = None
    methods: tuple[str, ...] = ()
    float_layers: bool = False


@dataclass(frozen=True)
class Format:
    """One model file format.

    Attributes:
        name: Public name used by ``--to`` and in reports.
        suffixes: File suffixes, the first one written by edgeres.
        layout: Tensor layout of the files edgeres writes (``NCHW``/``NHWC``).
        engines: Engines that run it, in the default order of preference.
        magic: ``magic(head, strict)``: whether a file's first bytes look like this format; strict
            asks for the usual first bytes only, so a "looks like" hint is not a guess.
        read_metadata: ``read_metadata(path)``: the embedded ``ModelInfo`` or None; verifies first.
        count_macs: ``count_macs(path)``: ``(macs or None, how they were obtained)``.
        exporter: ``"module:function"`` called as ``exporter(model, info, out_path, **options)``,
            or None for the source format.
        export_options: Which ``convert`` options the exporter takes (``opset``...).
        quantization: How its INT8 file is made, or None.
        quant_source: ``"module:function"`` opening a file of this format as the FP32 source of
            quantization, called as ``opener(path, work_dir, **options)``, or None.
        needs_torch: Whether loading it needs PyTorch.
        torch_reader: ``"module:function"`` reading a file of this format back into a PyTorch
            ``Checkpoint`` (``function(path, source_options)``), so ``convert`` can make the
            other formats from it; None for the PyTorch sources themselves (they are one).
        companions: Suffixes of the files that belong with the model file, named like it
            (ncnn's ``model.bin`` beside ``model.param``): checked, moved, copied to a device
            and cached with it.
    """

    name: str
    suffixes: tuple[str, ...]
    layout: str
    engines: tuple[Engine, ...]
    magic: Callable[[bytes, bool], bool]
    read_metadata: Callable[[Path], ModelInfo | None]
    count_macs: Callable[[Path], tuple[int | None, str]]
    exporter: str | None = None
    export_options: tuple[str, ...] = ()
    quantization: Quantization | None = None
    quant_source: str | None = None
    needs_torch: bool = False
    torch_reader: str | None = None
    companions: tuple[str, ...] = ()

    def files(self, path: str | Path) -> tuple[Path, ...]:
        """The model file and its companions (``m.param`` -> ``m.param``, ``m.bin``)."""
        path = Path(path)
        return (path, *(path.with_suffix(s) for s in self.companions))

    @property
    def suffix(self) -> str:
        """The suffix edgeres writes."""
        return self.suffixes[0]

    def engine(self, name: str) -> Engine | None:
        return next((e for e in self.engines if e.name == name), None)
