"""Compilation of an IR graph into the compiled model format the native runtime executes."""

from __future__ import annotations

from loadrun.compile.serialize import check_graph, serialize
from loadrun.ir.graph import Graph

__all__ = ["compile_graph", "check_graph", "serialize"]


def compile_graph(graph: Graph) -> bytes:
    """Validate ``graph``, drop what the outputs do not need, and serialize it.

    Graph passes (constant folding, fusion, layouts) will run here before serialization.
    """
    graph.validate()
    return serialize(graph.prune())
