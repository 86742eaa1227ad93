"""How a model file is run, and what ``predict`` and ``eval`` take: frozen dataclasses.

``RuntimeOptions`` (profile, engine, threads, strict) is declared once and composed into each
command's config; the CLI reads every flag's default and help from these classes, and a config
turns back into the device's flags one way (``edgeres.cli.fields.argv``). Torch-free and light.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeres.errors import ParamError, UsageError, check_number
from edgeres.runtime.base import DEFAULT_TOPK

EVAL_BATCH = 64
PREDICT_BATCH = 32


@dataclass(frozen=True)
class RuntimeOptions:
    """Which engine runs a model file here, and how.

    From Python, ``profile`` may also be a loaded ``Profile``.

    Attributes:
        profile: Device profile name or YAML file: threads, providers, engine order
            (``--profile``); by default the one matching this machine.
        engine: Inference engine (``--engine``); by default the profile's order, the first one
            installed.
        threads: Engine threads (``--threads``); by default the profile's.
        strict: Fail instead of falling back when a provider or delegate is missing
            (``--strict``).
    """

    profile: Any = None
    engine: str | None = None
    threads: int | None = None
    strict: bool = False

    def __post_init__(self) -> None:
        check_number(self.threads, "threads", 1)

    def load_options(self) -> dict[str, Any]:
        """Keyword arguments of ``runtime.load`` (what was not given is left to the profile)."""
        options: dict[str, Any] = {"profile": self.profile, "engine": self.engine}
        if self.threads is not None:
            options["threads"] = self.threads
        if self.strict:
            options["strict"] = True
        return options


@dataclass(frozen=True)
class PredictConfig:
    """What ``edgeres predict`` classifies and how.

    Attributes:
        model: The model file.
        images: Image files, or folders of them.
        topk: Classes to show per image (``--topk``).
        out: Write one row per image to this .csv or .jsonl as each batch is done (under
            .NAME.RUN.partial until the last image, then published only if the name is still
            free) (``--out``).
        force: Replace an existing --out file (``--force``).
        batch_size: Images per inference call (``--batch-size``).
        workers: Processes that decode and resize images while the model runs (0: in this
            process; default: min(4, cores - 1); more than the cores is capped) (``--workers``).
        runtime: Profile, engine, threads, strict.
    """

    model: Path
    images: tuple[Path, ...]
    topk: int = DEFAULT_TOPK
    out: Path | None = None
    force: bool = False
    batch_size: int = PREDICT_BATCH
    workers: int | None = None
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)

    def __post_init__(self) -> None:
        object.__setattr__(self, "model", Path(self.model))
        object.__setattr__(self, "images", tuple(Path(p) for p in self.images))
        if not self.images:
            raise UsageError("predict needs at least one image")
        check_number(self.topk, "topk", 1)
        check_number(self.batch_size, "batch_size", 1)
        check_number(self.workers, "workers", 0)
        if self.out is not None:
            object.__setattr__(self, "out", Path(self.out))


@dataclass(frozen=True)
class EvalConfig:
    """What ``edgeres eval`` scores, on which data, and what it writes.

    Attributes:
        model: The model file.
        data: shapes | image folder (one sub-folder per class) | cifar10:DIR (``--data``).
        split: Which split of the data to score (``--split``).
        limit: Use at most N images (``--limit``).
        batch_size: Images per inference call (``--batch-size``).
        workers: Processes that decode and resize images while the model runs (0: in this
            process; default: min(4, cores - 1); more than the cores is capped) (``--workers``).
        report_dir: Write per-class precision/recall/F1, the most confused pairs and a
            confusion matrix PNG into this folder (``--report``).
        compare: With --report: a reference model file (e.g. the FP32 one); the report shows the
            images where the two disagree (``--compare``).
        by_index: Score label i as the model's output i, whatever the class names (by default
            classes are matched by name with the file's metadata, and names that differ are
            refused) (``--by-index``).
        runtime: Profile, engine, threads, strict.
    """

    model: Path
    data: str
    split: str = "test"
    limit: int | None = None
    batch_size: int = EVAL_BATCH
    workers: int | None = None
    report_dir: Path | None = None
    compare: Path | None = None
    by_index: bool = False
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)

    def __post_init__(self) -> None:
        object.__setattr__(self, "model", Path(self.model))
        for name in ("report_dir", "compare"):
            if (value := getattr(self, name)) is not None:
                object.__setattr__(self, name, Path(value))
        check_number(self.limit, "limit", 1)
        check_number(self.batch_size, "batch_size", 1)
        check_number(self.workers, "workers", 0)
        if self.compare is not None and self.report_dir is None:
            raise ParamError("compare", "needs a report folder: the disagreements go into it")
