"""Model files for the runtime tests, exported once per session from the lead's `tiny_ckpt`.

Every backend x FP32/INT8 x with/without metadata, plus an NCHW TFLite file (litert-torch's
default) beside the NHWC one edgeres exports. Exported here with the engines' own APIs so these
tests do not depend on `edgeres convert`/`quantize`.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

CALIB = 32


def _torch_model(ckpt: Path):
    from edgeres.train.checkpoint import load_checkpoint

    c = load_checkpoint(ckpt)
    return c.model.eval(), c.info


def _shapes(n: int, size: int, split: str = "test"):
    from edgeres.data.shapes import generate

    return generate(n, size, split=split, seed=0)


def _export_onnx(model, info, out: Path) -> Path:
    import onnx
    import torch

    from edgeres.formats.onnx import embed_onnx

    sample = torch.randn(info.spec.with_layout("NCHW").shape(1))
    torch.onnx.export(model, (sample,), str(out), dynamo=True, external_data=False, verbose=False)
    proto = onnx.load(str(out))
    embed_onnx(proto, dataclasses.replace(info, spec=info.spec.with_layout("NCHW")))
    onnx.save(proto, str(out))
    return out


def _quantize_onnx(src: Path, info, out: Path) -> Path:
    import onnxruntime as ort
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    spec = info.spec.with_layout("NCHW")
    images, _ = _shapes(CALIB, spec.height, "calib")
    name = ort.InferenceSession(str(src)).get_inputs()[0].name

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([spec.normalize(images[i : i + 1]) for i in range(len(images))])

        def get_next(self):
            x = next(self.batches, None)
            return None if x is None else {name: x}

    quantize_static(
        str(src),
        str(out),
        Reader(),
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        per_channel=True,
    )
    return out


def _export_tflite(model, info, out: Path, nhwc: bool, int8: bool) -> Path:
    import litert_torch
    import torch

    from edgeres.formats.tflite import embed_tflite

    layout = "NHWC" if nhwc else "NCHW"
    module = litert_torch.to_channel_last_io(model, args=[0]).eval() if nhwc else model
    sample = torch.randn(info.spec.with_layout(layout).shape(1))
    quant_config = None
    if int8:
        module, quant_config = _pt2e(module, sample, info.spec.with_layout(layout))
    data = bytes(litert_torch.convert(module, (sample,), quant_config=quant_config).model_content())
    data = embed_tflite(
        data,
        dataclasses.replace(
            info, spec=info.spec.with_layout(layout), precision="int8" if int8 else "fp32"
        ),
    )
    out.write_bytes(data)
    return out


def _pt2e(module, sample, spec):
    import torch
    from litert_torch.quantize import pt2e_quantizer
    from litert_torch.quantize.quant_config import QuantConfig
    from torchao.quantization.pt2e import quantize_pt2e

    quantizer = pt2e_quantizer.PT2EQuantizer().set_global(
        pt2e_quantizer.get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False)
    )
    m = torch.export.export(module, (sample,)).module()
    m = quantize_pt2e.prepare_pt2e(m, quantizer)
    images, _ = _shapes(CALIB, spec.height, "calib")
    with torch.no_grad():
        for i in range(len(images)):  # the PT2E graph is batch-specialised: calibrate at batch 1
            m(torch.from_numpy(spec.normalize(images[i : i + 1])))
    m = quantize_pt2e.convert_pt2e(m, fold_quantize=False)
    return m, QuantConfig(pt2e_quantizer=quantizer)


def _strip_tflite(src: Path, out: Path) -> Path:
    """A copy without the edgeres entry: what a third-party file looks like."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(src.read_bytes()), 0)
    model.metadata = [m for m in model.metadata or [] if m.name != b"edgeres"]
    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    out.write_bytes(bytes(b.Output()))
    return out


def _strip_onnx(src: Path, out: Path) -> Path:
    import onnx

    proto = onnx.load(str(src))
    del proto.metadata_props[:]
    onnx.save(proto, str(out))
    return out


