"""Every default and help text of the CLI is read from a config dataclass, so they cannot drift."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from edgeres.bench.config import BenchConfig
from edgeres.cli import main
from edgeres.cli.fields import FieldOption, field_default, field_help
from edgeres.convert import convert
from edgeres.convert.options import DEFAULT_OPSET
from edgeres.quantize import quantize
from edgeres.quantize.options import QuantizeConfig, QuantOptions
from edgeres.runtime.options import EvalConfig, PredictConfig
from edgeres.stream.pipeline import StreamConfig
from edgeres.train.config import TrainConfig

# Defaults still typed in the CLI: demo's own folder.
TYPED_IN_THE_CLI = {("demo", "out")}


def _options():
    for name, cmd in main.commands.items():
        for param in cmd.params:
            if isinstance(param, click.Option) and param.name != "help":
                yield name, param


def _has_default(cmd: str, opt: click.Option) -> bool:
    default = opt.get_default(click.Context(main.commands[cmd]), call=False)
    return isinstance(default, (str, int, float, tuple, Path)) and default is not False


def _parsed_default(cmd: str, opt: click.Option):
    """The value click hands the command when the flag is not given."""
    ctx = click.Context(main.commands[cmd])
    return opt.type_cast_value(ctx, opt.get_default(ctx, call=True))


def _as_typed(value):
    """A field default as the command line spells it (a tuple: ``a,b``; a path: its text)."""
    if isinstance(value, tuple):
        return ",".join(map(str, value)) or None
    return str(value) if isinstance(value, Path) else value


def test_field_options_take_the_default_and_help_of_their_field():
    # The value click parses when the flag is absent, against the dataclass field's own default
    # (not against the cli_default() that field_option used to set it).
    checked = helped = 0
    for cmd, opt in _options():
        if isinstance(opt, FieldOption):
            cls, name = opt.field_source
            if not opt.required:
                parsed = _parsed_default(cmd, opt)
                expected = _as_typed(field_default(cls, name))
                assert _as_typed(parsed) == expected, (cmd, opt.name, parsed, expected)
                checked += expected is not None and expected is not False
            if opt.help and opt.help.startswith(field_help(cls, name)[:20]):
                helped += 1
    assert checked > 15 and helped > 40


def test_no_other_default_is_typed_in_the_cli():
    typed = {
        (cmd, opt.name)
        for cmd, opt in _options()
        if not isinstance(opt, FieldOption) and _has_default(cmd, opt)
    }
    assert typed == TYPED_IN_THE_CLI


@pytest.mark.parametrize(
    ("command", "option", "expected"),
    [
        ("train", "epochs", TrainConfig().epochs),
        ("train", "batch_size", TrainConfig().batch_size),
        ("train", "lr", TrainConfig().lr),
        ("train", "weight_decay", TrainConfig().weight_decay),
        ("demo", "epochs", TrainConfig().epochs),
        ("convert", "opset", DEFAULT_OPSET),
        ("convert", "to", None),  # every format convert writes, read from the table when run
        ("predict", "topk", PredictConfig("m.onnx", ("a.png",)).topk),
        ("eval", "batch_size", EvalConfig("m.onnx", "shapes").batch_size),
        ("eval", "split", EvalConfig("m.onnx", "shapes").split),
        ("quantize", "samples", QuantOptions().samples),
        ("quantize", "method", QuantOptions().method),
        ("quantize", "io", QuantOptions().io),
        ("quantize", "eval_limit", QuantizeConfig().eval_limit),
        ("benchmark", "tolerance", BenchConfig(models=("m.onnx",)).tolerance),
        ("run", "topk", StreamConfig().topk),
        ("run", "smooth", StreamConfig().smooth),
    ],
)
def test_cli_default_equals_the_library_default(command, option, expected):
    opt = next(p for p in main.commands[command].params if p.name == option)
    assert opt.default == expected


@pytest.mark.parametrize(
    ("function", "config"), [(convert, "ConvertConfig"), (quantize, "QuantizeConfig")]
)
def test_convert_and_quantize_take_their_config_and_nothing_else(function, config):
    params = inspect.signature(function).parameters
    assert list(params)[1:] == ["config", "options"]
    assert params["config"].annotation == f"{config} | None"


def test_quantizer_options_share_the_quantize_defaults():
    q, c = QuantOptions(), QuantizeConfig()
    assert (q.calib, q.samples, q.method, q.io) == (c.calib, c.samples, c.method, c.io)
    assert q.per_channel is not c.per_tensor


def test_every_help_works_without_torch():
    code = (
        "import json, sys\n"
        "sys.modules['torch'] = None\n"  # any `import torch` now raises ImportError
        "from click.testing import CliRunner\n"
        "from edgeres.cli import main\n"
        "runs = {c: CliRunner().invoke(main, [c, '--help'] if c else ['--help'])\n"
        "        for c in ['', *main.commands]}\n"
        "print(json.dumps({c: [r.exit_code, 'Example:' in r.output] for c, r in runs.items()}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    assert set(results) == {"", *main.commands}
    assert all(code == 0 for code, _ in results.values()), results
    examples = {c for c, (_, has) in results.items() if has}
    assert examples >= {"train", "convert", "quantize", "benchmark", "run", "demo"}
