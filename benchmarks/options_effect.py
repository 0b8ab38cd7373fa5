"""The effect of each runtime option on time and memory (a benchmark, not a test).

For each model, one option is toggled at a time from the default configuration (MegEngine Lite's
defaults) and from the all-on configuration; every configuration runs in its own
``loadrun-runner`` process, so load time, first run and peak RSS are that configuration's alone.

    PYTHONPATH=. LOADRUN_LIB=build/opts/libloadrun.so .venv/bin/python benchmarks/options_effect.py \
        --runner build/opts/loadrun-runner --iters 20 --out options_effect.md
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from loadrun.compile import compile_graph
from loadrun.formats import load_model

MODELS = Path(__file__).resolve().parents[1].parent / "shared" / "models"
DEFAULT = {"threads": 1, "affinity": None, "inplace": 0, "record": 0, "weight_preprocess": 0,
           "fast_run": "heuristic"}
ALL_ON = {"threads": 2, "affinity": "0,1", "inplace": 1, "record": 2, "weight_preprocess": 1,
          "fast_run": "profile"}
TOGGLES = [("threads", 2, 1), ("affinity", "0,1", None), ("inplace", 1, 0), ("record", 1, 0),
           ("record", 2, 0), ("weight_preprocess", 1, 0), ("fast_run", "profile", "heuristic"),
           ("fast_run", "profile-optimized", "heuristic")]


def configs() -> list[tuple[str, dict, bool]]:
    """(label, options, reuse_cache): default and its toggles, all-on and its toggles, and a
    second all-on load that reuses the algorithm cache the first one wrote."""
    out = [("default", dict(DEFAULT), False)]
    for name, on, _ in TOGGLES:
        out.append((f"default + {name}={on}", {**DEFAULT, name: on}, False))
    out.append(("all-on", dict(ALL_ON), False))
    out.append(("all-on, algo cache reused", dict(ALL_ON), True))
    for name, on, off in TOGGLES:
        if ALL_ON[name] == on:
            out.append((f"all-on − {name} (={off})", {**ALL_ON, name: off}, False))
    return out


def runner_args(opts: dict, cache: Path | None) -> list[str]:
    args = ["--threads", str(opts["threads"]), "--inplace", str(opts["inplace"]), "--record", str(opts["record"]),
            "--weight-preprocess", str(opts["weight_preprocess"]), "--fast-run", opts["fast_run"]]
    if opts["affinity"]:
        allowed = sorted(os.sched_getaffinity(0))
        cpus = [c for c in map(int, opts["affinity"].split(",")) if c in allowed] or allowed[:1]
        args += ["--affinity", ",".join(map(str, cpus))]
    if cache is not None:
        args += ["--algo-cache", str(cache)]
    return args


def run_one(runner: Path, model: Path, args: list[str], iters: int) -> dict:
    proc = subprocess.Popen([str(runner), str(model), "--warmup", "2", "--iters", str(iters), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, _ = proc.communicate()
    doc = json.loads(out)
    if "error" in doc:
        raise RuntimeError(doc["error"])
    samples = np.asarray(doc["samples_ns"], dtype=np.float64)
    return {"median_ms": float(np.median(samples)) / 1e6, "load_ms": doc["load_ns"] / 1e6,
            "first_ms": doc["first_run_ns"] / 1e6, "arena_mib": doc["stats"]["arena_bytes"] / 2**20,
            "meta_kib": (doc["runtime"]["metadata_bytes_at_load"] / 1024, doc["runtime"]["metadata_bytes"] / 1024),
            "packs": doc["runtime"]["weight_packs_per_run"], "walks": doc["runtime"]["graph_walks_per_run"],
            "profiled": doc["runtime"]["profiled_nodes"], "hits": doc["runtime"]["algo_cache_hits"]}


def peak_rss_mib(runner: Path, model: Path, args: list[str], iters: int) -> float:
    """Runs once more under wait4 to read that child's own peak RSS."""
    pid = os.fork()
    if pid == 0:  # child: exec the runner with stdout to /dev/null
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.execv(str(runner), [str(runner), str(model), "--warmup", "2", "--iters", str(iters), *args])
    _, _, usage = os.wait4(pid, 0)
    return usage.ru_maxrss / 1024.0  # KiB on Linux


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runner", type=Path, default=Path("build/opts/loadrun-runner"))
    ap.add_argument("--models", default="resnet18,mobilenet_v2,tiny_bert")
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="loadrun-options-effect-"))
    lines = ["| model | configuration | median ms | load ms | first run ms | peak RSS MiB | arena MiB | "
             "metadata KiB (load → after runs) | walks/run | weight packs/run | profiled nodes | cache hits |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name in a.models.split(","):
        compiled = work / f"{name}.lr"
        compiled.write_bytes(compile_graph(load_model(MODELS / name / "model.mge")))
        for label, opts, reuse in configs():
            cache = work / f"{name}.cache" if opts["fast_run"] != "heuristic" or reuse else None
            if cache is not None and not reuse and cache.exists():
                cache.unlink()  # a fresh profile, unless this configuration is about reusing it
            args = runner_args(opts, cache)
            r = run_one(a.runner, compiled, args, a.iters)
            rss = peak_rss_mib(a.runner, compiled, runner_args(opts, None) if cache is not None and not reuse
                               else args, a.iters)
            lines.append(f"| {name} | {label} | {r['median_ms']:.2f} | {r['load_ms']:.1f} | {r['first_ms']:.2f} | "
                         f"{rss:.1f} | {r['arena_mib']:.1f} | {r['meta_kib'][0]:.1f} → {r['meta_kib'][1]:.1f} | "
                         f"{r['walks']} | {r['packs']} | {r['profiled']} | {r['hits']} |")
            print(lines[-1], file=sys.stderr, flush=True)
    text = "\n".join(lines) + "\n"
    if a.out:
        a.out.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
