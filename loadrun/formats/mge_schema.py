"""The parts of MegEngine 1.13's FlatBuffers schema that loadrun reads and writes.

Slot numbers, scalar kinds and defaults come from ``docs/mge-format.md`` (verified against real
dumps). A field absent from a table takes its default: the writer omits default values, so the
defaults are part of the format.
"""

from __future__ import annotations

from loadrun.formats.xxhash64 import xxh64

INT_MAX = 2147483647
U64_MAX = (1 << 64) - 1

# Model (root of an mgv2 file), slot numbers.
MODEL_MGE_VERSION, MODEL_MODEL_VERSION, MODEL_OPRS, MODEL_MIDDLE_TENSORS = 0, 1, 2, 3
MODEL_OUTPUT_VARS, MODEL_OUTPUT_ALIAS, MODEL_NR_SHARED, MODEL_METADATA = 4, 5, 6, 7

# Operator (v2) slots.
OP_TYPE, OP_TYPE_ID, OP_NAME, OP_PARAM_TYPE, OP_PARAM = 0, 1, 2, 3, 4
OP_ADD_PARAM_TYPES, OP_ADD_PARAMS, OP_INPUTS, OP_OUTPUTS, OP_COMP_NODE = 5, 6, 7, 8, 9
OP_OUTPUT_DTYPE, OP_TENSORS, OP_OPR_VERSION = 10, 11, 12

# Operator (v1, schema.fbs) slots.
V1_OP_TYPE_ID, V1_OP_PARAM_TYPE, V1_OP_PARAM, V1_OP_INPUTS, V1_OP_COMP_NODE = 0, 1, 2, 3, 4
V1_OP_OUTPUT_NAME, V1_OP_OUTPUT_DTYPE, V1_OP_TENSORS, V1_OP_PRIORITY, V1_OP_BLOBS = 5, 6, 7, 8, 9
V1_OP_ADD_PARAM_TYPES, V1_OP_ADD_PARAMS, V1_OP_NAME = 10, 11, 12
# Graph (v1 root) slots.
V1_GRAPH_MGB_VERSION, V1_GRAPH_HASH, V1_GRAPH_NR_SHARED, V1_GRAPH_OPRS = 0, 1, 2, 3
V1_GRAPH_OUTPUT_VARS, V1_GRAPH_METADATA = 4, 5

# Tensor slots (v2): name, shape, comp_node, dtype, format_type, format, data.
TENSOR_NAME, TENSOR_SHAPE, TENSOR_COMP_NODE, TENSOR_DTYPE = 0, 1, 2, 3
TENSOR_FORMAT_TYPE, TENSOR_FORMAT, TENSOR_DATA = 4, 5, 6
# Tensor slots (v1): name, shape, comp_node, dtype, data_size, offset.
V1_TENSOR_DATA_SIZE, V1_TENSOR_OFFSET = 4, 5

# DTypeEnum -> numpy dtype name (None: a dtype loadrun does not execute).
DTYPES: dict[int, str | None] = {
    0: "float32", 1: "uint8", 2: "int8", 3: "int16", 4: "int32", 5: None, 6: None, 7: None,
    8: "uint8", 9: "float16", 10: None, 11: None, 12: None, 13: None, 14: None, 15: None, 16: None,
    17: None, 18: "bool", 19: "uint16", 20: None, 21: "complex64",
}
DTYPE_NAMES = {
    0: "Float32", 1: "Uint8", 2: "Int8", 3: "Int16", 4: "Int32", 5: "IntB1", 6: "IntB2", 7: "IntB4",
    8: "Byte", 9: "Float16", 10: "UintB4", 11: "Quantized8Asymm", 12: "QuantizedS32",
    13: "QuantizedS8", 14: "Quantized4Asymm", 15: "QuantizedS4", 16: "QuantizedS16", 17: "BFloat16",
    18: "Bool", 19: "Uint16", 20: "QuantizedS1", 21: "Complex64",
}
NUMPY_TO_DTYPE = {"float32": 0, "uint8": 1, "int8": 2, "int16": 3, "int32": 4, "float16": 9,
                  "bool": 18, "uint16": 19}

