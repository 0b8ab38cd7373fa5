"""Layout pass: NCHW regions -> channel-blocked tensors (N, ceil(C/b), H, W, b) (docs/compile.md "Layouts").

The vector dimension of the blocked layout is b channels (nchw16: b = 16 for AVX-512, nchw88: b = 8
for AVX2, nchw44: b = 4 for NEON), so direct convolution kernels broadcast one input pixel against
b output channels at a time (oneDNN's nChw16c, MegEngine's NCHW88/NCHW44, ncnn's pack16/8/4).

What converts:
- Conv (dense or depthwise, dilation 1, bias one value per channel, residual of the output's shape)
  -> ``BlockedConv``; its input is the blocked value, or the plain NCHW one when it has at most
  ``PLAIN_INPUT_MAX_C`` channels and is not blocked already (the stem over RGB reads NCHW directly);
- Pooling -> ``BlockedPooling`` (global pooling included);
- Elemwise / FusedElemwise whose inputs are blocked values of the output's shape, scalars,
  per-channel constants (reblocked here, zero padded) or per-channel activations (Relayout);
- Concat along channels when every part is a multiple of b.
Everything else reads NCHW: a ``Relayout`` to NCHW is inserted once per value before its first such
reader (and for graph outputs), and one to blocked before the first blocked reader of a plain value.

Channels that are not a multiple of b are padded (the padding lanes hold unspecified values that no
kernel mixes into real channels: convolutions read only real input channels, pooling and
elementwise work lane by lane, Relayout drops them); Concat of a padded part stays NCHW.
Weights stay NCHW in the file: the blocked kernels reorder them in ``prepare`` (weight preprocess)
or inside every run.
"""

from __future__ import annotations

import numpy as np

from loadrun.compile.passes.fuse import _view
from loadrun.ir.graph import Graph, Node, Value
from loadrun.ir.ops import BLOCKED_CONV_NONLINEARITIES, blocked_shape
from loadrun.ir.reference import block_nchw

BLOCK = {"nchw16": 16, "nchw88": 8, "nchw44": 4}
PLAIN_INPUT_MAX_C = 4


def apply_layout(graph: Graph, layout: str, *, block: int | None = None) -> Graph:
    """Return ``graph`` with its NCHW regions in the blocked ``layout`` ("nchw" returns it as is)."""
    if layout == "nchw":
        return graph
    if layout not in BLOCK:
        raise ValueError(f"layout must be one of nchw, {', '.join(BLOCK)}; got {layout!r}")
    return _Rewriter(graph, block or BLOCK[layout]).run()


