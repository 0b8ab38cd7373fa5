"""``loadrun MODEL --fit``: search the options, confirm the winner, write a profile.

    space (space.py) ─► search: exhaustive | TPE | megengine  ─► study (Optuna storage)
          each trial: compile variant (variants.py) ─► target.run_trial in chunks ─► pruner
                      outputs vs reference (accuracy guard) ─► objective score
    finalists + default ─► interleaved rounds (confirm.py) ─► decision ─► profile

Everything here is a plain API; the CLI only parses flags and renders progress and the result.
"""

from __future__ import annotations

import base64
import hashlib
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import optuna
from optuna.trial import TrialState

from loadrun import interrupts, measure
from loadrun.api import ModelInfo, resolve_model
from loadrun.errors import LoadrunError, OptionError
from loadrun.feeds import InputSpec, build_feeds
from loadrun.fit import megengine
from loadrun.fit.confirm import DEFAULT_ROUNDS, Decision, Finalist, finalist_stats, interleave
from loadrun.fit.evaluate import (MeasurePlan, Measurement, first_result_ns, measure as measure_config,
                                  steady_latency_ns)
from loadrun.fit.importance import param_importance
from loadrun.fit.objective import Costs, Objective
from loadrun.fit.pruning import make_pruner
from loadrun.fit.space import SearchSpace, build_space
from loadrun.fit.study import make_sampler, open_study, study_name
from loadrun.fit.variants import CompiledVariants
from loadrun.formats import load_model
from loadrun.options import Options
from loadrun.atomic_files import atomic_write_json
from loadrun.profile import default_profile_path, make_profile
from loadrun.targets.base import Target, TargetUnavailable, TrialFailed

STRATEGIES = ("auto", "exhaustive", "tpe", "megengine")
DEFAULT_TRIALS = 40
# Without --trials, a space larger than DEFAULT_TRIALS gets a budget of about a sixth of its
# configurations, at least MIN_TRIALS and at most DEFAULT_TRIALS: the fit must cost a fraction of
# the grid, and TPE with pruning finds the good region of these spaces within that (see
# docs/benchmarks.md, "Fit").
MIN_TRIALS = 20
DEFAULT_TIME_BUDGET_S = 600.0
# Consecutive proposals of already-measured configurations before the space counts as exhausted.
MAX_DUPLICATES = 40


class FitStopped(LoadrunError):
    """The target went away mid-fit; the study keeps the finished trials and a re-run resumes."""

    exit_code = 3


@dataclass(frozen=True)
class FitSettings:
    trials: int | None = None  # measured trials in the study, at most
    time_budget_s: float | None = None  # seconds of searching in this invocation, at most
    strategy: str = "auto"
    seed: int = 0
    objective: Objective = Objective()
    fix: tuple[str, ...] = ()
    space: tuple[str, ...] = ()
    plan: MeasurePlan = MeasurePlan()
    finalists: int = 3  # top configurations re-measured against the default
    rounds: int = DEFAULT_ROUNDS
    confirm_plan: MeasurePlan = MeasurePlan(warmup=2, iters=3, min_time_s=0.15, chunks=1)
    min_rounds: int = 5  # confirmation stops early once the winner separates (after this many)
    pruner: str = "incumbent"
    storage: str | None = None
    profile_out: Path | None = None
    profiles_root: Path = Path("profiles")
    write_profile: bool = True
    inputs: tuple[str, ...] = ()
    input_seed: int = 0
    decrypt: str | None = None

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise OptionError(f"--strategy {self.strategy!r}: choose {', '.join(STRATEGIES)}")
        if self.trials is not None and self.trials < 1:
            raise OptionError(f"--trials must be at least 1, got {self.trials}")
        if self.time_budget_s is not None and not self.time_budget_s > 0:
            raise OptionError(f"--time-budget must be a positive number of seconds, got {self.time_budget_s}")
        if self.finalists < 1 or self.rounds < 1:
            raise OptionError("finalists and rounds must be at least 1")


@dataclass
class TrialRecord:
    number: int
    label: str
    options: dict
    state: str  # complete | pruned | failed | duplicate
    value: float | None
    costs: dict | None = None
    error: str | None = None
    latency: dict | None = None  # median and CI (ms)
    wall_s: float = 0.0


