"""Every runtime option changes what the native runtime does (proved through its counters), and
every combination of options still matches the numpy reference executor."""

from __future__ import annotations

import functools
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import TOLERANCE, max_rel_error
from loadrun.compile import compile_graph
from loadrun.errors import RuntimeFailure
from loadrun.formats import load_model
from loadrun.ir.reference import execute
from loadrun.runtime import AlgoCacheWarning, RunOptions, Runtime

MODELS = Path(__file__).resolve().parents[1].parent / "shared" / "models"
OPS = sorted(d.name for d in (MODELS / "ops").iterdir() if (d / "model.mge").is_file()) if (MODELS / "ops").is_dir() else []
needs_models = pytest.mark.skipif(not (MODELS / "resnet18" / "model.mge").is_file(),
                                  reason=f"the shared MegEngine models are not present at {MODELS}")


@functools.lru_cache(maxsize=None)
def prepared(rel: str):
    """(compiled bytes, feeds, float64 reference outputs) of a shared model."""
    d = MODELS / rel
    graph = load_model(d / "model.mge")
    feeds = {}
    for k, vid in enumerate(graph.inputs):
        v = graph.values[vid]
        path = d / "input.npy" if k == 0 and (d / "input.npy").is_file() else None
        arr = np.load(path) if path else np.random.RandomState(k).standard_normal(v.shape)
        feeds[v.name] = np.asarray(arr).astype(v.dtype).reshape(v.shape)
    ref = [np.asarray(r) for r in execute(graph, feeds)]
    return compile_graph(graph), feeds, ref


def run(rel: str, runs: int = 2, **opts):
    compiled, feeds, ref = prepared(rel)
    rt = Runtime.load(compiled, RunOptions(**opts))
    for name, arr in feeds.items():
        rt.set_input(name, arr)
    for _ in range(runs):
        rt.run()
    return rt, ref


def assert_matches(outs, ref, label=""):
    assert len(outs) == len(ref)
    for i, (g, r) in enumerate(zip(outs, ref)):
        if r.dtype.kind == "f":
            assert max_rel_error(g, r) <= TOLERANCE, f"{label} output {i}"
        else:
            assert np.array_equal(g, r), f"{label} output {i}"


# ---- one test per option ----------------------------------------------------------------------


@needs_models
def test_threads_split_kernels():
    with run("resnet18", threads=2)[0] as rt:
        s = rt.stats()
        assert s["threads"] == 2 and s["threads_used"] == 2
    with run("resnet18", threads=1)[0] as rt:
        assert rt.stats()["threads_used"] == 1


@needs_models
def test_inplace_off_runs_on_the_dispatcher_thread():
    with run("ops/conv", runs=3, inplace=False)[0] as rt:
        s = rt.stats()
        assert s["dispatcher_thread_ran"] and s["dispatcher_runs"] == 3 == s["runs"]
    with run("ops/conv", runs=3, inplace=True)[0] as rt:
        s = rt.stats()
        assert not s["dispatcher_thread_ran"] and s["dispatcher_runs"] == 0 and s["runs"] == 3


@needs_models
@pytest.mark.parametrize("inplace", [False, True])
def test_affinity_pins_threads(inplace):
    allowed = sorted(os.sched_getaffinity(0))
    cpu = allowed[-1]
    with run("resnet18", runs=2, threads=2, affinity=(cpu,), inplace=inplace)[0] as rt:
        assert rt.stats()["cpus_used"] == [cpu]
    if len(allowed) >= 2:
        with run("resnet18", runs=2, threads=2, affinity=tuple(allowed[:2]), inplace=inplace)[0] as rt:
            assert set(rt.stats()["cpus_used"]) <= set(allowed[:2])
    with pytest.raises(RuntimeFailure, match="not available"):
        Runtime.load(prepared("ops/conv")[0], RunOptions(affinity=(max(allowed) + 4096,)))


@needs_models
def test_record_levels():
    with run("resnet18", runs=3, record=0)[0] as rt:
        s = rt.stats()
        assert s["graph_walks_per_run"] == 1 and s["recorded_calls"] == 0
        assert s["kernels_per_run"] == s["kernels"]
    with run("resnet18", runs=1, record=1)[0] as rt:
        assert rt.stats()["graph_walks_per_run"] == 1  # the first run walks and records
        rt.run()
        s = rt.stats()
        assert s["graph_walks_per_run"] == 0 and s["recorded_calls"] == s["kernels"] == s["kernels_per_run"]
        assert s["metadata_bytes"] >= s["metadata_bytes_at_load"]
        assert rt.node_info(0)["op"]


