"""The command table: one row per command, its config, the API function it calls, and its
device side; ``--remote`` reads the row (``edgeres.cli.remote_opts.on_device``).

Adding a command is a module under ``edgeres/cli/`` that parses, calls its API function and
shows the result, plus one row here (and its module in ``edgeres.cli._COMMAND_MODULES``). A row
with a ``device`` side gets ``--remote`` from ``remote_options`` and one line in its command:
``if remote: return on_device(ctx, remote, config, as_json)``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """One command.

    Attributes:
        name: The command's name.
        config: ``module:Class`` of its config dataclass (``None``: it takes plain flags).
        function: ``module:function`` of the API function it calls.
        local_only: Fields that act on this machine only: refused with ``--remote`` rather than
            dropped.
        local_why: The end of the refusal's sentence (what to do instead).
        here: Fields the device side handles itself, never sent as flags (files copied into the
            device's cache, outputs written and baselines compared here).
        device: ``module:function`` of its device side, called as
            ``device(remote, config, words, as_json)`` with ``words`` the config's other flags
            (``edgeres.cli.fields.argv``); ``None``: no ``--remote``.
    """

    name: str
    config: str | None
    function: str | None
    local_only: tuple[str, ...] = ()
    local_why: str = ""
    here: tuple[str, ...] = ()
    device: str | None = None


_REMOTE = "edgeres.cli.remote_opts"

COMMAND_TABLE: dict[str, Row] = {
    r.name: r
    for r in (
        Row("train", "edgeres.train.config:TrainConfig", "edgeres.api:train"),
        Row("convert", "edgeres.convert.options:ConvertConfig", "edgeres.api:convert"),
        Row("quantize", "edgeres.quantize.options:QuantizeConfig", "edgeres.api:quantize"),
        Row("inspect", "edgeres.formats.source_options:SourceOptions", "edgeres.api:inspect"),
        Row(
            "eval", "edgeres.runtime.options:EvalConfig", "edgeres.api:evaluate",
            local_only=("report_dir", "compare"),
            local_why="the report is written on this machine; run eval --report on the device "
            "itself, or copy the model here",
            here=("profile", "data"), device=f"{_REMOTE}:eval_on_devices",
        ),
        Row(
            "predict", "edgeres.runtime.options:PredictConfig", "edgeres.api:predict",
            local_only=("out", "force"),
            local_why="the rows come back to this machine; use --json > FILE for them",
            here=("profile",), device=f"{_REMOTE}:predict_on_devices",
        ),
        Row(
            "benchmark", "edgeres.bench.config:BenchConfig", "edgeres.api:benchmark",
            here=("profile", "data", "csv", "md", "plot", "save", "baseline", "tolerance",
                  "force"),
            device=f"{_REMOTE}:benchmark_on_devices",
        ),
        Row("tune", "edgeres.tune.sweep:TuneConfig", "edgeres.api:tune"),
        Row(
            "run", "edgeres.stream.app:RunOptions", "edgeres.api:run",
            local_only=("show",),
            local_why="--show opens a window on this machine; with --remote watch the run with --serve",
            here=("model", "source", "profile", "save", "force", "show"),
            device="edgeres.cli.stream_cmds:run_on_device",
        ),
        Row("devices", "edgeres.profiles.listing:DevicesConfig", None,
            device=f"{_REMOTE}:devices_on_devices"),
        Row("doctor", "edgeres.doctor.config:DoctorConfig", None,
            device=f"{_REMOTE}:doctor_on_devices"),
        Row("demo", None, "edgeres.api:demo"),
        Row("fit", "edgeres.fit.config:FitConfig", "edgeres.api:fit"),
        Row("prune", "edgeres.prune.config:PruneConfig", "edgeres.api:prune"),
    )
}  # fmt: skip
