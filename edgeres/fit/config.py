"""``edgeres fit``'s options: one frozen dataclass, each field documented, checks naming the flag.
Torch-free, so the CLI builds its options on a device without torch."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edgeres.errors import UsageError, check_number
from edgeres.train.schedule import AUTO, checked_epochs

JOURNAL_SUFFIXES = (".log", ".journal", ".jsonl")


def _tuple(value, kind=str) -> tuple:
    items = value.split(",") if isinstance(value, str) else (value or ())
    return tuple(kind(str(v).strip()) for v in items if str(v).strip())


@dataclass(frozen=True)
class FitConfig:
    """What ``edgeres fit`` searches, where it measures, and where it writes.

    Attributes:
        data: Training data: shapes, an image folder or cifar10:DIR (``--data``).
        out: Folder to write: study.db (by default), pareto.md/.csv/.png, fit.json, chosen/
            (the winner: model.pt, INT8 files, profile.yaml) (``--out``).
        latency_ms: The budget: INT8 latency per image on the target, in ms (``--latency-ms``).
        fps: The budget as frames per second: 1000 / FPS ms (``--fps``).
        profile: Device profile of the target (``--profile``); by default this machine's. A
            profile of another device without --remote gives estimates, labelled so.
        remote: Measure on this board over SSH (``--remote``): HOST or user@host.
        families: Registered families to search, comma-separated (``--families``); by default
            every family of the model registry.
        sizes: Input sizes to search, comma-separated (``--sizes``); by default each family's
            smallest to default size.
        widths: Width multipliers to search where a family has one, comma-separated
            (``--widths``); by default 0.25,0.5,0.75,1.
        trials: Proxy training runs in the study, all workers together (``--trials``).
        proxy_epochs: Epochs of each proxy run; weak runs are stopped earlier by the pruner
            (``--proxy-epochs``).
        proxy_limit: Training images of each proxy run (``--proxy-limit``); by default all.
        epochs: Epochs of the winner's full training, or auto (``--epochs``).
        limit: Training images of the winner's run (``--limit``); by default all.
        eval_limit: Test images of every run (``--eval-limit``).
        study: Where the study lives (``--study``): a database URL (sqlite:///f.db,
            postgresql://...) or a journal file (.log), shared by every fit process given it; by
            default sqlite in --out. Running the same command again resumes it.
        study_name: Name of the study inside the storage (``--study-name``).
        teacher: Distil the winner's full training from this network (``--teacher``).
        max_drop: The winner's INT8 accuracy gate in top-1 points (``--max-drop``).
        threads: torch threads of the training runs (``--threads``); by default the cores.
        measure_threads: Thread counts tune tries when measuring, comma-separated
            (``--measure-threads``); by default 1 up to the cores.
        measure_time: Seconds per timing trial of each candidate (``--measure-time``).
        search_only: Stop after the search: no full training of the winner (``--search-only``).
        seed: Seed of the sampler and the training runs (``--seed``).
        force: Replace a finished fit's report and winner (``--force``).
        quiet: No progress bars (``--json``).
    """

    data: str = "shapes"
    out: Path = Path("runs/fit")
    latency_ms: float | None = None
    fps: float | None = None
    profile: str | None = None
    remote: str | None = None
    families: tuple[str, ...] | str = ()
    sizes: tuple[int, ...] | str = ()
    widths: tuple[float, ...] | str = ()
    trials: int = 20
    proxy_epochs: int = 3
    proxy_limit: int | None = None
    epochs: str | int = AUTO
    limit: int | None = None
    eval_limit: int | None = None
    study: str | None = None
    study_name: str = "edgeres-fit"
    teacher: Path | None = None
    max_drop: float | None = None
    threads: int | None = None
    measure_threads: tuple[int, ...] | str = ()
    measure_time: float = 0.2
    search_only: bool = False
    seed: int = 0
    force: bool = False
    quiet: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "out", Path(self.out))
        if self.teacher is not None:
            object.__setattr__(self, "teacher", Path(self.teacher))
        object.__setattr__(self, "families", _tuple(self.families))
        object.__setattr__(self, "sizes", _tuple(self.sizes, int))
        object.__setattr__(self, "widths", _tuple(self.widths, float))
        object.__setattr__(self, "measure_threads", _tuple(self.measure_threads, int))
        if (self.latency_ms is None) == (self.fps is None):
            raise UsageError("fit needs one budget: --latency-ms MS or --fps N")
        check_number(self.latency_ms, "--latency-ms", 0.0, above=True)
        check_number(self.fps, "--fps", 0.0, above=True)
        check_number(self.trials, "--trials", 1)
        check_number(self.proxy_epochs, "--proxy-epochs", 1)
        check_number(self.measure_time, "--measure-time", 0.0, above=True)
        check_number(self.max_drop, "--max-drop", 0.0)
        for size in self.sizes:
            check_number(size, "--sizes", 8)
        for width in self.widths:
            check_number(width, "--widths", 0.0, above=True, maximum=4.0)
        if self.remote is not None and self.profile is not None:
            raise UsageError("--remote measures on the board itself; leave --profile out")
        checked_epochs(self.epochs)

    @property
    def budget_ms(self) -> float:
        return self.latency_ms if self.latency_ms is not None else 1000.0 / self.fps

    @property
    def storage_url(self) -> str:
        """The study's storage: --study, else sqlite in --out."""
        return self.study or f"sqlite:///{(self.out / 'study.db').resolve()}"

    @property
    def is_journal(self) -> bool:
        return self.study is not None and Path(self.study).suffix in JOURNAL_SUFFIXES

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {k: str(v) if isinstance(v, Path) else v for k, v in d.items()}

    def argv(self) -> list[str]:
        """The ``edgeres fit`` command line that makes this config (the reproducing command)."""
        words = ["edgeres", "fit"]
        defaults = FitConfig(latency_ms=1.0)
        for name, value in self.to_dict().items():
            if name == "quiet" or value == getattr(defaults, name, None) and name != "latency_ms":
                continue
            if value is None or value == () or value is False:
                continue
            flag = "--" + name.replace("_", "-")
            if value is True:
                words.append(flag)
            else:
                text = ",".join(map(str, value)) if isinstance(value, (tuple, list)) else value
                words += [flag, str(text)]
        return words
