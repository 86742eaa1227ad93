"""The one source of truth for preprocessing (``InputSpec``) and what a model is (``ModelInfo``).

An ``InputSpec`` is saved in the checkpoint, embedded in every exported file and read back by the
runtime, the camera pipeline and calibration. Images travel through edgeres as OpenCV gives them:
``uint8`` arrays, ``H x W x 3``, BGR. ``InputSpec.preprocess`` is the only code that turns them
into the float batch a model takes.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import cv2
import numpy as np

from edgeres.errors import UsageError

LAYOUTS = ("NCHW", "NHWC")
CHANNEL_ORDERS = ("RGB", "BGR")
RESIZE_MODES = ("crop", "stretch")

# Documented defaults for files that carry no edgeres metadata (a third-party ONNX/TFLite file):
# pixels scaled to [0, 1], no mean/std, RGB. The runtime warns when it falls back to these.
DEFAULT_MEAN = (0.0, 0.0, 0.0)
DEFAULT_STD = (1.0, 1.0, 1.0)


# Sizes a model file may declare. Files are data users share: a crafted one declaring a
# 10^9-class head or a 100000-pixel input must end in one error before anything that big is built.
MAX_INPUT_SIDE = 16384  # pixels, height or width
MAX_INPUT_VALUES = 1 << 26  # values in one input tensor (256 MB as float32), batch included
MAX_CLASSES = 100_000  # ImageNet-21k has 21,841
MAX_CLASS_NAME = 1000  # characters
# Preprocessing numbers a spec may hold, from a file or a flag. NaN passes every "<= 0" test
# and gives confident wrong scores, and 1e-300 or 1e308 overflow float32 in the multiply-add:
# every value must be finite and inside these ranges (pixel-unit mean/std such as 123.7 / 58.4
# with scale 1, and [0,1]-unit 0.485 / 0.229 with scale 1/255, both fit with room to spare).
MAX_ABS_MEAN = 1e4
STD_RANGE = (1e-4, 1e4)
SCALE_RANGE = (1e-6, 1e3)


def preprocessing_problem(name: str, values: tuple[float, ...]) -> str | None:
    """Why ``values`` of ``name`` (``"mean"``, ``"std"`` or ``"scale"``) cannot preprocess
    images, or ``None`` when they can. Shared by ``InputSpec`` and the ``--mean/--std`` flags."""
    low, high = {"mean": (-MAX_ABS_MEAN, MAX_ABS_MEAN), "std": STD_RANGE, "scale": SCALE_RANGE}[
        name
    ]
    for v in values:
        if not math.isfinite(v):
            return f"must be finite numbers, got {v}"
        if not low <= v <= high:
            return f"must lie in [{low:g}, {high:g}], got {v:g}"
    return None


@dataclass(frozen=True)
class InputSpec:
    """How a BGR ``uint8`` frame becomes a model input.

    Attributes:
        height: Input height in pixels.
        width: Input width in pixels.
        layout: ``"NCHW"`` (PyTorch, ONNX) or ``"NHWC"`` (TFLite, camera frames).
        channel_order: Channel order the model was trained on, ``"RGB"`` or ``"BGR"``.
        scale: Multiplier applied to ``uint8`` pixels before mean/std (``1/255`` maps to [0, 1]).
        mean: Per-channel mean subtracted after scaling, in ``channel_order``.
        std: Per-channel standard deviation divided after the mean, in ``channel_order``.
        resize: ``"crop"`` resizes the shorter side then centre-crops (keeps aspect ratio);
            ``"stretch"`` resizes straight to ``height x width``.
    """

    height: int
    width: int
    layout: str = "NCHW"
    channel_order: str = "RGB"
    scale: float = 1.0 / 255.0
    mean: tuple[float, float, float] = DEFAULT_MEAN
    std: tuple[float, float, float] = DEFAULT_STD
    resize: str = "crop"

    def __post_init__(self) -> None:
        if self.height < 1 or self.width < 1:
            raise UsageError(f"input size must be positive, got {self.height}x{self.width}")
        if max(self.height, self.width) > MAX_INPUT_SIDE:
            raise UsageError(
                f"input size {self.height}x{self.width} is over the limit of {MAX_INPUT_SIDE} "
                "pixels a side"
            )
        if self.layout not in LAYOUTS:
            raise UsageError(f"layout must be one of {LAYOUTS}, got '{self.layout}'")
        if self.channel_order not in CHANNEL_ORDERS:
            raise UsageError(
                f"channel order must be one of {CHANNEL_ORDERS}, got '{self.channel_order}'"
            )
        if self.resize not in RESIZE_MODES:
            raise UsageError(f"resize must be one of {RESIZE_MODES}, got '{self.resize}'")
        self._check_numbers()

    def _check_numbers(self) -> None:
        """mean, std and scale as floats (JSON/YAML gives lists), each finite and in range."""
        numbers = {k: getattr(self, k) for k in ("mean", "std", "scale")}
        try:
            if len(self.mean) != 3 or len(self.std) != 3:
                raise UsageError("mean and std need exactly 3 values (one per channel)")
            # Tuples of float, so equality and hashing work; bool is no number here.
            if any(isinstance(v, (bool, str)) for v in (self.scale, *self.mean, *self.std)):
                raise TypeError
            mean, std = tuple(map(float, self.mean)), tuple(map(float, self.std))
            scale = float(self.scale)
        except (TypeError, ValueError):
            raise UsageError(f"mean, std and scale must be numbers, got {numbers}") from None
        for name, values in (("mean", mean), ("std", std), ("scale", (scale,))):
            problem = preprocessing_problem(name, values)
            if problem is not None:
                raise UsageError(f"input spec {name} {problem}")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)
        object.__setattr__(self, "scale", scale)

    @property
    def size(self) -> tuple[int, int]:
        """``(height, width)``."""
        return (self.height, self.width)

    def shape(self, batch: int = 1) -> tuple[int, int, int, int]:
        """The input tensor shape for ``batch`` images in this spec's layout."""
        if self.layout == "NCHW":
            return (batch, 3, self.height, self.width)
        return (batch, self.height, self.width, 3)

    def with_layout(self, layout: str) -> InputSpec:
        """The same preprocessing with another tensor layout."""
        return replace(self, layout=layout)

    def from_layout(self, batch: np.ndarray, layout: str) -> np.ndarray:
        """A float batch in ``layout`` laid out as this spec's ``layout``."""
        if layout == self.layout:
            return batch
        order = (0, 2, 3, 1) if self.layout == "NHWC" else (0, 3, 1, 2)
        return np.ascontiguousarray(batch.transpose(order))

    def resize_image(self, image: np.ndarray) -> np.ndarray:
        """Resize one BGR ``uint8`` image to ``height x width`` (no colour or scaling change)."""
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        elif image.ndim == 3 and image.shape[2] == 4:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
        h, w = image.shape[:2]
        if (h, w) == (self.height, self.width):
            return image
        if self.resize == "crop":
            # Crop the centre to the target aspect ratio first, then resize only those pixels.
            target = self.width / self.height
            if w / h > target:
                cw = max(1, round(h * target))
                x0 = (w - cw) // 2
                image = image[:, x0 : x0 + cw]
            else:
                ch = max(1, round(w / target))
                y0 = (h - ch) // 2
                image = image[y0 : y0 + ch]
            h, w = image.shape[:2]
        shrinking = h > self.height or w > self.width
        interp = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        return cv2.resize(image, (self.width, self.height), interpolation=interp)

    def normalize(self, images: np.ndarray) -> np.ndarray:
        """Turn a ``N x H x W x 3`` BGR ``uint8`` batch already at size into the model's float batch."""
        if images.ndim != 4 or images.shape[-1] != 3:
            raise UsageError(f"expected a batch of N x H x W x 3 images, got shape {images.shape}")
        if self.channel_order == "RGB":
            images = images[..., ::-1]
        # Fold scale, mean and std into one multiply-add: x * a + b.
        std = np.asarray(self.std, dtype=np.float32)
        a = np.float32(self.scale) / std
        b = -np.asarray(self.mean, dtype=np.float32) / std
        out = images.astype(np.float32) * a + b
        if self.layout == "NCHW":
            out = out.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(out, dtype=np.float32)

    def preprocess(self, images: np.ndarray | list[np.ndarray]) -> np.ndarray:
        """Resize and normalise BGR ``uint8`` frames (one array or a list) into a float batch."""
        if isinstance(images, np.ndarray) and images.ndim == 3:
            images = [images]
        if isinstance(images, np.ndarray) and images.shape[1:3] == self.size:
            return self.normalize(images)
        batch = np.stack([self.resize_image(np.asarray(im)) for im in images])
        return self.normalize(batch)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples become lists)."""
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InputSpec:
        """Read back what ``to_dict`` wrote; unknown keys are an error."""
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise UsageError(f"unknown InputSpec keys {sorted(unknown)} (valid: {sorted(known)})")
        return cls(**d)


@dataclass(frozen=True)
class ModelInfo:
    """What travels with every model file besides its weights.

    Attributes:
        name: Registry name of the architecture (``"resnet8"``), or the file stem for third-party files.
        classes: Class names in output order.
        spec: How inputs are preprocessed.
        precision: ``"fp32"``, ``"fp16"`` or ``"int8"``.
        extra: Free-form facts: edgeres version, source checkpoint hash, model args, quantization.
    """

    name: str
    classes: tuple[str, ...]
    spec: InputSpec
    precision: str = "fp32"
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if len(self.classes) > MAX_CLASSES:
            raise UsageError(f"{len(self.classes)} class names, over the limit of {MAX_CLASSES}")
        object.__setattr__(self, "classes", tuple(str(c) for c in self.classes))
        if any(len(c) > MAX_CLASS_NAME for c in self.classes):
            raise UsageError(f"a class name is longer than {MAX_CLASS_NAME} characters")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "classes": list(self.classes),
            "spec": self.spec.to_dict(),
            "precision": self.precision,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelInfo:
        try:
            return cls(
                name=str(d["name"]),
                classes=tuple(d["classes"]),
                spec=InputSpec.from_dict(dict(d["spec"])),
                precision=str(d.get("precision", "fp32")),
                extra=dict(d.get("extra", {})),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise UsageError(f"model metadata is incomplete or malformed: {e}") from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelInfo:
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as e:
            raise UsageError(f"model metadata is not valid JSON: {e}") from None
        except RecursionError:  # JSON nested 100,000 deep: no metadata is
            raise UsageError("model metadata is nested too deeply to be edgeres metadata") from None
