"""The adb target: trials on an Android phone (or any adb device), one fresh runner process each.

Opening the target probes the device once (ABI, SoC, cores with their maximum frequencies grouped
into clusters, governors, thermal zones, root), cross-builds the static runner for its ABI
(loadrun/build.py, cached by content hash) and keeps a working folder on the device,
``/data/local/tmp/loadrun``, where the runner, compiled variants and inputs are pushed once each
under content-addressed names. A trial is one ``adb shell`` running the runner there; its JSON is
parsed like the local target's, outputs are pulled for the accuracy guard, and the thermal zones
and CPU frequencies are read around it (``TrialResult.env``) to flag throttled trials.

Failures are LoadrunErrors with a message naming the fix: adb missing, no device, unauthorized,
offline, full storage; a device that disappears raises ``TargetUnavailable`` (the fit stops and a
re-run resumes its study).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from loadrun import __version__
from loadrun.errors import LoadrunError
from loadrun.options import Options
from loadrun.targets.base import TargetUnavailable, TrialFailed, TrialResult

WORK_DIR = "/data/local/tmp/loadrun"
# CPU features that decide which kernels run (as in loadrun.profile.RELEVANT_FLAGS)
_ARM_FLAGS = ("asimd", "asimddp", "fphp", "asimdhp", "sve", "i8mm", "bf16", "neon", "vfpv4")
_CPU_ZONE = re.compile(r"cpu|soc|tsens|mtktscpu|cluster|big|little|prime|ap", re.I)
_NOT_FOUND = ("not found", "no devices", "device offline", "error: closed", "protocol fault",
              "no such device", "device still connecting", "connection reset")


class AdbError(LoadrunError):
    """adb cannot be used: not installed, no device, unauthorized, ambiguous, storage full."""


@dataclass
class CoolDownPolicy:
    """When a phone is fit to measure: CPU zones at most ``target_c`` (or baseline + ``margin_c``,
    whichever is higher) and no frequency cap; poll every ``poll_s`` for at most ``max_wait_s``."""

    target_c: float = 45.0
    margin_c: float = 3.0
    hot_c: float = 70.0  # a trial that ends above this is flagged throttled
    poll_s: float = 2.0
    max_wait_s: float = 120.0

    @classmethod
    def from_env(cls) -> "CoolDownPolicy":
        p = cls()
        for name in ("target_c", "margin_c", "hot_c", "poll_s", "max_wait_s"):
            v = os.environ.get(f"LOADRUN_COOLDOWN_{name.upper()}")
            if v:
                setattr(p, name, float(v))
        return p


def adb_path() -> str:
    exe = os.environ.get("LOADRUN_ADB") or shutil.which("adb")
    if not exe:
        raise AdbError("adb is not installed: install Android platform-tools "
                       "(apt-get install adb, or https://developer.android.com/tools/releases/platform-tools) "
                       "or set LOADRUN_ADB to its path")
    return exe


def _classify(serial: str | None, text: str, what: str) -> LoadrunError:
    low = text.lower()
    who = f"device {serial}" if serial else "the device"
    if "unauthorized" in low:
        return AdbError(f"{who} is unauthorized: unlock the phone and accept the 'Allow USB debugging' "
                        "dialog (then run 'adb devices' to check)")
    if "more than one device" in low:
        return AdbError("more than one device is attached: choose one with --device adb:SERIAL "
                        "(or adb:all to fit each); 'adb devices' lists them")
    if "no space left" in low:
        return AdbError(f"{who} has no space left in {WORK_DIR} while trying to {what}: free some "
                        "storage or run 'loadrun device clean'")
    if any(k in low for k in _NOT_FOUND):
        return TargetUnavailable(f"{who} is gone ({text.strip().splitlines()[-1] if text.strip() else 'no answer'}); "
                                 "reconnect it and run the same command again to resume")
    return AdbError(f"adb {what} failed: {text.strip()[-400:] or 'no output'}")


class Adb:
    """One device's adb commands; every failure becomes an AdbError or TargetUnavailable."""

    def __init__(self, serial: str | None, exe: str | None = None, timeout_s: float = 600.0):
        self.exe = exe or adb_path()
        self.serial = serial
        self.timeout_s = timeout_s

    def _argv(self, *args: str) -> list[str]:
        return [self.exe, *(["-s", self.serial] if self.serial else []), *args]

    def run(self, *args: str, what: str, check: bool = True, timeout: float | None = None) -> subprocess.CompletedProcess:
        try:
            proc = subprocess.run(self._argv(*args), capture_output=True, text=True,
                                  timeout=timeout or self.timeout_s)
        except subprocess.TimeoutExpired:
            raise TargetUnavailable(f"device {self.serial}: adb {what} did not answer in "
                                    f"{timeout or self.timeout_s:.0f} s") from None
        except OSError as e:
            raise AdbError(f"{self.exe}: cannot run adb ({e.strerror})") from None
        if check and proc.returncode != 0 and args[0] != "shell":
            raise _classify(self.serial, proc.stderr + proc.stdout, what)
        return proc

    def shell(self, command: str, *, what: str, check: bool = True, timeout: float | None = None) -> subprocess.CompletedProcess:
        proc = self.run("shell", command, what=what, check=False, timeout=timeout)
        # adb's own failures (device gone) exit 1 or 255 with adb's message; the remote command's
        # exit status is passed through otherwise (adb >= 1.0.39 on Android >= 7)
        if proc.returncode != 0 and _is_adb_failure(proc.stderr):
            raise _classify(self.serial, proc.stderr, what)
        if check and proc.returncode != 0:
            if "no space left" in (proc.stderr + proc.stdout).lower():
                raise _classify(self.serial, proc.stderr + proc.stdout, what)
            raise AdbError(f"device {self.serial}: {what} failed (exit {proc.returncode}): "
                           f"{(proc.stderr or proc.stdout).strip()[-400:]}")
        return proc


