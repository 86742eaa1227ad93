"""Every flag of every ``--remote`` command arrives at the device, or is refused here (issue 21).

The device is the real sshd on 127.0.0.1 with a fake ``edgeres`` in the device venv: it answers
the version/doctor probe, records the argv of every other call and fails it, so nothing is
measured and the test costs one SSH round per command. A round trip over every option of every
remote-capable command (parse -> ``argv`` -> parse) checks the one way flags are rebuilt.
"""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import edgeres
from edgeres.cli import main
from edgeres.cli.bench_cmds import BENCH_HERE, benchmark_config
from edgeres.cli.fields import FieldOption, argv
from edgeres.cli.remote_opts import REMOTE_NAMES
from edgeres.cli.runtime_cmds import (
    EVAL_LOCAL_ONLY,
    PREDICT_LOCAL_ONLY,
    eval_config,
    predict_config,
)

PROBE = ["doctor", "--json", "--no-cameras"]
FAKE = """#!{python}
import json, sys
args = sys.argv[1:]
if args == ["--version"]:
    print("edgeres, version {version}")
elif args == {probe!r}:
    print(json.dumps({{"versions": {{}}, "checks": [], "problems": 0}}))
else:
    with open({log!r}, "a") as f:
        f.write(json.dumps(args) + "\\n")
    sys.exit("error: recorded by the fake device")
"""


def _port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def given(tmp: Path, model: Path, image: Path) -> dict[str, list]:
    """Each command's words: positional arguments, then every option with a non-default value
    (local output paths under ``tmp``)."""
    common = ["--max-image-pixels", "1000000", "--profile", "raspberry-pi-5"]
    common += ["--engine", "openvino", "--threads", "2"]
    return {
        "predict": ["predict", model, image, *common, "--topk", "3", "--strict", "--batch-size", "4",
                    "--workers", "1", "--json"],
        "eval": ["eval", model, "--data", "shapes", "--split", "train", "--limit", "7",
                 "--batch-size", "8", "--workers", "1", *common, "--strict", "--by-index", "--json"],
        "benchmark": ["benchmark", model, *common[:6], "--threads", "1,2", "--runs", "3",
                      "--warmup", "1", "--data", "shapes", "--limit", "5", "--by-index",
                      "--min-time", "0.1", "--warmup-time", "0.2", "--trials", "2", "--pause",
                      "0.3", "--quick", "--ops", "--in-process", "--seed", "7", "--json",
                      "--csv", tmp / "b.csv", "--md", tmp / "b.md", "--plot", tmp / "b.png",
                      "--save", tmp / "b.json", "--tolerance", "5", "--force"],
        "run": ["run", model, *common, "--strict", "--source", "demo", "--save", tmp / "out.mp4", "--force",
                "--segment-seconds", "2", "--json", "--serve", _port(), "--serve-token", "k3y-token-1",
                "--max-frames", "5", "--duration", "3", "--realtime", "--topk", "3", "--smooth",
                "0.5", "--width", "320", "--height", "240", "--fps", "15", "--seed", "7"],
        "devices": ["devices", "raspberry-pi-5", "--json"],
        "doctor": ["doctor", "--json", "--no-cameras", "--peak"],
    }  # fmt: skip


# Options acted on here, never sent: outputs written and the baseline compared on this machine
# (benchmark), the recording copied back (run --force), how results are printed here.
HERE = {
    "benchmark": {"csv", "md", "plot", "save", "baseline", "tolerance", "force"},
    "run": {"force"},
}
# Options refused with --remote (exit 2), each with its words.
REFUSED = {
    "eval": ["--report", "REPORT", "--compare", "MODEL"],
    "predict": ["--out", "REPORT", "--force"],
    "run": ["--show"],
}
# Options that cannot join the others in one call, sent on their own.
ALONE = {"run": ["--serve", "0.0.0.0:8080", "--serve-public"]}
NOT_TESTED_HERE = {"baseline", "serve_public", "show", *EVAL_LOCAL_ONLY, *PREDICT_LOCAL_ONLY}


def options(command: str) -> list[click.Option]:
    params = main.commands[command].params
    skip = {"help", *REMOTE_NAMES}
    return [p for p in params if isinstance(p, click.Option) and p.name not in skip]


