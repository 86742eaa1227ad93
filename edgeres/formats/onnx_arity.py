"""The fewest inputs each standard ONNX operator takes, for the walk done before an engine opens
a file (``onnx_check``): OpenVINO's reader crashes the process (SIGSEGV) on a ``Conv`` with one
input, a ``Pad`` or a ``GlobalAveragePool`` with none, where ONNX Runtime says the graph is
invalid. A device has no ``onnx`` package, so the numbers are written here.

Generated from onnx 1.23.2's schemas: for each operator of the default domain, the smallest
``min_input`` over every opset version (so no file valid at any opset is refused); operators
that may take no input (``Constant``, ``RandomNormal``, ...) are left out. Regenerate with::

    python -c "import onnx.defs as d; m = {}
    for s in d.get_all_schemas_with_history():
        if s.domain in ('', 'ai.onnx'): m[s.name] = min(m.get(s.name, 99), s.min_input)
    print({k: v for k, v in sorted(m.items()) if v})"
"""

from __future__ import annotations

_BY_COUNT = {
    1: (
        "Abs Acos Acosh ArgMax ArgMin Asin Asinh Atan Atanh AveragePool Bernoulli BitCast "
        "BitwiseNot BlackmanWindow Cast Ceil Celu Clip Concat ConcatFromSequence ConstantOfShape "
        "Cos Cosh DFT DepthToSpace Det Dropout DynamicQuantizeLinear Einsum Elu Erf Exp EyeLike "
        "Flatten Floor Gelu GlobalAveragePool GlobalLpPool GlobalMaxPool HammingWindow HannWindow "
        "HardSigmoid HardSwish Hardmax Identity If ImageDecoder IsInf IsNaN LRN LeakyRelu Log "
        "LogSoftmax LpNormalization LpPool Max MaxPool Mean MeanVarianceNormalization Min Mish "
        "Multinomial Neg NonZero Not OptionalGetElement Pad RandomNormalLike RandomUniformLike "
        "Reciprocal ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp ReduceMax ReduceMean ReduceMin "
        "ReduceProd ReduceSum ReduceSumSquare RegexFullMatch Relu Reshape Resize Round Scan Selu "
        "SequenceConstruct SequenceErase SequenceLength SequenceMap Shape Shrink Sigmoid Sign Sin "
        "Sinh Size Slice Softmax Softplus Softsign SpaceToDepth Split SplitToSequence Sqrt "
        "Squeeze StringNormalizer StringSplit Sum Swish Tan Tanh TfIdfVectorizer ThresholdedRelu "
        "TopK Transpose Trilu Unique Unsqueeze Upsample"
    ),
    2: (
        "Add AffineGrid And BitShift BitwiseAnd BitwiseOr BitwiseXor CastLike CausalConvWithState "
        "CenterCropPad Compress Conv ConvInteger ConvTranspose CumProd CumSum DequantizeLinear "
        "Div Equal Expand Gather GatherElements GatherND Gemm Greater GreaterOrEqual GridSample "
        "LayerNormalization Less LessOrEqual Loop MatMul MatMulInteger MaxRoiPool MaxUnpool Mod "
        "Mul NegativeLogLikelihoodLoss NonMaxSuppression Or PRelu Pow QuantizeLinear "
        "RMSNormalization ReverseSequence STFT SequenceAt SequenceInsert SoftmaxCrossEntropyLoss "
        "StringConcat Sub SwiGLU TensorScatter Tile Xor"
    ),
    3: (
        "Attention Col2Im DeformConv GRU GroupNormalization InstanceNormalization LSTM "
        "LinearAttention OneHot RNN Range RoiAlign RotaryEmbedding Scatter ScatterElements "
        "ScatterND Where"
    ),
    5: ("BatchNormalization MelWeightMatrix"),
    8: ("QLinearConv QLinearMatMul"),
}
MIN_INPUTS: dict[str, int] = {op: n for n, ops in _BY_COUNT.items() for op in ops.split()}
# Operators that take more inputs from an opset on (an attribute became an input) and never
# fewer again: (opset, fewest inputs from then on). OpenVINO also crashes on a one-input Pad at
# opset 17.
RAISED: dict[str, tuple[int, int]] = {
    "Pad": (11, 2), "Reshape": (5, 2), "Slice": (10, 3), "TopK": (10, 2), "Unsqueeze": (13, 2),
    "Upsample": (9, 2),
}  # fmt: skip


def min_inputs(op: str, opset: int) -> int:
    """The fewest inputs ``op`` of the default domain takes at ``opset`` (0: unknown or none)."""
    since, raised = RAISED.get(op, (0, 0))
    return raised if since and opset >= since else MIN_INPUTS.get(op, 0)