@pytest.fixture(scope="session")
def rt_ckpt(tmp_path_factory) -> Path:
    """A `test_resnet` checkpoint trained for 20 steps on shapes (real weights and BN statistics).

    Made here rather than taken from the shared `tiny_ckpt` so these tests need only the model
    registry and checkpoint code.
    """
    import torch

    from edgeres.models import create_model, model_config
    from edgeres.spec import InputSpec, ModelInfo
    from edgeres.train.checkpoint import save_checkpoint

    torch.manual_seed(0)
    cfg = model_config("test_resnet")
    spec = InputSpec(cfg.img_size, cfg.img_size, mean=cfg.mean, std=cfg.std)
    model = create_model("test_resnet", num_classes=10)
    images, labels = _shapes(640, cfg.img_size, "train")
    x, y = torch.from_numpy(spec.normalize(images)), torch.from_numpy(labels)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    model.train()
    for _ in range(2):
        for i in range(0, len(x), 64):
            loss = torch.nn.functional.cross_entropy(model(x[i : i + 64]), y[i : i + 64])
            opt.zero_grad()
            loss.backward()
            opt.step()
    info = ModelInfo("test_resnet", tuple(f"class{i}" for i in range(10)), spec)
    return save_checkpoint(
        tmp_path_factory.mktemp("rt_ckpt") / "model.pt", model.eval(), info, {"num_classes": 10}
    )


@pytest.fixture(scope="session")
def rt_models(rt_ckpt, tmp_path_factory) -> dict[str, Path]:
    """Paths by key: pt, onnx, onnx_int8, tflite (NHWC), tflite_int8 (NHWC, int8 I/O),
    tflite_nchw, and *_nometa copies without edgeres metadata."""
    out = tmp_path_factory.mktemp("rt_models")
    model, info = _torch_model(rt_ckpt)
    paths = {"pt": out / "model.pt"}
    shutil.copy(rt_ckpt, paths["pt"])
    paths["onnx"] = _export_onnx(model, info, out / "model.onnx")
    paths["onnx_int8"] = _quantize_onnx(paths["onnx"], info, out / "model_int8.onnx")
    paths["tflite"] = _export_tflite(model, info, out / "model.tflite", nhwc=True, int8=False)
    paths["tflite_nchw"] = _export_tflite(
        model, info, out / "model_nchw.tflite", nhwc=False, int8=False
    )
    paths["tflite_int8"] = _export_tflite(
        model, info, out / "model_int8.tflite", nhwc=True, int8=True
    )
    for key in ("onnx", "onnx_int8"):
        paths[f"{key}_nometa"] = _strip_onnx(paths[key], out / f"third_{key}.onnx")
    for key in ("tflite", "tflite_int8"):
        paths[f"{key}_nometa"] = _strip_tflite(paths[key], out / f"third_{key}.tflite")
    return paths


@pytest.fixture(scope="session")
def shapes_test(rt_models):
    """200 shapes test images at the models' size, as an ImageSet-like object."""
    from edgeres.formats import read_metadata

    size = read_metadata(rt_models["onnx"]).spec.height
    images, labels = _shapes(200, size)
    return _ImageSet(images, labels)


@dataclasses.dataclass
class _ImageSet:
    images: np.ndarray
    labels: np.ndarray
    classes: tuple = ()
    source: str = "shapes"


@pytest.fixture(scope="session")
def sample_images(tmp_path_factory, shapes_test) -> list[Path]:
    """Three PNG files (128x96, so predict has to resize) of shapes test images."""
    import cv2

    out = tmp_path_factory.mktemp("images")
    paths = []
    for i in range(3):
        big = cv2.resize(shapes_test.images[i], (128, 96), interpolation=cv2.INTER_NEAREST)
        paths.append(out / f"img{i}.png")
        cv2.imwrite(str(paths[-1]), big)
    return paths
