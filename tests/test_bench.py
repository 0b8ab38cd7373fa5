"""`loadrun.bench` and its reports: model discovery, configurations and profiles, the bench
document (what `compare` reads), markdown / CSV / rich tables and the self-contained HTML."""

from __future__ import annotations

import csv
import io
import json
import re

import numpy as np
import pytest

from conftest import SHARED_MODELS
from loadrun import bench
from loadrun.bench import BenchError, BenchModel, BenchSettings
from loadrun.errors import OptionError
from loadrun.profile import atomic_write_json, default_profile_path, file_sha256, make_profile
from loadrun.report import table
from loadrun.report.compare import BENCH_SCHEMA, compare, load_bench
from loadrun.report.html import bench_html, compare_html
from loadrun.report.svg_plot import Series, distribution_svg, log_ticks, nice_ticks

OPS = SHARED_MODELS / "ops"
needs_ops = pytest.mark.skipif(not (OPS / "conv" / "model.mge").is_file(),
                               reason=f"the shared MegEngine op models are not present at {OPS}")
QUICK = dict(warmup=0, iters=3, min_time=0.0)


@pytest.fixture(scope="module")
def ops_doc():
    """One quick bench over every shared op model (shared by the tests below)."""
    if not (OPS / "conv" / "model.mge").is_file():
        pytest.skip(f"the shared MegEngine op models are not present at {OPS}")
    return bench.run_bench([OPS], BenchSettings(**QUICK))


