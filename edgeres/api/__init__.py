"""The Python API: one typed function per command, the same work the CLI does.

    import edgeres.api as er

    er.train(model="resnet8", data="shapes", out="runs/r8", epochs=2)
    er.convert("runs/r8/model.pt", to=("onnx", "tflite"))
    er.quantize("runs/r8/model.pt", to=("onnx",), max_drop=1.0)
    er.evaluate("runs/r8/model_int8.onnx", data="shapes", limit=200)

Each function takes its config dataclass (``ConvertConfig``, ``EvalConfig``, ...) or the same
fields as keyword arguments (a composed part's fields too: ``engine=``/``threads=`` fill
``runtime``), and returns a ``Result``: ``to_dict()`` is the command's ``--json`` document,
``lines()`` what it prints, ``failure`` the quality gate that failed (``None`` when it passed).
Progress bars are on unless ``quiet=True``.

It is ``edgeres.api`` rather than ``edgeres`` itself because ``edgeres.train``, ``edgeres.convert``,
``edgeres.quantize`` and ``edgeres.tune`` are the packages that do the work. Importing this module
imports nothing else: each function loads its room when called, so a device without torch
imports it for free.
"""

from __future__ import annotations

import importlib
from typing import Any

# Function name -> the module of this package that defines it (no module is named like a
# function: a submodule, once imported, would shadow the function of its name).
_HOMES = {
    "train": "workstation",
    "convert": "workstation",
    "quantize": "workstation",
    "inspect": "workstation",
    "evaluate": "scoring",
    "predict": "scoring",
    "benchmark": "device",
    "tune": "device",
    "run": "device",
    "demo": "demo_path",
    "fit": "search",
    "prune": "search",
    "Result": "result",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'edgeres.api' has no attribute '{name}'")
    return getattr(importlib.import_module(f"edgeres.api.{home}"), name)


def __dir__() -> list[str]:
    return __all__
