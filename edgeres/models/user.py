"""``--model my_pkg.models:build``: the user's own function builds the network.

This imports and runs the user's code, and only because the user named it on the command line;
nothing read from a file ever chooses code to import. The function is called with no arguments and
must return an ``nn.Module``; its weights come from a state dict loaded with
``torch.load(weights_only=True)`` or safetensors. The current folder is searched first, as
``python -m`` would, so a package beside the user's data imports without installing it.
While the user's code runs, its ``print`` goes to stderr (stdout may hold a ``--json``
document), and a ``sys.exit`` in it is an error like any other.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import sys
from typing import Any

from edgeres.errors import UsageError
from edgeres.text import shown

_REF = re.compile(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*")


def is_user_ref(name: str | None) -> bool:
    """Whether ``--model`` names a ``module:function`` rather than a zoo model."""
    return bool(name) and ":" in name


def build_user_model(ref: str) -> Any:
    """Import ``pkg.module``, call its ``function()`` and return the module it builds.

    Raises:
        UsageError: A malformed reference, a module that does not import, no such function,
            a call that fails, or a result that is not an ``nn.Module``.
    """
    from torch import nn

    if not _REF.fullmatch(ref):
        raise UsageError(
            f"--model '{shown(ref)}' is neither a zoo name nor pkg.module:function "
            "(e.g. my_pkg.models:build)"
        )
    module_name, _, fn_name = ref.partition(":")
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            module = importlib.import_module(module_name)
    except (Exception, SystemExit) as e:  # noqa: BLE001 - the user's import may raise anything
        raise UsageError(
            f"--model {shown(ref)}: module '{shown(module_name)}' does not import "
            f"({type(e).__name__}: {shown(str(e))[:120]}); run from the folder holding it or "
            "install the package"
        ) from None
    finally:
        if added:
            sys.path.remove(cwd)
    fn = getattr(module, fn_name, None)
    if not callable(fn):
        raise UsageError(
            f"--model {shown(ref)}: '{shown(module_name)}' has no function '{fn_name}'"
        )
    try:
        with contextlib.redirect_stdout(sys.stderr):
            model = fn()
    except (Exception, SystemExit) as e:  # noqa: BLE001 - the user's code may raise anything
        raise UsageError(
            f"--model {shown(ref)}: {fn_name}() failed ({type(e).__name__}: {shown(str(e))[:120]})"
        ) from None
    if not isinstance(model, nn.Module):
        raise UsageError(
            f"--model {shown(ref)}: {fn_name}() returned a {type(model).__name__}, not a "
            "torch.nn.Module"
        )
    return model.eval()