# Param tables: tag -> (name, [(field, kind, default)]) in slot order. Kinds are scalar kinds of
# loadrun.formats.flatbuf; "enum:Name" is a uint32 holding a member of ENUMS[Name].
PARAMS: dict[int, tuple[str, list[tuple[str, str, object]]]] = {
    1: ("Empty", []),
    2: ("Axis", [("axis", "i32", 0)]),
    3: ("Convolution", [
        ("mode", "enum:ConvolutionMode", 0), ("pad_h", "u32", 0), ("pad_w", "u32", 0),
        ("stride_h", "u32", 1), ("stride_w", "u32", 1), ("dilate_h", "u32", 1), ("dilate_w", "u32", 1),
        ("sparse", "enum:Sparse", 0), ("format", "enum:Format", 0), ("compute_mode", "enum:ComputeMode", 0)]),
    6: ("ConvBias", [
        ("nonlineMode", "enum:NonlineMode", 0), ("mode", "enum:ConvolutionMode", 0),
        ("sparse", "enum:Sparse", 0), ("format", "enum:Format", 0), ("pad_h", "u32", 0),
        ("pad_w", "u32", 0), ("stride_h", "u32", 1), ("stride_w", "u32", 1), ("dilate_h", "u32", 1),
        ("dilate_w", "u32", 1), ("compute_mode", "enum:ComputeMode", 0)]),
    9: ("Pooling", [
        ("mode", "enum:PoolingMode", 0), ("pad_h", "u32", 0), ("pad_w", "u32", 0),
        ("stride_h", "u32", 2), ("stride_w", "u32", 2), ("window_h", "u32", 2), ("window_w", "u32", 2),
        ("format", "enum:Format", 0)]),
    11: ("BN", [
        ("param_dim", "enum:BNParamDim", 0), ("fwd_mode", "enum:BNFwdMode", 0),
        ("epsilon", "f64", 1e-4), ("avg_factor", "f64", 1.0), ("scale", "f32", 1.0), ("bias", "f32", 0.0)]),
    13: ("WarpPerspective", [
        ("imode", "enum:InterpolationMode", 1), ("bmode", "enum:BorderMode", 0),
        ("format", "enum:Format", 0), ("border_val", "f32", 0.0)]),
    17: ("Elemwise", [("mode", "u32", 0)]),
    18: ("ElemwiseMultiType", [("mode", "u32", 0)]),
    19: ("PowC", [("exp", "f32", 0.0)]),
    20: ("MatrixMul", [
        ("transposeA", "bool", False), ("transposeB", "bool", False),
        ("compute_mode", "enum:ComputeMode", 0), ("format", "enum:MatrixMulFormat", 0)]),
    23: ("Reduce", [("mode", "enum:ReduceMode", 0), ("axis", "i32", INT_MAX),
                    ("data_type", "enum:ReduceDataType", 0)]),
    24: ("Cumsum", [("axis", "i32", INT_MAX), ("exclusive", "bool", True), ("reverse", "bool", False)]),
    26: ("Argsort", [("order", "enum:ArgsortOrder", 0)]),
    29: ("Linspace", [("endpoint", "bool", True)]),
    40: ("Resize", [("imode", "enum:InterpolationMode", 1), ("format", "enum:Format", 1)]),
    44: ("TopK", [("mode", "enum:TopKMode", 0)]),
    53: ("OptionalAxis", [("axis", "i32", -1)]),
    54: ("OptionalAxisV1", [("axis", "i32", 7)]),
    55: ("ExecutionPolicy", [("strategy", "u32", 1), ("workspace_limit", "u64", U64_MAX)]),
    63: ("Host2DeviceCopy", [("enable_value_infer", "bool", True), ("dump_default_value", "bool", False),
                             ("allow_cpu_mem_fwd", "bool", True)]),
    64: ("Dimshuffle", [("pattern", "[i32]", []), ("ndim", "u32", 0)]),
    65: ("AxisAddRemove", [("desc", "[AxisDesc]", [])]),
    66: ("IndexDescMaskDump", [("items", "[IndexDescMaskItem]", [])]),
    67: ("DType", [("type", "i8", 0), ("param_type", "u8", 0), ("param", "LinearQuantizationParam", None)]),
    70: ("AdaptivePooling", [("mode", "enum:PoolingMode", 0), ("format", "enum:Format", 0)]),
    82: ("Padding", [*[(f"front_offset_dim{i}", "u32", 0) for i in range(7)],
                     *[(f"back_offset_dim{i}", "u32", 0) for i in range(7)],
                     ("padding_val", "f32", 0.0), ("padding_mode", "enum:PaddingMode", 2)]),
    85: ("LayerNorm", [("affine", "bool", True), ("eps", "f32", 1e-5), ("normalized_dim", "u64", 1),
                       ("normalized_size", "u64", 1)]),
    90: ("Softmax", [("axis", "i32", -1)]),
}
PARAM_TAGS = {name: tag for tag, (name, _) in PARAMS.items()}

