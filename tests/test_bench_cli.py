"""`loadrun bench` and `loadrun compare` on the command line: outputs, files and exit codes."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import SHARED_MODELS
from loadrun import cli
from loadrun.report.compare import BENCH_SCHEMA, load_bench
from test_bench import markdown_table

OPS = SHARED_MODELS / "ops"
needs_ops = pytest.mark.skipif(not (OPS / "conv" / "model.mge").is_file(),
                               reason=f"the shared MegEngine op models are not present at {OPS}")
QUICK = ["--warmup", "0", "--iters", "3", "--min-time", "0"]


def invoke(*args: str):
    return CliRunner().invoke(cli.app, [str(a) for a in args], prog_name="loadrun")


def assert_one_line_error(result, code: int, *fragments: str) -> None:
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("loadrun: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in result.stderr and result.stdout == ""


# -- bench ---------------------------------------------------------------------------------------

@needs_ops
def test_bench_markdown_on_stdout_progress_on_stderr():
    result = invoke("bench", OPS, "--threads", "1,2", *QUICK, "--format", "markdown")
    assert result.exit_code == 0, result.stderr
    header, *rows = markdown_table(result.stdout)
    models = sorted(d.name for d in OPS.iterdir() if (d / "model.mge").is_file())
    assert len(rows) == 2 * len(models)
    assert {(r[0], r[2]) for r in rows} == {(m, c) for m in models for c in ("default-t1", "default-t2")}
    assert f"[{2 * len(models)}/{2 * len(models)}]" in result.stderr  # progress went to stderr


@needs_ops
def test_bench_json_out_file_html_and_rerendering(tmp_path):
    out, page = tmp_path / "new.json", tmp_path / "bench.html"
    result = invoke("bench", OPS / "conv", OPS / "matmul" / "model.mge", *QUICK,
                    "--format", "json", "--out", out, "--html", page)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""  # --out takes the output
    device = json.loads(out.read_text())["device"]
    assert set(load_bench(out)) == {("conv", device, "default-t1"), ("matmul", device, "default-t1")}
    html = page.read_text()
    assert html.count("<svg") == 2 and "http" not in html
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.html", "new.json"]  # no temp files left

    again = invoke("bench", "--from", out, "--format", "csv")
    assert again.exit_code == 0, again.stderr
    rows = list(csv.DictReader(io.StringIO(again.stdout)))
    assert [r["model"] for r in rows] == ["conv", "matmul"]
    assert all(float(r["median_ms"]) > 0 for r in rows)


@needs_ops
def test_bench_table_format_is_the_default():
    result = invoke("bench", OPS / "pool", *QUICK)
    assert result.exit_code == 0, result.stderr
    assert "pool" in result.stdout and "default-t1" in result.stdout and "median ms" in result.stdout


def test_bench_errors_are_one_line(tmp_path):
    assert_one_line_error(invoke("bench", tmp_path), 2, "no .mge models found")
    (tmp_path / "bad.mge").write_bytes(b"not a model at all")
    assert_one_line_error(invoke("bench", tmp_path), 2, "bad.mge")
    assert_one_line_error(invoke("bench", tmp_path, "--format", "xml"), 2, "--format", "xml")
    assert_one_line_error(invoke("bench", tmp_path / "missing"), 2, "no such file")
    assert_one_line_error(invoke("bench", tmp_path, "--threads", "0"), 2, "--threads")
    assert_one_line_error(invoke("bench"), 2, "PATH")
    assert_one_line_error(invoke("bench", tmp_path, "--profiles", tmp_path / "nope"), 2, "--profiles")


# -- compare -------------------------------------------------------------------------------------

def bench_file(tmp_path, name: str, results: dict[str, np.ndarray]):
    doc = {"schema": BENCH_SCHEMA, "results": [
        {"model": m, "device": "local-test", "config": "default-t1", "samples_ms": s.tolist(),
         "latency_ms": {"median": float(np.median(s))}} for m, s in results.items()]}
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def test_compare_exit_1_on_a_significant_20_percent_regression(tmp_path):
    rng = np.random.default_rng(3)
    base = bench_file(tmp_path, "base.json", {"resnet18": 10 + rng.normal(0, 0.3, 100)})
    new = bench_file(tmp_path, "new.json", {"resnet18": 12 + rng.normal(0, 0.3, 100)})
    page = tmp_path / "compare.html"
    result = invoke("compare", base, new, "--html", page)
    assert result.exit_code == 1, result.stderr
    header, *rows = markdown_table(result.stdout)
    assert len(rows) == 1 and "regression" in rows[0][0]
    html = page.read_text()
    assert html.count("<svg") == 1 and "http" not in html and "regression" in html


def test_compare_exit_0_on_noise_and_json_output(tmp_path):
    rng = np.random.default_rng(4)
    base = bench_file(tmp_path, "base.json", {"m": 10 + rng.normal(0, 0.3, 100)})
    new = bench_file(tmp_path, "new.json", {"m": 10 + rng.normal(0, 0.3, 100)})
    result = invoke("compare", base, new, "--threshold", "5%", "--alpha", "0.01")
    assert result.exit_code == 0, result.stdout
    result = invoke("compare", base, new, "--format", "json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["schema"] == "loadrun.compare/1" and doc["counts"]["regression"] == 0


def test_compare_bad_input_exits_2_with_one_line(tmp_path):
    good = bench_file(tmp_path, "good.json", {"m": np.array([1.0, 1.1, 0.9])})
    bad = tmp_path / "bad.json"
    bad.write_text("{ not json")
    assert_one_line_error(invoke("compare", good, bad), 2, "bad.json")
    assert_one_line_error(invoke("compare", good, tmp_path / "missing.json"), 2, "no such file")
    assert_one_line_error(invoke("compare", good, good, "--threshold", "lots"), 2, "threshold")
    assert_one_line_error(invoke("compare", good, good, "--alpha", "2"), 2, "--alpha")
    assert_one_line_error(invoke("compare", good, good, "--format", "yaml"), 2, "--format")
