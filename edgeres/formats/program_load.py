"""Loading a ``torch.export`` program (``.pt2``) without letting the file run code.

``torch.export.load`` is not safe on its own (its docstring says so): it unpickles sample inputs
and odd-strided tensors with ``weights_only=False`` when the safe load fails, unpickles
"opaque" and TorchBind constants, and parses shape expressions with ``sympy.sympify`` (an
``eval``). So the archive is read into memory once and screened first: every entry must be one
torch.export writes for a plain model (no custom or opaque objects, no compiled AOTInductor or
ExecuTorch payloads); every pickle in it must load with ``torch.load(weights_only=True)`` (so
torch's own safe attempt succeeds and its unsafe fallback never runs); every operator the graph
names must be an ATen/prims operator or a Python arithmetic one; every shape expression must be
small arithmetic on symbols (``program_expr``'s grammar: sympy evaluates them, and
``10**10**10`` never ends). ``torch.export.load`` then reads an archive rebuilt from the
screened entries alone (never the user's bytes: zip readers disagree on duplicate names).
After loading, the graph's call targets are checked again as objects.
"""

from __future__ import annotations

import io
import json
import logging
import operator
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgeres.errors import ModelFileError, UsageError
from edgeres.formats.checkpoint import SAVE_HINT
from edgeres.formats.program_expr import expression_problem
from edgeres.text import shown

MAX_PROGRAM_BYTES = 2 * 1024**3
# Content an archive may declare beyond its own size: torch.export.save stores weights
# uncompressed, so a real program declares about its file size; 1.75 GiB of deflated zeros in a
# 1.8 MB file is a bomb. The slack lets a compressed graph JSON through.
MAX_EXPANSION = 4
EXPANSION_SLACK = 64 * 1024**2
# What torch.export.save writes for a plain nn.Module (under one top-level folder).
_ENTRIES = re.compile(
    r"(archive_format|archive_version|byteorder|version|\.data/version|\.data/serialization_id"
    r"|models/\w+\.json|data/weights/(weight_\d+|\w+_weights_config\.json)"
    r"|data/constants/(tensor_\d+|\w+_constants_config\.json)|data/sample_inputs/\w+\.pt"
    r"|extra/[\w.-]+)"
)
_TARGET = re.compile(
    r"torch\.ops\.(aten|prims)\.\w+(\.\w+)?|_operator\.\w+|torch\.sym_\w+|math\.\w+"
)
_EXPR_CHARS = re.compile(r"[\w\s'(),=+\-*/<>]*")
_PY_OPS = {operator.getitem, operator.add, operator.sub, operator.mul, operator.floordiv}


def _refuse(path: Path, why: str) -> ModelFileError:
    return ModelFileError(f"refused to load '{shown(path)}': {why}; {SAVE_HINT}")


def _check_pickle(path: Path, name: str, data: bytes) -> None:
    try:
        # The screening's own warnings (a pickle protocol torch.load did not expect) are not
        # the user's: the verdict is the refusal below.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - any failure: torch.export.load would retry unsafely
        raise _refuse(path, f"its entry '{shown(name)}' is a pickle that would run code") from None


