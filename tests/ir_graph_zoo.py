"""Small hand-built IR graphs that together use every IR operator (and most of their modes).

Each entry is a function returning ``(graph, feeds)``: the graph's inputs are fed with seeded
random data in the domain its operators need. Used by the writer's round-trip tests and, through
MegEngine 1.13, to check that written files compute what the reference executor computes.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from loadrun.ir import ops as O
from loadrun.ir.graph import Graph


class GraphMaker:
    def __init__(self, seed: int = 0):
        self.g = Graph()
        self.feeds: dict[str, np.ndarray] = {}
        self.rng = np.random.RandomState(seed)
        self.count = 0

    def input(self, name: str, arr: np.ndarray) -> int:
        vid = self.g.add_value(name, arr.shape, arr.dtype)
        self.g.inputs.append(vid)
        self.feeds[name] = arr
        return vid

    def randn(self, name: str, *shape: int, scale: float = 1.0) -> int:
        return self.input(name, (self.rng.standard_normal(shape) * scale).astype(np.float32))

    def uniform(self, name: str, lo: float, hi: float, *shape: int, dtype=np.float32) -> int:
        return self.input(name, self.rng.uniform(lo, hi, shape).astype(dtype))

    def const(self, arr, name: str | None = None) -> int:
        arr = np.ascontiguousarray(arr)
        self.count += 1
        return self.g.add_const(name or f"c{self.count}", arr)

    def weight(self, *shape: int, scale: float = 0.3) -> int:
        return self.const((self.rng.standard_normal(shape) * scale).astype(np.float32))

    def node(self, op: str, inputs: list[int], attrs: dict[str, Any] | None = None,
             name: str | None = None) -> list[int]:
        attrs = dict(attrs or {})
        outs = O.infer(op, [(self.g.values[i].shape, self.g.values[i].dtype) for i in inputs], attrs)
        self.count += 1
        base = name or f"{op.lower()}{self.count}"
        ids = [self.g.add_value(base if k == 0 else f"{base}:{k}", s, t) for k, (s, t) in enumerate(outs)]
        self.g.add_node(op, inputs, ids, attrs, base)
        return ids

    def n1(self, op, inputs, attrs=None, name=None) -> int:
        return self.node(op, inputs, attrs, name)[0]

    def output(self, *vids: int) -> None:
        self.g.outputs.extend(vids)

    def done(self) -> tuple[Graph, dict[str, np.ndarray]]:
        self.g.validate()
        return self.g, self.feeds


def conv_family():
    m = GraphMaker(1)
    x = m.randn("data", 1, 4, 12, 12)
    c = dict(stride=(1, 1), pad=(1, 1), dilation=(1, 1), group=1, flip=False, nonlinearity="IDENTITY")
    y0 = m.n1("Conv", [x, m.weight(8, 4, 3, 3)], c)
    y1 = m.n1("Conv", [y0, m.weight(8, 4, 3, 3), m.weight(1, 8, 1, 1)],
              {**c, "group": 2, "nonlinearity": "RELU", "stride": (2, 1)})
    y2 = m.n1("Conv", [y1, m.weight(8, 1, 3, 3), m.weight(1, 8, 1, 1)],
              {**c, "group": 8, "nonlinearity": "SIGMOID", "dilation": (2, 2), "pad": (2, 2)})
    z = m.n1("Conv", [y1, m.weight(8, 8, 1, 1)], {**c, "pad": (0, 0), "dilation": (1, 2)})
    y3 = m.n1("Conv", [y2, m.weight(8, 8, 3, 5), m.weight(1, 8, 1, 1)],
              {**c, "pad": (1, 2), "nonlinearity": "H_SWISH", "flip": True})
    y4 = m.n1("Conv", [y3, m.weight(6, 8, 2, 2), m.weight(1, 6, 1, 1)],
              {**c, "stride": (2, 2), "pad": (0, 0), "nonlinearity": "RELU"})
    # A full-shape bias (MegEngine's fused residual form).
    y5 = m.n1("Conv", [y4, m.weight(6, 6, 3, 3), m.n1("Elemwise", [y4], {"mode": "TANH"})], c)
    m.output(y5, y0, y1, y2, z, y3, y4)
    return m.done()


def conv_odd_bias():
    """Biases MegEngine's ConvBias cannot take, and z: written as ConvBias/Convolution + Elemwise."""
    m = GraphMaker(2)
    x = m.randn("data", 2, 3, 9, 9)
    c = dict(stride=(1, 1), pad=(0, 0), dilation=(1, 1), group=1, flip=False, nonlinearity="RELU")
    y = m.n1("Conv", [x, m.weight(4, 3, 3, 3), m.weight(4, 1, 1)], c)
    y = m.n1("Conv", [y, m.weight(4, 4, 1, 1), m.weight(1, 1, 1, 1)], {**c, "nonlinearity": "IDENTITY"})
    outs = [y]
    for act in ("IDENTITY", "RELU", "SIGMOID", "H_SWISH"):
        z = m.n1("Elemwise", [y], {"mode": "TANH"})
        outs.append(m.n1("Conv", [y, m.weight(4, 4, 3, 3), m.weight(1, 4, 1, 1), z],
                         {**c, "pad": (1, 1), "nonlinearity": act}))
    outs.append(m.n1("Conv", [y, m.weight(4, 4, 3, 3), m.weight(4, 1, 1), z], {**c, "pad": (1, 1)}))
    m.output(*outs)
    return m.done()


