"""--fit against the exhaustive grid and MegEngine's fitting strategy, in one run.

For each model and thread count (pinned with --fix threads=N): the exhaustive grid (no pruning:
every configuration measured fully), ``--fit`` with its default budget, and
``--strategy megengine``. The three picks are then re-measured interleaved (10 rounds) and
compared on medians. Criteria: the fit's pick within 3% of the grid's best, in at most 25% of the
grid's wall time, and never slower than MegEngine's pick.

    PYTHONPATH=. LOADRUN_LIB=build/fit/libloadrun.so .venv/bin/python benchmarks/fit_vs_grid.py
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("LOADRUN_CACHE", tempfile.mkdtemp(prefix="fit-bench-"))

from loadrun.fit import FitSettings, fit_model  # noqa: E402
from loadrun.fit.confirm import Finalist, interleave  # noqa: E402
from loadrun.fit.evaluate import MeasurePlan  # noqa: E402
from loadrun.fit.variants import CompiledVariants  # noqa: E402
from loadrun.feeds import InputSpec, build_feeds  # noqa: E402
from loadrun.formats import load_model  # noqa: E402
from loadrun.options import AVAILABLE, Options  # noqa: E402
from loadrun.targets.local import LocalTarget  # noqa: E402

MODELS = Path(__file__).resolve().parents[1].parent / "shared" / "models"


def pick(result) -> Options:
    if result.decision is not None:
        return result.decision.winner.options
    best = result.top(1)[0]
    return Options.from_dict(best.options)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="mobilenet_v2,resnet18")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    target = LocalTarget()
    rows = []
    print(f"available options: {sorted(AVAILABLE)}", flush=True)
    for name in a.models.split(","):
        path = MODELS / name / "model.mge"
        graph = load_model(path)
        specs = [InputSpec(graph.values[i].name, graph.values[i].shape, graph.values[i].dtype) for i in graph.inputs]
        feeds = {f.spec.name: f.array for f in build_feeds(specs, (), 0)}
        variants = CompiledVariants(graph)
        for threads in (int(t) for t in a.threads.split(",")):
            fix = (f"threads={threads}",)
            common = dict(fix=fix, write_profile=False)
            grid = fit_model(path, target, FitSettings(strategy="exhaustive", pruner="none", rounds=1, finalists=1,
                                                       **common))
            fit = fit_model(path, target, FitSettings(**common))
            meg = fit_model(path, target, FitSettings(strategy="megengine", rounds=1, **common))
            grid_best = Options.from_dict(grid.top(1)[0].options)
            picks = {"grid": grid_best, "fit": pick(fit), "megengine": pick(meg)}
            uniq: dict[str, Options] = {}
            for k, o in picks.items():
                uniq.setdefault(Options.label(o), o)
            finalists = [Finalist(label, o, variants.get(o)) for label, o in uniq.items()]
            d = interleave(target, feeds, finalists, fit.objective, MeasurePlan(2, 5, 0.3, 1), a.rounds)
            med = {f.label: f.median_score for f in d.finalists}
            g, f_, m = (med[Options.label(picks[k])] for k in ("grid", "fit", "megengine"))
            row = {"model": name, "threads": threads, "grid_configs": len([t for t in grid.trials if t.state != "duplicate"]),
                   "grid_wall_s": grid.wall_s, "fit_wall_s": fit.wall_s, "megengine_wall_s": meg.wall_s,
                   "fit_strategy": fit.strategy, "fit_trials": len([t for t in fit.trials if t.state != "duplicate"]),
                   "grid_pick": picks["grid"].label(), "fit_pick": picks["fit"].label(),
                   "megengine_pick": picks["megengine"].label(),
                   "grid_ms": g, "fit_ms": f_, "megengine_ms": m,
                   "fit_vs_grid": f_ / g, "fit_time_share": fit.wall_s / grid.wall_s,
                   "fit_vs_megengine": f_ / m,
                   "within_3pct": f_ <= 1.03 * g, "within_25pct_time": fit.wall_s <= 0.25 * grid.wall_s,
                   "not_slower_than_megengine": f_ <= m * 1.0}
            rows.append(row)
            print(json.dumps(row), flush=True)
    print()
    print("| model | threads | grid configs | grid best (ms) | fit pick (ms) | fit/grid | fit time / grid time "
          "| megengine pick (ms) | fit/megengine | picks (grid · fit · megengine) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['threads']} | {r['grid_configs']} | {r['grid_ms']:.3f} | {r['fit_ms']:.3f} | "
              f"{r['fit_vs_grid']:.3f} | {r['fit_time_share']:.2f} ({r['fit_wall_s']:.0f} s / {r['grid_wall_s']:.0f} s) | "
              f"{r['megengine_ms']:.3f} | {r['fit_vs_megengine']:.3f} | {r['grid_pick']} · {r['fit_pick']} · "
              f"{r['megengine_pick']} |")
    if a.json:
        a.json.write_text(json.dumps(rows, indent=2))
    target.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
