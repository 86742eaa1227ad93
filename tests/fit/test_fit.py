"""edgeres fit on tiny settings: real INT8 files measured on this machine, real proxy training,
a real Optuna study in SQLite shared by real processes.

One study is measured once (the slow part: each candidate exported, quantized and timed) and
copied for the tests that resume it or share it; its stored latencies are reused, as a second
worker or a resumed run reuses them.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from edgeres.cli import main
from edgeres.fit.api import fit
from edgeres.fit.config import FitConfig

pytestmark = pytest.mark.slow

TINY = dict(
    data="shapes", families="test_resnet", sizes="16,24", trials=2, proxy_epochs=2,
    proxy_limit=160, eval_limit=40, measure_threads="1", measure_time=0.05, threads=1,
    quiet=True, search_only=True,
)  # fmt: skip


def _argv(db, out, trials, budget="1000"):
    return [
        "fit", "--data", "shapes", "--families", "test_resnet", "--sizes", "16,24",
        "--trials", str(trials), "--proxy-epochs", "2", "--proxy-limit", "160",
        "--eval-limit", "40", "--measure-threads", "1", "--measure-time", "0.05",
        "--threads", "1", "--search-only", "--latency-ms", budget,
        "--study", f"sqlite:///{db}", "--out", str(out), "--json",
    ]  # fmt: skip


def _finished(db) -> list:
    import optuna

    study = optuna.load_study(study_name="edgeres-fit", storage=f"sqlite:///{db}")
    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return study.get_trials(deepcopy=False, states=done)


def _running(db) -> bool:
    import optuna

    study = optuna.load_study(study_name="edgeres-fit", storage=f"sqlite:///{db}")
    return bool(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)))


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    root = tmp_path_factory.mktemp("fit")
    db = root / "study.db"
    result = fit(FitConfig(**TINY, latency_ms=1000.0, study=f"sqlite:///{db}", out=root / "a"))
    return db, result


def _copy(db, tmp_path):
    shutil.copy(db, tmp_path / "study.db")
    return tmp_path / "study.db"


def test_finds_a_candidate_within_budget_and_writes_table_and_plot(measured):
    _, result = measured
    d = result.to_dict()
    assert d["candidates"] == 2 and d["within_budget"] == 2
    assert d["chosen"]["latency_ms"] <= 1000.0 and d["chosen"]["latency_kind"] == "measured"
    assert d["chosen"]["candidate"].startswith("test_resnet,size=")
    out = result.out
    assert (out / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    assert "| trial | candidate |" in (out / "pareto.md").read_text()
    lines = (out / "pareto.csv").read_text().splitlines()
    assert lines[0].startswith("trial,candidate") and len(lines) == 1 + sum(d["trials"].values())
    assert json.loads((out / "fit.json").read_text())["command"].startswith("edgeres fit ")
    assert d["seconds"]["measuring_total"] > 0


def test_a_budget_below_every_candidate_fails_cleanly(measured, tmp_path):
    db = _copy(measured[0], tmp_path)
    fastest = min(r["latency_ms"] for r in measured[1].to_dict()["pareto"])
    result = CliRunner().invoke(main, _argv(db, tmp_path / "o", 2, budget="0.000001"))
    assert result.exit_code == 2, result.output
    assert "no candidate meets 1e-06 ms" in result.output and "the fastest" in result.output
    assert f"{fastest:.3f} ms (measured" in result.output or "takes" in result.output
    assert "Traceback" not in result.output


def _spawn(db, out, trials):
    cmd = [sys.executable, "-m", "edgeres", *_argv(db, out, trials)]
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def test_a_killed_study_resumes(measured, tmp_path):
    db = _copy(measured[0], tmp_path)
    before = {t.number for t in _finished(db)}
    proc = _spawn(db, tmp_path / "killed", 6)
    deadline = time.monotonic() + 240
    while not _running(db) and time.monotonic() < deadline:
        time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL and len(_finished(db)) < 6  # killed mid-search
    cfg = FitConfig(**{**TINY, "trials": 6}, latency_ms=1000.0, study=f"sqlite:///{db}",
                    out=tmp_path / "resumed")  # fmt: skip
    fit(cfg)
    after = _finished(db)
    assert len(after) >= 6 and before <= {t.number for t in after}


def test_two_workers_share_one_study(measured, tmp_path):
    db = _copy(measured[0], tmp_path)
    procs = [_spawn(db, tmp_path / name, 6) for name in ("w1", "w2")]
    outs = [p.communicate(timeout=400) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err.decode()[-800:]
    trials = _finished(db)
    assert len(trials) >= 6
    workers = {t.user_attrs.get("worker") for t in trials if t.user_attrs.get("worker")}
    assert len(workers) >= 3  # the fixture's process and both workers trained trials
