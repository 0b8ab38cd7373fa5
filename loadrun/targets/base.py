"""Where a model runs: the Target protocol every device backend implements.

A target runs one *trial*: a compiled model (bytes, compiled on the host) with given inputs and
runtime options, in a clean state (a fresh process on the device), and reports per-run samples
timed in native code, load and first-run time, peak memory, optionally the outputs, and the
device's thermal/frequency state around the trial. The fit (loadrun/fit/) only talks to this
protocol, so local, adb (Android), ssh and qemu targets are interchangeable.

Stability: this file is a contract with other backends (loadrun/targets/adb.py, qemu). Add
optional fields with defaults; never rename or remove.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from loadrun.errors import LoadrunError
from loadrun.options import Options


class TargetUnavailable(LoadrunError):
    """The device went away (unplugged phone, ssh dropped): a fit stops, keeps its study, and a
    re-run resumes where it stopped."""


class TrialFailed(LoadrunError):
    """This configuration could not run on the target (the runtime refused it, it crashed, or it
    ran out of memory); the device itself is fine and the fit goes on with other configurations."""


@dataclass
class TrialResult:
    samples_ns: np.ndarray  # per-run latencies timed in native code (after warm-up)
    load_ns: int  # model load (parse, plan, weight preprocess, fast-run profiling)
    first_run_ns: int  # the first forward after load
    peak_rss_bytes: int | None  # peak resident memory of the process that ran the trial
    outputs: list[np.ndarray] | None  # in model order, when want_outputs
    stats: dict  # the runtime's statistics (arena, kernels, algorithms, build_id, ...)
    env: dict = field(default_factory=dict)  # thermal/frequency state read around the trial
    throttled: bool = False  # the target saw throttling during the trial: its timing is suspect
    algo_cache: bytes | None = None  # the algorithm cache the trial wrote (fast-run profiling)
    wall_s: float = 0.0  # host wall time the trial took, overheads included
    profiling_ns: int = 0  # the part of load_ns spent in fast-run profiling (0 when the cache hit)
    chunks: int = 1  # chunks of timed runs in samples_ns (stream_trial)
    stopped: bool = False  # stream_trial: the caller stopped it early (pruned); no outputs then
    chunk_sizes: list[int] = field(default_factory=list)  # samples per chunk, in order (stream_trial)


# Optional, beside the protocol: a target that can stream one trial in a single process offers
#   stream_trial(compiled, feeds, options, *, warmup, iters, min_time_s, chunks, want_outputs,
#                on_chunk) -> TrialResult
# where on_chunk(step, samples_so_far, ready: TrialResult) returning True stops the trial now
# (the result then has stopped=True and no outputs). Load, first run and peak memory are then
# measured once per trial. Targets without it (adb) are driven chunk by chunk with run_trial.


@runtime_checkable
class Target(Protocol):
    name: str  # "local", "adb:SERIAL", "qemu:aarch64", ...

    def fingerprint(self) -> dict[str, Any]:
        """The device fingerprint stored in (and checked against) profiles."""
        ...

    def cores(self) -> list[dict[str, Any]]:
        """One entry per CPU: {"id": int, "max_freq_khz": int | None, "cluster": int}."""
        ...

    def option_space_hints(self) -> dict[str, Any]:
        """What the fit's search space needs to know about this device, all keys optional:
        "layouts": valid layouts for the CPU; "max_threads": int; "affinity_matters": bool;
        "core_groups": {"big": [ids], "little": [ids], "all": [ids]}."""
        ...

    def run_trial(self, compiled: bytes, feeds: dict[str, np.ndarray], options: Options, *,
                  warmup: int, iters: int, min_time_s: float, want_outputs: bool,
                  profile_nodes: int = 0) -> TrialResult:
        """Run one configuration. Compile options in ``options`` are already applied to
        ``compiled``; the target honours only the runtime options. ``profile_nodes`` > 0: that many
        more runs with node timing, returned as ``stats["node_times_ns"]`` (runs x nodes). Raises
        TrialFailed when this configuration cannot run, TargetUnavailable when the device is gone."""
        ...

    def cool_down(self) -> dict[str, Any]:
        """Wait until the device is fit to measure again (thermal); returns what it observed."""
        ...

    def close(self) -> None:
        ...
