"""The run API: feeds, output files, accuracy check, the timed loop and real runs end to end."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from loadrun import api, measure
from loadrun.accuracy import compare_output
from loadrun.demo import demo_model_path
from loadrun.errors import InputError, ModelFormatError, OptionError
from loadrun.feeds import InputSpec, build_feeds, parse_input_args, random_input, read_input
from loadrun.tensor_io import write_npz

from json_schema import validate

MODELS = Path(__file__).resolve().parents[1] / ".." / "shared" / "models"
RESNET18 = MODELS / "resnet18"
MATMUL = MODELS / "ops" / "matmul"  # one input, two outputs
SCHEMA = json.loads((Path(api.__file__).parent / "schemas" / "run.schema.json").read_text())
needs_models = pytest.mark.skipif(not (RESNET18 / "model.mge").is_file(),
                                  reason=f"shared models not found at {MODELS}")
QUICK = api.RunConfig(warmup=1, iters=3, min_time=0.0)

SPECS = [InputSpec("image", (1, 3, 4, 4), np.dtype("float32")),
         InputSpec("mask", (1, 4), np.dtype("int32")),
         InputSpec("flag", (1,), np.dtype("bool"))]


# -- --input arguments ---------------------------------------------------------------------------

def test_bare_inputs_fill_model_order_and_named_ones_are_skipped():
    got = parse_input_args(["mask=m.npy", "a.npy", "b.npy"], SPECS)
    assert got == {"image": Path("a.npy"), "mask": Path("m.npy"), "flag": Path("b.npy")}
    assert list(got) == ["image", "mask", "flag"]  # model order


def test_unknown_input_name_lists_the_real_ones():
    with pytest.raises(InputError, match=r"no input 'imgae'; its inputs are: image, mask, flag"):
        parse_input_args(["imgae=x.npy"], SPECS)


def test_an_existing_path_with_an_equals_sign_is_a_file(tmp_path):
    odd = tmp_path / "run=1.npy"
    np.save(odd, np.zeros((1, 3, 4, 4), np.float32))
    assert parse_input_args([str(odd)], SPECS) == {"image": odd}


def test_duplicate_and_too_many_inputs():
    with pytest.raises(InputError, match="'mask' is given twice"):
        parse_input_args(["mask=a.npy", "mask=b.npy"], SPECS)
    with pytest.raises(InputError, match="4 --input arguments for a model with 3 inputs"):
        parse_input_args(["a.npy", "b.npy", "c.npy", "d.npy"], SPECS)


def test_read_input_checks_shape_and_dtype(tmp_path):
    spec = SPECS[0]
    good = tmp_path / "good.npy"
    np.save(good, np.ones(spec.shape, np.float32))
    assert read_input(spec, good).shape == spec.shape

    wrong_shape = tmp_path / "shape.npy"
    np.save(wrong_shape, np.ones((1, 3, 5, 4), np.float32))
    with pytest.raises(InputError) as e:
        read_input(spec, wrong_shape)
    assert str(e.value) == (f"input 'image' ({wrong_shape}): expected shape float32[1, 3, 4, 4], "
                            f"got float32[1, 3, 5, 4]")

    wrong_dtype = tmp_path / "dtype.npy"
    np.save(wrong_dtype, np.ones(spec.shape, np.float64))
    with pytest.raises(InputError, match=r"expected dtype float32\[1, 3, 4, 4\], got float64"):
        read_input(spec, wrong_dtype)


def test_read_input_refuses_missing_and_non_npy_files(tmp_path):
    spec = SPECS[0]
    with pytest.raises(InputError, match="input 'image' .*: no such file"):
        read_input(spec, tmp_path / "absent.npy")
    text = tmp_path / "data.txt"
    text.write_text("1 2 3\n")
    with pytest.raises(InputError, match="not a .npy file"):
        read_input(spec, text)
    npz = tmp_path / "data.npz"
    np.savez(npz, x=np.ones(spec.shape, np.float32))
    with pytest.raises(InputError, match="not a .npy file"):
        read_input(spec, npz)
    pickled = tmp_path / "objects.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="unreadable .npy"):
        read_input(spec, pickled)
    with pytest.raises(InputError, match="is a directory"):
        read_input(spec, tmp_path)


def test_random_inputs_are_seeded_and_typed():
    a = build_feeds(SPECS, [], seed=3)
    b = build_feeds(SPECS, [], seed=3)
    c = build_feeds(SPECS, [], seed=4)
    for fa, fb, spec in zip(a, b, SPECS):
        assert fa.array.shape == spec.shape and fa.array.dtype == spec.dtype
        np.testing.assert_array_equal(fa.array, fb.array)
        assert fa.source == "random(seed=3)"
    assert not np.array_equal(a[0].array, c[0].array)
    assert a[1].array.min() >= 0 and a[1].array.max() < 10


def test_random_input_of_one_input_does_not_depend_on_the_others(tmp_path):
    image = tmp_path / "image.npy"
    np.save(image, np.zeros((1, 3, 4, 4), np.float32))
    all_random = build_feeds(SPECS, [], seed=0)
    one_file = build_feeds(SPECS, [f"image={image}"], seed=0)
    assert one_file[0].source == str(image)
    np.testing.assert_array_equal(all_random[1].array, one_file[1].array)


def test_random_floats_are_standard_normal():
    x = random_input(InputSpec("x", (100_000,), np.dtype("float32")), np.random.default_rng(0))
    assert abs(float(x.mean())) < 0.02 and abs(float(x.std()) - 1) < 0.02


# -- output files ------------------------------------------------------------------------------

def test_write_npz_keeps_order_and_odd_names(tmp_path):
    out = tmp_path / "out.npz"
    arrays = [("zeta", np.arange(3)), ("file", np.ones((2, 2), np.float32)), ("alpha", np.zeros(1))]
    write_npz(out, arrays)
    with np.load(out) as z:
        assert list(z.keys()) == ["zeta", "file", "alpha"]
        np.testing.assert_array_equal(z["file"], arrays[1][1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.npz"]  # no temp file left
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask


def test_write_npz_failure_leaves_the_old_file(tmp_path):
    out = tmp_path / "out.npz"
    write_npz(out, [("a", np.zeros(2))])
    before = out.read_bytes()
    with pytest.raises(ValueError):
        write_npz(out, [("a", np.array([object()], dtype=object))])  # refuses to pickle
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.npz"]
    assert zipfile.is_zipfile(out)


# -- accuracy ----------------------------------------------------------------------------------

def test_compare_output_tolerance_scales_with_the_reference():
    ref = np.array([0.5, -200.0, 3.0], np.float32)
    ok = compare_output("y", ref + np.float32(0.019), ref)  # tol = 1e-4 * 200 = 0.02
    assert ok.passed and ok.tolerance == pytest.approx(0.02)
    assert ok.max_abs == pytest.approx(0.019, rel=1e-3)
    assert ok.max_rel == pytest.approx(0.019 / 200, rel=1e-3)
    bad = compare_output("y", ref + np.float32(0.021), ref)
    assert not bad.passed and "exceeds tolerance" in bad.problem


def test_compare_output_small_references_use_absolute_1e_4():
    ref = np.array([1e-3, 0.0])
    assert compare_output("y", ref + 0.9e-4, ref).passed
    assert not compare_output("y", ref + 1.1e-4, ref).passed


def test_compare_output_nan_and_shape():
    ref = np.array([np.nan, 1.0, np.inf])
    assert compare_output("y", ref.copy(), ref).passed
    bad = compare_output("y", np.array([0.0, 1.0, np.inf]), ref)
    assert not bad.passed and bad.to_dict()["max_abs_error"] is None
    shape = compare_output("y", np.zeros((2, 2)), np.zeros(4))
    assert not shape.passed and "shape [2, 2] != reference [4]" in shape.problem


# -- configuration and the timed loop ------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    ({"threads": 0}, "--threads must be at least 1"),
    ({"warmup": -1}, "--warmup must be at least 0"),
    ({"iters": 0}, "--iters must be at least 1"),
    ({"min_time": -1.0}, "--min-time must be"),
    ({"min_time": float("nan")}, "--min-time must be"),
])
def test_run_config_rejects_bad_values(kwargs, message):
    with pytest.raises(OptionError, match=message):
        api.RunConfig(**kwargs)


class RecordingLoop:
    """Stands in for the runtime's timed loop: records the calls, returns fixed per-run ns."""

    def __init__(self, run_ns: int):
        self.run_ns = run_ns
        self.calls: list[tuple[int, int, float]] = []

    def timed_loop(self, warmup: int, iters: int, min_time_s: float) -> np.ndarray:
        self.calls.append((warmup, iters, min_time_s))
        return np.full(iters, self.run_ns, dtype=np.int64)


