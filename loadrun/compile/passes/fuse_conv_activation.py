"""Conv + elementwise epilogue fusion: MegEngine's fuse_conv_bias_nonlinearity, always on.

A float32 ``Conv`` whose output has exactly one reader (and is not a graph output) absorbs that
reader when it is an ``Elemwise`` the Conv epilogue ``y = act(conv + b + z)`` can express, and
then tries again on the new output, so chains fold one node at a time:

- an additive operand, while the Conv's nonlinearity is IDENTITY and it has a free bias/residual
  slot: ``ADD(y, t)`` keeps IDENTITY, ``FUSE_ADD_RELU/_SIGMOID/_H_SWISH(y, t)`` set the
  nonlinearity. The per-channel-shaped operand goes in the bias slot and a full-shape one in the
  residual slot (the kernels' fast path), so MegEngine's ``ConvBias(x, w, residual)`` followed by
  ``FUSE_ADD_RELU(bias, ·)`` becomes one Conv.
- a clamp: ``MAX(y, k)``, ``MIN(y, k)`` with a constant single-valued ``k``, ``CLIP(y, lo, hi)``,
  ``RELU`` and ``RELU6``, while the nonlinearity is IDENTITY, RELU or CLAMP; clamps compose into
  ``CLAMP`` with attributes ``lo``/``hi`` (``min(max(v, lo), hi)``, lo <= hi; mobilenet's
  ``MAX(·, 0) → MIN(·, 6)`` relu6 becomes ``CLAMP(0, 6)``; ``[0, inf)`` is written as RELU).
- ``SIGMOID`` / ``H_SWISH`` when the nonlinearity is IDENTITY.

The fused Conv takes the place of the last node it absorbed (every value it reads is defined
before that point). The reference evaluates the fused epilogue in float64 before one rounding to
float32, where the unfused graph rounded between nodes: clamps (monotonic, float32 bounds) give
bit-identical results, adds and sigmoid differ by float32 rounding only.
"""

from __future__ import annotations

import math

import numpy as np

from loadrun.ir.graph import Graph, Node

F32 = np.dtype("float32")
ADD_MODES = {"ADD": "IDENTITY", "FUSE_ADD_RELU": "RELU", "FUSE_ADD_SIGMOID": "SIGMOID",
             "FUSE_ADD_H_SWISH": "H_SWISH"}
CLAMPABLE = ("IDENTITY", "RELU", "CLAMP")


def fuse_conv_activation(graph: Graph) -> Graph:
    """The graph with every Conv → Elemwise epilogue chain folded into the Conv (see module doc)."""
    nodes = list(graph.nodes)
    values = list(graph.values)
    outputs = set(graph.outputs)
    readers: dict[int, list[int]] = {}
    for k, n in enumerate(nodes):
        for i in set(n.inputs):
            readers.setdefault(i, []).append(k)
    removed: set[int] = set()
    changed = False
    for k, conv in enumerate(nodes):
        if conv.op != "Conv" or values[conv.outputs[0]].dtype != F32:
            continue
        at = k
        while True:
            y = nodes[at].outputs[0]
            rs = sorted({r for r in readers.get(y, []) if r not in removed})
            if y in outputs or len(rs) != 1:
                break
            nxt = _absorb(nodes[at], nodes[rs[0]], values)
            if nxt is None:
                break
            nodes[rs[0]] = nxt
            for i in set(nxt.inputs):
                readers.setdefault(i, []).append(rs[0])
            removed.add(at)
            at = rs[0]
            changed = True
    if not changed:
        return graph
    kept = [n for k, n in enumerate(nodes) if k not in removed]
    return Graph(values, kept, list(graph.inputs), list(graph.outputs), dict(graph.meta)).prune()


def _scalar(values, vid: int) -> float | None:
    """The value of a constant float32 whose elements are all one number, else None."""
    c = values[vid].const
    if c is None or c.dtype != F32 or c.size < 1:
        return None
    flat = np.asarray(c).reshape(-1)
    v = float(flat[0])
    if math.isnan(v) or not np.all(flat == flat[0]):
        return None
    return v