def markdown_table(text: str) -> list[list[str]]:
    """The cells of the one markdown table in ``text``; asserts it is well formed."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    assert len(lines) >= 3, text
    cells = [[c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines]
    assert all(len(row) == len(cells[0]) for row in cells), text
    assert all(re.fullmatch(r":?-{3,}:?", c) for c in cells[1]), lines[1]
    return [cells[0]] + cells[2:]


# -- discovery -----------------------------------------------------------------------------------

def test_finds_shared_layout_models_named_after_their_directory(tmp_path):
    for name in ("b", "a"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.mge").write_bytes(b"x")
    (tmp_path / "a" / "input.npy").write_bytes(b"x")
    (tmp_path / "loose.mge").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("not a model")
    models = bench.find_models([tmp_path])
    assert [m.name for m in models] == ["a", "b", "loose"]
    assert models[0].input_file == tmp_path / "a" / "input.npy"
    assert models[1].input_file is None


def test_the_same_file_twice_is_benched_once_and_name_clashes_are_qualified(tmp_path):
    for parent in ("x", "y"):
        (tmp_path / parent / "conv").mkdir(parents=True)
        (tmp_path / parent / "conv" / "model.mge").write_bytes(b"x")
    models = bench.find_models([tmp_path, tmp_path / "x" / "conv" / "model.mge"])
    assert [m.name for m in models] == ["x/conv", "y/conv"]


def test_no_models_and_missing_paths_are_errors(tmp_path):
    with pytest.raises(BenchError, match="no .mge models found"):
        bench.find_models([tmp_path])
    with pytest.raises(BenchError, match="no such file or directory"):
        bench.find_models([tmp_path / "missing"])


def test_parse_threads():
    assert bench.parse_threads("1,2, 2,4") == (1, 2, 4)
    for bad in ("0", "a", "1,,2"):
        with pytest.raises(OptionError):
            bench.parse_threads(bad)


# -- configurations and profiles -------------------------------------------------------------------

def _profile_for(tmp_path, model: BenchModel, fingerprint: dict, options: dict, sha256: str) -> None:
    doc = make_profile(model_path=str(model.path), model_sha256=sha256, fingerprint=fingerprint,
                       options=options, algo_cache=None, winner_stats={}, default_stats={},
                       speedup={}, fit={})
    atomic_write_json(default_profile_path(model.path, fingerprint, tmp_path / "profiles"), doc)


@needs_ops
def test_a_matching_profile_adds_a_config_and_unknown_options_are_warned(tmp_path):
    model = bench.find_models([OPS / "conv"])[0]
    fp = {"kind": "local", "machine": "m", "cpu_model": "c", "cores": 2}
    sha = file_sha256(model.path)
    _profile_for(tmp_path, model, fp, {"threads": 2, "record_level": 1}, sha)
    warnings: list[str] = []
    settings = BenchSettings(threads=(1, 2), profiles=tmp_path / "profiles", **QUICK)
    configs = bench.configurations(model, sha, settings, fp, warnings.append)
    assert [c.name for c in configs] == ["default-t1", "default-t2", "profile-t2"]
    assert configs[-1].threads == 2 and configs[-1].runtime_options == {}
    assert len(warnings) == 1 and "record_level=1" in warnings[0] and "ignored" in warnings[0]

    # Without a fitted thread count the profile runs at every --threads value.
    _profile_for(tmp_path, model, fp, {}, sha)
    configs = bench.configurations(model, sha, settings, fp, warnings.append)
    assert [c.name for c in configs] == ["default-t1", "default-t2", "profile-t1", "profile-t2"]


@needs_ops
def test_a_profile_for_another_model_or_device_is_not_used(tmp_path):
    model = bench.find_models([OPS / "conv"])[0]
    fp = {"kind": "local", "machine": "m", "cpu_model": "c", "cores": 2}
    _profile_for(tmp_path, model, fp, {"threads": 2}, "0" * 64)
    warnings: list[str] = []
    settings = BenchSettings(profiles=tmp_path / "profiles", **QUICK)
    configs = bench.configurations(model, file_sha256(model.path), settings, fp, warnings.append)
    assert [c.name for c in configs] == ["default-t1"]
    assert len(warnings) == 1 and "model digest" in warnings[0]


@needs_ops
def test_profile_configs_run_and_get_a_speedup(tmp_path):
    from loadrun.profile import local_fingerprint
    from loadrun.runtime import build_id

    model = bench.find_models([OPS / "matmul"])[0]
    _profile_for(tmp_path, model, local_fingerprint(build_id()), {"threads": 1},
                 file_sha256(model.path))
    doc = bench.run_bench([model.path], BenchSettings(profiles=tmp_path / "profiles", **QUICK))
    by_config = {r["config"]: r for r in doc["results"]}
    assert set(by_config) == {"default-t1", "profile-t1"}
    assert by_config["default-t1"]["speedup"] == 1.0
    want = by_config["default-t1"]["latency_ms"]["median"] / by_config["profile-t1"]["latency_ms"]["median"]
    assert by_config["profile-t1"]["speedup"] == pytest.approx(want)
    assert by_config["profile-t1"]["profile"].endswith(".json")


def test_speedup_is_against_the_default_of_the_same_model_and_threads():
    def r(model, config, threads, median):
        return {"model": model, "device": "d", "config": config, "threads": threads,
                "latency_ms": {"median": median}}
    results = [r("m", "default-t1", 1, 10.0), r("m", "default-t2", 2, 6.0),
               r("m", "profile-t2", 2, 4.0), r("n", "profile-t1", 1, 1.0)]
    bench.add_speedups(results)
    assert [x["speedup"] for x in results] == [1.0, 1.0, 1.5, None]


# -- the bench document --------------------------------------------------------------------------

def test_bench_document_round_trips_through_load_bench(ops_doc, tmp_path):
    names = sorted(d.name for d in OPS.iterdir() if (d / "model.mge").is_file())
    assert ops_doc["schema"] == BENCH_SCHEMA
    assert sorted(r["model"] for r in ops_doc["results"]) == names
    path = tmp_path / "bench.json"
    path.write_text(bench.to_json(ops_doc))
    entries = load_bench(path)
    assert len(entries) == len(names)
    for r in ops_doc["results"]:
        entry = entries[(r["model"], r["device"], r["config"])]
        assert entry.samples_ms.size == r["latency_ms"]["n"] == r["iters"] >= 3
        assert entry.median_ms == r["latency_ms"]["median"] == pytest.approx(np.median(r["samples_ms"]))
        assert r["config"] == "default-t1" and r["options"] == "threads=1"
        assert r["speedup"] == 1.0
        assert r["inputs"][0].endswith("input.npy")  # the model's own input, not random data
        assert (r["gflops"] is None) == (r["flops"] == 0)
        assert r["peak_rss_mb"] > 0 and r["load_ms"] > 0 and r["first_run_ms"] > 0
    conv = next(r for r in ops_doc["results"] if r["model"] == "conv")
    assert conv["flops"] == json.loads((OPS / "conv" / "meta.json").read_text())["flops"]
    assert conv["gflops"] == pytest.approx(conv["flops"] / conv["latency_ms"]["median"] / 1e6)
    # The same document compared with itself: nothing changes.
    assert compare(entries, entries).exit_code() == 0


def test_markdown_table_has_one_row_per_result(ops_doc):
    text = table.to_markdown(ops_doc)
    header, *body = markdown_table(text)
    assert header[:3] == ["model", "device", "config"] and "speed-up" in header
    assert len(body) == len(ops_doc["results"])
    assert [row[0] for row in body] == [r["model"] for r in ops_doc["results"]]


def test_csv_parses_with_numbers(ops_doc):
    rows = list(csv.DictReader(io.StringIO(table.to_csv(ops_doc))))
    assert len(rows) == len(ops_doc["results"])
    for row, r in zip(rows, ops_doc["results"]):
        assert float(row["median_ms"]) == r["latency_ms"]["median"]
        assert row["model_sha256"] == r["model_sha256"]
        assert row["gflops"] == ("" if r["gflops"] is None else str(r["gflops"]))


def test_html_is_one_self_contained_file_with_a_plot_per_model(ops_doc):
    page = bench_html(ops_doc)
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == len(ops_doc["results"])
    assert "http" not in page and "<script" not in page and "<link" not in page


def test_compare_html_shows_before_and_after():
    def doc(scale):
        rng = np.random.default_rng(int(scale * 10))
        s = 10 * scale + rng.normal(0, 0.2, 60)
        return {("m", "d", "default-t1"): bench_entry(s)}
    base, new = doc(1.0), doc(1.2)
    result = compare(base, new)
    page = compare_html(result, base, new, "base.json", "new.json")
    assert page.count("<svg") == 1 and "regression" in page and "1.2" in page
    assert "http" not in page and "base.json" in page and "new.json" in page


def bench_entry(samples):
    from loadrun.report.compare import Entry

    return Entry(("m", "d", "default-t1"), float(np.median(samples)), np.asarray(samples))


# -- plots ---------------------------------------------------------------------------------------

def test_ticks_are_round_and_cover_the_range():
    assert nice_ticks(0.0, 1.0) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(0.07, 0.16) == [0.08, 0.1, 0.12, 0.14, 0.16]
    assert log_ticks(0.05, 6.0) == [0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0]


def test_slow_outliers_are_counted_at_the_edge_not_plotted_to_scale():
    samples = np.concatenate([np.full(200, 1.0) + np.linspace(0, 0.1, 200), [50.0, 80.0]])
    svg = distribution_svg([Series("default-t1", samples, "#000")])
    assert "2 slower" in svg and "log scale" not in svg
    wide = distribution_svg([Series("a", np.linspace(1, 2, 50), "#000"),
                             Series("b", np.linspace(10, 20, 50), "#111")])
    assert "log scale" in wide
