"""Interleaved JIT-level latency (docs/benchmarks.md "JIT"): each round runs jit 0, 1, 2 once with the
loadrun-runner (samples timed in C), 1 thread; prints a markdown row per model: median ms (kernels).

    PYTHONPATH=. python benchmarks/jit_levels.py ROUNDS MODEL...   # MODEL relative to ../shared/models
"""
import json, subprocess, sys, tempfile, numpy as np
from loadrun.formats import load_model
from loadrun.compile import compile_graph
import os
runner = os.environ.get("LOADRUN_RUNNER", "build/jit/loadrun-runner")
rounds = int(sys.argv[1]); names = sys.argv[2:]
for name in names:
    g = load_model(os.path.join(os.environ.get("LOADRUN_MODELS", "../shared/models"), name, "model.mge"))
    d = tempfile.mkdtemp()
    for j in (0, 1, 2):
        open(f"{d}/j{j}.lrm", "wb").write(compile_graph(g, jit=j))
    samples = {0: [], 1: [], 2: []}; kernels = {}
    for r in range(rounds):
        for j in (0, 1, 2):
            out = json.loads(subprocess.run([runner, f"{d}/j{j}.lrm", "--threads", "1", "--warmup", "3", "--iters", "15", "--min-time", "0"], capture_output=True, text=True).stdout)
            samples[j] += out["samples_ns"]; kernels[j] = out["stats"]["kernels"]
    med = {j: np.median(s) / 1e6 for j, s in samples.items()}
    print(f"| {name} | " + " | ".join(f"{med[j]:.3f} ({kernels[j]})" for j in (0, 1, 2)) + f" | {med[1]/med[0]:.2f} / {med[2]/med[0]:.2f} |", flush=True)
