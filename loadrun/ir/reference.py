"""The numpy reference executor: slow and obviously right, the oracle every backend is tested against.

Reductions (conv, matmul, reduce, softmax, layernorm, average pooling) accumulate in float64 and
cast to the output dtype at the end.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from loadrun.errors import InputError
from loadrun.ir.graph import Graph
from loadrun.ir.ops import slice_len

Kernel = Callable[[list[np.ndarray], dict[str, Any]], list[np.ndarray]]


def _f64(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float64) if x.dtype.kind == "f" else x


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _relu6(x):
    return np.minimum(np.maximum(x, 0), 6)


_erf = np.vectorize(math.erf, otypes=[np.float64])
_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def _erfinv(y):
    # Newton iterations on erf from a rational first guess; exact to float64 rounding in [-1, 1].
    y = np.asarray(y, dtype=np.float64)
    a = 0.147
    ln = np.log1p(-y * y)
    t = 2 / (np.pi * a) + ln / 2
    x = np.sign(y) * np.sqrt(np.sqrt(t * t - ln / a) - t)
    with np.errstate(all="ignore"):
        for _ in range(3):
            x = x - (_erf(x) - y) / (2 / np.sqrt(np.pi) * np.exp(-x * x))
    return np.where(np.abs(y) >= 1, np.sign(y) * np.inf, x)


def _round_half_away(x):
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _softplus(x):
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0)


def _fmod(x, y):
    # MegEngine 1.13 (checked on its CPU kernels): C's fmod for floats (the sign of the dividend),
    # but Python's floor modulo for integers (the sign of the divisor).
    if x.dtype.kind == "f":
        return np.fmod(x, y)
    return np.mod(x, y)


def _floor_div(x, y):
    if x.dtype.kind == "f":
        return np.floor(x / y)
    return np.floor_divide(x, y)


ELEMWISE: dict[str, Callable[..., np.ndarray]] = {
    "RELU": lambda x: np.maximum(x, 0),
    "ABS": np.abs,
    "ACOS": np.arccos,
    "ASIN": np.arcsin,
    "CEIL": np.ceil,
    "COS": np.cos,
    "EXP": np.exp,
    "EXPM1": np.expm1,
    "FLOOR": np.floor,
    "LOG": np.log,
    "LOG1P": np.log1p,
    "NEGATE": np.negative,
    "SIGMOID": _sigmoid,
    "SIN": np.sin,
    "TANH": np.tanh,
    "FAST_TANH": lambda x: x * (27 + x * x) / (27 + 9 * x * x),
    "ROUND": _round_half_away,
    "ERF": _erf,
    "ERFINV": _erfinv,
    "ERFC": _erfc,
    "ERFCINV": lambda x: _erfinv(1 - x),
    "H_SWISH": lambda x: x * _relu6(x + 3) / 6,
    "NOT": np.logical_not,
    "SILU": lambda x: x * _sigmoid(x),
    "GELU": lambda x: x * 0.5 * (1 + _erf(x / math.sqrt(2))),
    "ISNAN": np.isnan,
    "ISINF": np.isinf,
    "SINH": np.sinh,
    "COSH": np.cosh,
    "ASINH": np.arcsinh,
    "ACOSH": np.arccosh,
    "ATANH": np.arctanh,
    "TAN": np.tan,
    "SOFTPLUS": _softplus,
    "RELU6": _relu6,
    "HSIGMOID": lambda x: _relu6(x + 3) / 6,
    "LOGSIGMOID": lambda x: -_softplus(-x),
    "SQRT": np.sqrt,
    "SQUARE": lambda x: x * x,
    "SIGN": np.sign,
    "ADD": np.add,
    "SUB": np.subtract,
    "MUL": np.multiply,
    "TRUE_DIV": np.true_divide,
    "FLOOR_DIV": _floor_div,
    "MOD": _fmod,
    "MAX": np.maximum,
    "MIN": np.minimum,
    "POW": np.power,
    "SWITCH_GT0": lambda x, y: np.where(x > 0, y, 0),
    "LOG_SUM_EXP": np.logaddexp,
    "LT": np.less,
    "LEQ": np.less_equal,
    "EQ": np.equal,
    "NEQ": np.not_equal,
    "SHL": np.left_shift,
    "SHR": np.right_shift,
    "FUSE_ADD_RELU": lambda x, y: np.maximum(x + y, 0),
    "FUSE_ADD_SIGMOID": lambda x, y: _sigmoid(x + y),
    "FUSE_ADD_TANH": lambda x, y: np.tanh(x + y),
    "FUSE_ADD_H_SWISH": lambda x, y: (x + y) * _relu6(x + y + 3) / 6,
    "ATAN2": np.arctan2,
    "AND": np.logical_and,
    "OR": np.logical_or,
    "XOR": np.logical_xor,
    "PRELU": lambda x, y: np.where(x > 0, x, x * y),
    "FUSE_MUL_ADD3": lambda x, y, z: x * y + z,
    "COND_LEQ_MOV": lambda x, y, z: np.where(x <= y, z, 0),
    "COND_LT_MOV": lambda x, y, z: np.where(x < y, z, 0),
    "CLIP": lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi),
    "FUSE_MUL_ADD4": lambda a, b, c, d: a * b + c * d,
}


def elemwise(ins, a):
    mode = a["mode"]
    dt = ins[0].dtype
    args = [_f64(x) for x in ins]
    with np.errstate(all="ignore"):
        y = ELEMWISE[mode](*args)
    y = np.asarray(y)
    if y.dtype != np.bool_:
        y = y.astype(dt)
    shape = np.broadcast_shapes(*(x.shape for x in ins))
    return [np.broadcast_to(y, shape).copy()]


def _activation(y, mode, a=None):
    if mode == "CLAMP":  # the compile pass's folded MAX/MIN (docs/ir.md): min(max(y, lo), hi)
        return np.minimum(np.maximum(y, a["lo"]), a["hi"])
    if mode == "RELU":
        return np.maximum(y, 0)
    if mode == "SIGMOID":
        return _sigmoid(y)
    if mode == "H_SWISH":
        return y * _relu6(y + 3) / 6
    return y


def _im2col(x, kh, kw, stride, pad, dilation, oh, ow):
    """(N, C, H, W) -> (N, C, KH, KW, OH, OW) patches, zero padded."""
    (sh, sw), (ph, pw), (dh, dw) = stride, pad, dilation
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    n, c = x.shape[:2]
    cols = np.empty((n, c, kh, kw, oh, ow), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = xp[:, :, i * dh: i * dh + sh * (oh - 1) + 1: sh,
                                  j * dw: j * dw + sw * (ow - 1) + 1: sw]
    return cols


def conv(ins, a):
    x, w = _f64(ins[0]), _f64(ins[1])
    g = a["group"]
    if a.get("flip"):
        w = w[:, :, ::-1, ::-1]
    n, c, h, wd = x.shape
    oc, icg, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = a["stride"], a["pad"], a["dilation"]
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    cols = _im2col(x, kh, kw, a["stride"], a["pad"], a["dilation"], oh, ow)
    cols = cols.reshape(n, g, icg * kh * kw, oh * ow)
    wg = w.reshape(g, oc // g, icg * kh * kw)
    y = np.einsum("gok,ngkp->ngop", wg, cols, optimize=True).reshape(n, oc, oh, ow)
    for extra in ins[2:]:
        y = y + _f64(extra)
    y = _activation(y, a["nonlinearity"], a)
    return [y.astype(ins[0].dtype)]


def deconv(ins, a):
    x, w = _f64(ins[0]), _f64(ins[1])
    g = a["group"]
    if a.get("flip"):
        w = w[:, :, ::-1, ::-1]
    n, c, h, wd = x.shape
    _, ocg, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = a["stride"], a["pad"], a["dilation"]
    oh = (h - 1) * sh - 2 * ph + dh * (kh - 1) + 1
    ow = (wd - 1) * sw - 2 * pw + dw * (kw - 1) + 1
    full_h = (h - 1) * sh + dh * (kh - 1) + 1
    full_w = (wd - 1) * sw + dw * (kw - 1) + 1
    y = np.zeros((n, g, ocg, full_h, full_w))
    xg = x.reshape(n, g, c // g, h, wd)
    wg = w.reshape(g, c // g, ocg, kh, kw)
    for i in range(kh):
        for j in range(kw):
            contrib = np.einsum("ngchw,gco->ngohw", xg, wg[:, :, :, i, j])
            y[:, :, :, i * dh: i * dh + sh * (h - 1) + 1: sh, j * dw: j * dw + sw * (wd - 1) + 1: sw] += contrib
    y = y.reshape(n, g * ocg, full_h, full_w)[:, :, ph: ph + oh, pw: pw + ow]
    return [np.ascontiguousarray(y).astype(ins[0].dtype)]


def reduce_(ins, a):
    x = ins[0]
    axes = tuple(a["axes"])
    xf = _f64(x)
    mode = a["mode"]
    if mode == "SUM":
        y = xf.sum(axis=axes, keepdims=True)
    elif mode == "SUM_SQR":
        y = (xf * xf).sum(axis=axes, keepdims=True)
    elif mode == "PRODUCT":
        y = xf.prod(axis=axes, keepdims=True)
    elif mode == "MIN":
        y = xf.min(axis=axes, keepdims=True)
    elif mode == "MAX":
        y = xf.max(axis=axes, keepdims=True)
    elif mode == "MEAN":
        y = xf.mean(axis=axes, keepdims=True)
    else:
        raise ValueError(mode)
    return [y.astype(x.dtype)]


def slice_(ins, a):
    index = []
    for s, e, st in zip(a["starts"], a["stops"], a["steps"]):
        index.append(slice(s, None if e < 0 else e, st))
    return [np.ascontiguousarray(ins[0][tuple(index)])]


def padding(ins, a):
    widths = list(zip(a["front"], a["back"]))
    mode = a["mode"]
    if mode == "CONSTANT":
        return [np.pad(ins[0], widths, constant_values=a["value"]).astype(ins[0].dtype)]
    return [np.pad(ins[0], widths, mode={"REPLICATE": "edge", "REFLECT": "reflect"}[mode])]


def matmul(ins, a):
    x, y = _f64(ins[0]), _f64(ins[1])
    if a["transA"]:
        x = x.T
    if a["transB"]:
        y = y.T
    return [(x @ y).astype(ins[0].dtype)]


def batched_matmul(ins, a):
    x, y = _f64(ins[0]), _f64(ins[1])
    if a["transA"]:
        x = np.swapaxes(x, -1, -2)
    if a["transB"]:
        y = np.swapaxes(y, -1, -2)
    return [np.matmul(x, y).astype(ins[0].dtype)]


def pooling(ins, a):
    x = ins[0]
    (wh, ww), (sh, sw), (ph, pw) = a["window"], a["stride"], a["pad"]
    n, c, h, w = x.shape
    oh = (h + 2 * ph - wh) // sh + 1
    ow = (w + 2 * pw - ww) // sw + 1
    mode = a["mode"]
    if mode == "MAX":
        xp = np.pad(_f64(x), ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
        cols = _im2col(xp, wh, ww, (sh, sw), (0, 0), (1, 1), oh, ow)
        return [cols.max(axis=(2, 3)).astype(x.dtype)]
    ones = np.ones((1, 1, h, w))
    cols = _im2col(_f64(x), wh, ww, (sh, sw), (ph, pw), (1, 1), oh, ow)
    total = cols.sum(axis=(2, 3))
    if mode == "AVERAGE":
        return [(total / (wh * ww)).astype(x.dtype)]
    count = _im2col(ones, wh, ww, (sh, sw), (ph, pw), (1, 1), oh, ow).sum(axis=(2, 3))
    return [(total / count).astype(x.dtype)]


def _linear_coords(out_size, in_size):
    scale = in_size / out_size
    src = (np.arange(out_size) + 0.5) * scale - 0.5
    src = np.maximum(src, 0)
    i0 = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    frac = src - i0
    i1 = np.minimum(i0 + 1, in_size - 1)
    return i0, i1, frac


def resize(ins, a):
    x = ins[0]
    oh, ow = a["size"]
    h, w = x.shape[2:]
    if a["mode"] == "NEAREST":
        ih = np.minimum(np.floor(np.arange(oh) * (h / oh)).astype(np.int64), h - 1)
        iw = np.minimum(np.floor(np.arange(ow) * (w / ow)).astype(np.int64), w - 1)
        return [np.ascontiguousarray(x[:, :, ih][:, :, :, iw])]
    xf = _f64(x)
    h0, h1, fh = _linear_coords(oh, h)
    w0, w1, fw = _linear_coords(ow, w)
    top = xf[:, :, h0] * (1 - fh)[:, None] + xf[:, :, h1] * fh[:, None]
    y = top[:, :, :, w0] * (1 - fw) + top[:, :, :, w1] * fw
    return [y.astype(x.dtype)]


def layernorm(ins, a):
    x = _f64(ins[0])
    k = a["normalized_dim"]
    axes = tuple(range(x.ndim - k, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    rstd = 1.0 / np.sqrt(var + a["eps"])
    y = (x - mean) * rstd
    if a["affine"]:
        norm_shape = x.shape[x.ndim - k:]
        y = y * _f64(ins[1]).reshape(norm_shape) + _f64(ins[2]).reshape(norm_shape)
    stat_shape = x.shape[: x.ndim - k] or (1,)
    dt = ins[0].dtype
    return [y.astype(dt), mean.reshape(stat_shape).astype(dt), rstd.reshape(stat_shape).astype(dt)]


def softmax(ins, a):
    x = _f64(ins[0])
    ax = a["axis"]
    e = np.exp(x - x.max(axis=ax, keepdims=True))
    return [(e / e.sum(axis=ax, keepdims=True)).astype(ins[0].dtype)]


def argmax(ins, a):
    return [np.expand_dims(np.argmax(ins[0], axis=a["axis"]), a["axis"]).astype(np.int32)]


def argmin(ins, a):
    return [np.expand_dims(np.argmin(ins[0], axis=a["axis"]), a["axis"]).astype(np.int32)]


def argsort(ins, a):
    x = ins[0]
    key = -x if a["order"] == "DESCENDING" else x
    idx = np.argsort(key, axis=1, kind="stable")
    return [np.take_along_axis(x, idx, axis=1), idx.astype(np.int32)]


def topk(ins, a):
    x = ins[0]
    k = a["k"]
    key = x if k > 0 else -x
    idx = np.argsort(key, axis=1, kind="stable")[:, : abs(k)]
    vals = np.take_along_axis(x, idx, axis=1)
    if a["mode"] == "KTH_ONLY":
        return [np.ascontiguousarray(vals[:, -1])]
    return [vals, idx.astype(np.int32)]


def indexing_one_hot(ins, a):
    x, idx = ins
    ax = a["axis"]
    return [np.take_along_axis(x, np.expand_dims(idx.astype(np.int64), ax), axis=ax)]


def indexing_set_one_hot(ins, a):
    x, idx, v = ins
    ax = a["axis"]
    y = x.copy()
    np.put_along_axis(y, np.expand_dims(idx.astype(np.int64), ax), v, axis=ax)
    return [y]


def cumsum(ins, a):
    x = ins[0]
    ax = a["axis"]
    xf = _f64(x)
    if a["reverse"]:
        xf = np.flip(xf, ax)
    y = np.cumsum(xf, axis=ax)
    if a["exclusive"]:
        y = y - xf
    if a["reverse"]:
        y = np.flip(y, ax)
    return [np.ascontiguousarray(y).astype(x.dtype)]


def _border_index(i, size, mode):
    if mode == "REPLICATE":
        return np.clip(i, 0, size - 1), np.ones_like(i, dtype=bool)
    if mode == "CONSTANT":
        return np.clip(i, 0, size - 1), (i >= 0) & (i < size)
    if mode == "WRAP":
        return np.mod(i, size), np.ones_like(i, dtype=bool)
    if size == 1:
        return np.zeros_like(i), np.ones_like(i, dtype=bool)
    if mode == "REFLECT":  # abc|cba
        period = 2 * size
        j = np.mod(i, period)
        return np.where(j < size, j, period - 1 - j), np.ones_like(i, dtype=bool)
    if mode == "REFLECT_101":  # abc|ba
        period = 2 * size - 2
        j = np.mod(i, period)
        return np.where(j < size, j, period - j), np.ones_like(i, dtype=bool)
    raise ValueError(mode)


def warp_perspective(ins, a):
    x, mat = _f64(ins[0]), _f64(ins[1])
    oh, ow = a["size"]
    n, c, h, w = x.shape
    bmode, bval = a["bmode"], a["border_val"]
    ys, xs = np.meshgrid(np.arange(oh, dtype=np.float64), np.arange(ow, dtype=np.float64), indexing="ij")
    out = np.empty((mat.shape[0], c, oh, ow))
    for b in range(mat.shape[0]):
        m = mat[b]
        src = x[b if x.shape[0] > 1 else 0]
        den = m[2, 0] * xs + m[2, 1] * ys + m[2, 2]
        sx = (m[0, 0] * xs + m[0, 1] * ys + m[0, 2]) / den
        sy = (m[1, 0] * xs + m[1, 1] * ys + m[1, 2]) / den
        if a["imode"] == "NEAREST":
            ix, vx = _border_index(np.round(sx).astype(np.int64), w, bmode)
            iy, vy = _border_index(np.round(sy).astype(np.int64), h, bmode)
            out[b] = np.where(vx & vy, src[:, iy, ix], bval)
            continue
        x0, y0 = np.floor(sx).astype(np.int64), np.floor(sy).astype(np.int64)
        fx, fy = sx - x0, sy - y0
        acc = 0.0
        for dy, wy in ((0, 1 - fy), (1, fy)):
            for dx, wx in ((0, 1 - fx), (1, fx)):
                ix, vx = _border_index(x0 + dx, w, bmode)
                iy, vy = _border_index(y0 + dy, h, bmode)
                acc = acc + np.where(vx & vy, src[:, iy, ix], bval) * (wy * wx)
        out[b] = acc
    return [out.astype(ins[0].dtype)]


def batchnorm(ins, a):
    x, scale, bias, mean, var = (_f64(t) for t in ins)
    y = (x - mean) / np.sqrt(var + a["eps"]) * scale + bias
    return [y.astype(ins[0].dtype)]


def linspace(ins, a):
    start, stop = float(ins[0].reshape(-1)[0]), float(ins[1].reshape(-1)[0])
    return [np.linspace(start, stop, a["num"], endpoint=a["endpoint"]).astype(np.float32)]


KERNELS: dict[str, Kernel] = {
    "Conv": conv,
    "Deconv": deconv,
    "Elemwise": elemwise,
    "PowC": lambda ins, a: [np.power(_f64(ins[0]), a["exp"]).astype(ins[0].dtype)],
    "TypeCvt": lambda ins, a: [ins[0].astype(np.dtype(a["dtype"]))],
    "Reduce": reduce_,
    "Reshape": lambda ins, a: [ins[0].reshape(a["shape"])],
    "Broadcast": lambda ins, a: [np.broadcast_to(ins[0], a["shape"]).copy()],
    "Transpose": lambda ins, a: [np.ascontiguousarray(ins[0].transpose(a["perm"]))],
    "Concat": lambda ins, a: [np.concatenate(ins, axis=a["axis"])],
    "Slice": slice_,
    "Padding": padding,
    "MatMul": matmul,
    "BatchedMatMul": batched_matmul,
    "Pooling": pooling,
    "Resize": resize,
    "LayerNorm": layernorm,
    "Softmax": softmax,
    "Argmax": argmax,
    "Argmin": argmin,
    "Argsort": argsort,
    "TopK": topk,
    "IndexingOneHot": indexing_one_hot,
    "IndexingSetOneHot": indexing_set_one_hot,
    "Cumsum": cumsum,
    "WarpPerspective": warp_perspective,
    "BatchNorm": batchnorm,
    "Linspace": linspace,
}


def run_node(op: str, inputs: list[np.ndarray], attrs: dict[str, Any]) -> list[np.ndarray]:
    return KERNELS[op](inputs, attrs)


def execute(graph: Graph, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Run the graph on named inputs; returns the outputs in model order."""
    env: dict[int, np.ndarray] = {}
    for vid in graph.inputs:
        v = graph.values[vid]
        if v.name not in feeds:
            raise InputError(f"missing input {v.name!r} (expected {v.dtype}{list(v.shape)})")
        arr = np.asarray(feeds[v.name])
        if arr.shape != v.shape or arr.dtype != v.dtype:
            raise InputError(f"input {v.name!r}: expected {v.dtype}{list(v.shape)}, "
                             f"got {arr.dtype}{list(arr.shape)}")
        env[vid] = arr
    for v in graph.values:
        if v.const is not None:
            env[v.id] = v.const
    for node in graph.nodes:
        results = run_node(node.op, [env[i] for i in node.inputs], node.attrs)
        for vid, r in zip(node.outputs, results):
            env[vid] = r
    return [env[o] for o in graph.outputs]