def _is_adb_failure(stderr: str) -> bool:
    low = stderr.lower()
    return low.startswith("adb:") or low.startswith("error:") or any(k in low for k in _NOT_FOUND[:4]) \
        or "unauthorized" in low


def list_devices(exe: str | None = None) -> list[dict[str, str]]:
    """``adb devices -l`` as [{"serial", "state", "model", ...}] (unauthorized/offline included)."""
    proc = Adb(None, exe).run("devices", "-l", what="devices")
    out = []
    for line in proc.stdout.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 2:
            continue
        entry = {"serial": parts[0], "state": parts[1]}
        for p in parts[2:]:
            k, _, v = p.partition(":")
            if v:
                entry[k] = v
        out.append(entry)
    return out


def resolve_serials(arg: str | None, exe: str | None = None) -> list[str]:
    """The serials a ``--device adb[:SERIAL|:all|:S1,S2]`` names, with a clear error for each
    way it can fail."""
    devices = list_devices(exe)
    if arg and arg != "all":
        wanted = [s for s in arg.split(",") if s]
        states = {d["serial"]: d["state"] for d in devices}
        for s in wanted:
            if s not in states:
                raise AdbError(f"no device {s!r} is attached; attached: "
                               f"{', '.join(states) or 'none'} ('adb devices' lists them)")
            _check_state(s, states[s])
        return wanted
    if not devices:
        raise AdbError("no Android device is attached: connect a phone with USB debugging on "
                       "(Settings > Developer options), then check 'adb devices'")
    if arg == "all":
        ready = [d["serial"] for d in devices if d["state"] == "device"]
        if not ready:
            _check_state(devices[0]["serial"], devices[0]["state"])
        return ready
    if len(devices) > 1:
        raise AdbError(f"{len(devices)} devices are attached ({', '.join(d['serial'] for d in devices)}): "
                       "choose one with --device adb:SERIAL, or fit each with --device adb:all")
    _check_state(devices[0]["serial"], devices[0]["state"])
    return [devices[0]["serial"]]


def _check_state(serial: str, state: str) -> None:
    if state == "unauthorized":
        raise _classify(serial, "unauthorized", "connect")
    if state != "device":
        raise AdbError(f"device {serial} is {state}: reconnect the cable or run 'adb reconnect'")


