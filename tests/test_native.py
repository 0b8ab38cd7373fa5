"""The native runtime against the numpy reference executor: every operator on small hand-built
graphs, every shared MegEngine model, the Python binding's API and its failure modes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import TOLERANCE, max_rel_error, model_params, reference_outputs
from ir_graph_zoo import ZOO, GraphMaker
from loadrun.compile import compile_graph
from loadrun.errors import InputError, RuntimeFailure
from loadrun.ir import ops as O
from loadrun.ir.reference import execute
from loadrun.runtime import RunOptions, Runtime, TensorInfo
from loadrun.runtime import native


def run_native(graph, feeds, threads=1):
    with Runtime.load(compile_graph(graph), RunOptions(threads=threads)) as rt:
        for info in rt.inputs:
            rt.set_input(info.name, feeds[info.name])
        rt.run()
        return rt.get_outputs()


def assert_matches(graph, feeds, threads=1):
    ref = execute(graph, feeds)
    got = run_native(graph, feeds, threads)
    assert len(got) == len(ref)
    for i, (g, r) in enumerate(zip(got, ref)):
        r = np.asarray(r)
        assert g.shape == r.shape and g.dtype == r.dtype, f"output {i}: {g.dtype}{g.shape} vs {r.dtype}{r.shape}"
        if r.dtype.kind == "f":
            finite = np.isfinite(r)
            assert np.array_equal(finite, np.isfinite(g)), f"output {i}: non-finite values differ"
            if finite.any():
                assert max_rel_error(g[finite], r[finite]) <= TOLERANCE, f"output {i}"
        else:
            assert np.array_equal(g, r), f"output {i}: {g.ravel()[:8]} vs {r.ravel()[:8]}"


@pytest.mark.parametrize("name", sorted(ZOO))
@pytest.mark.parametrize("threads", [1, 2])
def test_graph_zoo(name, threads):
    graph, feeds = ZOO[name]()
    assert_matches(graph, feeds, threads)


# ---- targeted cases per operator -----------------------------------------------------------


def one_node(op, inputs, attrs, consts=()):
    """A graph of one node over random float inputs (`consts` indexes the inputs made constants)."""
    m = GraphMaker(seed=hash((op, str(attrs))) % 2**31)
    ids = []
    for k, arr in enumerate(inputs):
        ids.append(m.const(arr) if k in consts else m.input(f"x{k}", arr))
    outs = m.node(op, ids, attrs)
    m.output(*outs)
    return m.g, m.feeds


rng = np.random.RandomState(7)


def randn(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


CONV_CASES = [
    dict(x=(1, 3, 9, 11), w=(4, 3, 3, 3), stride=(1, 1), pad=(1, 1), dilation=(1, 1), group=1),
    dict(x=(2, 4, 10, 7), w=(6, 2, 3, 2), stride=(2, 1), pad=(0, 1), dilation=(1, 2), group=2),
    dict(x=(1, 8, 12, 12), w=(8, 1, 5, 5), stride=(2, 2), pad=(2, 2), dilation=(1, 1), group=8),
    dict(x=(1, 6, 9, 9), w=(6, 1, 3, 3), stride=(1, 1), pad=(2, 2), dilation=(2, 2), group=6),
    dict(x=(1, 4, 6, 6), w=(8, 1, 3, 3), stride=(1, 1), pad=(1, 1), dilation=(1, 1), group=4),
    dict(x=(1, 16, 5, 5), w=(13, 16, 1, 1), stride=(1, 1), pad=(0, 0), dilation=(1, 1), group=1),
    dict(x=(1, 7, 20, 3), w=(9, 7, 7, 1), stride=(3, 1), pad=(3, 0), dilation=(1, 1), group=1),
]


@pytest.mark.parametrize("case", range(len(CONV_CASES)))
@pytest.mark.parametrize("extras", ["none", "bias", "bias+z", "odd_bias"])
@pytest.mark.parametrize("act", ["IDENTITY", "RELU", "SIGMOID", "H_SWISH"])
def test_conv(case, extras, act):
    c = CONV_CASES[case]
    attrs = dict(stride=c["stride"], pad=c["pad"], dilation=c["dilation"], group=c["group"],
                 flip=case % 2 == 1, nonlinearity=act)
    x, w = randn(*c["x"]), randn(*c["w"])
    out = O.infer("Conv", [(x.shape, x.dtype), (w.shape, w.dtype)], attrs)[0][0]
    ins = [x, w]
    if extras in ("bias", "bias+z"):
        ins.append(randn(1, out[1], 1, 1))
    if extras == "odd_bias":
        ins.append(randn(1, 1, out[2], 1))
    if extras == "bias+z":
        ins.append(randn(*out))
    assert_matches(*one_node("Conv", ins, attrs, consts={1, 2}), threads=1 + case % 2)


def test_conv_weights_not_constant():
    attrs = dict(stride=(1, 1), pad=(1, 1), dilation=(1, 1), group=2, flip=True, nonlinearity="RELU")
    assert_matches(*one_node("Conv", [randn(1, 4, 7, 7), randn(6, 2, 3, 3)], attrs))


@pytest.mark.parametrize("group,flip,stride,dil", [(1, False, (2, 2), (1, 1)), (2, True, (1, 2), (2, 1)),
                                                   (4, False, (3, 3), (1, 1))])
def test_deconv(group, flip, stride, dil):
    attrs = dict(stride=stride, pad=(1, 0), dilation=dil, group=group, flip=flip)
    assert_matches(*one_node("Deconv", [randn(2, 4, 5, 6), randn(4, 3, 3, 4)], attrs, consts={1}))


UNARY_DOMAIN = {"ACOS": (-0.99, 0.99), "ASIN": (-0.99, 0.99), "ATANH": (-0.99, 0.99), "ERFINV": (-0.99, 0.99),
                "ERFCINV": (0.01, 1.99), "ACOSH": (1.01, 5), "LOG": (0.01, 5), "LOG1P": (-0.99, 5),
                "SQRT": (0, 5), "TAN": (-1.4, 1.4), "EXP": (-5, 5), "EXPM1": (-5, 5), "SINH": (-5, 5),
                "COSH": (-5, 5)}


@pytest.mark.parametrize("mode", sorted(m for m, a in O.ELEMWISE_ARITY.items() if a == 1 and m not in O.BOOL_INPUT_MODES))
def test_elemwise_unary(mode):
    lo, hi = UNARY_DOMAIN.get(mode, (-4, 4))
    x = rng.uniform(lo, hi, (3, 5, 67)).astype(np.float32)
    if mode in ("ISNAN", "ISINF"):
        x[0, 0, :3] = [np.nan, np.inf, -np.inf]
    if mode in ("ROUND", "FLOOR", "CEIL", "SIGN"):
        x[0, 0, :4] = [0.5, -0.5, 2.5, 0.0]
    assert_matches(*one_node("Elemwise", [x], {"mode": mode}))


BINARY_SHAPES = [((4, 5, 6), (4, 5, 6)), ((4, 5, 6), (1, 5, 1)), ((6,), (4, 5, 6)), ((4, 1, 6), (1, 5, 1)),
                 ((1,), (3, 2))]


@pytest.mark.parametrize("mode", sorted(m for m, a in O.ELEMWISE_ARITY.items()
                                        if a == 2 and m not in O.BOOL_INPUT_MODES | O.INT_ONLY_MODES))
@pytest.mark.parametrize("shapes", range(len(BINARY_SHAPES)))
def test_elemwise_binary_f32(mode, shapes):
    sa, sb = BINARY_SHAPES[shapes]
    a, b = randn(*sa), randn(*sb)
    if mode in ("POW",):
        a = np.abs(a) + 0.1
    if mode in ("TRUE_DIV", "FLOOR_DIV", "MOD"):
        b = np.where(np.abs(b) < 0.1, 0.5, b).astype(np.float32)
    if mode in ("EQ", "NEQ", "LEQ"):
        b = np.broadcast_to(a.ravel()[0], sb).copy() if a.size == 1 else b
    assert_matches(*one_node("Elemwise", [a, b], {"mode": mode}))


@pytest.mark.parametrize("mode", ["ADD", "SUB", "MUL", "MAX", "MIN", "MOD", "FLOOR_DIV", "TRUE_DIV", "SHL", "SHR",
                                  "LT", "EQ", "ABS", "NEGATE", "RELU", "SQUARE", "SIGN", "FUSE_MUL_ADD3", "CLIP",
                                  "POW", "EXP"])
def test_elemwise_int32(mode):
    arity = O.ELEMWISE_ARITY[mode]
    ins = [rng.randint(-20, 20, (3, 7)).astype(np.int32) for _ in range(arity)]
    if mode in ("MOD", "FLOOR_DIV", "TRUE_DIV"):
        ins[1] = np.where(ins[1] == 0, 3, ins[1]).astype(np.int32)
    if mode in ("SHL", "SHR", "POW"):
        ins[1] = rng.randint(0, 5, (3, 7)).astype(np.int32)
    if mode == "EXP":
        ins[0] = rng.randint(-3, 4, (3, 7)).astype(np.int32)
    assert_matches(*one_node("Elemwise", ins, {"mode": mode}))


@pytest.mark.parametrize("mode", ["NOT", "AND", "OR", "XOR", "EQ"])
def test_elemwise_bool(mode):
    ins = [rng.rand(4, 9) > 0.5 for _ in range(O.ELEMWISE_ARITY[mode])]
    assert_matches(*one_node("Elemwise", ins, {"mode": mode}))


@pytest.mark.parametrize("mode", ["FUSE_MUL_ADD3", "COND_LEQ_MOV", "COND_LT_MOV", "CLIP", "FUSE_MUL_ADD4"])
def test_elemwise_ternary_quaternary(mode):
    shapes = [(2, 3, 4), (1, 3, 1), (4,), (2, 1, 4)][: O.ELEMWISE_ARITY[mode]]
    ins = [randn(*s) for s in shapes]
    if mode == "CLIP":
        ins = [randn(2, 3, 4), np.full((1,), -0.5, np.float32), np.full((1, 1, 4), 0.7, np.float32)]
    assert_matches(*one_node("Elemwise", ins, {"mode": mode}))


def test_elemwise_float16_and_large_parallel():
    assert_matches(*one_node("Elemwise", [randn(3, 4).astype(np.float16), randn(3, 4).astype(np.float16)],
                             {"mode": "ADD"}))
    assert_matches(*one_node("Elemwise", [randn(2, 64, 33, 35), randn(1, 64, 1, 1)], {"mode": "FUSE_ADD_RELU"}),
                   threads=2)


@pytest.mark.parametrize("exp", [2.0, 3.0, 0.5, -1.0, 1.7, 0.0])
def test_powc(exp):
    assert_matches(*one_node("PowC", [np.abs(randn(5, 7)) + 0.1], {"exp": exp}))


@pytest.mark.parametrize("src,dst", [("float32", "float16"), ("float16", "float32"), ("float32", "int32"),
                                     ("int32", "float32"), ("float32", "uint8"), ("float32", "bool"),
                                     ("bool", "float32"), ("int32", "int8"), ("float32", "int16"),
                                     ("uint8", "int32")])
def test_typecvt(src, dst):
    x = (rng.uniform(0, 100, (4, 33)) * (1 if src in ("uint8",) or dst == "uint8" else rng.choice([-1, 1], (4, 33))))
    if src == "bool":
        x = rng.rand(4, 33) > 0.5
    assert_matches(*one_node("TypeCvt", [x.astype(src)], {"dtype": dst}))


@pytest.mark.parametrize("mode", O.REDUCE_MODES)
@pytest.mark.parametrize("axes", [(0,), (1,), (3,), (2, 3), (0, 2), (0, 1, 2, 3)])
def test_reduce(mode, axes):
    x = rng.uniform(0.5, 1.5, (2, 3, 4, 5)).astype(np.float32)
    assert_matches(*one_node("Reduce", [x], {"mode": mode, "axes": axes}))


def test_reduce_int32():
    assert_matches(*one_node("Reduce", [rng.randint(-9, 9, (3, 4)).astype(np.int32)], {"mode": "SUM", "axes": (1,)}))


def test_shape_ops():
    x = randn(2, 3, 4, 5)
    assert_matches(*one_node("Transpose", [x], {"perm": (2, 0, 3, 1)}))
    assert_matches(*one_node("Transpose", [rng.randint(0, 9, (3, 4, 5)).astype(np.int8)], {"perm": (0, 2, 1)}))
    assert_matches(*one_node("Broadcast", [randn(3, 1, 5)], {"shape": (2, 3, 4, 5)}))
    assert_matches(*one_node("Reshape", [x], {"shape": (6, 20)}))
    assert_matches(*one_node("Concat", [randn(2, 3, 4), randn(2, 1, 4), randn(2, 5, 4)], {"axis": 1}))
    assert_matches(*one_node("Concat", [rng.randint(0, 9, (2, 3)).astype(np.int32)] * 2, {"axis": 0}))
    assert_matches(*one_node("Slice", [x], {"starts": (1, 2, 3, 0), "stops": (2, -1, 0, 5), "steps": (1, -1, -2, 2)}))
    assert_matches(*one_node("Slice", [x], {"starts": (0, 0, 1, 4), "stops": (2, 3, 4, -1), "steps": (1, 2, 1, -3)}))


@pytest.mark.parametrize("mode", O.PADDING_MODES)
def test_padding(mode):
    x = randn(2, 3, 4)
    assert_matches(*one_node("Padding", [x], {"front": (0, 2, 3), "back": (1, 0, 3), "mode": mode, "value": 1.5}))
    xi = rng.randint(0, 9, (1, 5)).astype(np.int32)
    assert_matches(*one_node("Padding", [xi], {"front": (0, 7), "back": (0, 6), "mode": mode, "value": 2.0}))


@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("const_b", [False, True])
def test_matmul(ta, tb, const_b):
    m, k, n = 13, 37, 19
    a = randn(k, m) if ta else randn(m, k)
    b = randn(n, k) if tb else randn(k, n)
    assert_matches(*one_node("MatMul", [a, b], {"transA": ta, "transB": tb}, consts={1} if const_b else ()),
                   threads=2 if const_b else 1)
    a3 = randn(2, 3, k, m) if ta else randn(2, 3, m, k)
    b3 = randn(2, 3, n, k) if tb else randn(2, 3, k, n)
    assert_matches(*one_node("BatchedMatMul", [a3, b3], {"transA": ta, "transB": tb}, consts={1} if const_b else ()))


@pytest.mark.parametrize("mode", O.POOLING_MODES)
@pytest.mark.parametrize("window,stride,pad", [((3, 3), (2, 2), (1, 1)), ((2, 3), (1, 2), (0, 1)), ((5, 5), (5, 5), (0, 0))])
def test_pooling(mode, window, stride, pad):
    assert_matches(*one_node("Pooling", [randn(2, 3, 11, 10)], {"mode": mode, "window": window, "stride": stride, "pad": pad}))


@pytest.mark.parametrize("mode", O.RESIZE_MODES)
@pytest.mark.parametrize("size", [(16, 20), (5, 3), (7, 7)])
def test_resize(mode, size):
    assert_matches(*one_node("Resize", [randn(1, 2, 7, 9)], {"mode": mode, "size": size}))


def test_normalization_and_softmax():
    x = randn(2, 5, 12)
    assert_matches(*one_node("LayerNorm", [x, randn(5, 12), randn(5, 12)], {"eps": 1e-5, "normalized_dim": 2, "affine": True}))
    assert_matches(*one_node("LayerNorm", [x], {"eps": 1e-3, "normalized_dim": 1, "affine": False}))
    assert_matches(*one_node("LayerNorm", [x], {"eps": 1e-3, "normalized_dim": 3, "affine": False}))
    for axis in range(3):
        assert_matches(*one_node("Softmax", [x * 4], {"axis": axis}))
    c = (1, 5, 1, 1)
    assert_matches(*one_node("BatchNorm", [randn(2, 5, 3, 4), randn(*c), randn(*c), randn(*c), np.abs(randn(*c)) + 0.1],
                             {"eps": 1e-5}, consts={1, 2, 3, 4}))


def test_arg_sort_topk():
    x = rng.randint(0, 6, (4, 9)).astype(np.float32)  # ties exercise stability
    for axis in (0, 1):
        assert_matches(*one_node("Argmax", [x], {"axis": axis}))
        assert_matches(*one_node("Argmin", [x], {"axis": axis}))
    for order in ("ASCENDING", "DESCENDING"):
        assert_matches(*one_node("Argsort", [x], {"order": order}))
    for k in (1, 3, -2, 9, -9):
        for mode in O.TOPK_MODES if hasattr(O, "TOPK_MODES") else ("KTH_ONLY", "VALUE_IDX_NOSORT", "VALUE_IDX_SORTED"):
            assert_matches(*one_node("TopK", [x], {"k": k, "mode": mode}))


def test_indexing_and_cumsum():
    x = randn(3, 5, 4)
    idx = rng.randint(0, 5, (3, 4)).astype(np.int32)
    assert_matches(*one_node("IndexingOneHot", [x, idx], {"axis": 1}))
    assert_matches(*one_node("IndexingSetOneHot", [x, idx, randn(3, 1, 4)], {"axis": 1}))
    for excl in (False, True):
        for rev in (False, True):
            assert_matches(*one_node("Cumsum", [x], {"axis": 1, "exclusive": excl, "reverse": rev}))


def test_indexing_out_of_range_is_an_error():
    graph, feeds = one_node("IndexingOneHot", [randn(2, 3), np.array([0, 1], np.int32)], {"axis": 1})
    feeds["x1"] = np.array([0, 7], np.int32)
    with pytest.raises(RuntimeFailure, match="out of range"):
        run_native(graph, feeds)


@pytest.mark.parametrize("imode", ["LINEAR", "NEAREST"])
@pytest.mark.parametrize("bmode", ["REPLICATE", "REFLECT", "REFLECT_101", "WRAP", "CONSTANT"])
def test_warp_perspective(imode, bmode):
    mat = np.array([[[0.9, 0.2, -3.0], [-0.1, 1.1, 2.0], [0.001, 0.002, 1.0]],
                    [[1.3, 0.0, 4.0], [0.0, 0.7, -5.0], [0.0, 0.0, 1.0]]], np.float32)
    assert_matches(*one_node("WarpPerspective", [randn(2, 3, 10, 12), mat],
                             {"size": (9, 13), "imode": imode, "bmode": bmode, "border_val": 0.25}))


def test_linspace():
    for endpoint in (True, False):
        assert_matches(*one_node("Linspace", [np.array([-2.0], np.float32), np.array([3.0], np.float32)],
                                 {"num": 11, "endpoint": endpoint}, consts={0, 1}))


# ---- memory plan -------------------------------------------------------------------------------


def test_reshape_alias_and_inplace_reuse_memory():
    m = GraphMaker(1)
    x = m.randn("x", 1, 8, 16, 16)
    a = m.n1("Elemwise", [x, m.const(np.float32([2.0]))], {"mode": "MUL"})
    b = m.n1("Elemwise", [a], {"mode": "RELU"})          # in place over a
    c = m.n1("Reshape", [b], {"shape": (8, 256)})          # alias of b
    d = m.n1("Elemwise", [c], {"mode": "SIGMOID"})         # in place over c
    m.output(m.n1("Elemwise", [d, m.const(np.float32([1.0]))], {"mode": "ADD"}))
    assert_matches(m.g, m.feeds)
    with Runtime.load(compile_graph(m.g)) as rt:
        st = rt.stats()
    assert st["arena_bytes"] == st["arena_lower_bound_bytes"] == 8 * 256 * 4  # one buffer serves a..d
    assert [a["algo"] for a in st["algorithms"]][2] == "alias"


# ---- the shared MegEngine models ---------------------------------------------------------------


def compiled_model(d: Path) -> bytes:
    from loadrun.formats import load_model
    return compile_graph(load_model(d / "model.mge"))


@pytest.mark.parametrize("model_dir", model_params())
def test_shared_model(model_dir):
    from loadrun.formats import load_model
    graph = load_model(model_dir / "model.mge")
    x = np.load(model_dir / "input.npy")
    refs = reference_outputs(model_dir)
    ref_exec = execute(graph, {graph.values[graph.inputs[0]].name: x})
    for threads in (1, 2):
        with Runtime.load(compile_graph(graph), RunOptions(threads=threads)) as rt:
            rt.set_input(0, x)
            rt.run()
            outs = rt.get_outputs()
            stats = rt.stats()
        assert len(outs) == len(refs)
        for got, ref, rex in zip(outs, refs, ref_exec):
            assert max_rel_error(got, ref) <= TOLERANCE
            assert max_rel_error(got, rex) <= TOLERANCE
        assert stats["arena_bytes"] <= 1.2 * stats["arena_lower_bound_bytes"] or stats["arena_bytes"] < 4096
        assert stats["threads"] == threads


def test_resnet18_arena_within_bound():
    d = next((p.values[0] for p in model_params() if p.values[0] is not None and p.values[0].name == "resnet18"), None)
    if d is None:
        pytest.skip("resnet18 is not among the shared models")
    with Runtime.load(compiled_model(d)) as rt:
        st = rt.stats()
    assert st["arena_lower_bound_bytes"] > 0
    assert st["arena_bytes"] <= 1.2 * st["arena_lower_bound_bytes"]


# ---- the binding's API -------------------------------------------------------------------------


def small_model():
    m = GraphMaker(3)
    x = m.randn("data", 2, 3)
    y = m.randn("bias", 1, 3)
    m.output(m.n1("Elemwise", [x, y], {"mode": "ADD"}, name="sum"),
             m.n1("Reduce", [x], {"mode": "MAX", "axes": (1,)}, name="rowmax"))
    return m.g, m.feeds


def test_api_surface(tmp_path):
    graph, feeds = small_model()
    blob = compile_graph(graph)
    path = tmp_path / "m.lrm"
    path.write_bytes(blob)
    for source in (blob, str(path), path):
        with Runtime.load(source, RunOptions(threads=2)) as rt:
            assert rt.inputs == [TensorInfo("data", (2, 3), np.dtype("float32")),
                                 TensorInfo("bias", (1, 3), np.dtype("float32"))]
            assert [o.name for o in rt.outputs] == ["sum", "rowmax"]
            rt.set_input("data", feeds["data"])
            rt.set_input(1, feeds["bias"])
            ns = rt.run()
            assert ns > 0
            np.testing.assert_allclose(rt.get_output("sum"), feeds["data"] + feeds["bias"])
            np.testing.assert_allclose(rt.get_outputs()[1], feeds["data"].max(1, keepdims=True))
            samples = rt.timed_loop(warmup=2, iters=5)
            assert samples.dtype == np.int64 and len(samples) == 5 and (samples > 0).all()
            assert len(rt.timed_loop(0, 1, min_time_s=0.01)) >= 1
            st = rt.stats()
            assert st["threads"] == 2 and st["kernels"] == 2 and st["first_run_ns"] > 0 and st["load_ns"] > 0
            assert st["version"] == native.version() and "loadrun" in st["build_id"]
            assert {a["op"] for a in st["algorithms"]} == {"Elemwise", "Reduce"}


def test_input_errors():
    graph, feeds = small_model()
    with Runtime.load(compile_graph(graph)) as rt:
        with pytest.raises(InputError, match="expected float32"):
            rt.set_input("data", feeds["data"].astype(np.float64))
        with pytest.raises(InputError, match="expected"):
            rt.set_input("data", np.zeros((3, 2), np.float32))
        with pytest.raises(InputError, match="no input named"):
            rt.set_input("nope", feeds["data"])
        with pytest.raises(InputError):
            rt.set_input(5, feeds["data"])
        rt.set_input("data", np.asfortranarray(np.ones((2, 3), np.float32)))  # copied to C order
    rt.close()
    with pytest.raises(RuntimeFailure, match="closed"):
        rt.run()


def test_load_errors(tmp_path):
    with pytest.raises(RuntimeFailure, match="cannot open"):
        Runtime.load(tmp_path / "missing.lrm")
    with pytest.raises(RuntimeFailure, match="magic|shorter"):
        Runtime.load(b"not a model at all" * 10)


# ---- the standalone runner -------------------------------------------------------------------


def test_runner_json_and_outputs(tmp_path):
    runner = native.runner_path()
    if runner is None:
        pytest.skip("loadrun-runner is not built")
    graph, feeds = small_model()
    (tmp_path / "m.lrm").write_bytes(compile_graph(graph))
    np.save(tmp_path / "data.npy", feeds["data"])
    np.save(tmp_path / "bias.npy", feeds["bias"])
    proc = subprocess.run([str(runner), str(tmp_path / "m.lrm"), str(tmp_path / "data.npy"),
                           "--input", f"bias={tmp_path / 'bias.npy'}", "--threads", "2", "--iters", "4",
                           "--output-dir", str(tmp_path / "out")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["schema"] == "loadrun-runner/1" and len(doc["samples_ns"]) == 4 and doc["threads"] == 2
    assert [o["shape"] for o in doc["outputs"]] == [[2, 3], [2, 1]]
    np.testing.assert_allclose(np.load(doc["outputs"][0]["file"]), feeds["data"] + feeds["bias"])
    bad = subprocess.run([str(runner), str(tmp_path / "data.npy")], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "error" in json.loads(bad.stdout)


# ---- tiled 2-d transpose in lr_copy_nd (the source's unit dim becomes the destination's second-last) ----


@pytest.mark.parametrize("shape,perm", [((1, 128, 4, 64), (0, 2, 3, 1)), ((1, 37, 3, 19), (0, 2, 3, 1)),
                                        ((33, 17), (1, 0)), ((2, 9, 40), (0, 2, 1)), ((5, 8, 8), (2, 1, 0)),
                                        ((1, 128, 4, 64), (0, 2, 1, 3)), ((7, 3, 31), (2, 0, 1))])
@pytest.mark.parametrize("threads", [1, 2])
def test_transpose_tiled(shape, perm, threads):
    g, feeds = one_node("Transpose", [randn(*shape)], dict(perm=perm))
    got = run_native(g, feeds, threads)[0]
    assert np.array_equal(got, feeds["x0"].transpose(perm))


def test_build_id_names_the_sources():
    """The build id carries the runtime sources' content hash (CMakeLists.txt and loadrun/build.py
    compute it the same way), so caches, profiles and fit studies of other kernels are told apart."""
    from loadrun.build import source_id
    from loadrun.runtime import build_id

    assert f"src {source_id()} " in build_id()
