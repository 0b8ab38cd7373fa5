"""`loadrun compare`: significance, threshold, added/removed and malformed input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from loadrun.report.compare import (BENCH_SCHEMA, CompareInputError, compare, load_bench,
                                    mann_whitney_p, parse_threshold)


def bench_doc(results):
    return {"schema": BENCH_SCHEMA, "results": [
        {"model": m, "device": "local", "config": c, "samples_ms": list(map(float, s)),
         "latency_ms": {"median": float(np.median(s))}} for m, c, s in results]}


def write(tmp_path, name, doc):
    p = tmp_path / name
    p.write_text(json.dumps(doc))
    return p


def test_mann_whitney_matches_exact_small_case():
    # No overlap between 4 and 4 samples: U = 0; normal approx with continuity: z = (8 - 0.5)/sqrt(16*9/12)
    p = mann_whitney_p(np.array([1.0, 2, 3, 4]), np.array([5.0, 6, 7, 8]))
    z = (8 - 0.5) / math.sqrt(4 * 4 / 12 * 9)
    assert p == pytest.approx(math.erfc(z / math.sqrt(2)))
    assert mann_whitney_p(np.array([1.0, 1, 1]), np.array([1.0, 1, 1])) == 1.0


def test_flags_a_significant_20_percent_regression(tmp_path):
    rng = np.random.default_rng(1)
    base = 10 + rng.normal(0, 0.3, 200)
    new = 12 + rng.normal(0, 0.3, 200)
    b = write(tmp_path, "b.json", bench_doc([("resnet18", "default", base)]))
    n = write(tmp_path, "n.json", bench_doc([("resnet18", "default", new)]))
    result = compare(load_bench(b), load_bench(n), threshold=0.05)
    (row,) = result.rows
    assert row.status == "regression"
    assert row.ratio == pytest.approx(1.2, rel=0.02)
    assert result.exit_code() == 1
    assert "regression" in result.to_markdown()


def test_ignores_a_20_percent_change_drowned_in_noise(tmp_path):
    base = np.array([10.0, 4.0, 16.0, 7.0, 13.0])
    new = np.array([12.0, 5.0, 19.0, 8.0, 15.5])
    result = compare(load_bench(write(tmp_path, "b.json", bench_doc([("m", "default", base)]))),
                     load_bench(write(tmp_path, "n.json", bench_doc([("m", "default", new)]))))
    (row,) = result.rows
    assert abs(row.ratio - 1.2) < 0.05
    assert row.status == "unchanged" and row.note == "not significant"
    assert result.exit_code() == 0


def test_improvement_is_not_a_failure(tmp_path):
    rng = np.random.default_rng(2)
    result = compare(load_bench(write(tmp_path, "b.json", bench_doc([("m", "d", 10 + rng.normal(0, .2, 100))]))),
                     load_bench(write(tmp_path, "n.json", bench_doc([("m", "d", 8 + rng.normal(0, .2, 100))]))))
    assert result.rows[0].status == "improvement"
    assert result.exit_code() == 0


def test_added_and_removed_models(tmp_path):
    s = [1.0, 1.1, 0.9]
    result = compare(load_bench(write(tmp_path, "b.json", bench_doc([("old", "default", s), ("both", "default", s)]))),
                     load_bench(write(tmp_path, "n.json", bench_doc([("new", "default", s), ("both", "default", s)]))))
    status = {r.model: r.status for r in result.rows}
    assert status == {"old": "removed", "new": "added", "both": "unchanged"}
    assert result.exit_code() == 0


@pytest.mark.parametrize("content", [
    "not json", "[]", json.dumps({"schema": "other/1", "results": []}),
    json.dumps({"schema": BENCH_SCHEMA, "results": [{"model": "m"}]}),
    json.dumps({"schema": BENCH_SCHEMA, "results": [{"model": "m", "samples_ms": [], "latency_ms": {"median": 1}}]}),
    json.dumps({"schema": BENCH_SCHEMA, "results": "x"}),
])
def test_malformed_files_are_rejected(tmp_path, content):
    p = tmp_path / "bad.json"
    p.write_text(content)
    with pytest.raises(CompareInputError) as e:
        load_bench(p)
    assert str(p) in str(e.value)
    assert e.value.exit_code == 2


def test_missing_file_is_rejected(tmp_path):
    with pytest.raises(CompareInputError):
        load_bench(tmp_path / "nope.json")


def test_threshold_parsing():
    assert parse_threshold("5%") == pytest.approx(0.05)
    assert parse_threshold("0.1") == pytest.approx(0.1)
    with pytest.raises(CompareInputError):
        parse_threshold("five")