def _clamp_of(a: dict) -> tuple[float, float]:
    act = a.get("nonlinearity", "IDENTITY")
    if act == "RELU":
        return 0.0, math.inf
    if act == "CLAMP":
        return float(a["lo"]), float(a["hi"])
    return -math.inf, math.inf


def _with_clamp(conv: Node, lo: float, hi: float) -> dict:
    a = {k: v for k, v in conv.attrs.items() if k not in ("lo", "hi")}
    if lo == -math.inf and hi == math.inf:
        a["nonlinearity"] = "IDENTITY"
    elif lo == 0.0 and hi == math.inf:
        a["nonlinearity"] = "RELU"
    else:
        a.update(nonlinearity="CLAMP", lo=lo, hi=hi)
    return a


def _absorb(conv: Node, e: Node, values) -> Node | None:
    """``conv`` with its single reader ``e`` folded in, or None when the epilogue cannot express it."""
    if e.op != "Elemwise" or len(e.outputs) != 1:
        return None
    y = conv.outputs[0]
    out = e.outputs[0]
    if values[out].shape != values[y].shape or values[out].dtype != F32 or e.inputs.count(y) != 1:
        return None
    mode = str(e.attrs.get("mode", "")).upper()
    act = conv.attrs.get("nonlinearity", "IDENTITY")
    others = [i for i in e.inputs if i != y]

    def fused(inputs, attrs) -> Node:
        return Node("Conv", list(inputs), [out], attrs, e.name or conv.name)

    if mode in ADD_MODES and len(e.inputs) == 2:
        t = others[0]
        if act != "IDENTITY" or len(conv.inputs) >= 4 or values[t].dtype != F32:
            return None
        x, w, *extra = conv.inputs
        extra = _order_bias_residual(extra + [t], values, values[y].shape)
        return fused([x, w, *extra], {**conv.attrs, "nonlinearity": ADD_MODES[mode]})
    if act not in CLAMPABLE and mode not in ("SIGMOID", "H_SWISH"):
        return None
    lo, hi = _clamp_of(conv.attrs)
    if mode in ("MAX", "MIN") and len(e.inputs) == 2:
        k = _scalar(values, others[0])
        if k is None:
            return None
        lo, hi = (max(lo, k), max(hi, k)) if mode == "MAX" else (min(lo, k), min(hi, k))
    elif mode == "CLIP" and len(e.inputs) == 3 and e.inputs[0] == y:
        a, b = _scalar(values, e.inputs[1]), _scalar(values, e.inputs[2])
        if a is None or b is None or a > b:
            return None
        lo, hi = min(max(lo, a), b), min(max(hi, a), b)
    elif mode == "RELU" and len(e.inputs) == 1:
        lo, hi = max(lo, 0.0), max(hi, 0.0)
    elif mode == "RELU6" and len(e.inputs) == 1:
        lo, hi = min(max(lo, 0.0), 6.0), min(max(hi, 0.0), 6.0)
    elif mode in ("SIGMOID", "H_SWISH") and len(e.inputs) == 1 and act == "IDENTITY":
        return fused(conv.inputs, {**conv.attrs, "nonlinearity": mode})
    else:
        return None
    return fused(conv.inputs, _with_clamp(conv, lo, hi))


def _order_bias_residual(extra: list[int], values, out_shape) -> list[int]:
    """Bias first when it is per-channel shaped and the other operand is not (the fast path)."""
    if len(extra) == 2:
        def per_channel(v):
            s = (1,) * (4 - len(values[v].shape)) + tuple(values[v].shape)
            return s[2:] == (1, 1) and s[0] == 1
        if per_channel(extra[1]) and not per_channel(extra[0]):
            extra = [extra[1], extra[0]]
    return extra
