"""Measure one configuration on a target: a trial, run in chunks so a pruner can stop it, with
its outputs checked against the reference (the accuracy guard)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from loadrun import accuracy
from loadrun.fit.objective import Costs
from loadrun.options import Options
from loadrun.targets.base import Target, TrialResult


@dataclass(frozen=True)
class MeasurePlan:
    """How much measuring a trial gets: ``warmup`` untimed runs after the first, then ``chunks``
    chunks of at least ``iters`` runs / ``min_time_s`` seconds of timed runs each (one process on a
    streaming target; a chunk is the pruner's step). Small chunks make losing trials cheap: the
    pruner stops them after the first chunk or two, promising ones get every chunk."""

    warmup: int = 1
    iters: int = 2
    min_time_s: float = 0.1
    chunks: int = 5

    def to_dict(self) -> dict:
        return {"warmup": self.warmup, "iters": self.iters, "min_time_s": self.min_time_s,
                "chunks": self.chunks}


@dataclass
class Measurement:
    options: Options
    samples_ns: np.ndarray
    load_ns: int
    first_run_ns: int
    peak_rss_bytes: int | None
    checks: list[accuracy.OutputCheck] | None
    error: str | None = None  # why this configuration failed (accuracy, or it did not run)
    algo_cache: bytes | None = None
    stats: dict = field(default_factory=dict)
    wall_s: float = 0.0
    chunks_done: int = 0
    throttled: bool = False
    profiling_ns: int = 0  # fast-run profiling inside load_ns (reported apart, see costs())
    chunk_sizes: list[int] = field(default_factory=list)  # samples per chunk (empty: one chunk)

    def latency_ns(self) -> float:
        return steady_latency_ns(self.samples_ns, self.chunk_sizes)

    @property
    def passed(self) -> bool:
        return self.error is None

    def costs(self) -> Costs:
        """Latency, time to first result, memory. Fast-run profiling is not charged to the time to
        first result: the profile carries the algorithm cache, so a run with the profile loads
        without profiling (trials sharing the cache see the same); it is reported apart."""
        return Costs(self.latency_ns(), float(first_result_ns(self.load_ns, self.first_run_ns,
                                                                              self.profiling_ns)),
                     float(self.peak_rss_bytes or 0))


def steady_latency_ns(samples_ns: np.ndarray, chunk_sizes: Sequence[int] = ()) -> float:
    """A trial's latency for the search: the lower quartile of its runs. On a shared machine other
    processes only ever slow runs down, in bursts that come and go within a trial (and here
    bimodally: a run lands on a free core or a busy one); the lower quartile is the configuration's
    own speed as long as a quarter of its runs ran undisturbed, where the median needs half. The
    pruner compares the same statistic of the runs so far with the incumbent's. The final choice
    is made on medians of interleaved rounds (confirm.py). ``chunk_sizes`` is accepted for
    statistics per chunk and not needed here."""
    samples = np.asarray(samples_ns)
    if samples.size == 0:
        return float("nan")
    return float(np.percentile(samples, 25))


def first_result_ns(load_ns: int, first_run_ns: int, profiling_ns: int = 0) -> int:
    """Load + first run, without the fast-run profiling a carried algorithm cache avoids."""
    return max(0, int(load_ns) - max(0, int(profiling_ns or 0))) + int(first_run_ns)


def check_outputs(outputs: Sequence[np.ndarray] | None, reference: Sequence[np.ndarray],
                  names: Sequence[str]) -> tuple[list[accuracy.OutputCheck], str | None]:
    """Compare a trial's outputs with the reference; the error names the worst output."""
    if outputs is None:
        return [], "the target returned no outputs to check"
    if len(outputs) != len(reference):
        return [], f"{len(outputs)} outputs, the reference has {len(reference)}"
    checks = [accuracy.compare_output(n, np.asarray(o), np.asarray(r))
              for n, o, r in zip(names, outputs, reference)]
    bad = [c for c in checks if not c.passed]
    return checks, ("; ".join(f"output {c.name}: {c.problem}" for c in bad) or None)


def measure(target: Target, compiled: bytes, feeds: dict[str, np.ndarray], options: Options,
            plan: MeasurePlan, reference: Sequence[np.ndarray] | None, output_names: Sequence[str],
            on_chunk: Callable[[int, np.ndarray, TrialResult], bool] | None = None,
            run_options: Options | None = None) -> Measurement:
    """One trial of ``plan.chunks`` chunks; after each, ``on_chunk(step, samples so far, result
    so far)`` may return True to stop early (pruned: the measurement keeps what it has,
    ``chunks_done < plan.chunks``). A target with ``stream_trial`` runs the whole trial in one
    process (load, first run and peak memory measured once, honestly); any other is driven one
    ``run_trial`` per chunk. Outputs of a completed trial are checked against the reference
    (accuracy guard); a configuration whose outputs are off fails. ``run_options`` is what the
    target runs (``options`` plus a shared algorithm cache file), ``options`` what is recorded."""
    from loadrun.targets.local import chunked_trial

    run = run_options or options
    stream = getattr(target, "stream_trial", None)
    kw = dict(warmup=plan.warmup, iters=plan.iters, min_time_s=plan.min_time_s, chunks=plan.chunks,
              want_outputs=reference is not None, on_chunk=on_chunk)
    r = stream(compiled, feeds, run, **kw) if stream is not None else chunked_trial(target, compiled, feeds, run, **kw)
    samples = np.asarray(r.samples_ns, dtype=np.int64)
    checks, error = None, None
    if reference is not None and not r.stopped:
        checks, error = check_outputs(r.outputs, reference, output_names)
    elif reference is not None and r.outputs is not None:  # stopped, but the outputs came (chunked)
        checks, error = check_outputs(r.outputs, reference, output_names)
    m = Measurement(options, samples, r.load_ns, r.first_run_ns, r.peak_rss_bytes, checks, error,
                    r.algo_cache, dict(r.stats), wall_s=r.wall_s,
                    chunks_done=r.chunks if r.stopped else plan.chunks, throttled=r.throttled)
    m.profiling_ns = int(getattr(r, "profiling_ns", 0) or 0)
    m.chunk_sizes = list(getattr(r, "chunk_sizes", None) or [])
    return m
