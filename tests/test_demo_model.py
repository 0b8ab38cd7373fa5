"""The embedded demo model: rebuilt byte-identically by loadrun's writer, small, and runnable."""

from __future__ import annotations

import numpy as np

from loadrun.demo import demo_model_bytes, demo_model_path
from loadrun.demo.build import CLASSES, INPUT_SHAPE, build_bytes
from loadrun.formats import describe, load_model
from loadrun.ir.reference import execute


def test_committed_file_is_what_build_py_writes():
    assert demo_model_path().is_file()
    assert build_bytes() == demo_model_bytes(), "run: python -m loadrun.demo.build"


def test_demo_model_is_a_small_real_cnn():
    assert len(demo_model_bytes()) < 200 * 1024
    info = describe(demo_model_path())
    assert info["container"] == "v2" and info["mge_version"] == "1.13.0"
    assert info["inputs"] == [{"name": "data", "shape": list(INPUT_SHAPE), "dtype": "float32"}]
    assert info["outputs"] == [{"name": "prob", "shape": [1, CLASSES], "dtype": "float32"}]
    ops = info["ir_operators"]
    assert ops["Conv"] >= 5 and {"Pooling", "Reduce", "MatMul", "Softmax", "Elemwise"} <= set(ops)
    g = load_model(demo_model_path())
    assert any(n.op == "Conv" and n.attrs["group"] > 1 for n in g.nodes)  # a depthwise conv


def test_demo_model_runs_to_a_distribution():
    g = load_model(demo_model_path())
    x = np.random.RandomState(0).standard_normal(INPUT_SHAPE).astype(np.float32)
    (prob,) = execute(g, {"data": x})
    assert prob.shape == (1, CLASSES) and np.all(prob > 0)
    assert abs(float(prob.sum()) - 1.0) < 1e-5
    assert float(prob.max()) < 0.99  # not saturated: the weights are sanely scaled
