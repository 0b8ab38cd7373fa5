"""The local target: every trial is a fresh ``loadrun-runner`` process on this machine.

A process per trial gives each configuration a clean slate (no thread pool, algorithm cache or
allocator state leaks from the previous configuration) and its own peak RSS, read from the
kernel's rusage of the child (``wait4``), which no in-process measurement can give. It is also
exactly what the adb target does on a phone, so local and device fits behave alike.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from loadrun.options import AVAILABLE, RUNTIME_OPTIONS, Options, host_cores
from loadrun.profile import local_fingerprint
from loadrun.runtime import runner_path
from loadrun.targets.base import TargetUnavailable, TrialFailed, TrialResult

# Layouts a CPU can run, by the feature that makes the blocked layout worthwhile.
_LAYOUT_FEATURES = (("nchw88", "avx2"), ("nchw16", "avx512f"), ("nchw44", "asimd"))
_USAGE_FLAG = re.compile(r"\[(--[a-z][a-z0-9-]*)(?: ([^\]]+))?\]")


def runner_flags(usage: str) -> dict[str, bool]:
    """The runner's flags from its usage line: flag -> whether it takes a value."""
    return {m.group(1): m.group(2) is not None for m in _USAGE_FLAG.finditer(usage)}


def profile_nodes_flags(runs: int, flags: dict[str, bool]) -> list[str]:
    """The runner's --profile-nodes flag; a runner built without it is refused, not ignored."""
    if runs <= 0:
        return []
    if "--profile-nodes" not in flags:
        raise TrialFailed("this loadrun-runner cannot time nodes (--profile-nodes): rebuild it "
                          "(loadrun build --target ...)")
    return ["--profile-nodes", str(int(runs))]


def option_flags(options: Options, flags: dict[str, bool], algo_cache: str | None) -> list[str]:
    """Runner arguments for the runtime options of ``options`` (non-default ones only, so a runner
    that predates an option still runs the default configuration)."""
    args: list[str] = []
    values = options.runtime_kwargs()
    values["algo_cache"] = algo_cache
    defaults = Options().runtime_kwargs()
    for name in RUNTIME_OPTIONS:
        value = values[name]
        if value is None or (value == defaults[name] and name != "threads"):
            continue
        flag = "--" + name.replace("_", "-")
        if flag not in flags:
            raise TrialFailed(f"this loadrun-runner has no {flag}: rebuild it to run {name}={value!r}")
        if not flags[flag]:  # a switch
            if value:
                args.append(flag)
            continue
        if isinstance(value, bool):
            text = "1" if value else "0"
        elif isinstance(value, tuple):
            text = ",".join(map(str, value))
        else:
            text = str(value)
        args += [flag, text]
    return args


