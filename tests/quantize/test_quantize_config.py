"""``QuantizeConfig``: the quantize flags checked on creation, each error naming its flag."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from edgeres.cli import main
from edgeres.configs import build
from edgeres.errors import UsageError
from edgeres.quantize.options import QuantizeConfig


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--eval-limit", "0"], "--eval-limit must be at least 1"),
        (["--std", "a,b,c"], "--std needs three comma-separated numbers"),
        (["--max-drop", "-1"], "--max-drop must be between 0 and 100 accuracy points, got -1"),
        (["--max-drop", "101"], "--max-drop must be between 0 and 100 accuracy points, got 101"),
        (["--max-drop", "nan"], "--max-drop must be between 0 and 100 accuracy points, got nan"),
        (["--method", "median"], "--method 'median' is not one of minmax, entropy, percentile"),
        (["--fallback-layers", "0"], "--fallback-layers must be at least 1"),
        (["--samples", "2"], "--samples 2 is too few"),
    ],
)
def test_bad_flag_is_one_line_exit_2_before_any_file_is_read(fp32_onnx, tmp_path, args, message):
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["quantize", str(fp32_onnx), "--out", str(out), *args])
    errors = [line for line in res.output.splitlines() if line.startswith("error: ")]
    assert res.exit_code == 2 and len(errors) == 1, res.output
    assert message in errors[0] and "Traceback" not in res.output
    assert not out.exists()


def test_text_flags_are_parsed():
    cfg = build(QuantizeConfig, to="ONNX, tflite,onnx", mean="0.5,0.5,0.5", std=(0.25, 0.25, 0.25))
    assert cfg.to == ("onnx", "tflite")
    assert cfg.source.mean == (0.5, 0.5, 0.5) and cfg.source.std == (0.25, 0.25, 0.25)
    assert QuantizeConfig().to is None and QuantizeConfig().source.mean is None


def test_quantizer_checks_run_on_creation():
    # The library names its parameters; the CLI shows them as flags (the test above).
    with pytest.raises(UsageError, match="^samples 2 is too few"):
        QuantizeConfig(samples=2)
    with pytest.raises(UsageError, match="^method 'median'"):
        QuantizeConfig(method="median")
    with pytest.raises(UsageError, match="^std values must be > 0"):
        build(QuantizeConfig, std="1,0,1")
