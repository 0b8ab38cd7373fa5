"""MegEngine operators -> loadrun IR, folding everything static on the way.

Each MegEngine var maps to an IR value. Nodes whose inputs are all constants are evaluated by the
reference executor and become constants, so shape arithmetic (GetVarShape, Subtensor on shapes,
Concat of dims, …) disappears and Reshape/Broadcast/Subtensor get static attributes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from loadrun.errors import ModelFormatError, UnsupportedOperatorError
from loadrun.formats import mge_schema as S
from loadrun.formats.mge import MAX_TENSOR_ELEMENTS, RawModel, RawOp, RawTensor, one_line
from loadrun.ir import ops as O
from loadrun.ir.graph import Graph
from loadrun.ir.reference import run_node

SUPPORTED_MGE_OPERATORS = sorted(S.OPERATORS)

# Inputs each MegEngine operator takes (at least, at most; None = any number); the handlers rely on it.
MGE_INPUT_COUNTS: dict[str, tuple[int, int | None]] = {
    "ImmutableTensor": (0, 0), "Host2DeviceCopy": (0, 0), "SharedDeviceTensor": (0, 0),
    "MultipleDeviceTensorHolder": (0, 0), "SharedDeviceTensorWithFormat": (0, 0),
    "MultipleDeviceTensorWithFormatHolder": (0, 0), "ConvBiasForward": (2, 4), "Convolution": (2, 2),
    "ConvolutionBackwardData": (2, 3), "Elemwise": (1, 4), "PowC": (1, 1), "TypeCvt": (1, 1),
    "Reduce": (1, 2), "Pooling": (1, 1), "AdaptivePooling": (2, 2), "MatrixMul": (2, 2),
    "BatchedMatrixMul": (2, 2), "Reshape": (2, 2), "GetVarShape": (1, None), "Dimshuffle": (1, 1),
    "AxisAddRemove": (1, 1), "Concat": (1, None), "Broadcast": (2, 2), "Subtensor": (1, None),
    "Padding": (1, 1), "Resize": (2, 2), "WarpPerspective": (3, 4), "LayerNorm": (1, 3), "Softmax": (1, 1),
    "BatchNorm": (5, 5), "Argmax": (1, 1), "Argmin": (1, 1), "Argsort": (1, 1), "TopK": (2, 2),
    "Linspace": (3, 3), "IndexingOneHot": (2, 2), "IndexingSetOneHot": (3, 3), "Cumsum": (1, 1),
    "Copy": (1, 1), "Identity": (1, 1), "AssertEqual": (2, 3),
}

# Folding a constant larger than this would bloat the model; such nodes stay in the graph.
MAX_FOLD_ELEMENTS = 1 << 24


def _fold_cost(op: str, ins: list[O.TypedShape], outs: list[O.TypedShape], attrs: dict[str, Any]) -> int:
    """Elements the reference executor touches to fold ``op`` (its temporaries included), in Python ints."""
    size = sum(math.prod(s) for s, _ in ins) + sum(math.prod(s) for s, _ in outs)
    if op in ("Conv", "Pooling", "Deconv"):
        n, c, h, w = ins[0][0]
        ph, pw = attrs["pad"]
        kh, kw = ins[1][0][2:] if op != "Pooling" else attrs["window"]
        if op == "Deconv":
            (sh, sw), (dh, dw) = attrs["stride"], attrs["dilation"]
            return size + math.prod(outs[0][0][:2]) * ((h - 1) * sh + dh * (kh - 1) + 1) * ((w - 1) * sw + dw * (kw - 1) + 1)
        oh, ow = outs[0][0][2:]
        return size + n * c * (h + 2 * ph) * (w + 2 * pw) + n * c * kh * kw * oh * ow
    return size


class _Unsupported(Exception):
    pass


class _Bad(Exception):
    pass


class Builder:
    def __init__(self, raw: RawModel, input_shapes: dict[str, tuple[int, ...]] | None):
        self.raw = raw
        self.g = Graph()
        self.var: dict[int, int] = {}  # MegEngine var id -> IR value id
        self.input_shapes = dict(input_shapes or {})
        self.expect_inputs: set[int] = set()  # graph inputs feeding AssertEqual's "expect"
        self.input_names: set[str] = set()

    # -- helpers ---------------------------------------------------------------------------------

    def val(self, vid: int):
        return self.g.values[vid]

    def ints_of(self, vid: int, what: str, count: int | None = None) -> list[int]:
        """The values of a static integer tensor (a shape, a size, an index), checked."""
        arr = self.const_of(vid, what).reshape(-1)
        if arr.dtype.kind not in "iub" and not (arr.dtype.kind == "f" and np.all(np.isfinite(arr))
                                                 and np.all(arr == np.round(arr))):
            raise _Bad(f"{what} holds non-integer values")
        if count is not None and arr.size != count:
            raise _Bad(f"{what} has {arr.size} elements, expected {count}")
        return [int(v) for v in arr]

    def const_of(self, vid: int, what: str) -> np.ndarray:
        v = self.val(vid)
        if v.const is None:
            raise _Unsupported(f"{what} must be static (computable from constants and input shapes)")
        return v.const

    def emit(self, op: str, inputs: list[int], attrs: dict[str, Any], name: str,
             n_out: int | None = None) -> list[int]:
        ins = [(self.val(i).shape, self.val(i).dtype) for i in inputs]
        try:
            outs = O.infer(op, ins, attrs)
        except O.OpError as e:
            raise _Bad(f"{op}: {e}") from None
        for s, _ in outs:
            if math.prod(s) > MAX_TENSOR_ELEMENTS:
                raise _Bad(f"{op}: its output {list(s)} would have more than 2^32 elements")
        consts = [self.val(i).const for i in inputs]
        if all(c is not None for c in consts) and _fold_cost(op, ins, outs, attrs) <= MAX_FOLD_ELEMENTS:
            results = run_node(op, consts, attrs)
            return [self.g.add_const(name if k == 0 else f"{name}:{k}", np.ascontiguousarray(r))
                    for k, r in enumerate(results)]
        ids = [self.g.add_value(name if k == 0 else f"{name}:{k}", s, t) for k, (s, t) in enumerate(outs)]
        self.g.add_node(op, inputs, ids, attrs, name)
        return ids

    def reshape(self, vid: int, shape: tuple[int, ...], name: str) -> int:
        if self.val(vid).shape == tuple(shape):
            return vid
        return self.emit("Reshape", [vid], {"shape": tuple(int(d) for d in shape)}, name)[0]

    # -- conversion --------------------------------------------------------------------------------

    def build(self) -> Graph:
        for op in self.raw.oprs:
            try:
                self.convert(op)
            except _Unsupported as e:
                raise UnsupportedOperatorError(one_line(
                    f"{self.raw.path}: operator #{op.index} {op.registered} ({op.name or self._name(op)}): {e}")) from None
            except (_Bad, O.OpError) as e:
                raise ModelFormatError(self.raw.path, one_line(f"operator #{op.index} {op.registered}: {e}")) from None
            except (ArithmeticError, ValueError, IndexError, KeyError, TypeError, MemoryError) as e:
                # Values no real model has (NaN sizes, absurd axes, ...) that slipped past the checks.
                raise ModelFormatError(self.raw.path, one_line(
                    f"operator #{op.index} {op.registered}: malformed ({e.__class__.__name__}: {e})")) from None
        g = self.g
        seen_names: set[str] = set()
        seen_vids: set[int] = set()
        produced = {o for n in g.nodes for o in n.outputs}
        for k, mvar in enumerate(self.raw.outputs):
            if mvar not in self.var:
                raise ModelFormatError(self.raw.path, f"graph output var {mvar} is not produced by any operator")
            vid = self.var[mvar]
            name = self.raw.var_names.get(mvar, f"unnamed{k}")
            v = g.values[vid]
            if vid not in produced or vid in seen_vids:
                # Constant, input or repeated outputs get their own copy so every output is a node result.
                new = g.add_value(name, v.shape, v.dtype)
                g.add_node("Reshape", [vid], [new], {"shape": v.shape}, name)
                vid = new
            g.values[vid].name = name if name not in seen_names else f"{name}:{k}"
            seen_names.add(g.values[vid].name)
            seen_vids.add(vid)
            g.outputs.append(vid)
        g.meta.update(source="mge", container=self.raw.container, mge_version=self.raw.mge_version,
                      mge_version_string=self.raw.version_string, model_version=self.raw.model_version)
        if self.expect_inputs:
            # Drop the expected-value inputs once the assertions are gone, unless something else uses them.
            producer, live, stack = g.producers(), set(), list(g.outputs)
            while stack:
                v = stack.pop()
                if v not in live:
                    live.add(v)
                    stack.extend(producer[v].inputs if v in producer else [])
            g.inputs = [i for i in g.inputs if i not in self.expect_inputs or i in live]
        g = g.prune()
        try:
            g.validate()
        except ValueError as e:
            raise ModelFormatError(self.raw.path, one_line(f"inconsistent graph: {e}")) from None
        return g

    def _name(self, op: RawOp) -> str:
        return self.raw.var_names.get(op.outputs[0], op.type) if op.outputs else op.type

    def bind(self, op: RawOp, ids: list[int | None]) -> None:
        if len(ids) < len(op.outputs):
            raise _Bad(f"produces {len(ids)} outputs but the file lists {len(op.outputs)}")
        for mvar, vid in zip(op.outputs, ids):
            if vid is None:
                continue
            self.var[mvar] = vid
            want = self.raw.var_shapes.get(mvar)
            have = self.g.values[vid].shape
            if want is not None and want and not self.input_shapes and tuple(want) != have:
                raise _Bad(f"inferred shape {list(have)} for var {mvar} "
                           f"({self.raw.var_names.get(mvar, '?')}) but the file records {list(want)}")

    def param(self, op: RawOp, name: str, index: int = 0) -> dict[str, Any]:
        matching = [p for p in op.params if p.name == name and p.tag in S.PARAMS]  # (tag 51 is also "DType")
        if len(matching) <= index:
            raise _Bad(f"missing its {name} param")
        return matching[index].fields

    def convert(self, op: RawOp) -> None:
        handler = getattr(self, f"op_{op.type}", None)
        if handler is None:
            raise _Unsupported(f"operator {op.type!r} is not supported yet; supported: "
                               + ", ".join(SUPPORTED_MGE_OPERATORS))
        if op.output_dtype is not None and S.DTYPES.get(op.output_dtype[0]) is None:
            raise _Unsupported(f"output dtype {S.DTYPE_NAMES[op.output_dtype[0]]} (quantized models are not supported yet)")
        lo, hi = MGE_INPUT_COUNTS.get(op.type, (0, None))
        if len(op.inputs) < lo or (hi is not None and len(op.inputs) > hi):
            raise _Bad(f"has {len(op.inputs)} inputs (expected {lo}" + (f"-{hi})" if hi != lo else ")"))
        for i in op.inputs:
            if i not in self.var:
                raise _Bad(f"input var {i} is not defined before it is used")
        ins = [self.var[i] for i in op.inputs]
        out = handler(op, ins, self._name(op))
        self.bind(op, out)

    # -- sources -----------------------------------------------------------------------------------

    def _const_tensor(self, t: RawTensor, name: str) -> int:
        dt = t.numpy_dtype()
        if dt is None:
            raise _Unsupported(f"constant of dtype {S.DTYPE_NAMES[t.dtype]} (quantized/low-bit types are not supported yet)")
        if t.data is None:
            raise _Bad("constant tensor without data")
        return self.g.add_const(name, t.array())

    def op_ImmutableTensor(self, op, ins, name):
        if len(op.tensors) != 1:
            raise _Bad(f"expects 1 tensor, has {len(op.tensors)}")
        return [self._const_tensor(op.tensors[0], name)]

    op_SharedDeviceTensor = op_ImmutableTensor
    op_SharedDeviceTensorWithFormat = op_ImmutableTensor

    def op_MultipleDeviceTensorHolder(self, op, ins, name):
        if len(op.tensors) != len(op.outputs):
            raise _Bad(f"{len(op.tensors)} tensors for {len(op.outputs)} outputs")
        return [self._const_tensor(t, self.raw.var_names.get(o, name)) for t, o in zip(op.tensors, op.outputs)]

    op_MultipleDeviceTensorWithFormatHolder = op_MultipleDeviceTensorHolder

    def op_Host2DeviceCopy(self, op, ins, name):
        if len(op.tensors) != 1 or not op.tensors[0].name:
            raise _Bad("graph input without its named tensor")
        t = op.tensors[0]
        dt = t.numpy_dtype()
        if dt is None:
            raise _Unsupported(f"input dtype {S.DTYPE_NAMES[t.dtype]} is not supported yet")
        if t.name in self.input_names:
            raise _Bad(f"duplicate graph input name {t.name!r}")
        self.input_names.add(t.name)
        shape = tuple(self.input_shapes.get(t.name, t.shape))
        vid = self.g.add_value(t.name, shape, dt)
        self.g.inputs.append(vid)
        return [vid]

    # -- convolution -------------------------------------------------------------------------------

    def _conv_attrs(self, p: dict[str, Any]) -> dict[str, Any]:
        if p["format"] != "NCHW":
            raise _Unsupported(f"convolution format {p['format']} (only NCHW dumps are read; loadrun makes its own blocked layouts)")
        return dict(stride=(p["stride_h"], p["stride_w"]), pad=(p["pad_h"], p["pad_w"]),
                    dilation=(p["dilate_h"], p["dilate_w"]), flip=p["mode"] == "CONVOLUTION")

    def _group_filter(self, w: int, sparse: str, name: str) -> tuple[int, int]:
        shape = self.val(w).shape
        if sparse == "DENSE":
            if len(shape) != 4:
                raise _Bad(f"dense filter must be 4-d, got {list(shape)}")
            return w, 1
        if len(shape) != 5:
            raise _Bad(f"group filter must be 5-d, got {list(shape)}")
        g, a, b, kh, kw = shape
        return self.reshape(w, (g * a, b, kh, kw), f"{name}:filter"), g

    def _conv(self, op, ins, name, nonlin):
        p = self.param(op, "ConvBias" if op.type == "ConvBiasForward" else "Convolution")
        attrs = self._conv_attrs(p)
        if len(ins) < 2 or len(ins) > 4:
            raise _Bad(f"takes 2-4 inputs, got {len(ins)}")
        w, group = self._group_filter(ins[1], p["sparse"], name)
        attrs.update(group=group, nonlinearity=nonlin)
        return self.emit("Conv", [ins[0], w, *ins[2:]], attrs, name)

    def op_ConvBiasForward(self, op, ins, name):
        return self._conv(op, ins, name, self.param(op, "ConvBias")["nonlineMode"])

    def op_Convolution(self, op, ins, name):
        if len(ins) != 2:
            raise _Bad(f"takes 2 inputs, got {len(ins)}")
        return self._conv(op, ins, name, "IDENTITY")

    def op_ConvolutionBackwardData(self, op, ins, name):
        p = self.param(op, "Convolution")
        attrs = self._conv_attrs(p)
        if len(ins) not in (2, 3):
            raise _Bad(f"takes 2-3 inputs, got {len(ins)}")
        w, group = self._group_filter(ins[0], p["sparse"], name)
        attrs["group"] = group
        out = self.emit("Deconv", [ins[1], w], attrs, name)
        if len(ins) == 3 and self.val(out[0]).shape != self.val(ins[2]).shape:
            raise _Unsupported("ConvolutionBackwardData with an output shape different from the default")
        return out

    # -- elementwise -------------------------------------------------------------------------------

    def op_Elemwise(self, op, ins, name):
        idx = self.param(op, "Elemwise")["mode"]
        if idx >= len(O.ELEMWISE_MODES):
            raise _Bad(f"unknown Elemwise mode {idx}")
        mode = O.ELEMWISE_MODES[idx]
        if mode not in O.ELEMWISE_ARITY:
            raise _Unsupported(f"Elemwise mode {mode} (training/quantization only)")
        return self.emit("Elemwise", ins, {"mode": mode}, name)

    def op_PowC(self, op, ins, name):
        return self.emit("PowC", ins, {"exp": float(self.param(op, "PowC")["exp"])}, name)

    def op_TypeCvt(self, op, ins, name):
        p = self.param(op, "DType")
        dt = S.DTYPES.get(p["type"])
        if dt is None:
            raise _Unsupported(f"conversion to {S.DTYPE_NAMES.get(p['type'], p['type'])} (quantized types are not supported yet)")
        if self.val(ins[0]).dtype == np.dtype(dt):
            return [ins[0]]  # e.g. the cast to Bool MegEngine puts after comparisons, which give bool here
        return self.emit("TypeCvt", ins, {"dtype": dt}, name)

    # -- shapes ------------------------------------------------------------------------------------

    def op_GetVarShape(self, op, ins, name):
        shape = O._broadcast([self.val(i).shape for i in ins]) if len(ins) > 1 else self.val(ins[0]).shape
        axis = self.param(op, "OptionalAxisV1")["axis"]
        arr = np.asarray(shape, dtype=np.int32)
        if axis != 7:
            arr = arr[[O._norm_axis(axis, len(shape))]]
        return [self.g.add_const(name, arr)]

    def op_Reshape(self, op, ins, name):
        if len(ins) != 2:
            raise _Bad(f"takes 2 inputs, got {len(ins)}")
        tshape = self.ints_of(ins[1], "Reshape's target shape")
        axis = self.param(op, "OptionalAxisV1")["axis"]
        total = self.val(ins[0]).size
        if axis != 7:
            axis = O._norm_axis(axis, len(tshape))
            rest = int(np.prod([d for i, d in enumerate(tshape) if i != axis], dtype=np.int64))
            if rest <= 0 or total % rest:
                raise _Bad(f"cannot reshape {list(self.val(ins[0]).shape)} to {tshape}")
            tshape[axis] = total // rest
        return [self.reshape(ins[0], tuple(tshape), name)]

    def op_Broadcast(self, op, ins, name):
        tshape = tuple(self.ints_of(ins[1], "Broadcast's target shape"))
        if tshape == self.val(ins[0]).shape:
            return [ins[0]]
        return self.emit("Broadcast", [ins[0]], {"shape": tshape}, name)

    def op_AxisAddRemove(self, op, ins, name):
        shape = list(self.val(ins[0]).shape)
        for method, axis in self.param(op, "AxisAddRemove")["desc"]:
            if method == "ADD_1":
                if not 0 <= axis <= len(shape):
                    raise _Bad(f"ADD_1 axis {axis} out of range")
                shape.insert(axis, 1)
            elif method == "REMOVE":
                if not 0 <= axis < len(shape) or shape[axis] != 1:
                    raise _Bad(f"REMOVE axis {axis} of {shape} (must exist and have size 1)")
                shape.pop(axis)
            else:
                raise _Bad(f"unknown AxisAddRemove method {method}")
        return [self.reshape(ins[0], tuple(shape) or (1,), name)]

    def op_Dimshuffle(self, op, ins, name):
        p = self.param(op, "Dimshuffle")
        pattern = p["pattern"]
        shape = self.val(ins[0]).shape
        kept = [a for a in pattern if a >= 0]
        if any(a >= len(shape) for a in kept) or len(set(kept)) != len(kept):
            raise _Bad(f"pattern {pattern} does not fit a {len(shape)}-d input")
        dropped = [a for a in range(len(shape)) if a not in kept]
        if any(shape[a] != 1 for a in dropped):
            raise _Bad(f"pattern {pattern} drops an axis of size > 1 from {list(shape)}")
        final = tuple(1 if a < 0 else shape[a] for a in pattern) or (1,)
        perm = kept + dropped  # dropped axes have size 1: moving them last does not move data
        vid = ins[0]
        if perm != list(range(len(shape))):
            vid = self.emit("Transpose", [vid], {"perm": tuple(perm)}, name)[0]
        return [self.reshape(vid, final, name)]

    def op_Concat(self, op, ins, name):
        nd = len(self.val(ins[0]).shape)
        axis = O._norm_axis(self.param(op, "Axis")["axis"], nd)
        if len(ins) == 1:
            return [ins[0]]
        return self.emit("Concat", ins, {"axis": axis}, name)

    def op_Subtensor(self, op, ins, name):
        items = self.param(op, "IndexDescMaskDump")["items"]
        shape = list(self.val(ins[0]).shape)
        starts, stops, steps = [0] * len(shape), list(shape), [1] * len(shape)
        k = 1
        removed = []

        def scalar(flag_name):
            nonlocal k
            if k >= len(ins):
                raise _Bad("fewer index inputs than its items need")
            (value,) = self.ints_of(ins[k], f"Subtensor's {flag_name}", 1)
            k += 1
            return value

        for item in items:
            axis = item["axis"]
            if not -len(shape) <= axis < len(shape):
                raise _Bad(f"index axis {axis} out of range for {shape}")
            axis %= len(shape)
            d = shape[axis]
            b = scalar("begin") if item["begin"] else None
            e = scalar("end") if item["end"] else None
            s = scalar("step") if item["step"] else None
            if item["idx"]:
                i = scalar("idx")
                if not -d <= i < d:
                    raise _Bad(f"index {i} out of range for axis {axis} of size {d}")
                i %= d
                starts[axis], stops[axis], steps[axis] = i, i + 1, 1
                removed.append(axis)
                continue
            if s == 0:
                raise _Bad("slice step 0")
            start, stop, step = slice(b, e, s).indices(d)
            starts[axis], stops[axis], steps[axis] = start, stop, step
        if k != len(ins):
            raise _Bad(f"{len(ins) - k} index inputs are left unused")
        if any(O.slice_len(a, b, c) == 0 for a, b, c in zip(starts, stops, steps)):
            raise _Unsupported("a slice with an empty result")
        whole = all(a == 0 and b == d and c == 1 for a, b, c, d in zip(starts, stops, steps, shape))
        vid = ins[0] if whole else self.emit(
            "Slice", [ins[0]], {"starts": tuple(starts), "stops": tuple(stops), "steps": tuple(steps)}, name)[0]
        out = [O.slice_len(a, b, c) for a, b, c in zip(starts, stops, steps)]
        final = tuple(d for i, d in enumerate(out) if i not in removed) or (1,)
        return [self.reshape(vid, final, name)]

    def op_Padding(self, op, ins, name):
        p = self.param(op, "Padding")
        nd = len(self.val(ins[0]).shape)
        front = tuple(p[f"front_offset_dim{i}"] for i in range(nd))
        back = tuple(p[f"back_offset_dim{i}"] for i in range(nd))
        return self.emit("Padding", ins, {"front": front, "back": back, "mode": p["padding_mode"],
                                          "value": float(p["padding_val"])}, name)

    # -- linear algebra ----------------------------------------------------------------------------

    def _mm_attrs(self, op):
        p = self.param(op, "MatrixMul")
        if p["format"] != "DEFAULT":
            raise _Unsupported(f"MatrixMul format {p['format']}")
        return {"transA": bool(p["transposeA"]), "transB": bool(p["transposeB"])}

    def op_MatrixMul(self, op, ins, name):
        return self.emit("MatMul", ins, self._mm_attrs(op), name)

    def op_BatchedMatrixMul(self, op, ins, name):
        return self.emit("BatchedMatMul", ins, self._mm_attrs(op), name)

    # -- pooling, resampling -----------------------------------------------------------------------

    def op_Pooling(self, op, ins, name):
        p = self.param(op, "Pooling")
        if p["format"] != "NCHW":
            raise _Unsupported(f"pooling format {p['format']}")
        return self.emit("Pooling", ins, {"mode": p["mode"], "window": (p["window_h"], p["window_w"]),
                                          "stride": (p["stride_h"], p["stride_w"]),
                                          "pad": (p["pad_h"], p["pad_w"])}, name)

    def op_AdaptivePooling(self, op, ins, name):
        p = self.param(op, "AdaptivePooling")
        if p["format"] != "NCHW":
            raise _Unsupported(f"pooling format {p['format']}")
        out = self.ints_of(ins[1], "AdaptivePooling's output size")
        shape = self.val(ins[0]).shape
        if len(out) != 2 or len(shape) != 4 or min(out) < 1:
            raise _Bad(f"output size {out} for input {list(shape)}")
        # megdnn's deduction: stride = in / out, window = in - (out - 1) * stride, no padding.
        sh, sw = shape[2] // out[0], shape[3] // out[1]
        if sh < 1 or sw < 1:
            raise _Unsupported("adaptive pooling to a size larger than the input")
        wh, ww = shape[2] - (out[0] - 1) * sh, shape[3] - (out[1] - 1) * sw
        return self.emit("Pooling", [ins[0]], {"mode": p["mode"], "window": (wh, ww), "stride": (sh, sw),
                                               "pad": (0, 0)}, name)

    def op_Resize(self, op, ins, name):
        p = self.param(op, "Resize")
        if p["format"] != "NCHW":
            raise _Unsupported(f"resize format {p['format']}")
        if p["imode"] not in O.RESIZE_MODES:
            raise _Unsupported(f"resize interpolation {p['imode']}")
        size = self.ints_of(ins[1], "Resize's output size")
        if len(size) != 2:
            raise _Bad(f"output size {size}")
        return self.emit("Resize", [ins[0]], {"mode": p["imode"], "size": tuple(size)}, name)

    def op_WarpPerspective(self, op, ins, name):
        p = self.param(op, "WarpPerspective")
        if p["format"] != "NCHW":
            raise _Unsupported(f"warp format {p['format']}")
        if len(ins) != 3:
            raise _Unsupported("WarpPerspective with a mat_idx input")
        if p["imode"] not in ("LINEAR", "NEAREST") or p["bmode"] not in O.BORDER_MODES:
            raise _Unsupported(f"WarpPerspective {p['imode']}/{p['bmode']}")
        size = self.ints_of(ins[-1], "WarpPerspective's output size", 2)
        return self.emit("WarpPerspective", ins[:2], {"size": tuple(size), "imode": p["imode"],
                                                      "bmode": p["bmode"], "border_val": float(p["border_val"])}, name)

    # -- normalisation -----------------------------------------------------------------------------

    def op_LayerNorm(self, op, ins, name):
        p = self.param(op, "LayerNorm")
        return self.emit("LayerNorm", ins, {"eps": float(p["eps"]), "normalized_dim": int(p["normalized_dim"]),
                                            "affine": bool(p["affine"])}, name)

    def op_Softmax(self, op, ins, name):
        nd = len(self.val(ins[0]).shape)
        return self.emit("Softmax", ins, {"axis": O._norm_axis(self.param(op, "Softmax")["axis"], nd)}, name)

    def op_BatchNorm(self, op, ins, name):
        p = self.param(op, "BN")
        if p["fwd_mode"] != "INFERENCE":
            raise _Unsupported("BatchNorm in training mode (dump with optimize_for_inference or eval mode)")
        if p["param_dim"] != "DIM_1C11" and p["param_dim"] != "DIM_11HW":
            raise _Unsupported(f"BatchNorm param_dim {p['param_dim']}")
        y = self.emit("BatchNorm", ins, {"eps": float(p["epsilon"])}, name)
        return [None] * (len(op.outputs) - 1) + y

    # -- reductions, indexing ----------------------------------------------------------------------

    def op_Reduce(self, op, ins, name):
        p = self.param(op, "Reduce")
        if p["data_type"] not in ("DEFAULT", "FLOAT_O32xC32"):
            raise _Unsupported(f"Reduce data_type {p['data_type']}")
        shape = self.val(ins[0]).shape
        axis = p["axis"]
        if -7 <= axis < 7:
            axes = (O._norm_axis(axis, len(shape)),)
        else:
            if len(ins) != 2:
                raise _Bad("Reduce without an axis needs a target shape input")
            target = self.ints_of(ins[1], "Reduce's target shape")
            if target == [1] and len(shape) > 1:  # a reduction to one element, shape (1,)
                axes = tuple(i for i, d in enumerate(shape) if d != 1)
                y = self.emit("Reduce", [ins[0]], {"mode": p["mode"], "axes": axes}, name)[0] if axes \
                    else self._reduce_nothing(ins[0], p["mode"], name)
                return [self.reshape(y, (1,), name)]
            if len(target) != len(shape) or any(t not in (1, d) for t, d in zip(target, shape)):
                raise _Unsupported(f"Reduce from {list(shape)} to {target}")
            axes = tuple(i for i, (t, d) in enumerate(zip(target, shape)) if t == 1 and d != 1)
            if not axes:
                return [self._reduce_nothing(ins[0], p["mode"], name)]
        return self.emit("Reduce", [ins[0]], {"mode": p["mode"], "axes": axes}, name)

    def _reduce_nothing(self, x: int, mode: str, name: str) -> int:
        # Reducing only size-1 axes changes nothing, except SUM_SQR, which still squares (checked
        # against MegEngine 1.13).
        return self.emit("Elemwise", [x], {"mode": "SQUARE"}, name)[0] if mode == "SUM_SQR" else x

    def _axis_op(self, irop, op, ins, name):
        nd = len(self.val(ins[0]).shape)
        return self.emit(irop, ins, {"axis": O._norm_axis(self.param(op, "Axis")["axis"], nd)}, name)

    def op_Argmax(self, op, ins, name):
        return self._axis_op("Argmax", op, ins, name)

    def op_Argmin(self, op, ins, name):
        return self._axis_op("Argmin", op, ins, name)

    def op_IndexingOneHot(self, op, ins, name):
        return self._axis_op("IndexingOneHot", op, ins, name)

    def op_IndexingSetOneHot(self, op, ins, name):
        return self._axis_op("IndexingSetOneHot", op, ins, name)

    def op_Argsort(self, op, ins, name):
        return self.emit("Argsort", ins, {"order": self.param(op, "Argsort")["order"]}, name)

    def op_TopK(self, op, ins, name):
        k = self.ints_of(ins[1], "TopK's k", 1)[0]
        return self.emit("TopK", [ins[0]], {"k": k, "mode": self.param(op, "TopK")["mode"]}, name)

    def op_Linspace(self, op, ins, name):
        num = self.ints_of(ins[2], "Linspace's num", 1)[0]
        if num < 1:
            raise _Bad(f"Linspace num {num}")
        return self.emit("Linspace", ins[:2], {"num": num, "endpoint": self.param(op, "Linspace")["endpoint"]}, name)

    def op_Cumsum(self, op, ins, name):
        p = self.param(op, "Cumsum")
        nd = len(self.val(ins[0]).shape)
        return self.emit("Cumsum", ins, {"axis": O._norm_axis(p["axis"], nd), "exclusive": p["exclusive"],
                                         "reverse": p["reverse"]}, name)

    def op_AssertEqual(self, op, ins, name):
        # trace.dump(input_data=...) ("mgbtest0" files) checks each output against an expected value
        # fed as an extra graph input: AssertEqual(expect, get[, err]) passes `get` through.
        if len(ins) < 2:
            raise _Bad(f"takes 2-3 inputs, got {len(ins)}")
        if ins[0] in self.g.inputs:
            self.expect_inputs.add(ins[0])
        if op.inputs[1] in self.raw.var_names and op.outputs:
            self.raw.var_names[op.outputs[0]] = self.raw.var_names[op.inputs[1]]
        return [ins[1]]

    def op_Copy(self, op, ins, name):
        return [ins[0]]

    op_Identity = op_Copy


def to_ir(raw: RawModel, input_shapes: dict[str, tuple[int, ...]] | None = None) -> Graph:
    return Builder(raw, input_shapes).build()
