"""Run one model with chosen options and measure it: the API behind ``loadrun MODEL``.

The CLI only parses arguments and renders a :class:`RunReport`; everything else happens here.
The JSON document of a report is specified in ``docs/run-json.md`` and
``loadrun/schemas/run.schema.json``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from loadrun import __version__, accuracy, interrupts, measure
from loadrun.compile import compile_graph
from loadrun.demo import demo_model_path
from loadrun.errors import ModelFormatError, OptionError
from loadrun.feeds import Feed, InputSpec, build_feeds
from loadrun.formats import load_model
from loadrun.ir.reference import execute
from loadrun.options import COMPILE_OPTIONS, RUNTIME_OPTIONS, Options
from loadrun.profile import file_sha256, local_fingerprint
from loadrun.runtime import RunOptions, Runtime
from loadrun.tensor_io import write_npz

SCHEMA = "loadrun.run/1"

# progress(phase, done, total): total is None while unknown; phases are announced in order.
Progress = Callable[[str, int, "int | None"], None]


def _no_progress(phase: str, done: int, total: int | None) -> None:
    pass


DECRYPT_METHODS = (None, "AES_default")


@dataclass(frozen=True)
class RunConfig:
    """How to run and measure. ``options`` (a :class:`loadrun.options.Options`) carries the
    runtime options; ``threads`` and the ``runtime_options`` mapping are merged into it (a
    non-default ``threads`` wins over ``options.threads``), and every option must be available."""

    threads: int = 1
    warmup: int = 5
    iters: int = 50
    min_time: float = 1.0  # seconds of measured run time, at least
    seed: int = 0  # of the random inputs
    decrypt: str | None = None  # cipher of an encrypted model ("AES_default")
    profile_nodes: int = 0  # extra runs with per-node timing after the measurement (0: none)
    runtime_options: Mapping[str, Any] = field(default_factory=dict)
    options: Options = field(default_factory=Options)

    def __post_init__(self) -> None:
        if self.threads < 1:
            raise OptionError(f"--threads must be at least 1, got {self.threads}")
        unknown = sorted(set(self.runtime_options) - set(RUNTIME_OPTIONS) - set(COMPILE_OPTIONS))
        if unknown:
            raise OptionError(f"unknown option(s): {', '.join(unknown)}")
        opts = self.options.with_(**dict(self.runtime_options))
        if self.threads != 1:
            opts = opts.with_(threads=self.threads)
        object.__setattr__(self, "options", opts)
        object.__setattr__(self, "threads", opts.threads)
        opts.check_available()
        if self.warmup < 0:
            raise OptionError(f"--warmup must be at least 0, got {self.warmup}")
        if self.iters < 1:
            raise OptionError(f"--iters must be at least 1, got {self.iters}")
        if self.profile_nodes < 0:
            raise OptionError(f"--profile-nodes must be a number of runs >= 0, got {self.profile_nodes}")
        if not (math.isfinite(self.min_time) and self.min_time >= 0):
            raise OptionError(f"--min-time must be a number of seconds >= 0, got {self.min_time}")
        if self.decrypt not in DECRYPT_METHODS:
            raise OptionError(f"--decrypt must be one of {', '.join(m for m in DECRYPT_METHODS if m)}, "
                              f"got {self.decrypt!r}")

    def to_dict(self) -> dict:
        runtime = self.options.runtime_kwargs()
        runtime.pop("threads")
        if runtime["affinity"] is not None:
            runtime["affinity"] = list(runtime["affinity"])
        return {"threads": self.threads, "warmup": self.warmup, "iters": self.iters,
                "min_time_s": self.min_time, "seed": self.seed, "runtime_options": runtime}


@dataclass(frozen=True)
class ModelInfo:
    path: str
    name: str
    sha256: str
    file_bytes: int

    @classmethod
    def of(cls, path: Path) -> "ModelInfo":
        return cls(str(path), path.stem, file_sha256(path), path.stat().st_size)


@dataclass(frozen=True)
class TensorDesc:
    name: str
    shape: tuple[int, ...]
    dtype: str

    def to_dict(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}


@dataclass(frozen=True)
class CheckReport:
    outputs: list[accuracy.OutputCheck]

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outputs)

    def to_dict(self) -> dict:
        return {"passed": self.passed, "relative_tolerance": accuracy.RELATIVE_TOLERANCE,
                "outputs": [o.to_dict() for o in self.outputs]}


@dataclass(frozen=True)
class RunReport:
    model: ModelInfo
    config: RunConfig
    inputs: list[tuple[TensorDesc, str]]  # (input, source)
    outputs: list[TensorDesc]
    load_ns: int
    first_run_ns: int
    samples_ns: np.ndarray
    latency: measure.LatencyStats
    peak_rss_bytes: int
    runtime: dict
    host: dict
    check: CheckReport | None = None
    saved_outputs: str | None = None
    node_profile: dict | None = None  # see node_profile()

    @property
    def total_time_s(self) -> float:
        return float(np.sum(self.samples_ns)) / 1e9

    def to_dict(self) -> dict:
        doc = {
            "schema": SCHEMA,
            "loadrun_version": __version__,
            "model": {"path": self.model.path, "name": self.model.name,
                      "sha256": self.model.sha256, "file_bytes": self.model.file_bytes},
            "options": self.config.to_dict(),
            "inputs": [dict(t.to_dict(), source=src) for t, src in self.inputs],
            "outputs": [t.to_dict() for t in self.outputs],
            "load_ms": self.load_ns / 1e6,
            "first_run_ms": self.first_run_ns / 1e6,
            "latency_ms": self.latency.to_dict(),
            "noisy": self.latency.noise.noisy,
            "noise_reason": self.latency.noise.reason,
            "iters": int(self.samples_ns.size),
            "samples_ms": (self.samples_ns / 1e6).tolist(),
            "total_time_s": self.total_time_s,
            "peak_rss_mb": self.peak_rss_bytes / (1 << 20),
            "runtime": jsonable(self.runtime),
            "host": self.host,
            "saved_outputs": self.saved_outputs,
        }
        if self.check is not None:
            doc["check"] = self.check.to_dict()
        if self.node_profile is not None:
            doc["node_profile"] = self.node_profile
        return doc

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)


def jsonable(value: Any) -> Any:
    """Runtime statistics as plain JSON values (numpy scalars and arrays, tuples, NaN -> None)."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def resolve_model(model_path: Path | None) -> Path:
    """The model to run: the given path, or the embedded demo model."""
    if model_path is not None:
        return Path(model_path)
    path = demo_model_path()
    if not path.is_file():
        raise ModelFormatError(str(path), "the embedded demo model is missing from this "
                                          "installation; give a MODEL path")
    return path