def deconv_family():
    m = GraphMaker(3)
    x = m.randn("data", 1, 4, 6, 6)
    c = dict(stride=(2, 2), pad=(1, 1), dilation=(1, 1), group=1, flip=False)
    y0 = m.n1("Deconv", [x, m.weight(4, 6, 4, 4)], c)
    y1 = m.n1("Deconv", [y0, m.weight(6, 2, 3, 3)], {**c, "group": 3, "stride": (1, 2), "pad": (0, 1)})
    y2 = m.n1("Deconv", [y1, m.weight(6, 3, 3, 3)], {**c, "stride": (1, 1), "dilation": (2, 1), "pad": (1, 0)})
    m.output(y2)
    return m.done()


UNARY_DOMAINS = {
    # mode: (low, high) of the input; avoids poles and domain edges.
    "ACOS": (-0.9, 0.9), "ASIN": (-0.9, 0.9), "ATANH": (-0.9, 0.9), "ERFINV": (-0.9, 0.9),
    "ERFCINV": (0.1, 1.9), "LOG": (0.1, 3), "LOG1P": (-0.5, 3), "SQRT": (0.1, 3), "ACOSH": (1.1, 3),
    "TAN": (-1.2, 1.2),
}


def elemwise_unary():
    m = GraphMaker(4)
    modes = [md for md, k in O.ELEMWISE_ARITY.items() if k == 1 and md not in ("NOT", "ISNAN", "ISINF", "ROUND")]
    x = m.uniform("x", -3, 3, 2, 3, 5)
    outs = []
    for md in modes:
        if md in UNARY_DOMAINS:
            lo, hi = UNARY_DOMAINS[md]
            inp = m.uniform(f"x_{md.lower()}", lo, hi, 2, 3, 5)
        else:
            inp = x
        outs.append(m.n1("Elemwise", [inp], {"mode": md}, name=f"y_{md.lower()}"))
    # ROUND away from .5 ties: MegEngine rounds half away from zero; float32 ties are rare in
    # random data but check them explicitly on exact halves.
    halves = m.input("halves", np.array([[-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.3, -0.7]], np.float32))
    outs.append(m.n1("Elemwise", [halves], {"mode": "ROUND"}, name="y_round"))
    m.output(*outs)
    return m.done()


