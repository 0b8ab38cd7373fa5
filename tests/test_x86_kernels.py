"""The x86 algorithms (native/x86/) against the numpy reference: each one forced by name
(LOADRUN_ALGO_FORCE) and at each ISA level (LOADRUN_X86_ISA), on random shapes with odd sizes and
tails, and on the shared MegEngine models. Skipped off x86-64 and where the CPU lacks the ISA."""

from __future__ import annotations

import platform

import numpy as np
import pytest

from conftest import TOLERANCE, max_rel_error, model_params, reference_outputs
from loadrun.compile import compile_graph
from loadrun.ir import ops as O
from loadrun.ir.graph import Graph
from loadrun.ir.reference import execute
from loadrun.runtime import RunOptions, Runtime
from loadrun.runtime import native

pytestmark = pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86-64 only")

ISAS = {"avx512f": "avx512", "avx2_fma": "avx2"}
GEMM = {"avx512f": "8x32_avx512f", "avx2_fma": "6x16_avx2_fma"}


def cpu_has(isa: str) -> bool:
    flags = open("/proc/cpuinfo").read() if platform.system() == "Linux" else ""
    need = {"avx512f": ["avx512f", "avx512bw", "avx512vl", "avx512dq"], "avx2_fma": ["avx2", "fma"]}[isa]
    return all(f" {f}" in flags for f in need)


def node_algos(rt) -> list[tuple[str, str]]:
    L = native.lib()
    out = []
    for i in range(L.lr_node_count(rt.handle)):
        op, algo = L.lr_node_op(rt.handle, i), L.lr_node_algo(rt.handle, i)
        out.append((native.ffi.string(op).decode(), native.ffi.string(algo).decode() if algo != native.ffi.NULL else ""))
    return out


def run_options(threads: int, weight_preprocess: bool) -> RunOptions:
    if "weight_preprocess" in getattr(RunOptions, "__dataclass_fields__", {}):
        return RunOptions(threads=threads, weight_preprocess=weight_preprocess)
    return RunOptions(threads=threads)


def run_forced(graph, feeds, algo, isa, threads, monkeypatch, weight_preprocess=True):
    """weight_preprocess on: prepare packs/transforms weights at load; off: every run does."""
    monkeypatch.setenv("LOADRUN_ALGO_FORCE", algo)
    monkeypatch.setenv("LOADRUN_X86_ISA", ISAS[isa])
    with Runtime.load(compile_graph(graph), run_options(threads, weight_preprocess)) as rt:
        for info in rt.inputs:
            rt.set_input(info.name, feeds[info.name])
        rt.run()
        return rt.get_outputs(), node_algos(rt)


def one_node(op, inputs, attrs, consts=()):
    g = Graph()
    feeds, ids = {}, []
    for k, arr in enumerate(inputs):
        if k in consts:
            ids.append(g.add_const(f"c{k}", arr))
        else:
            ids.append(g.add_value(f"x{k}", arr.shape, arr.dtype))
            g.inputs.append(ids[-1])
            feeds[f"x{k}"] = arr
    outs = O.infer(op, [(g.values[i].shape, g.values[i].dtype) for i in ids], attrs)
    oid = g.add_value("y", outs[0][0], outs[0][1])
    g.add_node(op, ids, [oid], attrs, "n")
    g.outputs.append(oid)
    g.validate()
    return g, feeds


rng = np.random.RandomState(11)


