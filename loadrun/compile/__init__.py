"""Compilation of an IR graph into the compiled model format the native runtime executes."""

from __future__ import annotations

from loadrun.compile.passes.fuse import fuse_graph
from loadrun.compile.serialize import check_graph, serialize
from loadrun.ir.graph import Graph

__all__ = ["compile_graph", "check_graph", "serialize"]


def compile_graph(graph: Graph, *, jit: int = 0) -> bytes:
    """Validate ``graph``, drop what the outputs do not need, apply the graph passes and serialize.

    Passes, in order (docs/compile.md): JIT fusion at level ``jit`` (0 none, 1 elementwise groups,
    2 also reductions with their elementwise prologue).
    """
    graph.validate()
    graph = fuse_graph(graph.prune(), jit)
    return serialize(graph.prune())
