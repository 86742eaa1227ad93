"""Train-time augmentation on uint8 image batches: reflect-pad + random crop, horizontal flip.

Vectorised over the batch with numpy so the training loop spends its time in the model, not here.
Used on the train split only. A horizontal flip maps every shapes class onto itself (all of them
are mirror-symmetric), but it is wrong for digits, text, arrows and anything else whose class
depends on handedness: ``edgeres train --augment crop`` leaves flips out.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from edgeres.errors import UsageError

AUGMENTATIONS = ("crop", "flip")
NONE = "none"


def parse_augment(text: str | tuple[str, ...]) -> tuple[str, ...]:
    """``"crop,flip"`` / ``"crop"`` / ``"flip"`` / ``"none"`` as a tuple in canonical order.

    Raises:
        UsageError: An unknown word (the message names ``--augment`` and the valid words).
    """
    words = text if isinstance(text, tuple) else tuple(str(text).split(","))
    words = tuple(w.strip().lower() for w in words if w.strip())
    if words == (NONE,) or not words:
        if not words:
            raise UsageError(f"--augment is empty; use {', '.join(AUGMENTATIONS)} or {NONE}")
        return ()
    bad = [w for w in words if w not in AUGMENTATIONS]
    if bad:
        raise UsageError(
            f"--augment '{bad[0]}' is not one of {', '.join(AUGMENTATIONS)} or {NONE} "
            "(comma-separated, e.g. --augment crop for digits and text, which flips would corrupt)"
        )
    return tuple(a for a in AUGMENTATIONS if a in words)


def augment_name(augs: tuple[str, ...]) -> str:
    """The ``--augment`` spelling of a parsed choice: ``crop,flip`` or ``none``."""
    return ",".join(augs) or NONE


def augment(
    images: np.ndarray,
    rng: np.random.Generator,
    *,
    pad: int | None = None,
    flip: bool = True,
    crop: bool = True,
) -> np.ndarray:
    """Random shifts (reflect padding, then a random crop back to size) and horizontal flips.

    Args:
        images: ``N x H x W x 3`` uint8 batch (BGR or RGB, it does not matter).
        rng: Source of randomness; the caller seeds it for repeatable runs.
        pad: Padding on each side; ``None`` takes 1/8 of the shorter side (4 px at 32 px).
        flip: Flip half of the images left-right.
        crop: Shift by a random crop of the padded image.

    Returns:
        A new ``N x H x W x 3`` uint8 batch.
    """
    n, h, w = images.shape[:3]
    if n == 0:
        return images.copy()
    if pad is None:
        pad = max(1, min(h, w) // 8)
    # Reflect padding needs the pad smaller than the image side.
    pad = min(pad, h - 1, w - 1)
    if crop and pad > 0:
        padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")
        windows = sliding_window_view(padded, (h, w), axis=(1, 2))  # N, 2p+1, 2p+1, C, h, w
        dy = rng.integers(0, 2 * pad + 1, n)
        dx = rng.integers(0, 2 * pad + 1, n)
        out = windows[np.arange(n), dy, dx].transpose(0, 2, 3, 1)
    else:
        out = images
    if flip:
        flipped = rng.random(n) < 0.5
        out = np.where(flipped[:, None, None, None], out[:, :, ::-1], out)
    return np.ascontiguousarray(out, dtype=np.uint8)