def _timed_runs(rt, config: RunConfig, estimate_ns: float, progress: Progress) -> np.ndarray:
    """At least ``iters`` runs and ``min_time`` of run time, in chunks of about a quarter second
    so progress shows and Ctrl-C is honoured; each run is still timed in C."""
    chunks: list[np.ndarray] = []
    done, elapsed_ns, warmup = 0, 0.0, config.warmup
    while remaining := measure.runs_still_needed(done, elapsed_ns, config.iters,
                                                 config.min_time, estimate_ns):
        interrupts.check()
        progress("measuring", done, done + remaining)
        samples = np.asarray(rt.timed_loop(warmup, measure.chunk_size(remaining, estimate_ns),
                                           0.0), dtype=np.int64)
        warmup = 0
        chunks.append(samples)
        done += samples.size
        elapsed_ns += float(samples.sum())
        estimate_ns = float(np.median(samples))
    progress("measuring", done, done)
    return np.concatenate(chunks)


def node_profile(nodes: Sequence[dict], times_ns: np.ndarray) -> dict:
    """The operator profile of ``times_ns`` (runs x nodes, -1 where a node did not run): per kernel
    node its median and p90 over the runs, in graph order, and the share of the sum of medians."""
    runs = int(times_ns.shape[0])
    rows, total = [], 0.0
    for i, info in enumerate(nodes):
        col = times_ns[:, i]
        if runs == 0 or (col < 0).all():
            continue  # a zero-copy alias: no kernel
        col = col[col >= 0]
        median = float(np.median(col)) / 1e6
        total += median
        rows.append({"index": i, "name": info["node"], "op": info["op"], "algo": info["algo"],
                     "layout": info["layout"], "median_ms": median,
                     "p90_ms": float(np.percentile(col, 90)) / 1e6})
    for row in rows:
        row["share"] = row["median_ms"] / total if total > 0 else 0.0
    return {"runs": runs, "sum_of_medians_ms": total, "nodes": rows}


