"""``loadrun MODEL --device adb`` (a plain run, no fit) through the Target protocol.

The same report as a local run (loadrun.api.RunReport): the model is compiled on the host, one
trial runs on the target, and the report's ``host`` is the target's fingerprint, with the device's
thermal/frequency readings and the throttling flag in ``runtime``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from loadrun import measure
from loadrun.api import (ModelInfo, Progress, RunConfig, RunReport, TensorDesc, check_and_save, node_profile,
                         resolve_model)
from loadrun.compile import compile_graph
from loadrun.feeds import InputSpec, build_feeds
from loadrun.formats import load_model
from loadrun.options import COMPILE_OPTIONS, Options


def _no_progress(phase: str, done: int, total: int | None) -> None:
    pass


def run_on_target(target, model_path: Path | None, inputs: Sequence[str] = (),
                  config: RunConfig = RunConfig(), check: bool = False,
                  save_outputs: Path | None = None, progress: Progress | None = None) -> RunReport:
    progress = progress or _no_progress
    path = resolve_model(model_path)
    progress("loading model", 0, None)
    model = ModelInfo.of(path)
    graph = load_model(path, decrypt=config.decrypt)
    specs = [InputSpec(graph.values[i].name, graph.values[i].shape, graph.values[i].dtype) for i in graph.inputs]
    feeds = build_feeds(specs, inputs, config.seed)
    progress("compiling", 0, None)
    compiled = compile_graph(graph, **{k: getattr(config.options, k) for k in COMPILE_OPTIONS
                                       if getattr(config.options, k) != getattr(Options(), k)})
    progress(f"running on {target.name}", 0, None)
    want = check or save_outputs is not None
    trial = target.run_trial(compiled, {f.spec.name: f.array for f in feeds}, config.options,
                             warmup=config.warmup, iters=config.iters, min_time_s=config.min_time,
                             want_outputs=want,
                             **({"profile_nodes": config.profile_nodes} if config.profile_nodes else {}))
    outputs = trial.outputs or []
    out_descs = [TensorDesc(v.name, tuple(v.shape), str(np.dtype(v.dtype)))
                 for v in (graph.values[i] for i in graph.outputs)]
    check_report, saved = check_and_save(graph, feeds, out_descs, outputs, check, save_outputs, progress)
    runtime = dict(trial.stats)
    times = runtime.pop("node_times_ns", None)
    profile = None
    if config.profile_nodes and times is not None:
        profile = node_profile(runtime.get("algorithms", []), np.asarray(times, dtype=np.int64).reshape(
            len(times), -1))
    runtime.update({"device": target.name, "throttled": trial.throttled, "env": trial.env,
                    "wall_s": trial.wall_s})
    samples = np.asarray(trial.samples_ns, dtype=np.int64)
    return RunReport(
        model=model, config=config,
        inputs=[(TensorDesc(f.spec.name, f.spec.shape, str(f.spec.dtype)), f.source) for f in feeds],
        outputs=out_descs, load_ns=int(trial.load_ns), first_run_ns=int(trial.first_run_ns),
        samples_ns=samples, latency=measure.latency_stats(samples),
        peak_rss_bytes=int(trial.peak_rss_bytes or 0), runtime=runtime, host=target.fingerprint(),
        check=check_report, saved_outputs=saved, node_profile=profile)