# Tag names of every OperatorParam member, for error messages about tables loadrun does not read.
PARAM_TAG_NAMES = {
    1: "Empty", 2: "Axis", 3: "Convolution", 4: "MaskPropagate", 5: "ConvPooling", 6: "ConvBias",
    7: "SeparableConv", 8: "Images2Neibs", 9: "Pooling", 10: "LRN", 11: "BN", 12: "ROIPooling",
    13: "WarpPerspective", 14: "SpatialTfGridGenerator", 15: "SpatialTfSampler", 16: "MGBAddUpdate",
    17: "Elemwise", 18: "ElemwiseMultiType", 19: "PowC", 20: "MatrixMul", 22: "SVD", 23: "Reduce",
    24: "Cumsum", 25: "CondTake", 26: "Argsort", 27: "IndexingRemap", 28: "MGBSleep", 29: "Linspace",
    30: "LinspaceFull", 31: "Eye", 32: "UniformRNG", 33: "GaussianRNG", 34: "Flip", 35: "Rotate",
    36: "ROICopy", 37: "CvtColor", 38: "WarpAffine", 39: "GaussianBlur", 40: "Resize",
    41: "Convolution3D", 42: "Conv3DBias", 43: "SeparableConv3D", 44: "TopK", 45: "RelayoutFormat",
    46: "SeparableFilter", 47: "LocalShare", 48: "ROIAlign", 49: "DeformablePSROIPooling",
    50: "BatchConvBias", 51: "DType", 52: "PersistentOutputStorage", 53: "OptionalAxis",
    54: "OptionalAxisV1", 55: "ExecutionPolicy", 56: "AssertEqual", 58: "CollectiveComm",
    59: "CondExecPred", 60: "CondExecPredLogical", 61: "CondExecMark", 62: "CondExecMerge",
    63: "Host2DeviceCopy", 64: "Dimshuffle", 65: "AxisAddRemove", 66: "IndexDescMaskDump", 67: "DType",
    68: "Remap", 69: "NMSKeep", 70: "AdaptivePooling", 71: "NvOf", 72: "DctChannelSelect",
    73: "FakeQuant", 74: "TQT", 75: "Correlation", 76: "LSQ", 77: "GammaRNG", 78: "PoissonRNG",
    79: "PermutationRNG", 80: "BetaRNG", 81: "SlidingWindowTranspose", 82: "Padding", 83: "ShuffleRNG",
    84: "CheckNonFinite", 85: "LayerNorm", 86: "Dropout", 87: "RNNCell", 88: "RNN", 89: "LSTM",
    90: "Softmax", 91: "Diag", 92: "GroupNorm", 93: "Fill", 94: "GeneralNorm", 95: "MultiHeadAttn",
    96: "Resize3D",
}

ENUMS: dict[str, list[str]] = {
    "ConvolutionMode": ["CROSS_CORRELATION", "CONVOLUTION"],
    "Sparse": ["DENSE", "GROUP"],
    "Format": ["NCHW", "NHWC", "NHWCD4", "NCHW4", "NCHW8", "NCHW32", "NCHW88", "NCHW44", "NCHW44_DOT",
               "NCHW4_NCHW32", "NCHW32_NCHW4", "NCHW4_NCHW", "NHWC_NCHW", "NHWC_NCHW4_IC_SMALL",
               "NCHW_NCHW4_IC_SMALL", "CHWN4", "NCHW64", "NCHW4_NHWC"],
    "ComputeMode": ["DEFAULT", "FLOAT32"],
    "NonlineMode": ["IDENTITY", "RELU", "SIGMOID", "H_SWISH"],
    "PoolingMode": ["MAX", "AVERAGE", "AVERAGE_COUNT_EXCLUDE_PADDING"],
    "BNParamDim": ["DIM_11HW", "DIM_1CHW", "DIM_1C11", "DIM_111C"],
    "BNFwdMode": ["TRAINING", "INFERENCE"],
    "InterpolationMode": ["NEAREST", "LINEAR", "AREA", "CUBIC", "LANCZOS4"],
    "BorderMode": ["REPLICATE", "REFLECT", "REFLECT_101", "WRAP", "CONSTANT", "TRANSPARENT", "ISOLATED"],
    "MatrixMulFormat": ["DEFAULT", "MK4", "MK8", "MK4_DOT", "N32K4_DOT"],
    "ReduceMode": ["SUM", "SUM_SQR", "PRODUCT", "MIN", "MAX", "MEAN"],
    "ReduceDataType": ["DEFAULT", "FLOAT_IO16xC32", "FLOAT_O32xC32", "FLOAT_O16xC32", "QUINT_I8xO32",
                       "QINT_I8xO32"],
    "ArgsortOrder": ["ASCENDING", "DESCENDING"],
    "TopKMode": ["KTH_ONLY", "VALUE_IDX_NOSORT", "VALUE_IDX_SORTED"],
    "PaddingMode": ["REPLICATE", "REFLECT", "CONSTANT"],
}