def elemwise_multi():
    m = GraphMaker(5)
    a = m.uniform("a", -2, 2, 2, 3, 4)
    b = m.uniform("b", 0.5, 2, 1, 3, 1)
    pos = m.uniform("pos", 0.2, 2, 2, 3, 4)
    c = m.uniform("c", -1, 1, 2, 3, 4)
    d = m.uniform("d", -1, 1, 4)
    outs = []
    for md, k in O.ELEMWISE_ARITY.items():
        if k == 2 and md not in ("LT", "LEQ", "EQ", "NEQ", "AND", "OR", "XOR", "SHL", "SHR"):
            outs.append(m.n1("Elemwise", [pos if md == "POW" else a, b], {"mode": md}, name=f"y_{md.lower()}"))
    outs.append(m.n1("Elemwise", [a, b, c], {"mode": "FUSE_MUL_ADD3"}))
    outs.append(m.n1("Elemwise", [a, c, b, d], {"mode": "FUSE_MUL_ADD4"}))
    outs.append(m.n1("Elemwise", [a, c, b], {"mode": "COND_LEQ_MOV"}))
    outs.append(m.n1("Elemwise", [c, a, b], {"mode": "COND_LT_MOV"}))
    lo = m.const(np.full((1,), -0.5, np.float32))
    hi = m.const(np.full((1,), 0.7, np.float32))
    outs.append(m.n1("Elemwise", [a, lo, hi], {"mode": "CLIP"}))
    # Comparisons give bool; feed them to the logical modes, then back to float32.
    lt = m.n1("Elemwise", [a, c], {"mode": "LT"})
    leq = m.n1("Elemwise", [c, a], {"mode": "LEQ"})
    eq = m.n1("Elemwise", [a, a], {"mode": "EQ"})
    neq = m.n1("Elemwise", [m.n1("Elemwise", [a, c], {"mode": "EQ"})], {"mode": "NOT"})
    logic = m.n1("Elemwise", [m.n1("Elemwise", [lt, leq], {"mode": "AND"}),
                              m.n1("Elemwise", [eq, neq], {"mode": "XOR"})], {"mode": "OR"})
    logic = m.n1("Elemwise", [logic], {"mode": "NOT"})
    outs.append(m.n1("TypeCvt", [logic], {"dtype": "float32"}))
    outs.append(m.n1("TypeCvt", [m.n1("Elemwise", [lt], {"mode": "NOT"})], {"dtype": "float32"}))
    # Integer shifts and integer arithmetic.
    i = m.input("i", np.arange(-6, 6, dtype=np.int32).reshape(3, 4))
    sh = m.const(np.array([1, 2, 3, 0], np.int32))
    outs.append(m.n1("Elemwise", [i, sh], {"mode": "SHL"}))
    outs.append(m.n1("Elemwise", [i, sh], {"mode": "SHR"}))
    three = m.const(np.array([3], np.int32))
    for md in ("ADD", "SUB", "MUL", "FLOOR_DIV", "MOD", "MAX", "MIN"):
        outs.append(m.n1("Elemwise", [i, three], {"mode": md}, name=f"i_{md.lower()}"))
    minus = m.const(np.array([-4, 4, -3], np.int32).reshape(3, 1))
    outs.append(m.n1("Elemwise", [i, minus], {"mode": "MOD"}, name="i_mod_signs"))
    outs.append(m.n1("Elemwise", [i, minus], {"mode": "FLOOR_DIV"}, name="i_floor_div_signs"))
    outs.append(m.n1("Elemwise", [a, m.const(np.array([-0.7], np.float32))], {"mode": "MOD"}, name="y_mod_neg"))
    outs.append(m.n1("Elemwise", [m.n1("TypeCvt", [a], {"dtype": "int32"})], {"mode": "ABS"}))
    m.output(*outs)
    return m.done()