# -- fused operators (docs/ir.md "Fused operators") ------------------------------------------------


def run_program(ins: list[np.ndarray], a: dict[str, Any]) -> list[np.ndarray]:
    """Evaluate a fused program step by step with the unfused kernels: bit-identical to the graph
    it replaces (each step computes in float64 and rounds to float32, as the unfused nodes do)."""
    regs: dict[int, np.ndarray] = {}
    for k, (pos, dims, strides) in enumerate(a["views"]):
        flat = np.ascontiguousarray(ins[pos]).reshape(-1)
        itemsize = flat.dtype.itemsize
        regs[k] = np.lib.stride_tricks.as_strided(flat, shape=tuple(dims),
                                                  strides=tuple(s * itemsize for s in strides)).reshape(-1)
    for kind, arg, dst, srcs in a["program"]:
        x = [regs[s] for s in srcs]
        if kind == "ELEMWISE":
            regs[dst] = elemwise(x, {"mode": arg})[0]
        elif kind == "POWC":
            regs[dst] = np.power(_f64(x[0]), arg).astype(np.float32)
        elif kind == "ROUND_F16":
            regs[dst] = x[0].astype(np.float16).astype(np.float32)
        else:
            regs[dst] = x[0].copy()
    return [regs[r].reshape(s).astype(np.float32) for r, s in zip(a["outputs"], a["out_shapes"])]


