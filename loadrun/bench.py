"""Benchmark a set of models in several configurations: the API behind ``loadrun bench``.

Every model runs once per thread count (config ``default-t<N>``) and, when a profile for the model
and this device exists under ``--profiles``, with the profile's options as well (``profile-t<N>``).
The result is one bench document (schema ``loadrun.bench/1``, see ``docs/ci.md``): exactly what
:func:`loadrun.report.compare.load_bench` reads. Tables and the HTML report render that document,
so an earlier ``--format json`` file renders the same as a fresh run.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from loadrun import __version__, measure
from loadrun.api import RunConfig, RunReport, jsonable, run_model
from loadrun.errors import LoadrunError, OptionError
from loadrun.formats import graph_flops, load_model
from loadrun.profile import (ProfileError, check_applies, default_profile_path, device_slug,
                             file_sha256, load_profile, local_fingerprint)
from loadrun.report.compare import BENCH_SCHEMA, CompareInputError, load_bench

MODEL_SUFFIX = ".mge"
INPUT_FILE = "input.npy"  # the shared layout: models/<name>/{model.mge,input.npy}
SHARED_LAYOUT_FILE = "model.mge"

# Bench defaults are shorter than `loadrun run`'s: a table of many models has to finish in CI,
# and `compare` needs many samples more than long ones.
DEFAULT_WARMUP = 3
DEFAULT_ITERS = 10
DEFAULT_MIN_TIME = 0.25

# progress(done, total, label): `done` configurations finished of `total`; label says which runs now.
BenchProgress = Callable[[int, int, str], None]


class BenchError(LoadrunError):
    """Nothing to benchmark, or a document that is not a bench result."""


@dataclass(frozen=True)
class BenchModel:
    name: str  # unique within one bench; the directory's name for models/<name>/model.mge
    path: Path
    input_file: Path | None  # input.npy beside the model, when present


@dataclass(frozen=True)
class BenchSettings:
    threads: tuple[int, ...] = (1,)
    warmup: int = DEFAULT_WARMUP
    iters: int = DEFAULT_ITERS
    min_time: float = DEFAULT_MIN_TIME
    seed: int = 0
    profiles: Path | None = None

    def __post_init__(self) -> None:
        if not self.threads:
            raise OptionError("--threads needs at least one thread count, e.g. 1,2")
        RunConfig(threads=min(self.threads), warmup=self.warmup, iters=self.iters,
                  min_time=self.min_time)  # the same range checks as `loadrun run`

    def to_dict(self) -> dict:
        return {"threads": list(self.threads), "warmup": self.warmup, "iters": self.iters,
                "min_time_s": self.min_time, "seed": self.seed,
                "profiles": None if self.profiles is None else str(self.profiles)}


def parse_threads(text: str) -> tuple[int, ...]:
    """'1,2' -> (1, 2); duplicates dropped, order kept."""
    out: list[int] = []
    for part in text.split(","):
        try:
            n = int(part.strip())
        except ValueError:
            raise OptionError(f"--threads {text!r}: expected thread counts like 1,2") from None
        if n < 1:
            raise OptionError(f"--threads {text!r}: thread counts must be at least 1")
        if n not in out:
            out.append(n)
    return tuple(out)


# -- finding models ------------------------------------------------------------------------------


def _model_name(path: Path) -> str:
    return path.resolve().parent.name if path.name == SHARED_LAYOUT_FILE else path.stem


def find_models(paths: Iterable[str | Path]) -> list[BenchModel]:
    """Model files given directly, and every ``*.mge`` under given directories (sorted), once
    each. Names clash only in unusual trees; a clash is qualified with parent directories."""
    files: list[Path] = []
    seen: set[Path] = set()
    for given in paths:
        p = Path(given)
        if p.is_dir():
            found = sorted(f for f in p.rglob(f"*{MODEL_SUFFIX}") if f.is_file())
        elif p.is_file():
            found = [p]
        else:
            raise BenchError(f"{p}: no such file or directory")
        for f in found:
            if f.resolve() not in seen:
                seen.add(f.resolve())
                files.append(f)
    if not files:
        raise BenchError(f"no {MODEL_SUFFIX} models found in {', '.join(map(str, paths)) or '(nothing)'}")
    names = _unique_names(files)
    return [BenchModel(name, f, f.parent / INPUT_FILE if (f.parent / INPUT_FILE).is_file() else None)
            for name, f in zip(names, files)]


def _unique_names(files: Sequence[Path]) -> list[str]:
    depth = [1] * len(files)  # how many path parts name each model
    while True:
        names = []
        for f, d in zip(files, depth):
            parts = f.resolve().parent.parts if f.name == SHARED_LAYOUT_FILE else (*f.resolve().parent.parts, f.stem)
            names.append("/".join(parts[-d:]))
        clashing = {n for n in names if names.count(n) > 1}
        if not clashing:
            return names
        grown = False
        for i, n in enumerate(names):
            if n in clashing and depth[i] < len(files[i].resolve().parts):
                depth[i] += 1
                grown = True
        if not grown:
            return names  # unreachable for distinct resolved files


# -- profiles ------------------------------------------------------------------------------------


def run_option_names() -> set[str]:
    """The run options this runtime supports (``threads`` and every ``RunOptions`` field)."""
    from loadrun.runtime import RunOptions

    return {"threads"} | {f.name for f in dataclasses.fields(RunOptions)}


def split_profile_options(options: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(options applied as ``RunConfig`` fields/runtime options, options this runtime ignores)."""
    known = run_option_names()
    return ({k: v for k, v in options.items() if k in known},
            {k: v for k, v in options.items() if k not in known})


