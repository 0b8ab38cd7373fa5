"""loadrun beside ONNX Runtime, OpenVINO and MegEngine Lite: one run, interleaved, same threads,
same inputs; prints medians, ratios of medians (loadrun / best peer) and loadrun's GFLOP/s.

    H=$(bash /work/shared/peers/setup.sh)
    PYTHONPATH=. LOADRUN_LIB=build/x86/libloadrun.so .venv/bin/python benchmarks/peers.py \
        --peers-home "$H" --models resnet18,mobilenet_v2,shufflenet_v2_x1_0,tiny_bert --threads 1,2 \
        [--layout nchw] [--loadrun-runtime '{"weight_preprocess": false}'] [--profiles /tmp/profiles]
        [--mge-configs JSON] [--peak-gflops 170] [--json out.json]

Every engine is a worker process (benchmarks/peer_worker.py in the engine's venv) that stays
loaded, one per thread count; each round runs `--iters` inferences on every worker of the model
(every engine at every thread count) in a rotating order, so drifts in machine load hit every
engine and thread count alike; the speed-up of each engine from the first thread count to the
others comes from the same rounds. MegEngine Lite runs with the configurations in --mge-configs
(its fast-run + weight preprocess, nchw and nchw88: the best of its own grid on these models).
loadrun runs once per --layout (runtime options: weight preprocess on, as MegEngine's wp=1, unless
--loadrun-runtime overrides them; '{"weight_preprocess": false}' gives MegEngine Lite's default
options) and, with --profiles DIR, once more as "loadrun[fitted]" with every option of the
profile DIR/<model>-t<threads>.json written by `loadrun MODEL --fit --fix threads=N --profile-out`
(compile options, runtime options and its algorithm cache). Ratios of medians are printed for
every loadrun worker against the best peer.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODELS = Path(os.environ.get("LOADRUN_SHARED_MODELS", HERE.parent.parent / "shared" / "models"))
MGE_CONFIGS = [{"wp": 1, "fast": 1, "layout": "nchw", "record": 1}, {"wp": 1, "fast": 1, "layout": "nchw88", "record": 1}]


class Worker:
    def __init__(self, label, python, engine, model_dir, threads, cfg=None):
        python = [python] if isinstance(python, str) else python
        args = [*python, str(HERE / "peer_worker.py"), engine, str(model_dir), str(threads)]
        if cfg is not None:
            args.append(json.dumps(cfg))
        self.label = label
        t0 = time.perf_counter()
        env = dict(os.environ) if engine == "loadrun" else {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        self.p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError(f"{label}: worker failed to start")
        self.info = json.loads(line)
        self.load_s = time.perf_counter() - t0  # process start + load (+ MegEngine's fast-run profiling)
        self.times: list[float] = []

    def run(self, n):
        self.p.stdin.write(f"run {n}\n")
        self.p.stdin.flush()
        self.times += json.loads(self.p.stdout.readline())

    def close(self):
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.flush()
        except BrokenPipeError:
            pass
        self.p.wait(timeout=30)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--peers-home", default=os.path.expanduser("~/.cache/loadrun-peers"))
    ap.add_argument("--models", default="resnet18,mobilenet_v2,shufflenet_v2_x1_0,tiny_bert")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--layout", default="nchw", help="loadrun layouts to include, comma separated")
    ap.add_argument("--loadrun-runtime", default="{}", help="JSON: RunOptions fields for the --layout workers")
    ap.add_argument("--profiles", help="DIR with fitted profiles <model>-t<threads>.json: adds loadrun[fitted]")
    ap.add_argument("--no-mge", action="store_true")
    ap.add_argument("--mge-configs", default=json.dumps(MGE_CONFIGS), help="JSON list of MegEngine Lite configs")
    ap.add_argument("--peak-gflops", type=float, default=0.0, help="measured single-core peak (benchmarks/x86_kernels.sh)")
    ap.add_argument("--json", help="write the results here")
    a = ap.parse_args()
    home = Path(a.peers_home)
    results = []
    thread_counts = [int(t) for t in a.threads.split(",")]
    for model in a.models.split(","):
        mdir = MODELS / model
        flops = json.loads((mdir / "meta.json").read_text()).get("flops", 0)
        by_threads = {}
        for threads in thread_counts:
            me = [sys.executable, "-S"] if sys.flags.no_site else [sys.executable]  # keep an isolated path isolated
            lr_runtime = json.loads(a.loadrun_runtime)
            workers = [Worker(f"loadrun[{lay}]", me, "loadrun", mdir, threads, {"layout": lay, "runtime": lr_runtime})
                       for lay in a.layout.split(",")]
            prof = Path(a.profiles) / f"{model}-t{threads}.json" if a.profiles else None
            if prof is not None:
                if prof.exists():
                    workers.append(Worker("loadrun[fitted]", me, "loadrun", mdir, threads, {"profile": str(prof)}))
                else:
                    print(f"{model} t={threads}: no profile {prof}", file=sys.stderr)
            workers += [Worker("onnxruntime", str(home / "venv-ort/bin/python"), "ort", mdir, threads),
                        Worker("openvino", str(home / "venv-ort/bin/python"), "ov", mdir, threads)]
            if not a.no_mge:
                workers += [Worker("mge-lite[" + ",".join(f"{k}={v}" for k, v in c.items()) + "]",
                                   str(home / "venv-mge/bin/python"), "mge", mdir, threads, c)
                            for c in json.loads(a.mge_configs)]
            by_threads[threads] = workers
        # every worker of every thread count in one rotation: a burst of machine load hits the
        # 1-thread and the 2-thread runs alike, so the scaling ratios below compare like with like
        everyone = [w for t in thread_counts for w in by_threads[t]]
        for w in everyone:
            w.run(a.warmup)
            w.times.clear()
        for r in range(a.rounds):
            for w in everyone[r % len(everyone):] + everyone[:r % len(everyone)]:
                w.run(a.iters)
        for w in everyone:
            w.close()
        for threads in thread_counts:
            workers = by_threads[threads]
            med = {w.label: statistics.median(w.times) for w in workers}
            errs = {w.label: w.info["rel_err"] for w in workers}
            lr_best = min((k for k in med if k.startswith("loadrun")), key=med.get)
            peers = {k: v for k, v in med.items() if not k.startswith("loadrun")}
            best_peer = min(peers, key=peers.get)
            gflops = flops / (med[lr_best] * 1e-3) / 1e9
            ratios = {k: med[k] / peers[best_peer] for k in med if k.startswith("loadrun")}
            lr_gflops = {k: flops / (med[k] * 1e-3) / 1e9 for k in ratios}
            rec = dict(model=model, threads=threads, median_ms=med, rel_err=errs, best_loadrun=lr_best,
                       best_peer=best_peer, ratio=med[lr_best] / peers[best_peer], loadrun_gflops=gflops,
                       frac_of_peak=gflops / (a.peak_gflops * threads) if a.peak_gflops else None,
                       ratios=ratios, loadrun_gflops_each=lr_gflops,
                       frac_of_peak_each={k: g / (a.peak_gflops * threads) for k, g in lr_gflops.items()}
                       if a.peak_gflops else None,
                       ready={w.label: w.info["ready"] for w in workers},
                       load_s={w.label: w.load_s for w in workers},
                       samples={w.label: len(w.times) for w in workers},
                       loadavg=os.getloadavg())
            if threads != thread_counts[0]:  # speed-up over the first thread count, same rounds
                base = {w.label: statistics.median(w.times) for w in by_threads[thread_counts[0]]}
                rec["speedup_vs"] = thread_counts[0]
                rec["speedup"] = {k: base[k] / v for k, v in med.items() if k in base}
            results.append(rec)
            cells = "  ".join(f"{k} {v:.2f}" for k, v in med.items())
            print(f"{model} t={threads}: {cells}  | loadrun/best peer ({best_peer}) = {rec['ratio']:.2f}"
                  f"  loadrun {gflops:.1f} GFLOP/s" + (f" = {rec['frac_of_peak']:.2f} of peak" if a.peak_gflops else ""),
                  flush=True)
            print("    " + "  ".join(f"{k}/best peer = {v:.3f}" for k, v in ratios.items())
                  + "  | load s: " + "  ".join(f"{w.label} {w.load_s:.1f}" for w in workers), flush=True)
            if "speedup" in rec:
                print(f"    speed-up t={thread_counts[0]} -> t={threads}: "
                      + "  ".join(f"{k} {v:.2f}x" for k, v in rec["speedup"].items()), flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