def fused_layernorm(ins, a):
    n_prog = len(ins) - (2 if a["affine"] else 0)
    return layernorm(run_program(ins[:n_prog], a) + list(ins[n_prog:]), a)


def fused_mean(ins, a):
    # The unfused Pooling sums the window in float64 and divides by its area: the same mean.
    x = run_program(ins, a)[0]
    return [_f64(x).mean(axis=tuple(a["axes"]), keepdims=True).astype(np.float32)]


KERNELS.update({
    "FusedElemwise": run_program,
    "FusedSoftmax": lambda ins, a: softmax(run_program(ins, a), a),
    "FusedLayerNorm": fused_layernorm,
    "FusedMean": fused_mean,
})


# -- blocked layouts (docs/ir.md "Blocked layouts"): unblock -> the plain operator -> block ----------


def block_nchw(x: np.ndarray, block: int) -> np.ndarray:
    """(N, C, H, W) -> (N, ceil(C/b), H, W, b), padding channels with zeros."""
    n, c, h, w = x.shape
    cb = -(-c // block)
    xp = np.zeros((n, cb * block, h, w), dtype=x.dtype)
    xp[:, :c] = x
    return np.ascontiguousarray(xp.reshape(n, cb, block, h, w).transpose(0, 1, 3, 4, 2))


def unblock_nchw(x: np.ndarray, channels: int) -> np.ndarray:
    """(N, C/b, H, W, b) -> (N, channels, H, W): the padding lanes are dropped."""
    n, cb, h, w, b = x.shape
    return np.ascontiguousarray(x.transpose(0, 1, 4, 2, 3).reshape(n, cb * b, h, w)[:, :channels])


def relayout(ins, a):
    if a["to"] == "BLOCKED":
        return [block_nchw(ins[0], a["block"])]
    return [unblock_nchw(ins[0], a["channels"])]


def blocked_conv(ins, a):
    x, w, b = ins[0], ins[1], a["block"]
    c = w.shape[1] * a["group"]
    plain = [x if x.ndim == 4 else unblock_nchw(x, c), w]
    if len(ins) > 2:
        plain.append(ins[2].reshape(1, -1, 1, 1))
    if len(ins) > 3:
        plain.append(unblock_nchw(ins[3], w.shape[0]))
    return [block_nchw(conv(plain, a)[0], b)]


def blocked_pooling(ins, a):
    x = ins[0]
    return [block_nchw(pooling([unblock_nchw(x, x.shape[1] * x.shape[4])], a)[0], a["block"])]


KERNELS.update({"Relayout": relayout, "BlockedConv": blocked_conv, "BlockedPooling": blocked_pooling})
