"""The noise-aware decision: finalists and the default configuration are re-measured
interleaved (A B C A B C …), so slow drifts of the machine hit every candidate alike, and the
winner is chosen on medians with confidence intervals (loadrun/measure.py).

Each round runs every candidate once (a fresh process: load, first run, a short timed loop) and
gives it one score. A candidate's score is the median over rounds; its speed-up over the default
is the median of the per-round ratios default/candidate (paired by round), with the
distribution-free 95% interval of that median. Two candidates whose paired ratio interval
contains 1 cannot be told apart, and the report says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from loadrun import measure
from loadrun.fit.evaluate import MeasurePlan
from loadrun.fit.objective import Costs, Objective
from loadrun.options import Options
from loadrun.targets.base import Target

DEFAULT_ROUNDS = 10
# Finalists whose paired median ratio to the leader is within this are equivalent in practice:
# once the leader is told apart from the default, more rounds to split them are not worth it.
EQUIVALENT = 0.02


@dataclass
class Finalist:
    label: str
    options: Options
    compiled: bytes
    scores: list[float] = field(default_factory=list)  # one per round
    samples_ns: list[np.ndarray] = field(default_factory=list)
    costs: list[Costs] = field(default_factory=list)
    algo_cache: bytes | None = None
    run_options: Options | None = None  # what the target runs (options + a shared algorithm cache)

    @property
    def pooled_ns(self) -> np.ndarray:
        return np.concatenate(self.samples_ns) if self.samples_ns else np.zeros(0, dtype=np.int64)

    @property
    def median_score(self) -> float:
        return float(np.median(self.scores))


@dataclass(frozen=True)
class Ratio:
    """Median of per-round ratios a/b (> 1: b is better) and its 95% interval."""

    median: float
    low: float
    high: float
    coverage: float

    @property
    def significant(self) -> bool:
        return self.low > 1.0 or self.high < 1.0

    def to_dict(self) -> dict:
        return {"median": self.median, "ci95_low": self.low, "ci95_high": self.high,
                "coverage": self.coverage, "significant": self.significant}


def paired_ratio(a: Sequence[float], b: Sequence[float]) -> Ratio:
    """Round-by-round ratio a/b over the rounds both played (a dropped finalist played the first ones)."""
    n = min(len(a), len(b))
    r = np.asarray(a[:n], dtype=np.float64) / np.maximum(np.asarray(b[:n], dtype=np.float64), 1e-300)
    ci = measure.median_ci(r)
    return Ratio(float(np.median(r)), ci.low, ci.high, ci.coverage)


@dataclass
class Decision:
    finalists: list[Finalist]  # the default is finalists[0]
    winner: Finalist
    speedup: Ratio  # default score / winner score
    tied_with: list[str]  # finalists the winner cannot be told apart from
    verdict: str  # one honest sentence
    rounds: int

    @property
    def default(self) -> Finalist:
        return self.finalists[0]


def interleave(target: Target, feeds: dict[str, np.ndarray], finalists: list[Finalist],
               objective: Objective, plan: MeasurePlan, rounds: int = DEFAULT_ROUNDS,
               progress: Callable[[int, int, str], None] | None = None,
               min_rounds: int | None = None, equivalent: float = EQUIVALENT) -> Decision:
    """Re-measure ``finalists`` (the default first) in up to ``rounds`` interleaved rounds and
    decide. With ``min_rounds``, it stops as soon as (after at least that many rounds) the leader
    separates from every other finalist (paired 95% intervals exclude 1), or from the default
    while every finalist it cannot be told apart from is within ``equivalent`` of it (paired
    median ratio); from then on a finalist the leader separates from is dropped from later rounds
    (the default never is)."""
    from loadrun.fit.evaluate import first_result_ns

    total = rounds * len(finalists)
    done = 0
    active = list(finalists)
    played = 0
    for rnd in range(rounds):
        for f in active:
            if progress:
                progress(done, total, f.label)
            r = target.run_trial(f.compiled, feeds, f.run_options or f.options, warmup=plan.warmup,
                                 iters=plan.iters, min_time_s=plan.min_time_s, want_outputs=False)
            samples = np.asarray(r.samples_ns, dtype=np.int64)
            f.samples_ns.append(samples)
            f.costs.append(Costs(float(np.median(samples)),
                                 float(first_result_ns(r.load_ns, r.first_run_ns, getattr(r, "profiling_ns", 0))),
                                 float(r.peak_rss_bytes or 0)))
            if r.algo_cache and f.algo_cache is None:
                f.algo_cache = r.algo_cache
            done += 1
        played = rnd + 1
        target.cool_down()
        if min_rounds is not None and played >= max(1, min_rounds) and len(active) > 1:
            d = decide(active, objective, played)
            if not d.tied_with:  # the leader is told apart from every other finalist
                break
            if d.winner is not active[0] and d.speedup.significant and all(
                    _pair(f, d.winner).median <= 1.0 + equivalent for f in active if f.label in d.tied_with):
                break  # better than the default for sure; the ties are equivalent in practice
            active = [f for f in active if f is active[0] or f is d.winner or f.label in d.tied_with]
            total = done + (rounds - played) * len(active)
    if progress:
        progress(done, done, "done")
    return decide(finalists, objective, played)


def decide(finalists: list[Finalist], objective: Objective, rounds: int) -> Decision:
    """Scores per round (a mix relative to the default's costs that round) and the verdict.
    Finalists dropped early have fewer rounds; ratios pair them with the first rounds of the
    others, which were interleaved with them."""
    default = finalists[0]
    for f in finalists:
        f.scores = [objective.score(c, d) for c, d in zip(f.costs, default.costs)]
    winner = min(finalists, key=lambda f: (f.median_score, f is not default))

    speedup = _pair(default, winner)
    tied = [f.label for f in finalists if f is not winner and not _pair(f, winner).significant]
    if winner is default:
        verdict = ("no configuration beat the default: it stays"
                   + (f" (cannot be told apart from {', '.join(tied)})" if tied else ""))
    elif not speedup.significant:
        verdict = (f"{winner.label} measured {speedup.median:.3f}× the default, but the 95% "
                   f"interval [{speedup.low:.3f}, {speedup.high:.3f}] contains 1: "
                   "it cannot be told apart from the default on this machine")
    else:
        verdict = (f"{winner.label} is {speedup.median:.3f}× the default "
                   f"(95% CI {speedup.low:.3f}–{speedup.high:.3f})")
        if tied:
            verdict += f"; it cannot be told apart from {', '.join(tied)}"
    return Decision(finalists, winner, speedup, tied, verdict, rounds)


def _pair(a: Finalist, b: Finalist) -> Ratio:
    return paired_ratio(a.scores, b.scores)


def finalist_stats(f: Finalist, objective: Objective) -> dict:
    """What a profile records of a finalist: latency statistics and the other costs."""
    lat = measure.latency_stats(f.pooled_ns).to_dict() if f.samples_ns else None
    return {
        "options": f.options.to_dict(),
        "score": f.median_score, "score_unit": objective.unit,
        "latency_ms": lat,
        "first_result_ms": float(np.median([c.first_ns for c in f.costs])) / 1e6 if f.costs else None,
        "peak_rss_mb": float(np.median([c.memory_bytes for c in f.costs])) / (1 << 20) if f.costs else None,
        "rounds": len(f.scores),
    }
