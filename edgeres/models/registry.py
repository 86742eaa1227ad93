"""Models created by name: each variant is a small function registered with ``@register_model``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edgeres.errors import UsageError, check_number, unknown_name
from edgeres.spec import MAX_CLASSES

# ImageNet statistics: a sound default for natural and synthetic colour images alike.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# A width multiplier scales every stage of resnet18s: above 4x the model is no longer small.
MAX_WIDTH = 4.0


def check_width(width: float, name: str = "width") -> None:
    """Refuse a width multiplier outside (0, MAX_WIDTH]; ``name`` is what the message calls it."""
    check_number(width, name, 0.0, above=True, maximum=MAX_WIDTH)


@dataclass(frozen=True)
class ModelConfig:
    """What a model expects by default: input size and normalisation.

    Attributes:
        img_size: Default square input size in pixels.
        min_img_size: Smallest input the architecture handles sensibly.
        mean: Per-channel RGB mean.
        std: Per-channel RGB standard deviation.
        description: One line for ``--help`` and listings.
        search: Architecture options ``edgeres fit`` searches, as (option, values) pairs, e.g.
            ``(("width", (0.25, 0.5, 1.0)),)``; ``None``: derived from the constructor (a
            ``width`` option gets the usual widths, a ``depth`` option its values 1 to 3);
            ``()``: not searched (test networks).
        family: Architecture family (``resnet``, ``mobilenet_v2``, ``mobilenet_v3``): what a search
            over the zoo (``edgeres fit``) groups by.
        depth: The family's depth of this variant: the layer count in a ResNet's name (8, 18, ...),
            the number of inverted-residual blocks in a MobileNet (17, 11, 15).
        width: Whether the constructor takes a ``width`` multiplier (``create_model(name,
            width=0.5)``); its smallest accepted value is ``min_width``.
        min_width: The smallest ``width`` that keeps every layer (channels round to multiples of 8).
        total_stride: How much the network downsamples; inputs below it are refused (0: unchecked).
        head: Module name of the classifier layer, whose rows are the classes (``fc``,
            ``classifier.1``): state dicts are read for their class count there.
    """

    img_size: int
    min_img_size: int
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    description: str = ""
    search: tuple[tuple[str, tuple[Any, ...]], ...] | None = None
    family: str = "resnet"
    depth: int = 0
    width: bool = False
    min_width: float = 0.0
    total_stride: int = 0
    head: str = "fc"


_REGISTRY: dict[str, tuple[Callable[..., Any], ModelConfig]] = {}


def register_model(cfg: ModelConfig) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a model constructor under its function name."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        _REGISTRY[fn.__name__] = (fn, cfg)
        return fn

    return wrap


def check_input_size(name: str, size: int) -> None:
    """Refuse an input smaller than what ``name``'s stride pattern downsamples to one pixel.

    Raises:
        UsageError: ``size`` below the model's ``total_stride`` (the smallest size that works).
    """
    stride = model_config(name).total_stride
    if stride and size < stride:
        raise UsageError(
            f"--img-size {size} is too small for {name}, which downsamples {stride}x; "
            f"the smallest size that works is {stride}"
        )


def list_models() -> list[str]:
    """Names of every registered model, sorted."""
    return sorted(_REGISTRY)


def model_config(name: str) -> ModelConfig:
    """The default input configuration of a registered model."""
    if name not in _REGISTRY:
        raise unknown_name("model", name, _REGISTRY)
    return _REGISTRY[name][1]


def model_constructor(name: str) -> Callable[..., Any]:
    """The registered constructor of ``name`` (its signature lists the architecture options)."""
    if name not in _REGISTRY:
        raise unknown_name("model", name, _REGISTRY)
    return _REGISTRY[name][0]


def create_model(name: str, num_classes: int = 10, **kwargs: Any):
    """Build a registered model.

    Args:
        name: Registry name, e.g. ``"resnet8"``.
        num_classes: Size of the classifier output.
        **kwargs: Architecture options of that model (e.g. ``width`` for ``resnet18s``).

    Raises:
        UsageError: Unknown name (close matches are listed) or an option the model does not take.
    """
    if name not in _REGISTRY:
        raise unknown_name("model", name, _REGISTRY)
    if not 1 <= num_classes <= MAX_CLASSES:
        raise UsageError(f"num_classes must be 1 to {MAX_CLASSES}, got {num_classes}")
    fn = _REGISTRY[name][0]
    try:
        return fn(num_classes=num_classes, **kwargs)
    except TypeError as e:
        raise UsageError(f"model '{name}' does not accept these options {kwargs}: {e}") from None
