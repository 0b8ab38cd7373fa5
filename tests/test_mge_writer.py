"""The .mge writer: read -> write -> read rebuilds the same IR, for real models and for hand-built
graphs covering every IR operator; written files are valid mgv2 containers.

With ``LOADRUN_MGE_PYTHON`` naming MegEngine 1.13's Python (``../shared/peers/setup.sh`` makes one),
written files are also run by MegEngine Lite and compared with the reference executor.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ir_graph_zoo import MEGENGINE_CANNOT_RUN, NOT_IDENTICAL, ZOO
from mge_ir_compare import assert_same_ir, max_err_ok

from loadrun.formats import load_model, mge
from loadrun.formats import mge_schema as S
from loadrun.formats.flatbuf import root_table
from loadrun.formats.mge_to_ir import to_ir
from loadrun.formats.mge_writer import MgeWriteError, save_mge, write_mge
from loadrun.ir.reference import execute

SHARED_MODELS = Path(__file__).resolve().parents[1].parent / "shared" / "models"
MGE_PYTHON = os.environ.get("LOADRUN_MGE_PYTHON")
MGE_RUN = Path(__file__).resolve().parent / "data" / "mge" / "mge_run.py"

SHARED_DIRS = sorted(p.parent for p in SHARED_MODELS.glob("**/model.mge")) if SHARED_MODELS.is_dir() else []
needs_shared = pytest.mark.skipif(not SHARED_MODELS.is_dir(), reason=f"shared models not found at {SHARED_MODELS}")
needs_megengine = pytest.mark.skipif(not MGE_PYTHON, reason="set LOADRUN_MGE_PYTHON to MegEngine 1.13's python to run written files")


def reread(data: bytes, name: str = "<written>"):
    return to_ir(mge.parse_bytes(data, name))


def shared_id(p: Path) -> str:
    return p.relative_to(SHARED_MODELS).as_posix()


def shared_feeds(d: Path, g) -> dict[str, np.ndarray]:
    v = g.values[g.inputs[0]]
    return {v.name: np.load(d / "input.npy").astype(v.dtype)}


@needs_shared
@pytest.mark.parametrize("model_dir", SHARED_DIRS, ids=shared_id)
def test_shared_model_round_trip(model_dir):
    g = load_model(model_dir / "model.mge")
    data = write_mge(g)
    g2 = reread(data)
    assert_same_ir(g, g2)
    assert write_mge(g2) == data  # a fixed point: writing is deterministic
    if model_dir.parent.name == "ops":
        feeds = shared_feeds(model_dir, g)
        for a, b in zip(execute(g, feeds), execute(g2, feeds)):
            assert a.tobytes() == b.tobytes()


DUMPED = sorted(p for p in (Path(__file__).resolve().parent / "data" / "mge").glob("*.mge") if p.stem != "aes_default")


def dumped_feeds(path: Path) -> dict[str, np.ndarray]:
    z = np.load(path.with_suffix(".npz"))
    return {k[4:]: z[k] for k in z.files if k.startswith("in__")}


@pytest.mark.parametrize("path", DUMPED, ids=lambda p: p.stem)
def test_megengine_dumped_model_round_trip(path):
    g = load_model(path)
    g2 = reread(write_mge(g))
    assert_same_ir(g, g2)
    feeds = dumped_feeds(path)
    for a, b in zip(execute(g, feeds), execute(g2, feeds)):
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_round_trip(name):
    g, feeds = ZOO[name]()
    data = write_mge(g)
    g2 = reread(data)
    if name not in NOT_IDENTICAL:
        assert_same_ir(g, g2)
    assert g2.output_names() == g.output_names()
    for ref, got in zip(execute(g, feeds), execute(g2, feeds)):
        ok, err = max_err_ok(got, ref, 1e-6)
        assert ok and got.dtype == ref.dtype, err


def test_zoo_covers_every_ir_operator():
    from loadrun.ir.ops import ELEMWISE_ARITY, MODEL_OPS
    used_ops, used_modes = set(), set()
    for make in ZOO.values():
        g, _ = make()
        for n in g.nodes:
            used_ops.add(n.op)
            if n.op == "Elemwise":
                used_modes.add(n.attrs["mode"])
    model_ops = set(MODEL_OPS)  # the rest (fused, blocked, relayout) are made by compile passes only
    assert model_ops <= used_ops, model_ops - used_ops
    assert set(ELEMWISE_ARITY) <= used_modes, set(ELEMWISE_ARITY) - used_modes


def test_container_layout():
    g, _ = ZOO["linear_algebra"]()
    data = write_mge(g)
    (size,) = struct.unpack_from("<I", data, 0)
    assert size + 4 == len(data)
    assert data[8:12] == b"mgv2"
    raw = mge.parse_bytes(data)
    assert (raw.container, raw.mge_version, raw.model_version) == ("v2", 101300, 2)
    assert raw.metadata["is_valid"] is True
    n_vars = sum(len(op.outputs) for op in raw.oprs)
    # Every var has a name and a shape (MegEngine's loader reads the name of every output).
    assert sorted(raw.var_names) == list(range(n_vars))
    assert all(raw.var_names.values())
    assert sorted(raw.var_shapes) == list(range(n_vars))
    for op in raw.oprs:
        opr_version, registered = S.OPERATORS[op.type]
        assert (op.registered, op.opr_version) == (registered, opr_version)
    model = root_table(memoryview(data)[4:], "Model")
    for op in model.tables(S.MODEL_OPRS):
        assert op.scalar(S.OP_TYPE_ID, "u64") == S.type_id_v2(op.string(S.OP_TYPE).decode(), op.scalar(S.OP_OPR_VERSION, "u32"))


def test_defaults_are_omitted_like_megengine():
    g, _ = ZOO["pooling_resize"]()
    data = write_mge(g)
    model = root_table(memoryview(data)[4:], "Model")
    for op in model.tables(S.MODEL_OPRS):
        kind = op.string(S.OP_TYPE)
        param = op.table(S.OP_PARAM)
        if kind == b"Host2DeviceCopy":
            assert not any(param.has(s) for s in range(3))  # all-default: an empty table
        if kind == b"ResizeV2":
            assert param.has(1) and param.scalar(1, "u32", 1) == 0  # format NCHW differs from the NHWC default


def test_large_tensor_data_is_aligned():
    g, _ = ZOO["conv_family"]()
    data = write_mge(g)
    raw = mge.parse_bytes(data)
    base = np.frombuffer(data, np.uint8).ctypes.data
    for op in raw.oprs:
        for t in op.tensors:
            if t.data is not None and len(t.data) >= 256:
                offset = np.frombuffer(t.data, np.uint8).ctypes.data - base
                assert offset % 64 == 0


def test_save_is_atomic_and_overwrites(tmp_path):
    g, _ = ZOO["reductions"]()
    path = tmp_path / "m.mge"
    path.write_bytes(b"old contents")
    save_mge(g, path)
    assert path.read_bytes() == write_mge(g)
    assert [p.name for p in tmp_path.iterdir()] == ["m.mge"]


def test_sum_sqr_to_the_same_shape_still_squares():
    # MegEngine 1.13 Lite gave x**2 for this file (ReduceV2 SUM_SQR whose target shape is the input's).
    from ir_graph_zoo import GraphMaker
    from loadrun.formats.mge_writer import _Encoder, _Lowering
    m = GraphMaker(0)
    x = m.input("x", np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]], np.float32))
    m.output(m.n1("Reduce", [x], {"mode": "SUM_SQR", "axes": (0, 1)}, name="y"))
    low = _Lowering(m.done()[0])
    low.run()
    red = next(op for op in low.ops if op.registered == "ReduceV2")
    low.ops[red.inputs[1]].tensors[0].data = np.array([2, 3], np.int32).tobytes()
    low.var_shapes[red.outputs[0]] = (2, 3)
    g = reread(_Encoder(4096).model(low, [red.outputs[0]]))
    (y,) = execute(g, m.feeds)
    assert np.array_equal(y, m.feeds["x"] ** 2)


def test_unwritable_graph_is_refused_with_a_message():
    g, _ = ZOO["reductions"]()
    g.values[g.inputs[0]].dtype = np.dtype("float64")
    with pytest.raises(MgeWriteError, match="float64"):
        write_mge(g)


# -- MegEngine 1.13 itself ---------------------------------------------------------------------------

def run_megengine(model: Path, feeds: dict[str, np.ndarray], tmp_path: Path, decrypt: str | None = None):
    fin, fout = tmp_path / "in.npz", tmp_path / "out.npz"
    np.savez(fin, **feeds)
    cmd = [MGE_PYTHON, str(MGE_RUN), str(model), str(fin), str(fout)] + (["--decrypt", decrypt] if decrypt else [])
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    out = np.load(fout)
    return {str(n): out[f"out{i}"] for i, n in enumerate(out["__names__"])}


def check_against_megengine(g, feeds, data: bytes, tmp_path: Path):
    model = tmp_path / "model.mge"
    model.write_bytes(data)
    got = run_megengine(model, feeds, tmp_path)
    for name, ref in zip(g.output_names(), execute(g, feeds)):
        ok, err = max_err_ok(got[name].reshape(ref.shape) if got[name].size == ref.size else got[name], ref)
        assert ok, f"{name}: max abs err {err}"


@needs_megengine
@pytest.mark.parametrize("name", sorted(set(ZOO) - MEGENGINE_CANNOT_RUN))
def test_megengine_runs_written_zoo(name, tmp_path):
    g, feeds = ZOO[name]()
    check_against_megengine(g, feeds, write_mge(g), tmp_path)


@needs_megengine
@pytest.mark.parametrize("path", DUMPED, ids=lambda p: p.stem)
def test_megengine_runs_rewritten_dumped_models(path, tmp_path):
    g = load_model(path)
    check_against_megengine(g, dumped_feeds(path), write_mge(g), tmp_path)


@needs_megengine
def test_megengine_runs_the_demo_model(tmp_path):
    from loadrun.demo import demo_model_bytes, demo_model_path
    g = load_model(demo_model_path())
    feeds = {"data": np.random.RandomState(0).standard_normal((1, 3, 64, 64)).astype(np.float32)}
    check_against_megengine(g, feeds, demo_model_bytes(), tmp_path)


@needs_megengine
@needs_shared
@pytest.mark.parametrize("model_dir", SHARED_DIRS, ids=shared_id)
def test_megengine_runs_rewritten_shared_models(model_dir, tmp_path):
    g = load_model(model_dir / "model.mge")
    feeds = shared_feeds(model_dir, g)
    check_against_megengine(g, feeds, write_mge(g), tmp_path)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
