"""The embedded synthetic "shapes" data set: 10 classes of drawn shapes, made on the fly from a seed.

Every scene is described by size-independent parameters (class, colours, centre, radius, rotation,
background field, clutter lines, noise level) drawn per chunk of ``CHUNK`` images from a seed
derived from ``(seed, split, chunk)``. The same seed therefore gives the same scenes at any image
size, a prefix of a split is the same whatever ``limit`` asks for, and the splits are disjoint
random streams. Shapes are drawn on a supersampled canvas and reduced with ``INTER_AREA`` for
anti-aliasing; pixel noise comes from a counter-based hash so any image can be made alone.

Every class is mirror-symmetric, so a horizontal flip (the train-time augmentation) maps a class
onto itself; rotation is uniform, so no class may be a rotation of another (hence no "diamond").
"""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np

from edgeres.errors import UsageError

CLASSES: tuple[str, ...] = (
    "circle",
    "square",
    "triangle",
    "star",
    "cross",
    "ring",
    "hexagon",
    "arrow",
    "heart",
    "crescent",
)
SPLITS: dict[str, int] = {"train": 0, "test": 1, "calib": 2}
# Default number of images per split (``limit`` takes a prefix).
SPLIT_SIZES: dict[str, int] = {"train": 20000, "test": 2000, "calib": 2000}
CHUNK = 1000  # scene parameters are drawn per chunk; a multiple of 10 keeps classes balanced
_MAGIC = 0x5E1A9E5  # separates our seed streams from any other use of the same user seed
_SUPER_MIN = 96  # draw on a canvas at least this many pixels on the short side
_SHIFT = 4  # fractional bits for OpenCV polygon coordinates
_MAX_LINES = 4


def _circle(n: int = 48, r: float = 1.0, cx: float = 0.0) -> np.ndarray:
    t = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + r * np.cos(t), r * np.sin(t)], axis=1)


def _regular(n: int, r: float = 1.0, phase: float = 0.0) -> np.ndarray:
    t = phase + np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    return np.stack([r * np.cos(t), r * np.sin(t)], axis=1)


def _star() -> np.ndarray:
    outer = _regular(5, 1.0, -np.pi / 2)
    inner = _regular(5, 0.42, -np.pi / 2 + np.pi / 5)
    return np.stack([outer, inner], axis=1).reshape(-1, 2)


def _cross(w: float = 0.34) -> np.ndarray:
    a = 1.0
    return np.array(
        [[-w, -a], [w, -a], [w, -w], [a, -w], [a, w], [w, w], [w, a], [-w, a], [-w, w], [-a, w],
         [-a, -w], [-w, -w]]
    )  # fmt: skip


def _arrow() -> np.ndarray:
    return np.array(
        [[-1.0, -0.22], [0.15, -0.22], [0.15, -0.62], [1.0, 0.0], [0.15, 0.62], [0.15, 0.22],
         [-1.0, 0.22]]
    )  # fmt: skip


def _heart(n: int = 64) -> np.ndarray:
    t = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    pts = np.stack([x, y + 2.5], axis=1)
    return pts / np.abs(pts).max()


def _crescent(d: float = 0.5, r2: float = 0.85, n: int = 40) -> np.ndarray:
    # The part of the unit disc outside a disc of radius r2 centred at (d, 0).
    xi = (d * d + 1 - r2 * r2) / (2 * d)
    yi = math.sqrt(1 - xi * xi)
    a1 = math.atan2(yi, xi)
    outer = np.linspace(a1, 2 * np.pi - a1, n)
    a2 = math.atan2(yi, xi - d)
    inner = np.linspace(2 * np.pi - a2, a2, n)
    pts = np.concatenate(
        [np.stack([np.cos(outer), np.sin(outer)], 1),
         np.stack([d + r2 * np.cos(inner), r2 * np.sin(inner)], 1)]
    )  # fmt: skip
    return pts + [0.25, 0.0]  # centre the visible part


# Each class is one or more contours in unit coordinates; several contours fill even-odd (holes).
# Public: the stream's demo scene draws the same shapes, so a model trained here sees its classes.
CONTOURS: dict[str, list[np.ndarray]] = {
    "circle": [_circle()],
    "square": [_regular(4, 1.0, np.pi / 4) * 0.92],
    "triangle": [_regular(3, 1.0, -np.pi / 2) + [0.0, 0.18]],
    "star": [_star()],
    "cross": [_cross()],
    "ring": [_circle(), _circle(r=0.55)],
    "hexagon": [_regular(6)],
    "arrow": [_arrow()],
    "heart": [_heart()],
    "crescent": [_crescent()],
}
assert tuple(CONTOURS) == CLASSES


def _split_id(split: str) -> int:
    if split not in SPLITS:
        raise UsageError(f"unknown split '{split}' for shapes (valid: {', '.join(SPLITS)})")
    return SPLITS[split]


