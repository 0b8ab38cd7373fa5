"""The adb target against tests/fake_adb/adb: phones described in JSON, the runner under qemu.
Covers discovery, clusters, content-addressed pushes, every failure message, disconnect and
resume, thermal cool-down and throttling, cleaning, and the real CLI end to end (run and fit)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import SHARED_MODELS, TOLERANCE, max_rel_error
from loadrun.errors import LoadrunError
from loadrun.options import Options
from loadrun.targets.base import TargetUnavailable
from test_arm_qemu import needs_qemu

FAKE_DIR = Path(__file__).resolve().parent / "fake_adb"
REPO = Path(__file__).resolve().parents[1]
BIG_LITTLE = [{"max_khz": 1800000}] * 4 + [{"max_khz": 2400000}] * 2 + [{"max_khz": 2850000}] * 2
CONV = SHARED_MODELS / "ops" / "conv"


def phone(serial="FAKE01", **kw) -> dict:
    d = {"serial": serial, "props": {"ro.product.model": "Pixel 7", "ro.soc.model": "Tensor G2"},
         "cpus": BIG_LITTLE, "thermal": [{"type": "cpu-big", "temp": 38000}, {"type": "battery", "temp": 30000}]}
    d.update(kw)
    return d


@pytest.fixture
def fake_adb(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", f"{FAKE_DIR}:{os.environ['PATH']}")
    monkeypatch.delenv("LOADRUN_ADB", raising=False)
    monkeypatch.delenv("ANDROID_SERIAL", raising=False)
    monkeypatch.setenv("LOADRUN_COOLDOWN_POLL_S", "0.01")
    monkeypatch.setenv("LOADRUN_COOLDOWN_MAX_WAIT_S", "5")
    root = tmp_path / "phones"

    def configure(*devices: dict) -> Path:
        cfg = tmp_path / "devices.json"
        cfg.write_text(json.dumps({"root": str(root), "devices": list(devices)}))
        monkeypatch.setenv("FAKE_ADB_CONFIG", str(cfg))
        return root

    return configure


def calls(root: Path) -> list[list[str]]:
    return [json.loads(line) for line in (root / "calls.log").read_text().splitlines()]


def conv_inputs():
    from loadrun.compile import compile_graph
    from loadrun.formats import load_model

    graph = load_model(CONV / "model.mge")
    return compile_graph(graph), {graph.values[graph.inputs[0]].name: np.load(CONV / "input.npy")}


# -- discovery and failures (no qemu needed: the runner is never started) -------------------------


def test_devices_parsed_and_serials_resolved(fake_adb):
    from loadrun.targets.adb import list_devices, resolve_serials

    fake_adb(phone("A1"), phone("B2"), phone("C3", state="unauthorized"))
    devs = list_devices()
    assert [(d["serial"], d["state"]) for d in devs] == [("A1", "device"), ("B2", "device"), ("C3", "unauthorized")]
    assert devs[0]["model"] == "Pixel_7"
    assert resolve_serials("all") == ["A1", "B2"]
    assert resolve_serials("B2,A1") == ["B2", "A1"]
    with pytest.raises(LoadrunError, match="3 devices are attached.*adb:SERIAL"):
        resolve_serials(None)
    with pytest.raises(LoadrunError, match="no device 'Z9'"):
        resolve_serials("Z9")
    with pytest.raises(LoadrunError, match="unauthorized.*Allow USB debugging"):
        resolve_serials("C3")


@pytest.mark.parametrize("devices, message", [
    ([], "no Android device is attached"),
    ([phone(state="unauthorized")], "unauthorized: unlock the phone"),
    ([phone(state="offline")], "is offline: reconnect"),
])
def test_device_state_errors(fake_adb, devices, message):
    from loadrun.targets.adb import open_target

    fake_adb(*devices)
    with pytest.raises(LoadrunError, match=message):
        open_target(None)


def test_adb_missing(monkeypatch, tmp_path):
    from loadrun.targets.adb import open_target

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("LOADRUN_ADB", raising=False)
    with pytest.raises(LoadrunError, match="adb is not installed: install Android platform-tools"):
        open_target(None)


# -- on the (fake) phone ------------------------------------------------------------------------


@pytest.fixture
def target_factory(fake_adb):
    opened = []

    def make(*devices, serial=None):
        from loadrun.targets.adb import open_target

        root = fake_adb(*devices)
        t = open_target(serial)
        opened.append(t)
        return t, root

    yield make
    for t in opened:
        t.close()


@needs_qemu
def test_probe_clusters_hints_and_fingerprint(target_factory):
    t, _ = target_factory(phone())
    assert [c["cluster"] for c in t.cores()] == [0, 0, 0, 0, 1, 1, 2, 2]
    hints = t.option_space_hints()
    assert hints["core_groups"] == {"all": list(range(8)), "little": [0, 1, 2, 3], "big": [4, 5, 6, 7],
                                    "prime": [6, 7]}
    assert hints["max_threads"] == 8 and hints["affinity_matters"] and not hints["governor_settable"]
    fp = t.fingerprint()
    assert fp["kind"] == "adb" and fp["serial"] == "FAKE01" and fp["cpu_model"] == "Tensor G2"
    assert fp["machine"] == "aarch64" and fp["emulated"] and "asimd" in fp["cpu_flags"]
    assert not t.trust()["trustworthy"]


@needs_qemu
def test_root_and_performance_governor_are_trusted(target_factory):
    t, _ = target_factory(phone(root=True, cpus=[{"max_khz": 2000000, "governor": "performance"}] * 4))
    assert t.info.root and t.trust()["trustworthy"] and t.option_space_hints()["governor_settable"]
    assert "big" not in t.option_space_hints()["core_groups"]  # one cluster: no big/little choice


@needs_qemu
def test_trial_pushes_each_file_once_and_matches_reference(target_factory):
    t, root = target_factory(phone())
    compiled, feeds = conv_inputs()
    r1 = t.run_trial(compiled, feeds, Options(threads=2), warmup=0, iters=1, min_time_s=0, want_outputs=True)
    r2 = t.run_trial(compiled, feeds, Options(threads=2, affinity=(4, 5)), warmup=0, iters=1, min_time_s=0,
                     want_outputs=True)
    from conftest import reference_outputs

    for r in (r1, r2):
        assert max_rel_error(r.outputs[0], reference_outputs(CONV)[0]) <= TOLERANCE
        assert set(r.env) >= {"before", "after", "cpus"} and not r.throttled
        assert r.env["before"]["cpu_temp_c"] == 38.0
    assert r2.env["cpus"] == [4, 5]
    pushes = [c[-1] for c in calls(root) if "push" in c]
    names = [p.rsplit("/", 1)[1].split("-")[0] for p in pushes]
    assert sorted(names) == ["in", "model", "runner"]  # once each, although two trials ran
    assert all(".part" in p for p in pushes)  # pushed under a temporary name, then renamed


@needs_qemu
def test_invalid_affinity_is_a_failed_trial_not_a_crash(target_factory):
    from loadrun.targets.base import TrialFailed

    t, _ = target_factory(phone(cpus=[{"max_khz": 2000000}] * 4))
    compiled, feeds = conv_inputs()
    with pytest.raises(TrialFailed, match="affinity"):
        t.run_trial(compiled, feeds, Options(threads=1, affinity=(9,)), warmup=0, iters=1, min_time_s=0,
                    want_outputs=False)


@needs_qemu
def test_full_storage(target_factory):
    with pytest.raises(LoadrunError, match="no space left.*loadrun device clean"):
        target_factory(phone(storage_free_kb=64))  # the runner alone is larger


@needs_qemu
def test_disconnect_mid_fit_raises_unavailable_then_resumes(target_factory):
    t, root = target_factory(phone(disconnect_after_shell=8, reconnect_after=2))
    compiled, feeds = conv_inputs()
    with pytest.raises(TargetUnavailable, match="is gone.*run the same command again to resume"):
        for _ in range(5):
            t.run_trial(compiled, feeds, Options(), warmup=0, iters=1, min_time_s=0, want_outputs=False)
    from loadrun.targets.adb import AdbError, open_target

    with pytest.raises((TargetUnavailable, AdbError)):
        open_target(None)  # still gone
    for _ in range(3):  # the phone comes back after a few adb calls
        subprocess.run(["adb", "devices"], capture_output=True)
    t2 = open_target(None)
    n = len([c for c in calls(root) if "push" in c])
    r = t2.run_trial(compiled, feeds, Options(), warmup=0, iters=1, min_time_s=0, want_outputs=False)
    assert r.samples_ns.size == 1
    assert len([c for c in calls(root) if "push" in c]) == n  # nothing pushed twice after the return


@needs_qemu
def test_cool_down_waits_for_thermal_zones(target_factory, fake_adb):
    t, root = target_factory(phone())
    n = json.loads((root / "FAKE01/state.json").read_text())["shell_calls"]
    # from now on zone 0 reads 80 °C for two more shell calls, then 60, then 41 °C
    fake_adb(phone(thermal_sequence={"0": [38000] * (n + 1) + [80000, 80000, 60000, 41000]}))
    seen = t.cool_down()
    assert seen["cool"] and seen["polls"] >= 2 and seen["start_temp_c"] >= 60 and seen["end_temp_c"] <= 45


@needs_qemu
def test_frequency_cap_flags_throttled(target_factory):
    cpus = [{"max_khz": 1800000}] * 4 + [{"max_khz": 2800000, "cap_khz": 1200000}] * 4
    t, _ = target_factory(phone(cpus=cpus))
    compiled, feeds = conv_inputs()
    r = t.run_trial(compiled, feeds, Options(), warmup=0, iters=1, min_time_s=0, want_outputs=False)
    assert r.throttled and r.env["after"]["capped_cpus"] == [4, 5, 6, 7]
    little = t.run_trial(compiled, feeds, Options(affinity=(0, 1)), warmup=0, iters=1, min_time_s=0,
                         want_outputs=False)
    assert not little.throttled  # the capped cluster was not used
    assert not t.cool_down()["cool"] or t.policy.max_wait_s <= 5  # a capped phone never cools: bounded


# -- the real CLI ---------------------------------------------------------------------------------


def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    return subprocess.run([sys.executable, "-m", "loadrun.cli", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=REPO)


@needs_qemu
def test_cli_plain_run_and_clean(fake_adb):
    root = fake_adb(phone())
    p = cli(str(CONV / "model.mge"), "--device", "adb", "--check", "--json", "--warmup", "0", "--iters", "1",
            "--min-time", "0", "--profile-nodes", "2")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["node_profile"]["runs"] == 2 and doc["node_profile"]["nodes"][0]["op"] == "Conv"
    assert doc["host"]["kind"] == "adb" and doc["check"]["passed"] and doc["runtime"]["device"] == "adb:FAKE01"
    assert any((root / "FAKE01/fs/data/local/tmp/loadrun").iterdir())
    p = cli("device", "clean")
    assert p.returncode == 0 and "FAKE01: removed /data/local/tmp/loadrun" in p.stdout
    assert not (root / "FAKE01/fs/data/local/tmp/loadrun").exists()


def test_cli_device_errors_are_one_line(fake_adb):
    fake_adb(phone(state="unauthorized"))
    p = cli(str(CONV / "model.mge"), "--device", "adb")
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "unauthorized" in p.stderr


@needs_qemu
def test_cli_fit_mobilenet_on_fake_phone(fake_adb, tmp_path):
    fake_adb(phone())
    out = tmp_path / "profile.json"
    p = cli(str(SHARED_MODELS / "mobilenet_v2" / "model.mge"), "--device", "adb", "--fit", "--trials", "6",
            "--profile-out", str(out), "--storage", f"sqlite:///{tmp_path / 'study.db'}")
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    prof = json.loads(out.read_text())
    dev = prof["device"]
    assert dev["kind"] == "adb" and dev["serial"] == "FAKE01" and dev["emulated"]
    assert dev["device_model"] == "Fake Pixel 7" and dev["cpu_model"] == "Tensor G2" and dev["cores"] == 8


@needs_qemu
def test_cli_fit_all_devices_in_parallel(fake_adb, tmp_path):
    fake_adb(phone("P1"), phone("P2", root=True, cpus=[{"max_khz": 2000000, "governor": "performance"}] * 4))
    out = tmp_path / "p.json"
    p = cli(str(CONV / "model.mge"), "--device", "adb:all", "--fit", "--trials", "2",
            "--profile-out", str(out), "--storage", f"sqlite:///{tmp_path / 'study.db'}")
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    assert json.loads((tmp_path / "p-P1.json").read_text())["device"]["serial"] == "P1"
    assert json.loads((tmp_path / "p-P2.json").read_text())["device"]["cores"] == 4
    assert "P1: fit done; timings indicative only" in p.stdout
    assert "P2: fit done; timings trustworthy" in p.stdout
