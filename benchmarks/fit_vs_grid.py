"""--fit against the exhaustive grid and MegEngine's fitting strategy, in one run.

For each model and thread count (pinned with --fix threads=N): the exhaustive grid over the same
space (no pruning: every configuration measured with the fit's own measurement plan, streaming
runner, shared algorithm caches), ``--fit`` with its default budget, and ``--strategy megengine``.
The three picks are then re-measured interleaved (A B C A B C …, ``--rounds`` rounds, one fresh
runner process per candidate and round, each pick loading with an algorithm cache profiled once
for it) and compared on medians, with paired per-round ratios and their 95% intervals. Criteria:
the fit's pick within 3% of the grid's best, in at most 25% of the grid's wall time, and never
slower than MegEngine's pick (not slower by the medians, or the paired interval contains 1).

    PYTHONPATH=. LOADRUN_LIB=build/fit/libloadrun.so .venv/bin/python benchmarks/fit_vs_grid.py \\
        --json fit_vs_grid.json

The full space (threads pinned) is affinity × inplace × record × weight preprocess × fast-run ×
JIT × layout: 432 configurations at 1 thread, 864 at 2 on this 2-core AVX-512 host, too many to
measure exhaustively for every row here. ``--grid sub`` (the default) runs the fit first and then
the grid over a sub-space that contains the fit's pick and the default configuration: every
value of inplace, weight preprocess, JIT and layout; for record, fast-run and affinity, the
default's value and the fit's pick's (record {0, 2}, fast-run {heuristic, profile}, affinity
{none} when the pick has the default's value). ``--grid full`` runs the whole space.
The table states which, with the measured grid time and, for a sub-space, the full grid's time
extrapolated from the grid's mean time per configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

os.environ.setdefault("LOADRUN_CACHE", tempfile.mkdtemp(prefix="fit-bench-"))

from loadrun.fit import FitSettings, fit_model  # noqa: E402
from loadrun.fit.confirm import Finalist, interleave, paired_ratio  # noqa: E402
from loadrun.fit.evaluate import MeasurePlan  # noqa: E402
from loadrun.fit.variants import CompiledVariants  # noqa: E402
from loadrun.feeds import InputSpec, build_feeds  # noqa: E402
from loadrun.formats import load_model  # noqa: E402
from loadrun.fit.space import build_space, candidate_values  # noqa: E402
from loadrun.options import AVAILABLE, Options  # noqa: E402
from loadrun.targets.local import LocalTarget  # noqa: E402

MODELS = Path(__file__).resolve().parents[1].parent / "shared" / "models"


def pick(result) -> Options:
    if result.decision is not None:
        return result.decision.winner.options
    best = result.top(1)[0]
    return Options.from_dict(best.options)


SUB = {"record": (0, 2), "fast_run": ("heuristic", "profile"), "affinity": ("none",)}


def _text(name: str, value) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)


def sub_space(target, fix, fit_pick: Options) -> list[str]:
    """--space items of the grid's sub-space: every value of the other options; for each option in
    SUB the default's value and the pick's (SUB's values when the pick has the default's)."""
    space = build_space(target.option_space_hints(), fix)
    items = []
    for d in space.dimensions:
        if d.name not in SUB:
            continue
        default = "none" if d.name == "affinity" else getattr(Options(), d.name)
        picked = getattr(fit_pick, d.name)
        # two values: the default and the pick's, or (the pick is the default) SUB's other one
        vals = [_text(d.name, v) for v in ((default, picked) if _text(d.name, picked) != _text(d.name, default)
                                            else (default, *SUB[d.name]))]
        sep = ";" if d.name == "affinity" else ","
        items.append(f"{d.name}={sep.join(dict.fromkeys(vals))}")
    return items


def loadavg() -> float:
    return os.getloadavg()[0]


def remeasure(target, feeds, variants, picks: dict[str, Options], rounds: int, workdir: Path):
    """Interleaved re-measurement of the picks; a fast-run pick loads with an algorithm cache
    profiled once for it (what its profile would carry), so rounds time the same algorithms."""
    uniq: dict[str, Options] = {}
    for o in picks.values():
        uniq.setdefault(o.label(), o)
    finalists = []
    for label, o in uniq.items():
        run = o
        if o.fast_run != "heuristic":
            r = target.run_trial(variants.get(o), feeds, o, warmup=0, iters=1, min_time_s=0.0, want_outputs=False)
            if r.algo_cache:
                f = workdir / f"cache-{abs(hash(label))}.bin"
                f.write_bytes(r.algo_cache)
                run = o.with_(algo_cache=str(f))
        finalists.append(Finalist(label, o, variants.get(o), run_options=run))
    return interleave(target, feeds, finalists, _latency(), MeasurePlan(2, 5, 0.3, 1), rounds)


def _latency():
    from loadrun.fit.objective import Objective

    return Objective()


def _ci(p: dict) -> str:
    return f"{p['ci95_low']:.3f}–{p['ci95_high']:.3f}"


def main() -> int:
    warnings.filterwarnings("ignore", module="optuna")
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="mobilenet_v2,resnet18")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--grid", choices=("sub", "full"), default="sub")
    ap.add_argument("--fix", action="append", default=[], help="extra --fix items for all three (NAME=VALUE)")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    target = LocalTarget()
    work = Path(tempfile.mkdtemp(prefix="fit-bench-caches-"))
    rows = []
    print(f"available options: {sorted(AVAILABLE)}; load average {os.getloadavg()}", flush=True)
    for name in a.models.split(","):
        path = MODELS / name / "model.mge"
        graph = load_model(path)
        specs = [InputSpec(graph.values[i].name, graph.values[i].shape, graph.values[i].dtype) for i in graph.inputs]
        feeds = {f.spec.name: f.array for f in build_feeds(specs, (), 0)}
        variants = CompiledVariants(graph)
        for threads in (int(t) for t in a.threads.split(",")):
            fix = (f"threads={threads}", *a.fix)
            common = dict(fix=fix, write_profile=False)
            loads = [loadavg()]
            full_size = build_space(target.option_space_hints(), fix).size()
            fit = fit_model(path, target, FitSettings(**common))
            print(f"{name} t{threads}: fit {fit.wall_s:.0f} s, {fit.strategy}, pick {pick(fit).label()}", flush=True)
            loads.append(loadavg())
            grid_space = sub_space(target, fix, pick(fit)) if a.grid == "sub" else []
            grid = fit_model(path, target, FitSettings(strategy="exhaustive", pruner="none", rounds=1, finalists=1,
                                                       space=tuple(grid_space), **common))
            n_grid = len([t for t in grid.trials if t.state != "duplicate"])
            print(f"{name} t{threads}: grid {grid.wall_s:.0f} s over {n_grid} configurations {grid_space}", flush=True)
            loads.append(loadavg())
            meg = fit_model(path, target, FitSettings(strategy="megengine", rounds=1, **common))
            print(f"{name} t{threads}: megengine {meg.wall_s:.0f} s, pick {pick(meg).label()}", flush=True)
            loads.append(loadavg())
            grid_best = Options.from_dict(grid.top(1)[0].options)
            picks = {"grid": grid_best, "fit": pick(fit), "megengine": pick(meg)}
            d = remeasure(target, feeds, variants, picks, a.rounds, work)
            loads.append(loadavg())
            med = {f.label: f.median_score for f in d.finalists}
            by = {f.label: f for f in d.finalists}
            g, f_, m = (med[picks[k].label()] for k in ("grid", "fit", "megengine"))
            # paired per-round ratios (the rounds are interleaved) with their 95% intervals
            vs_grid = paired_ratio(by[picks["fit"].label()].scores, by[picks["grid"].label()].scores)
            vs_meg = paired_ratio(by[picks["fit"].label()].scores, by[picks["megengine"].label()].scores)
            counts = {}
            for t in fit.trials:
                counts[t.state] = counts.get(t.state, 0) + 1
            full_est = grid.wall_s / max(1, n_grid) * full_size
            row = {"model": name, "threads": threads, "grid_space": grid_space or "full",
                   "grid_configs": n_grid, "full_space_configs": full_size,
                   "grid_wall_s": grid.wall_s, "full_grid_est_s": full_est,
                   "fit_wall_s": fit.wall_s, "megengine_wall_s": meg.wall_s,
                   "fit_strategy": fit.strategy, "fit_trials": counts,
                   "fit_search_s": fit.search_wall_s,
                   "fit_confirm_rounds": fit.decision.rounds if fit.decision else None,
                   "fit_profiling_s": (fit.profile or {}).get("fit", {}).get("profiling_s"),
                   "grid_pick": picks["grid"].label(), "fit_pick": picks["fit"].label(),
                   "megengine_pick": picks["megengine"].label(),
                   "grid_ms": g, "fit_ms": f_, "megengine_ms": m,
                   "fit_vs_grid": f_ / g, "fit_time_share": fit.wall_s / grid.wall_s,
                   "fit_time_share_full_est": fit.wall_s / full_est,
                   "fit_vs_megengine": f_ / m,
                   "fit_vs_grid_paired": vs_grid.to_dict(), "fit_vs_megengine_paired": vs_meg.to_dict(),
                   "within_3pct": f_ <= 1.03 * g, "within_25pct_time": fit.wall_s <= 0.25 * grid.wall_s,
                   "within_25pct_time_full_est": fit.wall_s <= 0.25 * full_est,
                   "not_slower_than_megengine": f_ <= m or vs_meg.low <= 1.0,
                   "loadavg": loads, "remeasure_verdict": d.verdict}
            rows.append(row)
            print(json.dumps(row), flush=True)
            if a.json:
                a.json.write_text(json.dumps(rows, indent=2))
    print()
    print("| model | threads | grid configs (of full) | grid best (ms) | fit pick (ms) | fit/grid (paired 95% CI) "
          "| fit time / grid time | fit time / full grid (est.) | megengine pick (ms) | fit/megengine (paired 95% CI) "
          "| fit trials | picks (grid · fit · megengine) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        tr = ", ".join(f"{n} {s}" for s, n in r["fit_trials"].items())
        print(f"| {r['model']} | {r['threads']} | {r['grid_configs']} ({r['full_space_configs']}) | {r['grid_ms']:.2f} | "
              f"{r['fit_ms']:.2f} | {r['fit_vs_grid']:.3f} ({_ci(r['fit_vs_grid_paired'])}) | "
              f"{r['fit_time_share']:.2f} ({r['fit_wall_s']:.0f} s / {r['grid_wall_s']:.0f} s) | "
              f"{r['fit_time_share_full_est']:.2f} (/ {r['full_grid_est_s']:.0f} s) | "
              f"{r['megengine_ms']:.2f} | {r['fit_vs_megengine']:.3f} ({_ci(r['fit_vs_megengine_paired'])}) | {tr} | "
              f"{r['grid_pick']} · {r['fit_pick']} · "
              f"{r['megengine_pick']} |")
    target.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