def elemwise_lowered():
    """NEQ, ISNAN and ISINF, which MegEngine 1.13 cannot run: written as EQ/NOT/ABS."""
    m = GraphMaker(15)
    a = m.input("a", np.array([[1.0, np.nan, -np.inf, 2.0], [np.inf, 0.0, -3.0, np.nan]], np.float32))
    b = m.input("b", np.array([[1.0, 1.0, -np.inf, 2.5], [np.inf, 0.5, -3.0, 0.0]], np.float32))
    outs = [m.n1("TypeCvt", [m.n1("Elemwise", [a, b], {"mode": "NEQ"})], {"dtype": "float32"}),
            m.n1("TypeCvt", [m.n1("Elemwise", [a], {"mode": "ISNAN"})], {"dtype": "float32"}),
            m.n1("TypeCvt", [m.n1("Elemwise", [a], {"mode": "ISINF"})], {"dtype": "float32"})]
    m.output(*outs)
    return m.done()


def shapes_and_slices():
    m = GraphMaker(6)
    x = m.randn("data", 2, 3, 8, 10)
    t = m.n1("Transpose", [x], {"perm": (0, 2, 3, 1)})
    r = m.n1("Reshape", [t], {"shape": (2, 80, 3)})
    s0 = m.n1("Slice", [r], {"starts": (1, 5, 0), "stops": (2, 70, 3), "steps": (1, 3, 2)})
    s1 = m.n1("Slice", [r], {"starts": (1, 79, 2), "stops": (-1, 10, -1), "steps": (-1, -7, -2)})
    s2 = m.n1("Slice", [x], {"starts": (0, 0, 0, 9), "stops": (2, 3, 8, -1), "steps": (1, 1, 1, -1)})
    b = m.n1("Broadcast", [m.n1("Slice", [x], {"starts": (0, 0, 0, 0), "stops": (1, 3, 8, 1),
                                                "steps": (1, 1, 1, 1)})], {"shape": (2, 3, 8, 4)})
    cat = m.n1("Concat", [s2, b, x], {"axis": 3})
    p0 = m.n1("Padding", [x], {"front": (0, 1, 2, 0), "back": (0, 0, 1, 3), "mode": "CONSTANT", "value": 1.5})
    p1 = m.n1("Padding", [x], {"front": (0, 0, 2, 1), "back": (0, 0, 1, 3), "mode": "REFLECT", "value": 0.0})
    p2 = m.n1("Padding", [x], {"front": (1, 0, 2, 1), "back": (0, 2, 1, 3), "mode": "REPLICATE", "value": 0.0})
    m.output(s0, s1, cat, p0, p1, p2)
    return m.done()


def linear_algebra():
    m = GraphMaker(7)
    a = m.randn("a", 5, 7)
    b3 = m.randn("b3", 3, 5, 7)
    y0 = m.n1("MatMul", [a, m.weight(7, 4)], {"transA": False, "transB": False})
    y1 = m.n1("MatMul", [a, m.weight(6, 7)], {"transA": False, "transB": True})
    y2 = m.n1("MatMul", [a, m.weight(5, 2)], {"transA": True, "transB": False})
    y3 = m.n1("MatMul", [a, m.weight(3, 5)], {"transA": True, "transB": True})
    z0 = m.n1("BatchedMatMul", [b3, b3], {"transA": False, "transB": True})
    z1 = m.n1("BatchedMatMul", [b3, b3], {"transA": True, "transB": False})
    z2 = m.n1("BatchedMatMul", [b3, m.weight(3, 2, 7)], {"transA": False, "transB": True})
    m.output(y0, y1, y2, y3, z0, z1, z2)
    return m.done()


def batched_matmul_4d():
    """BatchedMatMul with two batch axes: MegEngine needs a 3-d form (not an identical round trip)."""
    m = GraphMaker(8)
    q = m.randn("q", 2, 3, 5, 4)
    k = m.randn("k", 2, 3, 6, 4)
    m.output(m.n1("BatchedMatMul", [q, k], {"transA": False, "transB": True}))
    return m.done()