@needs_models
def test_record_2_frees_metadata_and_refuses_what_needs_it():
    rt, ref = run("resnet18", runs=2, record=2)
    with rt:
        s = rt.stats()
        assert s["graph_walks_per_run"] == 0 and s["metadata_bytes"] < s["metadata_bytes_at_load"]
        assert s["metadata_freed_bytes"] > 0
        assert len(s["algorithms"]) == s["nodes"]  # snapshot taken at load still reported
        with pytest.raises(RuntimeFailure, match="record level 2"):
            rt.node_info(0)
        shape = rt.inputs[0].shape
        rt.reshape_input(0, shape)  # the same shape is fine
        with pytest.raises(RuntimeFailure, match="record level 2"):
            rt.reshape_input(0, (shape[0] * 2,) + shape[1:])
        assert_matches(rt.get_outputs(), ref)
    with run("ops/conv", runs=1, record=0)[0] as rt:  # without record 2 the refusal says why else
        shape = rt.inputs[0].shape
        with pytest.raises(RuntimeFailure, match="static"):
            rt.reshape_input(0, (shape[0] + 1,) + shape[1:])


@needs_models
def test_weight_preprocess():
    with run("resnet18", weight_preprocess=False)[0] as rt:
        s = rt.stats()
        assert s["weight_packs_per_run"] > 0 and s["packed_weight_bytes"] == 0
    with run("resnet18", weight_preprocess=True)[0] as rt:
        s = rt.stats()
        convs = sum(1 for a in s["algorithms"] if a["op"] == "Conv")
        assert s["packed_weight_bytes"] > 0 and s["weight_packs_per_run"] < convs


@needs_models
def test_fast_run_profile_writes_a_cache_that_the_next_load_reuses(tmp_path):
    cache = tmp_path / "algo.cache"
    with run("mobilenet_v2", runs=1, fast_run="profile", algo_cache=cache)[0] as rt:
        first = rt.stats()
    assert cache.is_file() and first["algo_cache"]["written"]
    assert first["profiled_nodes"] > 0 and first["profiling_ns"] > 0
    assert first["algo_cache"]["status"] == "absent"
    with run("mobilenet_v2", runs=1, fast_run="profile", algo_cache=cache)[0] as rt:
        second = rt.stats()
    assert second["algo_cache"]["status"] == "loaded" and second["algo_cache"]["hits"] > 0
    assert second["profiled_nodes"] == 0 and second["algo_cache"]["misses"] == 0
    assert [a["algo"] for a in second["algorithms"]] == [a["algo"] for a in first["algorithms"]]
    # heuristic mode takes the cached choices too, without profiling
    with run("mobilenet_v2", runs=1, algo_cache=cache)[0] as rt:
        third = rt.stats()
    assert third["profiled_nodes"] == 0 and third["algo_cache"]["hits"] == second["algo_cache"]["hits"]
    assert [a["algo"] for a in third["algorithms"]] == [a["algo"] for a in first["algorithms"]]


@needs_models
def test_fast_run_modes_choose_among_real_candidates():
    with run("ops/matmul", fast_run="profile-reproducible", threads=2)[0] as rt:
        s = rt.stats()
        assert all(a["algo"] != "matmul_splitk_f32" for a in s["algorithms"])
    with run("ops/conv", fast_run="profile-optimized")[0] as rt:
        assert rt.stats()["profiling_ns"] > 0
    with run("ops/conv", fast_run="heuristic")[0] as rt:
        s = rt.stats()
        assert s["profiling_ns"] == 0 and s["profiled_nodes"] == 0


@needs_models
@pytest.mark.parametrize("one_by_one", ["0", "1"])
def test_fast_run_profiles_every_candidate_interleaved_or_one_by_one(one_by_one, monkeypatch, tmp_path):
    """Candidates are timed in interleaved rounds when their weights fit in memory together, else one
    by one (forced here): either way every multi-candidate node is profiled, a cache is written and
    the outputs are MegEngine's."""
    monkeypatch.setenv("LOADRUN_PROFILE_ONE_BY_ONE", one_by_one)
    cache = tmp_path / "algo.cache"
    rt, ref = run("resnet18", fast_run="profile", threads=2, weight_preprocess=True, algo_cache=cache)
    with rt:
        s = rt.stats()
        assert s["profiled_nodes"] > 0 and s["algo_cache"]["written"]
        assert_matches(rt.get_outputs(), ref)