@dataclass(frozen=True)
class Configuration:
    name: str  # default-t1, profile-t2
    threads: int
    runtime_options: dict[str, Any] = field(default_factory=dict)
    profile: str | None = None  # the profile file it came from

    def options_text(self) -> str:
        parts = [f"threads={self.threads}"]
        parts += [f"{k}={_option_value(v)}" for k, v in sorted(self.runtime_options.items())]
        return " ".join(parts)


def _option_value(v: Any) -> str:
    if isinstance(v, bool):
        return "on" if v else "off"
    return str(v)


def configurations(model: BenchModel, sha256: str, settings: BenchSettings,
                   fingerprint: dict[str, Any], warn: Callable[[str], None]) -> list[Configuration]:
    """Default configurations per thread count, then the profile's (when one applies)."""
    configs = [Configuration(f"default-t{n}", n) for n in settings.threads]
    if settings.profiles is None:
        return configs
    path = default_profile_path(model.path, fingerprint, settings.profiles)
    if not path.is_file():
        return configs
    try:
        profile = load_profile(path)
        check_applies(profile, model_sha256=sha256, fingerprint=fingerprint, path=str(path))
    except ProfileError as e:
        warn(f"{model.name}: profile not used: {e}")
        return configs
    applied, ignored = split_profile_options(profile["options"])
    if ignored:
        warn(f"{model.name}: {path}: options this runtime does not support yet, ignored: "
             + ", ".join(f"{k}={_option_value(v)}" for k, v in sorted(ignored.items())))
    runtime_options = {k: v for k, v in applied.items() if k != "threads"}
    if "threads" in applied:  # a fitted thread count is part of the profile
        threads = [int(applied["threads"])]
    else:
        threads = list(settings.threads)
    configs += [Configuration(f"profile-t{n}", n, runtime_options, str(path)) for n in threads]
    return configs


# -- running -------------------------------------------------------------------------------------


