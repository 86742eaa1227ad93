"""How a model file that carries no edgeres metadata is described: ``--model``, ``--labels`` and
the preprocessing flags, shared by ``convert``, ``quantize``, ``inspect`` and ``train --init``.

Torch-free: the configs and the CLI import it on a device.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from edgeres.errors import ModelFileError, ParamError, UsageError, check_number
from edgeres.spec import (
    CHANNEL_ORDERS,
    DEFAULT_MEAN,
    DEFAULT_STD,
    MAX_CLASSES,
    InputSpec,
    ModelInfo,
    preprocessing_problem,
)
from edgeres.text import shown

MAX_LABELS_BYTES = 10 * 1024 * 1024


def read_labels(path: str | Path) -> tuple[str, ...]:
    """Class names from a text file, one a line (blank lines at the end ignored).

    Raises:
        UsageError: Missing, too large, not UTF-8, empty, with blank lines among the names, or
            a name twice.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"--labels '{shown(path)}' does not exist")
    if path.stat().st_size > MAX_LABELS_BYTES:
        raise UsageError(f"--labels '{shown(path)}' is over {MAX_LABELS_BYTES} bytes")
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError:
        raise UsageError(f"--labels '{shown(path)}' is not UTF-8 text") from None
    names = [ln.strip() for ln in lines]
    while names and not names[-1]:
        names.pop()
    if not names:
        raise UsageError(f"--labels '{shown(path)}' holds no class names (one a line)")
    if "" in names:
        raise UsageError(
            f"--labels '{shown(path)}' line {names.index('') + 1} is blank; one class name a line"
        )
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:  # two outputs of one name: predictions and reports could not tell them
            raise UsageError(
                f"--labels '{shown(path)}' line {i + 1} repeats the class name "
                f"'{shown(name)[:80]}'; each class needs its own name"
            )
        seen.add(name)
    return tuple(names)


def rgb(value: Any, param: str) -> tuple[float, float, float] | None:
    """``"0.485,0.456,0.406"`` (or three numbers) as a tuple; the error names ``param`` (the CLI
    shows its flag)."""
    if value is None:
        return None
    try:
        parts = value.split(",") if isinstance(value, str) else list(value)
        values = tuple(float(v) for v in parts)
    except (TypeError, ValueError):
        values = ()
    if len(values) != 3:
        raise ParamError(param, f"needs three comma-separated numbers (R,G,B), got '{value}'")
    for v in values:
        check_number(v, param)
    if param == "std" and min(values) <= 0:
        raise ParamError("std", f"values must be > 0 (they divide the pixels), got '{value}'")
    # The range InputSpec holds a file's values to: 1e-300 or 1e308 would overflow float32.
    problem = preprocessing_problem(param, values) if param in ("mean", "std") else None
    if problem is not None:
        raise ParamError(param, problem)
    return values  # type: ignore[return-value]


def check_class_count(outputs: int) -> None:
    """Refuse a class count a model file declares that no classifier has, before allocating."""
    if not 1 <= outputs <= MAX_CLASSES:
        raise ModelFileError(
            f"the model declares {outputs} outputs; edgeres takes classifiers of 1 to "
            f"{MAX_CLASSES} classes"
        )


@dataclass(frozen=True)
class SourceOptions:
    """What describes a model file edgeres did not write.

    Attributes:
        model: Architecture of a state dict: a zoo name (resnet18...) or pkg.module:function,
            which imports and runs that function of yours to build the network (``--model``).
        labels: Text file of class names, one a line, in output order (``--labels``).
        img_size: Input size in pixels of a file that does not fix it (``--img-size``).
        mean: RGB mean after scaling to [0,1], e.g. 0.485,0.456,0.406 (``--mean``).
        std: RGB std, e.g. 0.229,0.224,0.225 (``--std``).
        channel_order: Channel order the model was trained on, RGB or BGR (``--channel-order``).
    """

    model: str | None = None
    labels: str | Path | None = None
    img_size: int | None = None
    mean: tuple[float, float, float] | str | None = None
    std: tuple[float, float, float] | str | None = None
    channel_order: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "mean", rgb(self.mean, "mean"))
        object.__setattr__(self, "std", rgb(self.std, "std"))
        check_number(self.img_size, "--img-size", 8)
        if self.channel_order is not None and self.channel_order.upper() not in CHANNEL_ORDERS:
            raise UsageError(f"--channel-order must be RGB or BGR, got '{self.channel_order}'")

    @property
    def given(self) -> bool:
        """Whether any preprocessing or label flag was given."""
        return any(v is not None for v in (self.labels, self.img_size, self.mean, self.std))

    def class_names(self, outputs: int) -> tuple[str, ...]:
        """``--labels``' names (their count must be ``outputs``), else ``0..outputs-1``.

        Raises:
            ModelFileError: ``outputs`` (read from a model file) is over ``MAX_CLASSES``; checked
                before any name is built (10^9 declared outputs were 7 GB of strings).
        """
        check_class_count(outputs)
        if self.labels is None:
            return tuple(str(i) for i in range(outputs))
        names = read_labels(self.labels)
        if len(names) != outputs:
            raise UsageError(
                f"--labels '{shown(self.labels)}' has {len(names)} names and the model has "
                f"{outputs} outputs; give one name a line, in output order"
            )
        return names

    def spec(self, height: int, width: int, mean=None, std=None, layout: str = "NCHW") -> InputSpec:
        """The input spec: the flags where given, else ``mean``/``std`` (default: none)."""
        return InputSpec(
            height,
            width,
            layout=layout,
            channel_order=(self.channel_order or "RGB").upper(),
            mean=self.mean or mean or DEFAULT_MEAN,
            std=self.std or std or DEFAULT_STD,
        )

    def applied(self, info: ModelInfo) -> ModelInfo:
        """An edgeres file's own info with ``--labels`` (and only those) put in."""
        if self.labels is None:
            return info
        return replace(info, classes=self.class_names(info.num_classes))

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}