def _chunk_params(seed: int, split_id: int, chunk: int) -> dict[str, np.ndarray]:
    """Size-independent scene parameters for images ``chunk*CHUNK .. +CHUNK`` of one split."""
    rng = np.random.default_rng([_MAGIC, seed, split_id, chunk])
    n = CHUNK
    p: dict[str, np.ndarray] = {"labels": rng.permutation(np.arange(n) % len(CLASSES))}
    # One clutter level per scene scales background variation, lines and noise together, so
    # the set mixes clean scenes (where shape features are learnt fast) with hard ones.
    clutter = rng.uniform(0, 1, n)
    base = rng.uniform(0, 255, (n, 3))
    spread = (10 + 60 * clutter)[:, None, None, None]
    grid = base[:, None, None, :] + spread * rng.uniform(-1, 1, (n, 4, 4, 3))
    p["grid"] = np.clip(grid, 0, 255).astype(np.uint8)
    p["grid_n"] = rng.integers(2, 5, n)
    p["n_lines"] = np.floor(rng.uniform(0, 1, n) * (_MAX_LINES + 1) * clutter).astype(np.int64)
    p["lines"] = rng.uniform(-0.1, 1.1, (n, _MAX_LINES, 4))
    p["line_colour"] = rng.integers(0, 256, (n, _MAX_LINES, 3))
    p["line_width"] = rng.integers(1, 3, (n, _MAX_LINES))
    r = rng.uniform(0.22, 0.42, n)
    p["radius"] = r
    p["centre"] = 0.5 + rng.uniform(-1, 1, (n, 2)) * (0.5 - 0.85 * r)[:, None]
    p["angle"] = rng.uniform(0, 2 * np.pi, n)
    p["aspect"] = rng.uniform(0.85, 1.15, (n, 2))
    p["colour"] = _contrasting_colours(rng, base)
    p["noise"] = rng.uniform(0.0, 12.0, n) * clutter
    return p


_LUMA = np.array([0.114, 0.587, 0.299])  # BGR weights (ITU-R BT.601)
_MIN_LUMA_GAP = 70.0


def _contrasting_colours(rng: np.random.Generator, base: np.ndarray) -> np.ndarray:
    """Random BGR shape colours whose brightness differs from the background's by a margin.

    Lighter or darker at random (so no class has a polarity), always visible in every channel.
    """
    colour = rng.uniform(0, 255, base.shape)
    base_luma = base @ _LUMA
    for _ in range(30):  # rejection sampling, vectorised over the chunk
        close = np.abs(colour @ _LUMA - base_luma) < _MIN_LUMA_GAP
        if not close.any():
            break
        colour[close] = rng.uniform(0, 255, (int(close.sum()), 3))
    # Stragglers (about one in a billion): white on dark, black on light.
    close = np.abs(colour @ _LUMA - base_luma) < _MIN_LUMA_GAP
    colour[close] = np.where(base_luma[close, None] < 128, 255.0, 0.0)
    return colour


def _mix32(x: np.ndarray) -> np.ndarray:
    """A 32-bit integer hash (Wellons' lowbias32), element-wise on uint32 arrays."""
    x = x ^ (x >> np.uint32(16))
    x = x * np.uint32(0x7FEB352D)
    x = x ^ (x >> np.uint32(15))
    x = x * np.uint32(0x846CA68B)
    return x ^ (x >> np.uint32(16))


_TRI_STD = math.sqrt(2 * (256**2 - 1) / 12)  # std of the sum of two uniform bytes


def _hash_noise(keys: np.ndarray, count: int) -> np.ndarray:
    """Counter-based noise: ``len(keys) x count`` int16 values, zero-mean, std ``_TRI_STD``.

    A hash of (image key, word index) gives four bytes per word; each pair of bytes sums into
    one triangular value. Any image's noise is computable alone, vectorised, in integer math,
    and the same on every machine (bytes are read little-endian explicitly).
    """
    words = (count + 1) // 2
    image = _mix32(keys.astype(np.uint32))[:, None]
    x = _mix32(image ^ (np.arange(words, dtype=np.uint32) * np.uint32(0x9E3779B9)))
    pairs = x.astype("<u4").view(np.uint8).reshape(len(keys), 2 * words, 2)
    tri = pairs[..., 0].astype(np.int16) + pairs[..., 1].astype(np.int16) - np.int16(255)
    return tri[:, :count]


def _render(p: dict[str, np.ndarray], i: int, height: int, width: int) -> np.ndarray:
    """Draw scene ``i`` of a chunk at ``height x width`` (BGR uint8)."""
    k = max(1, min(4, math.ceil(_SUPER_MIN / min(height, width))))
    sh, sw = height * k, width * k
    g = int(p["grid_n"][i])
    canvas = cv2.resize(p["grid"][i, :g, :g], (sw, sh), interpolation=cv2.INTER_LINEAR)
    one = float(1 << _SHIFT)
    line = cv2.LINE_AA if k == 1 else cv2.LINE_8  # no supersampling: let OpenCV anti-alias
    for j in range(int(p["n_lines"][i])):
        x0, y0, x1, y1 = p["lines"][i, j] * [sw, sh, sw, sh] * one
        colour = tuple(int(c) for c in p["line_colour"][i, j])
        # Widths are given in pixels at 32 px and scale with the image, like everything else.
        width_px = max(1, round(int(p["line_width"][i, j]) * min(sh, sw) / 32))
        cv2.line(canvas, (int(x0), int(y0)), (int(x1), int(y1)), colour, width_px, line, _SHIFT)
    unit = min(sh, sw) * p["radius"][i]
    a = p["angle"][i]
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    scale = unit * p["aspect"][i]
    centre = p["centre"][i] * [sw, sh]
    contours = [
        np.round(((pts * scale) @ rot.T + centre) * one).astype(np.int32)
        for pts in CONTOURS[CLASSES[p["labels"][i]]]
    ]
    cv2.fillPoly(canvas, contours, tuple(float(c) for c in p["colour"][i]), line, _SHIFT)
    if k == 1:
        return canvas
    return cv2.resize(canvas, (width, height), interpolation=cv2.INTER_AREA)


