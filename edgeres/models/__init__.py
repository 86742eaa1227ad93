"""The model zoo: small residual networks created by name.

Importing this package is cheap and torch-free: ``MODEL_NAMES`` is all the CLI needs to list the
models on a device without torch. Everything else (``create_model``, ``count_macs``, ...) imports
torch and registers the models on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

# The registry's names, spelled out so that `edgeres train --help` needs no torch;
# tests/models/test_models.py checks them against list_models().
MODEL_NAMES = (
    "resnet8", "resnet20", "resnet18s", "resnet18", "resnet34", "resnet50", "test_resnet",
    "mobilenet_v2", "mobilenet_v2_cifar", "mobilenet_v3_small", "mobilenet_v3_large",
)  # fmt: skip

_LAZY = {
    "ModelConfig": "registry",
    "create_model": "registry",
    "list_models": "registry",
    "model_config": "registry",
    "count_macs": "counting",
    "count_params": "counting",
}

__all__ = ["MODEL_NAMES", *_LAZY]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'edgeres.models' has no attribute '{name}'")
    importlib.import_module("edgeres.models.resnet")  # registers the models
    importlib.import_module("edgeres.models.torchvision_layout")
    importlib.import_module("edgeres.models.mobilenet")
    return getattr(importlib.import_module(f"edgeres.models.{_LAZY[name]}"), name)
