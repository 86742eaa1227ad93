"""Train-time augmentation on uint8 image batches: reflect-pad + random crop, horizontal flip.

Vectorised over the batch with numpy so the training loop spends its time in the model, not here.
Used on the train split only. A horizontal flip maps every shapes class onto itself (all of them
are mirror-symmetric); for a folder data set whose classes depend on handedness, pass
``flip=False``.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def augment(
    images: np.ndarray,
    rng: np.random.Generator,
    *,
    pad: int | None = None,
    flip: bool = True,
) -> np.ndarray:
    """Random shifts (reflect padding, then a random crop back to size) and horizontal flips.

    Args:
        images: ``N x H x W x 3`` uint8 batch (BGR or RGB, it does not matter).
        rng: Source of randomness; the caller seeds it for repeatable runs.
        pad: Padding on each side; ``None`` takes 1/8 of the shorter side (4 px at 32 px).
        flip: Flip half of the images left-right.

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
    if pad > 0:
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
