"""``benchmark``, ``eval``, ``predict``, ``devices`` and ``doctor`` on devices over SSH: copy the
files into the device's cache, run the device's own ``edgeres ... --json``, bring the result back.

Every figure comes from the device; its rows say "measured on <profile> (<host>)".
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from pathlib import Path
from typing import Any

from edgeres.bench.baseline import compare, load_baseline
from edgeres.bench.config import BenchConfig
from edgeres.bench.results import BenchmarkReport
from edgeres.bench.session import BenchmarkRun, write_outputs
from edgeres.errors import RemoteError
from edgeres.remote import replies
from edgeres.remote.cache import place_data, place_file, place_profile
from edgeres.remote.config import RemoteConfig
from edgeres.remote.fleet import HostResult, run_fleet
from edgeres.remote.ssh import Transport, Word, last_line, raise_exit, watched_script
from edgeres.runtime.options import EvalConfig, PredictConfig, RuntimeOptions


def device_json(t: Transport, args: list[str | Word], spec: object = replies.ANY) -> Any:
    """Run the device's ``edgeres ARGS`` (stderr streamed) and parse the JSON it prints,
    checked against ``spec`` (see ``edgeres.remote.replies``). The device's command is stopped
    when this one stops waiting (``--remote-timeout``, Ctrl-C, SIGTERM).

    Raises:
        RemoteError: The command exited non-zero, was killed, printed no JSON or JSON that
            does not match ``spec``.
    """
    out = t.run(watched_script(t.config.remote_venv, list(args)), stream=True, watch=True)
    what = f"'edgeres {args[0]}' on {t.host}"
    if out.returncode != 0:
        raise_exit(out, what, "; nothing was saved")
    if not out.stdout.strip():
        raise RemoteError(f"{what} printed no JSON result: {last_line(out.stderr)}")
    return replies.parse(out.stdout, spec, what)


def remote_json(remote: RemoteConfig, args: list[str], spec: object) -> list[HostResult]:
    """Any command that needs no files (``devices``, ``doctor``) on every device; each reply
    is checked against ``spec`` (``replies.DEVICES``, ``replies.DOCTOR``)."""
    return run_fleet(remote, lambda t, info: device_json(t, args, spec))


def remote_predict(
    remote: RemoteConfig, config: PredictConfig, flags: list[str]
) -> list[HostResult]:
    """``predict`` on every device: the model, the images and a profile file are copied into
    its cache; ``flags`` are the config's other flags (``edgeres.cli.fields.argv``)."""

    def job(t: Transport, info: dict) -> dict:
        words = [place_file(t, config.model).word]
        words += [place_file(t, p, "files").word for p in config.images]
        args = ["predict", *words, *flags, *_profile(t, config.runtime), "--json"]
        doc = device_json(t, args, replies.PREDICT)
        if len(doc["results"]) != len(config.images):
            raise RemoteError(
                f"'edgeres predict' on {t.host} answered for {len(doc['results'])} images, "
                f"not the {len(config.images)} sent"
            )
        doc["model"] = str(config.model)
        for entry, path in zip(doc["results"], config.images, strict=True):
            entry["image"] = str(path)
        return doc

    return run_fleet(remote, job)


def remote_eval(remote: RemoteConfig, config: EvalConfig, flags: list[str]) -> list[HostResult]:
    """``eval`` on every device; ``--data`` is copied once (see ``place_data``)."""

    def job(t: Transport, info: dict) -> dict:
        word = place_file(t, config.model).word
        data = place_data(t, config.data)
        profile = _profile(t, config.runtime)
        args = ["eval", word, "--data", data, *flags, *profile, "--json"]
        doc = device_json(t, args, replies.EVAL)
        return {**doc, "model": str(config.model), "data": config.data}

    return run_fleet(remote, job)


def _profile(t: Transport, options: RuntimeOptions) -> list[str | Word]:
    return ["--profile", place_profile(t, options.profile)] if options.profile else []


