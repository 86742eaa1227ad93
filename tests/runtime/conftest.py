"""Test images for the runtime tests; the model files are the shared session artifacts
(``model_files`` in tests/fixtures_artifacts.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def shapes_test(fp32_onnx):
    """200 shapes test images at the models' size, as an ImageSet-like object."""
    from edgeres.data.shapes import generate
    from edgeres.formats import read_metadata

    size = read_metadata(fp32_onnx).spec.height
    images, labels = generate(200, size, split="test", seed=0)
    return _ImageSet(images, labels)


@dataclasses.dataclass
class _ImageSet:
    images: np.ndarray
    labels: np.ndarray
    classes: tuple = ()
    source: str = "shapes"


@pytest.fixture(scope="session")
def sample_images(tmp_path_factory, shapes_test) -> list[Path]:
    """Three PNG files (128x96, so predict has to resize) of shapes test images."""
    import cv2

    out = tmp_path_factory.mktemp("images")
    paths = []
    for i in range(3):
        big = cv2.resize(shapes_test.images[i], (128, 96), interpolation=cv2.INTER_NEAREST)
        paths.append(out / f"img{i}.png")
        cv2.imwrite(str(paths[-1]), big)
    return paths
