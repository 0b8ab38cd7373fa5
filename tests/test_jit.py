"""JIT fusion (docs/compile.md): what the passes fuse, that the fused graph computes what the unfused
one does (reference and native, jit 0/1/2), that kernels per run drop, and that the loader refuses
hostile fused programs."""

from __future__ import annotations

import struct
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from conftest import SHARED_MODELS, TOLERANCE, max_rel_error, model_params, reference_outputs
from ir_graph_zoo import GraphMaker
from loadrun.compile import compile_graph
from loadrun.compile.passes.fuse import fuse_graph
from loadrun.compile.serialize import HEADER_BYTES, NODE_BYTES, serialize
from loadrun.errors import LoadrunError
from loadrun.formats import load_model
from loadrun.ir.reference import execute
from loadrun.runtime import RunOptions, Runtime


def shared(name: str) -> Path:
    d = SHARED_MODELS / name
    if not (d / "model.mge").is_file():
        pytest.skip(f"shared model {name} is not present")
    return d


@lru_cache(maxsize=None)
def graph_of(d: Path):
    return load_model(d / "model.mge").prune()


def feeds_of(d: Path, graph) -> dict[str, np.ndarray]:
    return {graph.input_names()[0]: np.load(d / "input.npy")}


# -- what the passes fuse --------------------------------------------------------------------------

# (model, jit) -> (nodes before, nodes after, op counts that must appear)
COUNTS = {
    ("ops/elemwise", 1): (23, 1, {"FusedElemwise": 1}),
    ("ops/softmax", 1): (4, 4, {}),
    ("ops/softmax", 2): (4, 3, {"FusedSoftmax": 1, "Softmax": 1}),
    ("mobilenet_v2", 1): (136, 101, {"FusedElemwise": 35, "Elemwise": 11}),
    ("mobilenet_v2", 2): (136, 100, {"FusedElemwise": 34, "FusedMean": 1}),
    ("tiny_bert", 1): (90, 82, {"FusedElemwise": 6}),
    ("tiny_bert", 2): (90, 76, {"FusedLayerNorm": 4, "FusedSoftmax": 2, "FusedElemwise": 2}),
}


@pytest.mark.parametrize("name,jit", sorted(COUNTS), ids=[f"{n}-jit{j}" for n, j in sorted(COUNTS)])
def test_fusion_counts(name, jit):
    g = graph_of(shared(name))
    before, after, ops = COUNTS[(name, jit)]
    f = fuse_graph(g, jit)
    assert len(g.nodes) == before
    assert len(f.nodes) == after
    counts = f.op_counts()
    for op, n in ops.items():
        assert counts.get(op, 0) == n, counts


def test_jit0_is_unchanged():
    g = graph_of(shared("ops/elemwise"))
    assert fuse_graph(g, 0) is g
    assert compile_graph(g) == compile_graph(g, jit=0)


@pytest.mark.parametrize("name", ["ops/elemwise", "ops/softmax", "ops/typecvt", "ops/broadcast", "tiny_bert",
                                  "mobilenet_v2"])
def test_fused_reference_equals_unfused(name):
    d = shared(name)
    g = graph_of(d)
    feeds = feeds_of(d, g)
    ref = execute(g, feeds)
    for jit in (1, 2):
        got = execute(fuse_graph(g, jit), feeds)
        for a, b in zip(got, ref):
            assert max_rel_error(a, b) <= TOLERANCE


def test_fusion_keeps_dags_convex_and_shared_values():
    """A diamond whose middle value is also a graph output: one fused node, two outputs, no cycle."""
    m = GraphMaker(seed=3)
    x = m.input("x", np.random.RandomState(0).standard_normal((2, 3, 4, 5)).astype(np.float32))
    b = m.const(np.random.RandomState(1).standard_normal((1, 3, 1, 1)).astype(np.float32))
    (a,) = m.node("Elemwise", [x, b], {"mode": "ADD"})
    (s,) = m.node("Elemwise", [a], {"mode": "SIGMOID"})
    (t,) = m.node("Elemwise", [a], {"mode": "TANH"})
    (r,) = m.node("Reshape", [s], {"shape": (6, 20)})
    (r2,) = m.node("Reshape", [t], {"shape": (6, 20)})
    (y,) = m.node("Elemwise", [r, r2], {"mode": "MUL"})
    (z,) = m.node("PowC", [y], {"exp": 2.0})
    m.output(a, z)
    f = fuse_graph(m.g, 1)
    assert [n.op for n in f.nodes] == ["FusedElemwise"]
    assert len(f.nodes[0].outputs) == 2
    for got, ref in zip(execute(f, m.feeds), execute(m.g, m.feeds)):
        assert np.array_equal(got, ref)


# -- native ----------------------------------------------------------------------------------------


def run_native(graph, feeds, jit, threads=1):
    with Runtime.load(compile_graph(graph, jit=jit), RunOptions(threads=threads)) as rt:
        for info in rt.inputs:
            rt.set_input(info.name, feeds[info.name])
        rt.run()
        return rt.get_outputs(), rt.stats()