def _strings(tree: Any, key: str) -> list[str]:
    """Every value under ``key`` anywhere in decoded JSON (escapes decoded: nothing hides)."""
    found, stack = [], [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            found += [v if isinstance(v, str) else repr(v) for k, v in node.items() if k == key]
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def _check_graph_json(path: Path, tree: Any) -> None:
    for target in _strings(tree, "target"):
        if not _TARGET.fullmatch(target):
            raise _refuse(path, f"its graph calls '{shown(target)[:80]}', not an ATen operator")
    for expr in _strings(tree, "expr_str"):
        # Characters first (cheap), then the grammar that bounds what sympy would compute.
        chars = "__" not in expr and _EXPR_CHARS.fullmatch(expr)
        problem = expression_problem(expr) if chars else "it holds characters of no arithmetic"
        if problem is not None:
            raise _refuse(
                path,
                f"its shape expression '{shown(expr)[:60]}' is not small arithmetic: {problem}",
            )


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("a key appears twice")
    return dict(pairs)


def _json(path: Path, name: str, body: bytes) -> Any:
    # Duplicate keys are refused: two parsers may keep different copies of one key.
    try:
        return json.loads(body, object_pairs_hook=_unique_keys)
    except (ValueError, RecursionError):
        raise ModelFileError(f"'{shown(path)}' entry '{shown(name)}' is not valid JSON") from None


def _content_limit(file_bytes: int) -> int:
    return min(MAX_PROGRAM_BYTES, MAX_EXPANSION * file_bytes + EXPANSION_SLACK)


def _entries(path: Path, data: bytes) -> dict[str, bytes]:
    """Each file entry's bytes by its name under the one top folder; refuses ambiguous names.

    Zip readers disagree on an archive with two entries of one name (Python's ``zipfile`` keeps
    the last, torch's miniz reader binary-searches case-insensitively), so such an archive, or
    one with names equal up to case, or with entries under two top folders, is refused.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = [e for e in archive.infolist() if not e.is_dir()]
    except (zipfile.BadZipFile, ValueError, NotImplementedError) as e:
        raise ModelFileError(f"'{shown(path)}' is not a readable .pt2 archive ({e})") from None
    declared, limit = sum(e.file_size for e in entries), _content_limit(len(data))
    if declared > limit:
        raise ModelFileError(
            f"'{shown(path)}' declares {declared} bytes of content in a {len(data)}-byte file "
            f"(over the {limit} it may hold); it is not a program torch.export.save wrote"
        )
    folded = [e.filename.lower() for e in entries]
    if len(set(folded)) != len(folded):
        twice = next(
            e.filename for e, f in zip(entries, folded, strict=True) if folded.count(f) > 1
        )
        raise _refuse(path, f"it holds two entries named '{shown(twice)[:80]}' (up to case)")
    if len({e.filename.partition("/")[0] for e in entries}) > 1:
        raise _refuse(path, "its entries lie under more than one top folder")
    try:
        # extra/ is the user's notes, never read by torch: left out, not even decompressed.
        return {
            e.filename.partition("/")[2]: archive.read(e)
            for e in entries
            if not e.filename.partition("/")[2].startswith("extra/")
        }
    except (
        zipfile.BadZipFile,
        OSError,
        ValueError,
        NotImplementedError,
    ) as e:  # a method zipfile lacks
        raise ModelFileError(f"'{shown(path)}' is truncated or corrupted ({e})") from None


def _rebuilt(bodies: dict[str, bytes]) -> io.BytesIO:
    """A fresh archive of exactly the screened entries: torch reads nothing that was not read.

    Each body is dropped once written, so the content is held about once, not twice.
    """
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for name in list(bodies):
            archive.writestr(f"program/{name}", bodies.pop(name))
    out.seek(0)
    return out


def screen_archive(path: Path, data: bytes) -> bytes:
    """Screen a ``.pt2`` (see the module doc) and return the only bytes torch may load.

    The returned archive is rebuilt from the screened entries, so what torch reads is what was
    screened, whatever tricks the original's directory plays.

    Raises:
        ModelFileError: Not a zip, an ambiguous or unknown entry, an unsafe pickle, operator or
            expression.
    """
    return _screened(path, _entries(path, data)).getvalue()


def _screened(path: Path, bodies: dict[str, bytes]) -> io.BytesIO:
    """``screen_archive`` on entries already read; the rebuilt archive as a buffer."""
    for inner in bodies:
        if not _ENTRIES.fullmatch(inner):
            raise _refuse(path, f"it holds '{shown(inner)[:80]}', which a plain "
                          "torch.export.save of a model does not write")  # fmt: skip
    pickled = [n for n in bodies if n.endswith(".pt")]
    for name, body in bodies.items():
        if name.endswith("_config.json"):
            folder = name.rpartition("/")[0]
            config = _json(path, name, body)
            config = config.get("config") if isinstance(config, dict) else None
            if not isinstance(config, dict):
                raise ModelFileError(f"'{shown(path)}' entry '{shown(name)}' is malformed")
            pickled += [
                f"{folder}/{m.get('path_name')}"
                for m in config.values()
                if isinstance(m, dict) and m.get("use_pickle")
            ]
        elif name.startswith("models/"):
            _check_graph_json(path, _json(path, name, body))
    for name in pickled:
        if name not in bodies:
            raise ModelFileError(f"'{shown(path)}' is incomplete: '{shown(name)}' is missing")
        _check_pickle(path, name, bodies[name])
    if not any(n.startswith("models/") for n in bodies):
        raise ModelFileError(f"'{shown(path)}' holds no exported program (no models/*.json)")
    return _rebuilt(bodies)


def _check_targets(path: Path, program: Any) -> None:
    for node in program.graph.nodes:
        if node.op != "call_function":
            continue
        t = node.target
        ok = isinstance(t, torch._ops.OpOverload) and t.namespace in ("aten", "prims")
        sym = getattr(t, "__name__", "").startswith("sym_") and t is getattr(torch, t.__name__, 0)
        if not (ok or t in _PY_OPS or sym):
            raise _refuse(path, f"its graph calls {shown(str(t))[:80]}, not an ATen operator")


def read_program(path: str | Path) -> Any:
    """The ``ExportedProgram`` in a ``.pt2``, screened first (see the module docstring).

    Raises:
        ModelFileError: Missing, too large, unreadable, or holding anything that could run code.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"'{shown(path)}' does not exist")
    if path.stat().st_size > MAX_PROGRAM_BYTES:
        raise ModelFileError(f"'{shown(path)}' is over {MAX_PROGRAM_BYTES} bytes")
    data = path.read_bytes()
    bodies = _entries(path, data)
    del data  # held once: the file's bytes, then its entries, then the rebuilt archive
    program = _load_quietly(path, _screened(path, bodies))
    _check_targets(path, program)
    return program


