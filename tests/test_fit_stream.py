"""--fit, one process per trial: the streaming runner (``--stream-chunks``), pruning that kills a
trial early, shared algorithm caches, early-stopping confirmation, equivalent configurations
measured once, and ``--profile`` applying compile options.

Real-runner tests use the tiny embedded demo model; a fake runner (a Python script that speaks
the streaming protocol and would run for a minute) proves a pruned trial is terminated. No
timing is asserted."""

from __future__ import annotations

import os
import stat
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from loadrun.compile import compile_graph
from loadrun.demo import demo_model_path
from loadrun.feeds import InputSpec, build_feeds
from loadrun.fit import FitSettings, fit_model
from loadrun.fit import space as space_mod
from loadrun.fit.confirm import Finalist, interleave
from loadrun.fit.evaluate import MeasurePlan, measure
from loadrun.fit.objective import Objective
from loadrun.fit.pruning import IncumbentPruner
from loadrun.fit.space import build_space
from loadrun.formats import load_model
from loadrun.options import AVAILABLE, Options
from loadrun.profile import atomic_write_json, file_sha256, local_fingerprint, make_profile
from loadrun.targets.base import TrialResult

from test_fit import FakeTarget  # the fake target of the fit tests (no processes)


def _demo():
    graph = load_model(demo_model_path())
    specs = [InputSpec(graph.values[i].name, graph.values[i].shape, graph.values[i].dtype) for i in graph.inputs]
    feeds = {f.spec.name: f.array for f in build_feeds(specs, (), 0)}
    return graph, feeds


def _local():
    from loadrun.targets.local import LocalTarget
    from loadrun.targets.base import TargetUnavailable

    try:
        return LocalTarget()
    except TargetUnavailable as e:
        pytest.skip(str(e))


# -- the streaming runner --------------------------------------------------------------------------


def test_real_runner_streams_chunks_and_is_stopped_early():
    graph, feeds = _demo()
    target = _local()
    if not target.can_stream:
        pytest.skip("this loadrun-runner predates --stream-chunks")
    compiled = compile_graph(graph)
    try:
        full = target.stream_trial(compiled, feeds, Options(), warmup=0, iters=2, min_time_s=0.0, chunks=3,
                                   want_outputs=True)
        assert full.chunks == 3 and not full.stopped and len(full.samples_ns) == 6
        assert full.load_ns > 0 and full.first_run_ns > 0 and full.peak_rss_bytes
        assert full.outputs is not None and full.outputs[0].shape == (1, 10)
        seen = []

        def stop_at_second(step, samples, ready):
            seen.append((step, len(samples), ready.load_ns))
            return step == 1

        r = target.stream_trial(compiled, feeds, Options(), warmup=0, iters=2, min_time_s=0.0, chunks=100000,
                                want_outputs=True, on_chunk=stop_at_second)
        assert r.stopped and r.chunks == 2 and r.outputs is None and len(r.samples_ns) == 4
        assert [s[:2] for s in seen] == [(0, 2), (1, 4)] and all(s[2] > 0 for s in seen)
        assert r.peak_rss_bytes and r.load_ns > 0  # measured once, from the one process
    finally:
        target.close()


FAKE_RUNNER = textwrap.dedent('''\
    #!{python}
    import json, os, sys, time
    if "--help" in sys.argv:
        sys.stderr.write("usage: fake MODEL [--threads N] [--warmup N] [--iters N] [--min-time SECONDS] "
                         "[--output-dir DIR] [--stream-chunks N]\\n")
        sys.exit(0)
    open(os.environ["FAKE_RUNNER_PID"], "w").write(str(os.getpid()))
    print(json.dumps({{"event": "ready", "load_ns": 1000, "first_run_ns": 2000, "profiling_ns": 0}}), flush=True)
    n = int(sys.argv[sys.argv.index("--stream-chunks") + 1])
    for k in range(n):  # a slow configuration: 0.05 s per chunk, a minute in all
        time.sleep(0.05)
        print(json.dumps({{"event": "chunk", "chunk": k, "samples_ns": [50000000]}}), flush=True)
    print(json.dumps({{"samples_ns": [50000000] * n, "load_ns": 1000, "first_run_ns": 2000, "outputs": []}}))
''')


