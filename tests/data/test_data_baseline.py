"""Shapes is not linearly separable: softmax regression on raw pixels stays far below 60%.

The linear baseline lives in tools/shapes_baseline.py (the script that prints the table); the
same function is checked here on a small sample, and on a control task where a linear model
must succeed, so a broken fit cannot pass for a hard data set.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from edgeres.data import shapes

_TOOL = Path(__file__).resolve().parents[2] / "tools" / "shapes_baseline.py"


def _baseline():
    spec = importlib.util.spec_from_file_location("shapes_baseline", _TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_logistic_regression_on_raw_pixels_stays_under_60_percent():
    fit = _baseline().softmax_regression
    xtr, ytr = shapes.generate(2000, 16, split="train")
    xte, yte = shapes.generate(500, 16, split="test")
    train_acc, test_acc = fit(xtr, ytr, xte, yte, steps=100)
    assert test_acc < 0.60
    assert train_acc > 0.25  # the model does fit its training pixels; they just do not transfer


def test_the_same_fit_learns_a_linearly_separable_control():
    # Control: the class brightens one image row, over the shapes images as clutter.
    fit = _baseline().softmax_regression
    rng = np.random.default_rng(0)
    x, _ = shapes.generate(1200, 16, split="train")
    y = rng.integers(0, 10, len(x))
    x = x // 2
    x[np.arange(len(x)), y + 3] += 100
    _, test_acc = fit(x[:1000], y[:1000], x[1000:], y[1000:], steps=100)
    assert test_acc > 0.9