@needs_models
@pytest.mark.parametrize("content,status", [
    (b"loadrun-algo-cache 1\nbuild x\ncpu y\nchecksum 0000000000000000\n", "rejected-corrupt"),
    (b"garbage that is no cache at all", "rejected-corrupt"),
])
def test_corrupt_cache_is_rejected_with_a_warning(tmp_path, content, status):
    cache = tmp_path / "algo.cache"
    cache.write_bytes(content)
    with pytest.warns(AlgoCacheWarning):
        rt, ref = run("ops/conv", runs=1, fast_run="profile", algo_cache=cache)
    with rt:
        s = rt.stats()
        assert s["algo_cache"]["status"] == status and s["algo_cache"]["hits"] == 0
        assert s["algo_cache"]["message"]
        assert_matches(rt.get_outputs(), ref)
    if content.startswith(b"garbage"):
        assert cache.read_bytes() == content  # not ours: never overwritten


@needs_models
def test_foreign_cache_is_rejected_with_a_warning(tmp_path):
    cache = tmp_path / "algo.cache"
    with run("ops/conv", runs=1, fast_run="profile", algo_cache=cache)[0]:
        pass
    text = cache.read_text()
    lines = text.splitlines(keepends=True)
    lines[1] = "build loadrun 9.9.9 some other compiler\n"
    body = "".join(lines[:-1])
    import loadrun.runtime.native as native  # noqa: F401  (only to keep the import graph obvious)

    h = 1469598103934665603
    for b in body.encode():
        h = ((h ^ b) * 1099511628211) % 2**64
    cache.write_text(body + f"checksum {h:016x}\n")
    with pytest.warns(AlgoCacheWarning, match="another build"):
        rt, _ = run("ops/conv", runs=1, fast_run="profile", algo_cache=cache)
    with rt:
        s = rt.stats()
        assert s["algo_cache"]["status"] == "rejected-foreign" and s["algo_cache"]["hits"] == 0
        assert s["profiled_nodes"] > 0  # profiled again instead


# ---- every combination matches the reference --------------------------------------------------

OPTION_SETS = st.fixed_dictionaries({
    "threads": st.sampled_from([1, 2]),
    "inplace": st.booleans(),
    "record": st.sampled_from([0, 1, 2]),
    "weight_preprocess": st.booleans(),
    "fast_run": st.sampled_from(["heuristic", "profile", "profile-reproducible", "profile-optimized"]),
    "pin": st.booleans(),
})


def check_combination(rel: str, opts: dict) -> None:
    opts = dict(opts)
    if opts.pop("pin"):
        opts["affinity"] = tuple(sorted(os.sched_getaffinity(0)))[:2]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rt, ref = run(rel, runs=2, **opts)
    with rt:
        assert_matches(rt.get_outputs(), ref, f"{rel} {opts}")
        s = rt.stats()
        assert s["graph_walks_per_run"] == (0 if opts["record"] else 1)


@needs_models
@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(rel=st.sampled_from([f"ops/{o}" for o in OPS] or ["ops/conv"]), opts=OPTION_SETS)
def test_option_combinations_match_reference_ops(rel, opts):
    check_combination(rel, opts)


@needs_models
@settings(max_examples=6, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(rel=st.sampled_from(["resnet18", "mobilenet_v2"]), opts=OPTION_SETS)
def test_option_combinations_match_reference_models(rel, opts):
    check_combination(rel, opts)


@needs_models
@pytest.mark.parametrize("record", [0, 1, 2])
def test_node_timing(record):
    """Per-node wall times: every kernel node gets one in every run (walked or replayed), aliases
    read -1, and timing leaves the outputs unchanged."""
    rt, ref = run("shufflenet_v2_x1_0", runs=1, record=record)
    with rt:
        t = rt.node_times(4)
        kernel = np.array([n["algo"] != "alias" for n in rt.nodes])
        assert t.shape == (4, len(rt.nodes)) and kernel.any() and (~kernel).any()
        assert (t[:, kernel] >= 0).all() and (t[:, ~kernel] == -1).all()
        assert (t[:, kernel].sum(axis=0) > 0).any()
        assert_matches(rt.get_outputs(), ref)
        rt.run()  # timing is off again: plain runs still work
        assert_matches(rt.get_outputs(), ref)