class _Rewriter:
    def __init__(self, graph: Graph, b: int) -> None:
        self.src, self.b = graph, b
        self.g = Graph([Value(v.id, v.name, v.shape, v.dtype, v.const) for v in graph.values], [],
                       list(graph.inputs), list(graph.outputs), dict(graph.meta))
        self.blocked: dict[int, int] = {}  # plain value id -> its blocked value id
        self.plain: set[int] = set(graph.inputs) | {v.id for v in graph.values if v.is_const}
        self.const_blocked: dict[int, int] = {}

    # -- values ------------------------------------------------------------------------------------

    def _new(self, name: str, shape, dtype, const=None) -> int:
        return self.g.add_value(name, shape, dtype, const)

    def need_plain(self, vid: int) -> int:
        if vid not in self.plain:
            bv = self.blocked[vid]
            v = self.g.values[vid]
            self.g.add_node("Relayout", [bv], [vid], {"block": self.b, "to": "NCHW", "channels": v.shape[1]},
                            f"{v.name}:to_nchw")
            self.plain.add(vid)
        return vid

    def need_blocked(self, vid: int) -> int:
        if vid not in self.blocked:
            v = self.g.values[vid]
            bv = self._new(f"{v.name}:nchw{self.b}", blocked_shape(v.shape, self.b), v.dtype)
            self.g.add_node("Relayout", [vid], [bv], {"block": self.b, "to": "BLOCKED", "channels": v.shape[1]},
                            f"{v.name}:to_blocked")
            self.blocked[vid] = bv
        return self.blocked[vid]

    def blocked_const(self, vid: int, out_c: int) -> int:
        """A per-channel constant broadcast over (N, C, H, W), as (1, C/b, 1, 1, b)."""
        if vid not in self.const_blocked:
            v = self.g.values[vid]
            arr = np.broadcast_to(v.const, (1, out_c, 1, 1)) if v.const.ndim < 4 else v.const
            arr = block_nchw(np.ascontiguousarray(arr), self.b)
            self.const_blocked[vid] = self._new(f"{v.name}:nchw{self.b}", arr.shape, v.dtype, arr)
        return self.const_blocked[vid]

    def outputs_blocked(self, node: Node) -> list[int]:
        outs = []
        for o in node.outputs:
            v = self.g.values[o]
            bv = self._new(f"{v.name}:nchw{self.b}", blocked_shape(v.shape, self.b), v.dtype)
            self.blocked[o] = bv
            outs.append(bv)
        return outs

    def is_blocked(self, vid: int) -> bool:
        return vid in self.blocked

    def _is_4d_f32(self, vid: int) -> bool:
        v = self.g.values[vid]
        return len(v.shape) == 4 and v.dtype == np.float32

    # -- nodes -------------------------------------------------------------------------------------

    def run(self) -> Graph:
        for node in self.src.nodes:
            if not self.convert(node):
                self.g.add_node(node.op, [self.need_plain(i) for i in node.inputs], list(node.outputs), node.attrs,
                                node.name)
                self.plain.update(node.outputs)
        for o in self.g.outputs:
            self.need_plain(o)
        return self.g.prune()

    def convert(self, node: Node) -> bool:
        if node.op == "Conv":
            return self.conv(node)
        if node.op == "Pooling":
            if not self._is_4d_f32(node.inputs[0]):
                return False
            self.g.add_node("BlockedPooling", [self.need_blocked(node.inputs[0])], self.outputs_blocked(node),
                            {**node.attrs, "block": self.b}, node.name)
            return True
        if node.op in ("Elemwise", "FusedElemwise"):
            return self.elemwise(node)
        if node.op == "Concat":
            return self.concat(node)
        return False

    def conv(self, node: Node) -> bool:
        a = node.attrs
        x, w = (self.g.values[i] for i in node.inputs[:2])
        if (not self._is_4d_f32(x.id) or w.const is None or w.dtype != np.float32 or tuple(a["dilation"]) != (1, 1)
                or a.get("nonlinearity", "IDENTITY") not in BLOCKED_CONV_NONLINEARITIES):
            return False
        oc, icg, _, _ = w.shape
        c, g = x.shape[1], a["group"]
        if g != 1 and not (g == c == oc and icg == 1):
            return False
        y = self.g.values[node.outputs[0]]
        extra = list(node.inputs[2:])
        if len(extra) == 1 and self.g.values[extra[0]].shape == y.shape and oc != y.size:
            # a full-shape operand in the bias slot (MegEngine's ConvBias(x, w, z)): a residual
            extra = [self._new(f"{node.name}:zero_bias", (oc,), np.float32, np.zeros(oc, np.float32)), extra[0]]
        if len(extra) > 0 and self.g.values[extra[0]].size != oc:
            return False
        if len(extra) > 1 and self.g.values[extra[1]].shape != y.shape:
            return False
        attrs = dict(a)
        wid = w.id
        if a.get("flip"):  # MegEngine CONVOLUTION mode: flip the taps here, once
            wid = self._new(f"{w.name}:flipped", w.shape, w.dtype, np.ascontiguousarray(w.const[:, :, ::-1, ::-1]))
            attrs["flip"] = False
        plain_in = g == 1 and c <= PLAIN_INPUT_MAX_C and not self.is_blocked(x.id)
        ins = [self.need_plain(x.id) if plain_in else self.need_blocked(x.id), wid]
        if extra:
            bias = self.g.values[extra[0]]
            if bias.const is not None:
                ins.append(bias.id if bias.shape == (oc,) else
                           self._new(f"{bias.name}:flat", (oc,), bias.dtype, bias.const.reshape(oc)))
            else:
                ins.append(self.need_plain(bias.id))
        if len(extra) > 1:
            ins.append(self.need_blocked(extra[1]))
        attrs["block"] = self.b
        self.g.add_node("BlockedConv", ins, self.outputs_blocked(node), attrs, node.name)
        return True

    def _channel_input(self, vid: int, shape: tuple[int, ...]) -> str | None:
        """How an elementwise input broadcast onto the 4-d ``shape`` converts: "blocked" (same
        shape), "scalar", "const" (per channel), "channel" (per-channel activation), or None."""
        v = self.g.values[vid]
        if v.dtype != np.float32:
            return None
        if v.shape == shape:
            return "blocked"
        if v.size == 1:
            return "scalar"
        s4 = (1,) * (4 - len(v.shape)) + tuple(v.shape) if len(v.shape) <= 4 else None
        if s4 is None or s4[1] != shape[1] or s4[2] != 1 or s4[3] != 1 or s4[0] not in (1, shape[0]):
            return None
        return "const" if v.const is not None else "channel" if len(v.shape) == 4 else None

    def _elemwise_inputs(self, node: Node, shape: tuple[int, ...]) -> list[int] | None:
        kinds = [self._channel_input(i, shape) for i in node.inputs]
        if None in kinds or not any(k == "blocked" and self.is_blocked(i) for k, i in zip(kinds, node.inputs)):
            return None
        ins = []
        for k, i in zip(kinds, node.inputs):
            if k in ("blocked", "channel"):
                ins.append(self.need_blocked(i))
            elif k == "const":
                ins.append(self.blocked_const(i, shape[1]))
            else:
                ins.append(i)
        return ins

    def elemwise(self, node: Node) -> bool:
        outs = [self.g.values[o] for o in node.outputs]
        shape = outs[0].shape
        if len(shape) != 4 or any(o.shape != shape or o.dtype != np.float32 for o in outs):
            return False
        if node.op == "FusedElemwise":
            a = node.attrs
            if any(tuple(s) != shape for s in a["out_shapes"]):
                return False
            # only plain broadcast views (no Reshape inside the group re-labels registers)
            if any((tuple(d), tuple(s)) != _view(self.g, node.inputs[p], shape) for p, d, s in a["views"]):
                return False
        ins = self._elemwise_inputs(node, shape)
        if ins is None:
            return False
        attrs = node.attrs
        if node.op == "FusedElemwise":
            bshape = blocked_shape(shape, self.b)
            views = [(p, *_view(self.g, ins[p], bshape)) for p, _, _ in attrs["views"]]
            attrs = {**attrs, "views": views, "out_shapes": [bshape] * len(attrs["out_shapes"])}
        self.g.add_node(node.op, ins, self.outputs_blocked(node), attrs, node.name)
        return True

    def concat(self, node: Node) -> bool:
        vals = [self.g.values[i] for i in node.inputs]
        if (node.attrs["axis"] != 1 or not all(self._is_4d_f32(v.id) and v.shape[1] % self.b == 0 for v in vals)
                or not any(self.is_blocked(v.id) for v in vals)):
            return False
        self.g.add_node("Concat", [self.need_blocked(v.id) for v in vals], self.outputs_blocked(node), {"axis": 1},
                        node.name)
        return True
