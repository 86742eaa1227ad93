"""The study underneath ``fit``: Optuna's, stored so a killed search resumes and several processes
(or machines) share one.

Two studies live in one storage. The main one has two objectives (validation accuracy up, INT8
latency down) and a multi-objective TPE sampler; its user attributes hold every candidate's
measured latency, so a second worker or a resumed run measures nothing twice. Optuna's pruners
work on single-objective studies only, so each proxy run also reports its learning curve to a
companion single-objective study (``NAME-proxy``) whose median pruner stops weak runs; a run
stopped there is marked pruned in the main study.
"""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path
from typing import Any

from edgeres.errors import UsageError
from edgeres.fit.config import FitConfig
from edgeres.fit.measure import MeasureError, Target, measure_module
from edgeres.fit.space import Candidate

LATENCY_PREFIX = "latency:"
# A device that drops mid-search: measure once more, then record the candidate as failed.
MEASURE_TRIES = 2


def optuna_module():
    try:
        import optuna
    except ModuleNotFoundError:
        raise UsageError("edgeres fit needs Optuna: pip install 'edgeres[fit]'") from None
    optuna.logging.set_verbosity(logging.WARNING)
    # Heartbeats (a killed worker's trial failed and retried) are marked experimental.
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    return optuna


def storage(cfg: FitConfig, heartbeat: bool = True):
    """The storage object: a journal file, or an RDB URL (SQLite in --out by default);
    ``heartbeat`` for the main study, whose trials ``optimize`` runs."""
    optuna = optuna_module()
    if cfg.is_journal:
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        return JournalStorage(JournalFileBackend(str(cfg.study)))
    if cfg.study is None:
        cfg.out.mkdir(parents=True, exist_ok=True)
    # Heartbeats mark a killed worker's running trial failed, so a resumed study does not wait
    # on it forever; retries give that trial's candidate another go.
    if not heartbeat:
        return optuna.storages.RDBStorage(cfg.storage_url)
    return optuna.storages.RDBStorage(
        cfg.storage_url,
        heartbeat_interval=30,
        grace_period=120,
        heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
            max_retry=1
        ),
    )


def open_studies(cfg: FitConfig):
    """The main (two-objective) study and its single-objective companion, created or loaded."""
    optuna = optuna_module()
    main = optuna.create_study(
        study_name=cfg.study_name,
        storage=storage(cfg),
        directions=["maximize", "minimize"],
        sampler=optuna.samplers.TPESampler(seed=cfg.seed, n_startup_trials=3),
        load_if_exists=True,
    )
    proxy = optuna.create_study(
        study_name=f"{cfg.study_name}-proxy",
        storage=storage(cfg, heartbeat=False),
        direction="maximize",
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0),
        load_if_exists=True,
    )
    return main, proxy


def _measure_one(cand: Candidate, classes: int, target: Target) -> dict[str, Any]:
    from edgeres.models import create_model
    from edgeres.models.registry import model_config
    from edgeres.spec import InputSpec, ModelInfo

    mcfg = model_config(cand.family)
    model = create_model(cand.family, num_classes=classes, **cand.model_args).eval()
    spec = InputSpec(cand.size, cand.size, mean=mcfg.mean, std=mcfg.std)
    info = ModelInfo(cand.family, tuple(str(i) for i in range(classes)), spec)
    error = ""
    for _ in range(MEASURE_TRIES):
        t0 = time.perf_counter()
        try:
            m = measure_module(model, info, {"num_classes": classes, **cand.model_args}, target)
        except MeasureError as e:
            error = str(e)
            continue
        return {**m.to_dict(), "notes": m.notes, "seconds": round(time.perf_counter() - t0, 2)}
    return {"failed": error}


def measure_all(
    study, cands: list[Candidate], classes: int, target: Target, quiet: bool = True
) -> dict[str, dict]:
    """Every candidate's latency, measured here unless the study already holds it."""
    from edgeres.progress import progress

    for cand in progress(cands, quiet=quiet, desc="measuring", unit="candidate"):
        key = LATENCY_PREFIX + cand.key
        if key in study.user_attrs:  # re-read: another worker may have measured it meanwhile
            continue
        study.set_user_attr(key, _measure_one(cand, classes, target))
    attrs = study.user_attrs
    return {c.key: attrs[LATENCY_PREFIX + c.key] for c in cands if LATENCY_PREFIX + c.key in attrs}


def within_budget(cands: list[Candidate], latency: dict[str, dict], budget_ms: float):
    """Candidates measured inside the budget; the message of ``UsageError`` when none is."""
    ok = [c for c in cands if "p50_ms" in latency.get(c.key, {})]
    if not ok:
        reasons = {latency.get(c.key, {}).get("failed", "not measured") for c in cands}
        raise UsageError(f"no candidate could be measured: {'; '.join(sorted(reasons))[:300]}")
    inside = [c for c in ok if latency[c.key]["p50_ms"] <= budget_ms]
    if not inside:
        fastest = min(ok, key=lambda c: latency[c.key]["p50_ms"])
        m = latency[fastest.key]
        raise UsageError(
            f"no candidate meets {budget_ms:g} ms on {m['where']}: the fastest, {fastest.key}, "
            f"takes {m['p50_ms']:.3f} ms ({m['kind']}, {m['engine']}); raise the budget or "
            "search smaller --sizes/--widths"
        )
    return inside


def stored_path(cfg: FitConfig) -> Path | None:
    return None if cfg.study is not None else cfg.out / "study.db"