def check_and_save(graph, feeds: Sequence[Feed], out_descs: Sequence[TensorDesc], outputs: Sequence[np.ndarray],
                   check: bool, save_outputs: Path | None,
                   progress: Progress) -> tuple["CheckReport | None", str | None]:
    """The --check comparison with the reference executor and the --save-outputs file, for any target."""
    check_report = None
    if check:
        progress("checking against the reference", 0, None)
        reference = execute(graph, {f.spec.name: f.array for f in feeds})
        check_report = CheckReport([accuracy.compare_output(d.name, out, ref)
                                    for d, out, ref in zip(out_descs, outputs, reference)])
    saved = None
    if save_outputs is not None:
        write_npz(save_outputs, [(d.name, out) for d, out in zip(out_descs, outputs)])
        saved = str(save_outputs)
    return check_report, saved


def run_model(model_path: Path | None, inputs: Sequence[str] = (), config: RunConfig = RunConfig(),
              check: bool = False, save_outputs: Path | None = None,
              progress: Progress | None = None) -> RunReport:
    """Load, compile and run a model; measure load, first run and steady state; optionally
    check the outputs against the reference executor and save them.

    ``inputs`` are ``--input`` arguments (``NAME=FILE.npy`` or ``FILE.npy``); inputs not given
    get seeded random data. Raises :class:`loadrun.errors.LoadrunError` subclasses (and
    ``OSError`` for unreadable files) with a message meant for the user.
    """
    progress = progress or _no_progress
    path = resolve_model(model_path)
    progress("loading model", 0, None)
    model = ModelInfo.of(path)
    graph = load_model(path, decrypt=config.decrypt)
    specs = [InputSpec(graph.values[i].name, graph.values[i].shape, graph.values[i].dtype)
             for i in graph.inputs]
    feeds: list[Feed] = build_feeds(specs, inputs, config.seed)
    progress("compiling", 0, None)
    # compile options (docs/compile.md): the non-default ones, so a profile's layout/JIT level apply
    compiled = compile_graph(graph, **{k: getattr(config.options, k) for k in COMPILE_OPTIONS
                                       if getattr(config.options, k) != getattr(Options(), k)})

    progress("loading runtime", 0, None)
    with Runtime.load(compiled, RunOptions.from_options(config.options)) as rt:
        for feed in feeds:
            rt.set_input(feed.spec.name, feed.array)
        progress("first run", 0, None)
        first_run_ns = int(rt.run())
        samples = _timed_runs(rt, config, max(first_run_ns, 1), progress)
        profile = None
        if config.profile_nodes:
            progress("profiling nodes", 0, None)
            profile = node_profile(rt.nodes, rt.node_times(config.profile_nodes))
        outputs = rt.get_outputs()
        out_descs = [TensorDesc(t.name, tuple(t.shape), str(np.dtype(t.dtype))) for t in rt.outputs]
        stats = dict(rt.stats())
    peak = measure.peak_rss_bytes()  # read before --check, whose float64 reference would inflate it

    check_report, saved = check_and_save(graph, feeds, out_descs, outputs, check, save_outputs, progress)

    return RunReport(
        model=model, config=config,
        inputs=[(TensorDesc(f.spec.name, f.spec.shape, str(f.spec.dtype)), f.source)
                for f in feeds],
        outputs=out_descs, load_ns=int(stats.get("load_ns", 0)), first_run_ns=first_run_ns,
        samples_ns=samples, latency=measure.latency_stats(samples), peak_rss_bytes=peak,
        runtime=stats, host=local_fingerprint(str(stats.get("build_id", ""))), check=check_report,
        saved_outputs=saved, node_profile=profile)
