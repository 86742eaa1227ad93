"""Quantization that repairs itself.

``--method auto`` quantizes with every calibration method the format's quantizer honours and keeps
the file that agrees best with FP32 on the eval data. When a file misses ``--max-drop``, its layers
are ranked by the SQNR each one loses and kept in float one at a time (``options.exclude``, which
the format's quantizer maps to its own graph) until the gate passes or ``fallback_layers`` layers
are float. Both write what they tried into the format's report.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from edgeres.errors import UsageError
from edgeres.formats import FORMATS, resolve
from edgeres.progress import progress
from edgeres.quantize.evaluate import EvalSet, Score
from edgeres.quantize.options import QuantOptions, QuantSource
from edgeres.quantize.report import Fallback
from edgeres.quantize.sensitivity import rank_by_loss


def choose_method(
    fmt: str, source: QuantSource, out: Path, opts: QuantOptions, data: EvalSet | None
) -> tuple[Path, str, dict[str, dict[str, float]]]:
    """Quantize ``fmt`` with each of its methods; keep the best-agreeing file at ``out``.

    Returns:
        The kept file, its method, and every method's score (accuracy, agreement, drop).
    """
    quant = FORMATS[fmt].quantization
    if data is None:
        raise UsageError("--method auto needs eval data; pass --eval-data shapes|DIR|cifar10:DIR")
    quantizer = resolve(quant.quantizer)
    scores: dict[str, Score] = {}
    for method in quant.methods:
        path = quantizer(
            source, out.with_name(f"{method}-{out.name}"), replace(opts, method=method)
        )
        scores[method] = data.score(path)
    # Ties go to the earlier method in the table (minmax: the cheapest to explain).
    best = max(scores, key=lambda m: (scores[m].agreement, scores[m].accuracy))
    out.with_name(f"{best}-{out.name}").replace(out)
    for method in scores:
        out.with_name(f"{method}-{out.name}").unlink(missing_ok=True)
    return out, best, {m: s.to_dict() for m, s in scores.items()}


def repair(
    fmt: str,
    source: QuantSource,
    path: Path,
    opts: QuantOptions,
    data: EvalSet,
    max_drop: float,
    limit: int,
    start_drop: float | None = None,
) -> tuple[Path, QuantOptions, Fallback]:
    """Keep the most sensitive layers of ``fmt``'s INT8 file in float, one more at a time, until
    it drops at most ``max_drop`` points or ``limit`` layers are float.

    A layer kept in float must not make the file worse: when a step drops more than the file
    before it (``start_drop`` for the first, by more than two eval images), the repair stops
    there, keeps the file before that step and says so in ``Fallback.stopped``.

    Returns:
        The file kept, the options it was made with, and the steps (``unsupported`` set when
        this format's quantizer cannot keep layers in float). The gate decides whether it stays.
    """
    quant = FORMATS[fmt].quantization
    if not quant.float_layers or not quant.layer_errors:
        reason = f"the {fmt} quantizer cannot keep single layers in float"
        return path, opts, Fallback(unsupported=reason)
    measure_layers = resolve(quant.layer_errors)
    quantizer = resolve(quant.quantizer)
    noise = 100 * 2 / max(len(data.labels), 1)
    excluded: list = []
    first, best = path, (path, opts, start_drop)
    fallback = Fallback(latency_ms_int8=quick_latency_ms(path), size_bytes_int8=path.stat().st_size)
    for _ in progress(range(limit), quiet=opts.quiet, desc=f"float layers {fmt}", unit="layer"):
        # Ranked again on each file: a layer kept in float moves the error to its neighbours.
        done = {e.tensor for e in excluded}
        ranked = [
            r
            for r in rank_by_loss(measure_layers(source, best[0], best[1], worst=0))
            if r[0].tensor not in done
        ]
        if not ranked:
            break
        error, loss = ranked[0]
        excluded.append(error)
        opts = replace(opts, exclude=tuple(e.tensor for e in excluded))
        path = quantizer(source, first.with_name(f"float{len(excluded)}-{first.name}"), opts)
        score = data.score(path)
        fallback.steps.append({"layer": error.layer, "sqnr_lost_db": loss, **score.to_dict()})
        if best[2] is not None and score.drop_pts > best[2] + noise:
            fallback.stopped = (
                f"keeping {error.layer} in float made the drop worse "
                f"({best[2]:+.2f} -> {score.drop_pts:+.2f} pts); stopped there"
            )
            excluded.pop()
            break
        best = (path, opts, score.drop_pts)
        if score.drop_pts <= max_drop:
            break
    path, opts, drop = best
    fallback.layers = [e.layer for e in excluded]
    fallback.passed = drop is not None and bool(excluded) and drop <= max_drop
    fallback.latency_ms = quick_latency_ms(path) if excluded else fallback.latency_ms_int8
    return path, opts, fallback


def quick_latency_ms(path: Path) -> float:
    """Median batch latency of ``path`` on its default engine: a short, rough measurement to
    show what float layers cost (``edgeres benchmark`` measures properly)."""
    from edgeres import runtime
    from edgeres.bench.timing import measure
    from edgeres.profiles import Budget

    budget = Budget(
        warmup_runs=5, warmup_seconds=0.1, min_runs=30, min_seconds=0.3, trials=1, pause_seconds=0
    )
    with runtime.load(path) as backend:
        x = np.zeros(backend.spec.shape(backend.fixed_batch or 1), np.float32)
        timing = measure(lambda: backend.infer(x), budget)
    return round(float(np.median(timing.samples_ns)) / 1e6, 4)
