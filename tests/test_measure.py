"""Statistics against hand-computed values and the exact binomial distribution."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadrun import measure


def binomial_half_cdf(k: int, n: int) -> Fraction:
    """P(B <= k), B ~ Binomial(n, 1/2), as an exact fraction."""
    return Fraction(sum(math.comb(n, i) for i in range(k + 1)), 2**n)


def best_symmetric_rank(n: int) -> int:
    """The largest k whose [x_(k), x_(n-k+1)] still covers the median with >= 95%, by brute
    force over every k (the definition, not the algorithm under test)."""
    ok = [k for k in range(1, n // 2 + 1) if 1 - 2 * binomial_half_cdf(k - 1, n) >= Fraction(95, 100)]
    return max(ok)


@pytest.mark.parametrize("n", [6, 7, 10, 11, 20, 50, 100, 101, 500, 1000])
def test_exact_ci_ranks_match_the_binomial_definition(n):
    k = best_symmetric_rank(n)
    lo, hi, coverage, method = measure.median_ci_ranks(n)
    assert method == "exact"
    assert (lo, hi) == (k, n - k + 1)
    assert coverage == pytest.approx(float(1 - 2 * binomial_half_cdf(k - 1, n)), abs=1e-12)
    assert coverage >= 0.95
    # one rank further in would no longer cover 95%
    assert 1 - 2 * binomial_half_cdf(k, n) < Fraction(95, 100)


def test_known_ci_ranks_from_tables():
    # Published tables of the distribution-free CI of the median (e.g. Conover, Table A3).
    assert measure.median_ci_ranks(10)[:2] == (2, 9)
    assert measure.median_ci_ranks(100)[:2] == (40, 61)
    assert measure.median_ci_ranks(10)[2] == pytest.approx(1 - 2 * 11 / 1024)


def test_ci_on_known_samples_n10():
    samples = np.array([13, 11, 19, 12, 10, 15, 17, 14, 16, 18]) * 1_000_000  # ns
    ci = measure.median_ci(samples)
    # sorted: 10..19 ms; ranks 2 and 9 -> 11 ms and 18 ms
    assert (ci.low, ci.high) == (11e6, 18e6)
    assert (ci.low_rank, ci.high_rank) == (2, 9)


def test_ci_on_known_samples_n100():
    rng = np.random.default_rng(7)
    samples = rng.permutation(np.arange(1, 101)) * 1000.0
    ci = measure.median_ci(samples)
    assert (ci.low, ci.high) == (40_000.0, 61_000.0)


def test_too_few_runs_gives_min_max_with_true_coverage():
    lo, hi, coverage, method = measure.median_ci_ranks(5)
    assert (lo, hi, method) == (1, 5, "too-few-runs")
    assert coverage == pytest.approx(1 - 2 / 32)
    assert measure.median_ci_ranks(1) == (1, 1, 0.0, "too-few-runs")


def test_normal_approximation_is_close_to_exact_where_they_meet():
    n = measure.EXACT_CI_MAX_N + 1
    lo, hi, coverage, method = measure.median_ci_ranks(n)
    assert method == "normal"
    assert abs(lo - best_symmetric_rank(n)) <= 1
    assert hi == n - lo + 1
    exact_coverage = float(1 - 2 * binomial_half_cdf(lo - 1, n))
    assert coverage == pytest.approx(exact_coverage, abs=0.002)
    assert exact_coverage >= 0.95


def test_normal_approximation_large_n_formula():
    n = 10_000
    lo, hi, _, _ = measure.median_ci_ranks(n)
    assert lo == math.floor(n / 2 - 1.959963984540054 * math.sqrt(n) / 2)  # 4902
    assert lo == 4902 and hi == 5099


def test_latency_stats_hand_computed():
    ms = 1_000_000
    samples = np.array([10, 12, 11, 13, 10, 11, 12, 50, 11, 10]) * ms
    s = measure.latency_stats(samples)
    assert s.n == 10
    assert s.median == 11 * ms
    assert s.min == 10 * ms and s.max == 50 * ms
    assert s.mean == pytest.approx(15 * ms)
    # sample stddev: squared deviations sum = 25+9+16+4+25+16+9+1225+16+25 = 1370; /9
    assert s.stddev == pytest.approx(math.sqrt(1370 / 9) * ms)
    assert s.cv == pytest.approx(math.sqrt(1370 / 9) / 15)
    # |x - 11| = 1,1,0,2,1,0,1,39,0,1 -> MAD = 1
    assert s.robust_cv == pytest.approx(1.482602218505602 / 11)
    # numpy linear percentiles: p90 at rank 8.1 of sorted [10,10,10,11,11,11,12,12,13,50]
    assert s.p90 == pytest.approx((13 + 0.1 * (50 - 13)) * ms)
    assert s.p99 == pytest.approx((13 + 0.91 * (50 - 13)) * ms)
    assert (s.ci.low, s.ci.high) == (10 * ms, 13 * ms)
    assert s.noise.noisy  # cv 82%
    assert "standard deviation is 82.3% of the mean" in s.noise.reason  # 12.34 / 15
    assert "CI of the median is 27.3% of the median wide" in s.noise.reason  # (13 - 10) / 11
    assert "few slow runs" not in s.noise.reason  # robust CV 13.5%: the bulk is not steady either


def test_to_dict_is_in_milliseconds():
    s = measure.latency_stats(np.full(20, 2_500_000))
    d = s.to_dict()
    for key in ("median", "p90", "p99", "min", "max", "mean", "ci95_low", "ci95_high"):
        assert d[key] == pytest.approx(2.5)
    assert d["stddev"] == 0 and d["cv"] == 0 and d["n"] == 20
    assert d["ci95_method"] == "exact"


def test_outliers_on_a_steady_bulk_are_named():
    samples = np.array([10.0] * 95 + [10.1] * 95 + [50.0] * 10)
    s = measure.latency_stats(samples)
    # median 10.1, MAD 0.1: robust CV 1.4826 * 0.1 / 10.1
    assert s.noise.noisy and s.robust_cv == pytest.approx(1.482602218505602 * 0.1 / 10.1)
    assert "from a few slow runs (robust CV 1.5%, slowest 5.0x the median)" in s.noise.reason


def test_quiet_samples_are_not_noisy():
    rng = np.random.default_rng(0)
    samples = 10e6 * (1 + 0.01 * rng.standard_normal(200))
    verdict = measure.latency_stats(samples).noise
    assert not verdict.noisy and verdict.reason is None


def test_wide_ci_alone_is_noisy():
    # small CV (< 10%) but the median's CI spans more than 5% of it: bimodal samples
    samples = np.array([100.0] * 10 + [108.0] * 10)
    s = measure.latency_stats(samples)
    assert s.cv < measure.CV_NOISY
    assert s.noise.noisy and "CI of the median" in s.noise.reason
    assert "standard deviation" not in s.noise.reason


def test_few_runs_are_noisy():
    verdict = measure.latency_stats([1.0, 1.0, 1.0]).noise
    assert verdict.noisy and "at least 6" in verdict.reason


def test_rejects_empty_and_non_finite():
    with pytest.raises(ValueError):
        measure.latency_stats([])
    with pytest.raises(ValueError):
        measure.latency_stats([1.0, float("nan")])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=10**9), min_size=1, max_size=300))
def test_ci_brackets_the_median(values):
    s = measure.latency_stats(values)
    assert s.min <= s.ci.low <= s.median <= s.ci.high <= s.max
    assert s.min <= s.median <= s.p90 <= s.p99 <= s.max


def test_runs_still_needed_counts_and_time():
    # 10 runs of 1 ms done, want 50 runs and 1 s: time dominates (990 more)
    assert measure.runs_still_needed(10, 10e6, 50, 1.0, 1e6) == 990
    # slow model (100 ms): the count dominates
    assert measure.runs_still_needed(3, 300e6, 50, 1.0, 100e6) == 47
    assert measure.runs_still_needed(50, 5e9, 50, 1.0, 100e6) == 0
    assert measure.runs_still_needed(0, 0, 1, 0.0, 5.0) == 1


def test_chunk_size_is_about_a_quarter_second():
    assert measure.chunk_size(1000, 1e6) == 250
    assert measure.chunk_size(10, 1e6) == 10
    assert measure.chunk_size(10, 1e9) == 1
