"""The one table of model formats, and the engines that run each of them.

Each format is one module (``pytorch``, ``onnx``, ``tflite``) holding everything about it: suffix
and magic bytes, verifier and metadata, layout, MAC counting, and lazy references to its exporter,
quantizer and engines. ``convert``, ``quantize``, ``runtime.load``, ``benchmark`` and the click
choices iterate this table; nothing else branches on a format's name. Adding a format is one module
plus one row in ``FORMATS`` (or ``register`` from outside the package); a format may list several
engines, and an engine class may serve several formats.

Importing this package imports neither torch nor any engine, so a device can use it.
"""

from __future__ import annotations

from pathlib import Path

from edgeres.errors import ModelFileError, UsageError, unknown_name
from edgeres.formats import onnx, program, pytorch, tflite, weights
from edgeres.formats.base import (
    METADATA_KEY,
    Engine,
    Format,
    Probe,
    Quantization,
    parse_info,
    resolve,
)
from edgeres.spec import ModelInfo
from edgeres.text import shown

__all__ = [
    "FORMATS",
    "METADATA_KEY",
    "Engine",
    "Format",
    "Probe",
    "Quantization",
    "all_engines",
    "companion_files",
    "engine_names",
    "format_engines",
    "export_formats",
    "format_for_path",
    "get_format",
    "output_name",
    "parse_format_list",
    "parse_info",
    "read_metadata",
    "register",
    "register_engine",
    "resolve",
]

FORMATS: dict[str, Format] = {
    f.name: f for f in (pytorch.FORMAT, program.FORMAT, weights.FORMAT, onnx.FORMAT, tflite.FORMAT)
}


def register(fmt: Format) -> None:
    """Add a format to the table (a plugin, or a test's dummy format); its name must be new."""
    if fmt.name in FORMATS:
        raise UsageError(f"format '{fmt.name}' is already registered")
    FORMATS[fmt.name] = fmt


def register_engine(fmt_name: str, engine: Engine, first: bool = False) -> None:
    """Add an engine to a registered format's row (last, or ``first`` in its default order)."""
    import dataclasses

    fmt = get_format(fmt_name)
    if fmt.engine(engine.name) is not None:
        raise UsageError(f"engine '{engine.name}' already runs {fmt_name} files")
    engines = (engine, *fmt.engines) if first else (*fmt.engines, engine)
    FORMATS[fmt_name] = dataclasses.replace(fmt, engines=engines)


def all_engines() -> tuple[Engine, ...]:
    """Every engine row in the table, in table order, each once (read when asked)."""
    return tuple({e.name: e for f in FORMATS.values() for e in f.engines}.values())


def format_engines(engine: str) -> tuple[Format, ...]:
    """The formats an engine runs."""
    return tuple(f for f in FORMATS.values() if f.engine(engine) is not None)


def export_formats() -> tuple[str, ...]:
    """Names of the formats ``convert`` can write (those with an exporter), in table order."""
    return tuple(name for name, f in FORMATS.items() if f.exporter)


def engine_names() -> tuple[str, ...]:
    """Every engine name in the table, in table order, each once."""
    return tuple(dict.fromkeys(e.name for f in FORMATS.values() for e in f.engines))


def get_format(name: str) -> Format:
    """Look a format up by name (``onnx``, ``tflite``, ``pytorch``)."""
    if name not in FORMATS:
        raise unknown_name("format", name, FORMATS)
    return FORMATS[name]


def parse_format_list(text: str) -> tuple[str, ...]:
    """Parse ``--to onnx,tflite`` into validated export format names, order kept, no repeats."""
    valid = export_formats()
    names = tuple(dict.fromkeys(t.strip().lower() for t in text.split(",") if t.strip()))
    if not names:
        raise UsageError(f"--to needs at least one format (valid: {', '.join(valid)})")
    for n in names:
        if n not in valid:
            raise unknown_name("export format", n, valid)
    return names


def format_for_path(path: str | Path) -> Format:
    """Pick the format of a model file from its suffix, then check its first bytes agree.

    Raises:
        ModelFileError: The file is missing, empty, has an unknown suffix, or its content is
            not what the suffix says.
    """
    path = Path(path)
    by_suffix = {s: f for f in FORMATS.values() for s in f.suffixes}
    fmt = by_suffix.get(path.suffix.lower())
    if fmt is None:
        raise ModelFileError(
            f"'{shown(path)}' has suffix '{path.suffix}', which is not a model format edgeres reads "
            f"(valid: {', '.join(sorted(by_suffix))})"
        )
    if not path.is_file():
        raise ModelFileError(f"model file '{shown(path)}' does not exist")
    with path.open("rb") as fh:
        head = fh.read(16)
    if not head:
        raise ModelFileError(f"model file '{shown(path)}' is empty")
    if not fmt.magic(head, False):
        actual = next(
            (f.name for f in FORMATS.values() if f is not fmt and f.magic(head, True)), None
        )
        hint = f"; its content looks like {actual}, rename it" if actual else ""
        raise ModelFileError(f"'{shown(path)}' is not a valid {fmt.name} file{hint}")
    for companion in fmt.files(path)[1:]:
        if not companion.is_file():
            raise ModelFileError(
                f"'{shown(path)}' is a {fmt.name} model, which comes with '{shown(companion.name)}' "
                "beside it, and that file is missing; keep the files of a model together"
            )
    return fmt


def companion_files(path: str | Path) -> tuple[Path, ...]:
    """The files that belong with a model file (by its suffix; none for one-file formats)."""
    path = Path(path)
    fmt = next((f for f in FORMATS.values() if path.suffix.lower() in f.suffixes), None)
    return fmt.files(path)[1:] if fmt else ()


def read_metadata(path: str | Path) -> ModelInfo | None:
    """The ``ModelInfo`` embedded in any model file edgeres reads (None if it has none)."""
    path = Path(path)
    return format_for_path(path).read_metadata(path)


INT8_TAG = "_int8"


def output_name(
    source: str | Path, fmt: str, int8: bool = False, out_dir: str | Path | None = None
) -> Path:
    """The file ``convert`` (or, with ``int8``, ``quantize``) writes in format ``fmt`` from
    ``source``: ``<out_dir or source's folder>/<stem>[_int8]<suffix>``; the one place this rule is
    written (tune and the demo look for these names)."""
    source = Path(source)
    folder = Path(out_dir) if out_dir is not None else source.parent
    return folder / f"{source.stem}{INT8_TAG if int8 else ''}{FORMATS[fmt].suffix}"