# The probe: one shell call that reads everything the fingerprint and the fit need.
_PROBE = r"""
for p in ro.product.cpu.abi ro.product.model ro.product.manufacturer ro.build.version.release \
    ro.build.version.sdk ro.soc.model ro.board.platform ro.hardware ro.kernel.qemu; do echo "prop $p=$(getprop $p)"; done
for c in /sys/devices/system/cpu/cpu[0-9]*; do
  echo "cpu ${c##*/cpu} $(cat $c/cpufreq/cpuinfo_max_freq 2>/dev/null || echo -) $(cat $c/cpufreq/scaling_governor 2>/dev/null || echo -)"
done
for z in /sys/class/thermal/thermal_zone*; do
  [ -r $z/temp ] && echo "zone ${z##*/thermal_zone} $(cat $z/type 2>/dev/null | tr ' ' _) $(cat $z/temp 2>/dev/null)"
done
echo "uid $(id -u)"
[ "$(su 0 id -u 2>/dev/null || su -c 'id -u' 2>/dev/null)" = "0" ] && echo "su yes"
grep -m1 -i -E '^(Features|flags)' /proc/cpuinfo | sed 's/^/features /'
grep -m1 -i '^Hardware' /proc/cpuinfo | sed 's/^/hardware /'
df -k /data/local/tmp 2>/dev/null | tail -n 1 | sed 's/^/df /'
"""

# Frequencies and temperatures around a trial.
_ENV = r"""
for c in /sys/devices/system/cpu/cpu[0-9]*; do
  echo "f ${c##*/cpu} $(cat $c/cpufreq/scaling_cur_freq 2>/dev/null || echo -) $(cat $c/cpufreq/scaling_max_freq 2>/dev/null || echo -)"
done
for z in /sys/class/thermal/thermal_zone*; do echo "t ${z##*/thermal_zone} $(cat $z/temp 2>/dev/null || echo -)"; done
"""


@dataclass
class DeviceInfo:
    serial: str
    props: dict[str, str]
    cpus: list[dict[str, Any]]  # {"id", "max_freq_khz", "governor"}
    zones: list[dict[str, Any]]  # {"id", "type", "temp_c", "cpu": bool}
    root: bool
    features: list[str]
    hardware: str
    free_kb: int | None
    clusters: list[list[int]] = field(default_factory=list)  # CPU ids per cluster, slowest first

    @property
    def abi(self) -> str:
        return self.props.get("ro.product.cpu.abi", "")

    @property
    def emulated(self) -> bool:
        """An Android emulator (or the test suite's fake adb under qemu): timings mean nothing."""
        return self.props.get("ro.kernel.qemu") == "1"

    def governors(self) -> list[str]:
        return sorted({c["governor"] for c in self.cpus if c.get("governor")})


def parse_probe(serial: str, text: str) -> DeviceInfo:
    props, cpus, zones = {}, [], []
    root, features, hardware, free_kb = False, [], "", None
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "prop":
            k, _, v = rest.partition("=")
            props[k] = v.strip()
        elif kind == "cpu":
            parts = rest.split()
            if len(parts) >= 2 and parts[0].isdigit():
                cpus.append({"id": int(parts[0]), "max_freq_khz": int(parts[1]) if parts[1].isdigit() else None,
                             "governor": parts[2] if len(parts) > 2 and parts[2] != "-" else None})
        elif kind == "zone":
            parts = rest.split()
            if len(parts) >= 3 and parts[0].isdigit() and _is_int(parts[2]):
                zones.append({"id": int(parts[0]), "type": parts[1], "temp_c": _celsius(int(parts[2])),
                              "cpu": bool(_CPU_ZONE.search(parts[1]))})
        elif kind == "uid":
            root = root or rest.strip() == "0"
        elif kind == "su":
            root = True
        elif kind == "features":
            present = set(rest.partition(":")[2].split())
            features = [f for f in _ARM_FLAGS if f in present]
        elif kind == "hardware":
            hardware = rest.partition(":")[2].strip()
        elif kind == "df":
            parts = rest.split()
            free_kb = int(parts[3]) if len(parts) > 3 and parts[3].isdigit() else None
    cpus.sort(key=lambda c: c["id"])
    freqs = sorted({c["max_freq_khz"] or 0 for c in cpus})
    clusters = [[c["id"] for c in cpus if (c["max_freq_khz"] or 0) == f] for f in freqs]
    for c in cpus:
        c["cluster"] = freqs.index(c["max_freq_khz"] or 0)
    return DeviceInfo(serial, props, cpus, zones, root, features, hardware, free_kb, clusters)