@pytest.mark.parametrize("model_dir", model_params())
@pytest.mark.parametrize("jit", [0, 1, 2])
def test_native_jit_matches_reference(model_dir, jit):
    g = graph_of(model_dir)
    outs, _ = run_native(g, feeds_of(model_dir, g), jit, threads=2)
    refs = reference_outputs(model_dir)
    assert len(outs) == len(refs)
    for got, ref in zip(outs, refs):
        assert max_rel_error(got, ref) <= TOLERANCE


@pytest.mark.parametrize("name,jit,kernels", [("ops/elemwise", 1, 1), ("ops/softmax", 2, 3)])
def test_kernels_per_run_drop(name, jit, kernels):
    d = shared(name)
    g = graph_of(d)
    _, base = run_native(g, feeds_of(d, g), 0)
    _, fused = run_native(g, feeds_of(d, g), jit)
    assert fused["kernels"] == kernels < base["kernels"]


def test_kernels_drop_on_mobilenet_and_tiny_bert():
    for name in ("mobilenet_v2", "tiny_bert"):
        d = shared(name)
        g = graph_of(d)
        k = [run_native(g, feeds_of(d, g), jit)[1]["kernels"] for jit in (0, 1, 2)]
        if name == "mobilenet_v2":  # the always-on Conv epilogue pass already folded its relu6 pairs and adds
            assert k == [55, 55, 55], (name, k)
        else:
            assert k[0] > k[1] > k[2], (name, k)


# -- hostile programs ------------------------------------------------------------------------------


def _fused_elemwise_bytes() -> bytes:
    m = GraphMaker(seed=5)
    x = m.input("x", np.random.RandomState(0).standard_normal((1, 4, 3, 3)).astype(np.float32))
    b = m.const(np.arange(4, dtype=np.float32).reshape(1, 4, 1, 1))
    (a,) = m.node("Elemwise", [x, b], {"mode": "ADD"})
    (y,) = m.node("PowC", [a], {"exp": 3.0})
    m.output(y)
    f = fuse_graph(m.g, 1)
    assert [n.op for n in f.nodes] == ["FusedElemwise"]
    return serialize(f), m.feeds


def _ints_section(blob: bytes) -> tuple[int, int]:
    n_ints = struct.unpack_from("<I", blob, 44)[0]
    ints_off = struct.unpack_from("<Q", blob, 96)[0]
    return ints_off, n_ints


def test_fused_program_roundtrip_native():
    blob, feeds = _fused_elemwise_bytes()
    with Runtime.load(blob, RunOptions(threads=1)) as rt:
        rt.set_input("x", feeds["x"])
        rt.run()
        got = rt.get_outputs()[0]
    ref = (feeds["x"].astype(np.float64) + np.arange(4).reshape(1, 4, 1, 1)) ** 3
    assert max_rel_error(got, ref) <= TOLERANCE


# Program ints: [L, K, R, O] + L views x 18 (input, ndim, dims[8], strides[8]) + K x 7 + O.
# This program: 2 views (x flat, b broadcast (4, 9) strides (1, 0)), ADD, POWC, 1 output.
def _hostile_cases():
    v0, v1 = 4, 4 + 18
    i0 = 4 + 2 * 18
    i1 = i0 + 7
    out = i1 + 7
    return {
        "views-zero": (0, 0), "too-many-regs": (2, 99), "outputs-mismatch": (3, 2),
        "view-input-out-of-range": (v0, 7), "view-rank-zero": (v0 + 1, 0), "view-dim-huge": (v1 + 2, 1 << 40),
        "view-stride-reads-outside": (v1 + 2 + 8, 5), "view-negative-stride": (v1 + 2 + 8, -1),
        "view-unused-dim-nonzero": (v1 + 2 + 7, 3), "kind-unknown": (i0, 9), "mode-unknown": (i0 + 1, 1000),
        "mode-bool-result": (i0 + 1, 29), "mode-grad": (i0 + 1, 15), "dst-is-view": (i0 + 2, 1),
        "dst-out-of-range": (i0 + 2, 32), "src-undefined": (i0 + 3, 3), "src-negative": (i0 + 3, -5),
        "unused-src-set": (i0 + 5, 0), "powc-float-index": (i1 + 1, 4), "output-undefined-reg": (out, 0),
    }


@pytest.mark.parametrize("case", sorted(_hostile_cases()))
def test_loader_rejects_hostile_program(case):
    blob, _ = _fused_elemwise_bytes()
    off, n_ints = _ints_section(blob)
    k, value = _hostile_cases()[case]
    assert k < n_ints
    bad = bytearray(blob)
    struct.pack_into("<q", bad, off + 8 * k, value)
    with pytest.raises(LoadrunError):
        Runtime.load(bytes(bad), RunOptions(threads=1)).close()


def test_loader_rejects_fused_node_with_wrong_attribute_count():
    blob, _ = _fused_elemwise_bytes()
    nodes_off = struct.unpack_from("<Q", blob, 72)[0]
    bad = bytearray(blob)
    n_ints = struct.unpack_from("<I", bad, nodes_off + 28)[0]
    struct.pack_into("<I", bad, nodes_off + 28, n_ints - 1)
    with pytest.raises(LoadrunError):
        Runtime.load(bytes(bad), RunOptions(threads=1)).close()
    assert NODE_BYTES == 48 and HEADER_BYTES == 128
