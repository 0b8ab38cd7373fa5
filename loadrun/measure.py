"""Timing statistics over per-run samples (nanoseconds), and peak memory: what `loadrun` quotes.

Pure functions on numpy arrays. The methods (and the thresholds of the noise verdict) are
documented in ``docs/run-json.md``; change both together.

- Percentiles use numpy's default linear interpolation between order statistics.
- ``stddev`` is the sample standard deviation (ddof=1); ``cv = stddev / mean``.
- ``robust_cv = 1.4826 * MAD / median``: the CV a normal distribution with the same MAD would
  have, so it is comparable with ``cv`` but ignores a few outliers.
- The 95% confidence interval of the median is distribution-free: ``[x_(k), x_(n-k+1)]`` of the
  sorted samples, with ``k`` the largest rank such that ``P(B <= k-1) <= 2.5%`` for
  ``B ~ Binomial(n, 1/2)``. The binomial tail is computed exactly (integer arithmetic) up to
  ``EXACT_CI_MAX_N`` samples and by the normal approximation above that.
"""

from __future__ import annotations

import math
import resource
import sys
from dataclasses import dataclass
from fractions import Fraction
from statistics import NormalDist

import numpy as np

CONFIDENCE = 0.95
EXACT_CI_MAX_N = 1000
# pyperf warns when the standard deviation exceeds 10% of the mean; so do we.
CV_NOISY = 0.10
# The median is not pinned down when its 95% CI is wider than 5% of it (±2.5%).
CI_WIDTH_NOISY = 0.05
# The median's CI needs at least 6 runs: with 5, [min, max] covers only 93.75%.
MIN_RUNS_FOR_CI = 6
# A chunk of the timed loop lasts about this long, so progress and Ctrl-C stay responsive.
CHUNK_TARGET_NS = 250_000_000
_STANDARD_NORMAL = NormalDist()
_MAD_TO_SIGMA = 1.0 / _STANDARD_NORMAL.inv_cdf(0.75)


@dataclass(frozen=True)
class MedianCI:
    """A confidence interval of the median by order statistics."""

    low: float
    high: float
    low_rank: int  # 1-based ranks in the sorted samples
    high_rank: int
    coverage: float  # the interval's actual coverage probability (>= CONFIDENCE when possible)
    method: str  # "exact" | "normal" | "too-few-runs"


@dataclass(frozen=True)
class NoiseVerdict:
    noisy: bool
    reason: str | None


@dataclass(frozen=True)
class LatencyStats:
    """Summary of per-run latencies; every time field is in nanoseconds."""

    n: int
    median: float
    p90: float
    p99: float
    min: float
    max: float
    mean: float
    stddev: float
    cv: float
    robust_cv: float
    ci: MedianCI
    noise: NoiseVerdict

    def to_dict(self) -> dict:
        """The ``latency_ms`` object of the run JSON: times in milliseconds."""
        ms = 1e6  # dividing, not multiplying by 1e-6, keeps whole nanoseconds exact in ms
        return {
            "median": self.median / ms,
            "p90": self.p90 / ms,
            "p99": self.p99 / ms,
            "min": self.min / ms,
            "max": self.max / ms,
            "mean": self.mean / ms,
            "stddev": self.stddev / ms,
            "ci95_low": self.ci.low / ms,
            "ci95_high": self.ci.high / ms,
            "ci95_coverage": self.ci.coverage,
            "ci95_method": self.ci.method,
            "cv": self.cv,
            "robust_cv": self.robust_cv,
            "n": self.n,
        }


def _as_samples(samples) -> np.ndarray:
    x = np.asarray(samples, dtype=np.float64).ravel()
    if x.size == 0:
        raise ValueError("no samples")
    if not np.all(np.isfinite(x)):
        raise ValueError("samples must be finite")
    return x


def median_ci_ranks(n: int, confidence: float = CONFIDENCE) -> tuple[int, int, float, str]:
    """1-based ranks ``(k, n-k+1)`` of the order statistics bounding the median, the coverage
    of that interval and the method used. With too few runs for ``confidence`` the interval is
    ``[min, max]`` and its (lower) coverage is reported as is."""
    if n < 1:
        raise ValueError("n must be >= 1")
    alpha_half = (1.0 - confidence) / 2.0
    if n <= EXACT_CI_MAX_N:
        # Largest k with P(B <= k-1) <= alpha/2, compared exactly (integers and a fraction).
        total = 2**n
        limit = (1 - Fraction(confidence).limit_denominator(10**9)) / 2 * total
        tail = 0  # sum_{i < k} C(n, i)
        k = 0
        while k < n and tail + math.comb(n, k) <= limit:
            tail += math.comb(n, k)
            k += 1
        if k == 0:
            return 1, n, 1.0 - 2.0 / total, "too-few-runs"
        coverage = 1.0 - 2.0 * tail / total
        return k, n - k + 1, coverage, "exact"
    # Normal approximation of the binomial, with continuity correction, rounded outwards.
    z = _STANDARD_NORMAL.inv_cdf(1.0 - alpha_half)
    sd = math.sqrt(n) / 2.0
    k = max(1, math.floor(n / 2.0 - z * sd))
    coverage = 1.0 - 2.0 * _STANDARD_NORMAL.cdf((k - 0.5 - n / 2.0) / sd)
    return k, n - k + 1, coverage, "normal"


