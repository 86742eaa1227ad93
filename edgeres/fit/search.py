"""The proxy runs: each trial trains one candidate inside the budget for a few epochs, reports
its learning curve to the companion study's pruner, and returns (accuracy, latency).

A candidate the sampler proposes again is trained again (same seed, same data): its repeat
costs a proxy run, and keeps every trial a real measurement of its own."""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from edgeres.fit.config import FitConfig
from edgeres.fit.space import Candidate
from edgeres.fit.study import optuna_module


def _train_proxy(cfg: FitConfig, cand: Candidate, number: int, report) -> dict[str, Any]:
    from edgeres.train import TrainConfig, train

    tcfg = TrainConfig(
        model=cand.family, model_args=cand.model_args, img_size=cand.size, data=cfg.data,
        out=cfg.out / "trials" / f"{number:04d}", epochs=cfg.proxy_epochs,
        limit=cfg.proxy_limit, eval_limit=cfg.eval_limit, seed=cfg.seed, threads=cfg.threads,
        force=True, quiet=True,
    )  # fmt: skip
    return train(tcfg, on_epoch=report).metrics


def objective(cfg: FitConfig, study, proxy, inside: list[Candidate], latency: dict):
    """The function ``study.optimize`` calls; see the module docstring."""
    optuna = optuna_module()
    by_key = {c.key: c for c in inside}

    def run(trial) -> tuple[float, float]:
        key = trial.suggest_categorical("candidate", sorted(by_key))
        ms = latency[key]["p50_ms"]
        trial.set_user_attr("latency", latency[key])
        shadow = proxy.ask()
        trial.set_user_attr("proxy_trial", shadow.number)
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")

        def report(row: dict) -> None:
            shadow.report(row["val_accuracy"], row["epoch"])
            trial.set_user_attr("curve", [*trial.user_attrs.get("curve", []), row["val_accuracy"]])
            if shadow.should_prune():
                raise optuna.TrialPruned(f"stopped at epoch {row['epoch']} by the median pruner")

        t0 = time.perf_counter()
        try:
            metrics = _train_proxy(cfg, by_key[key], trial.number, report)
        except optuna.TrialPruned:
            trial.set_user_attr("train_seconds", round(time.perf_counter() - t0, 2))
            proxy.tell(shadow, state=optuna.trial.TrialState.PRUNED)
            raise
        except BaseException:
            proxy.tell(shadow, state=optuna.trial.TrialState.FAIL)
            raise
        trial.set_user_attr("train_seconds", round(time.perf_counter() - t0, 2))
        trial.set_user_attr("test_accuracy", metrics["test_accuracy"])
        proxy.tell(shadow, metrics["val_accuracy"])
        return float(metrics["val_accuracy"]), ms

    return run


def search(cfg: FitConfig, study, proxy, inside: list[Candidate], latency: dict) -> None:
    """Run trials until the study holds ``cfg.trials`` finished ones (all workers together)."""
    optuna = optuna_module()
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    if len(study.get_trials(deepcopy=False, states=states)) >= cfg.trials:
        return  # resumed after the last trial: only the report and the winner are left
    stop = optuna.study.MaxTrialsCallback(cfg.trials, states=states)
    study.optimize(
        objective(cfg, study, proxy, inside, latency),
        n_trials=cfg.trials,
        callbacks=[stop],
        show_progress_bar=False,
    )
