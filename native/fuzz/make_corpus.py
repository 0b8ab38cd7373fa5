"""Writes the fuzz seed corpus: small compiled models (one per graph of tests/ir_graph_zoo.py).

    python native/fuzz/make_corpus.py      # from the repository root
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from ir_graph_zoo import ZOO  # noqa: E402
from loadrun.compile import compile_graph  # noqa: E402

MAX_BYTES = 64 * 1024


def main() -> None:
    out = Path(__file__).resolve().parent / "corpus"
    out.mkdir(exist_ok=True)
    for name, make in sorted(ZOO.items()):
        blob = compile_graph(make()[0])
        if len(blob) <= MAX_BYTES:
            (out / f"{name}.lrm").write_bytes(blob)
            print(f"{name}.lrm {len(blob)} bytes")


if __name__ == "__main__":
    main()
