"""Model readers: every format becomes a loadrun IR ``Graph``."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from loadrun.errors import ModelFormatError
from loadrun.formats import mge
from loadrun.formats.mge_to_ir import to_ir
from loadrun.ir.graph import Graph
from loadrun.ir.ops import flops as _op_flops


def _read(path: str | Path, decrypt: str | None) -> mge.RawModel:
    path = str(path)
    if path.endswith(".onnx"):
        raise ModelFormatError(path, "ONNX models are not supported yet; export a MegEngine .mge file")
    return mge.read_file(path, decrypt)


def load_model(path: str | Path, *, decrypt: str | None = None,
               input_shapes: dict[str, tuple[int, ...]] | None = None) -> Graph:
    """Read a model file into the IR (static shapes folded, validated)."""
    return to_ir(_read(path, decrypt), input_shapes)


def graph_flops(graph: Graph) -> int:
    total = 0
    for n in graph.nodes:
        total += _op_flops(n.op, [graph.values[i].shape for i in n.inputs],
                           [graph.values[o].shape for o in n.outputs], n.attrs)
    return total


def describe(path: str | Path, *, decrypt: str | None = None) -> dict[str, Any]:
    """Everything ``loadrun info`` shows about a model file."""
    raw = _read(path, decrypt)
    graph = to_ir(raw)
    mge_ops: dict[str, int] = {}
    for op in raw.oprs:
        mge_ops[op.type] = mge_ops.get(op.type, 0) + 1
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()

    def tensors(ids):
        return [{"name": graph.values[i].name, "shape": list(graph.values[i].shape),
                 "dtype": str(graph.values[i].dtype)} for i in ids]

    info: dict[str, Any] = {
        "path": str(path),
        "sha256": digest,
        "file_bytes": raw.file_bytes,
        "container": raw.container,
        "mge_version": raw.version_string,
        "model_version": raw.model_version,
        "inputs": tensors(graph.inputs),
        "outputs": tensors(graph.outputs),
        "mge_operators": dict(sorted(mge_ops.items())),
        "ir_operators": graph.op_counts(),
        "params": graph.param_count(),
        "param_bytes": graph.param_bytes(),
        "flops": graph_flops(graph),
        "metadata": raw.metadata,
    }
    if "lite" in raw.extra:
        info["lite"] = raw.extra["lite"]
    if raw.extra.get("test_cases"):
        info["test_cases"] = raw.extra["test_cases"]
    return info
