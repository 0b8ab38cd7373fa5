"""Writing loadrun IR graphs as MegEngine 1.13 ``.mge`` files (FlatBuffers "mgv2").

The output is what ``megengine.jit.trace.dump`` would write for the same graph with
``optimize_for_inference=False``: a size-prefixed FlatBuffer with identifier ``mgv2``, operators
in topological order with sequential var ids, weights as anonymous ``ImmutableTensor`` values,
graph inputs as named ``Host2DeviceCopy`` tensors, and a ``middle_tensors`` entry (name and
static shape) for every var. Params are written like MegEngine writes them: fields equal to the
schema default are omitted. MegEngine 1.13 loads these files and runs them to the reference
executor's outputs (``tests/test_mge_writer.py``; docs: ``../shared/docs/mge-format.md``).

IR operators map back to MegEngine operators as the reader (``loadrun.formats.mge_to_ir``) maps
them forward, so ``read(write(g))`` rebuilds ``g``: the same nodes in the same order with the same
attributes, shapes and bit-identical constants. Where MegEngine has no direct equivalent the
writer composes one (a ``BatchedMatMul`` over more than one batch axis is reshaped to 3-d; a
``Conv`` bias MegEngine cannot take becomes separate ``Elemwise`` nodes), which reads back as an
equivalent but longer graph.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import flatbuffers
import numpy as np

from loadrun.atomic_files import atomic_write_bytes
from loadrun.formats import mge_schema as S
from loadrun.ir import ops as O
from loadrun.ir.graph import Graph

MGE_VERSION = 101300  # MegEngine 1.13.0
MODEL_VERSION = 2
COMP_NODE = "xpux:0"
# Tensor data of at least this many bytes starts on a 64-byte boundary of the file, so a reader
# can use it in place with any dtype and SIMD loads.
ALIGN_FROM_BYTES = 256
DATA_ALIGN = 64
_PICKLED_NONE = b"\x80\x04N."  # trace.dump's Metadata.user_info when no user info is given


class MgeWriteError(ValueError):
    """The graph cannot be expressed as a MegEngine model (the message says why)."""


@dataclass
class _Tensor:
    name: str | None
    shape: tuple[int, ...]
    dtype: int  # DTypeEnum
    data: bytes | memoryview | None


@dataclass
class _Op:
    registered: str
    opr_version: int
    inputs: list[int]
    outputs: list[int]
    params: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    tensors: list[_Tensor] = field(default_factory=list)


def _dtype_enum(dt: np.dtype, what: str) -> int:
    code = S.NUMPY_TO_DTYPE.get(np.dtype(dt).name)
    if code is None:
        raise MgeWriteError(f"{what}: dtype {np.dtype(dt)} has no MegEngine equivalent")
    return code


class _Lowering:
    """IR graph -> a list of MegEngine operators with sequential var ids."""

    def __init__(self, graph: Graph):
        self.g = graph
        self.ops: list[_Op] = []
        self.var_names: list[str] = []
        self.var_shapes: list[tuple[int, ...] | None] = []
        self.vmap: dict[int, int] = {}  # IR value id -> MegEngine var id
        self.const_cache: dict[tuple, int] = {}  # helper constants by (dtype, shape, bytes)

    # -- vars and constants ------------------------------------------------------------------------

    def _new_var(self, name: str, shape: tuple[int, ...] | None) -> int:
        vid = len(self.var_names)
        self.var_names.append(name or f"var{vid}")
        self.var_shapes.append(None if shape is None else tuple(int(d) for d in shape))
        return vid

    def add_op(self, canonical: str, inputs: list[int], outs: list[tuple[str, Any]],
               params: list[tuple[int, dict[str, Any]]] | None = None,
               tensors: list[_Tensor] | None = None) -> list[int]:
        opr_version, registered = S.OPERATORS[canonical]
        ids = [self._new_var(n, s) for n, s in outs]
        self.ops.append(_Op(registered, opr_version, list(inputs), ids, list(params or []), list(tensors or [])))
        return ids

    def immutable(self, array: np.ndarray, name: str) -> int:
        arr = np.ascontiguousarray(array)
        if arr.ndim == 0:
            arr = arr.reshape(1)
        code = _dtype_enum(arr.dtype, f"constant {name!r}")
        if arr.dtype.byteorder == ">":
            arr = arr.astype(arr.dtype.newbyteorder("<"))
        data = memoryview(arr).cast("B") if arr.size else b""
        t = _Tensor(None, arr.shape, code, data)
        return self.add_op("ImmutableTensor", [], [(name, arr.shape)], tensors=[t])[0]

    def helper_const(self, values, dtype, name: str) -> int:
        arr = np.ascontiguousarray(np.asarray(values, dtype=dtype).reshape(-1))
        key = (arr.dtype.str, arr.shape, arr.tobytes())
        if key not in self.const_cache:
            self.const_cache[key] = self.immutable(arr, name)
        return self.const_cache[key]

    def shape_const(self, shape, name: str) -> int:
        return self.helper_const([int(d) for d in shape], np.int32, name)

    def var(self, vid: int) -> int:
        """The MegEngine var of IR value ``vid``, emitting its ImmutableTensor on first use."""
        if vid not in self.vmap:
            v = self.g.values[vid]
            if v.const is None:
                raise MgeWriteError(f"value %{vid} {v.name!r} is used before it is defined")
            self.vmap[vid] = self.immutable(v.const, v.name or f"const{vid}")
        return self.vmap[vid]

    def reshaped(self, vid: int, shape: tuple[int, ...], name: str) -> int:
        """``vid`` with another shape: a new constant for constants, else a ReshapeV1."""
        v = self.g.values[vid]
        if v.shape == tuple(shape):
            return self.var(vid)
        if v.const is not None:
            key = ("reshaped", vid, tuple(shape))
            if key not in self.const_cache:
                self.const_cache[key] = self.immutable(v.const.reshape(shape), v.name or name)
            return self.const_cache[key]
        return self.reshape_var(self.var(vid), shape, name)

    def reshape_var(self, mvar: int, shape: tuple[int, ...], name: str) -> int:
        tshape = self.shape_const(shape, f"{name}:shape")
        return self.add_op("Reshape", [mvar, tshape], [(name, shape)], [(54, {})])[0]

    # -- driver ------------------------------------------------------------------------------------

    def run(self) -> None:
        g = self.g
        for vid in g.inputs:
            v = g.values[vid]
            code = _dtype_enum(v.dtype, f"input {v.name!r}")
            t = _Tensor(v.name, v.shape, code, None)
            self.vmap[vid] = self.add_op("Host2DeviceCopy", [], [(v.name, v.shape)], [(63, {})], [t])[0]
        for node in g.nodes:
            handler = getattr(self, f"w_{node.op}", None)
            if handler is None:
                raise MgeWriteError(f"IR operator {node.op} cannot be written as MegEngine operators")
            outs = handler(node)
            if len(outs) != len(node.outputs):
                raise AssertionError(f"{node.op}: lowering gave {len(outs)} outputs for {len(node.outputs)}")
            for o, m in zip(node.outputs, outs):
                if o in self.vmap:
                    raise MgeWriteError(f"value %{o} is defined twice")
                self.vmap[o] = m
        for o in g.outputs:
            self.var(o)

    def _outs(self, node, k: int | None = None) -> list[tuple[str, tuple[int, ...]]]:
        ids = node.outputs if k is None else node.outputs[:k]
        return [(self.g.values[o].name or node.name or node.op, self.g.values[o].shape) for o in ids]

    def _name(self, node) -> str:
        return self.g.values[node.outputs[0]].name or node.name or node.op

    def _shape(self, vid: int) -> tuple[int, ...]:
        return self.g.values[vid].shape

    # -- convolution -------------------------------------------------------------------------------

    @staticmethod
    def _conv_fields(a: dict[str, Any], sparse: str) -> dict[str, Any]:
        (sh, sw), (ph, pw), (dh, dw) = a["stride"], a["pad"], a["dilation"]
        return dict(mode="CONVOLUTION" if a.get("flip") else "CROSS_CORRELATION", pad_h=ph, pad_w=pw,
                    stride_h=sh, stride_w=sw, dilate_h=dh, dilate_w=dw, sparse=sparse, format="NCHW")

    def w_Conv(self, node):
        a = node.attrs
        name = self._name(node)
        x, w, *extra = node.inputs
        g = int(a["group"])
        oc, icg, kh, kw = self._shape(w)
        if g > 1:
            wv = self.reshaped(w, (g, oc // g, icg, kh, kw), f"{name}:filter")
        else:
            wv = self.var(w)
        sparse = "GROUP" if g > 1 else "DENSE"
        out_shape = self._shape(node.outputs[0])
        nonlin = a.get("nonlinearity", "IDENTITY")
        fields = self._conv_fields(a, sparse)
        policy = (55, {})
        if not extra and nonlin == "IDENTITY":
            return self.add_op("Convolution", [self.var(x), wv], self._outs(node), [(3, fields), policy])
        # ConvBias takes a (1, OC, 1, 1) or full-shape bias. Its z input is not used: MegEngine 1.13's
        # CPU kernels ignore z for float32 (a full-shape residual goes in the bias, as
        # optimize_for_inference does), so z is added by a following Elemwise.
        bias, z = extra[0], (extra[1] if len(extra) > 1 else None)
        if self._shape(bias) in ((1, oc, 1, 1), out_shape):
            act = "IDENTITY" if z is not None else nonlin
            fields = dict(nonlineMode=act, **fields)
            out = [(f"{name}:conv", out_shape)] if z is not None else self._outs(node)
            y = self.add_op("ConvBiasForward", [self.var(x), wv, self.var(bias)], out, [(6, fields), policy])[0]
            adds = [z] if z is not None else []
        else:
            y = self.add_op("Convolution", [self.var(x), wv], [(f"{name}:conv", out_shape)],
                            [(3, fields), policy])[0]
            adds = list(extra)
        for k, e in enumerate(adds):
            last = k == len(adds) - 1
            # Every conv nonlinearity has a fused add form (FUSE_ADD_RELU, _SIGMOID, _H_SWISH).
            mode = "ADD" if not last or nonlin == "IDENTITY" else f"FUSE_ADD_{nonlin}"
            y = self.add_op("Elemwise", [y, self.var(e)], [(name, out_shape)] if last else [(f"{name}:add{k}", out_shape)],
                            [(17, {"mode": O.ELEMWISE_MODES.index(mode)})])[0]
        return [y]

    def w_Deconv(self, node):
        a = node.attrs
        name = self._name(node)
        x, w = node.inputs
        g = int(a["group"])
        ic, ocg, kh, kw = self._shape(w)
        if g > 1:
            wv = self.reshaped(w, (g, ic // g, ocg, kh, kw), f"{name}:filter")
        else:
            wv = self.var(w)
        fields = self._conv_fields(a, "GROUP" if g > 1 else "DENSE")
        return self.add_op("ConvolutionBackwardData", [wv, self.var(x)], self._outs(node),
                           [(3, fields), (55, {})])

    # -- elementwise -------------------------------------------------------------------------------

    def _elemwise(self, mode: str, ins: list[int], outs) -> int:
        return self.add_op("Elemwise", ins, outs, [(17, {"mode": O.ELEMWISE_MODES.index(mode)})])[0]

    def w_Elemwise(self, node):
        mode = node.attrs["mode"]
        if mode not in O.ELEMWISE_ARITY:
            raise MgeWriteError(f"Elemwise mode {mode} is not supported")
        ins = [self.var(i) for i in node.inputs]
        outs = self._outs(node)
        name = self._name(node)
        shape = self._shape(node.outputs[0])
        # MegEngine's comparisons give 0/1 in the input dtype; its dumper casts them to Bool, so
        # does this writer (the reader drops a cast to the dtype a value already has).
        if mode in O.BOOL_RESULT_MODES:
            x = node.inputs[0]
            if mode in ("NEQ", "ISNAN"):  # registered in 1.13 but without a kernel
                cmp = self._elemwise("EQ", ins if mode == "NEQ" else ins * 2, [(f"{name}:eq", shape)])
            elif mode == "ISINF":  # likewise
                ab = self._elemwise("ABS", ins, [(f"{name}:abs", shape)])
                inf = self.helper_const([np.inf], self.g.values[x].dtype, f"{name}:inf")
                cmp = self._elemwise("EQ", [ab, inf], [(f"{name}:eq", shape)])
            else:
                cmp = self._elemwise(mode, ins, [(f"{name}:cmp", shape)])
            if mode in ("NEQ", "ISNAN"):
                as_bool = self.add_op("TypeCvt", [cmp], [(f"{name}:bool", shape)], [(67, {"type": 18})])[0]
                return [self._elemwise("NOT", [as_bool], outs)]
            return self.add_op("TypeCvt", [cmp], outs, [(67, {"type": 18})])
        return [self._elemwise(mode, ins, outs)]

    def w_PowC(self, node):
        return self.add_op("PowC", [self.var(node.inputs[0])], self._outs(node),
                           [(19, {"exp": float(node.attrs["exp"])})])

    def w_TypeCvt(self, node):
        code = _dtype_enum(np.dtype(node.attrs["dtype"]), "TypeCvt")
        return self.add_op("TypeCvt", [self.var(node.inputs[0])], self._outs(node), [(67, {"type": code})])

    # -- shapes ------------------------------------------------------------------------------------

    def w_Reshape(self, node):
        name = self._name(node)
        tshape = self.shape_const(node.attrs["shape"], f"{name}:shape")
        return self.add_op("Reshape", [self.var(node.inputs[0]), tshape], self._outs(node), [(54, {})])

    def w_Broadcast(self, node):
        name = self._name(node)
        tshape = self.shape_const(node.attrs["shape"], f"{name}:shape")
        return self.add_op("Broadcast", [self.var(node.inputs[0]), tshape], self._outs(node), [(1, {})])

    def w_Transpose(self, node):
        perm = [int(p) for p in node.attrs["perm"]]
        return self.add_op("Dimshuffle", [self.var(node.inputs[0])], self._outs(node),
                           [(64, {"pattern": perm, "ndim": len(perm)})])

    def w_Concat(self, node):
        return self.add_op("Concat", [self.var(i) for i in node.inputs], self._outs(node),
                           [(2, {"axis": int(node.attrs["axis"])})])

    def w_Slice(self, node):
        name = self._name(node)
        shape = self._shape(node.inputs[0])
        items, index_vars = [], []
        for axis, (d, s, e, st) in enumerate(zip(shape, node.attrs["starts"], node.attrs["stops"],
                                                   node.attrs["steps"])):
            s, e, st = int(s), int(e), int(st)
            if (s, e, st) == (0, d, 1):
                continue
            begin = s != (0 if st > 0 else d - 1)
            end = not (e == (d if st > 0 else -1))
            step = st != 1
            for flag, val in ((begin, s), (end, e), (step, st)):
                if flag:
                    index_vars.append(self.helper_const([val], np.int32, f"{name}:index"))
            items.append(dict(axis=axis, begin=begin, end=end, step=step, idx=False))
        return self.add_op("Subtensor", [self.var(node.inputs[0])] + index_vars, self._outs(node),
                           [(66, {"items": items})])

    def w_Padding(self, node):
        a = node.attrs
        fields: dict[str, Any] = {}
        for i, (f, b) in enumerate(zip(a["front"], a["back"])):
            fields[f"front_offset_dim{i}"] = int(f)
            fields[f"back_offset_dim{i}"] = int(b)
        fields.update(padding_val=float(a.get("value", 0.0)), padding_mode=a["mode"])
        return self.add_op("Padding", [self.var(node.inputs[0])], self._outs(node), [(82, fields)])

    # -- linear algebra ----------------------------------------------------------------------------

    def _mm_fields(self, a):
        return {"transposeA": bool(a["transA"]), "transposeB": bool(a["transB"])}

    def w_MatMul(self, node):
        return self.add_op("MatrixMul", [self.var(i) for i in node.inputs], self._outs(node),
                           [(20, self._mm_fields(node.attrs))])

    def w_BatchedMatMul(self, node):
        a, b = node.inputs
        sa, sb = self._shape(a), self._shape(b)
        if len(sa) == 3:
            return self.add_op("BatchedMatrixMul", [self.var(a), self.var(b)], self._outs(node),
                               [(20, self._mm_fields(node.attrs))])
        # MegEngine's BatchedMatrixMul is 3-d only: fold the batch axes.
        name = self._name(node)
        batch = int(np.prod(sa[:-2], dtype=np.int64))
        a3 = self.reshaped(a, (batch,) + tuple(sa[-2:]), f"{name}:a")
        b3 = self.reshaped(b, (batch,) + tuple(sb[-2:]), f"{name}:b")
        out = self._shape(node.outputs[0])
        y = self.add_op("BatchedMatrixMul", [a3, b3], [(f"{name}:bmm", (batch,) + tuple(out[-2:]))],
                        [(20, self._mm_fields(node.attrs))])[0]
        return [self.reshape_var(y, out, name)]

    # -- pooling, resampling -----------------------------------------------------------------------

    def w_Pooling(self, node):
        a = node.attrs
        (wh, ww), (sh, sw), (ph, pw) = a["window"], a["stride"], a["pad"]
        fields = dict(mode=a["mode"], pad_h=ph, pad_w=pw, stride_h=sh, stride_w=sw, window_h=wh, window_w=ww,
                      format="NCHW")
        return self.add_op("Pooling", [self.var(node.inputs[0])], self._outs(node), [(9, fields)])

    def w_Resize(self, node):
        name = self._name(node)
        size = self.shape_const(node.attrs["size"], f"{name}:size")
        return self.add_op("Resize", [self.var(node.inputs[0]), size], self._outs(node),
                           [(40, {"imode": node.attrs["mode"], "format": "NCHW"})])

    def w_WarpPerspective(self, node):
        a = node.attrs
        name = self._name(node)
        size = self.shape_const(a["size"], f"{name}:size")
        x, mat = node.inputs
        fields = dict(imode=a["imode"], bmode=a["bmode"], format="NCHW", border_val=float(a.get("border_val", 0.0)))
        return self.add_op("WarpPerspective", [self.var(x), self.var(mat), size], self._outs(node), [(13, fields)])

    # -- normalisation -----------------------------------------------------------------------------

    def w_LayerNorm(self, node):
        a = node.attrs
        shape = self._shape(node.inputs[0])
        k = int(a["normalized_dim"])
        size = int(np.prod(shape[len(shape) - k:], dtype=np.int64))
        fields = dict(affine=bool(a["affine"]), eps=float(a["eps"]), normalized_dim=k, normalized_size=size)
        ins = [self.var(node.inputs[0])]
        if a["affine"]:
            norm_shape = tuple(shape[len(shape) - k:])
            ins += [self.reshaped(i, norm_shape, f"{self._name(node)}:affine") for i in node.inputs[1:3]]
        return self.add_op("LayerNorm", ins, self._outs(node), [(85, fields)])

    def w_Softmax(self, node):
        return self.add_op("Softmax", [self.var(node.inputs[0])], self._outs(node),
                           [(90, {"axis": int(node.attrs["axis"])})])

    def w_BatchNorm(self, node):
        name = self._name(node)
        x, *params = node.inputs
        shape = self._shape(x)
        if len(shape) != 4:
            raise MgeWriteError(f"BatchNorm {name!r}: MegEngine's BatchNorm needs a 4-d input, got {list(shape)}")
        pshape = (1, shape[1], 1, 1)
        ins = [self.var(x)]
        for p in params:
            ps = self._shape(p)
            if ps != pshape and int(np.prod(ps)) == shape[1]:
                ins.append(self.reshaped(p, pshape, f"{name}:param"))
            elif ps == pshape:
                ins.append(self.var(p))
            else:
                raise MgeWriteError(f"BatchNorm {name!r}: parameter shape {list(ps)} is not per-channel")
        fields = dict(param_dim="DIM_1C11", fwd_mode="INFERENCE", epsilon=float(node.attrs["eps"]))
        # MegEngine's BatchNorm has 6 outputs; a dump lists the 4 non-volatile ones, y last.
        stats = [(f"{name}:stat{k}", pshape) for k in range(3)]
        outs = self.add_op("BatchNorm", ins, stats + self._outs(node), [(11, fields)])
        return [outs[-1]]

    # -- reductions, indexing ----------------------------------------------------------------------

    def w_Reduce(self, node):
        a = node.attrs
        name = self._name(node)
        x = self.var(node.inputs[0])
        shape = self._shape(node.inputs[0])
        axes = sorted({int(ax) for ax in a["axes"]})
        out_shape = self._shape(node.outputs[0])
        mode = a["mode"]
        if len(axes) == 1:
            return self.add_op("Reduce", [x], self._outs(node), [(23, {"mode": mode, "axis": axes[0]})])
        if out_shape != shape:
            # One ReduceV2 to the target shape (MegEngine's form for several axes at once).
            target = self.shape_const(out_shape, f"{name}:shape")
            return self.add_op("Reduce", [x, target], self._outs(node), [(23, {"mode": mode})])
        # Every reduced axis already has size 1: one ReduceV2 per axis.
        y = x
        for k, ax in enumerate(axes):
            m = mode if (k == 0 or mode != "SUM_SQR") else "SUM"
            last = k == len(axes) - 1
            y = self.add_op("Reduce", [y], self._outs(node) if last else [(f"{name}:{k}", out_shape)],
                            [(23, {"mode": m, "axis": ax})])[0]
        return [y]

    def _axis_op(self, canonical, node):
        return self.add_op(canonical, [self.var(i) for i in node.inputs], self._outs(node),
                           [(2, {"axis": int(node.attrs["axis"])})])

    def w_Argmax(self, node):
        return self._axis_op("Argmax", node)

    def w_Argmin(self, node):
        return self._axis_op("Argmin", node)

    def w_IndexingOneHot(self, node):
        return self._axis_op("IndexingOneHot", node)

    def w_IndexingSetOneHot(self, node):
        return self._axis_op("IndexingSetOneHot", node)

    def w_Argsort(self, node):
        return self.add_op("Argsort", [self.var(node.inputs[0])], self._outs(node),
                           [(26, {"order": node.attrs["order"]})])

    def w_TopK(self, node):
        name = self._name(node)
        k = self.helper_const([int(node.attrs["k"])], np.int32, f"{name}:k")
        return self.add_op("TopK", [self.var(node.inputs[0]), k], self._outs(node),
                           [(44, {"mode": node.attrs["mode"]})])

    def w_Cumsum(self, node):
        a = node.attrs
        return self.add_op("Cumsum", [self.var(node.inputs[0])], self._outs(node),
                           [(24, {"axis": int(a["axis"]), "exclusive": bool(a["exclusive"]),
                                  "reverse": bool(a["reverse"])})])

    def w_Linspace(self, node):
        name = self._name(node)
        ins = []
        for vid, what in zip(node.inputs, ("start", "stop")):
            if self.g.values[vid].size != 1:
                raise MgeWriteError(f"Linspace {name!r}: {what} has shape {list(self._shape(vid))} (one element expected)")
            ins.append(self.reshaped(vid, (1,), f"{name}:{what}"))
        num = self.helper_const([int(node.attrs["num"])], np.int32, f"{name}:num")
        return self.add_op("Linspace", ins + [num], self._outs(node),
                           [(29, {"endpoint": bool(node.attrs["endpoint"])})])


# -- FlatBuffers encoding ------------------------------------------------------------------------------

_PREPEND = {
    "bool": "PrependBoolSlot", "u8": "PrependUint8Slot", "i8": "PrependInt8Slot", "u16": "PrependUint16Slot",
    "i16": "PrependInt16Slot", "u32": "PrependUint32Slot", "i32": "PrependInt32Slot",
    "u64": "PrependUint64Slot", "i64": "PrependInt64Slot", "f32": "PrependFloat32Slot",
    "f64": "PrependFloat64Slot",
}


class _Encoder:
    def __init__(self, size_hint: int):
        self.b = flatbuffers.Builder(max(1024, size_hint))
        self.strings: dict[str, int] = {}

    def string(self, s: str | bytes) -> int:
        return self.b.CreateString(s)

    def shared_string(self, s: str) -> int:
        if s not in self.strings:
            self.strings[s] = self.b.CreateString(s)
        return self.strings[s]

    def u32_vector(self, values) -> int:
        return self.b.CreateNumpyVector(np.asarray(values, dtype="<u4").reshape(-1))

    def offsets_vector(self, offsets: list[int]) -> int:
        b = self.b
        b.StartVector(4, len(offsets), 4)
        for off in reversed(offsets):
            b.PrependUOffsetTRelative(off)
        return b.EndVector()

    def bytes_vector(self, data: bytes | memoryview) -> int:
        b = self.b
        n = len(data)
        b.StartVector(1, n, DATA_ALIGN if n >= ALIGN_FROM_BYTES else 4)
        b.head = b.head - n
        b.Bytes[b.head:b.head + n] = data
        return b.EndVector()

    # -- tables ----------------------------------------------------------------------------------------

    def param(self, tag: int, fields: dict[str, Any]) -> int:
        name, spec = S.PARAMS[tag]
        known = {f for f, _, _ in spec}
        unknown = set(fields) - known
        if unknown:
            raise AssertionError(f"param {name}: unknown fields {sorted(unknown)}")
        b = self.b
        # Offsets (vectors, sub-tables) must be built before the table itself.
        offsets: dict[str, int] = {}
        for fname, kind, _default in spec:
            if fname not in fields:
                continue
            v = fields[fname]
            if kind == "[i32]":
                offsets[fname] = b.CreateNumpyVector(np.asarray(v, dtype="<i4").reshape(-1))
            elif kind == "[AxisDesc]":
                b.StartVector(8, len(v), 4)
                for method, axis in reversed(v):
                    b.Prep(4, 8)
                    b.PrependInt32(int(axis))
                    b.Pad(3)
                    b.PrependInt8(0 if method in ("ADD_1", 0) else 1)
                offsets[fname] = b.EndVector()
            elif kind == "[IndexDescMaskItem]":
                b.StartVector(5, len(v), 1)
                for it in reversed(v):
                    b.Prep(1, 5)
                    for flag in ("idx", "step", "end", "begin"):
                        b.PrependBool(bool(it[flag]))
                    b.PrependInt8(int(it["axis"]))
                offsets[fname] = b.EndVector()
        b.StartObject(len(spec))
        for slot, (fname, kind, default) in enumerate(spec):
            if fname not in fields:
                continue
            v = fields[fname]
            if fname in offsets:
                b.PrependUOffsetTRelativeSlot(slot, offsets[fname], 0)
            elif kind.startswith("enum:"):
                members = S.ENUMS[kind[5:]]
                idx = members.index(v) if isinstance(v, str) else int(v)
                b.PrependUint32Slot(slot, idx, default)
            elif kind == "LinearQuantizationParam":
                if v is not None:
                    raise MgeWriteError("quantized dtypes are not written")
            elif kind == "bool":
                b.PrependBoolSlot(slot, bool(v), bool(default))
            elif kind in ("f32", "f64"):
                getattr(b, _PREPEND[kind])(slot, float(v), float(default))
            else:
                getattr(b, _PREPEND[kind])(slot, int(v), int(default))
        return b.EndObject()

    def dtype_table(self, code: int) -> int:
        b = self.b
        b.StartObject(3)
        b.PrependInt8Slot(0, code, 0)
        return b.EndObject()

    def comp_node(self) -> int:
        b = self.b
        s = self.shared_string(COMP_NODE)
        b.StartObject(1)
        b.PrependUOffsetTRelativeSlot(0, s, 0)
        return b.EndObject()

    def tensor(self, t: _Tensor) -> int:
        b = self.b
        data = self.bytes_vector(t.data) if t.data is not None and len(t.data) else None
        name = self.string(t.name) if t.name else None
        shape = self.u32_vector(t.shape)
        cn = self.comp_node()
        dt = self.dtype_table(t.dtype)
        b.StartObject(0)  # DefaultTensorFormat{}
        fmt = b.EndObject()
        b.StartObject(7)
        if name is not None:
            b.PrependUOffsetTRelativeSlot(S.TENSOR_NAME, name, 0)
        b.PrependUOffsetTRelativeSlot(S.TENSOR_SHAPE, shape, 0)
        b.PrependUOffsetTRelativeSlot(S.TENSOR_COMP_NODE, cn, 0)
        b.PrependUOffsetTRelativeSlot(S.TENSOR_DTYPE, dt, 0)
        b.PrependUint8Slot(S.TENSOR_FORMAT_TYPE, 1, 0)
        b.PrependUOffsetTRelativeSlot(S.TENSOR_FORMAT, fmt, 0)
        if data is not None:
            b.PrependUOffsetTRelativeSlot(S.TENSOR_DATA, data, 0)
        return b.EndObject()

    def operator(self, op: _Op) -> int:
        b = self.b
        tensors = [self.tensor(t) for t in op.tensors]
        tensors_vec = self.offsets_vector(tensors) if tensors else None
        params = [(tag, self.param(tag, fields)) for tag, fields in op.params]
        add = params[1:]
        add_types = add_tables = None
        if add:
            add_types = b.CreateNumpyVector(np.asarray([t for t, _ in add], dtype=np.uint8))
            add_tables = self.offsets_vector([o for _, o in add])
        inputs = self.u32_vector(op.inputs) if op.inputs else None
        outputs = self.u32_vector(op.outputs)
        type_str = self.shared_string(op.registered)
        b.StartObject(15)
        b.PrependUOffsetTRelativeSlot(S.OP_TYPE, type_str, 0)
        b.PrependUint64Slot(S.OP_TYPE_ID, S.type_id_v2(op.registered, op.opr_version), 0)
        if params:
            b.PrependUint8Slot(S.OP_PARAM_TYPE, params[0][0], 0)
            b.PrependUOffsetTRelativeSlot(S.OP_PARAM, params[0][1], 0)
        if add:
            b.PrependUOffsetTRelativeSlot(S.OP_ADD_PARAM_TYPES, add_types, 0)
            b.PrependUOffsetTRelativeSlot(S.OP_ADD_PARAMS, add_tables, 0)
        if inputs is not None:
            b.PrependUOffsetTRelativeSlot(S.OP_INPUTS, inputs, 0)
        b.PrependUOffsetTRelativeSlot(S.OP_OUTPUTS, outputs, 0)
        if tensors_vec is not None:
            b.PrependUOffsetTRelativeSlot(S.OP_TENSORS, tensors_vec, 0)
        b.PrependUint32Slot(S.OP_OPR_VERSION, op.opr_version, 0)
        return b.EndObject()

    def middle_tensor(self, name: str, shape: tuple[int, ...] | None) -> int:
        b = self.b
        n = self.string(name)
        s = self.u32_vector(shape) if shape is not None else None
        b.StartObject(5)
        b.PrependUOffsetTRelativeSlot(0, n, 0)
        if s is not None:
            b.PrependUOffsetTRelativeSlot(1, s, 0)
        return b.EndObject()

    def model(self, low: _Lowering, outputs: list[int]) -> bytes:
        b = self.b
        ops = [self.operator(op) for op in low.ops]
        ops_vec = self.offsets_vector(ops)
        mts = [self.middle_tensor(n, s) for n, s in zip(low.var_names, low.var_shapes)]
        mts_vec = self.offsets_vector(mts)
        outs = []
        for mvar in outputs:
            b.StartObject(2)
            b.PrependUint32Slot(0, mvar, 0)
            b.PrependUint32Slot(1, mvar, 0)
            outs.append(b.EndObject())
        outs_vec = self.offsets_vector(outs)
        alias_vec = self.offsets_vector([])
        user_info = self.string(_PICKLED_NONE)
        b.StartObject(4)
        b.PrependBoolSlot(0, True, False)
        b.PrependUOffsetTRelativeSlot(3, user_info, 0)
        meta = b.EndObject()
        b.StartObject(8)
        b.PrependUint32Slot(S.MODEL_MGE_VERSION, MGE_VERSION, 0)
        b.PrependUint32Slot(S.MODEL_MODEL_VERSION, MODEL_VERSION, 0)
        b.PrependUOffsetTRelativeSlot(S.MODEL_OPRS, ops_vec, 0)
        b.PrependUOffsetTRelativeSlot(S.MODEL_MIDDLE_TENSORS, mts_vec, 0)
        b.PrependUOffsetTRelativeSlot(S.MODEL_OUTPUT_VARS, outs_vec, 0)
        b.PrependUOffsetTRelativeSlot(S.MODEL_OUTPUT_ALIAS, alias_vec, 0)
        b.PrependUOffsetTRelativeSlot(S.MODEL_METADATA, meta, 0)
        root = b.EndObject()
        b.FinishSizePrefixed(root, b"mgv2")
        return bytes(b.Output())


def write_mge(graph: Graph) -> bytes:
    """The bytes of a MegEngine 1.13 ``.mge`` file (mgv2) computing ``graph``."""
    graph.validate()
    for n in graph.nodes:
        try:
            O.infer(n.op, [(graph.values[i].shape, graph.values[i].dtype) for i in n.inputs], n.attrs)
        except O.OpError as e:
            raise MgeWriteError(f"node {n.name or n.op!r}: {e}") from None
    names = graph.output_names()
    if len(set(names)) != len(names) or any(not nm for nm in names):
        raise MgeWriteError(f"graph output names must be unique and non-empty: {names}")
    low = _Lowering(graph)
    low.run()
    size = sum(len(t.data) for op in low.ops for t in op.tensors if t.data is not None)
    enc = _Encoder(size + 64 * len(low.ops) + 4096)
    return enc.model(low, [low.vmap[o] for o in graph.outputs])


def save_mge(graph: Graph, path: str | os.PathLike) -> None:
    """Write ``graph`` to ``path`` atomically (a temporary file in the same folder, then a rename)."""
    atomic_write_bytes(path, write_mge(graph))
