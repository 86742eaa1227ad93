"""``.pt2`` files that would exhaust time or memory, or fail, while loading: each ends in one line."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from test_byom import cli, one_line_error


@pytest.fixture(scope="module")
def free_pt2(tmp_path_factory) -> Path:
    """A program with a free batch and image size: its graph holds sympy shape expressions."""
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1),
                              torch.nn.Flatten(), torch.nn.Linear(4, 2)).eval()  # fmt: skip
    side = torch.export.Dim("side", min=8, max=64)
    ep = torch.export.export(net, (torch.randn(2, 3, 16, 16),),
                             dynamic_shapes=({0: torch.export.Dim("b", max=8), 2: side, 3: side},))  # fmt: skip
    path = tmp_path_factory.mktemp("pt2") / "free.pt2"
    torch.export.save(ep, str(path))
    return path


def _rewritten(src: Path, dst: Path, change) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            zout.writestr(item, change(item.filename, zin.read(item)))
    return dst


_SYMBOL_EXPR = re.compile(rb"\"expr_str\": \"(Symbol\('s\d+', positive=True, integer=True\))\"")


def _with_bomb(free_pt2: Path, dst: Path, bomb: str) -> Path:
    def change(name, body):
        if "models/" not in name:
            return body
        assert _SYMBOL_EXPR.search(body)
        return _SYMBOL_EXPR.sub(lambda m: b'"expr_str": "' + m[1] + bomb.encode() + b'"', body)

    return _rewritten(free_pt2, dst, change)


@pytest.mark.slow
def test_a_shape_expression_bomb_is_refused_in_bounded_time(free_pt2, tmp_path):
    """``Symbol(...)*10**10**10`` passed the name and character checks and sympy spun at 100%
    CPU without end; a subprocess with a deadline shows the refusal comes at once."""
    bad = _with_bomb(free_pt2, tmp_path / "bomb.pt2", "*10**10**10")
    done = subprocess.run([sys.executable, "-m", "edgeres", "inspect", str(bad)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    assert "is not small arithmetic" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("bomb", "why"),
    [("*Pow(Integer(10), Pow(Integer(10), Integer(10)))", "exponent"),
     ("*Integer(99999999999999999999999999)", "integer over"),
     ("*Pow(Pow(Integer(10), 60), 60)", "power of a power"),
     ("*s0" * 500, "over 400 parts"), ("+(lambda: 0)()", "not small arithmetic")],
)  # fmt: skip
def test_shape_expressions_are_bounded_by_a_grammar(free_pt2, tmp_path, bomb, why):
    from edgeres.errors import ModelFileError
    from edgeres.formats.program_load import screen_archive

    bad = _with_bomb(free_pt2, tmp_path / "bomb.pt2", bomb)
    with pytest.raises(ModelFileError, match=why):
        screen_archive(bad, bad.read_bytes())


def test_real_shape_expressions_still_load(free_pt2):
    res = cli("inspect", free_pt2, "--json")
    assert res.exit_code == 0, res.output


def test_a_pt2_torch_cannot_deserialize_is_one_line_without_torch_logs(free_pt2, tmp_path):
    """torch logged its 15-20-line traceback as warnings, then raised 'check the warnings
    above'; now its logger is silenced and the error line names the cause."""
    import logging

    bad = _rewritten(free_pt2, tmp_path / "v99.pt2",
                     lambda n, b: b.replace(b'"major": 8', b'"major": 99') if "models/" in n else b)  # fmt: skip
    seen: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = seen.append
    logger = logging.getLogger("torch.export")
    logger.addHandler(handler)
    try:
        res = cli("inspect", bad)
    finally:
        logger.removeHandler(handler)
    one_line_error(res, "SerializeError", "schema version", "save it again")
    assert "warnings above" not in res.output and not seen


def test_a_pt2_zip_bomb_is_refused_from_its_directory(free_pt2, tmp_path):
    """Zeros deflated into extra/ (1.75 GiB in a 1.8 MB file peaked at 4 GB): the content an
    archive declares is bounded by its own size, checked before anything is decompressed."""
    from edgeres.errors import ModelFileError
    from edgeres.formats.program_load import read_program

    bomb = tmp_path / "bomb.pt2"
    with zipfile.ZipFile(free_pt2) as zin, zipfile.ZipFile(bomb, "w") as zout:
        for item in zin.infolist():
            zout.writestr(item, zin.read(item))
        top = zin.namelist()[0].partition("/")[0]
        zeros = zipfile.ZipInfo(f"{top}/extra/zeros")
        zeros.compress_type = zipfile.ZIP_DEFLATED
        with zout.open(zeros, "w") as f:
            chunk = bytes(1 << 20)
            for _ in range(160):
                f.write(chunk)
    assert bomb.stat().st_size < 2_000_000
    with pytest.raises(ModelFileError, match=r"declares \d+ bytes of content in a \d+-byte file"):
        read_program(bomb)


def _patched(data: bytes, signature: bytes, offset: int, value: bytes) -> bytes:
    """``data`` with ``value`` written at ``offset`` into every record that has ``signature``."""
    out, at = bytearray(data), data.find(signature)
    while at >= 0:
        out[at + offset : at + offset + len(value)] = value
        at = data.find(signature, at + 1)
    return bytes(out)


def test_archives_zipfile_cannot_read_are_one_line(free_pt2, tmp_path, artifacts_dir):
    """Found by tools/fuzz_files.py: a compression method zipfile lacks (NotImplementedError), a
    directory that claims to span disks (BadZipFile from is_zipfile), a config that is no table."""
    data = free_pt2.read_bytes()
    method = data  # compression method 99 (AES) in the local header and the central directory
    method = _patched(
        _patched(method, b"PK\x03\x04", 8, b"\x63\x00"), b"PK\x01\x02", 10, b"\x63\x00"
    )
    (tmp_path / "method.pt2").write_bytes(method)
    one_line_error(cli("inspect", tmp_path / "method.pt2"), "compression method")
    config = _rewritten(free_pt2, tmp_path / "config.pt2", lambda n, b: b'{"config": 5}'
                        if n.endswith("_weights_config.json") else b)  # fmt: skip
    one_line_error(cli("inspect", config), "weights_config.json", "malformed")
    ckpt = (artifacts_dir / "model.pt").read_bytes()
    disks = _patched(ckpt, b"PK\x05\x06", 4, b"\x01\x00")  # "number of this disk": 1
    disks = _patched(disks, b"PK\x06\x07", 16, b"\x02\x00\x00\x00")  # zip64: "2 disks"
    (tmp_path / "disks.pt").write_bytes(disks)
    one_line_error(cli("inspect", tmp_path / "disks.pt"), "span multiple disks")
    # "version needed to extract" 10.2 in the central directory (fuzz, seed 14): zipfile raises
    # NotImplementedError while reading the directory.
    (tmp_path / "version.pt").write_bytes(_patched(ckpt, b"PK\x01\x02", 6, b"\x66\x00"))
    one_line_error(cli("inspect", tmp_path / "version.pt"), "zip file version")
