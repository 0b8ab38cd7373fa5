"""The always-on Conv + elementwise epilogue pass (loadrun/compile/passes/fuse_conv_activation.py):
which chains it folds and which it must leave alone, the reference semantics of the fused Conv
(CLAMP included), every Conv algorithm running the fused epilogue natively (forced by name, both
x86 ISAs), the loader's check of CLAMP bounds and the shared models end to end."""

from __future__ import annotations

import math
import platform
import struct

import numpy as np
import pytest

from conftest import TOLERANCE, max_rel_error, model_params, reference_outputs
from loadrun.api import load_model
from loadrun.compile import compile_graph
from loadrun.compile.passes.fuse_conv_activation import fuse_conv_activation
from loadrun.errors import LoadrunError
from loadrun.ir import ops as O
from loadrun.ir.graph import Graph
from loadrun.ir.reference import execute
from loadrun.runtime import RunOptions, Runtime
from loadrun.runtime import native

rng = np.random.RandomState(5)


def randn(*shape, scale=3.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def chain(x=(1, 8, 9, 9), w=(12, 8, 3, 3), act="IDENTITY", conv_extra=(), steps=(), group=1, stride=1,
          conv_out_is_output=False, extra_reader=False, wscale=3.0):
    """x → Conv(act, conv_extra) → steps; a step is (mode, [operand arrays or "y"]) in input order."""
    g = Graph()
    xi = g.add_value("x", x, np.float32)
    g.inputs.append(xi)
    attrs = dict(stride=(stride, stride), pad=(w[2] // 2, w[3] // 2), dilation=(1, 1), group=group, flip=False,
                 nonlinearity=act)
    ins = [xi, g.add_const("w", randn(*w, scale=wscale))]
    feeds = {"x": randn(*x)}
    for k, e in enumerate(conv_extra):
        if isinstance(e, str):  # a graph input (a residual fed at run time)
            shape = O.infer("Conv", [(x, np.float32), (w, np.float32)], attrs)[0][0]
            ins.append(g.add_value(e, shape, np.float32))
            g.inputs.append(ins[-1])
            feeds[e] = randn(*shape)
        else:
            ins.append(g.add_const(f"b{k}", e))
    shape = O.infer("Conv", [(g.values[i].shape, np.float32) for i in ins], attrs)[0][0]
    y = g.add_value("conv", shape, np.float32)
    g.add_node("Conv", ins, [y], attrs, "conv")
    for k, (mode, operands) in enumerate(steps):
        ids = [y if isinstance(o, str) else g.add_const(f"k{k}_{j}", np.asarray(o, np.float32))
               for j, o in enumerate(operands)]
        out = g.add_value(f"e{k}", shape, np.float32)
        g.add_node("Elemwise", ids, [out], {"mode": mode}, f"e{k}")
        y = out
    g.outputs.append(y)
    if conv_out_is_output:
        g.outputs.append(1 + len(g.inputs) + len(conv_extra) - sum(isinstance(e, str) for e in conv_extra))
    if extra_reader:
        r = g.add_value("r", shape, np.float32)
        g.add_node("Elemwise", [g.nodes[0].outputs[0]], [r], {"mode": "NEGATE"}, "r")
        g.outputs.append(r)
    g.validate()
    return g, feeds


def convs(g):
    return [n for n in g.nodes if n.op == "Conv"]


S = np.float32  # scalar constants as MegEngine dumps them: shape (1,)
RELU6 = [("MAX", ["y", S([0])]), ("MIN", [S([6]), "y"])]

FOLDS = {  # steps -> (nonlinearity, lo, hi) of the one fused Conv
    "relu6 max-min": (RELU6, "CLAMP", 0.0, 6.0),
    "relu6 min-max": ([("MIN", ["y", S([6])]), ("MAX", [S([0]), "y"])], "CLAMP", 0.0, 6.0),
    "max (1,1,1,1)": ([("MAX", ["y", np.full((1, 1, 1, 1), -1.5, np.float32)])], "CLAMP", -1.5, math.inf),
    "min only": ([("MIN", ["y", S([2])])], "CLAMP", -math.inf, 2.0),
    "relu": ([("RELU", ["y"])], "RELU", None, None),
    "max 0 is relu": ([("MAX", ["y", S([0])])], "RELU", None, None),
    "relu6 mode": ([("RELU6", ["y"])], "CLAMP", 0.0, 6.0),
    "clip": ([("CLIP", ["y", S([-1]), S([4])])], "CLAMP", -1.0, 4.0),
    "sigmoid": ([("SIGMOID", ["y"])], "SIGMOID", None, None),
    "h_swish": ([("H_SWISH", ["y"])], "H_SWISH", None, None),
    "min below max": ([("MAX", ["y", S([1])]), ("MIN", ["y", S([-2])])], "CLAMP", -2.0, -2.0),
}


@pytest.mark.parametrize("name", sorted(FOLDS))
def test_folds_into_one_conv(name):
    steps, act, lo, hi = FOLDS[name]
    g, feeds = chain(steps=steps)
    f = fuse_conv_activation(g)
    assert [n.op for n in f.nodes] == ["Conv"]
    a = f.nodes[0].attrs
    assert a["nonlinearity"] == act
    if lo is not None:
        assert (a["lo"], a["hi"]) == (lo, hi)
    ref, got = execute(g, feeds)[0], execute(f, feeds)[0]
    if act in ("CLAMP", "RELU"):  # clamps of float32 bounds commute with the float32 rounding
        np.testing.assert_array_equal(got, ref)
    else:
        assert max_rel_error(got, ref) <= 1e-6


def test_relu_conv_then_relu6_composes():
    g, feeds = chain(act="RELU", steps=[("MIN", ["y", S([6])])])
    f = fuse_conv_activation(g)
    assert [(n.op, n.attrs["nonlinearity"], n.attrs["lo"], n.attrs["hi"]) for n in f.nodes] == [("Conv", "CLAMP", 0.0, 6.0)]
    np.testing.assert_array_equal(execute(f, feeds)[0], execute(g, feeds)[0])


def test_megengine_residual_then_bias_relu():
    """MegEngine's ConvBias(x, w, residual) → FUSE_ADD_RELU(bias, ·): bias slot gets the per-channel operand."""
    g, feeds = chain(conv_extra=("res",), steps=[("FUSE_ADD_RELU", [randn(1, 12, 1, 1), "y"])])
    f = fuse_conv_activation(g)
    (c,) = f.nodes
    assert c.attrs["nonlinearity"] == "RELU"
    assert [f.values[i].shape for i in c.inputs[2:]] == [(1, 12, 1, 1), (1, 12, 9, 9)]
    assert max_rel_error(execute(f, feeds)[0], execute(g, feeds)[0]) <= 1e-6


def test_add_then_relu6_chain():
    g, feeds = chain(steps=[("ADD", ["y", randn(1, 12, 1, 1)])] + RELU6)
    f = fuse_conv_activation(g)
    (c,) = f.nodes
    assert (c.attrs["nonlinearity"], len(c.inputs)) == ("CLAMP", 3)
    assert max_rel_error(execute(f, feeds)[0], execute(g, feeds)[0]) <= 1e-6


@pytest.mark.parametrize("case", ["two readers", "graph output", "non-uniform constant", "add after act",
                                  "broadcasting output", "sigmoid after relu", "fourth input taken"])
def test_left_alone(case):
    kw = {}
    if case == "two readers":
        kw = dict(steps=RELU6, extra_reader=True)
    elif case == "graph output":
        kw = dict(steps=RELU6, conv_out_is_output=True)
    elif case == "non-uniform constant":
        kw = dict(steps=[("MAX", ["y", np.arange(12, dtype=np.float32).reshape(1, 12, 1, 1)])])
    elif case == "add after act":
        kw = dict(act="RELU", steps=[("ADD", ["y", randn(1, 12, 1, 1)])])
    elif case == "broadcasting output":  # the operand widens the output: not an epilogue
        kw = dict(x=(1, 8, 9, 9), w=(12, 8, 3, 3), steps=[("ADD", ["y", randn(2, 12, 9, 9)])])
    elif case == "sigmoid after relu":
        kw = dict(act="RELU", steps=[("SIGMOID", ["y"])])
    elif case == "fourth input taken":
        kw = dict(conv_extra=(randn(1, 12, 1, 1), "res"), steps=[("ADD", ["y", randn(1, 12, 1, 1)])])
    if case == "broadcasting output":
        g = Graph()
        xi = g.add_value("x", (1, 8, 9, 9), np.float32)
        g.inputs.append(xi)
        attrs = dict(stride=(1, 1), pad=(1, 1), dilation=(1, 1), group=1, flip=False, nonlinearity="IDENTITY")
        y = g.add_value("conv", (1, 12, 9, 9), np.float32)
        g.add_node("Conv", [xi, g.add_const("w", randn(12, 8, 3, 3))], [y], attrs, "conv")
        o = g.add_value("o", (2, 12, 9, 9), np.float32)
        g.add_node("Elemwise", [y, g.add_const("t", randn(2, 12, 9, 9))], [o], {"mode": "ADD"}, "add")
        g.outputs.append(o)
    else:
        g, _ = chain(**kw)
    f = fuse_conv_activation(g)
    n_elem = sum(n.op == "Elemwise" for n in g.nodes)
    if case in ("two readers", "graph output"):
        # the MIN after MAX still folds nothing into the conv: its output has another reader
        assert convs(f)[0].attrs["nonlinearity"] == "IDENTITY"
    else:
        assert sum(n.op == "Elemwise" for n in f.nodes) == n_elem
        assert f is g


def test_mobilenet_v2_relu6_and_bias_adds_fold():
    d = [p.values[0] for p in model_params() if p.values[0].name == "mobilenet_v2"]
    if not d:
        pytest.skip("shared models not present")
    g = load_model(d[0] / "model.mge").prune()
    f = fuse_conv_activation(g)
    assert g.op_counts()["Elemwise"] == 81 and len(g.nodes) == 136
    assert f.op_counts().get("Elemwise", 0) == 1 and len(f.nodes) == 56  # the classifier's bias ADD stays
    acts = [n.attrs["nonlinearity"] for n in convs(f)]
    assert acts.count("CLAMP") == 35 and all(
        (n.attrs["lo"], n.attrs["hi"]) == (0.0, 6.0) for n in convs(f) if n.attrs["nonlinearity"] == "CLAMP")


# -- native: every Conv algorithm runs the fused epilogue --------------------------------------------

X86 = platform.machine() in ("x86_64", "AMD64")


def cpu_has(isa: str) -> bool:
    flags = open("/proc/cpuinfo").read() if platform.system() == "Linux" else ""
    need = {"avx512": ["avx512f", "avx512bw", "avx512vl", "avx512dq"], "avx2": ["avx2", "fma"], "generic": []}[isa]
    return all(f" {f}" in flags for f in need)


def run_native(compiled, feeds, threads=1, weight_preprocess=True):
    with Runtime.load(compiled, RunOptions(threads=threads, weight_preprocess=weight_preprocess)) as rt:
        for k, v in feeds.items():
            rt.set_input(k, v)
        rt.run()
        L = native.lib()
        algos = [native.ffi.string(L.lr_node_algo(rt.handle, i)).decode() for i in range(L.lr_node_count(rt.handle))]
        return rt.get_outputs(), algos


# (algorithm stem, x, w, stride, group): each algorithm's usable shapes
ALGOS = [
    ("conv1x1_gemm_f32_{gemm}", (1, 19, 7, 9), (37, 19, 1, 1), 1, 1),
    ("conv_im2col_gemm_f32_{gemm}", (1, 5, 11, 13), (20, 5, 3, 3), 2, 1),
    ("conv_winograd_f43_f32_{isa}", (1, 9, 26, 25), (10, 9, 3, 3), 1, 1),
    ("conv_gemm_pixrows_f32_{gemm}", (1, 130, 7, 7), (64, 130, 3, 3), 1, 1),
    ("conv_depthwise_3x3_f32_{isa}", (1, 24, 13, 37), (24, 1, 3, 3), 1, 24),
    ("conv_depthwise_3x3_f32_{isa}", (1, 24, 14, 20), (24, 1, 3, 3), 2, 24),
    ("conv_im2col_gemm_f32_6x8", (1, 5, 11, 13), (20, 5, 3, 3), 1, 1),
    ("conv_1x1_rowblock_f32", (1, 19, 7, 9), (37, 19, 1, 1), 1, 1),
    ("conv_direct_f32", (1, 3, 12, 12), (8, 3, 3, 3), 1, 1),
    ("conv_depthwise_direct_f32", (1, 24, 13, 17), (24, 1, 3, 3), 1, 24),
]
GEMM = {"avx512": "8x32_avx512f", "avx2": "6x16_avx2_fma"}
ISA_SUFFIX = {"avx512": "avx512f", "avx2": "avx2_fma"}
EPILOGUES = {"relu6+bias": [("ADD", ["y", "bias"])] + RELU6, "clamp+residual": [("MAX", ["y", S([-1])]), ("MIN", ["y", S([0.5])])],
             "relu6 no bias": RELU6}


@pytest.mark.parametrize("isa", ["avx512", "avx2"])
@pytest.mark.parametrize("case", range(len(ALGOS)))
@pytest.mark.parametrize("epi", sorted(EPILOGUES))
def test_native_fused_clamp_every_algorithm(isa, case, epi, monkeypatch):
    stem, x, w, stride, group = ALGOS[case]
    x86 = "{" in stem
    if x86 and (not X86 or not cpu_has(isa)):
        pytest.skip(f"no {isa}")
    if not x86 and isa != "avx512":
        pytest.skip("generic algorithms: once")
    algo = stem.format(gemm=GEMM.get(isa, ""), isa=ISA_SUFFIX.get(isa, ""))
    steps = [(m, [randn(1, w[0], 1, 1) if o == "bias" else o for o in ops]) for m, ops in EPILOGUES[epi]]
    g, feeds = chain(x=x, w=w, stride=stride, group=group, steps=steps,
                     conv_extra=("res",) if epi == "clamp+residual" else (), wscale=0.2)  # Winograd's error bound
    f = fuse_conv_activation(g)
    (c,) = f.nodes
    assert c.attrs["nonlinearity"] == "CLAMP"
    monkeypatch.setenv("LOADRUN_ALGO_FORCE", algo)
    monkeypatch.setenv("LOADRUN_X86_ISA", isa if x86 else "generic")
    ref = execute(g, feeds)[0]
    for threads, wp in ((1, True), (2, False)):
        (got,), algos = run_native(compile_graph(g), feeds, threads, wp)
        assert algos == [algo]
        assert max_rel_error(got, ref) <= TOLERANCE
        assert got.min() >= c.attrs["lo"] and got.max() <= c.attrs["hi"]


def test_loader_refuses_clamp_lo_above_hi():
    g, feeds = chain(steps=[("MAX", ["y", S([0.25])]), ("MIN", ["y", S([0.75])])])
    blob = compile_graph(g)
    good = struct.pack("<dd", 0.25, 0.75)
    assert blob.count(good) == 1
    bad = blob.replace(good, struct.pack("<dd", 0.75, 0.25))
    with pytest.raises(LoadrunError, match="CLAMP"):
        Runtime.load(bad, RunOptions(threads=1))
    nan = blob.replace(good, struct.pack("<dd", 0.25, float("nan")))
    with pytest.raises(LoadrunError, match="CLAMP"):
        Runtime.load(nan, RunOptions(threads=1))


@pytest.mark.parametrize("d", model_params())
@pytest.mark.parametrize("threads", [1, 2])
def test_shared_models_through_the_pass(d, threads):
    g = load_model(d / "model.mge")
    graph_in = g.input_names()[0]
    x = np.load(d / "input.npy")
    (got, *_), _ = run_native(compile_graph(g), {graph_in: x}, threads)
    refs = reference_outputs(d)
    assert max_rel_error(got, refs[0]) <= TOLERANCE