def _add_noise(images: np.ndarray, keys: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    n, h, w, c = images.shape
    noise = _hash_noise(keys, h * w * c).reshape(images.shape)
    # Fixed-point gain (8 fractional bits) keeps the whole sum in int16: |noise * gain| < 2**15.
    gain = np.round(sigma / _TRI_STD * 256).astype(np.int16)[:, None, None, None]
    noisy = images.astype(np.int16) + ((noise * gain + np.int16(128)) >> 8)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def image_size(size: int | tuple[int, int]) -> tuple[int, int]:
    """``(height, width)`` of a shapes image; refuses sizes under 8 pixels."""
    h, w = (size, size) if isinstance(size, (int, np.integer)) else size
    if int(h) < 8 or int(w) < 8:
        raise UsageError(f"shapes images need at least 8x8 pixels, got {h}x{w}")
    return int(h), int(w)


def generate(
    count: int,
    size: int | tuple[int, int],
    *,
    split: str = "train",
    seed: int = 0,
    start: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Generate images ``start .. start+count`` of a split.

    Args:
        count: Number of images.
        size: Output size, an int (square) or ``(height, width)``.
        split: ``"train"``, ``"test"`` or ``"calib"`` (disjoint random streams).
        seed: Non-negative seed; the same seed gives the same scenes at every size.
        start: Index of the first image in the split's stream.

    Returns:
        ``(images, labels)``: ``count x H x W x 3`` BGR uint8 and ``count`` int64 labels.
    """
    if seed < 0 or start < 0 or count < 0:
        raise UsageError(f"seed, start and count must be >= 0 (got {seed}, {start}, {count})")
    sid = _split_id(split)
    h, w = image_size(size)
    images = np.empty((count, h, w, 3), dtype=np.uint8)
    labels = np.empty(count, dtype=np.int64)
    pos = 0
    while pos < count:
        chunk, lo = divmod(start + pos, CHUNK)
        hi = min(CHUNK, lo + count - pos)
        p = _chunk_params(seed, sid, chunk)
        for i in range(lo, hi):
            images[pos + i - lo] = _render(p, i, h, w)
        labels[pos : pos + hi - lo] = p["labels"][lo:hi]
        # 32-bit image keys: index in the split, salted by (seed, split) through the hash.
        salt = _mix32(np.array([seed * 3 + sid + _MAGIC], dtype=np.uint64).astype(np.uint32))
        keys = (np.arange(start + pos, start + pos + hi - lo, dtype=np.uint64) ^ salt).astype(
            np.uint32
        )
        images[pos : pos + hi - lo] = _add_noise(
            images[pos : pos + hi - lo], keys, p["noise"][lo:hi]
        )
        pos += hi - lo
    return images, labels


@functools.lru_cache(maxsize=4)
def _cached_params(seed: int, split_id: int, chunk: int) -> dict[str, np.ndarray]:
    # A worker reading neighbouring indices draws each chunk's parameters once, not per image.
    return _chunk_params(seed, split_id, chunk)


def render_one(index: int, size: int | tuple[int, int], *, split: str = "train", seed: int = 0):
    """Image ``index`` of a split alone, equal to ``generate(1, size, start=index)[0][0]``.

    What the streaming data layer reads by index: any image is made without the ones before it.
    """
    sid = _split_id(split)
    h, w = image_size(size)
    chunk, i = divmod(int(index), CHUNK)
    p = _cached_params(seed, sid, chunk)
    image = _render(p, i, h, w)[None]
    salt = _mix32(np.array([seed * 3 + sid + _MAGIC], dtype=np.uint64).astype(np.uint32))
    key = (np.array([index], dtype=np.uint64) ^ salt).astype(np.uint32)
    return _add_noise(image, key, p["noise"][i : i + 1])[0]


def split_labels(count: int, *, split: str = "train", seed: int = 0) -> np.ndarray:
    """The labels of images ``0 .. count`` of a split, without drawing the scenes.

    The label permutation is each chunk's first draw, so this equals ``generate``'s labels.
    """
    sid = _split_id(split)
    out = [
        np.random.default_rng([_MAGIC, seed, sid, chunk]).permutation(
            np.arange(CHUNK) % len(CLASSES)
        )
        for chunk in range(-(-count // CHUNK))
    ]
    return np.concatenate(out)[:count].astype(np.int64) if out else np.empty(0, np.int64)
