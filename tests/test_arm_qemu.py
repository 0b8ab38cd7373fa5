"""The ARM build (NEON kernels included) under user-mode qemu: every shared MegEngine model must
match MegEngine's outputs. Never asserts timings: emulated time says nothing about a phone."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import TOLERANCE, max_rel_error, model_params, reference_outputs
from loadrun import build
from loadrun.build import BuildError, build_digest, find_qemu, get_target

AARCH64 = get_target("linux-aarch64")
NEON_CONV = {"conv_im2col_gemm_f32_8x12_neonfma", "conv_depthwise_3x3_f32_neon"}


def _skip_reason() -> str | None:
    if find_qemu(AARCH64) is None:
        return ("qemu-aarch64-static is not installed and could not be installed "
                "(make setup-test installs qemu-user-static when run as root)")
    try:
        build.find_toolchain(AARCH64)
    except BuildError as e:
        return str(e)
    return None


needs_qemu = pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")


@pytest.fixture(scope="session")
def arm_runner() -> Path:
    return build.build_runner("linux-aarch64").path


def run_under_qemu(runner: Path, model_bytes: bytes, inputs: list[Path], tmp: Path, *args: str) -> dict:
    (tmp / "m.lrm").write_bytes(model_bytes)
    proc = subprocess.run([find_qemu(AARCH64), str(runner), str(tmp / "m.lrm"), *map(str, inputs),
                           "--warmup", "0", "--iters", "1", "--output-dir", str(tmp / "out"), *args],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-500:] + proc.stderr[-500:]
    return json.loads(proc.stdout)


@needs_qemu
@pytest.mark.parametrize("model_dir", model_params())
def test_shared_model_matches_megengine_under_qemu(model_dir, arm_runner, tmp_path):
    from loadrun.compile import compile_graph
    from loadrun.formats import load_model

    graph = load_model(model_dir / "model.mge")
    threads = "1" if model_dir.name == "resnet18" else "2"  # the big one once, single-threaded
    doc = run_under_qemu(arm_runner, compile_graph(graph), [model_dir / "input.npy"], tmp_path,
                         "--threads", threads)
    assert "aarch64" in doc["build_id"]
    refs = reference_outputs(model_dir)
    assert len(doc["outputs"]) == len(refs)
    for out, ref in zip(doc["outputs"], refs):
        assert max_rel_error(np.load(out["file"]), ref) <= TOLERANCE
    conv_algos = {a["algo"] for a in doc["algorithms"] if a["op"] == "Conv"}
    if conv_algos:  # every convolution of the shared models has a NEON kernel
        assert conv_algos & NEON_CONV, conv_algos


@needs_qemu
def test_neon_kernels_chosen_for_depthwise_and_gemm(arm_runner, tmp_path):
    d = next((p.values[0] for p in model_params() if p.values[0] is not None and p.values[0].name == "mobilenet_v2"), None)
    if d is None:
        pytest.skip("mobilenet_v2 is not among the shared models")
    from loadrun.compile import compile_graph
    from loadrun.formats import load_model

    doc = run_under_qemu(arm_runner, compile_graph(load_model(d / "model.mge")), [d / "input.npy"], tmp_path,
                         "--weight-preprocess", "1")
    algos = {a["algo"] for a in doc["algorithms"] if a["op"] == "Conv"}
    assert algos == NEON_CONV  # 3x3 depthwise s1/s2 and every 1x1 / full conv through the 8x12 GEMM


@needs_qemu
def test_build_is_cached_by_content(arm_runner):
    again = build.build_runner("linux-aarch64")
    assert again.cached and again.path == arm_runner
    assert json.loads((arm_runner.parent / "build.json").read_text())["target"] == "linux-aarch64"


def test_digest_changes_with_sources_and_flags(tmp_path):
    root = tmp_path / "native"
    for d in build.SOURCE_DIRS:
        (root / d).mkdir(parents=True)
    (root / "runner" / "runner.c").write_text("int main(void) { return 0; }\n")
    tc = build.Toolchain("zig", ("zig", "cc"), "zig 0.0")
    files = build.source_files(root)
    a = build_digest(AARCH64, tc, ["-O3"], files, root)
    assert a == build_digest(AARCH64, tc, ["-O3"], files, root)
    assert a != build_digest(AARCH64, tc, ["-O2"], files, root)
    assert a != build_digest(get_target("android-arm64"), tc, ["-O3"], files, root)
    (root / "runner" / "runner.c").write_text("int main(void) { return 1; }\n")
    assert a != build_digest(AARCH64, tc, ["-O3"], files, root)


def test_missing_toolchain_names_what_to_install(monkeypatch):
    monkeypatch.setattr(build, "_zig_command", lambda: None)
    monkeypatch.setattr(build.shutil, "which", lambda name: None)
    with pytest.raises(BuildError, match=r"pip install ziglang.*apt-get install gcc-aarch64-linux-gnu"):
        build.build_runner("android-arm64")
    with pytest.raises(BuildError, match="unknown build target 'ios'"):
        build.build_runner("ios")


@needs_qemu
def test_qemu_target_trial_outputs(tmp_path):
    d = next((p.values[0] for p in model_params() if p.values[0] is not None and p.values[0].name == "conv"), None)
    if d is None:
        pytest.skip("ops/conv is not among the shared models")
    from loadrun.compile import compile_graph
    from loadrun.formats import load_model
    from loadrun.options import Options
    from loadrun.targets.qemu import open_target

    graph = load_model(d / "model.mge")
    target = open_target("aarch64")
    try:
        name = graph.values[graph.inputs[0]].name
        r = target.run_trial(compile_graph(graph), {name: np.load(d / "input.npy")}, Options(threads=2),
                             warmup=0, iters=2, min_time_s=0.0, want_outputs=True)
        assert r.samples_ns.size >= 2 and r.load_ns > 0
        assert max_rel_error(r.outputs[0], reference_outputs(d)[0]) <= TOLERANCE
        assert target.fingerprint()["kind"] == "qemu" and target.option_space_hints()["emulated"]
    finally:
        target.close()
