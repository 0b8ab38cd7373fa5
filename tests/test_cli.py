"""The command line: dispatch, output modes, exit codes and one-line errors."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

from loadrun import accuracy, api, cli
from loadrun.errors import UnsupportedOperatorError

from json_schema import validate

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / ".." / "shared" / "models"
RESNET18 = MODELS / "resnet18"
MODEL = str(RESNET18 / "model.mge")
SCHEMA = json.loads((ROOT / "loadrun" / "schemas" / "run.schema.json").read_text())
needs_models = pytest.mark.skipif(not (RESNET18 / "model.mge").is_file(),
                                  reason=f"shared models not found at {MODELS}")
QUICK = ["--warmup", "1", "--iters", "3", "--min-time", "0"]


def invoke(*args: str):
    return CliRunner().invoke(cli.app, list(args), prog_name="loadrun")


def assert_one_line_error(result, code: int, *fragments: str) -> None:
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("loadrun: error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in result.stderr and result.stdout == ""


# -- run: output modes -----------------------------------------------------------------------------

@needs_models
def test_model_positional_json_validates_against_the_schema():
    result = invoke(MODEL, "--json", "--check", *QUICK)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)  # stdout is the JSON document and nothing else
    assert validate(doc, SCHEMA) == []
    assert doc["options"]["iters"] == 3 and doc["options"]["warmup"] == 1
    assert doc["check"]["passed"] is True
    assert "check" in doc and doc["model"]["path"] == MODEL


@needs_models
def test_explicit_run_subcommand_is_the_same_command():
    result = invoke("run", MODEL, "--json", *QUICK, "--threads", "2")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["options"]["threads"] == 2


@needs_models
def test_plain_text_when_stdout_is_not_a_terminal(tmp_path):
    out = tmp_path / "o.npz"
    result = invoke(MODEL, *QUICK, "--input", f"data={RESNET18 / 'input.npy'}",
                    "--save-outputs", str(out))
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert "median" in text and "95% CI" in text and "first run" in text and "peak RSS" in text
    assert "│" not in text and "\x1b[" not in text  # no table borders, no colour
    assert f"outputs saved" in text
    with np.load(out) as z:
        assert list(z.keys()) == ["output"]


def test_profile_nodes_on_the_demo_model():
    """--profile-nodes: one row per kernel node (aliases have none), shares summing to 1, in the
    JSON document (schema-valid) and as two tables in the text report."""
    result = invoke("--json", *QUICK, "--profile-nodes", "3", "--record", "1")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert validate(doc, SCHEMA) == []
    prof = doc["node_profile"]
    assert prof["runs"] == 3 and len(prof["nodes"]) == doc["runtime"]["kernels"]
    assert all(n["algo"] != "alias" and n["median_ms"] >= 0 for n in prof["nodes"])
    assert abs(sum(n["share"] for n in prof["nodes"]) - 1) < 1e-9
    assert [n["index"] for n in prof["nodes"]] == sorted(n["index"] for n in prof["nodes"])
    text = invoke(*QUICK, "--profile-nodes", "2").stdout
    assert "operator profile:" in text and "time per operator" in text and "Conv" in text
    assert "node_profile" not in json.loads(invoke("--json", *QUICK).stdout)


def test_profile_nodes_through_the_runner():
    """The device path (the runner, as on a phone) gives the same profile structure, record 2 too."""
    from loadrun.options import Options
    from loadrun.targets.device_run import run_on_target
    from loadrun.targets.local import LocalTarget

    target = LocalTarget()
    try:
        config = api.RunConfig(warmup=0, iters=2, min_time=0, profile_nodes=3, options=Options(record=2))
        report = run_on_target(target, None, config=config)
    finally:
        target.close()
    prof = report.node_profile
    assert prof["runs"] == 3 and len(prof["nodes"]) == report.runtime["kernels"]
    assert {"Conv", "Pooling"} <= {n["op"] for n in prof["nodes"]}
    assert validate(report.to_dict()["node_profile"], SCHEMA["properties"]["node_profile"]) == []
    assert "node_times_ns" not in report.runtime


@needs_models
def test_rich_table_on_a_terminal():
    report = api.run_model(RESNET18 / "model.mge", [], api.RunConfig(warmup=0, iters=6, min_time=0))
    buffer = io.StringIO()
    cli.render_report(report, Console(file=buffer, force_terminal=True, width=120))
    rendered = buffer.getvalue()
    assert "median" in rendered and "95% CI" in rendered and "│" in rendered


def test_report_rows_format_known_numbers():
    doc = {
        "model": {"path": "m.mge", "sha256": "ab" * 32, "name": "m"},
        "inputs": [{"name": "x", "shape": [1, 3], "dtype": "float32", "source": "random(seed=0)"}],
        "outputs": [{"name": "y", "shape": [1], "dtype": "float32"}],
        "options": {"threads": 2, "warmup": 5},
        "load_ms": 1500.0, "first_run_ms": 12.3456, "iters": 50, "total_time_s": 1.234,
        "latency_ms": {"median": 10.0, "ci95_low": 9.5, "ci95_high": 10.5, "p90": 11.0,
                       "p99": 12.0, "min": 0.5, "max": 13.0, "mean": 10.2, "stddev": 0.3,
                       "cv": 0.0294, "robust_cv": 0.02},
        "noisy": True, "noise_reason": "too noisy", "peak_rss_mb": 100.25,
        "runtime": {"arena_bytes": 3 << 20, "weight_bytes": 1 << 20},
        "check": {"outputs": [{"name": "y", "passed": False, "problem": "bad", "tolerance": 1e-4,
                               "max_abs_error": 0.5, "max_rel_error": 0.5}]},
    }
    rows = dict(cli.report_rows(doc))
    assert rows["load"] == "1.500 s"
    assert rows["first run"] == "12.346 ms"
    assert rows["median"] == "10.000 ms  (95% CI 9.500 ms – 10.500 ms)"
    assert rows["min / max"] == "500.00 µs / 13.000 ms"
    assert rows["cv"] == "2.9% (robust 2.0%)"
    assert rows["inputs"] == "x: float32[1, 3] from random(seed=0)"
    assert rows["runtime memory"] == "arena 3.0 MiB, weights 1.0 MiB"
    assert rows["noise"] == "NOISY: too noisy"
    assert rows["check y"].startswith("FAIL: bad (max abs 0.5")


# -- run: errors and exit codes ------------------------------------------------------------------

def test_missing_model_file(tmp_path):
    assert_one_line_error(invoke(str(tmp_path / "absent.mge")), 2, "absent.mge",
                          "No such file or directory")


def test_not_a_model(tmp_path):
    junk = tmp_path / "junk.mge"
    junk.write_bytes(b"this is not a model at all" * 10)
    assert_one_line_error(invoke(str(junk)), 2, "junk.mge")


@needs_models
@pytest.mark.parametrize("make, fragments", [
    (lambda d: f"nope={d / 'x.npy'}", ["no input 'nope'", "its inputs are: data"]),
    (lambda d: str(d / "absent.npy"), ["input 'data'", "no such file"]),
    (lambda d: str(d / "text.txt"), ["input 'data'", "not a .npy file"]),
    (lambda d: str(d / "small.npy"), ["input 'data'", "expected shape float32[1, 3, 224, 224]",
                                      "got float32[1, 3, 8, 8]"]),
    (lambda d: str(d / "double.npy"), ["input 'data'", "expected dtype", "got float64"]),
])
def test_bad_inputs(tmp_path, make, fragments):
    np.save(tmp_path / "small.npy", np.zeros((1, 3, 8, 8), np.float32))
    np.save(tmp_path / "double.npy", np.zeros((1, 3, 224, 224), np.float64))
    (tmp_path / "text.txt").write_text("0.5\n")
    assert_one_line_error(invoke(MODEL, "--input", make(tmp_path), *QUICK), 2, *fragments)


@pytest.mark.parametrize("args, fragment", [
    (["--iters", "0"], "--iters must be at least 1"),
    (["--threads", "0"], "--threads must be at least 1"),
    (["--min-time", "-1"], "--min-time must be"),
    (["--iters", "abc"], "Invalid value for '--iters'"),
    (["--warmup", "1.5"], "Invalid value for '--warmup'"),
    (["--profile-nodes", "-1"], "--profile-nodes must be"),
])
def test_bad_option_values(args, fragment):
    assert_one_line_error(invoke("model.mge", *args), 2, fragment)


def test_unknown_layout_is_refused():
    assert_one_line_error(invoke("model.mge", "--layout", "nchw99"), 2, "layout must be one of")


@pytest.mark.parametrize("args,fragment", [
    (["--record", "3"], "--record must be 0, 1 or 2"),
    (["--record", "x"], "Invalid value for '--record'"),
    (["--fast-run", "fastest"], "--fast-run must be one of"),
    (["--affinity", "a,b"], "--affinity"),
    (["--affinity", "4096"], "not available to this process"),
    (["--algo-cache", "/nonexistent-dir/x.cache"], "does not exist"),
    (["--weight-preprocess", "1"], "Got unexpected extra argument"),
])
def test_runtime_option_errors_are_one_line(args, fragment):
    assert_one_line_error(invoke("model.mge", *args), 2, fragment)


def test_loadrun_errors_and_interrupts(monkeypatch):
    def unsupported(*args, **kwargs):
        raise UnsupportedOperatorError("m.mge: operator 'Remap' is not supported yet")

    monkeypatch.setattr(cli, "run_model", unsupported)
    assert_one_line_error(invoke("m.mge"), 2, "operator 'Remap' is not supported yet")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "run_model", interrupted)
    assert_one_line_error(invoke("m.mge"), 130, "interrupted")


@needs_models
def test_failed_check_exits_1_after_the_report(monkeypatch):
    monkeypatch.setattr(accuracy, "RELATIVE_TOLERANCE", 0.0)  # nothing float32 is that exact
    result = invoke(MODEL, "--check", "--json", *QUICK)
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["check"]["passed"] is False and validate(doc, SCHEMA) == []


def test_help_lists_run_options_and_subcommands():
    top = invoke("--help")
    assert top.exit_code == 0 and "info" in top.stdout and "run" in top.stdout
    run = invoke("model.mge", "--help")
    assert run.exit_code == 0
    for option in ("--input", "--save-outputs", "--warmup", "--iters", "--min-time", "--json",
                   "--check", "--threads"):
        assert option in run.stdout


# -- info ----------------------------------------------------------------------------------------

@needs_models
def test_info_text_and_json():
    text = invoke("info", MODEL)
    assert text.exit_code == 0, text.stderr
    assert "data: float32[1, 3, 224, 224]" in text.stdout and "Conv×20" in text.stdout
    doc = json.loads(invoke("info", MODEL, "--json").stdout)
    assert doc["inputs"] == [{"name": "data", "shape": [1, 3, 224, 224], "dtype": "float32"}]
    assert doc["flops"] == 3628146688


def test_info_errors(tmp_path):
    assert_one_line_error(invoke("info", str(tmp_path / "absent.mge")), 2, "absent.mge")
    usage = invoke("info")
    assert usage.exit_code == 2 and "Missing argument" in usage.stderr


# -- the installed entry point, as a user runs it ---------------------------------------------------

def run_module(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "loadrun.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, **kwargs)


def test_entry_point_error_is_one_line(tmp_path):
    proc = run_module(str(tmp_path / "absent.mge"))
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr


@needs_models
def test_entry_point_json_on_stdout_only():
    proc = run_module(MODEL, "--json", *QUICK)
    assert proc.returncode == 0, proc.stderr
    assert validate(json.loads(proc.stdout), SCHEMA) == []


@needs_models
def test_ctrl_c_stops_cleanly():
    # SIGINT at its default in the child, as in a terminal, even when this suite was started in the
    # background (a non-interactive shell starts background jobs with SIGINT ignored, and an
    # ignored SIGINT is inherited and respected by Python)
    proc = subprocess.Popen([sys.executable, "-m", "loadrun.cli", MODEL, "--min-time", "600"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(3)  # well into the timed loop (loading takes well under a second)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert stderr.strip() == "loadrun: error: interrupted"
    assert stdout == ""


def test_a_dropped_ctrl_c_is_raised_again():
    """KeyboardInterrupt raised inside a finalizer is printed and dropped by Python; the CLI's
    handler remembers it, and the measuring loop raises it again between chunks."""
    from loadrun import interrupts

    outer = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal (see above)
    before = signal.getsignal(signal.SIGINT)
    try:
        _dropped_ctrl_c(interrupts, before)
    finally:
        signal.signal(signal.SIGINT, outer)


def _dropped_ctrl_c(interrupts, before):
    with interrupts.installed():
        interrupts.check()  # nothing pending
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
        except KeyboardInterrupt:
            pass  # dropped, as in a finalizer
        with pytest.raises(KeyboardInterrupt):
            interrupts.check()
    assert signal.getsignal(signal.SIGINT) is before