class _Withheld(logging.Filter):
    """Keeps torch.export's log records from every handler, remembering them."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def filter(self, record: logging.LogRecord) -> bool:
        self.records.append(record)
        return False


def _load_quietly(path: Path, screened: io.BytesIO) -> Any:
    """``torch.export.load`` with its logger silenced; a failure is one line naming the cause.

    On a failed deserialization torch logs the whole traceback as warnings, then raises
    "check the warnings above": the cause is taken from the withheld record instead.
    """
    logger, withheld = logging.getLogger("torch.export"), _Withheld()
    logger.addFilter(withheld)
    try:
        return torch.export.load(screened)
    except Exception as e:  # noqa: BLE001 - deserialization raises many types
        causes = [r.exc_info[1] for r in withheld.records if r.exc_info and r.exc_info[1]]
        cause = causes[0] if causes else e
        first = (str(cause).strip().splitlines() or [type(cause).__name__])[0][:160]
        raise ModelFileError(
            f"'{shown(path)}' is not a loadable .pt2 program ({type(cause).__name__}: "
            f"{shown(first)}); save it again with this torch ({torch.__version__}): "
            "torch.export.save(torch.export.export(model, (x,)), 'model.pt2')"
        ) from None
    finally:
        logger.removeFilter(withheld)


class ProgramModule(nn.Module):
    """An exported program as an ``nn.Module`` for edgeres' exporters, parity and calibration.

    A program exported at batch 1 is run image by image for larger batches. ``train()`` only
    sets a flag: an exported graph has its train/eval behaviour baked in (and refuses the call).
    """

    def __init__(self, program: Any, batch: int | None) -> None:
        super().__init__()
        self.program = program.module()
        self.batch = batch

    def train(self, mode: bool = True) -> ProgramModule:
        self.training = mode
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.batch is None or x.shape[0] == self.batch:
            return self.program(x)
        return torch.cat([self.program(x[i : i + 1]) for i in range(x.shape[0])])


def input_shape(program: Any) -> list[int | None]:
    """The program's one image input shape, ``None`` where a dimension is free (dynamic)."""
    names = program.graph_signature.user_inputs
    if len(names) != 1:
        raise UsageError(f"the program takes {len(names)} inputs; edgeres reads one image input")
    node = next(n for n in program.graph.nodes if n.op == "placeholder" and n.name == names[0])
    val = node.meta.get("val")
    if val is None or not hasattr(val, "shape"):
        raise UsageError("the program's input is not a tensor")
    return [d if isinstance(d, int) else None for d in val.shape]


def declared_outputs(program: Any) -> int | None:
    """The class count the program's graph declares for its first output (None when free)."""
    out = next(n for n in program.graph.nodes if n.op == "output").args[0][0]
    val = getattr(out, "meta", {}).get("val")
    last = val.shape[-1] if val is not None and getattr(val, "ndim", 0) >= 1 else None
    return last if isinstance(last, int) else None


def program_macs(program: Any) -> int | None:
    """Conv and linear MACs per image from the graph's shapes (None when a shape is free)."""
    total = 0
    for node in program.graph.nodes:
        name = str(node.target)
        if node.op != "call_function" or not any(k in name for k in ("conv", "linear", "addmm")):
            continue
        out, weight = (
            node.meta.get("val"),
            node.args[1].meta.get("val") if len(node.args) > 1 else None,
        )
        if out is None or weight is None:
            continue
        dims = [*out.shape[1:], *weight.shape[1:]]
        if not all(isinstance(d, int) for d in dims):
            return None
        if "addmm" in name:  # addmm(bias, x, w.T): weight is args[2]
            continue
        n = 1
        for d in dims:
            n *= d
        total += n
    return total