def remote_benchmark(
    remote: RemoteConfig, config: BenchConfig, flags: list[str]
) -> list[HostResult]:
    """``benchmark`` on every device; each result is a ``BenchmarkRun`` whose outputs
    (``--save``, ``--csv``...) and ``--baseline`` are per device when there are several.
    ``flags``: the config's measuring flags (``edgeres.cli.fields.argv``), the same for all."""
    many = len(remote.hosts) > 1
    tags = host_tags(remote.hosts)
    configs = {h: host_config(config, tags[h] if many else None) for h in remote.hosts}
    baselines = {}
    for host, cfg in configs.items():  # fail before any device is touched
        cfg.check_outputs()
        baselines[host] = load_baseline(cfg.baseline) if cfg.baseline else None

    def job(t: Transport, info: dict) -> BenchmarkRun:
        cfg = configs[t.host]
        words = [place_file(t, m).word for m in cfg.models]
        args = ["benchmark", *words, "--json", *flags]
        if cfg.data:
            args += ["--data", place_data(t, cfg.data)]
        if cfg.profile:
            args += ["--profile", place_profile(t, cfg.profile)]
        report = BenchmarkReport.from_dict(device_json(t, args, replies.BENCHMARK))
        relabel(report, cfg.models, t.name)
        written, failed = write_outputs(report, cfg)
        run = BenchmarkRun(
            report, written, baseline=cfg.baseline, tolerance=cfg.tolerance, failed=failed
        )
        if baselines[t.host] is not None:
            run.comparisons, run.unmatched = compare(baselines[t.host], report, cfg.tolerance)
        return run

    return run_fleet(remote, job)


def host_tags(hosts: tuple[str, ...]) -> dict[str, str]:
    """Each host as a file-name part (``pi@pi5.local`` -> ``pi_pi5.local``), unique among
    ``hosts`` even where two differ only in what a file name cannot hold or in case
    (``root@y.dev`` and ``root_y.dev``: a short hash of the host is added to both)."""
    tags = {h: re.sub(r"[^\w.-]", "_", h) for h in hosts}
    seen: dict[str, int] = {}
    for tag in tags.values():
        seen[tag.lower()] = seen.get(tag.lower(), 0) + 1
    return {
        h: tag if seen[tag.lower()] == 1 else f"{tag}-{hashlib.sha256(h.encode()).hexdigest()[:8]}"
        for h, tag in tags.items()
    }


def host_config(config: BenchConfig, host: str | None) -> BenchConfig:
    """``config`` with each output and the baseline named for ``host`` (``b.json`` ->
    ``b-pi5.local.json``, the host's ``host_tags`` name); unchanged for a single device."""
    if host is None:
        return config
    tag = re.sub(r"[^\w.-]", "_", host)
    names = ("csv", "md", "plot", "save", "baseline")
    per_host = {
        n: p.with_name(f"{p.stem}-{tag}{p.suffix}")
        for n in names
        if (p := getattr(config, n)) is not None
    }
    return dataclasses.replace(config, **per_host)


def relabel(report: BenchmarkReport, models: tuple[Path, ...], host: str) -> None:
    """Say where the figures were measured, and name the local files rather than the cache's."""
    report.label = measured_on(report.profile, report.profile_is_host, report.environment, host)
    local = {m.name: str(m) for m in models}
    for r in report.results:
        r.model = local.get(r.name, r.model)


def measured_on(profile: str, is_host: bool, environment: dict, host: str) -> str:
    """``measured on raspberry-pi-5 (pi5.local)``, or with another profile's settings."""
    if is_host and profile != "host":
        return f"measured on {profile} ({host})"
    cpu = environment.get("cpu_model") or "unknown CPU"
    if is_host:
        return f"measured on {host} ({cpu}, no shipped profile matches it)"
    return f"measured on {host} ({cpu}) with {profile}'s settings"
