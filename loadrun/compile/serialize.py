"""Serializer of the compiled model format (docs/compiled-format.md).

The IR is validated here (structure + the op catalogue's shape/dtype inference), then written as
one flat little-endian file: header, string table, tensor table, node table, graph I/O ids, the
id/int/float pools that nodes index into, and constant data with every tensor 64-byte aligned so
the native runtime can use it in place from an mmap. The native loader re-checks everything: this
module is a convenience, not the line of defence.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from loadrun.errors import UnsupportedOperatorError
from loadrun.ir import ops
from loadrun.ir.graph import Graph

MAGIC = b"LRMODEL\0"
VERSION = 1
HEADER_BYTES = 128
TENSOR_BYTES = 96
NODE_BYTES = 48
DATA_ALIGN = 64
MAX_NDIM = 8

DTYPES = {"float32": 0, "float16": 1, "int32": 2, "int16": 3, "int8": 4, "uint8": 5, "bool": 6}
KIND_INPUT, KIND_CONST, KIND_ACTIVATION, KIND_OUTPUT = 0, 1, 2, 3

OP_CODES = {
    "Conv": 0, "Deconv": 1, "Elemwise": 2, "PowC": 3, "TypeCvt": 4, "Reduce": 5, "Reshape": 6,
    "Broadcast": 7, "Transpose": 8, "Concat": 9, "Slice": 10, "Padding": 11, "MatMul": 12,
    "BatchedMatMul": 13, "Pooling": 14, "Resize": 15, "LayerNorm": 16, "Softmax": 17, "Argmax": 18,
    "Argmin": 19, "Argsort": 20, "TopK": 21, "IndexingOneHot": 22, "IndexingSetOneHot": 23,
    "Cumsum": 24, "WarpPerspective": 25, "BatchNorm": 26, "Linspace": 27,
}
# fused operators of the JIT passes (loadrun/compile/passes/fuse.py): codes 64-79
OP_CODES.update({"FusedElemwise": 64, "FusedSoftmax": 65, "FusedLayerNorm": 66, "FusedMean": 67})
# blocked-layout operators (loadrun/compile/passes/layout.py): codes 80-95
LAYOUT_OPS = {"Relayout": 80, "BlockedConv": 81, "BlockedPooling": 82}
OP_CODES.update(LAYOUT_OPS)
FUSED_KINDS = {"ELEMWISE": 0, "POWC": 1, "ROUND_F16": 2, "COPY": 3}
FUSED_VIEW_INTS = 2 + 2 * MAX_NDIM
FUSED_INSTR_INTS = 7

NONLINEARITY = {"IDENTITY": 0, "RELU": 1, "SIGMOID": 2, "H_SWISH": 3, "CLAMP": 4}
REDUCE_MODE = {"SUM": 0, "SUM_SQR": 1, "PRODUCT": 2, "MIN": 3, "MAX": 4, "MEAN": 5}
PADDING_MODE = {"CONSTANT": 0, "REPLICATE": 1, "REFLECT": 2}
POOLING_MODE = {"MAX": 0, "AVERAGE": 1, "AVERAGE_COUNT_EXCLUDE_PADDING": 2}
RESIZE_MODE = {"NEAREST": 0, "LINEAR": 1}
BORDER_MODE = {"REPLICATE": 0, "REFLECT": 1, "REFLECT_101": 2, "WRAP": 3, "CONSTANT": 4}
TOPK_MODE = {"KTH_ONLY": 0, "VALUE_IDX_NOSORT": 1, "VALUE_IDX_SORTED": 2}
SORT_ORDER = {"ASCENDING": 0, "DESCENDING": 1}


def _enum(table: dict[str, int], value: Any, what: str) -> int:
    key = str(value).upper()
    if key not in table:
        raise UnsupportedOperatorError(f"{what} {value!r} is not supported; supported: {', '.join(table)}")
    return table[key]


def _pair(v: Any) -> list[int]:
    if isinstance(v, (int, np.integer)):
        return [int(v), int(v)]
    v = [int(x) for x in v]
    if len(v) != 2:
        raise ValueError(f"expected an (h, w) pair, got {v}")
    return v


def encode_attrs(op: str, a: dict[str, Any]) -> tuple[list[int], list[float]]:
    """The node's attributes as the int and float arrays of the compiled format (one layout per op)."""
    if op == "Conv":  # CLAMP (only) carries its bounds as two floats
        act = _enum(NONLINEARITY, a.get("nonlinearity", "IDENTITY"), "Conv nonlinearity")
        return (_pair(a["stride"]) + _pair(a["pad"]) + _pair(a["dilation"])
                + [int(a.get("group", 1)), int(bool(a.get("flip", False))), act],
                [float(a["lo"]), float(a["hi"])] if act == NONLINEARITY["CLAMP"] else [])
    if op == "Deconv":
        return (_pair(a["stride"]) + _pair(a["pad"]) + _pair(a["dilation"])
                + [int(a.get("group", 1)), int(bool(a.get("flip", False)))], [])
    if op == "Elemwise":
        mode = str(a["mode"]).upper()
        if mode not in ops.ELEMWISE_ARITY:
            raise UnsupportedOperatorError(f"Elemwise mode {mode} is not supported")
        return [ops.ELEMWISE_MODES.index(mode)], []
    if op == "PowC":
        return [], [float(a["exp"])]
    if op == "TypeCvt":
        return [DTYPES[np.dtype(a["dtype"]).name]], []
    if op == "Reduce":
        return [_enum(REDUCE_MODE, a["mode"], "Reduce mode")] + [int(x) for x in a["axes"]], []
    if op in ("Reshape", "Broadcast"):
        return [int(x) for x in a["shape"]], []
    if op == "Transpose":
        return [int(x) for x in a["perm"]], []
    if op in ("Concat", "Softmax", "Argmax", "Argmin", "IndexingOneHot", "IndexingSetOneHot"):
        return [int(a["axis"])], []
    if op == "Slice":
        return [int(x) for x in (*a["starts"], *a["stops"], *a["steps"])], []
    if op == "Padding":
        return ([_enum(PADDING_MODE, a.get("mode", "CONSTANT"), "Padding mode")]
                + [int(x) for x in (*a["front"], *a["back"])], [float(a.get("value", 0.0))])
    if op in ("MatMul", "BatchedMatMul"):
        return [int(bool(a.get("transA", False))), int(bool(a.get("transB", False)))], []
    if op == "Pooling":
        return ([_enum(POOLING_MODE, a["mode"], "Pooling mode")] + _pair(a["window"]) + _pair(a["stride"])
                + _pair(a["pad"])), []
    if op == "Resize":
        return [_enum(RESIZE_MODE, a["mode"], "Resize mode")] + _pair(a["size"]), []
    if op == "LayerNorm":
        return [int(a["normalized_dim"]), int(bool(a["affine"]))], [float(a["eps"])]
    if op == "Argsort":
        return [_enum(SORT_ORDER, a.get("order", "ASCENDING"), "Argsort order")], []
    if op == "TopK":
        return [int(a["k"]), _enum(TOPK_MODE, a["mode"], "TopK mode")], []
    if op == "Cumsum":
        return [int(a["axis"]), int(bool(a.get("exclusive", False))), int(bool(a.get("reverse", False)))], []
    if op == "WarpPerspective":
        return (_pair(a["size"]) + [_enum(RESIZE_MODE, a.get("imode", "LINEAR"), "WarpPerspective imode"),
                                    _enum(BORDER_MODE, a.get("bmode", "REPLICATE"), "WarpPerspective bmode")],
                [float(a.get("border_val", 0.0))])
    if op == "BatchNorm":
        return [], [float(a["eps"])]
    if op == "Linspace":
        return [int(a["num"]), int(bool(a.get("endpoint", True)))], []
    if op in ("FusedElemwise", "FusedSoftmax", "FusedLayerNorm", "FusedMean"):
        return encode_fused(op, a)
    if op in LAYOUT_OPS:
        return encode_layout(op, a)
    raise UnsupportedOperatorError(f"operator {op!r} is not supported by the compiled format; "
                                   f"supported: {', '.join(OP_CODES)}")


