"""One engine held loaded, timed on request: the worker side of benchmarks/peers.py.

usage: PY peer_worker.py ENGINE MODEL_DIR THREADS [CONFIG_JSON]
ENGINE: loadrun | ort | ov | mge. Prints one JSON line when loaded ({"ready": ...}), then for every
"run N" line on stdin one JSON list of N per-run milliseconds (time.perf_counter around one
inference including the input copy, the same for every engine). Runs in the engine's own venv.
"""
import json
import os
import sys
import time

import numpy as np


def load_loadrun(model_dir, threads, cfg):
    from pathlib import Path

    from loadrun.api import load_model
    from loadrun.compile import compile_graph
    from loadrun.runtime.native import RunOptions, Runtime

    graph = load_model(Path(model_dir) / "model.mge")
    if cfg.get("profile"):  # a fitted profile: its compile options, runtime options and algorithm cache
        return load_loadrun_profile(graph, model_dir, threads, cfg["profile"])
    kwargs = {"layout": cfg["layout"]} if cfg.get("layout", "nchw") != "nchw" else {}
    compiled = compile_graph(graph, **kwargs)
    fields = getattr(RunOptions, "__dataclass_fields__", {})
    runtime = {"weight_preprocess": True} if "weight_preprocess" in fields else {}  # packed at load, as MGE's wp=1
    runtime.update(cfg.get("runtime", {}))
    rt = Runtime.load(compiled, RunOptions(threads=threads, **runtime))
    x = np.load(f"{model_dir}/input.npy")

    def run():
        rt.set_input(0, x)
        rt.run()

    def out():
        return rt.get_outputs()[0]

    return "loadrun", run, out


def load_loadrun_profile(graph, model_dir, threads, profile_path):
    """loadrun with every option of a profile written by `loadrun MODEL --fit`: compile options
    (layout, jit) to compile_graph, runtime options to RunOptions, the profile's algorithm cache
    (if fast-run profiled) to a file passed as algo_cache, as `loadrun --profile` applies it."""
    import tempfile
    from pathlib import Path

    from loadrun.compile import compile_graph
    from loadrun.fit.apply import decode_algo_cache
    from loadrun.options import Options
    from loadrun.runtime.native import RunOptions, Runtime

    doc = json.loads(Path(profile_path).read_text())
    options = Options.from_dict(doc["options"])
    if options.threads != threads:
        raise SystemExit(f"{profile_path}: fitted for {options.threads} threads, asked for {threads}")
    compile_kwargs = {k: v for k, v in options.compile_kwargs().items() if v != getattr(Options(), k)}
    compiled = compile_graph(graph, **compile_kwargs)
    runtime = options.runtime_kwargs()
    cache = decode_algo_cache(doc.get("algo_cache"))
    if cache is not None:
        f = tempfile.NamedTemporaryFile(prefix="loadrun-peers-algo-", suffix=".bin", delete=False)
        f.write(cache)
        f.close()
        runtime["algo_cache"] = f.name
    else:
        runtime["algo_cache"] = None
    rt = Runtime.load(compiled, RunOptions(**runtime))
    x = np.load(f"{model_dir}/input.npy")

    def run():
        rt.set_input(0, x)
        rt.run()

    return "loadrun " + options.label(), run, lambda: rt.get_outputs()[0]


def load_ort(model_dir, threads, cfg):
    import onnxruntime as ort  # the settings of /work/shared/peers/ort_ov.py
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(f"{model_dir}/model.onnx", so, providers=["CPUExecutionProvider"])
    feed = {sess.get_inputs()[0].name: np.load(f"{model_dir}/input.npy").astype(np.float32)}
    res = {}

    def run():
        res["y"] = sess.run(None, feed)[0]

    return "onnxruntime " + ort.__version__, run, lambda: res["y"]


def load_ov(model_dir, threads, cfg):
    import openvino as ov
    core = ov.Core()
    cm = core.compile_model(f"{model_dir}/model.onnx", "CPU", {"INFERENCE_NUM_THREADS": threads,
                            "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1, "INFERENCE_PRECISION_HINT": "f32"})
    req = cm.create_infer_request()
    x = np.load(f"{model_dir}/input.npy").astype(np.float32)
    return "openvino " + ov.__version__, lambda: req.infer({0: x}), lambda: req.get_output_tensor(0).data.copy()


def load_mge(model_dir, threads, cfg):
    from megenginelite import LiteAlgoSelectStrategy, LiteConfig, LiteNetwork  # as /work/shared/peers/mgelite.py
    config = LiteConfig()
    config.options.weight_preprocess = cfg.get("wp", 1)
    config.options.comp_node_seq_record_level = cfg.get("record", 1)
    if cfg.get("layout") == "nchw88":
        config.options.enable_nchw88 = 1
    net = LiteNetwork(config=config)
    if threads > 1:
        net.threads_number = threads
    if cfg.get("inplace", 0):
        net.enable_cpu_inplace_mode()
    if cfg.get("fast", 1):
        net.set_network_algo_policy(LiteAlgoSelectStrategy.LITE_ALGO_PROFILE | LiteAlgoSelectStrategy.LITE_ALGO_OPTIMIZED)
    net.load(f"{model_dir}/model.mge")
    inp = net.get_io_tensor(net.get_input_name(0))
    out_t = net.get_io_tensor(net.get_output_name(0))
    x = np.load(f"{model_dir}/input.npy").astype(np.float32)

    def run():
        inp.set_data_by_copy(x)
        net.forward()
        net.wait()

    return "megengine-lite " + json.dumps(cfg, sort_keys=True), run, lambda: out_t.to_numpy().copy()


def main():
    engine, model_dir, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    cfg = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
    name, run, out = {"loadrun": load_loadrun, "ort": load_ort, "ov": load_ov, "mge": load_mge}[engine](
        model_dir, threads, cfg)
    run()
    ref_path = f"{model_dir}/output_mge.npy"
    ref = np.load(ref_path)
    y = np.asarray(out()).reshape(ref.shape).astype(np.float64)
    err = float(np.abs(y - ref).max() / max(1.0, float(np.abs(ref).max())))
    print(json.dumps({"ready": name, "rel_err": err, "pid": os.getpid()}), flush=True)
    for line in sys.stdin:
        parts = line.split()
        if not parts or parts[0] != "run":
            break
        times = []
        for _ in range(int(parts[1])):
            t0 = time.perf_counter()
            run()
            times.append((time.perf_counter() - t0) * 1e3)
        print(json.dumps(times), flush=True)


if __name__ == "__main__":
    main()