def result_dict(model: BenchModel, config: Configuration, report: RunReport, flops: int,
                device: str, peak_is_own: bool) -> dict[str, Any]:
    """One entry of the bench document's ``results``."""
    median_s = report.latency.median / 1e9
    doc = report.to_dict()
    return {
        "model": model.name,
        "model_path": str(model.path),
        "model_sha256": report.model.sha256,
        "device": device,
        "config": config.name,
        "options": config.options_text(),
        "threads": config.threads,
        "runtime_options": jsonable(config.runtime_options),
        "profile": config.profile,
        "inputs": [f"{t['name']} from {t['source']}" for t in doc["inputs"]],
        "latency_ms": doc["latency_ms"],
        "noisy": doc["noisy"],
        "noise_reason": doc["noise_reason"],
        "iters": doc["iters"],
        "samples_ms": doc["samples_ms"],
        "load_ms": doc["load_ms"],
        "first_run_ms": doc["first_run_ms"],
        "peak_rss_mb": doc["peak_rss_mb"],
        "peak_rss_is_own": peak_is_own,
        "flops": flops,
        "gflops": flops / median_s / 1e9 if flops > 0 and median_s > 0 else None,
        "speedup": None,  # filled in by add_speedups
    }


def add_speedups(results: list[dict[str, Any]]) -> None:
    """speedup = median of the default configuration of the same model and thread count / this
    median (> 1: faster than the default); None when there is no such default."""
    defaults = {(r["model"], r["device"], r["threads"]): r["latency_ms"]["median"]
                for r in results if r["config"].startswith("default-")}
    for r in results:
        base = defaults.get((r["model"], r["device"], r["threads"]))
        r["speedup"] = base / r["latency_ms"]["median"] if base else None


def run_bench(paths: Sequence[str | Path], settings: BenchSettings = BenchSettings(),
              progress: BenchProgress | None = None,
              warn: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Benchmark every model under ``paths``; return the bench document (``loadrun.bench/1``).

    Every model is read (and its FLOPs counted) before anything runs, so a bad model fails fast.
    Raises :class:`loadrun.errors.LoadrunError` subclasses with a message meant for the user.
    """
    from loadrun.runtime import build_id

    progress = progress or (lambda done, total, label: None)
    warnings: list[str] = []

    def _warn(message: str) -> None:
        warnings.append(message)
        if warn is not None:
            warn(message)

    if settings.profiles is not None and not Path(settings.profiles).is_dir():
        raise BenchError(f"--profiles {settings.profiles}: no such directory")
    models = find_models(paths)
    host = local_fingerprint(build_id())
    device = device_slug(host)
    plan: list[tuple[BenchModel, int, list[Configuration]]] = []
    for model in models:
        flops = graph_flops(load_model(model.path))
        plan.append((model, flops, configurations(model, file_sha256(model.path), settings, host, _warn)))
    total = sum(len(configs) for _, _, configs in plan)

    results: list[dict[str, Any]] = []
    for model, flops, configs in plan:
        for config in configs:
            progress(len(results), total, f"{model.name} {config.name}")
            run_config = RunConfig(threads=config.threads, warmup=settings.warmup,
                                   iters=settings.iters, min_time=settings.min_time,
                                   seed=settings.seed, runtime_options=config.runtime_options)
            own_peak = measure.reset_peak_rss()
            inputs = [str(model.input_file)] if model.input_file else []
            report = run_model(model.path, inputs, run_config)
            results.append(result_dict(model, config, report, flops, device, own_peak))
    progress(total, total, "done")
    add_speedups(results)
    noisy = [f"{r['model']} {r['config']}" for r in results if r["noisy"]]
    if noisy:  # one line, not one per config: each result's noise_reason says why
        _warn(f"{len(noisy)} of {len(results)} measurements are noisy (spread or CI of the median "
              f"too wide to trust; see noise_reason in --format json; try more --iters/--min-time "
              f"or a quieter machine): {', '.join(noisy)}")
    return {
        "schema": BENCH_SCHEMA,
        "loadrun_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": host,
        "device": device,
        "settings": settings.to_dict(),
        "warnings": warnings,
        "results": results,
    }


def to_json(doc: Mapping[str, Any]) -> str:
    return json.dumps(doc, indent=1, allow_nan=False) + "\n"


def read_bench(path: str | Path) -> dict[str, Any]:
    """A bench document written by ``--format json``, checked as ``loadrun compare`` checks it."""
    try:
        load_bench(path)
    except CompareInputError as e:
        raise BenchError(str(e)) from None
    return json.loads(Path(path).read_text())
