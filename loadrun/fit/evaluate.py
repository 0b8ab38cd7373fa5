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
    """How much measuring a trial gets: ``chunks`` runner invocations, each with ``warmup``
    untimed runs and at least ``iters`` runs / ``min_time_s`` seconds of timed runs."""

    warmup: int = 2
    iters: int = 5
    min_time_s: float = 0.2
    chunks: int = 3

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

    @property
    def passed(self) -> bool:
        return self.error is None

    def costs(self) -> Costs:
        return Costs(float(np.median(self.samples_ns)), float(self.load_ns + self.first_run_ns),
                     float(self.peak_rss_bytes or 0))


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
            on_chunk: Callable[[int, np.ndarray, TrialResult], bool] | None = None) -> Measurement:
    """Run ``plan.chunks`` chunks; after each, ``on_chunk(step, samples so far, first result)``
    may return True to stop early (pruned: the measurement keeps what it has). The first chunk
    brings back the outputs, and a configuration whose outputs are off stops there."""
    first: TrialResult | None = None
    samples: list[np.ndarray] = []
    m: Measurement | None = None
    wall = 0.0
    for step in range(plan.chunks):
        r = target.run_trial(compiled, feeds, options, warmup=plan.warmup, iters=plan.iters,
                             min_time_s=plan.min_time_s, want_outputs=step == 0)
        wall += r.wall_s
        samples.append(np.asarray(r.samples_ns, dtype=np.int64))
        if first is None:
            first = r
            checks, error = (check_outputs(r.outputs, reference, output_names)
                             if reference is not None else (None, None))
            m = Measurement(options, samples[0], r.load_ns, r.first_run_ns, r.peak_rss_bytes,
                            checks, error, r.algo_cache, dict(r.stats), throttled=r.throttled)
            if error:
                m.wall_s, m.chunks_done = wall, 1
                return m
        else:
            m.throttled |= r.throttled
            if r.peak_rss_bytes is not None:  # the peak is the worst any chunk saw
                m.peak_rss_bytes = max(m.peak_rss_bytes or 0, r.peak_rss_bytes)
        m.samples_ns = np.concatenate(samples)
        m.wall_s, m.chunks_done = wall, step + 1
        if on_chunk is not None and step + 1 < plan.chunks and on_chunk(step, m.samples_ns, first):
            break
    return m
