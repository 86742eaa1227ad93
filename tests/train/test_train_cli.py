import json
import subprocess
import sys

from click.testing import CliRunner

from edgeres.cli import main
from edgeres.models import list_models


def _run(*args):
    return CliRunner().invoke(main, list(args))


def test_help_shows_an_example():
    res = _run("train", "--help")
    assert res.exit_code == 0
    assert "Example:" in res.output and "edgeres train --model resnet8" in res.output


def test_help_lists_every_registered_model():
    res = _run("train", "--help")
    assert all(name in res.output for name in list_models())


def test_unknown_model_is_one_line_exit_2(tmp_path):
    res = _run("train", "--model", "resnet9", "--out", str(tmp_path / "x"))
    assert res.exit_code == 2
    assert "unknown model 'resnet9'" in res.output and "resnet8" in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "x" / "model.pt").exists()


def test_unknown_data_name_is_exit_2(tmp_path):
    res = _run(
        "train",
        "--model",
        "test_resnet",
        "--data",
        str(tmp_path / "nope"),
        "--out",
        str(tmp_path / "x"),
    )
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output


def test_existing_run_is_refused_without_force(tiny_ckpt):
    res = _run("train", "--model", "test_resnet", "--out", str(tiny_ckpt.parent))
    assert res.exit_code == 2
    assert "--resume" in res.output and "--force" in res.output


def test_negative_seed_names_the_flag(tmp_path):
    res = _run("train", "--model", "test_resnet", "--seed", "-1", "--out", str(tmp_path / "r"))
    assert res.exit_code == 2 and res.output == "error: --seed must be >= 0, got -1\n", res.output


def test_out_that_is_a_file_is_one_line_exit_2(tmp_path):
    (tmp_path / "notes.txt").write_text("mine\n")
    for out in ("notes.txt", "notes.txt/run"):
        res = _run("train", "--model", "test_resnet", "--out", str(tmp_path / out))
        assert res.exit_code == 2 and res.output.startswith("error: --out "), res.output
        assert "is a file" in res.output and len(res.output.strip().splitlines()) == 1
    assert (tmp_path / "notes.txt").read_text() == "mine\n"


def test_cli_trains_and_prints_json(tmp_path):
    out = tmp_path / "r"
    res = _run(
        "train", "--model", "test_resnet", "--out", str(out), "--epochs", "1",
        "--limit", "200", "--eval-limit", "50", "--json",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["model"] == "test_resnet"


def test_python_dash_m_entry_point():
    proc = subprocess.run(
        [sys.executable, "-m", "edgeres", "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and "train" in proc.stdout


def test_debug_flag_shows_the_traceback(tmp_path):
    res = _run("--debug", "train", "--model", "resnet9", "--out", str(tmp_path / "x"))
    assert res.exit_code != 0 and res.exception is not None


def test_full_disk_is_one_line_and_leaves_no_checkpoint(tmp_path, fsize_limited_cli):
    out = tmp_path / "run"
    args = ["train", "--model", "test_resnet", "--data", "shapes", "--out", str(out)]
    tiny = ["--epochs", "1", "--limit", "200", "--eval-limit", "50", "--threads", "1"]
    r = fsize_limited_cli([*args, *tiny], 20_000, tmp_path)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert "error: no space left on the device writing" in r.stderr and "model.pt" in r.stderr
    assert not (out / "model.pt").exists()