def median_ci(samples, confidence: float = CONFIDENCE) -> MedianCI:
    """Distribution-free confidence interval of the median of ``samples``."""
    x = np.sort(_as_samples(samples))
    lo, hi, coverage, method = median_ci_ranks(x.size, confidence)
    return MedianCI(float(x[lo - 1]), float(x[hi - 1]), lo, hi, coverage, method)


def noise_verdict(n: int, median: float, cv: float, robust_cv: float, max_: float,
                  ci: MedianCI) -> NoiseVerdict:
    """Noisy when the spread or the uncertainty of the median is too large to trust."""
    if n < MIN_RUNS_FOR_CI:
        return NoiseVerdict(True, f"only {n} timed runs: at least {MIN_RUNS_FOR_CI} are needed "
                                  f"for a 95% confidence interval of the median")
    reasons = []
    if cv > CV_NOISY:
        reason = f"the standard deviation is {cv:.1%} of the mean (threshold {CV_NOISY:.0%})"
        if robust_cv <= CV_NOISY:  # the bulk is steady: say so, the spread is a few slow runs
            reason += (f", from a few slow runs (robust CV {robust_cv:.1%}, slowest "
                       f"{max_ / median:.1f}x the median)")
        reasons.append(reason)
    width = (ci.high - ci.low) / median if median > 0 else math.inf
    if width > CI_WIDTH_NOISY:
        reasons.append(f"the 95% CI of the median is {width:.1%} of the median wide "
                       f"(threshold {CI_WIDTH_NOISY:.0%})")
    if not reasons:
        return NoiseVerdict(False, None)
    return NoiseVerdict(True, "; ".join(reasons) +
                        ": the machine may be busy or throttling; try more --iters/--min-time")


def latency_stats(samples) -> LatencyStats:
    """All statistics of per-run samples (ns)."""
    x = _as_samples(samples)
    n = int(x.size)
    median = float(np.median(x))
    mean = float(np.mean(x))
    stddev = float(np.std(x, ddof=1)) if n > 1 else 0.0
    cv = stddev / mean if mean > 0 else 0.0
    mad = float(np.median(np.abs(x - median)))
    robust_cv = _MAD_TO_SIGMA * mad / median if median > 0 else 0.0
    ci = median_ci(x)
    p90, p99 = (float(v) for v in np.percentile(x, [90.0, 99.0]))
    return LatencyStats(n=n, median=median, p90=p90, p99=p99, min=float(x.min()),
                        max=float(x.max()), mean=mean, stddev=stddev, cv=cv, robust_cv=robust_cv,
                        ci=ci, noise=noise_verdict(n, median, cv, robust_cv, float(x.max()), ci))


def runs_still_needed(done: int, elapsed_ns: float, iters: int, min_time_s: float,
                      estimate_ns: float) -> int:
    """How many more runs are needed for both at least ``iters`` runs and at least ``min_time_s``
    of measured run time, given ``done`` runs totalling ``elapsed_ns`` and a per-run estimate."""
    by_count = iters - done
    remaining_ns = min_time_s * 1e9 - elapsed_ns
    by_time = math.ceil(remaining_ns / max(estimate_ns, 1.0)) if remaining_ns > 0 else 0
    return max(0, by_count, by_time)


def chunk_size(remaining: int, estimate_ns: float, target_ns: float = CHUNK_TARGET_NS) -> int:
    """Runs in the next chunk of the timed loop: about ``target_ns`` worth, at least one."""
    return max(1, min(remaining, int(target_ns // max(estimate_ns, 1.0))))


def peak_rss_bytes() -> int:
    """Peak resident set size of this process (Python, numpy and the native runtime) since it
    started, or since the last successful :func:`reset_peak_rss`."""
    try:  # Linux: the high-water mark itself, which reset_peak_rss can lower
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # macOS: bytes, Linux: KiB


def reset_peak_rss() -> bool:
    """Lower the peak RSS to the current RSS (Linux ``/proc/self/clear_refs``), so that one
    process can measure several models in turn; False where the platform cannot."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False
