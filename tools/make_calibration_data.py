"""Regenerate ``calibration_data/``: the small set of calibration images shipped with edgeres.

The images come from the shapes generator's ``calib`` stream, a random stream disjoint from its
train and test splits, so calibrating never sees evaluation images. They are written as PNG in
one sub-folder per class (the image-folder layout), with a README saying how they were made and
the ``__init__.py`` that lets the wheel ship the folder as ``edgeres.calibration_data``.

Usage:
    .venv/bin/python tools/make_calibration_data.py [--out calibration_data] [--count 320]
        [--size 64] [--seed 0] [--force]
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgeres.data import shapes  # noqa: E402
from edgeres.fileio import atomic_path, atomic_write_text  # noqa: E402

README = """# Calibration images

{count} images of {size}x{size} pixels (PNG, {total_kb} kB in all), {per_class} per class, in one
sub-folder per class. `edgeres quantize MODEL` uses this folder when no `--calib` is given: each
image is resized and normalised with the model's own `InputSpec`, exactly as at inference time.

They are synthetic "shapes" scenes from the generator's `calib` stream (seed {seed}), which is
disjoint from the `train` and `test` splits that models are trained and evaluated on. Made with:

    .venv/bin/python tools/make_calibration_data.py --out calibration_data --count {count} --size {size} --seed {seed} --force

The generator is deterministic: the same command with the same OpenCV version writes the same
pixels. To calibrate on your own data instead, pass `--calib DIR` (a folder of images, any
layout, searched recursively) or `--calib shapes`.
"""

# Makes the folder the package edgeres.calibration_data (pyproject.toml), so wheels carry it.
PACKAGE_MARKER = '''"""Calibration images shipped with edgeres, installed as ``edgeres.calibration_data``.

This file only makes the folder a package, so wheels carry the images and
``importlib.resources`` finds them; there is no code here (see ``README.md``).
"""
'''


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("calibration_data"))
    ap.add_argument("--count", type=int, default=320, help="number of images (a multiple of 10)")
    ap.add_argument("--size", type=int, default=64, help="image side in pixels")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--force", action="store_true", help="replace an existing folder")
    args = ap.parse_args()

    if args.out.exists() and any(args.out.iterdir()):
        if not args.force:
            sys.exit(f"error: '{args.out}' exists; pass --force to replace it")
        shutil.rmtree(args.out)
    per_class = -(-args.count // len(shapes.CLASSES))
    # A whole chunk holds the same number of each class; take the first per_class of each.
    pool = max(shapes.CHUNK, 2 * args.count)
    images, labels = shapes.generate(pool, args.size, split="calib", seed=args.seed)
    counters = dict.fromkeys(shapes.CLASSES, 0)
    for image, label in zip(images, labels, strict=True):
        name = shapes.CLASSES[label]
        if counters[name] >= per_class:
            continue
        path = args.out / name / f"{name}_{counters[name]:03d}.png"
        counters[name] += 1
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            if not cv2.imwrite(str(tmp), image, [cv2.IMWRITE_PNG_COMPRESSION, 9]):
                sys.exit(f"error: could not write '{path}'")
    count = sum(counters.values())
    total = sum(p.stat().st_size for p in args.out.rglob("*.png"))
    atomic_write_text(
        args.out / "README.md",
        README.format(
            count=count,
            size=args.size,
            seed=args.seed,
            total_kb=round(total / 1024),
            per_class=per_class,
        ),  # fmt: skip
    )
    atomic_write_text(args.out / "__init__.py", PACKAGE_MARKER)
    print(f"wrote {count} images ({total / 1e6:.2f} MB) to {args.out}")


if __name__ == "__main__":
    main()
