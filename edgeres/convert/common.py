"""Pieces shared by the exporters and the quantizers: source facts, quiet imports, error naming."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import warnings
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from edgeres import __version__
from edgeres.errors import ModelFileError, missing_dependency
from edgeres.fileio import sha256_file
from edgeres.spec import ModelInfo

# Loggers of the converters that print pages of progress or harmless warnings on every export.
_NOISY_LOGGERS = (
    "torch.onnx",
    "torch._export",
    "torch.export",
    "torch._subclasses",
    "onnxscript",
    "absl",
)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")

# Op names as converters spell them: aten.xxx.default, aten::xxx, torch.ops.aten.xxx, "op 'xxx'".
_OP_PATTERNS = (
    r"aten[.:]{1,2}([A-Za-z0-9_]+)",
    r"torch\.ops\.[a-z_]+\.([A-Za-z0-9_]+)",
    r"operator[ :]+'?([A-Za-z0-9_.:]+)'?",
    r"op[ :]+'([A-Za-z0-9_.:]+)'",
)


def export_info(info: ModelInfo, source: str | Path | None, **extra: Any) -> ModelInfo:
    """The ``ModelInfo`` to embed in an exported file: version, source hash and ``extra`` added."""
    facts = dict(info.extra)
    facts["edgeres_version"] = __version__
    if source is not None and Path(source).is_file():
        facts["source"] = Path(source).name
        facts["source_sha256"] = sha256_file(source)
    facts.update(extra)
    return replace(info, extra=facts)


def _drop_below_error(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.ERROR


@contextlib.contextmanager
def quiet_converters(quiet: bool = True) -> Iterator[None]:
    """Silence the converters' own logging and warnings (they are not the user's business)."""
    if not quiet:
        yield
        return
    levels = {name: logging.getLogger(name).level for name in _NOISY_LOGGERS}
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    # ONNX Runtime's quantizer calls logging.warning() on the root logger. A filter on the root
    # logger sees only records made on it, not those propagated from edgeres' own loggers, so the
    # data module's "skipped file" warnings still show while calibration runs inside the quantizer.
    root = logging.getLogger()
    root.addFilter(_drop_below_error)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.removeFilter(_drop_below_error)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    # Native libraries (TensorFlow's absl, torchao's optional kernels) print at import time
    # straight to file descriptor 2; Python-level redirection cannot catch that.
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(devnull)
        os.close(saved)


def import_litert_torch() -> Any:
    """Import ``litert_torch`` quietly, with its progress printing off.

    Raises:
        MissingDependencyError: litert-torch is not installed.
    """
    if "litert_torch" not in sys.modules:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        try:
            with native_stderr_silenced(), quiet_converters():
                import litert_torch  # noqa: F401
        except ImportError:
            raise missing_dependency("litert_torch", "train", "TFLite export") from None
    import litert_torch

    litert_torch.config.show_progress = False
    return litert_torch


def op_name_from_error(exc: BaseException) -> str | None:
    """The first operator name a converter's exception message mentions, if any."""
    text = f"{exc}"
    for pattern in _OP_PATTERNS:
        m = re.search(pattern, text)
        if m:
            return m.group(1)
    return None


def layer_of_op(model: Any, sample: Any, op: str) -> str | None:
    """The module path (``layer1.0.conv1``) of the first node in ``model``'s graph calling ``op``."""
    import torch

    try:
        graph = torch.export.export(model, (sample,)).graph
    except Exception:  # noqa: BLE001 - export itself failing means no graph to search
        return None
    for node in graph.nodes:
        target = str(getattr(node, "target", ""))
        if node.op == "call_function" and re.search(rf"\b{re.escape(op)}\b", target):
            stack = node.meta.get("nn_module_stack") or {}
            if stack:
                path = list(stack.values())[-1][0]
                return str(path).removeprefix("L['self'].").removeprefix("L__self__.") or None
    return None


def converter_error(exc: BaseException, fmt: str, model: Any, sample: Any) -> ModelFileError:
    """Turn a converter crash into a one-line error naming the op and, when found, the layer."""
    op = op_name_from_error(exc)
    first = (_ANSI.sub("", str(exc)).strip().splitlines() or [type(exc).__name__])[0][:200]
    if op is None:
        return ModelFileError(
            f"the {fmt} converter failed on this model ({type(exc).__name__}: {first}); "
            "edgeres models use only Conv/BN/ReLU/Add/pool/Linear, so check custom layers"
        )
    layer = layer_of_op(model, sample, op)
    where = f" in layer '{layer}'" if layer else ""
    return ModelFileError(
        f"the {fmt} converter cannot handle op '{op}'{where}; replace that layer with supported "
        f"ops (Conv, BatchNorm, ReLU, Add, pooling, Linear) or export to another format "
        f"(converter said: {first})"
    )
