"""The operator catalogue: names, attributes and shape/dtype inference.

Semantics are MegEngine's (see docs/ir.md). Every function here takes the input (shape, dtype)
pairs and the node's attributes and returns the output (shape, dtype) pairs, raising
``OpError`` with a readable message when the inputs do not fit.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

Shape = tuple[int, ...]
TypedShape = tuple[Shape, np.dtype]

F32 = np.dtype("float32")
I32 = np.dtype("int32")
BOOL = np.dtype("bool")

# MegEngine ElemwiseMode numbering (docs/mge-format.md §4.4); None marks modes loadrun does not run.
ELEMWISE_MODES: list[str] = [
    "RELU", "ABS", "ACOS", "ASIN", "CEIL", "COS", "EXP", "EXPM1", "FLOOR", "LOG", "LOG1P", "NEGATE",
    "SIGMOID", "SIN", "TANH",
    "ABS_GRAD", "ADD", "FLOOR_DIV", "MAX", "MIN", "MOD", "MUL", "POW", "SIGMOID_GRAD", "SUB",
    "SWITCH_GT0", "TANH_GRAD", "TRUE_DIV", "LOG_SUM_EXP", "LT", "LEQ", "EQ", "SHL", "SHR",
    "COND_LEQ_MOV",
    "FUSE_MUL_ADD3", "FUSE_MUL_ADD4", "FUSE_ADD_RELU", "FUSE_ADD_SIGMOID", "FUSE_ADD_TANH",
    "FAST_TANH", "FAST_TANH_GRAD", "ROUND", "RMULH", "ATAN2", "ERF", "ERFINV", "ERFC", "ERFCINV",
    "H_SWISH", "H_SWISH_GRAD", "FUSE_ADD_H_SWISH", "NOT", "AND", "OR",
    "XOR", "SILU", "SILU_GRAD", "GELU", "GELU_GRAD", "COND_LT_MOV", "NEQ", "ISNAN", "ISINF", "SINH",
    "COSH", "ASINH", "ACOSH", "ATANH", "TAN",
    "ASINH_GRAD", "ACOSH_GRAD", "ATANH_GRAD", "PRELU", "CLIP", "PRELU_GRAD", "SOFTPLUS",
    "SOFTPLUS_GRAD", "RELU6", "RELU6_GRAD", "HSIGMOID", "HSIGMOID_GRAD", "LOGSIGMOID", "SQRT",
    "SQUARE", "SIGN",
]

# Number of inputs per supported elementwise mode (forward modes only; *_GRAD modes are training-only).
ELEMWISE_ARITY: dict[str, int] = {
    **{m: 1 for m in ("RELU", "ABS", "ACOS", "ASIN", "CEIL", "COS", "EXP", "EXPM1", "FLOOR", "LOG",
                      "LOG1P", "NEGATE", "SIGMOID", "SIN", "TANH", "FAST_TANH", "ROUND", "ERF",
                      "ERFINV", "ERFC", "ERFCINV", "H_SWISH", "NOT", "SILU", "GELU", "ISNAN",
                      "ISINF", "SINH", "COSH", "ASINH", "ACOSH", "ATANH", "TAN", "SOFTPLUS", "RELU6",
                      "HSIGMOID", "LOGSIGMOID", "SQRT", "SQUARE", "SIGN")},
    **{m: 2 for m in ("ADD", "FLOOR_DIV", "MAX", "MIN", "MOD", "MUL", "POW", "SUB", "SWITCH_GT0",
                      "TRUE_DIV", "LOG_SUM_EXP", "LT", "LEQ", "EQ", "NEQ", "SHL", "SHR",
                      "FUSE_ADD_RELU", "FUSE_ADD_SIGMOID", "FUSE_ADD_TANH", "FUSE_ADD_H_SWISH",
                      "ATAN2", "AND", "OR", "XOR", "PRELU")},
    **{m: 3 for m in ("COND_LEQ_MOV", "COND_LT_MOV", "FUSE_MUL_ADD3", "CLIP")},
    "FUSE_MUL_ADD4": 4,
}
BOOL_RESULT_MODES = {"LT", "LEQ", "EQ", "NEQ", "ISNAN", "ISINF"}
BOOL_INPUT_MODES = {"NOT", "AND", "OR", "XOR"}
INT_ONLY_MODES = {"SHL", "SHR"}

CONV_NONLINEARITIES = ("IDENTITY", "RELU", "SIGMOID", "H_SWISH", "CLAMP")  # CLAMP: attrs lo <= hi
POOLING_MODES = ("MAX", "AVERAGE", "AVERAGE_COUNT_EXCLUDE_PADDING")
REDUCE_MODES = ("SUM", "SUM_SQR", "PRODUCT", "MIN", "MAX", "MEAN")
RESIZE_MODES = ("NEAREST", "LINEAR")
PADDING_MODES = ("REPLICATE", "REFLECT", "CONSTANT")
BORDER_MODES = ("REPLICATE", "REFLECT", "REFLECT_101", "WRAP", "CONSTANT")


class OpError(ValueError):
    """Inputs or attributes that do not fit an operator."""


def _broadcast(shapes: list[Shape]) -> Shape:
    try:
        return tuple(int(d) for d in np.broadcast_shapes(*shapes))
    except ValueError:
        raise OpError(f"shapes {', '.join(str(list(s)) for s in shapes)} do not broadcast") from None


def _norm_axis(axis: int, ndim: int) -> int:
    if not -ndim <= axis < ndim:
        raise OpError(f"axis {axis} is out of range for a {ndim}-d tensor")
    return axis % ndim


def _conv_out(size: int, k: int, stride: int, pad: int, dilation: int) -> int:
    return (size + 2 * pad - dilation * (k - 1) - 1) // stride + 1


def infer_conv(ins: list[TypedShape], a: dict) -> list[TypedShape]:
    (xs, xt), (ws, _) = ins[0], ins[1]
    if len(xs) != 4 or len(ws) != 4:
        raise OpError(f"Conv needs a 4-d input and a 4-d filter, got {list(xs)} and {list(ws)}")
    n, c, h, w = xs
    oc, icg, kh, kw = ws
    g = a["group"]
    if g < 1 or c != icg * g or oc % g:
        raise OpError(f"Conv: input channels {c} do not fit filter {list(ws)} with {g} groups")
    (sh, sw), (ph, pw), (dh, dw) = a["stride"], a["pad"], a["dilation"]
    if min(sh, sw, dh, dw) < 1 or min(ph, pw) < 0:
        raise OpError(f"Conv: bad stride {a['stride']} / pad {a['pad']} / dilation {a['dilation']}")
    oh, ow = _conv_out(h, kh, sh, ph, dh), _conv_out(w, kw, sw, pw, dw)
    if oh < 1 or ow < 1:
        raise OpError(f"Conv: filter {kh}x{kw} does not fit input {h}x{w}")
    if a.get("nonlinearity", "IDENTITY") == "CLAMP" and not float(a["lo"]) <= float(a["hi"]):
        raise OpError(f"Conv: CLAMP needs lo <= hi, got lo={a.get('lo')} hi={a.get('hi')}")
    out = (n, oc, oh, ow)
    for extra in ins[2:]:
        if _broadcast([out, extra[0]]) != out:
            raise OpError(f"Conv: bias/residual {list(extra[0])} does not broadcast to {list(out)}")
    return [(out, xt)]


def infer_deconv(ins: list[TypedShape], a: dict) -> list[TypedShape]:
    (xs, xt), (ws, _) = ins[0], ins[1]
    if len(xs) != 4 or len(ws) != 4:
        raise OpError(f"Deconv needs a 4-d input and a 4-d filter, got {list(xs)} and {list(ws)}")
    n, c, h, w = xs
    ic, ocg, kh, kw = ws
    g = a["group"]
    if c != ic or ic % g:
        raise OpError(f"Deconv: input channels {c} do not fit filter {list(ws)} with {g} groups")
    (sh, sw), (ph, pw), (dh, dw) = a["stride"], a["pad"], a["dilation"]
    oh = (h - 1) * sh - 2 * ph + dh * (kh - 1) + 1
    ow = (w - 1) * sw - 2 * pw + dw * (kw - 1) + 1
    if oh < 1 or ow < 1:
        raise OpError("Deconv: output would be empty")
    return [((n, ocg * g, oh, ow), xt)]


def infer_elemwise(ins: list[TypedShape], a: dict) -> list[TypedShape]:
    mode = a["mode"]
    if mode not in ELEMWISE_ARITY:
        raise OpError(f"Elemwise mode {mode} is not supported")
    if len(ins) != ELEMWISE_ARITY[mode]:
        raise OpError(f"Elemwise {mode} takes {ELEMWISE_ARITY[mode]} inputs, got {len(ins)}")
    shape = _broadcast([s for s, _ in ins])
    dtypes = {t for _, t in ins}
    if len(dtypes) != 1:
        raise OpError(f"Elemwise {mode}: inputs have different dtypes {sorted(map(str, dtypes))}")
    dt = ins[0][1]
    if mode in INT_ONLY_MODES and dt.kind not in "iu":
        raise OpError(f"Elemwise {mode} needs integer inputs, got {dt}")
    return [(shape, BOOL if mode in BOOL_RESULT_MODES else dt)]


def infer_same(ins: list[TypedShape], a: dict) -> list[TypedShape]:
    return [ins[0]]


def infer_typecvt(ins, a):
    return [(ins[0][0], np.dtype(a["dtype"]))]


def infer_reduce(ins, a):
    shape, dt = ins[0]
    axes = a["axes"]
    for ax in axes:
        if not 0 <= ax < len(shape):
            raise OpError(f"Reduce axis {ax} out of range for {list(shape)}")
    out = tuple(1 if i in axes else d for i, d in enumerate(shape))
    return [(out, dt)]


def infer_reshape(ins, a):
    shape, dt = ins[0]
    new = tuple(a["shape"])
    if int(np.prod(new, dtype=np.int64)) != int(np.prod(shape, dtype=np.int64)) or min(new, default=1) < 0:
        raise OpError(f"Reshape: cannot reshape {list(shape)} to {list(new)}")
    return [(new, dt)]


def infer_broadcast(ins, a):
    shape, dt = ins[0]
    new = tuple(a["shape"])
    if _broadcast([shape, new]) != new:
        raise OpError(f"Broadcast: {list(shape)} does not broadcast to {list(new)}")
    return [(new, dt)]


def infer_transpose(ins, a):
    shape, dt = ins[0]
    perm = a["perm"]
    if sorted(perm) != list(range(len(shape))):
        raise OpError(f"Transpose: {perm} is not a permutation of {len(shape)} axes")
    return [(tuple(shape[p] for p in perm), dt)]


def infer_concat(ins, a):
    shapes = [s for s, _ in ins]
    nd = len(shapes[0])
    ax = a["axis"]
    if not 0 <= ax < nd:
        raise OpError(f"Concat: axis {ax} out of range")
    for s in shapes:
        if len(s) != nd or any(s[i] != shapes[0][i] for i in range(nd) if i != ax):
            raise OpError(f"Concat: shapes {[list(s) for s in shapes]} differ off axis {ax}")
    if len({t for _, t in ins}) != 1:
        raise OpError("Concat: inputs have different dtypes")
    out = list(shapes[0])
    out[ax] = sum(s[ax] for s in shapes)
    return [(tuple(out), ins[0][1])]


def slice_len(start: int, stop: int, step: int) -> int:
    return len(range(start, stop, step))


def infer_slice(ins, a):
    shape, dt = ins[0]
    starts, stops, steps = a["starts"], a["stops"], a["steps"]
    if not len(starts) == len(stops) == len(steps) == len(shape):
        raise OpError("Slice: starts/stops/steps must cover every axis")
    out = []
    for d, s, e, st in zip(shape, starts, stops, steps):
        if st == 0:
            raise OpError("Slice: step 0")
        if not (0 <= s <= d and -1 <= e <= d):
            raise OpError(f"Slice: bounds {s}:{e} out of range for size {d}")
        n = slice_len(s, e, st)
        out.append(n)
    if min(out, default=1) < 1:
        raise OpError("Slice: empty result")
    return [(tuple(out), dt)]


def infer_padding(ins, a):
    shape, dt = ins[0]
    front, back = a["front"], a["back"]
    if len(front) != len(shape) or len(back) != len(shape):
        raise OpError("Padding: offsets must cover every axis")
    return [(tuple(d + f + b for d, f, b in zip(shape, front, back)), dt)]


def infer_matmul(ins, a):
    (sa, ta), (sb, tb) = ins
    if len(sa) != 2 or len(sb) != 2:
        raise OpError(f"MatMul needs 2-d inputs, got {list(sa)} and {list(sb)}")
    m, k = (sa[1], sa[0]) if a["transA"] else sa
    k2, n = (sb[1], sb[0]) if a["transB"] else sb
    if k != k2:
        raise OpError(f"MatMul: inner dimensions differ ({list(sa)} x {list(sb)})")
    return [((m, n), ta)]


def infer_batched_matmul(ins, a):
    (sa, ta), (sb, tb) = ins
    if len(sa) < 3 or len(sa) != len(sb) or sa[:-2] != sb[:-2]:
        raise OpError(f"BatchedMatMul: batch shapes differ ({list(sa)} x {list(sb)})")
    m, k = (sa[-1], sa[-2]) if a["transA"] else sa[-2:]
    k2, n = (sb[-1], sb[-2]) if a["transB"] else sb[-2:]
    if k != k2:
        raise OpError(f"BatchedMatMul: inner dimensions differ ({list(sa)} x {list(sb)})")
    return [(tuple(sa[:-2]) + (m, n), ta)]


def infer_pooling(ins, a):
    shape, dt = ins[0]
    if len(shape) != 4:
        raise OpError(f"Pooling needs a 4-d input, got {list(shape)}")
    n, c, h, w = shape
    (wh, ww), (sh, sw), (ph, pw) = a["window"], a["stride"], a["pad"]
    if min(wh, ww, sh, sw) < 1 or ph >= wh or pw >= ww:
        raise OpError(f"Pooling: bad window {a['window']} / stride {a['stride']} / pad {a['pad']}")
    oh, ow = _conv_out(h, wh, sh, ph, 1), _conv_out(w, ww, sw, pw, 1)
    if oh < 1 or ow < 1:
        raise OpError("Pooling: window larger than the input")
    return [((n, c, oh, ow), dt)]


def infer_resize(ins, a):
    shape, dt = ins[0]
    if len(shape) != 4:
        raise OpError("Resize needs a 4-d input")
    oh, ow = a["size"]
    if oh < 1 or ow < 1:
        raise OpError("Resize: empty output size")
    return [((shape[0], shape[1], oh, ow), dt)]


def infer_layernorm(ins, a):
    shape, dt = ins[0]
    k = a["normalized_dim"]
    if not 1 <= k <= len(shape):
        raise OpError("LayerNorm: normalized_dim out of range")
    norm_shape = shape[len(shape) - k:]
    if a["affine"]:
        if len(ins) != 3:
            raise OpError("LayerNorm with affine=True needs weight and bias")
        for s, _ in ins[1:]:
            if int(np.prod(s)) != int(np.prod(norm_shape)):
                raise OpError(f"LayerNorm: weight/bias {list(s)} do not match {list(norm_shape)}")
    stat = tuple(shape[:len(shape) - k]) or (1,)
    return [(shape, dt), (stat, dt), (stat, dt)]


def infer_softmax(ins, a):
    if not 0 <= a["axis"] < len(ins[0][0]):
        raise OpError("Softmax: axis out of range")
    return [ins[0]]


def infer_arg(ins, a):
    shape, _ = ins[0]
    ax = a["axis"]
    if not 0 <= ax < len(shape):
        raise OpError("axis out of range")
    return [(tuple(1 if i == ax else d for i, d in enumerate(shape)), I32)]


def infer_argsort(ins, a):
    shape, dt = ins[0]
    if len(shape) != 2:
        raise OpError("Argsort needs a 2-d input")
    return [(shape, dt), (shape, I32)]


def infer_topk(ins, a):
    shape, dt = ins[0]
    if len(shape) != 2:
        raise OpError("TopK needs a 2-d input")
    k = abs(a["k"])
    if not 1 <= k <= shape[1]:
        raise OpError(f"TopK: k={a['k']} out of range for {shape[1]} elements")
    if a["mode"] == "KTH_ONLY":
        return [((shape[0],), dt)]
    return [((shape[0], k), dt), ((shape[0], k), I32)]


def infer_indexing_one_hot(ins, a):
    shape, dt = ins[0]
    ax = a["axis"]
    if not 0 <= ax < len(shape):
        raise OpError("IndexingOneHot: axis out of range")
    expect = tuple(d for i, d in enumerate(shape) if i != ax)
    if tuple(ins[1][0]) != expect:
        raise OpError(f"IndexingOneHot: index shape {list(ins[1][0])} should be {list(expect)}")
    return [(tuple(1 if i == ax else d for i, d in enumerate(shape)), dt)]


def infer_indexing_set_one_hot(ins, a):
    return [ins[0]]


def infer_cumsum(ins, a):
    if not 0 <= a["axis"] < len(ins[0][0]):
        raise OpError("Cumsum: axis out of range")
    return [ins[0]]


def infer_warp_perspective(ins, a):
    shape, dt = ins[0]
    mat = ins[1][0]
    if len(shape) != 4 or len(mat) != 3 or mat[1:] != (3, 3):
        raise OpError("WarpPerspective needs a 4-d input and (N,3,3) matrices")
    oh, ow = a["size"]
    return [((mat[0], shape[1], oh, ow), dt)]


def infer_batchnorm(ins, a):
    return [ins[0]]


def infer_linspace(ins, a):
    return [((a["num"],), F32)]


INFER: dict[str, Callable[[list[TypedShape], dict], list[TypedShape]]] = {
    "Conv": infer_conv,
    "Deconv": infer_deconv,
    "Elemwise": infer_elemwise,
    "PowC": infer_same,
    "TypeCvt": infer_typecvt,
    "Reduce": infer_reduce,
    "Reshape": infer_reshape,
    "Broadcast": infer_broadcast,
    "Transpose": infer_transpose,
    "Concat": infer_concat,
    "Slice": infer_slice,
    "Padding": infer_padding,
    "MatMul": infer_matmul,
    "BatchedMatMul": infer_batched_matmul,
    "Pooling": infer_pooling,
    "Resize": infer_resize,
    "LayerNorm": infer_layernorm,
    "Softmax": infer_softmax,
    "Argmax": infer_arg,
    "Argmin": infer_arg,
    "Argsort": infer_argsort,
    "TopK": infer_topk,
    "IndexingOneHot": infer_indexing_one_hot,
    "IndexingSetOneHot": infer_indexing_set_one_hot,
    "Cumsum": infer_cumsum,
    "WarpPerspective": infer_warp_perspective,
    "BatchNorm": infer_batchnorm,
    "Linspace": infer_linspace,
}

OPS = tuple(INFER)
# Operators a model file can produce; the ones appended below are made by compile passes only.
MODEL_OPS = OPS


# Number of inputs each operator takes: (at least, at most); None = any number.
ARITY: dict[str, tuple[int, int | None]] = {
    "Conv": (2, 4), "Deconv": (2, 2), "Elemwise": (1, 4), "Concat": (1, None), "MatMul": (2, 2),
    "BatchedMatMul": (2, 2), "LayerNorm": (1, 3), "IndexingOneHot": (2, 2), "IndexingSetOneHot": (3, 3),
    "WarpPerspective": (2, 2), "BatchNorm": (5, 5), "Linspace": (2, 2),
}


def infer(op: str, ins: list[TypedShape], attrs: dict[str, Any]) -> list[TypedShape]:
    try:
        fn = INFER[op]
    except KeyError:
        raise OpError(f"unknown IR operator {op!r}") from None
    lo, hi = ARITY.get(op, (1, 1))
    if len(ins) < lo or (hi is not None and len(ins) > hi):
        want = f"{lo}" if lo == hi else f"{lo}-{hi}" if hi is not None else f"at least {lo}"
        raise OpError(f"{op} takes {want} inputs, got {len(ins)}")
    return fn(ins, attrs)


def flops(op: str, in_shapes: list[Shape], out_shapes: list[Shape], attrs: dict) -> int:
    """2 x multiply-adds of Conv / Deconv / MatMul, the convention of the shared meta.json files."""
    if op == "Conv":
        oc, icg, kh, kw = in_shapes[1]
        return 2 * int(np.prod(out_shapes[0])) * icg * kh * kw
    if op == "Deconv":
        ic, ocg, kh, kw = in_shapes[1]
        return 2 * int(np.prod(in_shapes[0])) * ocg * kh * kw
    if op == "MatMul":
        m, n = out_shapes[0]
        k = in_shapes[0][0] if attrs["transA"] else in_shapes[0][1]
        return 2 * m * n * k
    if op == "BatchedMatMul":
        k = in_shapes[0][-2] if attrs["transA"] else in_shapes[0][-1]
        return 2 * int(np.prod(out_shapes[0])) * k
    return 0


# -- fused operators (loadrun/compile/passes/fuse.py, docs/compile.md) ----------------------------
#
# A fused node carries an elementwise *program*: ``views`` (input position, dims, element strides):
# register k < len(views) reads input ``views[k][0]`` at flat output index i through the strided
# view; ``program`` is a list of (kind, arg, dst, srcs) over float32 registers, kind one of
# ELEMWISE (arg = mode), POWC (arg = exponent), ROUND_F16 (round to float16 and back), COPY;
# ``outputs`` are the registers stored; ``out_shapes`` their shapes (all with the same element
# count N). Every register holds N float32 elements indexed by the flat output index.

FUSED_MAX_VIEWS = 16
FUSED_MAX_REGS = 32
FUSED_KINDS = ("ELEMWISE", "POWC", "ROUND_F16", "COPY")


def check_program(ins: list[TypedShape], a: dict, n_prog_inputs: int) -> int:
    """Validate a fused program against its inputs; returns the element count N."""
    shapes = [tuple(s) for s in a["out_shapes"]]
    if not shapes:
        raise OpError("fused program: no outputs")
    n_el = int(np.prod(shapes[0], dtype=np.int64))
    if any(int(np.prod(s, dtype=np.int64)) != n_el for s in shapes):
        raise OpError("fused program: outputs differ in element count")
    views = a["views"]
    if not 1 <= len(views) <= FUSED_MAX_VIEWS or not len(views) <= a["n_regs"] <= FUSED_MAX_REGS:
        raise OpError(f"fused program: {len(views)} views / {a['n_regs']} registers out of range")
    for k, (pos, dims, strides) in enumerate(views):
        if not 0 <= pos < n_prog_inputs or ins[pos][1] != F32:
            raise OpError(f"fused program: view {k} reads input {pos}, not a float32 program input")
        if len(dims) != len(strides) or not 1 <= len(dims) <= 8 or int(np.prod(dims, dtype=np.int64)) != n_el:
            raise OpError(f"fused program: view {k} dims {list(dims)} do not cover {n_el} elements")
        span = sum((d - 1) * s for d, s in zip(dims, strides))
        if min(strides) < 0 or min(dims) < 1 or span >= int(np.prod(ins[pos][0], dtype=np.int64)):
            raise OpError(f"fused program: view {k} reads outside input {pos}")
    defined = set(range(len(views)))
    for kind, arg, dst, srcs in a["program"]:
        want = {"ELEMWISE": ELEMWISE_ARITY.get(arg, 0) if arg not in BOOL_RESULT_MODES | BOOL_INPUT_MODES
                | INT_ONLY_MODES else 0, "POWC": 1, "ROUND_F16": 1, "COPY": 1}.get(kind, 0)
        if want == 0 or len(srcs) != want:
            raise OpError(f"fused program: bad instruction {kind} {arg}")
        if any(s not in defined for s in srcs) or not len(views) <= dst < a["n_regs"]:
            raise OpError(f"fused program: instruction {kind} uses an undefined register or writes a view")
        defined.add(dst)
    if any(r not in defined for r in a["outputs"]) or len(a["outputs"]) != len(shapes):
        raise OpError("fused program: an output register is never written")
    return n_el


def infer_fused_elemwise(ins, a):
    check_program(ins, a, len(ins))
    return [(tuple(s), F32) for s in a["out_shapes"]]


def infer_fused_softmax(ins, a):
    check_program(ins, a, len(ins))
    shape = tuple(a["out_shapes"][0])
    if len(a["out_shapes"]) != 1 or not 0 <= a["axis"] < len(shape):
        raise OpError("FusedSoftmax: one program output and an axis in range")
    return [(shape, F32)]


def infer_fused_layernorm(ins, a):
    n_prog = len(ins) - (2 if a["affine"] else 0)
    check_program(ins, a, n_prog)
    if len(a["out_shapes"]) != 1:
        raise OpError("FusedLayerNorm: one program output")
    x = (tuple(a["out_shapes"][0]), F32)
    return infer_layernorm([x] + list(ins[n_prog:]), a)


def infer_fused_mean(ins, a):
    check_program(ins, a, len(ins))
    shape = tuple(a["out_shapes"][0])
    axes = tuple(a["axes"])
    if len(a["out_shapes"]) != 1 or not axes or axes != tuple(range(len(shape) - len(axes), len(shape))):
        raise OpError("FusedMean: one program output, reduced over trailing axes")
    return [(tuple(1 if i in axes else d for i, d in enumerate(shape)), F32)]


INFER.update({
    "FusedElemwise": infer_fused_elemwise,
    "FusedSoftmax": infer_fused_softmax,
    "FusedLayerNorm": infer_fused_layernorm,
    "FusedMean": infer_fused_mean,
})
OPS = tuple(INFER)
ARITY.update({"FusedElemwise": (1, None), "FusedSoftmax": (1, None), "FusedLayerNorm": (1, None),
              "FusedMean": (1, None)})


# -- blocked layouts (loadrun/compile/passes/layout.py, docs/ir.md "Blocked layouts") -------------

BLOCK_SIZES = (4, 8, 16)
RELAYOUT_DIRECTIONS = ("BLOCKED", "NCHW")
BLOCKED_CONV_NONLINEARITIES = ("IDENTITY", "RELU", "SIGMOID", "H_SWISH", "CLAMP")


def blocked_shape(shape: Shape, block: int) -> Shape:
    """(N, C, H, W) -> (N, ceil(C/b), H, W, b): channels padded up to a multiple of the block."""
    n, c, h, w = shape
    return (n, -(-c // block), h, w, block)


def _block_of(a: dict) -> int:
    b = a.get("block")
    if b not in BLOCK_SIZES:
        raise OpError(f"block size {b!r} is not one of {BLOCK_SIZES}")
    return int(b)


def _check_blocked(shape: Shape, block: int, what: str) -> None:
    if len(shape) != 5 or shape[4] != block:
        raise OpError(f"{what} needs a blocked (N, C/{block}, H, W, {block}) tensor, got {list(shape)}")


def infer_relayout(ins, a):
    (xs, xt), b = ins[0], _block_of(a)
    c = int(a["channels"])
    if a["to"] == "BLOCKED":
        if len(xs) != 4 or xs[1] != c:
            raise OpError(f"Relayout to blocked needs a 4-d input of {c} channels, got {list(xs)}")
        return [(blocked_shape(xs, b), xt)]
    if a["to"] != "NCHW":
        raise OpError(f"Relayout: direction {a['to']!r} is not one of {RELAYOUT_DIRECTIONS}")
    _check_blocked(xs, b, "Relayout to NCHW")
    if c < 1 or -(-c // b) != xs[1]:
        raise OpError(f"Relayout: {c} channels do not fill {xs[1]} blocks of {b}")
    return [((xs[0], c, xs[2], xs[3]), xt)]


def infer_blocked_conv(ins, a):
    """x blocked (N, C/b, H, W, b) or plain (N, C, H, W) (a first layer over few channels), w the
    plain (OC, C/group, KH, KW) filter; group 1 or depthwise; y blocked (N, OC/b, OH, OW, b)."""
    (xs, xt), (ws, wt), b = ins[0], ins[1], _block_of(a)
    if len(ws) != 4:
        raise OpError(f"BlockedConv needs a 4-d filter, got {list(ws)}")
    oc, icg, kh, kw = ws
    g = a["group"]
    c = icg * g
    if len(xs) == 5:
        _check_blocked(xs, b, "BlockedConv")
        if -(-c // b) != xs[1]:
            raise OpError(f"BlockedConv: filter {list(ws)} with {g} groups does not fit input {list(xs)}")
        plain = (xs[0], c, xs[2], xs[3])
    elif len(xs) == 4:
        if g != 1 or xs[1] != c:
            raise OpError(f"BlockedConv over a plain input needs group 1 and {c} channels, got {list(xs)}")
        plain = xs
    else:
        raise OpError(f"BlockedConv needs a 4-d or 5-d input, got {list(xs)}")
    if g != 1 and not (g == c == oc and icg == 1):
        raise OpError(f"BlockedConv: group {g} is neither dense nor depthwise")
    if a.get("nonlinearity", "IDENTITY") not in BLOCKED_CONV_NONLINEARITIES:
        raise OpError(f"BlockedConv: nonlinearity {a.get('nonlinearity')!r} is not supported")
    (y, yt), = infer_conv([(plain, xt), (ws, wt)], a)
    out = blocked_shape(y, b)
    if len(ins) > 2 and int(np.prod(ins[2][0])) != oc:
        raise OpError(f"BlockedConv: bias {list(ins[2][0])} is not one value per output channel")
    if len(ins) > 3 and tuple(ins[3][0]) != out:
        raise OpError(f"BlockedConv: residual {list(ins[3][0])} is not the blocked output {list(out)}")
    return [(out, xt)]


def infer_blocked_pooling(ins, a):
    (xs, xt), b = ins[0], _block_of(a)
    _check_blocked(xs, b, "BlockedPooling")
    (y, _), = infer_pooling([((xs[0], xs[1] * b, xs[2], xs[3]), xt)], a)
    return [((y[0], xs[1], y[2], y[3], b), xt)]


INFER.update({"Relayout": infer_relayout, "BlockedConv": infer_blocked_conv, "BlockedPooling": infer_blocked_pooling})
OPS = tuple(INFER)
ARITY.update({"BlockedConv": (2, 4)})

COMPILE_ONLY_OPS = tuple(op for op in OPS if op not in MODEL_OPS)
