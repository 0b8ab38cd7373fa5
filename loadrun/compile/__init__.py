"""Compilation of an IR graph into the compiled model format the native runtime executes."""

from __future__ import annotations

from loadrun.compile.passes.fuse import fuse_graph
from loadrun.compile.passes.layout import apply_layout
from loadrun.compile.passes.fuse_conv_activation import fuse_conv_activation
from loadrun.compile.serialize import check_graph, serialize
from loadrun.ir.graph import Graph

__all__ = ["compile_graph", "check_graph", "serialize"]


def compile_graph(graph: Graph, *, layout: str = "nchw", jit: int = 0) -> bytes:
    """Validate ``graph``, drop what the outputs do not need, apply the graph passes and serialize.

    Passes, in order (docs/compile.md): Conv + elementwise epilogue fusion (always), then JIT
    fusion at level ``jit`` (0 none, 1 elementwise groups,
    2 also reductions with their elementwise prologue), then the blocked ``layout`` ("nchw": none;
    "nchw16" AVX-512, "nchw88" AVX2, "nchw44" NEON: loadrun/compile/passes/layout.py).
    """
    graph.validate()
    graph = fuse_conv_activation(graph.prune())  # always on, like MegEngine's fuse_conv_bias_nonlinearity
    graph = fuse_graph(graph, jit)
    graph = apply_layout(graph.prune(), layout)
    return serialize(graph.prune())
