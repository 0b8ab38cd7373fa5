"""Blocked layouts nchw16 / nchw88 (loadrun/compile/passes/layout.py, native/generic/layout_blocked.c,
native/x86/f32_conv_nchw{16,88}_*.c): pass structure, every blocked kernel against the numpy
reference on odd shapes, every shared model against MegEngine, per-node layout in the stats, and
hostile compiled files."""

from __future__ import annotations

import importlib
import platform

import numpy as np
import pytest

from conftest import TOLERANCE, max_rel_error, model_params, reference_outputs
from loadrun.compile import compile_graph
from loadrun.compile.passes.layout import apply_layout
from loadrun.ir import ops as O
from loadrun.ir.graph import Graph
from loadrun.ir.reference import block_nchw, execute, run_node, unblock_nchw
from loadrun.runtime import RunOptions, Runtime, supported_layouts

serialize_mod = importlib.import_module("loadrun.compile.serialize")  # the module, not the function

X86 = platform.machine() in ("x86_64", "AMD64")
ISA = {"nchw16": "avx512", "nchw88": "avx2"}
X86_ALGO = {"nchw16": "blocked_conv_direct_f32_avx512f", "nchw88": "blocked_conv_direct_f32_avx2_fma"}
# the heuristic's pick for 3x3 stride-1 convs when weights are transformed at load
X86_WINOGRAD = {"nchw16": "blocked_conv_winograd_f43_f32_avx512f", "nchw88": "blocked_conv_winograd_f43_f32_avx2_fma"}
rng = np.random.RandomState(5)


