"""Device replies against their schema (``edgeres.remote.replies``), with no device: each wrong
shape is one ``RemoteError``, and a seeded fuzz of random JSON shapes and types through every
``--remote`` command's parser and what the CLI then does with the reply (its table, ``--json``,
the benchmark's CSV/Markdown) never raises anything else."""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path

import pytest
from replies_samples import REPLIES, benchmark_reply, reply

from edgeres.bench.config import BenchConfig
from edgeres.bench.report import to_csv, to_markdown
from edgeres.bench.results import BenchmarkReport
from edgeres.bench.session import BenchmarkRun
from edgeres.errors import RemoteError
from edgeres.remote import replies, tables
from edgeres.remote.commands import host_config, host_tags, relabel
from edgeres.remote.fleet import HostResult

SPECS = {
    "predict": replies.PREDICT,
    "eval": replies.EVAL,
    "devices": replies.DEVICES,
    "doctor": replies.DOCTOR,
    "benchmark": replies.BENCHMARK,
}


def consume(command: str, data: bytes) -> str:
    """What the CLI does with a device's reply to ``command``: parse it, show it, print --json."""
    doc = replies.parse(data, SPECS[command], f"'edgeres {command}' on dev")
    if command == "benchmark":
        report = BenchmarkReport.from_dict(doc)
        relabel(report, (Path("m.onnx"),), "dev")
        result = HostResult("dev", BenchmarkRun(report))
        for row in csv.reader(io.StringIO(to_csv(report))):  # no cell a sheet runs
            assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row)
        text = tables.benchmark_text([result]) + to_markdown(report, "x")
        return text + json.dumps(tables.to_json([result], lambda run: run.report.to_dict()))
    if command == "predict":
        for entry in doc["results"]:
            entry["image"] = "a.png"
    result = HostResult("dev", {**doc, "model": "m.onnx"} if command == "eval" else doc)
    text = {
        "predict": tables.predict_text,
        "eval": tables.eval_text,
        "devices": tables.devices_text,
        "doctor": tables.doctor_text,
    }[command]([result])
    return text + json.dumps(tables.to_json([result]))


@pytest.mark.parametrize("command", sorted(SPECS))
def test_valid_replies_are_read(command):
    assert consume(command, json.dumps(reply(command)).encode())


def test_the_benchmark_schema_names_every_required_field():
    """A field added to the report must be added to the schema, or a device reply of the new
    version would fail in ``from_dict`` with a TypeError instead of a checked error."""
    from dataclasses import MISSING, fields

    from edgeres.bench.results import ModelResult
    from edgeres.bench.stats import LatencyStats

    for cls, spec in [
        (BenchmarkReport, replies.BENCHMARK),
        (ModelResult, replies.BENCHMARK["results"][0]),
        (LatencyStats, replies.BENCHMARK["results"][0]["latency"]),
    ]:
        required = {
            f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING
        }
        assert required <= set(spec), (cls.__name__, required - set(spec))


@pytest.mark.parametrize(
    ("command", "doc", "needle"),
    [
        ("predict", {"results": [{"topk": [{"label": "cat", "score": "high"}]}]},
         "results[0].topk[0].score: expected a finite number, got 'high'"),
        ("predict", {"results": "none"}, "results: expected a list"),
        ("eval", {**REPLIES["eval"], "total": 2.5}, "total: expected an int"),
        ("eval", {**REPLIES["eval"], "accuracy": True}, "accuracy: expected a finite number"),
        ("devices", [{"description": "x"}], "'name' is missing"),
        ("doctor", {**REPLIES["doctor"], "checks": [{"status": 1}]}, "checks[0].status"),
        ("benchmark", {**benchmark_reply(), "results": [{"name": None}]}, "results[0]"),
        ("benchmark", [], "expected an object"),
    ],
)  # fmt: skip
def test_wrong_types_are_one_error(command, doc, needle):
    with pytest.raises(RemoteError, match="replied what this edgeres cannot read") as e:
        consume(command, json.dumps(doc).encode())
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_deep_huge_and_not_json_replies():
    deep = b"[" * 200_000 + b"]" * 200_000
    with pytest.raises(RemoteError, match="nested deeper than"):
        consume("devices", deep)
    with pytest.raises(RemoteError, match="nested deeper than"):
        consume("doctor", b'{"versions": ' + b"[" * 40 + b"]" * 40 + b"}")
    with pytest.raises(RemoteError, match="not JSON"):
        consume("eval", b"\xff\xfe garbage")
    with pytest.raises(RemoteError, match="finite number"):
        consume("eval", json.dumps({**REPLIES["eval"], "accuracy": float("nan")}).encode())


def _random_value(rng: random.Random, depth: int = 0):
    kinds = ["int", "float", "str", "bool", "null", "big"] + ["list", "dict"] * (depth < 4)
    kind = rng.choice(kinds)
    if kind == "list":
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if kind == "dict":
        keys = ["name", "label", "score", "results", "topk", "p50_ms", "\x1b[2J", "=1+1"]
        return {rng.choice(keys): _random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}
    return {
        "int": lambda: rng.randint(-(10**6), 10**6),
        "float": lambda: rng.choice([0.0, -1.5, 1e308, 3.25]),
        "str": lambda: rng.choice(["", "x", "\x1b[31mred\n", '=HYPERLINK("x")', "9"]),
        "bool": lambda: rng.random() < 0.5,
        "null": lambda: None,
        "big": lambda: 10**40,
    }[kind]()


def _mutate(rng: random.Random, doc):
    """``doc`` with one random node replaced, one key dropped or the whole reply replaced."""
    if rng.random() < 0.1:
        return _random_value(rng)
    path, node = [], doc
    while isinstance(node, dict | list) and node and rng.random() < 0.75:
        key = rng.choice(list(node)) if isinstance(node, dict) else rng.randrange(len(node))
        path.append((node, key))
        node = node[key]
    if not path:
        return _random_value(rng)
    parent, key = path[-1]
    if isinstance(parent, dict) and rng.random() < 0.3:
        del parent[key]
    else:
        parent[key] = _random_value(rng)
    return doc


@pytest.mark.parametrize("command", sorted(SPECS))
def test_fuzzed_replies_are_read_or_one_error(command):
    rng = random.Random(f"edgeres-{command}")
    outcomes = {"read": 0, "refused": 0}
    for _ in range(300):
        doc = reply(command)
        for _ in range(rng.randint(1, 3)):
            doc = _mutate(rng, doc)
        data = json.dumps(doc).encode()
        try:
            text = consume(command, data)
        except RemoteError as e:
            assert "\n" not in str(e) and len(str(e)) < 400, str(e)
            outcomes["refused"] += 1
        else:
            assert "\x1b" not in text  # device strings reach the terminal escaped
            outcomes["read"] += 1
    assert outcomes["read"] and outcomes["refused"], outcomes  # both paths were taken


def test_per_host_outputs_never_share_a_file():
    hosts = ("root@y.dev", "root_y.dev", "Pi5.local", "pi5.local", "jetson.local")
    tags = host_tags(hosts)
    assert len(set(map(str.lower, tags.values()))) == len(hosts)
    assert tags["jetson.local"] == "jetson.local"  # unchanged where nothing collides
    config = BenchConfig(models=(Path("m.onnx"),), save=Path("b.json"))
    saves = {host_config(config, tags[h]).save for h in hosts}
    assert len(saves) == len(hosts)
