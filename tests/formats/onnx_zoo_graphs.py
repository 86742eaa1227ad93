"""Small ONNX graphs of the classic model-zoo classes, written as their exporters wrote them
(Caffe2 at opset 9, IR 3, weights listed as graph inputs; an opset-7 MobileNet with
BatchNormalization's ``spatial`` and Clip's attributes), each a few layers on 8x8 images."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper

SIZE, CLASSES = 8, 5
_rng = np.random.default_rng(0)


def _w(*shape):
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    return (_rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)


def _bn(prefix: str, c: int) -> dict:
    return {
        f"{prefix}_s": 1 + 0.1 * _rng.standard_normal(c).astype(np.float32),
        f"{prefix}_b": 0.1 * _rng.standard_normal(c).astype(np.float32),
        f"{prefix}_m": 0.1 * _rng.standard_normal(c).astype(np.float32),
        f"{prefix}_v": (1 + 0.1 * np.abs(_rng.standard_normal(c))).astype(np.float32),
    }


def _bn_node(x: str, prefix: str, out: str, **attrs):
    ins = [x, f"{prefix}_s", f"{prefix}_b", f"{prefix}_m", f"{prefix}_v"]
    return helper.make_node("BatchNormalization", ins, [out], epsilon=1e-5, **attrs)


def caffe2_model(nodes, weights: dict, out_dims, *, opset: int = 9, first: str = "weight",
                 filled: dict | None = None, ir: int = 3):  # fmt: skip
    """An IR-3 graph listing every weight as a graph input (first or last), ``filled`` weights
    made by ConstantOfShape from an int64 shape initializer (name -> (shape, value))."""
    nodes = list(nodes)
    weights = dict(weights)
    for name, (shape, value) in (filled or {}).items():
        weights[f"{name}__SHAPE"] = np.array(shape, np.int64)
        fill = helper.make_tensor("", TensorProto.FLOAT, [1], [value])
        nodes.insert(0, helper.make_node("ConstantOfShape", [f"{name}__SHAPE"], [name], value=fill))
    inits = [numpy_helper.from_array(v, k) for k, v in weights.items()]
    image = helper.make_tensor_value_info("data_0", TensorProto.FLOAT, [1, 3, SIZE, SIZE])
    listed = [helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in inits]
    inputs = [*listed, image] if first == "weight" else [image, *listed]
    out = helper.make_tensor_value_info("prob_1", TensorProto.FLOAT, out_dims)
    graph = helper.make_graph(nodes, "zoo", inputs, [out], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = ir
    return model


def resnet():
    """Caffe2 ResNet: BN, Sum of three, AveragePool, Reshape to [1, -1], Gemm, Softmax;
    biases from ConstantOfShape; the image the first input (weights after it)."""
    nodes = [
        helper.make_node("Conv", ["data_0", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        _bn_node("c1", "bn1", "n1"),
        helper.make_node("Relu", ["n1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], pads=[1, 1, 1, 1]),
        _bn_node("c2", "bn2", "n2"),
        helper.make_node("Conv", ["data_0", "w3"], ["c3"]),
        helper.make_node("Sum", ["n2", "c3", "r1"], ["s"]),
        helper.make_node("Relu", ["s"], ["r2"]),
        helper.make_node("AveragePool", ["r2"], ["p"], kernel_shape=[SIZE, SIZE]),
        helper.make_node("Reshape", ["p", "flat"], ["f"]),
        helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["g"], transB=1),
        helper.make_node("Softmax", ["g"], ["prob_1"]),
    ]
    weights = {"w1": _w(8, 3, 3, 3), "w2": _w(8, 8, 3, 3), "w3": _w(8, 3, 1, 1),
               **_bn("bn1", 8), **_bn("bn2", 8), "flat": np.array([1, -1], np.int64),
               "fc_w": _w(CLASSES, 8)}  # fmt: skip
    filled = {"b1": ([8], 0.05), "fc_b": ([CLASSES], 0.01)}
    return caffe2_model(nodes, weights, [1, CLASSES], first="image", filled=filled)


def squeezenet():
    """SqueezeNet: the first input an initializer, a fire module (Concat over channels),
    Dropout, a 1x1 conv to the classes, GlobalAveragePool, Softmax: N x C x 1 x 1 out."""
    nodes = [
        helper.make_node("Conv", ["data_0", "sq_w", "sq_b"], ["sq"]),
        helper.make_node("Relu", ["sq"], ["sqr"]),
        helper.make_node("Conv", ["sqr", "e1_w"], ["e1"]),
        helper.make_node("Conv", ["sqr", "e3_w"], ["e3"], pads=[1, 1, 1, 1]),
        helper.make_node("Concat", ["e1", "e3"], ["cat"], axis=1),
        helper.make_node("Relu", ["cat"], ["catr"]),
        helper.make_node("MaxPool", ["catr"], ["mp"], kernel_shape=[3, 3], strides=[2, 2]),
        helper.make_node("Dropout", ["mp"], ["d"], ratio=0.5),
        helper.make_node("Conv", ["d", "cls_w", "cls_b"], ["cls"]),
        helper.make_node("GlobalAveragePool", ["cls"], ["gap"]),
        helper.make_node("Softmax", ["gap"], ["prob_1"]),
    ]
    weights = {"sq_b": 0.1 * _w(4), "sq_w": _w(4, 3, 1, 1), "e1_w": _w(6, 4, 1, 1),
               "e3_w": _w(6, 4, 3, 3), "cls_w": _w(CLASSES, 12, 1, 1)}  # fmt: skip
    return caffe2_model(nodes, weights, [1, CLASSES, 1, 1], filled={"cls_b": ([CLASSES], 0.02)})


def shufflenet():
    """ShuffleNet: grouped 1x1 conv, channel shuffle (Reshape, Transpose, Reshape), depthwise
    conv, Sum with the shortcut, Concat with a pooled branch, Gemm."""
    g, c = 2, 8
    nodes = [
        helper.make_node("Conv", ["data_0", "w0"], ["x0"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["x0"], ["x"]),
        helper.make_node("Conv", ["x", "gw"], ["gc"], group=g),
        helper.make_node("Reshape", ["gc", "shape5"], ["r5"]),
        helper.make_node("Transpose", ["r5"], ["t5"], perm=[0, 2, 1, 3, 4]),
        helper.make_node("Reshape", ["t5", "shape4"], ["shuf"]),
        helper.make_node("Conv", ["shuf", "dw"], ["dwc"], group=c, pads=[1, 1, 1, 1]),
        helper.make_node("Sum", ["dwc", "x"], ["s"]),
        helper.make_node("AveragePool", ["x"], ["px"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Concat", ["s", "px"], ["cat"], axis=1),
        helper.make_node("GlobalAveragePool", ["cat"], ["gap"]),
        helper.make_node("Flatten", ["gap"], ["f"]),
        helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["g"], transB=1),
        helper.make_node("Softmax", ["g"], ["prob_1"]),
    ]
    weights = {"w0": _w(c, 3, 3, 3), "gw": _w(c, c // g, 1, 1), "dw": _w(c, 1, 3, 3),
               "shape5": np.array([1, g, c // g, SIZE, SIZE], np.int64),
               "shape4": np.array([1, c, SIZE, SIZE], np.int64),
               "fc_w": _w(CLASSES, 2 * c), "fc_b": _w(CLASSES)}  # fmt: skip
    return caffe2_model(nodes, weights, [1, CLASSES])


def googlenet():
    """AlexNet / GoogLeNet: LRN (sizes 5 and 3), old Pad (attributes), the 7x7
    AveragePool padded [0, 0, 1, 1] with the padding out of the count, Dropout, Gemm."""
    nodes = [
        helper.make_node("Pad", ["data_0"], ["pad"], pads=[0, 0, 1, 1, 0, 0, 1, 1], value=0.0),
        helper.make_node("Conv", ["pad", "w1"], ["c1"]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("LRN", ["r1"], ["l1"], size=5, alpha=1e-2, beta=0.75, bias=1.0),
        helper.make_node("LRN", ["l1"], ["l2"], size=3, alpha=2e-2, beta=0.5, bias=2.0),
        helper.make_node("AveragePool", ["l2"], ["p"], kernel_shape=[7, 7], pads=[0, 0, 1, 1]),
        helper.make_node("Dropout", ["p"], ["d"], ratio=0.4),
        helper.make_node("Reshape", ["d", "flat"], ["f"]),
        helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["g"], transB=1),
        helper.make_node("Softmax", ["g"], ["prob_1"]),
    ]
    out = SIZE - 6 + 1  # 8 px, padded to 10, conv 3x3 -> 8; pool 7, padded by 1 -> 3
    weights = {"w1": _w(6, 3, 3, 3), "flat": np.array([1, -1], np.int64),
               "fc_w": _w(CLASSES, 6 * out * out), "fc_b": _w(CLASSES)}  # fmt: skip
    return caffe2_model(nodes, weights, [1, CLASSES])


def densenet():
    """DenseNet: BatchNormalization then Mul/Add by Unsqueeze'd ConstantOfShape scales, dense
    Concat, GlobalAveragePool, a 1x1 conv classifier: N x C x 1 x 1 out, no Softmax."""
    nodes = [
        helper.make_node("Conv", ["data_0", "w0"], ["x0"], pads=[1, 1, 1, 1]),
        _bn_node("x0", "bn", "n"),
        helper.make_node("Unsqueeze", ["scale"], ["scale_u"], axes=[1, 2]),
        helper.make_node("Unsqueeze", ["shift"], ["shift_u"], axes=[1, 2]),
        helper.make_node("Mul", ["n", "scale_u"], ["m"]),
        helper.make_node("Add", ["m", "shift_u"], ["a"]),
        helper.make_node("Relu", ["a"], ["r"]),
        helper.make_node("Conv", ["r", "w1"], ["x1"], pads=[1, 1, 1, 1]),
        helper.make_node("Concat", ["x0", "x1"], ["cat"], axis=1),
        helper.make_node("GlobalAveragePool", ["cat"], ["gap"]),
        helper.make_node("Conv", ["gap", "fc_w", "fc_b"], ["prob_1"]),
    ]
    weights = {"w0": _w(6, 3, 3, 3), **_bn("bn", 6), "w1": _w(4, 6, 3, 3),
               "fc_w": _w(CLASSES, 10, 1, 1), "fc_b": _w(CLASSES)}  # fmt: skip
    filled = {"scale": ([6], 1.5), "shift": ([6], 0.1)}
    return caffe2_model(nodes, weights, [1, CLASSES, 1, 1], filled=filled)


def mobilenet():
    """An opset-7 MobileNet: depthwise separable convs, BatchNormalization with ``spatial``,
    Clip with min/max attributes (ReLU6), GlobalAveragePool, Flatten, Gemm."""
    nodes = [
        helper.make_node("Conv", ["data_0", "w0"], ["c0"], pads=[1, 1, 1, 1], strides=[2, 2]),
        _bn_node("c0", "bn0", "n0", spatial=1),
        helper.make_node("Clip", ["n0"], ["r0"], min=0.0, max=6.0),
        helper.make_node("Conv", ["r0", "dw"], ["c1"], pads=[1, 1, 1, 1], group=8),
        _bn_node("c1", "bn1", "n1", spatial=1),
        helper.make_node("Clip", ["n1"], ["r1"], min=0.0, max=6.0),
        helper.make_node("Conv", ["r1", "pw"], ["c2"]),
        helper.make_node("GlobalAveragePool", ["c2"], ["gap"]),
        helper.make_node("Flatten", ["gap"], ["f"]),
        helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["prob_1"], transB=1),
    ]
    weights = {"w0": _w(8, 3, 3, 3), **_bn("bn0", 8), "dw": _w(8, 1, 3, 3), **_bn("bn1", 8),
               "pw": _w(12, 8, 1, 1), "fc_w": _w(CLASSES, 12), "fc_b": _w(CLASSES)}  # fmt: skip
    return caffe2_model(nodes, weights, [1, CLASSES], opset=7)


GRAPHS = {
    "resnet": resnet,
    "squeezenet": squeezenet,
    "shufflenet": shufflenet,
    "googlenet": googlenet,
    "densenet": densenet,
    "mobilenet": mobilenet,
}