@dataclass
class FitProgress:
    phase: str  # "search" | "confirm" | "done"
    done: int
    total: int | None
    current: str = ""
    best: str = ""
    best_value: float | None = None


@dataclass
class FitResult:
    model: ModelInfo
    fingerprint: dict
    space: SearchSpace
    strategy: str  # what ran: exhaustive | tpe | megengine
    strategy_reason: str
    study_name: str
    storage: str | None
    objective: Objective
    trials: list[TrialRecord]
    decision: Decision | None
    profile: dict | None
    profile_path: Path | None
    interrupted: bool
    wall_s: float
    search_wall_s: float
    importance: dict[str, float] = field(default_factory=dict)
    importance_method: str = "none"
    resumed_trials: int = 0
    study: optuna.Study | None = None

    def top(self, n: int = 10) -> list[TrialRecord]:
        done = [t for t in self.trials if t.state == "complete" and t.value is not None]
        return sorted(done, key=lambda t: t.value)[:n]


def _encode_cache(data: bytes | None) -> dict | None:
    if not data:
        return None
    return {"encoding": "base64", "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data), "data": base64.b64encode(data).decode()}


class _Fit:
    """One fit in progress (state shared by the search loop and its helpers)."""

    def __init__(self, model_path: Path | None, target: Target, settings: FitSettings,
                 progress: Callable[[FitProgress], None] | None):
        self.s = settings
        self.target = target
        self.progress = progress or (lambda p: None)
        self.path = resolve_model(model_path)
        self.model = ModelInfo.of(self.path)
        self.graph = load_model(self.path, decrypt=settings.decrypt)
        specs = [InputSpec(self.graph.values[i].name, self.graph.values[i].shape, self.graph.values[i].dtype)
                 for i in self.graph.inputs]
        self.feeds = {f.spec.name: f.array for f in build_feeds(specs, settings.inputs, settings.input_seed)}
        self.output_names = [self.graph.values[i].name for i in self.graph.outputs]
        self.hints = dict(target.option_space_hints())
        self.space = build_space(self.hints, settings.fix, settings.space)
        self.variants = CompiledVariants(self.graph)
        self.fingerprint = target.fingerprint()
        self.reference: list[np.ndarray] | None = None
        self.reference_source = "numpy reference executor"
        self.by_key: dict[str, optuna.trial.FrozenTrial] = {}
        self.baseline: Costs | None = None
        self.default_options = self.space.options(self.space.default_params())
        # One algorithm cache per (compiled variant, threads), shared by every trial of that pair
        # whatever its fast-run mode: fast-run profiles once, later trials (and the confirmation)
        # load with it (a mode whose rules refuse a cached choice, e.g. profile-reproducible and a
        # nondeterministic algorithm, profiles that node and adds it to the cache).
        import shutil
        import tempfile
        import weakref

        self.cache_dir = Path(tempfile.mkdtemp(prefix="loadrun-fit-caches-"))
        weakref.finalize(self, shutil.rmtree, str(self.cache_dir), True)  # however the fit ends
        self.profiling_ns = 0  # fast-run profiling paid over the whole fit, reported apart

    def _cache_key(self, options: Options) -> tuple | None:
        if options.fast_run == "heuristic" or options.algo_cache:
            return None
        return (self.variants.digest(options)[:16], options.threads)

    def run_options(self, options: Options) -> Options:
        """What the target runs: ``options`` plus the shared algorithm cache of its variant (when
        one exists yet); ``options`` itself is what trials, finalists and profiles record."""
        key = self._cache_key(options)
        if key is None:
            return options
        path = self.cache_dir / ("-".join(map(str, key)) + ".bin")
        return options.with_(algo_cache=str(path)) if path.is_file() else options

    def keep_cache(self, options: Options, data: bytes | None) -> None:
        key = self._cache_key(options)
        if key is not None and data:
            path = self.cache_dir / ("-".join(map(str, key)) + ".bin")
            if not path.is_file() or path.read_bytes() != data:
                path.write_bytes(data)

    # -- the oracle ------------------------------------------------------------------------------

    def compute_reference(self) -> None:
        from loadrun.ir.reference import execute

        try:
            self.reference = [np.asarray(o) for o in execute(self.graph, self.feeds)]
        except Exception as e:  # noqa: BLE001 - fall back to the default configuration's outputs
            self.reference = None
            self.reference_source = f"default configuration's outputs (reference executor failed: {e})"

    # -- one trial -------------------------------------------------------------------------------

    def plan(self) -> MeasurePlan:
        if self.s.strategy == "megengine":
            return MeasurePlan(warmup=megengine.WARMUP, iters=megengine.RUN_ITER, min_time_s=0.0, chunks=1)
        return self.s.plan

    def score(self, m: Measurement) -> float:
        if self.s.strategy == "megengine":  # MegEngine scores by the mean of its runs
            return float(np.mean(m.samples_ns)) / 1e6 if self.s.objective.kind == "latency" else \
                self.s.objective.score(m.costs(), self.baseline)
        return self.s.objective.score(m.costs(), self.baseline)

    def run_trial(self, study: optuna.Study, trial: optuna.Trial, options: Options) -> None:
        key = SearchSpace.key(options)
        trial.set_user_attr("options", options.to_dict())
        trial.set_user_attr("key", key)
        trial.set_user_attr("label", options.label())
        interrupts.check()  # a Ctrl-C dropped inside a finalizer still stops the fit here
        try:
            compiled = self.variants.get(options)
        except TrialFailed as e:
            self._fail(study, trial, key, str(e))
            return

        def on_chunk(step: int, samples: np.ndarray, first) -> bool:
            if self.baseline is None or self.s.strategy == "megengine":
                return False
            partial = Costs(steady_latency_ns(samples, getattr(first, "chunk_sizes", None) or ()),
                            float(first_result_ns(first.load_ns, first.first_run_ns,
                                                  getattr(first, "profiling_ns", 0))),
                            float(first.peak_rss_bytes or 0))
            trial.report(self.s.objective.score(partial, self.baseline), step)
            return trial.should_prune()

        try:
            m = measure_config(self.target, compiled, self.feeds, options, self.plan(), self.reference,
                               self.output_names, on_chunk, run_options=self.run_options(options))
        except TrialFailed as e:
            self._fail(study, trial, key, str(e))
            return
        self.keep_cache(options, m.algo_cache)
        self.profiling_ns += m.profiling_ns
        self._record(trial, m)
        if not m.passed:
            self._fail(study, trial, key, f"accuracy: {m.error}")
            return
        if options == self.default_options and self.baseline is None:
            self.baseline = m.costs()
        value = self.score(m)
        if m.chunks_done < self.plan().chunks:
            study.tell(trial, state=TrialState.PRUNED)
        else:
            study.tell(trial, value)
        self.by_key[key] = study.trials[trial.number]

    def _record(self, trial: optuna.Trial, m: Measurement) -> None:
        lat = measure.latency_stats(m.samples_ns)
        trial.set_user_attr("costs", m.costs().to_dict())
        trial.set_user_attr("load_ms", m.load_ns / 1e6)
        trial.set_user_attr("first_run_ms", m.first_run_ns / 1e6)
        trial.set_user_attr("profiling_ms", m.profiling_ns / 1e6)
        trial.set_user_attr("chunks", m.chunks_done)
        trial.set_user_attr("latency", {"median_ms": lat.median / 1e6, "ci95_low_ms": lat.ci.low / 1e6,
                                        "ci95_high_ms": lat.ci.high / 1e6, "n": lat.n,
                                        "mean_ms": lat.mean / 1e6})
        trial.set_user_attr("samples_ms", (m.samples_ns[:400] / 1e6).round(4).tolist())
        trial.set_user_attr("wall_s", m.wall_s)
        trial.set_user_attr("throttled", m.throttled)
        if m.checks:
            trial.set_user_attr("accuracy", [c.to_dict() for c in m.checks])
        if m.algo_cache and len(m.algo_cache) < (1 << 20):
            trial.set_user_attr("algo_cache", _encode_cache(m.algo_cache))

    def _fail(self, study: optuna.Study, trial: optuna.Trial, key: str, error: str) -> None:
        trial.set_user_attr("error", error)
        study.tell(trial, state=TrialState.FAIL)
        self.by_key[key] = study.trials[trial.number]

    # -- proposals -------------------------------------------------------------------------------

    def ask(self, study: optuna.Study) -> tuple[optuna.Trial, Options]:
        trial = study.ask()
        params = {d.name: self.space.decode(d.name, trial.suggest_categorical(
            d.name, [d.encode(v) for v in d.values])) for d in self.space.dimensions}
        return trial, self.space.options(params)

    def enqueue(self, study: optuna.Study, params: dict) -> None:
        study.enqueue_trial({d.name: d.encode(params[d.name]) for d in self.space.dimensions},
                            skip_if_exists=False)

    def measured(self, study: optuna.Study) -> int:
        return sum(1 for t in study.get_trials(deepcopy=False)
                   if t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
                   and t.user_attrs.get("duplicate_of") is None
                   and not t.user_attrs.get("interrupted"))


def _trial_records(study: optuna.Study) -> list[TrialRecord]:
    out = []
    for t in study.get_trials(deepcopy=False):
        if t.state == TrialState.RUNNING or t.state == TrialState.WAITING:
            continue
        state = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned"}.get(t.state, "failed")
        if t.user_attrs.get("duplicate_of") is not None:
            state = "duplicate"
        out.append(TrialRecord(t.number, t.user_attrs.get("label", "?"), t.user_attrs.get("options", {}),
                               state, t.value, t.user_attrs.get("costs"), t.user_attrs.get("error"),
                               t.user_attrs.get("latency"), float(t.user_attrs.get("wall_s", 0.0))))
    return out


def fit_model(model_path: Path | None, target: Target, settings: FitSettings = FitSettings(),
              progress: Callable[[FitProgress], None] | None = None) -> FitResult:
    """Fit the options of a model on a target and write the profile (see the module docstring).

    Ctrl-C (KeyboardInterrupt) keeps the finished trials, writes the best profile so far and
    returns a result with ``interrupted=True``; a TargetUnavailable raises FitStopped after
    keeping the study. Running the same fit again resumes it."""
    t_start = time.perf_counter()
    fit = _Fit(model_path, target, settings, progress)
    s = settings
    fit.compute_reference()
    extra = {"objective": s.objective.to_dict(), "strategy": s.strategy, "plan": fit.plan().to_dict(),
             "input_seed": s.input_seed, "inputs": list(s.inputs), "seed": s.seed}
    name = study_name(fit.model.sha256, fit.fingerprint, fit.space.digest(), extra)
    pruner = make_pruner(s.pruner if s.strategy != "megengine" else "none")
    probe = open_study(name, s.storage, make_sampler("tpe", s.seed), pruner)
    prior = [t for t in probe.get_trials(deepcopy=False) if t.state.is_finished()]
    sampler = make_sampler("tpe", s.seed + len(prior), n_startup_trials=_startup(s, fit.space))
    study = open_study(name, s.storage, sampler, pruner)
    for t in study.get_trials(deepcopy=False):  # resume: what is already measured
        if t.state.is_finished() and not t.user_attrs.get("interrupted") and "key" in t.user_attrs:
            fit.by_key.setdefault(t.user_attrs["key"], t)
        if t.state == TrialState.RUNNING:  # left by a killed process: not a result
            study._storage.set_trial_user_attr(t._trial_id, "interrupted", True)
            study.tell(t.number, state=TrialState.FAIL)
    default_key = SearchSpace.key(fit.default_options)
    if default_key in fit.by_key and fit.by_key[default_key].user_attrs.get("costs"):
        c = fit.by_key[default_key].user_attrs["costs"]
        fit.baseline = Costs(c["latency_ms"] * 1e6, c["first_result_ms"] * 1e6, c["peak_rss_mb"] * (1 << 20))

    interrupted = False
    strategy, reason = "tpe", ""
    search_start = time.perf_counter()
    current: optuna.Trial | None = None

    def best_label() -> tuple[str, float | None]:
        done = [t for t in fit.by_key.values() if t.state == TrialState.COMPLETE and t.value is not None]
        if not done:
            return "", None
        b = min(done, key=lambda t: t.value)
        return b.user_attrs.get("label", "?"), b.value

    def run_one(options: Options, trial: optuna.Trial, n: int, total: int | None) -> None:
        nonlocal current
        current = trial
        label, value = best_label()
        fit.progress(FitProgress("search", n, total, options.label(), label, value))
        fit.run_trial(study, trial, options)
        current = None
        target.cool_down()

    try:
        # The default configuration first: the baseline of every comparison (and the reference
        # outputs when the numpy executor cannot run the model).
        if default_key not in fit.by_key:
            fit.enqueue(study, fit.space.default_params())
            trial, options = fit.ask(study)
            run_one(options, trial, 0, None)
        if fit.reference is None:  # the numpy executor could not run it: the default's outputs
            fit.reference = _outputs_of(target, fit)
        grid = list(fit.space.grid())
        n_grid = len(grid)
        default_trial = fit.by_key.get(default_key)
        est = float(default_trial.user_attrs.get("wall_s", 1.0)) if default_trial else 1.0
        budget_trials = s.trials if s.trials is not None else default_trials(n_grid)
        budget_time = s.time_budget_s if s.time_budget_s is not None else (
            None if s.trials is not None else DEFAULT_TIME_BUDGET_S)
        if s.strategy == "megengine":
            strategy, reason = "megengine", "MegEngine load_and_run's two-stage fitting (--strategy megengine)"
        elif s.strategy == "exhaustive" or (s.strategy == "auto" and n_grid <= budget_trials and (
                budget_time is None or n_grid * est <= budget_time)):
            strategy = "exhaustive"
            reason = (f"the space has {n_grid} configurations, within the budget of {budget_trials} trials"
                      + (f" and {budget_time:.0f} s (about {est:.1f} s per trial)" if budget_time else ""))
            if s.strategy == "exhaustive":
                reason = f"--strategy exhaustive: all {n_grid} configurations"
        else:
            strategy = "tpe"
            reason = (f"the space has {n_grid} configurations, more than the budget of {budget_trials} "
                      f"trials" + (f" / {budget_time:.0f} s at about {est:.1f} s per trial" if budget_time else "")
                      + f": Optuna TPE (multivariate, seed {s.seed})")
            if s.strategy == "tpe":
                reason = f"--strategy tpe: Optuna TPE (multivariate, seed {s.seed})"

        def out_of_budget(extra_trials: int = 0) -> bool:
            if budget_time is not None and time.perf_counter() - search_start >= budget_time:
                return True
            limit = n_grid if strategy == "exhaustive" else budget_trials
            return strategy != "megengine" and fit.measured(study) >= limit

        if strategy == "exhaustive":
            todo = [p for p in grid if SearchSpace.key(fit.space.options(p)) not in fit.by_key]
            for params in todo:
                if out_of_budget():
                    break
                fit.enqueue(study, params)
                trial, options = fit.ask(study)
                run_one(options, trial, fit.measured(study), n_grid)
        elif strategy == "tpe":
            dupes = 0
            while not out_of_budget() and dupes < MAX_DUPLICATES:
                trial, options = fit.ask(study)
                key = SearchSpace.key(options)
                if key in fit.by_key:  # measured already: answer from the study, do not re-run
                    dupes += 1
                    prev = fit.by_key[key]
                    trial.set_user_attr("duplicate_of", prev.number)
                    trial.set_user_attr("label", options.label())
                    trial.set_user_attr("options", options.to_dict())
                    if prev.state == TrialState.COMPLETE:
                        study.tell(trial, prev.value)
                    else:
                        study.tell(trial, state=prev.state if prev.state != TrialState.RUNNING
                                   else TrialState.FAIL)
                    continue
                dupes = 0
                run_one(options, trial, fit.measured(study), budget_trials)
        else:
            _megengine_search(fit, study, run_one)
    except KeyboardInterrupt:
        interrupted = True
    except TargetUnavailable as e:
        if current is not None:
            current.set_user_attr("interrupted", True)
            study.tell(current, state=TrialState.FAIL)
        kept = sum(1 for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE)
        raise FitStopped(f"{target.name}: {e}; the study {name} keeps {kept} finished trial(s); "
                         "run the same command again to resume") from None
    finally:
        if interrupted and current is not None:
            current.set_user_attr("interrupted", True)
            study.tell(current, state=TrialState.FAIL)
    search_wall = time.perf_counter() - search_start

    decision = None
    if not interrupted:
        try:
            decision = _confirm(fit, study, strategy)
        except KeyboardInterrupt:
            interrupted = True
        except TargetUnavailable as e:
            raise FitStopped(f"{target.name}: {e} (while confirming); the study {name} keeps its trials; "
                             "run the same command again to resume") from None

    records = _trial_records(study)
    importance, method = param_importance(study) if fit.space.dimensions else ({}, "none")
    result = FitResult(fit.model, fit.fingerprint, fit.space, strategy, reason, name, s.storage,
                       s.objective, records, decision, None, None, interrupted,
                       time.perf_counter() - t_start, search_wall, importance, method,
                       resumed_trials=len(prior), study=study)
    result.profile = _profile(fit, study, result)
    if result.profile is not None and s.write_profile:
        path = s.profile_out or default_profile_path(fit.path, fit.fingerprint, s.profiles_root)
        atomic_write_json(path, result.profile)
        result.profile_path = Path(path)
    fit.progress(FitProgress("done", 1, 1))
    return result


def _outputs_of(target: Target, fit: _Fit) -> list[np.ndarray] | None:
    r = target.run_trial(fit.variants.get(fit.default_options), fit.feeds, fit.default_options,
                         warmup=0, iters=1, min_time_s=0.0, want_outputs=True)
    return r.outputs


def default_trials(n_grid: int) -> int:
    """The trial budget without --trials: the whole space when it has at most DEFAULT_TRIALS
    configurations, otherwise about a sixth of it within [MIN_TRIALS, DEFAULT_TRIALS]."""
    if n_grid <= DEFAULT_TRIALS:
        return DEFAULT_TRIALS
    return max(MIN_TRIALS, min(DEFAULT_TRIALS, n_grid // 6))


def _startup(s: FitSettings, space: SearchSpace) -> int:
    budget = s.trials or default_trials(space.size())
    return max(4, min(10, budget // 3, len(space.dimensions) * 2))


def _megengine_search(fit: _Fit, study: optuna.Study, run_one) -> None:
    """Stage one: fixed bundles, best kept; stage two: each addition on top of it."""
    base = dict(fit.space.fixed)
    base.setdefault("threads", 1)

    def run_setting(setting: dict) -> None:
        values = {**base, **setting}
        options = _options_from(fit, values)
        key = SearchSpace.key(options)
        if key in fit.by_key:
            return
        trial = study.ask()
        run_one(options, trial, len(fit.by_key), None)

    def best_of(settings: list[dict]) -> dict:
        scored = []
        for st in settings:
            t = fit.by_key.get(SearchSpace.key(_options_from(fit, {**base, **st})))
            if t is not None and t.state == TrialState.COMPLETE and t.value is not None:
                scored.append((t.value, st))
        return min(scored, key=lambda x: x[0])[1] if scored else {}

    searched = set(fit.space.names)  # --fix pins an option for MegEngine's bundles too
    one = megengine.stage_one(fit.hints, searched)
    for st in one:
        run_setting(st)
    best = best_of(one)
    two = [{**best, **add} for add in megengine.stage_two(fit.hints, searched)]
    for st in two:
        run_setting(st)


def _options_from(fit: _Fit, values: dict) -> Options:
    from loadrun.fit.space import canonical

    v = {"threads": 1, **values}
    return canonical(v, fit.hints)


def _finalists(fit: _Fit, study: optuna.Study, strategy: str) -> list[Finalist]:
    done = [t for t in fit.by_key.values() if t.state == TrialState.COMPLETE and t.value is not None
            and not t.user_attrs.get("error")]
    done.sort(key=lambda t: t.value)
    k = 1 if strategy == "megengine" else fit.s.finalists
    default = Finalist("default", fit.default_options, fit.variants.get(fit.default_options),
                       run_options=fit.run_options(fit.default_options))
    chosen = [default]
    for t in done:
        opts = Options.from_dict(t.user_attrs["options"])
        if opts == fit.default_options:
            continue
        if len(chosen) > k:
            break
        chosen.append(Finalist(opts.label(), opts, fit.variants.get(opts), run_options=fit.run_options(opts)))
    return chosen


def _confirm(fit: _Fit, study: optuna.Study, strategy: str) -> Decision | None:
    finalists = _finalists(fit, study, strategy)
    if not fit.by_key.get(SearchSpace.key(fit.default_options)) or \
            fit.by_key[SearchSpace.key(fit.default_options)].state != TrialState.COMPLETE:
        return None

    def progress(done: int, total: int, label: str) -> None:
        fit.progress(FitProgress("confirm", done, total, label))

    return interleave(fit.target, fit.feeds, finalists, fit.s.objective, fit.s.confirm_plan,
                      fit.s.rounds, progress, min_rounds=fit.s.min_rounds)


def _profile(fit: _Fit, study: optuna.Study, result: FitResult) -> dict | None:
    """The profile document: the confirmed winner, or (interrupted) the best finished trial."""
    s = fit.s
    fit_info = {"strategy": result.strategy, "strategy_reason": result.strategy_reason,
                "objective": s.objective.to_dict(), "seed": s.seed,
                "trials": sum(1 for t in result.trials if t.state != "duplicate"),
                "trials_by_state": {st: sum(1 for t in result.trials if t.state == st)
                                    for st in ("complete", "pruned", "failed", "duplicate")},
                "search_time_s": result.search_wall_s, "time_s": result.wall_s,
                "space": fit.space.describe(), "study": result.study_name,
                "storage": result.storage or "default (journal file under the loadrun cache)",
                "plan": fit.plan().to_dict(), "reference": fit.reference_source,
                "interrupted": result.interrupted, "confirmed": result.decision is not None,
                "profiling_s": fit.profiling_ns / 1e9,
                "target": fit.target.name}
    d = result.decision
    if d is not None:
        winner = d.winner
        cache = winner.algo_cache
        if cache is None:
            t = fit.by_key.get(SearchSpace.key(winner.options))
            enc = t.user_attrs.get("algo_cache") if t is not None else None
        else:
            enc = _encode_cache(cache)
        fit_info["confirmation"] = {"rounds": d.rounds, "verdict": d.verdict, "tied_with": d.tied_with,
                                    "finalists": [finalist_stats(f, s.objective) for f in d.finalists]}
        return make_profile(model_path=str(fit.path), model_sha256=fit.model.sha256,
                            fingerprint=fit.fingerprint, options=winner.options.to_dict(), algo_cache=enc,
                            winner_stats=finalist_stats(winner, s.objective),
                            default_stats=finalist_stats(d.default, s.objective),
                            speedup=dict(d.speedup.to_dict(), verdict=d.verdict), fit=fit_info)
    done = [t for t in fit.by_key.values() if t.state == TrialState.COMPLETE and t.value is not None]
    if not done:
        return None
    best = min(done, key=lambda t: t.value)
    default = fit.by_key.get(SearchSpace.key(fit.default_options))

    def stats(t) -> dict:
        return {"options": t.user_attrs.get("options"), "score": t.value, "score_unit": s.objective.unit,
                "latency_ms": t.user_attrs.get("latency"), "costs": t.user_attrs.get("costs")}

    ratio = (default.value / best.value) if default is not None and default.value and best.value else None
    return make_profile(model_path=str(fit.path), model_sha256=fit.model.sha256, fingerprint=fit.fingerprint,
                        options=best.user_attrs["options"], algo_cache=best.user_attrs.get("algo_cache"),
                        winner_stats=stats(best), default_stats=stats(default) if default else {},
                        speedup={"median": ratio, "ci95_low": None, "ci95_high": None, "significant": None,
                                 "verdict": "not confirmed (the fit was interrupted): the best single "
                                            "trial so far, without interleaved re-measurement"},
                        fit=fit_info)