# Canonical operator names (the registered name with a trailing "V<digit>" stripped), with the
# registration a model_version=2 dump uses: (opr_version, registered name).
OPERATORS: dict[str, tuple[int, str]] = {
    "ImmutableTensor": (2, "ImmutableTensor"),
    "Host2DeviceCopy": (2, "Host2DeviceCopy"),
    "SharedDeviceTensor": (1, "SharedDeviceTensor"),
    "MultipleDeviceTensorHolder": (2, "MultipleDeviceTensorHolder"),
    "SharedDeviceTensorWithFormat": (2, "SharedDeviceTensorWithFormat"),
    "MultipleDeviceTensorWithFormatHolder": (2, "MultipleDeviceTensorWithFormatHolder"),
    "ConvBiasForward": (2, "ConvBiasForward"),
    "Convolution": (2, "Convolution"),
    "ConvolutionBackwardData": (2, "ConvolutionBackwardData"),
    "Elemwise": (1, "Elemwise"),
    "PowC": (1, "PowC"),
    "TypeCvt": (1, "TypeCvtV2"),
    "Reduce": (1, "ReduceV2"),
    "Pooling": (1, "PoolingV1"),
    "AdaptivePooling": (1, "AdaptivePoolingV1"),
    "MatrixMul": (1, "MatrixMulV2"),
    "BatchedMatrixMul": (1, "BatchedMatrixMulV2"),
    "Reshape": (1, "ReshapeV1"),
    "GetVarShape": (1, "GetVarShapeV1"),
    "Dimshuffle": (1, "Dimshuffle"),
    "AxisAddRemove": (1, "AxisAddRemove"),
    "Concat": (1, "Concat"),
    "Broadcast": (1, "Broadcast"),
    "Subtensor": (1, "Subtensor"),
    "Padding": (1, "Padding"),
    "Resize": (1, "ResizeV2"),
    "WarpPerspective": (1, "WarpPerspectiveV2"),
    "LayerNorm": (1, "LayerNorm"),
    "Softmax": (2, "Softmax"),
    "BatchNorm": (1, "BatchNormV1"),
    "Argmax": (1, "Argmax"),
    "Argmin": (1, "Argmin"),
    "Argsort": (1, "Argsort"),
    "TopK": (1, "TopK"),
    "Linspace": (1, "Linspace"),
    "IndexingOneHot": (1, "IndexingOneHot"),
    "IndexingSetOneHot": (1, "IndexingSetOneHot"),
    "Cumsum": (1, "CumsumV1"),
    "Copy": (1, "Copy"),
    "AssertEqual": (1, "AssertEqual"),
    "Identity": (1, "Identity"),
}

# Operators MegEngine registers that loadrun recognises by id but does not execute (for errors).
KNOWN_UNSUPPORTED = (
    "ElemwiseMultiType", "WarpAffine", "Remap", "ROIAlign", "ROIPooling", "IndexingMultiAxisVec",
    "SetSubtensor", "IncrSubtensor", "Split", "RelayoutFormat", "Dropout", "MultiHeadAttn",
    "GroupNorm", "InstanceNorm", "GeneralNorm", "Convolution3D", "LocalShareForward",
    "DeformableConvForward", "BatchConvBiasForward", "ConvolutionBackwardFilter", "CondTake",
    "NMSKeep", "Eye", "Diag", "Fill", "CheckNonFinite", "Images2NeibsForward",
    "LRNForward", "SlidingWindowTransposeForward", "RNNCellForward", "LSTMForward", "RNNForward",
)


def _strip_version(name: str) -> str:
    if len(name) > 2 and name[-2] == "V" and name[-1].isdigit():
        return name[:-2]
    return name


def canonical_name(registered: str) -> str:
    return _strip_version(registered)


def type_id_v2(registered: str, opr_version: int) -> int:
    """The type_id a v2 file stores for an operator registered under ``registered``."""
    if opr_version == 1:
        return xxh64(_strip_version(registered).encode())
    return xxh64(registered.encode() + b"\0")


def _build_id_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for canonical in list(OPERATORS) + list(KNOWN_UNSUPPORTED):
        for name in (canonical, *(f"{canonical}V{i}" for i in range(1, 10))):
            table.setdefault(xxh64(name.encode() + b"\0"), canonical)
        table.setdefault(xxh64(canonical.encode()), canonical)
    return table


TYPE_IDS: dict[int, str] = _build_id_table()
