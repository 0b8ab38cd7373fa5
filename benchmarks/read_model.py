"""How long reading a .mge model takes, and how much memory it needs beyond the file itself.

usage: python benchmarks/read_model.py [MODEL] [--repeat 7]
(default MODEL: ../shared/models/resnet18/model.mge)

Prints one JSON line: the median (and min/max) wall time of ``load_model`` (file read, container
and FlatBuffer parsing, IR building with constant folding) and of the parse alone, and the peak
memory traced by ``tracemalloc`` during one ``load_model`` call. The weights are views into the
bytes read from the file, so the peak should be about one file size: a ratio near 1.0 shows they
are not copied again.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
import tracemalloc
from pathlib import Path

from loadrun.formats import load_model, mge

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "models" / "resnet18" / "model.mge"


def timed(fn, repeat: int) -> dict[str, float]:
    times = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
        del result
    return {"median_ms": statistics.median(times) * 1e3, "min_ms": min(times) * 1e3, "max_ms": max(times) * 1e3}


def peak_bytes(fn) -> int:
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    base, _ = tracemalloc.get_traced_memory()
    result = fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del result
    return peak - base


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", nargs="?", default=str(DEFAULT))
    ap.add_argument("--repeat", type=int, default=7)
    a = ap.parse_args()
    path = Path(a.model)
    size = path.stat().st_size
    load = timed(lambda: load_model(path), a.repeat)
    parse = timed(lambda: mge.read_file(str(path)), a.repeat)
    peak = peak_bytes(lambda: load_model(path))
    g = load_model(path)
    const_bytes = sum(v.const.nbytes for v in g.values if v.const is not None)
    print(json.dumps({
        "model": str(path), "file_bytes": size, "constant_bytes": const_bytes, "repeat": a.repeat,
        "load_model": load, "parse_only": parse,
        "peak_traced_bytes": peak, "peak_over_file": round(peak / size, 3),
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