def pooling_resize():
    m = GraphMaker(9)
    x = m.randn("data", 1, 3, 11, 13)
    outs = [
        m.n1("Pooling", [x], {"mode": "MAX", "window": (3, 3), "stride": (2, 2), "pad": (1, 1)}),
        m.n1("Pooling", [x], {"mode": "AVERAGE", "window": (3, 2), "stride": (2, 1), "pad": (1, 1)}),
        m.n1("Pooling", [x], {"mode": "AVERAGE_COUNT_EXCLUDE_PADDING", "window": (2, 3), "stride": (1, 2),
                              "pad": (1, 1)}),
        m.n1("Pooling", [x], {"mode": "MAX", "window": (2, 2), "stride": (2, 2), "pad": (0, 0)}),
        m.n1("Resize", [x], {"mode": "LINEAR", "size": (22, 7)}),
        m.n1("Resize", [x], {"mode": "NEAREST", "size": (5, 26)}),
    ]
    m.output(*outs)
    return m.done()


def normalization():
    m = GraphMaker(10)
    x = m.randn("data", 2, 5, 8)
    ln = m.node("LayerNorm", [x, m.weight(8), m.weight(8)], {"eps": 1e-5, "normalized_dim": 1, "affine": True})
    ln2 = m.node("LayerNorm", [x], {"eps": 2.0 ** -10, "normalized_dim": 2, "affine": False})
    sm = m.n1("Softmax", [x], {"axis": 1})
    sm2 = m.n1("Softmax", [x], {"axis": 2})
    img = m.randn("img", 2, 4, 3, 3)
    var = m.const(np.abs(np.random.RandomState(1).standard_normal((1, 4, 1, 1))).astype(np.float32) + 0.5)
    bn = m.n1("BatchNorm", [img, m.weight(1, 4, 1, 1), m.weight(1, 4, 1, 1), m.weight(1, 4, 1, 1), var],
              {"eps": 1e-5})
    m.output(*ln, ln2[0], sm, sm2, bn)
    return m.done()


def reductions():
    m = GraphMaker(11)
    x = m.uniform("data", 0.5, 1.5, 2, 3, 4, 5)
    outs = []
    for mode in O.REDUCE_MODES:
        outs.append(m.n1("Reduce", [x], {"mode": mode, "axes": (2,)}, name=f"r1_{mode.lower()}"))
        outs.append(m.n1("Reduce", [x], {"mode": mode, "axes": (1, 3)}, name=f"r2_{mode.lower()}"))
    m.output(*outs)
    return m.done()


def typecvt_powc():
    m = GraphMaker(12)
    x = m.uniform("data", -4, 4, 3, 7)
    p = m.uniform("pos", 0.2, 3, 3, 7)
    outs = [
        m.n1("TypeCvt", [x], {"dtype": "int32"}),
        m.n1("TypeCvt", [m.n1("TypeCvt", [x], {"dtype": "float16"})], {"dtype": "float32"}),
        m.n1("PowC", [p], {"exp": 2.5}),
        m.n1("PowC", [x], {"exp": 3.0}),
        m.n1("PowC", [p], {"exp": -0.5}),
    ]
    i = m.input("i8", np.arange(-10, 11, dtype=np.int8).reshape(3, 7))
    outs.append(m.n1("TypeCvt", [i], {"dtype": "float32"}))
    u = m.input("u8", np.arange(0, 250, 12, dtype=np.uint8).reshape(3, 7))
    outs.append(m.n1("TypeCvt", [u], {"dtype": "int32"}))
    m.output(*outs)
    return m.done()