def test_pruned_trial_kills_the_runner_process(tmp_path, monkeypatch):
    from loadrun.targets.local import LocalTarget

    runner = tmp_path / "fake-runner"
    runner.write_text(FAKE_RUNNER.format(python=sys.executable))
    runner.chmod(runner.stat().st_mode | stat.S_IEXEC)
    pid_file = tmp_path / "pid"
    monkeypatch.setenv("FAKE_RUNNER_PID", str(pid_file))
    graph, feeds = _demo()
    target = LocalTarget(runner=runner, timeout_s=120)
    try:
        assert target.can_stream
        r = target.stream_trial(compile_graph(graph), feeds, Options(), warmup=0, iters=1, min_time_s=0.0,
                                chunks=1200, want_outputs=False, on_chunk=lambda step, s, ready: step >= 2)
    finally:
        target.close()
    assert r.stopped and r.chunks == 3 and r.load_ns == 1000 and r.first_run_ns == 2000
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):  # terminated and reaped: no such process any more
        os.kill(pid, 0)


# -- the fit on a streaming fake target ------------------------------------------------------------


class StreamingFake(FakeTarget):
    """FakeTarget with ``stream_trial``: counts chunks run, so pruning is visible."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.chunks_run: list[tuple[Options, int]] = []
        self.caches_in: list[tuple[Options, int, str | None]] = []

    def stream_trial(self, compiled, feeds, options, *, warmup, iters, min_time_s, chunks, want_outputs,
                     on_chunk=None):
        self.caches_in.append((options, hash(compiled), options.algo_cache))
        clean = options.with_(algo_cache=None)
        ready = self.run_trial(compiled, feeds, clean, warmup=warmup, iters=iters, min_time_s=min_time_s,
                               want_outputs=want_outputs)
        profiled = clean.fast_run != "heuristic" and options.algo_cache is None
        ready.profiling_ns = 5_000_000 if profiled else 0
        ready.load_ns += ready.profiling_ns
        ready.algo_cache = b"cache" if clean.fast_run != "heuristic" else None
        samples = [ready.samples_ns]
        for step in range(chunks):
            if step:
                samples.append(self.run_trial(compiled, feeds, clean, warmup=0, iters=iters, min_time_s=0.0,
                                              want_outputs=False).samples_ns)
            ready.samples_ns = np.concatenate(samples)
            if on_chunk is not None and step + 1 < chunks and on_chunk(step, ready.samples_ns, ready):
                ready.stopped, ready.chunks, ready.outputs = True, step + 1, None
                break
        else:
            ready.chunks = chunks
        self.chunks_run.append((clean, ready.chunks))
        return ready

    def latency_ms(self, o: Options) -> float:
        slow = 3.0 if o.fast_run == "profile-optimized" else 1.0
        return super().latency_ms(o) * slow


@pytest.fixture
def fit_env(tmp_path, monkeypatch):
    monkeypatch.setenv("LOADRUN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(space_mod, "AVAILABLE", {"threads", "jit", "record", "fast_run"})


def test_pruning_stops_slow_trials_and_caches_are_shared(tmp_path, fit_env):
    target = StreamingFake()
    plan = MeasurePlan(warmup=0, iters=4, min_time_s=0.0, chunks=6)
    r = fit_model(None, target, FitSettings(plan=plan, confirm_plan=MeasurePlan(0, 4, 0.0, 1), rounds=6,
                                            fix=("threads=2",), space=("jit=0,2",), strategy="exhaustive",
                                            profile_out=tmp_path / "p.json"))
    slow = [(o, n) for o, n in target.chunks_run if o.fast_run == "profile-optimized"]
    assert slow and all(n < plan.chunks for o, n in slow)  # 3x slower: stopped after a chunk or two
    assert any(t.state == "pruned" for t in r.trials)
    assert all(t.state != "pruned" for t in r.top(3))
    # one profiling per (compiled variant, threads), whatever the fast-run mode; later trials of
    # the pair load its cache
    variants = {v for o, v, _ in target.caches_in if o.fast_run != "heuristic"}
    assert len(variants) >= 2
    for variant in variants:
        caches = [c for o, v, c in target.caches_in if o.fast_run != "heuristic" and v == variant]
        assert len(caches) >= 2 and caches[0] is None and all(c is not None for c in caches[1:])
    # the profile records the configuration, never the fit's temporary cache file
    assert r.profile["options"]["algo_cache"] is None
    assert r.profile["fit"]["profiling_s"] > 0


def test_confirmation_stops_when_the_winner_separates():
    target = FakeTarget()
    graph, _ = _demo()
    data = compile_graph(graph)
    fin = [Finalist("default", Options(), data), Finalist("fast", Options(threads=2, jit=2), data),
           Finalist("mid", Options(jit=1), data)]
    d = interleave(target, {}, fin, Objective(), MeasurePlan(0, 4, 0.0, 1), rounds=20, min_rounds=5)
    assert d.winner.label == "fast" and d.rounds == 5 and not d.tied_with
    assert len(target.calls) == 15


def test_confirmation_drops_finalists_the_leader_beats():
    class Tied(FakeTarget):
        def latency_ms(self, o):
            return {1: 10.0, 2: 5.0}[o.threads] * (1.0 if o.jit < 2 else 1.8)

    target = Tied()
    graph, _ = _demo()
    data = compile_graph(graph)
    fin = [Finalist("default", Options(), data), Finalist("a", Options(threads=2), data),
           Finalist("b", Options(threads=2, jit=1), data), Finalist("slow", Options(threads=2, jit=2), data)]
    d = interleave(target, {}, fin, Objective(), MeasurePlan(0, 4, 0.0, 1), rounds=8, min_rounds=5,
                   equivalent=0.0)
    assert d.rounds == 8 and set(d.tied_with) == {"a", "b"} - {d.winner.label}
    by = {f.label: len(f.costs) for f in d.finalists}
    assert by["slow"] == 5 and by["default"] == 8  # dropped once told apart; the default never
    # a and b are equivalent (within 2%) and both beat the default for sure: no more rounds needed
    fin = [Finalist(f.label, f.options, f.compiled) for f in fin]
    d = interleave(target, {}, fin, Objective(), MeasurePlan(0, 4, 0.0, 1), rounds=8, min_rounds=5)
    assert d.rounds == 5 and d.winner.label in ("a", "b") and d.speedup.significant


def test_trial_latency_resists_bursts():
    from loadrun.fit.evaluate import steady_latency_ns

    burst = np.array([10, 11, 10, 30, 31, 29, 10, 32, 30], dtype=np.int64)  # more than half slowed
    assert steady_latency_ns(burst) == 10.0 and float(np.median(burst)) == 29.0


def test_incumbent_pruner_margin_tightens():
    p = IncumbentPruner()
    assert p.margin_at(0) > p.margin_at(1) > p.margin_at(2) == p.margin_at(9)
    assert IncumbentPruner(margin=0.2).margin_at(5) == 0.2


def test_equivalent_configurations_are_measured_once():
    hints = {"layouts": ["nchw"], "max_threads": 2, "affinity_matters": True, "core_groups": {"all": [0, 1]},
             "static_shapes": True}
    avail = {"threads", "affinity", "inplace"}
    one = build_space(hints, fix=["threads=1"], available=avail)
    two = build_space(hints, fix=["threads=2"], available=avail)
    assert one.size() == 2 and two.size() == 4  # one thread on identical cores: pinning is moot
    big_little = dict(hints, core_groups={"all": [0, 1], "big": [1], "little": [0]})
    assert build_space(big_little, fix=["threads=1"], available=avail).size() > 2


def test_chunked_fallback_for_targets_without_streaming():
    target = FakeTarget()  # run_trial only (like adb): one call per chunk, outputs from the first
    graph, feeds = _demo()
    ref = target.outputs
    m = measure(target, compile_graph(graph), feeds, Options(), MeasurePlan(0, 3, 0.0, 4), ref, ["prob"],
                on_chunk=lambda step, s, first: step == 1)
    assert m.chunks_done == 2 and len(target.calls) == 2 and m.passed


# -- --profile applies compile options -------------------------------------------------------------


def test_profile_applies_runtime_and_compile_options(tmp_path, monkeypatch):
    from loadrun import api
    from loadrun.api import RunConfig, run_model
    from loadrun.fit.apply import profile_run_options
    from loadrun.runtime import build_id

    options = Options(jit=2, inplace=True, record=1)
    if "layout" in AVAILABLE:
        layouts = [x for x in _local().option_space_hints().get("layouts", []) if x != "nchw"]
        if layouts:
            options = options.with_(layout=layouts[0])
    doc = make_profile(model_path="demo.mge", model_sha256=file_sha256(demo_model_path()),
                       fingerprint=local_fingerprint(build_id()), options=options.to_dict(), algo_cache=None,
                       winner_stats={}, default_stats={}, speedup={}, fit={})
    atomic_write_json(tmp_path / "p.json", doc)
    warnings: list[str] = []
    threads, applied = profile_run_options(tmp_path / "p.json", None, warn=warnings.append)
    assert threads == 1 and applied["jit"] == 2 and applied["inplace"] is True and applied["record"] == 1
    assert not warnings
    seen = {}
    real = api.compile_graph

    def spy(graph, **kw):
        seen.update(kw)
        return real(graph, **kw)

    monkeypatch.setattr(api, "compile_graph", spy)
    report = run_model(None, config=RunConfig(threads=threads, warmup=0, iters=1, min_time=0.0,
                                              runtime_options=applied))
    assert seen.get("jit") == 2 and seen.get("layout", "nchw") == options.layout
    assert report is not None


def test_interrupted_streaming_fit_resumes(tmp_path, fit_env):
    s = FitSettings(plan=MeasurePlan(0, 4, 0.0, 3), confirm_plan=MeasurePlan(0, 4, 0.0, 1), rounds=5,
                    fix=("threads=2", "fast_run=heuristic"), profile_out=tmp_path / "p.json")
    first = StreamingFake(fail_after=10)  # a KeyboardInterrupt in the middle of a streamed trial
    r = fit_model(None, first, s)
    assert r.interrupted and r.profile["fit"]["confirmed"] is False
    done_before = {t.label for t in r.trials if t.state in ("complete", "pruned")}
    assert done_before
    second = StreamingFake()
    r = fit_model(None, second, s)
    assert not r.interrupted and r.resumed_trials >= len(done_before)
    streamed_again = {o.label() for o, _ in second.chunks_run} & done_before
    assert not streamed_again  # finished trials are not measured again (the search streams only new ones)
    assert len({t.label for t in r.trials if t.state in ("complete", "pruned")}) == 9


def test_paired_ratio_pairs_only_the_rounds_both_played():
    from loadrun.fit.confirm import paired_ratio

    # the default played 6 rounds; a finalist dropped after round 5 has 5 scores
    r = paired_ratio([2.0, 2.0, 2.0, 2.0, 2.0, 9.0], [1.0, 1.0, 1.0, 1.0, 1.0])
    assert r.median == 2.0 and r.low <= 2.0 <= r.high