def test_timed_runs_meet_min_time_in_chunks_with_warmup_once():
    rt = RecordingLoop(run_ns=10_000_000)  # 10 ms
    seen = []
    samples = api._timed_runs(rt, api.RunConfig(warmup=4, iters=5, min_time=1.0), 10e6,
                              lambda phase, done, total: seen.append((phase, done, total)))
    assert samples.size == 100  # 1 s / 10 ms, more than 5 iters
    assert [c[0] for c in rt.calls] == [4, 0, 0, 0]  # warmup only before the first chunk
    assert [c[1] for c in rt.calls] == [25, 25, 25, 25]  # about 250 ms each
    assert seen[-1] == ("measuring", 100, 100)


def test_timed_runs_meet_iters_for_slow_models():
    rt = RecordingLoop(run_ns=2_000_000_000)  # 2 s per run
    samples = api._timed_runs(rt, api.RunConfig(warmup=0, iters=3, min_time=1.0), 2e9,
                              lambda *a: None)
    assert samples.size == 3 and [c[1] for c in rt.calls] == [1, 1, 1]


# -- real runs ---------------------------------------------------------------------------------

@needs_models
def test_resnet18_end_to_end(tmp_path):
    out = tmp_path / "out.npz"
    phases = []
    report = api.run_model(RESNET18 / "model.mge", [str(RESNET18 / "input.npy")], QUICK,
                           check=True, save_outputs=out,
                           progress=lambda phase, done, total: phases.append(phase))
    doc = json.loads(report.to_json())
    assert validate(doc, SCHEMA) == []
    assert doc["schema"] == "loadrun.run/1"
    assert doc["model"]["name"] == "model" and len(doc["model"]["sha256"]) == 64
    assert doc["inputs"] == [{"name": "data", "shape": [1, 3, 224, 224], "dtype": "float32",
                              "source": str(RESNET18 / "input.npy")}]
    assert doc["outputs"] == [{"name": "output", "shape": [1, 1000], "dtype": "float32"}]
    assert doc["iters"] >= 3 and doc["latency_ms"]["n"] == doc["iters"] == len(doc["samples_ms"])
    assert doc["latency_ms"]["median"] == pytest.approx(float(np.median(doc["samples_ms"])))
    assert doc["total_time_s"] == pytest.approx(sum(doc["samples_ms"]) / 1000)
    lat = doc["latency_ms"]
    assert lat["min"] <= lat["ci95_low"] <= lat["median"] <= lat["ci95_high"] <= lat["max"]
    assert doc["check"]["passed"] is True
    assert doc["peak_rss_mb"] > 0
    assert {"loading model", "compiling", "first run", "measuring"} <= set(phases)
    with np.load(out) as z:
        assert list(z.keys()) == ["output"]
        expected = np.load(RESNET18 / "output_mge.npy")
        np.testing.assert_allclose(z["output"], expected, atol=1e-4 * max(1, np.abs(expected).max()))