def randn(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def check(graph, feeds, algo, isa, threads, monkeypatch):
    if not cpu_has(isa):
        pytest.skip(f"this CPU has no {isa}")
    got, algos = run_forced(graph, feeds, algo, isa, threads, monkeypatch, weight_preprocess=threads == 1)
    assert any(a == algo for _, a in algos), f"{algo} was not chosen: {algos}"
    for g, r in zip(got, execute(graph, feeds)):
        assert max_rel_error(g, np.asarray(r)) <= TOLERANCE


# (x, w, stride, pad, group): odd spatial sizes, channel counts off the MR/NR multiples, tails
CONV_GEMM = [
    ((1, 3, 17, 13), (5, 3, 3, 3), (1, 1), (1, 1), 1),
    ((2, 6, 9, 10), (10, 3, 3, 3), (2, 2), (1, 1), 2),
    ((1, 19, 7, 7), (37, 19, 1, 1), (1, 1), (0, 0), 1),
    ((1, 8, 11, 5), (3, 8, 1, 1), (2, 2), (0, 0), 1),
    ((1, 5, 12, 12), (7, 5, 5, 5), (2, 1), (2, 1), 1),
    ((1, 300, 3, 3), (17, 300, 3, 3), (1, 1), (1, 1), 1),  # K > KC: several K blocks
]
EXTRAS = ["none", "bias+relu", "bias+z", "odd_bias+sigmoid"]


def conv_graph(x, w, stride, pad, group, extras, flip=False):
    act = {"bias+relu": "RELU", "odd_bias+sigmoid": "SIGMOID"}.get(extras, "IDENTITY")
    attrs = dict(stride=stride, pad=pad, dilation=(1, 1), group=group, flip=flip, nonlinearity=act)
    xs, ws = randn(*x), randn(*w)
    out = O.infer("Conv", [(xs.shape, xs.dtype), (ws.shape, ws.dtype)], attrs)[0][0]
    ins = [xs, ws]
    if extras != "none":
        ins.append(randn(1, 1, out[2], 1) if extras.startswith("odd") else randn(1, out[1], 1, 1))
    if extras == "bias+z":
        ins.append(randn(*out))
    return one_node("Conv", ins, attrs, consts={1, 2})


@pytest.mark.parametrize("isa", list(ISAS))
@pytest.mark.parametrize("case", range(len(CONV_GEMM)))
@pytest.mark.parametrize("extras", EXTRAS)
def test_conv_gemm(isa, case, extras, monkeypatch):
    x, w, stride, pad, group = CONV_GEMM[case]
    g, feeds = conv_graph(x, w, stride, pad, group, extras, flip=case % 2 == 1)
    one = w[2] == 1 and w[3] == 1 and stride == (1, 1) and pad == (0, 0)
    algo = f"conv{'1x1' if one else '_im2col'}_gemm_f32_{GEMM[isa]}"
    check(g, feeds, algo, isa, 1 + case % 2, monkeypatch)


WINOGRAD = [((1, 8, 24, 24), (8, 8, 3, 3), (1, 1)), ((2, 13, 25, 30), (21, 13, 3, 3), (1, 1)),
            ((1, 9, 26, 39), (10, 9, 3, 3), (0, 0)), ((1, 300, 24, 25), (9, 300, 3, 3), (2, 2))]


@pytest.mark.parametrize("isa", list(ISAS))
@pytest.mark.parametrize("case", range(len(WINOGRAD)))
@pytest.mark.parametrize("extras", EXTRAS)
def test_conv_winograd_f43(isa, case, extras, monkeypatch):
    x, w, pad = WINOGRAD[case]
    if x[1] >= 300 and "sigmoid" in extras:  # documented bound: ~1e-5 x max|pre-activation| (docs/benchmarks.md)
        pytest.skip("the sigmoid squeezes max|y| to 1 while the error stays relative to the pre-activation")
    g, feeds = conv_graph(x, w, (1, 1), pad, 1, extras, flip=case % 2 == 1)
    check(g, feeds, f"conv_winograd_f43_f32_{isa}", isa, 1 + case % 2, monkeypatch)


DW = [((1, 5, 9, 13), (1, 1), (1, 1)), ((2, 3, 17, 18), (2, 2), (1, 1)), ((1, 7, 6, 35), (2, 2), (0, 0)),
      ((1, 4, 5, 3), (1, 1), (2, 2)), ((1, 16, 28, 28), (2, 2), (1, 1))]


@pytest.mark.parametrize("isa", list(ISAS))
@pytest.mark.parametrize("case", range(len(DW)))
@pytest.mark.parametrize("extras", EXTRAS)
def test_conv_depthwise_3x3(isa, case, extras, monkeypatch):
    x, stride, pad = DW[case]
    g, feeds = conv_graph(x, (x[1], 1, 3, 3), stride, pad, x[1], extras, flip=case % 2 == 0)
    check(g, feeds, f"conv_depthwise_3x3_f32_{isa}", isa, 1 + case % 2, monkeypatch)


# conv_gemm_pixrows (pixels as GEMM rows, OC as columns): small planes with K >= 1024, OC a multiple of NR
PIXROWS = [((1, 130, 7, 7), (64, 130, 3, 3), (1, 1), (1, 1)), ((2, 120, 13, 11), (96, 120, 3, 3), (2, 2), (1, 1)),
           ((1, 1100, 7, 7), (64, 1100, 1, 1), (1, 1), (0, 0)), ((1, 64, 7, 7), (128, 64, 5, 5), (1, 1), (2, 2))]


@pytest.mark.parametrize("isa", list(ISAS))
@pytest.mark.parametrize("case", range(len(PIXROWS)))
@pytest.mark.parametrize("extras", EXTRAS)
def test_conv_gemm_pixrows(isa, case, extras, monkeypatch):
    x, w, stride, pad = PIXROWS[case]
    g, feeds = conv_graph(x, w, stride, pad, 1, extras, flip=case % 2 == 1)
    check(g, feeds, f"conv_gemm_pixrows_f32_{GEMM[isa]}", isa, 1 + case % 2, monkeypatch)


# MAX pooling: (x, window, stride, pad); widths around the vector length, odd tails, stride 1 and 2
POOL = [((1, 3, 112, 112), (3, 3), (2, 2), (1, 1)), ((2, 5, 17, 37), (3, 3), (1, 1), (1, 1)),
        ((1, 4, 20, 41), (2, 2), (2, 2), (0, 0)), ((1, 2, 9, 50), (5, 4), (2, 2), (2, 1)),
        ((1, 3, 18, 18), (3, 3), (1, 1), (0, 0))]


@pytest.mark.parametrize("isa", list(ISAS))
@pytest.mark.parametrize("case", range(len(POOL)))
def test_pooling_max(isa, case, monkeypatch):
    x, window, stride, pad = POOL[case]
    g, feeds = one_node("Pooling", [randn(*x)], dict(mode="MAX", window=window, stride=stride, pad=pad))
    check(g, feeds, f"pooling_max_f32_{isa}", isa, 1 + case % 2, monkeypatch)
    got, _ = run_forced(g, feeds, f"pooling_max_f32_{isa}", isa, 2, monkeypatch)
    np.testing.assert_array_equal(got[0], execute(g, feeds)[0])  # a max is exact


@pytest.mark.parametrize("isa", list(ISAS))
@pytest.mark.parametrize("ta,tb,const_b", [(False, False, True), (True, False, False), (False, True, True),
                                           (True, True, False)])
def test_matmul(isa, ta, tb, const_b, monkeypatch):
    m, k, n = 37, 45, 70
    a = randn(k, m) if ta else randn(m, k)
    b = randn(n, k) if tb else randn(k, n)
    g, feeds = one_node("MatMul", [a, b], dict(transA=ta, transB=tb), consts={1} if const_b else set())
    check(g, feeds, f"matmul_gemm_f32_{GEMM[isa]}", isa, 2, monkeypatch)


@pytest.mark.parametrize("isa", list(ISAS))
def test_batched_matmul(isa, monkeypatch):
    g, feeds = one_node("BatchedMatMul", [randn(3, 13, 29), randn(3, 29, 33)], dict(transA=False, transB=False))
    check(g, feeds, f"batched_matmul_gemm_f32_{GEMM[isa]}", isa, 2, monkeypatch)


@pytest.mark.parametrize("isa", list(ISAS))
@pytest.mark.parametrize("shape", [(3, 37), (2, 128, 16), (1, 5)])
def test_gelu_softmax(isa, shape, monkeypatch):
    x = randn(*shape) * 3
    g, feeds = one_node("Elemwise", [x], dict(mode="GELU"))
    check(g, feeds, f"elemwise_gelu_f32_{isa}", isa, 2, monkeypatch)
    g, feeds = one_node("Softmax", [x * 10], dict(axis=len(shape) - 1))
    check(g, feeds, f"softmax_lastaxis_f32_{isa}", isa, 1, monkeypatch)


@pytest.mark.parametrize("isa", list(ISAS))
@pytest.mark.parametrize("model_dir", model_params())
def test_shared_models_each_isa(isa, model_dir, monkeypatch):
    if not cpu_has(isa):
        pytest.skip(f"this CPU has no {isa}")
    from loadrun.api import load_model
    graph = load_model(model_dir / "model.mge")
    feeds = {graph.values[i].name: np.load(model_dir / "input.npy") for i in graph.inputs} \
        if (model_dir / "input.npy").is_file() else None
    if feeds is None or len(graph.inputs) != 1:
        pytest.skip("a single input.npy is needed")
    got, algos = run_forced(graph, feeds, "", isa, 2, monkeypatch, weight_preprocess=isa == "avx512f")
    if any(op == "Conv" for op, _ in algos):
        assert any(a.endswith(isa) for op, a in algos if op == "Conv"), algos
    for g, r in zip(got, reference_outputs(model_dir)):
        assert max_rel_error(g, r.reshape(g.shape)) <= TOLERANCE


# ---- LayerNorm, binary Elemwise fast paths and the JIT's fused operators (activation_softmax_x86.h) ----


@pytest.mark.parametrize("isa", list(ISAS))
@pytest.mark.parametrize("shape,k,affine", [((3, 37), 1, True), ((1, 128, 256), 1, True), ((2, 5, 16), 2, False),
                                            ((4, 7), 1, False), ((2, 3, 4099), 1, True)])
@pytest.mark.parametrize("threads", [1, 2])
def test_layernorm_x86(isa, shape, k, affine, threads, monkeypatch):
    norm = shape[-k:]
    ins = [randn(*shape) * 3 + 1.5] + ([randn(*norm), randn(*norm)] if affine else [])
    attrs = dict(eps=1e-5, normalized_dim=k, affine=affine)
    g, feeds = Graph(), {"x0": ins[0]}
    ids = [g.add_value("x0", ins[0].shape, np.float32)] + [g.add_const(f"c{j}", a) for j, a in enumerate(ins[1:])]
    g.inputs.append(ids[0])
    outs = [g.add_value(f"y{j}", s_, d) for j, (s_, d) in enumerate(O.infer("LayerNorm", [(a.shape, a.dtype) for a in ins], attrs))]
    g.add_node("LayerNorm", ids, outs, attrs, "n")
    g.outputs.extend(outs)  # y, mean and rstd all checked
    g.validate()
    check(g, feeds, f"layernorm_f32_{isa}", isa, threads, monkeypatch)


BINARY_CASES = [((2, 3, 37), (2, 3, 37)), ((1,), (3, 37)), ((3, 37), (1,)), ((37,), (2, 3, 37)),
                ((2, 3, 37), (1, 37)), ((1, 3, 37), (2, 3, 37)), ((4, 1000), (1000,)), ((1, 128, 1024), (1024,)),
                ((1, 1), (5, 7))]


@pytest.mark.parametrize("isa", list(ISAS))
@pytest.mark.parametrize("a,b", BINARY_CASES)
@pytest.mark.parametrize("mode", ["ADD", "SUB", "MUL", "TRUE_DIV", "FUSE_ADD_RELU"])
@pytest.mark.parametrize("threads", [1, 2])
def test_elemwise_binary_x86(isa, a, b, mode, threads, monkeypatch):
    x, y = randn(*a), randn(*b)
    if mode == "TRUE_DIV":
        x, y = x, np.sign(y) * (np.abs(y) + 0.5)
    g, feeds = one_node("Elemwise", [x, y], dict(mode=mode), consts=(1,) if len(b) == 1 else ())
    check(g, feeds, f"elemwise_binary_f32_{isa}", isa, threads, monkeypatch)


def _chain_graph(kind):
    """Two-node chains that JIT level 2 turns into FusedElemwise / FusedSoftmax / FusedLayerNorm."""
    g = Graph()
    feeds = {}

    def inp(name, shape):
        v = g.add_value(name, shape, np.float32)
        g.inputs.append(v)
        feeds[name] = randn(*shape)
        return v

    def node(op, ins, attrs, name, n_out=1):
        outs = O.infer(op, [(g.values[i].shape, g.values[i].dtype) for i in ins], attrs)
        ids = [g.add_value(f"{name}{j}", s, d) for j, (s, d) in enumerate(outs)]
        g.add_node(op, ins, ids, attrs, name)
        return ids

    if kind == "add_gelu":
        x, b = inp("x", (3, 5, 203)), g.add_const("b", randn(203))
        y = node("Elemwise", [node("Elemwise", [b, x], dict(mode="ADD"), "a")[0]], dict(mode="GELU"), "y")
    elif kind == "mul_softmax":
        x, s = inp("x", (2, 3, 7, 133)), g.add_const("s", np.array([0.7], np.float32))
        y = node("Softmax", [node("Elemwise", [s, x], dict(mode="MUL"), "a")[0]], dict(axis=3), "y")
    else:
        x, r = inp("x", (1, 29, 77)), inp("r", (1, 29, 77))
        w, b = g.add_const("w", randn(77)), g.add_const("b", randn(77))
        a = node("Elemwise", [node("Elemwise", [x, r], dict(mode="ADD"), "a")[0], b], dict(mode="ADD"), "c")[0]
        y = node("LayerNorm", [a, w, b], dict(eps=1e-5, normalized_dim=1, affine=True), "y")[:1]
    g.outputs.append(y[0])
    g.validate()
    return g, feeds


@pytest.mark.parametrize("isa", list(ISAS))
@pytest.mark.parametrize("kind,algo", [("add_gelu", "fused_elemwise_f32"), ("mul_softmax", "fused_softmax_f32"),
                                       ("add_layernorm", "fused_layernorm_f32")])
@pytest.mark.parametrize("threads", [1, 2])
def test_fused_x86(isa, kind, algo, threads, monkeypatch):
    if not cpu_has(isa):
        pytest.skip(f"this CPU has no {isa}")
    g, feeds = _chain_graph(kind)
    monkeypatch.setenv("LOADRUN_ALGO_FORCE", f"{algo}_{isa}")
    monkeypatch.setenv("LOADRUN_X86_ISA", ISAS[isa])
    with Runtime.load(compile_graph(g, jit=2), RunOptions(threads=threads)) as rt:
        for info in rt.inputs:
            rt.set_input(info.name, feeds[info.name])
        rt.run()
        got = rt.get_outputs()
        assert any(a == f"{algo}_{isa}" for _, a in node_algos(rt)), node_algos(rt)
    for o, r in zip(got, execute(g, feeds)):
        assert max_rel_error(o, np.asarray(r).reshape(o.shape)) <= TOLERANCE


# ---- Winograd F(4,3) / F(2,3) on the blocked layouts (native/x86/f32_conv_nchwb_winograd_x86.h) ----

BLOCKED_WINOGRAD = [  # (x, w, pad): odd planes (not multiples of 4), channels off the block, 7x7 and
    ((1, 16, 8, 8), (16, 16, 3, 3), (1, 1)),  # one or many tiles, several blocks, K over 256
    ((2, 5, 13, 10), (20, 5, 3, 3), (1, 1)),
    ((1, 24, 14, 15), (40, 24, 3, 3), (1, 1)),
    ((1, 17, 7, 9), (33, 17, 3, 3), (0, 0)),
    ((1, 40, 15, 17), (24, 40, 3, 3), (2, 2)),
    ((1, 64, 30, 29), (48, 64, 3, 3), (1, 1)),
    ((1, 300, 9, 11), (50, 300, 3, 3), (1, 2)),
    ((1, 9, 5, 6), (7, 9, 3, 3), (1, 1)),
]
BW_EXTRAS = ["none", "bias+relu", "bias+z", "bias+clamp", "bias+z+sigmoid", "bias+h_swish"]
BW_LAYOUT = {"avx512f": "nchw16", "avx2_fma": "nchw88"}


def blocked_winograd_graph(x, w, pad, extras):
    act = {"bias+relu": "RELU", "bias+clamp": "CLAMP", "bias+z+sigmoid": "SIGMOID", "bias+h_swish": "H_SWISH"}
    attrs = dict(stride=(1, 1), pad=pad, dilation=(1, 1), group=1, flip=False, nonlinearity=act.get(extras, "IDENTITY"))
    if extras == "bias+clamp":
        attrs.update(lo=-0.6, hi=0.8)
    # weights ~ 1.5 / sqrt(K): pre-activations of a few units, as behind a normalisation (the Winograd
    # error is ~1e-5 x max|pre-activation|, and the clamp squeezes max|y| below 1)
    xs, ws = randn(*x), randn(*w) * np.float32(1.5 / np.sqrt(9 * w[1]))
    out = O.infer("Conv", [(xs.shape, xs.dtype), (ws.shape, ws.dtype)], attrs)[0][0]
    ins = [xs, ws]
    if extras != "none":
        ins.append(randn(1, out[1], 1, 1))
    if "+z" in extras:
        ins.append(randn(*out))
    return one_node("Conv", ins, attrs, consts={1, 2})


@pytest.mark.parametrize("isa", list(ISAS))
@pytest.mark.parametrize("variant", ["f43", "f23"])
@pytest.mark.parametrize("case", range(len(BLOCKED_WINOGRAD)))
@pytest.mark.parametrize("extras", BW_EXTRAS)
def test_blocked_conv_winograd(isa, variant, case, extras, monkeypatch):
    """Forced on odd shapes, each at two (threads, weight preprocess) settings."""
    if not cpu_has(isa):
        pytest.skip(f"this CPU has no {isa}")
    layout = BW_LAYOUT[isa]
    x, w, pad = BLOCKED_WINOGRAD[case]
    graph, feeds = blocked_winograd_graph(x, w, pad, extras)
    ref = execute(graph, feeds)
    algo = f"blocked_conv_winograd_{variant}_f32_{isa}"
    monkeypatch.setenv("LOADRUN_ALGO_FORCE", algo)
    monkeypatch.setenv("LOADRUN_X86_ISA", ISAS[isa])
    compiled = compile_graph(graph, layout=layout)
    k = BW_EXTRAS.index(extras)
    for threads, wp in ((1 + (case + k) % 2, (case + k) % 3 != 0), (2 - (case + k) % 2, (case + k) % 3 == 0)):
        with Runtime.load(compiled, run_options(threads, wp)) as rt:
            for info in rt.inputs:
                rt.set_input(info.name, feeds[info.name])
            rt.run()
            got, algos, stats = rt.get_outputs(), node_algos(rt), rt.stats()
        assert any(a == algo for _, a in algos), f"{algo} was not chosen: {algos}"
        if not wp:
            assert stats["weight_packs_per_run"] >= 1
        for g, r in zip(got, ref):
            assert max_rel_error(g, np.asarray(r)) <= TOLERANCE, (threads, wp)


@pytest.mark.parametrize("isa", list(ISAS))
@pytest.mark.parametrize("variant", ["f43", "f23"])
def test_blocked_conv_winograd_resnet_shapes(isa, variant, monkeypatch):
    """The resnet18 3x3 layers (56x56x64 .. 7x7x512), one pass each at 2 threads with weight preprocess."""
    if not cpu_has(isa):
        pytest.skip(f"this CPU has no {isa}")
    algo = f"blocked_conv_winograd_{variant}_f32_{isa}"
    monkeypatch.setenv("LOADRUN_ALGO_FORCE", algo)
    monkeypatch.setenv("LOADRUN_X86_ISA", ISAS[isa])
    for hw, c in ((56, 64), (28, 128), (14, 256), (7, 512)):
        graph, feeds = blocked_winograd_graph((1, c, hw, hw), (c, c, 3, 3), (1, 1), "bias+z")
        with Runtime.load(compile_graph(graph, layout=BW_LAYOUT[isa]), run_options(2, True)) as rt:
            for info in rt.inputs:
                rt.set_input(info.name, feeds[info.name])
            rt.run()
            got, algos = rt.get_outputs(), node_algos(rt)
        assert any(a == algo for _, a in algos), algos
        assert max_rel_error(got[0], np.asarray(execute(graph, feeds)[0])) <= TOLERANCE


@pytest.mark.parametrize("isa", list(ISAS))
@pytest.mark.parametrize("variant", ["f43", "f23"])
@pytest.mark.parametrize("model_dir", model_params())
def test_blocked_conv_winograd_shared_models(isa, variant, model_dir, monkeypatch):
    """Every blocked 3x3 stride-1 convolution of a shared model forced to Winograd (resnet18: 13)."""
    if not cpu_has(isa):
        pytest.skip(f"this CPU has no {isa}")
    from loadrun.api import load_model
    graph = load_model(model_dir / "model.mge")
    if not (model_dir / "input.npy").is_file() or len(graph.inputs) != 1:
        pytest.skip("a single input.npy is needed")
    algo = f"blocked_conv_winograd_{variant}_f32_{isa}"
    monkeypatch.setenv("LOADRUN_ALGO_FORCE", algo)
    monkeypatch.setenv("LOADRUN_X86_ISA", ISAS[isa])
    with Runtime.load(compile_graph(graph, layout=BW_LAYOUT[isa]), run_options(2, isa == "avx512f")) as rt:
        rt.set_input(0, np.load(model_dir / "input.npy"))
        rt.run()
        got, algos = rt.get_outputs(), node_algos(rt)
    if model_dir.name == "resnet18":
        assert sum(a == algo for _, a in algos) == 13, algos
    for g, r in zip(got, reference_outputs(model_dir)):
        assert max_rel_error(g, r.reshape(g.shape)) <= TOLERANCE



# ---- BlockedPooling (native/generic/pooling_blocked_vec.h, f32_pooling_nchwb_*.c) ----
BLOCKED_POOL = [  # (x, window, stride, pad): resnet18's stem pool, channels off the block, odd tails,
    ((1, 64, 112, 112), (3, 3), (2, 2), (1, 1)),  # windows wider than 4 (the 4-accumulator runs)
    ((2, 21, 17, 37), (3, 3), (1, 1), (1, 1)),
    ((1, 9, 20, 41), (2, 2), (2, 2), (0, 0)),
    ((1, 40, 9, 50), (5, 6), (2, 3), (2, 1)),
    ((1, 512, 7, 7), (7, 7), (1, 1), (0, 0)),  # global pooling: one run over the plane
    ((1, 3, 5, 11), (5, 11), (1, 1), (0, 0)),
]


@pytest.mark.parametrize("isa", list(ISAS))
@pytest.mark.parametrize("mode", ["MAX", "AVERAGE", "AVERAGE_COUNT_EXCLUDE_PADDING"])
@pytest.mark.parametrize("case", range(len(BLOCKED_POOL)))
def test_blocked_pooling(isa, mode, case, monkeypatch):
    if not cpu_has(isa):
        pytest.skip(f"this CPU has no {isa}")
    x, window, stride, pad = BLOCKED_POOL[case]
    g, feeds = one_node("Pooling", [randn(*x)], dict(mode=mode, window=window, stride=stride, pad=pad))
    ref = np.asarray(execute(g, feeds)[0])
    algo = f"blocked_pooling_f32_{isa}"
    monkeypatch.setenv("LOADRUN_ALGO_FORCE", algo)
    monkeypatch.setenv("LOADRUN_X86_ISA", ISAS[isa])
    compiled = compile_graph(g, layout=BW_LAYOUT[isa])
    for threads in (1, 2):
        with Runtime.load(compiled, run_options(threads, True)) as rt:
            rt.set_input(0, feeds["x0"])
            rt.run()
            got, algos = rt.get_outputs(), node_algos(rt)
        assert ("BlockedPooling", algo) in algos, algos
        if mode == "MAX":
            np.testing.assert_array_equal(got[0], ref)  # a max is exact
        else:
            assert max_rel_error(got[0], ref) <= TOLERANCE, threads

# ---- GEMV (M == 1 MatMul / BatchedMatMul, gemv_x86.h) ----
@pytest.mark.parametrize("isa", list(ISAS))
@pytest.mark.parametrize("ta,tb,const_b", [(False, True, True), (False, False, True), (True, True, False),
                                           (False, False, False), (True, False, True)])
@pytest.mark.parametrize("k,n", [(45, 70), (1283, 1001), (3, 17)])
def test_matmul_gemv(isa, ta, tb, const_b, k, n, monkeypatch):
    if not cpu_has(isa):
        pytest.skip(f"this CPU has no {isa}")
    a = randn(k, 1) if ta else randn(1, k)
    b = randn(n, k) if tb else randn(k, n)
    g, feeds = one_node("MatMul", [a, b], dict(transA=ta, transB=tb), consts={1} if const_b else set())
    ref = np.asarray(execute(g, feeds)[0])
    algo = f"matmul_gemv_f32_{isa}"
    for threads, wp in ((1, True), (1, False), (2, True), (2, False)):
        got, algos = run_forced(g, feeds, algo, isa, threads, monkeypatch, weight_preprocess=wp)
        assert any(x == algo for _, x in algos), algos
        assert max_rel_error(got[0], ref) <= TOLERANCE, (threads, wp)


@pytest.mark.parametrize("isa", list(ISAS))
@pytest.mark.parametrize("tb,const_b", [(False, False), (True, True), (False, True)])
def test_batched_matmul_gemv(isa, tb, const_b, monkeypatch):
    if not cpu_has(isa):
        pytest.skip(f"this CPU has no {isa}")
    b = randn(3, 37, 29) if tb else randn(3, 29, 37)
    g, feeds = one_node("BatchedMatMul", [randn(3, 1, 29), b], dict(transA=False, transB=tb),
                        consts={1} if const_b else set())
    ref = np.asarray(execute(g, feeds)[0])
    algo = f"batched_matmul_gemv_f32_{isa}"
    for threads, wp in ((1, False), (2, True)):
        got, algos = run_forced(g, feeds, algo, isa, threads, monkeypatch, weight_preprocess=wp)
        assert any(x == algo for _, x in algos), algos
        assert max_rel_error(got[0], ref) <= TOLERANCE, (threads, wp)


# The per-run A packing by 8x8 transposes (matmul_x86.c pack_a_avx2): K below 8, a multiple of 8 and with a
# tail, past KC; M a multiple of MR (8 / 6), with a partial last panel; batched; transA falls back to scalar.
@pytest.mark.parametrize("isa", list(ISAS))
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("batch,m,k,n,ta", [(0, 48, 64, 40, False), (0, 49, 7, 33, False), (0, 24, 300, 70, False),
                                            (0, 13, 257, 17, False), (3, 30, 64, 128, False), (4, 128, 128, 64, False),
                                            (2, 40, 19, 9, True)])
def test_matmul_vector_pack_a(isa, threads, batch, m, k, n, ta, monkeypatch):
    lead = (batch,) if batch else ()
    a = randn(*lead, k, m) if ta else randn(*lead, m, k)
    b = randn(*lead, k, n)
    op = "BatchedMatMul" if batch else "MatMul"
    g, feeds = one_node(op, [a, b], dict(transA=ta, transB=False), consts=set() if batch else {1})
    check(g, feeds, f"{'batched_' if batch else ''}matmul_gemm_f32_{GEMM[isa]}", isa, threads, monkeypatch)