@pytest.fixture()
def fake_device(sshd, tmp_path, monkeypatch):
    """Run ``edgeres ARGS --remote dev-a`` here (in this process) against the fake device; its
    result and the calls the device recorded."""
    log = tmp_path / "calls.jsonl"
    venv = tmp_path / "fake-venv"
    (venv / "bin").mkdir(parents=True)
    script = venv / "bin" / "edgeres"
    script.write_text(
        FAKE.format(python=sys.executable, version=edgeres.__version__, probe=PROBE, log=str(log))
    )
    script.chmod(0o755)
    monkeypatch.setenv("EDGERES_SSH_CONFIG", str(sshd.config))
    monkeypatch.setenv("EDGERES_QUIET", "1")

    def run(*args):
        words = [*map(str, args), "--remote", "dev-a", "--remote-venv", str(venv)]
        words += ["--remote-cache", str(tmp_path / "cache")]
        result = CliRunner().invoke(main, words)
        calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        log.unlink(missing_ok=True)
        return result, calls

    return run


def test_every_flag_arrives_or_is_refused(fake_device, fp32_onnx, sample_images, tmp_path):
    for command, words in given(tmp_path, fp32_onnx, sample_images[0]).items():
        proc, calls = fake_device(*words)
        assert len(calls) == 1, (command, proc.output)
        (call,) = calls
        assert call[0] == command and "--json" in call
        for opt in options(command):
            if opt.name in HERE.get(command, ()) or opt.name in NOT_TESTED_HERE:
                continue
            flag = next(w for w in map(str, words) if w in opt.opts or w in opt.secondary_opts)
            assert flag in call, f"{command} {flag} did not arrive: {call}"
            if not opt.is_flag and flag not in ("--profile", "--data", "--source", "--save"):
                value = str(words[words.index(flag) + 1])
                assert _same(call[call.index(flag) + 1], value), (command, flag, call)
    for command, extra in ALONE.items():
        proc, calls = fake_device(command, fp32_onnx, *extra)
        assert len(calls) == 1 and set(extra) <= set(calls[0]), (extra, calls, proc.output)
    for command, extra in REFUSED.items():
        extra = [str(fp32_onnx) if w == "MODEL" else str(tmp_path / w) if w == "REPORT" else w
                 for w in extra]  # fmt: skip
        base = given(tmp_path, fp32_onnx, sample_images[0])[command][
            : 3 if command == "predict" else 2
        ]
        base += ["--data", "shapes"] if command == "eval" else []
        proc, calls = fake_device(*base, *extra)
        assert proc.exit_code == 2 and not calls, (command, proc.output)
        assert proc.exception is None or isinstance(proc.exception, SystemExit)
        assert extra[0] in proc.stderr, proc.output


def _same(a: str, b: str) -> bool:
    try:
        return float(a) == float(b)
    except ValueError:
        return a == b


def test_every_option_is_tried_above():
    """A new option of a remote command must be added to ``given`` (or to a refused list)."""
    assert set(BENCH_HERE) == HERE["benchmark"] | {"profile", "data"}
    words = given(Path("t"), Path("m.onnx"), Path("i.png"))
    for command, used in words.items():
        used = {str(w) for w in used} | {w for r in (*REFUSED.values(), *ALONE.values()) for w in r}
        for opt in options(command):
            if opt.name not in NOT_TESTED_HERE or opt.name in ("show", "serve_public"):
                assert set(opt.opts) & used, f"{command} {opt.opts[0]} is not tried"


BUILDERS = {
    "predict": lambda p: predict_config({k: v for k, v in p.items() if k != "as_json"}),
    "eval": lambda p: eval_config({k: v for k, v in p.items() if k != "as_json"}),
    "benchmark": lambda p: benchmark_config(
        {k: v for k, v in p.items() if k not in ("as_json", *REMOTE_NAMES)}, p["as_json"]
    ),
}


def _parse(command: str, words: list[str]):
    cmd = main.commands[command]
    with cmd.make_context(command, list(words)) as ctx:
        params = {k: v for k, v in ctx.params.items() if k not in REMOTE_NAMES}
    return ctx, BUILDERS[command](params)


@pytest.mark.parametrize("command", sorted(BUILDERS))
def test_argv_round_trip_over_every_option(command, tmp_path):
    words = [str(w) for w in given(tmp_path, Path("m.onnx"), Path("i.png"))[command][1:]]
    if command == "eval":
        words += ["--report", str(tmp_path / "r"), "--compare", "ref.onnx"]
    if command == "predict":
        words += ["--out", str(tmp_path / "p.csv"), "--force"]
    if command == "benchmark":
        words += ["--baseline", "base.json"]
    ctx, config = _parse(command, words)
    n = 2 if command == "predict" else 1
    again = argv(ctx.command, config)
    for opt in ctx.command.params:
        if isinstance(opt, FieldOption) and opt.name not in REMOTE_NAMES:
            assert opt.opts[0] in again, f"{command}: {opt.opts[0]} was not given a new value"
    _, back = _parse(command, [*words[:n], *again, *(["--json"] * bool(config_quiet(config)))])
    assert back == config, again


def config_quiet(config) -> bool:
    return getattr(config, "quiet", False)