def encode_program(a: dict[str, Any], floats: list[float]) -> list[int]:
    """A fused program as ints (docs/compiled-format.md, "Fused programs"); POWC exponents go to
    ``floats`` and the instruction's arg is their index there."""
    ints = [len(a["views"]), len(a["program"]), int(a["n_regs"]), len(a["outputs"])]
    for pos, dims, strides in a["views"]:
        pad = [0] * (MAX_NDIM - len(dims))
        ints += [int(pos), len(dims), *map(int, dims), *pad, *map(int, strides), *pad]
    for kind, arg, dst, srcs in a["program"]:
        if kind == "ELEMWISE":
            code = ops.ELEMWISE_MODES.index(str(arg).upper())
        elif kind == "POWC":
            code = len(floats)
            floats.append(float(arg))
        else:
            code = 0
        src = [int(x) for x in srcs] + [-1] * (4 - len(srcs))
        ints += [FUSED_KINDS[kind], code, int(dst), *src]
    return ints + [int(r) for r in a["outputs"]]


def encode_fused(op: str, a: dict[str, Any]) -> tuple[list[int], list[float]]:
    """Own attributes first, then the program: Softmax [axis]; LayerNorm [normalized_dim, affine]
    and floats [eps]; FusedMean [number of trailing reduced axes]."""
    if op == "FusedSoftmax":
        head, floats = [int(a["axis"])], []
    elif op == "FusedLayerNorm":
        head, floats = [int(a["normalized_dim"]), int(bool(a["affine"]))], [float(a["eps"])]
    elif op == "FusedMean":
        head, floats = [len(a["axes"])], []
    else:
        head, floats = [], []
    return head + encode_program(a, floats), floats