def sorting_indexing():
    m = GraphMaker(13)
    x = m.input("data", np.random.RandomState(13).permutation(40).reshape(4, 10).astype(np.float32) / 7)
    outs = [
        m.n1("Argmax", [x], {"axis": 1}),
        m.n1("Argmin", [x], {"axis": 0}),
        *m.node("Argsort", [x], {"order": "ASCENDING"}),
        *m.node("Argsort", [x], {"order": "DESCENDING"}),
        m.n1("TopK", [x], {"k": 3, "mode": "KTH_ONLY"}),
        m.n1("TopK", [x], {"k": -4, "mode": "KTH_ONLY"}),
        *m.node("TopK", [x], {"k": -3, "mode": "VALUE_IDX_SORTED"}),
        *m.node("TopK", [x], {"k": 2, "mode": "VALUE_IDX_SORTED"}),
    ]
    idx = m.const(np.array([3, 0, 9, 5], np.int32))
    outs.append(m.n1("IndexingOneHot", [x, idx], {"axis": 1}))
    v = m.const(np.full((4, 1), -1.0, np.float32))
    outs.append(m.n1("IndexingSetOneHot", [x, idx, v], {"axis": 1}))
    idx0 = m.const(np.array([0, 3, 1, 2, 2, 0, 1, 3, 0, 1], np.int32))
    outs.append(m.n1("IndexingOneHot", [x, idx0], {"axis": 0}))
    for axis, excl, rev in ((1, False, False), (0, True, False), (1, False, True), (1, True, True)):
        outs.append(m.n1("Cumsum", [x], {"axis": axis, "exclusive": excl, "reverse": rev}))
    # Linspace from values computed at run time (constants would be folded away by the reader).
    start = m.n1("Reshape", [m.n1("Slice", [x], {"starts": (0, 0), "stops": (1, 1), "steps": (1, 1)})],
                 {"shape": (1,)})
    stop = m.n1("Reshape", [m.n1("Slice", [x], {"starts": (1, 2), "stops": (2, 3), "steps": (1, 1)})],
                {"shape": (1,)})
    outs.append(m.n1("Linspace", [start, stop], {"num": 7, "endpoint": True}))
    outs.append(m.n1("Linspace", [start, stop], {"num": 5, "endpoint": False}))
    m.output(*outs)
    return m.done()


def warp():
    m = GraphMaker(14)
    x = m.randn("data", 2, 3, 10, 12)
    mats = np.array([[[0.9, 0.1, 0.5], [-0.05, 1.1, 0.3], [0.001, 0.002, 1.0]],
                     [[1.2, -0.2, -1.0], [0.1, 0.8, 2.0], [0.0, 0.003, 1.0]]], np.float32)
    mat = m.input("mat", mats)
    outs = []
    for bmode in ("REPLICATE", "REFLECT", "REFLECT_101", "WRAP", "CONSTANT"):
        outs.append(m.n1("WarpPerspective", [x, mat], {"size": (8, 14), "imode": "LINEAR", "bmode": bmode,
                                                       "border_val": 0.25}))
    m.output(*outs)
    return m.done()


def warp_nearest():
    """MegEngine 1.13's CPU WarpPerspective runs LINEAR only: a round trip, not run by MegEngine."""
    m = GraphMaker(16)
    x = m.randn("data", 1, 2, 6, 7)
    mat = m.input("mat", np.array([[[1.1, 0.1, 0.2], [0.0, 0.9, -0.4], [0.0, 0.01, 1.0]]], np.float32))
    m.output(m.n1("WarpPerspective", [x, mat], {"size": (5, 9), "imode": "NEAREST", "bmode": "CONSTANT",
                                                 "border_val": -1.0}))
    return m.done()


ZOO: dict[str, Callable[[], tuple[Graph, dict[str, np.ndarray]]]] = {
    "conv_family": conv_family,
    "conv_odd_bias": conv_odd_bias,
    "deconv_family": deconv_family,
    "elemwise_unary": elemwise_unary,
    "elemwise_multi": elemwise_multi,
    "elemwise_lowered": elemwise_lowered,
    "shapes_and_slices": shapes_and_slices,
    "linear_algebra": linear_algebra,
    "batched_matmul_4d": batched_matmul_4d,
    "pooling_resize": pooling_resize,
    "normalization": normalization,
    "reductions": reductions,
    "typecvt_powc": typecvt_powc,
    "sorting_indexing": sorting_indexing,
    "warp": warp,
    "warp_nearest": warp_nearest,
}
# Graphs whose MegEngine form is a longer but equivalent graph (no identical IR round trip).
NOT_IDENTICAL = {"conv_odd_bias", "batched_matmul_4d", "elemwise_lowered"}
# Graphs MegEngine 1.13 loads but cannot run on CPU.
MEGENGINE_CANNOT_RUN = {"warp_nearest"}
