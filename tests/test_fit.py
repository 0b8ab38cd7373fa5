"""--fit: profiles, the accuracy guard, resuming, strategy choice, CLI usage errors.

A fake target (the Target protocol, no processes) makes trials instant and deterministic:
latency falls with threads and JIT level, and one option value can be made to corrupt outputs.
Timing is never asserted against the real machine."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from loadrun import cli
from loadrun.demo import demo_model_path
from loadrun.errors import OptionError
from loadrun.fit import FitSettings, FitStopped, fit_model, parse_objective
from loadrun.fit import megengine
from loadrun.fit import space as space_mod
from loadrun.fit.evaluate import MeasurePlan
from loadrun.fit.space import build_space
from loadrun.feeds import InputSpec, build_feeds
from loadrun.formats import load_model
from loadrun.ir.reference import execute
from loadrun.options import Options
from loadrun.profile import ProfileError, check_applies, file_sha256, load_profile
from loadrun.targets.base import Target, TargetUnavailable, TrialResult

HINTS = {"layouts": ["nchw"], "max_threads": 2, "affinity_matters": False, "core_groups": {"all": [0, 1]},
         "static_shapes": True}
FAST = MeasurePlan(warmup=0, iters=8, min_time_s=0.0, chunks=2)
CONFIRM = MeasurePlan(warmup=0, iters=8, min_time_s=0.0, chunks=1)


class FakeTarget:
    name = "fake"

    def __init__(self, corrupt=None, fail_after=None, error=KeyboardInterrupt):
        model = demo_model_path()
        graph = load_model(model)
        specs = [InputSpec(graph.values[i].name, graph.values[i].shape, graph.values[i].dtype)
                 for i in graph.inputs]
        feeds = {f.spec.name: f.array for f in build_feeds(specs, (), 0)}
        self.outputs = [np.asarray(o, dtype=np.float32) for o in execute(graph, feeds)]
        self.corrupt = corrupt or (lambda o: False)
        self.fail_after = fail_after
        self.error = error
        self.calls: list[Options] = []
        self.rng = np.random.default_rng(0)

    def fingerprint(self):
        return {"kind": "fake", "machine": "x", "cpu_model": "fake cpu", "cores": 2}

    def cores(self):
        return [{"id": 0, "max_freq_khz": None, "cluster": 0}, {"id": 1, "max_freq_khz": None, "cluster": 0}]

    def option_space_hints(self):
        return dict(HINTS)

    def latency_ms(self, o: Options) -> float:
        return 10.0 / o.threads * (1.0 - 0.2 * o.jit) * (0.9 if o.record else 1.0)

    def run_trial(self, compiled, feeds, options, *, warmup, iters, min_time_s, want_outputs):
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise self.error("the fake device went away")
        self.calls.append(options)
        lat = self.latency_ms(options) * 1e6
        samples = (lat * (1 + 0.01 * self.rng.standard_normal(max(iters, 1)))).astype(np.int64)
        outs = None
        if want_outputs:
            outs = [o.copy() for o in self.outputs]
            if self.corrupt(options):
                outs[0] = outs[0] + 1.0
        return TrialResult(samples, 1_000_000, int(lat), 50 << 20, outs, {})

    def cool_down(self):
        return {}

    def close(self):
        pass


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("LOADRUN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(space_mod, "AVAILABLE", {"threads", "jit", "record"})


def settings(tmp_path: Path, **kw) -> FitSettings:
    base = dict(plan=FAST, confirm_plan=CONFIRM, rounds=6, profile_out=tmp_path / "p.json")
    base.update(kw)
    return FitSettings(**base)


def test_fake_target_is_a_target():
    assert isinstance(FakeTarget(), Target)


def test_profile_round_trips_and_applies(tmp_path):
    target = FakeTarget()
    r = fit_model(None, target, settings(tmp_path))
    assert r.strategy == "exhaustive" and r.profile_path == tmp_path / "p.json"
    doc = load_profile(r.profile_path)
    assert Options.from_dict(doc["options"]) == r.decision.winner.options
    assert doc["options"]["threads"] == 2 and doc["options"]["jit"] == 2 and doc["options"]["record"] == 1
    assert doc["stats"]["speedup"]["median"] > 1.0 and doc["fit"]["trials"] == 18
    assert check_applies(doc, model_sha256=file_sha256(demo_model_path()), fingerprint=target.fingerprint()) == []
    # written as JSON that reads back identically
    assert json.loads(r.profile_path.read_text()) == doc


def test_mismatched_profile_is_refused(tmp_path):
    target = FakeTarget()
    r = fit_model(None, target, settings(tmp_path))
    doc = load_profile(r.profile_path)
    with pytest.raises(ProfileError, match="model digest"):
        check_applies(doc, model_sha256="0" * 64, fingerprint=target.fingerprint())
    other = dict(target.fingerprint(), cpu_model="another cpu")
    with pytest.raises(ProfileError, match="cpu_model"):
        check_applies(doc, model_sha256=file_sha256(demo_model_path()), fingerprint=other)
    assert check_applies(doc, model_sha256="0" * 64, fingerprint=other, force=True)


def test_cli_profile_refuses_mismatch_unless_forced(tmp_path):
    from loadrun.profile import atomic_write_json, local_fingerprint, make_profile
    from loadrun.runtime import build_id

    fp = dict(local_fingerprint(build_id()), cpu_model="not this cpu")
    doc = make_profile(model_path="demo.mge", model_sha256=file_sha256(demo_model_path()), fingerprint=fp,
                       options=Options(threads=1).to_dict(), algo_cache=None, winner_stats={},
                       default_stats={}, speedup={}, fit={})
    atomic_write_json(tmp_path / "p.json", doc)
    runner = CliRunner()
    res = runner.invoke(cli.app, ["--profile", str(tmp_path / "p.json"), "--iters", "2", "--min-time", "0"],
                        prog_name="loadrun")
    assert res.exit_code == 2 and "cpu_model" in res.output and "--force" in res.output
    res = runner.invoke(cli.app, ["--profile", str(tmp_path / "p.json"), "--force", "--iters", "2",
                                  "--min-time", "0", "--json"], prog_name="loadrun")
    assert res.exit_code == 0, res.output


def test_configuration_that_breaks_accuracy_never_wins(tmp_path):
    # jit=2 is the fastest configuration but corrupts the outputs
    target = FakeTarget(corrupt=lambda o: o.jit == 2)
    r = fit_model(None, target, settings(tmp_path))
    assert r.decision.winner.options.jit != 2
    bad = [t for t in r.trials if t.options.get("jit") == 2]
    assert bad and all(t.state == "failed" and "accuracy" in t.error and "exceeds tolerance" in t.error
                       for t in bad)
    assert all(f.options.jit != 2 for f in r.decision.finalists)


@pytest.mark.parametrize("error", [KeyboardInterrupt, TargetUnavailable])
def test_interrupted_fit_resumes_with_finished_trials(tmp_path, error):
    first = FakeTarget(fail_after=7, error=error)  # default (2 calls) + 2 more trials + a 4th half-way
    s = settings(tmp_path)
    if error is KeyboardInterrupt:
        r = fit_model(None, first, s)
        assert r.interrupted and r.profile is not None and r.profile["fit"]["confirmed"] is False
        assert load_profile(tmp_path / "p.json")["fit"]["interrupted"] is True
    else:
        with pytest.raises(FitStopped, match="run the same command again to resume"):
            fit_model(None, first, s)
    measured_before = {json.dumps(o.to_dict(), sort_keys=True) for o in first.calls}
    second = FakeTarget()
    r = fit_model(None, second, s)
    assert not r.interrupted and r.resumed_trials >= 3
    finished = [t for t in r.trials if t.state in ("complete", "pruned")]
    assert len({json.dumps(t.options, sort_keys=True) for t in finished}) == 18
    # the trials finished before the interruption were not measured again during the search
    search_calls = second.calls[: len(second.calls) - 6 * 4]  # minus the confirmation rounds
    again = [o for o in search_calls if json.dumps(o.to_dict(), sort_keys=True) in measured_before]
    assert len(again) <= 1  # only the trial cut off mid-way is re-run


def test_exhaustive_or_tpe_by_budget(tmp_path):
    r = fit_model(None, FakeTarget(), settings(tmp_path, trials=50))
    assert r.strategy == "exhaustive" and "18 configurations" in r.strategy_reason
    r = fit_model(None, FakeTarget(), settings(tmp_path, trials=6, seed=1, profile_out=tmp_path / "q.json"))
    assert r.strategy == "tpe"
    measured = [t for t in r.trials if t.state != "duplicate"]
    assert len(measured) == 6


def test_megengine_strategy_runs_its_bundles(tmp_path, monkeypatch):
    r = fit_model(None, FakeTarget(), settings(tmp_path, strategy="megengine", fix=("threads=2",)))
    assert r.strategy == "megengine"
    labels = {t.label for t in r.trials}
    # stage one (nothing but the base here) then stage two adds jit=1 and record=1 one at a time
    assert labels == {"threads=2", "threads=2,jit=1", "threads=2,record=1"}


def test_megengine_bundles_x86():
    hints = {"layouts": ["nchw", "nchw88", "nchw16"]}
    all_opts = {"threads", "weight_preprocess", "fast_run", "layout", "jit", "record"}
    assert megengine.stage_one(hints, all_opts) == [
        {}, {"weight_preprocess": True, "fast_run": "profile"}, {"layout": "nchw16"},
        {"layout": "nchw16", "weight_preprocess": True}, {"layout": "nchw88"},
        {"layout": "nchw88", "weight_preprocess": True, "fast_run": "profile"}]
    assert megengine.stage_two(hints, all_opts) == [{"jit": 1}, {"record": 1}]


def test_space_fix_and_restrict():
    s = build_space(HINTS, fix=["threads=2"], restrict=["jit=0,2"])
    assert s.fixed["threads"] == 2 and dict((d.name, d.values) for d in s.dimensions)["jit"] == (0, 2)
    assert s.size() == 2 * 3  # jit x record
    for bad in (["threads"], ["threads=zero"], ["bogus=1"], ["jit=7"]):
        with pytest.raises(OptionError):
            build_space(HINTS, fix=bad)
    with pytest.raises(OptionError, match="not available"):
        build_space(HINTS, fix=["inplace=on"])
    with pytest.raises(OptionError, match="both fixed"):
        build_space(HINTS, fix=["jit=1"], restrict=["jit=0,1"])


@pytest.mark.parametrize("args", [["--fix", "threads"], ["--fix", "bogus=1"], ["--space", "jit=0,9"],
                                  ["--objective", "mix:1,2"], ["--strategy", "annealing"]])
def test_fit_usage_errors_exit_2(args):
    res = CliRunner().invoke(cli.app, ["--fit", *args], prog_name="loadrun")
    assert res.exit_code == 2, res.output
    assert "error" in res.output


def test_objective_parsing():
    assert parse_objective("mix:1,0.5,0").weights == (1.0, 0.5, 0.0)
    assert parse_objective("first-run").kind == "first-run"
    with pytest.raises(OptionError):
        parse_objective("speed")