def check_graph(graph: Graph) -> None:
    """Structural validation plus the op catalogue's inference against the declared outputs."""
    graph.validate()
    for v in graph.values:
        if v.dtype.name not in DTYPES:
            raise UnsupportedOperatorError(f"value {v.name!r}: dtype {v.dtype} is not supported")
        if len(v.shape) > MAX_NDIM or any(d < 1 for d in v.shape) or not v.shape:
            raise ValueError(f"value {v.name!r}: shape {list(v.shape)} is not a static shape of 1..{MAX_NDIM} "
                             "positive dims")
    for node in graph.nodes:
        if node.op not in OP_CODES:
            raise UnsupportedOperatorError(f"operator {node.op!r} is not supported; supported: {', '.join(OP_CODES)}")
        ins = [(graph.values[i].shape, graph.values[i].dtype) for i in node.inputs]
        got = ops.infer(node.op, ins, node.attrs)
        want = [(graph.values[o].shape, graph.values[o].dtype) for o in node.outputs]
        if len(got) != len(want) or any(tuple(gs) != tuple(ws) or np.dtype(gt) != np.dtype(wt)
                                        for (gs, gt), (ws, wt) in zip(got, want)):
            raise ops.OpError(f"{node.op} {node.name!r}: declared outputs {want} but the catalogue infers {got}")


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def serialize(graph: Graph) -> bytes:
    """Validate ``graph`` and return it in the compiled model format."""
    check_graph(graph)
    strings = bytearray()
    string_at: dict[str, tuple[int, int]] = {}

    def intern(s: str) -> tuple[int, int]:
        if s not in string_at:
            b = s.encode("utf-8").replace(b"\0", b"?")
            string_at[s] = (len(strings), len(b))
            strings.extend(b)
        return string_at[s]

    produced = {o for n in graph.nodes for o in n.outputs}
    inputs, outputs = set(graph.inputs), set(graph.outputs)
    data = bytearray()
    tensors = bytearray()
    for v in graph.values:
        if v.is_const:
            kind = KIND_CONST
        elif v.id in inputs:
            kind = KIND_INPUT
        elif v.id in produced:
            kind = KIND_OUTPUT if v.id in outputs else KIND_ACTIVATION
        else:
            # Neither fed nor produced nor constant: only legal if nothing reads it.
            kind = KIND_ACTIVATION
        data_off = data_bytes = 0
        if kind == KIND_CONST:
            raw = np.ascontiguousarray(v.const, dtype=v.dtype.newbyteorder("<")).tobytes()
            data.extend(b"\0" * (_align(len(data), DATA_ALIGN) - len(data)))
            data_off, data_bytes = len(data), len(raw)
            data.extend(raw)
        name_off, name_len = intern(v.name)
        dims = list(v.shape) + [0] * (MAX_NDIM - len(v.shape))
        tensors += struct.pack("<IIBBBBI8qQQ", name_off, name_len, DTYPES[v.dtype.name], kind, len(v.shape), 0, 0,
                               *dims, data_off, data_bytes)
    unproduced = [v for v in graph.values if not v.is_const and v.id not in inputs and v.id not in produced]
    used = {i for n in graph.nodes for i in n.inputs} | outputs
    for v in unproduced:
        if v.id in used:
            raise ValueError(f"value {v.name!r} is read but never defined")

    ids: list[int] = []
    ints: list[int] = []
    floats: list[float] = []
    nodes = bytearray()
    for node in graph.nodes:
        iv, fv = encode_attrs(node.op, node.attrs)
        name_off, name_len = intern(node.name)
        rec = (OP_CODES[node.op], name_off, name_len, len(node.inputs), len(ids))
        ids.extend(node.inputs)
        rec += (len(node.outputs), len(ids))
        ids.extend(node.outputs)
        rec += (len(iv), len(ints), len(fv), len(floats), 0)
        ints.extend(iv)
        floats.extend(fv)
        nodes += struct.pack("<12I", *rec)
    io = struct.pack(f"<{len(graph.inputs) + len(graph.outputs)}I", *graph.inputs, *graph.outputs)

    parts: list[tuple[str, bytes, int]] = [
        ("strings", bytes(strings), 8), ("tensors", bytes(tensors), 8), ("nodes", bytes(nodes), 8),
        ("io", io, 8), ("ids", struct.pack(f"<{len(ids)}I", *ids), 8),
        ("ints", struct.pack(f"<{len(ints)}q", *ints), 8), ("floats", struct.pack(f"<{len(floats)}d", *floats), 8),
        ("data", bytes(data), DATA_ALIGN),
    ]
    body = bytearray()
    offsets: dict[str, int] = {}
    pos = HEADER_BYTES
    for name, blob, align in parts:
        pad = _align(pos, align) - pos
        body += b"\0" * pad
        pos += pad
        offsets[name] = pos
        body += blob
        pos += len(blob)
    file_bytes = HEADER_BYTES + len(body)
    header = MAGIC + struct.pack(
        "<IIQIIIIIIIIQQQQQQQQQ", VERSION, HEADER_BYTES, file_bytes, len(graph.values), len(graph.nodes),
        len(graph.inputs), len(graph.outputs), len(ids), len(ints), len(floats), len(strings),
        offsets["strings"], offsets["tensors"], offsets["nodes"], offsets["io"], offsets["ids"],
        offsets["ints"], offsets["floats"], offsets["data"], len(data))
    assert len(header) == HEADER_BYTES, len(header)
    return bytes(header + body)


def encode_layout(op: str, a: dict[str, Any]) -> tuple[list[int], list[float]]:
    """Relayout [block, to (0 blocked, 1 NCHW), channels]; BlockedConv / BlockedPooling: the plain
    operator's ints, then [block]."""
    if op == "Relayout":
        return [int(a["block"]), ops.RELAYOUT_DIRECTIONS.index(a["to"]), int(a["channels"])], []
    ints, floats = encode_attrs("Conv" if op == "BlockedConv" else "Pooling", a)
    return ints + [int(a["block"])], floats