def _is_int(s: str) -> bool:
    return s.lstrip("-").isdigit()


def _celsius(raw: int) -> float:
    return raw / 1000.0 if abs(raw) >= 1000 else float(raw)  # most zones report millidegrees


def parse_env(text: str) -> dict[str, Any]:
    freqs, temps = {}, {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "f" and parts[1].isdigit():
            freqs[int(parts[1])] = {"cur_khz": int(parts[2]) if parts[2].isdigit() else None,
                                    "cap_khz": int(parts[3]) if len(parts) > 3 and parts[3].isdigit() else None}
        elif len(parts) >= 3 and parts[0] == "t" and parts[1].isdigit() and _is_int(parts[2]):
            temps[int(parts[1])] = _celsius(int(parts[2]))
    return {"freq_khz": freqs, "temp_c": temps}


def arm_layouts(arch: str) -> list[str]:
    """The layouts a cross-built runner has kernels for, by architecture (machine or Android ABI):
    what the native lr_layouts() reports there (aarch64: "nchw nchw44", NEON kernels in
    native/arm/f32_{conv,pooling}_nchw44_neon.c; armv7 builds have the generic kernels only)."""
    return ["nchw", "nchw44"] if arch in ("aarch64", "arm64-v8a") else ["nchw"]


def core_groups(info: DeviceInfo) -> dict[str, list[int]]:
    """big / little / all (and prime on three-cluster SoCs) from the frequency clusters."""
    ids = [c["id"] for c in info.cpus]
    groups = {"all": ids}
    if len(info.clusters) >= 2:
        groups["little"] = info.clusters[0]
        groups["big"] = [i for cl in info.clusters[1:] for i in cl]
        if len(info.clusters) >= 3:
            groups["prime"] = info.clusters[-1]
    return groups


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class AdbTarget:
    """``Target`` on one adb device (see loadrun/targets/base.py)."""

    def __init__(self, serial: str, *, build_target: str | None = None, runner: str | Path | None = None,
                 exe: str | None = None, policy: CoolDownPolicy | None = None, timeout_s: float = 900.0,
                 log=None):
        from loadrun.build import build_runner, target_for_abi

        self.adb = Adb(serial, exe, timeout_s)
        self.serial = serial
        self.name = f"adb:{serial}"
        self.policy = policy or CoolDownPolicy.from_env()
        state = self.adb.run("get-state", what="get-state", timeout=60)
        if state.stdout.strip() != "device":
            _check_state(serial, state.stdout.strip() or "unknown")
        self.info = parse_probe(serial, self.adb.shell(_PROBE, what="probe the device", check=False).stdout)
        if not self.info.cpus:
            raise AdbError(f"device {serial}: cannot read /sys/devices/system/cpu (is this an Android/Linux device?)")
        self.baseline = self._read_env()
        if runner is not None:
            self.runner_local, self.build_digest = Path(runner), _sha(Path(runner).read_bytes())
            self.build_target = build_target or "custom"
        else:
            self.build_target = build_target or target_for_abi(self.info.abi)
            built = build_runner(self.build_target, log=log)
            self.runner_local, self.build_digest = built.path, built.digest
        self.adb.shell(f"mkdir -p {WORK_DIR}", what=f"create {WORK_DIR}")
        self._remote: set[str] = set(self.adb.shell(f"ls {WORK_DIR}", what="list the working folder",
                                                    check=False).stdout.split())
        self.runner_remote = self._push_bytes(self.runner_local.read_bytes(), "runner-{}", executable=True)
        usage = self.adb.shell(f"{self.runner_remote} --help 2>&1", what="start loadrun-runner", check=False)
        if "usage" not in usage.stdout:
            raise AdbError(f"device {serial}: loadrun-runner does not start there ({self.build_target} build, "
                           f"ABI {self.info.abi}): {usage.stdout.strip()[-300:]}")
        from loadrun.targets.local import runner_flags

        self.flags = runner_flags(usage.stdout)
        self._trial = 0
        self._fingerprint: dict[str, Any] | None = None

    # -- description -----------------------------------------------------------------------------

    def fingerprint(self) -> dict[str, Any]:
        if self._fingerprint is None:
            p, info = self.info.props, self.info
            soc = p.get("ro.soc.model") or info.hardware or p.get("ro.board.platform") or p.get("ro.hardware", "")
            self._fingerprint = {
                "kind": "adb",
                "machine": {"arm64-v8a": "aarch64", "armeabi-v7a": "armv7l"}.get(info.abi, info.abi),
                "cpu_model": soc,
                "cpu_flags": info.features,
                "cores": len(info.cpus),
                "os": f"Android {p.get('ro.build.version.release', '?')} (SDK {p.get('ro.build.version.sdk', '?')})",
                "loadrun_version": __version__,
                "native_build_id": f"{self.build_target} {self.build_digest[:16]}",
                "serial": self.serial,
                "device_model": f"{p.get('ro.product.manufacturer', '')} {p.get('ro.product.model', '')}".strip(),
                "abi": info.abi,
                "clusters": [{"cpus": cl, "max_freq_khz": next(c["max_freq_khz"] for c in info.cpus if c["id"] == cl[0])}
                             for cl in info.clusters],
                "governors": info.governors(),
                "root": info.root,
            }
            if info.emulated:
                self._fingerprint["emulated"] = True
        return self._fingerprint

    def cores(self) -> list[dict[str, Any]]:
        return [{"id": c["id"], "max_freq_khz": c["max_freq_khz"], "cluster": c["cluster"]} for c in self.info.cpus]

    def option_space_hints(self) -> dict[str, Any]:
        layouts = arm_layouts(self.info.abi)
        return {
            "layouts": layouts,
            "max_threads": len(self.info.cpus),
            "affinity_matters": True,  # big.LITTLE: where threads run decides the speed
            "core_groups": core_groups(self.info),
            "governor_settable": self.info.root,
            "governors": self.info.governors(),
            "static_shapes": True,
            "emulated": self.info.emulated,
        }

    def trust(self) -> dict[str, Any]:
        """Whether this device's timings can be trusted: a settable governor (root) can be pinned
        to performance; otherwise the scheduler's governor moves frequencies under the fit."""
        govs = self.info.governors()
        pinned = govs == ["performance"]
        return {"governor_settable": self.info.root, "governors": govs,
                "trustworthy": pinned or self.info.root,
                "reason": ("governor is performance" if pinned else
                           "root: the governor can be set to performance" if self.info.root else
                           f"governor {'/'.join(govs) or 'unknown'} and no root: frequencies float, "
                           "compare configurations only by interleaved repeats")}

    # -- files -----------------------------------------------------------------------------------

    def _push_bytes(self, data: bytes, pattern: str, executable: bool = False) -> str:
        name = pattern.format(_sha(data)[:20])
        remote = f"{WORK_DIR}/{name}"
        if name in self._remote:
            return remote
        with tempfile.TemporaryDirectory(prefix="loadrun-push-") as tmp:
            local = Path(tmp) / name
            local.write_bytes(data)
            if executable:
                local.chmod(0o755)
            self.adb.run("push", str(local), f"{remote}.part", what=f"push {name}")
        mv = f"mv {remote}.part {remote}" + (f" && chmod 755 {remote}" if executable else "")
        self.adb.shell(mv, what=f"store {name}")
        self._remote.add(name)
        return remote

    def _push_array(self, array: np.ndarray) -> str:
        import io

        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(array))
        return self._push_bytes(buf.getvalue(), "in-{}.npy")

    # -- running ---------------------------------------------------------------------------------

    def _read_env(self) -> dict[str, Any]:
        env = parse_env(self.adb.shell(_ENV, what="read temperatures and frequencies", check=False).stdout)
        cpu_zones = [z["id"] for z in self.info.zones if z["cpu"]] or [z["id"] for z in self.info.zones]
        temps = [env["temp_c"][z] for z in cpu_zones if z in env["temp_c"]]
        env["cpu_temp_c"] = max(temps) if temps else None
        maxes = {c["id"]: c["max_freq_khz"] for c in self.info.cpus}
        env["capped_cpus"] = sorted(i for i, f in env["freq_khz"].items()
                                    if f.get("cap_khz") and maxes.get(i) and f["cap_khz"] < maxes[i])
        env["time"] = time.time()
        return env

    def _throttled(self, before: dict, after: dict, cpus: list[int]) -> bool:
        hot = any(e.get("cpu_temp_c") is not None and e["cpu_temp_c"] >= self.policy.hot_c for e in (before, after))
        capped = any(set(e.get("capped_cpus", [])) & set(cpus) for e in (before, after))
        return hot or capped

    def run_trial(self, compiled: bytes, feeds: dict[str, np.ndarray], options: Options, *,
                  warmup: int, iters: int, min_time_s: float, want_outputs: bool,
                  profile_nodes: int = 0) -> TrialResult:
        from loadrun.targets.local import option_flags, profile_nodes_flags

        model = self._push_bytes(compiled, "model-{}.lrm")
        args = [self.runner_remote, model]
        for name, array in feeds.items():
            args += ["--input", f"{name}={self._push_array(array)}"]
        prefix = ""
        run_opts = options
        if options.affinity is not None and "--affinity" not in self.flags:
            mask = sum(1 << c for c in options.affinity)  # toybox taskset pins the whole process
            prefix = f"taskset {mask:x} "
            run_opts = options.with_(affinity=None)
        self._trial += 1
        cache_remote = None
        if options.fast_run != "heuristic" or options.algo_cache:
            cache_remote = f"{WORK_DIR}/algo-cache-{os.getpid()}-{self._trial}.bin"
            if options.algo_cache:  # a copy per trial: the runner rewrites it after profiling
                pushed = self._push_bytes(Path(options.algo_cache).read_bytes(), "cache-{}.bin")
                self.adb.shell(f"cp {pushed} {cache_remote}", what="stage the algorithm cache")
        args += option_flags(run_opts, self.flags, cache_remote)
        if self.info.emulated:  # emulated CPUs: one timed run is all a trial can mean
            warmup, iters, min_time_s = 0, 1, 0.0
        args += ["--warmup", str(warmup), "--iters", str(max(1, iters)), "--min-time", f"{min_time_s:.6f}"]
        args += profile_nodes_flags(profile_nodes, self.flags)
        out_dir = f"{WORK_DIR}/out-{os.getpid()}-{self._trial}"
        if want_outputs:
            args += ["--output-dir", out_dir]
        before = self._read_env()
        start = time.perf_counter()
        proc = self.adb.shell(f"cd {WORK_DIR} && {prefix}" + " ".join(shlex.quote(a) for a in args),
                              what="run a trial", check=False)
        wall = time.perf_counter() - start
        after = self._read_env()
        try:
            doc = json.loads(proc.stdout)
        except ValueError:
            doc = None
        if proc.returncode != 0 or not isinstance(doc, dict) or "error" in doc:
            if want_outputs:
                self.adb.shell(f"rm -rf {out_dir}", what="remove trial outputs", check=False)
            text = (proc.stdout + proc.stderr).lower()
            if "no space left" in text:
                raise _classify(self.serial, text, "run a trial")
            why = doc.get("error") if isinstance(doc, dict) else (proc.stderr or proc.stdout).strip()[-300:]
            raise TrialFailed(f"loadrun-runner failed on {self.name} (exit {proc.returncode}): {why or 'no output'}")
        outputs = None
        if want_outputs:
            outputs = self._pull_outputs(out_dir, len(doc.get("outputs", [])))
        algo_cache = self._pull_cache(cache_remote) if cache_remote else None
        stats = {k: v for k, v in doc.items() if k not in ("samples_ns", "outputs", "inputs", "stats")}
        stats.update(doc.get("stats", {}))
        cpus = list(options.affinity) if options.affinity else [c["id"] for c in self.info.cpus]
        env = {"before": before, "after": after, "cpus": cpus}
        return TrialResult(
            samples_ns=np.asarray(doc["samples_ns"], dtype=np.int64),
            load_ns=int(doc.get("load_ns", 0)), first_run_ns=int(doc.get("first_run_ns", 0)),
            peak_rss_bytes=doc.get("peak_rss_bytes"), outputs=outputs, stats=stats, env=env,
            throttled=self._throttled(before, after, cpus), algo_cache=algo_cache, wall_s=wall)

    def _pull_cache(self, remote: str) -> bytes | None:
        with tempfile.TemporaryDirectory(prefix="loadrun-pull-") as tmp:
            local = Path(tmp) / "algo_cache.bin"
            proc = self.adb.run("pull", remote, str(local), what="pull the algorithm cache", check=False)
            data = local.read_bytes() if proc.returncode == 0 and local.is_file() else None
        self.adb.shell(f"rm -f {remote}", what="remove the algorithm cache", check=False)
        return data

    def _pull_outputs(self, out_dir: str, n: int) -> list[np.ndarray]:
        with tempfile.TemporaryDirectory(prefix="loadrun-pull-") as tmp:
            arrays = []
            for i in range(n):
                local = Path(tmp) / f"output_{i}.npy"
                self.adb.run("pull", f"{out_dir}/output_{i}.npy", str(local), what="pull outputs")
                arrays.append(np.load(local))
        self.adb.shell(f"rm -rf {out_dir}", what="remove trial outputs", check=False)
        return arrays

    def cool_down(self) -> dict[str, Any]:
        """Poll the CPU thermal zones and frequency caps until the phone is back near its
        temperature at open (never below ``target_c``) with no cap, or ``max_wait_s`` passed."""
        p = self.policy
        base = self.baseline.get("cpu_temp_c")
        goal = max(p.target_c, (base if base is not None else p.target_c) + p.margin_c)
        start = time.monotonic()
        first = env = self._read_env()
        polls = 1
        while (env.get("cpu_temp_c") is not None and env["cpu_temp_c"] > goal) or env.get("capped_cpus"):
            if time.monotonic() - start >= p.max_wait_s:
                break
            time.sleep(p.poll_s)
            env = self._read_env()
            polls += 1
        cool = not ((env.get("cpu_temp_c") is not None and env["cpu_temp_c"] > goal) or env.get("capped_cpus"))
        return {"waited_s": round(time.monotonic() - start, 3), "polls": polls, "goal_c": goal,
                "start_temp_c": first.get("cpu_temp_c"), "end_temp_c": env.get("cpu_temp_c"),
                "capped_cpus": env.get("capped_cpus", []), "cool": cool}

    def clean(self) -> None:
        """Remove the working folder (runner, models, inputs) from the device."""
        self.adb.shell(f"rm -rf {WORK_DIR}", what=f"remove {WORK_DIR}", check=False)
        self._remote.clear()

    def close(self) -> None:
        pass

    def __enter__(self) -> "AdbTarget":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_target(arg: str | None = None, **kwargs: Any) -> AdbTarget:
    """``--device adb`` / ``adb:SERIAL``: the one device named (or the only one attached)."""
    serials = resolve_serials(arg)
    if len(serials) != 1:
        raise AdbError(f"--device adb:{arg} names {len(serials)} devices; a plain run takes one "
                       "(use --fit with adb:all to fit each)")
    return AdbTarget(serials[0], **kwargs)


def open_targets(arg: str | None = None, **kwargs: Any) -> list[AdbTarget]:
    """``adb:all`` or ``adb:S1,S2``: one target per device, for parallel fits."""
    return [AdbTarget(s, **kwargs) for s in resolve_serials(arg)]


def clean_devices(arg: str | None = None) -> list[str]:
    """``loadrun device clean``: remove the working folder from the named (or every) device."""
    serials = resolve_serials(arg or "all")
    for s in serials:
        Adb(s).shell(f"rm -rf {WORK_DIR}", what=f"remove {WORK_DIR}", check=False)
    return serials