@needs_models
def test_save_outputs_keys_follow_model_order(tmp_path):
    out = tmp_path / "out.npz"
    report = api.run_model(MATMUL / "model.mge", [], QUICK, save_outputs=out)
    with np.load(out) as z:
        assert list(z.keys()) == [t.name for t in report.outputs] == ["output_0", "output_1"]
        assert z["output_0"].shape == (128, 16) and z["output_1"].shape == (4, 32, 48)


@needs_models
def test_wrong_input_fails_before_running(tmp_path):
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((1, 3, 32, 32), np.float32))
    with pytest.raises(InputError, match=r"input 'data' .*expected shape float32\[1, 3, 224, 224\]"):
        api.run_model(RESNET18 / "model.mge", [f"data={bad}"], QUICK)


def test_missing_model_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        api.run_model(tmp_path / "absent.mge", [], QUICK)


@pytest.mark.skipif(not demo_model_path().is_file(),
                    reason="loadrun/demo/demo.mge is generated by the .mge writer, not there yet")
def test_demo_model_runs_without_a_path():
    report = api.run_model(None, [], QUICK, check=True)
    assert report.model.path == str(demo_model_path())
    assert report.check.passed


def test_missing_demo_model_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(api, "demo_model_path", lambda: tmp_path / "demo.mge")
    with pytest.raises(ModelFormatError, match="embedded demo model is missing"):
        api.resolve_model(None)


@needs_models
def test_save_outputs_creates_its_folder(tmp_path):
    out = tmp_path / "new" / "o.npz"
    api.run_model(MATMUL / "model.mge", [], QUICK, save_outputs=out)
    with np.load(out) as z:
        assert list(z.keys()) == ["output_0", "output_1"]
