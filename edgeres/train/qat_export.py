"""INT8 files from a QAT run: model_int8.tflite from the learned graph, model_int8.onnx, a report.

TFLite: the fake-quantized graph itself is converted (weights and every activation range as QAT
learned them). ONNX: the PT2E graph does not export to ONNX, so ONNX Runtime's static QDQ
quantization is run on the QAT-fine-tuned FP32 weights, calibrated on the training images: the
weights have adapted to INT8 rounding, the activation ranges are ORT's own. Both are scored by
the same ``QuantReport`` as ``edgeres quantize`` writes, saved as model_int8_report.json.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from edgeres.convert.tflite import tflite_info
from edgeres.fileio import atomic_write_text, publish
from edgeres.formats import FORMATS, output_name
from edgeres.quantize.evaluate import evaluate, format_report, open_eval
from edgeres.quantize.onnx.static import quantize_onnx
from edgeres.quantize.options import (
    DEFAULT_EVAL_LIMIT,
    DEFAULT_SAMPLES,
    MIN_SAMPLES,
    QuantOptions,
    default_activations,
    int8_info,
)
from edgeres.quantize.report import QuantReport
from edgeres.quantize.source import load_source
from edgeres.quantize.tflite.pt2e import write_pt2e_tflite
from edgeres.text import json_text
from edgeres.train.qat import QATNet

REPORT_FILE = "model_int8_report.json"
RANGES = {
    "tflite": "learned by QAT (the fake-quantized graph converted as trained)",
    "onnx": "ONNX Runtime static calibration of the QAT-fine-tuned FP32 weights",
}


def export_qat(qat: QATNet, state, ckpt: Path, cfg, train_images: np.ndarray) -> QuantReport:
    """Write the INT8 ONNX and TFLite files of a QAT run beside its checkpoint, and the report.

    Args:
        qat: The fine-tuned network.
        state: Its graph state at the best epoch.
        ckpt: The run's model.pt (the fine-tuned FP32 weights).
        cfg: The run's ``TrainConfig``.
        train_images: Training images (BGR uint8), to calibrate ONNX Runtime.
    """
    out = ckpt.parent
    samples = max(MIN_SAMPLES, min(DEFAULT_SAMPLES, len(train_images)))
    with tempfile.TemporaryDirectory(prefix=".edgeres-qat-", dir=out) as tmp:
        stage = Path(tmp)
        source = load_source(ckpt, stage)
        calib = stage / "calib.npy"
        np.save(calib, source.info.spec.preprocess(train_images[:samples]))
        # The same samples in each layout a format's files take (a .npy is in the file's layout).
        by_layout = {source.info.spec.layout: calib}
        for fmt in FORMATS.values():
            if fmt.quantization is not None and fmt.layout not in by_layout:
                spec = source.info.spec.with_layout(fmt.layout)
                by_layout[fmt.layout] = stage / f"calib-{fmt.layout.lower()}.npy"
                np.save(by_layout[fmt.layout], spec.preprocess(train_images[:samples]))
        opts = QuantOptions(
            calib=calib,
            samples=samples,
            per_channel=not cfg.per_tensor,
            activations=default_activations(None),
            quiet=cfg.quiet,
        )
        options = dict(opts.to_dict(), calib="training images", qat=True, ranges=RANGES)
        report = QuantReport(str(ckpt), source.info.name, options)
        staged = {
            "onnx": quantize_onnx(source, output_name(ckpt, "onnx", True, stage), opts),
            "tflite": _tflite(qat, state, source, opts, output_name(ckpt, "tflite", True, stage)),
        }
        for fmt, path in staged.items():
            same = source.fp32_onnx.suffix in FORMATS[fmt].suffixes  # the FP32 file quantized
            size = source.fp32_onnx.stat().st_size if same else None
            fmt_opts = replace(opts, calib=by_layout[FORMATS[fmt].layout])
            report.formats[fmt] = format_report(fmt, path, out / path.name, source, fmt_opts, size)
        limit = cfg.eval_limit or DEFAULT_EVAL_LIMIT
        evaluate(report, open_eval(report, source, cfg.data, limit, cfg.quiet), staged)
        # Train's --force/--resume rules already decided that this run folder is ours to write.
        for fmt, path in staged.items():
            publish(path, out / path.name, overwrite=True, companions=FORMATS[fmt].companions)
    text = json_text(report.to_dict(), indent=2, sort_keys=True) + "\n"
    atomic_write_text(out / REPORT_FILE, text)
    return report


def _tflite(qat: QATNet, state, source, opts: QuantOptions, path: Path) -> Path:
    quant = {k: v for k, v in opts.to_dict().items() if k not in ("activations", "calib")}
    info = tflite_info(int8_info(source, "tflite", dict(quant, method="qat")))
    graph = qat.export_graph(state)
    return write_pt2e_tflite(graph, qat.quantizer, info, source.model, path, opts.io)