class LocalTarget:
    name = "local"

    def __init__(self, runner: str | Path | None = None, timeout_s: float = 300.0):
        exe = Path(runner) if runner else runner_path()
        if exe is None or not Path(exe).is_file():
            raise TargetUnavailable("loadrun-runner is not built next to the native library; build it "
                                    "(ninja -C build/...) or set LOADRUN_LIB")
        self.runner = Path(exe)
        self.timeout_s = timeout_s
        usage = subprocess.run([str(self.runner), "--help"], capture_output=True, text=True,
                               timeout=30).stderr
        self.flags = runner_flags(usage)
        self._dir = Path(tempfile.mkdtemp(prefix="loadrun-local-"))
        self._models: dict[str, Path] = {}
        self._fingerprint: dict[str, Any] | None = None

    # -- description -----------------------------------------------------------------------------

    def fingerprint(self) -> dict[str, Any]:
        if self._fingerprint is None:
            from loadrun.runtime import build_id

            self._fingerprint = local_fingerprint(build_id())
        return self._fingerprint

    def cores(self) -> list[dict[str, Any]]:
        try:
            ids = sorted(os.sched_getaffinity(0))
        except AttributeError:
            ids = list(range(os.cpu_count() or 1))
        out = []
        for cpu in ids:
            freq = Path(f"/sys/devices/system/cpu/cpu{cpu}/cpufreq/cpuinfo_max_freq")
            try:
                khz: int | None = int(freq.read_text().strip())
            except (OSError, ValueError):
                khz = None
            out.append({"id": cpu, "max_freq_khz": khz, "cluster": 0})
        return out

    def option_space_hints(self) -> dict[str, Any]:
        flags = set(self.fingerprint().get("cpu_flags", []))
        layouts = ["nchw"] + [layout for layout, feature in _LAYOUT_FEATURES if feature in flags]
        try:  # only layouts the native library has kernels for here (LOADRUN_X86_ISA caps them)
            from loadrun.runtime import supported_layouts

            layouts = [x for x in layouts if x in supported_layouts()]
        except Exception:  # no library to ask: the CPU flags alone
            pass
        ids = [c["id"] for c in self.cores()]
        return {
            "layouts": layouts,
            "max_threads": host_cores(),
            # A homogeneous machine: pinning only decides whether threads may migrate.
            "affinity_matters": len(ids) > 1,
            "core_groups": {"all": ids},
            "static_shapes": True,
        }

    # -- running ---------------------------------------------------------------------------------

    def _model_file(self, compiled: bytes) -> Path:
        import hashlib

        digest = hashlib.sha256(compiled).hexdigest()
        path = self._models.get(digest)
        if path is None:  # written once per compiled variant (content hash)
            path = self._dir / f"{digest[:24]}.lrm"
            path.write_bytes(compiled)
            self._models[digest] = path
        return path

    def _args(self, compiled: bytes, feeds: dict[str, np.ndarray], options: Options, work: Path, *,
              warmup: int, iters: int, min_time_s: float, want_outputs: bool,
              profile_nodes: int = 0) -> tuple[list[str], str | None]:
        model = self._model_file(compiled)
        args = [str(self.runner), str(model)]
        for i, (name, array) in enumerate(feeds.items()):
            path = work / f"input_{i}.npy"
            np.save(path, np.ascontiguousarray(array))
            args += ["--input", f"{name}={path}"]
        cache_file = None
        if options.fast_run != "heuristic" or options.algo_cache:
            cache_file = str(work / "algo_cache.bin")
            if options.algo_cache and Path(options.algo_cache).is_file():
                shutil.copyfile(options.algo_cache, cache_file)
        args += option_flags(options, self.flags, cache_file)
        args += ["--warmup", str(warmup), "--iters", str(max(1, iters)), "--min-time", f"{min_time_s:.6f}"]
        args += profile_nodes_flags(profile_nodes, self.flags)
        if want_outputs:
            args += ["--output-dir", str(work / "out")]
        return args, cache_file

    def _result(self, doc: dict, rusage, wall: float, cache_file: str | None, want_outputs: bool,
                samples: np.ndarray | None = None) -> TrialResult:
        outputs = None
        if want_outputs and "outputs" in doc:
            outputs = [np.load(o["file"]) for o in doc.get("outputs", [])]
        algo_cache = None
        if cache_file and Path(cache_file).is_file():
            algo_cache = Path(cache_file).read_bytes()
        stats = {k: v for k, v in doc.items() if k not in ("samples_ns", "outputs", "inputs")}
        stats.update(doc.get("stats", {}))
        stats.pop("stats", None)
        peak = doc.get("peak_rss_bytes")  # the runner's own figure when it reports one
        if peak is None and rusage is not None:
            peak = int(rusage.ru_maxrss) * 1024  # Linux: KiB
        profiling = doc.get("profiling_ns", (doc.get("runtime") or {}).get("profiling_ns", 0))
        return TrialResult(
            samples_ns=samples if samples is not None else np.asarray(doc["samples_ns"], dtype=np.int64),
            load_ns=int(doc.get("load_ns", 0)), first_run_ns=int(doc.get("first_run_ns", 0)),
            peak_rss_bytes=peak, outputs=outputs, stats=stats, env=self._env(),
            algo_cache=algo_cache, wall_s=wall, profiling_ns=int(profiling or 0))

    def run_trial(self, compiled: bytes, feeds: dict[str, np.ndarray], options: Options, *,
                  warmup: int, iters: int, min_time_s: float, want_outputs: bool,
                  profile_nodes: int = 0) -> TrialResult:
        work = Path(tempfile.mkdtemp(prefix="trial-", dir=self._dir))
        try:
            args, cache_file = self._args(compiled, feeds, options, work, warmup=warmup, iters=iters,
                                          min_time_s=min_time_s, want_outputs=want_outputs,
                                          profile_nodes=profile_nodes)
            doc, rusage, wall = self._spawn(args, work)
            return self._result(doc, rusage, wall, cache_file, want_outputs)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    @property
    def can_stream(self) -> bool:
        """The runner streams chunks, and processes start the plain way (a subclass that wraps
        ``_spawn``, like qemu's, is driven one ``run_trial`` per chunk instead)."""
        return "--stream-chunks" in self.flags and type(self)._spawn is LocalTarget._spawn

    def stream_trial(self, compiled: bytes, feeds: dict[str, np.ndarray], options: Options, *,
                     warmup: int, iters: int, min_time_s: float, chunks: int, want_outputs: bool,
                     on_chunk: Callable[[int, np.ndarray, TrialResult], bool] | None = None) -> TrialResult:
        """One runner process for the whole trial (``--stream-chunks``): load and first run once,
        then ``chunks`` chunks of timed runs read line by line as the runner prints them. After
        each chunk ``on_chunk(step, samples so far, ready)`` may return True: the process is then
        terminated (SIGTERM, then reaped with its rusage) and the result has ``stopped=True`` and
        no outputs. Falls back to one ``run_trial`` per chunk with a runner that cannot stream."""
        if not self.can_stream:
            return chunked_trial(self, compiled, feeds, options, warmup=warmup, iters=iters,
                            min_time_s=min_time_s, chunks=chunks, want_outputs=want_outputs, on_chunk=on_chunk)
        work = Path(tempfile.mkdtemp(prefix="trial-", dir=self._dir))
        try:
            args, cache_file = self._args(compiled, feeds, options, work, warmup=warmup, iters=iters,
                                          min_time_s=min_time_s, want_outputs=want_outputs)
            args += ["--stream-chunks", str(max(1, chunks))]
            start = time.perf_counter()
            with open(work / "stderr.txt", "w+b") as err:
                try:
                    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err)
                except OSError as e:
                    raise TargetUnavailable(f"cannot start {self.runner}: {e}") from None
                timer = threading.Timer(self.timeout_s, proc.kill)
                timer.start()
                samples: list[np.ndarray] = []
                ready: dict | None = None
                rest: list[bytes] = []
                stopped = False
                rusage = None
                try:
                    for line in proc.stdout:
                        if rest:  # the final document (several lines)
                            rest.append(line)
                            continue
                        try:
                            event = json.loads(line)
                        except ValueError:
                            event = None
                        kind = event.get("event") if isinstance(event, dict) else None
                        if kind == "ready":
                            ready = event
                        elif kind == "chunk":
                            samples.append(np.asarray(event["samples_ns"], dtype=np.int64))
                            if on_chunk is not None and ready is not None and len(samples) < chunks:
                                partial = self._result(ready, None, time.perf_counter() - start, None, False,
                                                       np.concatenate(samples))
                                partial.chunk_sizes = [len(c) for c in samples]
                                if on_chunk(len(samples) - 1, partial.samples_ns, partial):
                                    stopped = True
                                    proc.terminate()
                                    break
                        else:
                            rest.append(line)
                    if stopped:
                        proc.stdout.read()  # drain whatever it printed before the signal
                    _, status, rusage = os.wait4(proc.pid, 0)
                    proc.returncode = os.waitstatus_to_exitcode(status)
                except BaseException:
                    proc.kill()
                    proc.wait()
                    raise
                finally:
                    timer.cancel()
                    proc.stdout.close()
                err.seek(0)
                err_text = err.read().decode("utf-8", "replace").strip()
            wall = time.perf_counter() - start
            if stopped and ready is not None:
                r = self._result(ready, rusage, wall, cache_file, False, np.concatenate(samples))
                r.chunks, r.stopped, r.chunk_sizes = len(samples), True, [len(c) for c in samples]
                return r
            doc = self._runner_document(b"".join(rest), proc.returncode, wall, err_text)
            if ready is not None:
                doc.setdefault("profiling_ns", ready.get("profiling_ns", 0))
            r = self._result(doc, rusage, wall, cache_file, want_outputs)
            r.chunks, r.chunk_sizes = len(samples), [len(c) for c in samples]
            return r
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _spawn(self, args: list[str], work: Path):
        start = time.perf_counter()
        with open(work / "stderr.txt", "w+b") as err:
            try:
                proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err)
            except OSError as e:
                raise TargetUnavailable(f"cannot start {self.runner}: {e}") from None
            timer = threading.Timer(self.timeout_s, proc.kill)
            timer.start()
            try:
                out = proc.stdout.read()
                _, status, rusage = os.wait4(proc.pid, 0)
                proc.returncode = os.waitstatus_to_exitcode(status)
            except BaseException:
                proc.kill()
                proc.wait()
                raise
            finally:
                timer.cancel()
                proc.stdout.close()
            err.seek(0)
            err_text = err.read().decode("utf-8", "replace").strip()
        wall = time.perf_counter() - start
        return self._runner_document(out, proc.returncode, wall, err_text), rusage, wall

    def _runner_document(self, out: bytes, returncode: int, wall: float, err_text: str) -> dict:
        """The runner's final JSON document, or TrialFailed saying why there is none."""
        try:
            doc = json.loads(out) if out else None
        except ValueError:
            doc = None
        if returncode != 0 or not isinstance(doc, dict) or "error" in doc:
            why = doc.get("error") if isinstance(doc, dict) else None
            if returncode < 0:
                why = f"killed by signal {-returncode}" + (
                    f" after {self.timeout_s:.0f} s" if wall >= self.timeout_s else "")
            raise TrialFailed(f"loadrun-runner failed: {why or err_text[-300:] or 'no output'}")
        return doc

    def _env(self) -> dict[str, Any]:
        env: dict[str, Any] = {}
        try:
            env["loadavg"] = os.getloadavg()[0]
        except OSError:
            pass
        return env

    def cool_down(self) -> dict[str, Any]:
        return {}  # a desktop CPU does not need to cool between trials

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> "LocalTarget":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def chunked_trial(target, compiled: bytes, feeds: dict[str, np.ndarray], options: Options, *, warmup: int,
             iters: int, min_time_s: float, chunks: int, want_outputs: bool,
             on_chunk: Callable[[int, np.ndarray, TrialResult], bool] | None = None) -> TrialResult:
    """``stream_trial`` on any target, one ``run_trial`` (a fresh process) per chunk: what the fit
    does with a target that cannot stream. Outputs come from the first chunk."""
    first: TrialResult | None = None
    samples: list[np.ndarray] = []
    wall = 0.0
    for step in range(max(1, chunks)):
        r = target.run_trial(compiled, feeds, options, warmup=warmup, iters=iters, min_time_s=min_time_s,
                             want_outputs=want_outputs and step == 0)
        wall += r.wall_s
        samples.append(np.asarray(r.samples_ns, dtype=np.int64))
        if first is None:
            first = r
        else:
            first.throttled |= r.throttled
            if r.peak_rss_bytes is not None:
                first.peak_rss_bytes = max(first.peak_rss_bytes or 0, r.peak_rss_bytes)
        first.samples_ns, first.wall_s, first.chunks = np.concatenate(samples), wall, step + 1
        first.chunk_sizes = [len(c) for c in samples]
        if on_chunk is not None and step + 1 < chunks and on_chunk(step, first.samples_ns, first):
            first.stopped = True
            break
    return first


def available_runtime_options() -> set[str]:
    return AVAILABLE & set(RUNTIME_OPTIONS)
