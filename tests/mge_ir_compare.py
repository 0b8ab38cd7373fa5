"""Structural comparison of two IR graphs (what a write -> read round trip must preserve)."""

from __future__ import annotations

from typing import Any

import numpy as np

from loadrun.ir.graph import Graph


def _norm(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return tuple(_norm(x) for x in v)
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.dtype):
        return str(v)
    if isinstance(v, type) and issubclass(v, np.generic):
        return str(np.dtype(v))
    if isinstance(v, dict):
        return {k: _norm(x) for k, x in sorted(v.items())}
    return v


def _norm_attrs(op: str, attrs: dict[str, Any]) -> dict[str, Any]:
    a = _norm(attrs)
    if op == "TypeCvt":
        a["dtype"] = str(np.dtype(a["dtype"]))
    if op == "Conv":
        a.setdefault("flip", False)
    return a


def assert_same_ir(g1: Graph, g2: Graph) -> None:
    """Same inputs, nodes (op, attrs, order), shapes, dtypes, outputs; constants bit-identical."""
    assert len(g1.inputs) == len(g2.inputs), (g1.input_names(), g2.input_names())
    vmap: dict[int, int] = {}
    for a, b in zip(g1.inputs, g2.inputs):
        va, vb = g1.values[a], g2.values[b]
        assert (va.name, va.shape, va.dtype) == (vb.name, vb.shape, vb.dtype)
        vmap[a] = b
    assert len(g1.nodes) == len(g2.nodes), f"{g1.op_counts()} != {g2.op_counts()}"
    for k, (n1, n2) in enumerate(zip(g1.nodes, g2.nodes)):
        where = f"node #{k} {n1.op} {n1.name!r}"
        assert n1.op == n2.op, f"{where}: op {n2.op}"
        assert _norm_attrs(n1.op, n1.attrs) == _norm_attrs(n2.op, n2.attrs), f"{where}: {n1.attrs} != {n2.attrs}"
        assert len(n1.inputs) == len(n2.inputs), where
        for i, (a, b) in enumerate(zip(n1.inputs, n2.inputs)):
            va, vb = g1.values[a], g2.values[b]
            assert (va.shape, va.dtype) == (vb.shape, vb.dtype), f"{where} input {i}: {va} vs {vb}"
            if va.const is not None:
                assert vb.const is not None, f"{where} input {i}: constant became a computed value"
                assert va.const.dtype == vb.const.dtype and va.const.shape == vb.const.shape
                assert va.const.tobytes() == vb.const.tobytes(), f"{where} input {i}: constant bytes differ"
            else:
                assert vmap.get(a) == b, f"{where} input {i}: wired to a different value"
        assert len(n1.outputs) == len(n2.outputs), where
        for a, b in zip(n1.outputs, n2.outputs):
            va, vb = g1.values[a], g2.values[b]
            assert (va.shape, va.dtype) == (vb.shape, vb.dtype), f"{where}: output {va} vs {vb}"
            vmap[a] = b
    assert [vmap.get(o) for o in g1.outputs] == list(g2.outputs)
    assert g1.output_names() == g2.output_names()


def max_err_ok(got: np.ndarray, ref: np.ndarray, rel: float = 1e-4) -> tuple[bool, float]:
    """The project's tolerance: max |got - ref| <= rel * max(1, max |ref|); NaNs must match."""
    got = np.asarray(got)
    ref = np.asarray(ref)
    if got.shape != ref.shape:
        return False, float("inf")
    g = got.astype(np.float64)
    r = ref.astype(np.float64)
    nan_g, nan_r = np.isnan(g), np.isnan(r)
    if not np.array_equal(nan_g, nan_r):
        return False, float("nan")
    inf = np.isinf(r)
    if not np.array_equal(g[inf], r[inf]):
        return False, float("inf")
    fin = ~(nan_r | inf)
    if not fin.any():
        return True, 0.0
    err = float(np.max(np.abs(g[fin] - r[fin])))
    return err <= rel * max(1.0, float(np.max(np.abs(r[fin])))), err