def randn(*shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def have(layout: str) -> bool:
    return layout in supported_layouts()


def run(compiled: bytes, feeds: dict, threads=1, weight_preprocess=True):
    with Runtime.load(compiled, RunOptions(threads=threads, weight_preprocess=weight_preprocess)) as rt:
        for info in rt.inputs:
            rt.set_input(info.name, feeds[info.name])
        rt.run()
        return rt.get_outputs(), rt.stats()


def conv_graph(x_shape, w_shape, stride, pad, group=1, act="IDENTITY", bias=True, residual=False, then=None):
    """x -> Conv (-> optional second node `then`) with random constants; inputs x (and z)."""
    g = Graph()
    x = g.add_value("x", x_shape, "float32")
    g.inputs.append(x)
    ins = [x, g.add_const("w", randn(*w_shape, scale=0.3))]
    oc = w_shape[0]
    attrs = dict(stride=stride, pad=pad, dilation=(1, 1), group=group, flip=False, nonlinearity=act)
    if act == "CLAMP":
        attrs.update(lo=-0.5, hi=0.7)
    y_shape = O.infer("Conv", [(x_shape, np.float32), (w_shape, np.float32)], attrs)[0][0]
    if bias or residual:
        ins.append(g.add_const("b", randn(1, oc, 1, 1)))
    if residual:
        z = g.add_value("z", y_shape, "float32")
        g.inputs.append(z)
        ins.append(z)
    y = g.add_value("y", y_shape, "float32")
    g.add_node("Conv", ins, [y], attrs, "conv")
    if then is not None:
        y = then(g, y, y_shape)
    g.outputs.append(y)
    return g


def feeds_of(g: Graph) -> dict:
    return {g.values[i].name: randn(*g.values[i].shape) for i in g.inputs}


def check_graph(g: Graph, layout: str, threads=1, weight_preprocess=True, want_algo=None):
    feeds = feeds_of(g)
    refs = execute(g, feeds)
    outs, stats = run(compile_graph(g, layout=layout), feeds, threads, weight_preprocess)
    for got, ref in zip(outs, refs):
        assert max_rel_error(got, ref) <= TOLERANCE
    algos = {a["algo"] for a in stats["algorithms"]}
    if want_algo:
        assert want_algo in algos, algos
    return stats


# (x, w, stride, pad, group): channels off the block, W tails, the stem over RGB, stride 2, 1x1, depthwise
CONVS = [
    ((1, 3, 19, 23), (20, 3, 7, 7), (2, 2), (3, 3), 1),
    ((2, 5, 13, 10), (20, 5, 3, 3), (1, 1), (1, 1), 1),
    ((1, 24, 14, 14), (40, 24, 3, 3), (1, 1), (1, 1), 1),
    ((1, 17, 7, 7), (33, 17, 1, 1), (1, 1), (0, 0), 1),
    ((1, 40, 15, 17), (24, 40, 3, 3), (2, 2), (1, 1), 1),
    ((1, 24, 15, 15), (24, 1, 3, 3), (1, 1), (1, 1), 24),
    ((1, 20, 16, 9), (20, 1, 3, 3), (2, 2), (1, 1), 20),
    ((2, 12, 11, 30), (12, 1, 5, 5), (1, 1), (2, 2), 12),
]
ACTS = ["IDENTITY", "RELU", "CLAMP", "SIGMOID", "H_SWISH"]


@pytest.mark.parametrize("layout", ["nchw16", "nchw88"])
@pytest.mark.parametrize("case", range(len(CONVS)))
def test_blocked_conv(layout, case, monkeypatch):
    if not (X86 and have(layout)):
        pytest.skip(f"no {layout} kernels on this CPU")
    monkeypatch.setenv("LOADRUN_X86_ISA", ISA[layout])
    x, w, s, p, grp = CONVS[case]
    g = conv_graph(x, w, s, p, grp, act=ACTS[case % len(ACTS)], residual=case % 2 == 1)
    wp = case % 3 != 0
    winograd = w[2:] == (3, 3) and s == (1, 1) and grp == 1
    want = X86_WINOGRAD[layout] if winograd and wp else X86_ALGO[layout]  # the heuristic's choice
    check_graph(g, layout, threads=1 + case % 2, weight_preprocess=wp, want_algo=want)
    if winograd:  # the direct kernel on the same 3x3 s1 case
        monkeypatch.setenv("LOADRUN_ALGO_FORCE", X86_ALGO[layout])
        check_graph(g, layout, threads=1 + case % 2, weight_preprocess=wp, want_algo=X86_ALGO[layout])


@pytest.mark.parametrize("layout", ["nchw16", "nchw88", "nchw44"])
def test_generic_blocked_kernels(layout, monkeypatch):
    """The portable kernels (any CPU, nchw44 included): forced over the x86 ones."""
    monkeypatch.setenv("LOADRUN_X86_ISA", "generic")
    for k, (x, w, s, p, grp) in enumerate(CONVS[:6]):
        g = conv_graph(x, w, s, p, grp, act=ACTS[k % len(ACTS)], residual=k % 2 == 1)
        check_graph(g, layout, want_algo="blocked_conv_direct_f32")


def pool_then(mode, window, stride, pad):
    def then(g, y, shape):
        attrs = dict(mode=mode, window=window, stride=stride, pad=pad)
        out = g.add_value("p", O.infer("Pooling", [(shape, np.float32)], attrs)[0][0], "float32")
        g.add_node("Pooling", [y], [out], attrs, "pool")
        return out
    return then


@pytest.mark.parametrize("layout", ["nchw16", "nchw88"])
def test_blocked_pooling_and_elemwise(layout):
    pools = [("MAX", (3, 3), (2, 2), (1, 1)), ("AVERAGE", (2, 2), (2, 2), (0, 0)),
             ("AVERAGE_COUNT_EXCLUDE_PADDING", (3, 3), (1, 1), (1, 1)), ("AVERAGE", (9, 11), (1, 1), (0, 0))]
    for mode, win, st, pad in pools:
        g = conv_graph((1, 5, 9, 11), (20, 5, 1, 1), (1, 1), (0, 0), then=pool_then(mode, win, st, pad))
        stats = check_graph(g, layout)
        assert any(a["op"] == "BlockedPooling" for a in stats["algorithms"])

    def chan_mul_add(g, y, shape):  # per-channel constant (reblocked at compile time), scalar, residual
        t = g.add_value("t", shape, "float32")
        g.add_node("Elemwise", [y, g.add_const("s", randn(1, shape[1], 1, 1))], [t], {"mode": "MUL"}, "mul")
        u = g.add_value("u", shape, "float32")
        g.add_node("Elemwise", [t, g.add_const("k", np.array([0.5], np.float32))], [u], {"mode": "ADD"}, "add")
        return u
    for jit in (0, 1):
        g = conv_graph((2, 6, 7, 9), (20, 6, 3, 3), (1, 1), (1, 1), then=chan_mul_add)
        feeds = feeds_of(g)
        outs, stats = run(compile_graph(g, layout=layout, jit=jit), feeds)
        assert max_rel_error(outs[0], execute(g, feeds)[0]) <= TOLERANCE
        ew = [a for a in stats["algorithms"] if a["op"] in ("Elemwise", "FusedElemwise")]
        assert ew and all(a["layout"] == layout for a in ew)


def test_reference_block_roundtrip():
    x = randn(2, 21, 3, 5)
    for b in (4, 8, 16):
        xb = block_nchw(x, b)
        assert xb.shape == O.blocked_shape(x.shape, b)
        assert np.array_equal(unblock_nchw(xb, 21), x)
        assert np.array_equal(run_node("Relayout", [xb], {"block": b, "to": "NCHW", "channels": 21})[0], x)


# ---- the shared models -------------------------------------------------------------------------

RELAYOUTS = {"resnet18": 1, "mobilenet_v2": 1}


def _load(d):
    from loadrun.formats import load_model
    return load_model(d / "model.mge")


@pytest.mark.parametrize("model_dir", model_params())
def test_shared_model_blocked(model_dir, monkeypatch):
    graph = _load(model_dir)
    x = np.load(model_dir / "input.npy")
    refs = reference_outputs(model_dir)
    for k, layout in enumerate(("nchw16", "nchw88")):
        if not (X86 and have(layout)):
            continue
        monkeypatch.setenv("LOADRUN_X86_ISA", ISA[layout])
        blocked = apply_layout(graph, layout)
        n_relayout = sum(n.op == "Relayout" for n in blocked.nodes)
        if model_dir.name in RELAYOUTS:
            assert n_relayout == RELAYOUTS[model_dir.name]
        # Relayouts only at region edges: never one straight after another
        producer = blocked.producers()
        assert not any(n.op == "Relayout" and producer.get(n.inputs[0]) is not None
                       and producer[n.inputs[0]].op == "Relayout" for n in blocked.nodes)
        with Runtime.load(compile_graph(graph, layout=layout, jit=2 * k),
                          RunOptions(threads=1 + k, weight_preprocess=bool(k))) as rt:
            rt.set_input(0, x)
            rt.run()
            outs, stats = rt.get_outputs(), rt.stats()
        for got, ref in zip(outs, refs):
            assert max_rel_error(got, ref) <= TOLERANCE, layout
        convs = [a for a in stats["algorithms"] if a["op"] == "BlockedConv"]
        # the direct conv, or with weight preprocess (k = 1) Winograd F(4,3) on 3x3 stride-1 convs
        allowed = {X86_ALGO[layout], X86_WINOGRAD[layout]} if k else {X86_ALGO[layout]}
        assert all(a["layout"] == layout and a["algo"] in allowed for a in convs)
        if k and model_dir.name == "resnet18":
            assert sum(a["algo"] == X86_WINOGRAD[layout] for a in convs) == 13
        if convs and not k:  # weight preprocess off: every blocked conv reorders its weights in the run
            assert stats["weight_packs_per_run"] >= len(convs)


def test_shufflenet_relayouts_at_channel_shuffles():
    d = [p.values[0] for p in model_params() if p.values[0] is not None and p.values[0].name.startswith("shufflenet")]
    if not d:
        pytest.skip("shufflenet_v2 is not among the shared models")
    blocked = apply_layout(_load(d[0]), "nchw16")
    ops = blocked.op_counts()
    # each of the 16 units shuffles channels in NCHW (Reshape/Transpose) between blocked branches
    assert ops["Relayout"] == 36 and ops["BlockedConv"] > 40


def test_plain_layout_is_identity():
    g = conv_graph((1, 3, 8, 8), (4, 3, 3, 3), (1, 1), (1, 1))
    assert apply_layout(g, "nchw") is g
    assert compile_graph(g) == compile_graph(g, layout="nchw")


def test_supported_layouts_follow_isa_cap(monkeypatch):
    assert supported_layouts()[0] == "nchw"
    if not X86:
        return
    monkeypatch.setenv("LOADRUN_X86_ISA", "generic")
    assert supported_layouts() == ("nchw",)
    monkeypatch.setenv("LOADRUN_X86_ISA", "avx2")
    assert "nchw16" not in supported_layouts()


# ---- hostile compiled files --------------------------------------------------------------------


def _hostile(g: Graph, monkeypatch) -> bytes:
    monkeypatch.setattr(serialize_mod, "check_graph", lambda graph: None)
    return serialize_mod.serialize(g)


@pytest.mark.parametrize("what", ["block", "channels", "rank", "conv_blocks", "residual"])
def test_hostile_layout_nodes_refused(what, monkeypatch):
    g = Graph()
    x = g.add_value("x", (1, 20, 4, 4), "float32")
    g.inputs.append(x)
    if what in ("block", "channels", "rank"):
        b = 12 if what == "block" else 16
        shape = (1, 2, 4, 4, 16) if what != "rank" else (1, 2, 64)
        y = g.add_value("y", shape, "float32")
        g.add_node("Relayout", [x], [y], {"block": b, "to": "BLOCKED", "channels": 40 if what == "channels" else 20})
    else:
        xb = g.add_value("xb", (1, 2, 4, 4, 16), "float32")
        g.add_node("Relayout", [x], [xb], {"block": 16, "to": "BLOCKED", "channels": 20})
        w = g.add_const("w", randn(16, 40 if what == "conv_blocks" else 20, 3, 3))
        ins = [xb, w, g.add_const("b", randn(16))]
        if what == "residual":
            z = g.add_value("z", (1, 1, 4, 5, 16), "float32")
            g.inputs.append(z)
            ins.append(z)
        y = g.add_value("y", (1, 1, 4, 4, 16), "float32")
        g.add_node("BlockedConv", ins, [y], dict(stride=(1, 1), pad=(1, 1), dilation=(1, 1), group=1, flip=False,
                                                 nonlinearity="IDENTITY", block=16))
    g.outputs.append(y)
    with pytest.raises(Exception, match="Relayout|BlockedConv"):
        Runtime.load(_hostile(g, monkeypatch), RunOptions())


# The x86 pointwise (1x1 GEMM over the flattened plane) and depthwise 3x3 (stride 1/2 tiles) paths of
# f32_conv_nchwb_x86.h: planes whose pixel count is not a multiple of the tile, odd OC-block counts,
# channels off the block, every epilogue, residuals, 1 and 2 threads, weight preprocess on and off.
POINTWISE = [
    ((1, 17, 7, 7), (33, 17, 1, 1)),
    ((2, 24, 5, 3), (48, 24, 1, 1)),
    ((1, 40, 14, 14), (24, 40, 1, 1)),
    ((1, 16, 1, 29), (16, 16, 1, 1)),
    ((1, 9, 11, 13), (70, 9, 1, 1)),
    ((1, 20, 6, 6), (8, 20, 1, 1)),
    ((1, 58, 7, 9), (116, 58, 1, 1)),
]
DEPTHWISE = [
    ((1, 20, 9, 17), (1, 1), (1, 1)),
    ((1, 40, 12, 30), (2, 2), (1, 1)),
    ((2, 16, 5, 5), (2, 2), (1, 1)),
    ((1, 24, 7, 2), (1, 1), (1, 1)),
    ((1, 33, 11, 23), (2, 2), (0, 0)),
    ((1, 18, 6, 13), (1, 1), (0, 0)),
    ((1, 8, 1, 1), (1, 1), (1, 1)),
    ((1, 20, 8, 19), (2, 2), (2, 2)),
]


@pytest.mark.parametrize("layout", ["nchw16", "nchw88"])
@pytest.mark.parametrize("case", range(len(POINTWISE) * len(ACTS)))
def test_blocked_pointwise_paths(layout, case, monkeypatch):
    if not (X86 and have(layout)):
        pytest.skip(f"no {layout} kernels on this CPU")
    monkeypatch.setenv("LOADRUN_X86_ISA", ISA[layout])
    x, w = POINTWISE[case % len(POINTWISE)]
    act = ACTS[case // len(POINTWISE)]
    g = conv_graph(x, w, (1, 1), (0, 0), 1, act=act, residual=case % 2 == 0, bias=case % 3 != 1)
    check_graph(g, layout, threads=1 + case % 2, weight_preprocess=case % 4 < 2, want_algo=X86_ALGO[layout])


@pytest.mark.parametrize("layout", ["nchw16", "nchw88"])
@pytest.mark.parametrize("case", range(len(DEPTHWISE) * 3))
def test_blocked_depthwise3x3_paths(layout, case, monkeypatch):
    if not (X86 and have(layout)):
        pytest.skip(f"no {layout} kernels on this CPU")
    monkeypatch.setenv("LOADRUN_X86_ISA", ISA[layout])
    x, s, p = DEPTHWISE[case % len(DEPTHWISE)]
    act = ["CLAMP", "RELU", "H_SWISH"][case // len(DEPTHWISE)]
    c = x[1]
    g = conv_graph(x, (c, 1, 3, 3), s, p, c, act=act, residual=case % 2 == 1, bias=case % 3 != 2)
    check_graph(g, layout, threads=1 + case % 2, weight_preprocess=case % 3 != 0, want_algo=X86_ALGO[layout])


# Relayout NCHW <-> nchw16 by AVX-512 16x16 transposes (f32_conv_nchwb_relayout_avx512f.c): planes
# with and without a whole 16 pixels, channel counts off the block (zero padding lanes), 1 and 2 threads.
@pytest.mark.parametrize("case", range(6))
def test_relayout_nchw16_transposes(case, monkeypatch):
    if not (X86 and have("nchw16")):
        pytest.skip("no nchw16 kernels on this CPU")
    monkeypatch.setenv("LOADRUN_X86_ISA", "avx512")
    c, h, w = [(5, 7, 3), (16, 4, 4), (20, 2, 3), (33, 9, 11), (58, 6, 6), (3, 1, 1)][case]
    oc = [24, 16, 7, 40, 116, 17][case]
    g = conv_graph((1 + case % 2, c, h, w), (oc, c, 1, 1), (1, 1), (0, 0), 1, act="RELU", residual=case % 3 == 0)
    stats = check_graph(g, "nchw16", threads=1 + case % 2, weight_preprocess=case % 2 == 0,
                        want_algo="relayout_nchw16_f32_avx512f")
    assert any(a["algo"] == "relayout_nchw16_f32_avx512f" for a in stats["algorithms"])


# Dense (non-1x1) convs whose last output block has <= 8 real channels (ymm halves on nchw16): the
# stem over plain RGB (per-row strips), blocked inputs, a pair or a lone last block, strides 1 and 2.
DENSE_HALF = [
    ((1, 3, 17, 21), (24, 3, 3, 3), (2, 2), (1, 1)),
    ((2, 3, 9, 30), (8, 3, 3, 3), (1, 1), (1, 1)),
    ((1, 20, 9, 11), (40, 20, 3, 3), (1, 1), (1, 1)),
    ((1, 17, 10, 9), (36, 17, 3, 3), (2, 2), (0, 0)),
]


@pytest.mark.parametrize("layout", ["nchw16", "nchw88"])
@pytest.mark.parametrize("case", range(len(DENSE_HALF) * 2))
def test_blocked_dense_half_block(layout, case, monkeypatch):
    if not (X86 and have(layout)):
        pytest.skip(f"no {layout} kernels on this CPU")
    monkeypatch.setenv("LOADRUN_X86_ISA", ISA[layout])
    monkeypatch.setenv("LOADRUN_ALGO_FORCE", X86_ALGO[layout])
    x, w, s, p = DENSE_HALF[case % len(DENSE_HALF)]
    g = conv_graph(x, w, s, p, 1, act=["CLAMP", "H_SWISH"][case // len(DENSE_HALF)], residual=case % 2 == 1)
    check_graph(g, layout, threads=1 + case % 2, weight_preprocess=case % 3 != 0, want_algo=X86_ALGO[layout])
