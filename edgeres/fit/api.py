"""``edgeres fit`` as a library function: measure, search, train the winner, report."""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeres.errors import OutputExistsError
from edgeres.fileio import atomic_write_text
from edgeres.fit.config import FitConfig
from edgeres.fit.measure import Target
from edgeres.text import shown


@dataclass
class FitResult:
    """What ``fit`` found (``to_dict()`` is ``--json``'s document)."""

    out: Path
    budget_ms: float
    target: str
    candidates: int
    within_budget: int
    chosen: dict[str, Any]
    pareto: list[dict[str, Any]]
    trials: dict[str, int]
    seconds: dict[str, float]
    command: str
    train_command: str
    files: list[str] = field(default_factory=list)
    int8_passed: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, Path) else v for k, v in self.__dict__.items()}


def _target(cfg: FitConfig) -> Target:
    remote = None
    if cfg.remote is not None:
        from edgeres.remote.config import RemoteConfig

        remote = RemoteConfig(remote=cfg.remote)
    return Target(
        profile=cfg.profile, remote=remote, threads=cfg.measure_threads,
        min_time=cfg.measure_time, trials=2,
    )  # fmt: skip


def _classes(cfg: FitConfig) -> int:
    from edgeres.data import open_split

    return len(open_split(cfg.data, "train", 32, limit=cfg.limit).classes)


def fit(cfg: FitConfig) -> FitResult:
    """Search the registry's families x options x sizes for the most accurate network whose INT8
    latency on the target is within the budget; train it fully, quantize it and tune it.

    Raises:
        UsageError: No candidate meets the budget (the message gives the fastest one's
            latency), unknown families, bad options.
    """
    from edgeres.fit import search as search_mod
    from edgeres.fit import study as study_mod
    from edgeres.fit.report import rows, write_all
    from edgeres.fit.space import candidates

    if (cfg.out / "fit.json").exists() and not cfg.force:
        raise OutputExistsError(
            f"'{shown(cfg.out)}' holds a finished fit (fit.json); pass --force to search on and "
            "replace its report and winner, or choose another --out"
        )
    t0 = time.perf_counter()
    cands = candidates(cfg.families, cfg.sizes, cfg.widths)
    target = _target(cfg)
    main, proxy = study_mod.open_studies(cfg)
    latency = study_mod.measure_all(main, cands, _classes(cfg), target, cfg.quiet)
    inside = study_mod.within_budget(cands, latency, cfg.budget_ms)
    t_measured = time.perf_counter()
    search_mod.search(cfg, main, proxy, inside, latency)
    t_searched = time.perf_counter()
    command = shlex.join(cfg.argv())
    files = write_all(main, cfg.out, cfg.budget_ms, target.where, command)
    table = rows(main)
    best = _winner(table)
    chosen, passed = ({}, True) if cfg.search_only else _train_winner(cfg, best, files)
    result = FitResult(
        out=cfg.out,
        budget_ms=cfg.budget_ms,
        target=target.where,
        candidates=len(cands),
        within_budget=len(inside),
        chosen={**best, **chosen},
        pareto=[r for r in table if r["pareto"]],
        trials=_counts(table),
        seconds=_seconds(latency, table, t0, t_measured, t_searched),
        command=command,
        train_command=_train_command(cfg, best),
        files=[str(f) for f in files],
        int8_passed=passed,
    )
    atomic_write_text(cfg.out / "fit.json", json.dumps(result.to_dict(), indent=2) + "\n")
    return result


def _winner(table: list[dict]) -> dict[str, Any]:
    """The most accurate Pareto trial (every one is within budget); the faster on a tie."""
    front = [r for r in table if r["pareto"]]
    if not front:
        from edgeres.errors import UsageError

        raise UsageError("the search finished no trial; raise --trials or --proxy-epochs")
    return max(front, key=lambda r: (r["val_accuracy"], -r["latency_ms"]))


def _counts(table: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in table:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    return counts


def _seconds(latency: dict, table: list[dict], t0: float, t1: float, t2: float) -> dict:
    """Where the time went: measuring (this run's share and the study's total), training."""
    measured = sum(v.get("seconds", 0.0) for v in latency.values())
    trained = sum(r["train_seconds"] or 0.0 for r in table)
    return {
        "measure_phase": round(t1 - t0, 1),
        "search_phase": round(t2 - t1, 1),
        "measuring_total": round(measured, 1),
        "proxy_training_total": round(trained, 1),
    }


def _parse(key: str) -> tuple[str, dict[str, Any], int]:
    family, *parts = key.split(",")
    opts = dict(p.split("=", 1) for p in parts)
    size = int(opts.pop("size"))
    return family, {k: float(v) if "." in v else int(v) for k, v in opts.items()}, size


def _train_command(cfg: FitConfig, best: dict) -> str:
    family, opts, size = _parse(best["candidate"])
    words = ["edgeres", "train", "--model", family, "--img-size", str(size)]
    for k, v in opts.items():
        words += [f"--{k}", f"{v:g}" if isinstance(v, float) else str(v)]
    words += ["--data", cfg.data, "--out", str(cfg.out / "chosen")]
    return shlex.join(words)


def _train_winner(cfg: FitConfig, best: dict, files: list[Path]) -> tuple[dict, bool]:
    """The winner trained fully, quantized with the gate, and tuned here (profile.yaml)."""
    from edgeres.quantize import QuantizeConfig, quantize
    from edgeres.train import TrainConfig, train

    family, opts, size = _parse(best["candidate"])
    out = cfg.out / "chosen"
    tcfg = TrainConfig(
        model=family, model_args=opts, img_size=size, data=cfg.data, out=out,
        epochs=cfg.epochs, limit=cfg.limit, eval_limit=cfg.eval_limit, teacher=cfg.teacher,
        seed=cfg.seed, threads=cfg.threads, force=True, quiet=cfg.quiet,
    )  # fmt: skip
    metrics = train(tcfg).metrics
    qcfg = QuantizeConfig(
        calib=cfg.data, eval_data=cfg.data, eval_limit=cfg.eval_limit or 1000,
        max_drop=cfg.max_drop, out_dir=out, force=True, quiet=cfg.quiet,
    )  # fmt: skip
    q = quantize(out / "model.pt", qcfg)
    files += [out / "model.pt", *q.outputs.values()]
    chosen = {"test_accuracy_fp32": metrics["test_accuracy"], "int8": {}}
    report = q.report.to_dict() if q.report is not None else {}
    chosen["int8"] = {k: str(v) for k, v in q.outputs.items()}
    chosen["int8_report"] = {
        k: report.get(k) for k in ("passed", "fp32_accuracy", "formats") if k in report
    }
    if q.outputs and cfg.remote is None:
        files.append(_tune(cfg, out, list(q.outputs.values())))
    return chosen, q.passed


def _tune(cfg: FitConfig, out: Path, files: list[Path]) -> Path:
    from edgeres.tune.report import write_outputs
    from edgeres.tune.sweep import TuneConfig, tune

    tcfg = TuneConfig(
        targets=tuple(files), profile=cfg.profile, threads=cfg.measure_threads,
        min_time=cfg.measure_time, save=out / "profile.yaml", force=True, quiet=True,
    )  # fmt: skip
    write_outputs(tune(tcfg, files), tcfg)
    return out / "profile.yaml"
