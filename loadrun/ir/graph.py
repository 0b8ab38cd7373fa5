"""The IR: a static-shape dataflow graph of typed values and operator nodes.

Values are identified by integer ids (their index in ``Graph.values``). A value is either a graph
input (no producer, no constant), a constant (``const`` holds a numpy array) or the output of
exactly one node. Nodes are kept in topological order. Operator names and attributes are the
catalogue in ``loadrun/ir/ops.py`` (documented in ``docs/ir.md``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np


@dataclass
class Value:
    id: int
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    const: np.ndarray | None = None

    @property
    def is_const(self) -> bool:
        return self.const is not None

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


@dataclass
class Node:
    op: str
    inputs: list[int]
    outputs: list[int]
    attrs: dict[str, Any] = field(default_factory=dict)
    name: str = ""


@dataclass
class Graph:
    values: list[Value] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    inputs: list[int] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    # -- construction -------------------------------------------------------------------------

    def add_value(self, name: str, shape: Iterable[int], dtype, const: np.ndarray | None = None) -> int:
        vid = len(self.values)
        self.values.append(Value(vid, name, tuple(int(d) for d in shape), np.dtype(dtype), const))
        return vid

    def add_const(self, name: str, array: np.ndarray) -> int:
        array = np.asarray(array)
        return self.add_value(name, array.shape, array.dtype, array)

    def add_node(self, op: str, inputs: list[int], outputs: list[int], attrs: dict | None = None,
                 name: str = "") -> Node:
        node = Node(op, list(inputs), list(outputs), dict(attrs or {}), name)
        self.nodes.append(node)
        return node

    # -- queries ------------------------------------------------------------------------------

    def producers(self) -> dict[int, Node]:
        return {o: n for n in self.nodes for o in n.outputs}

    def consumers(self) -> dict[int, list[Node]]:
        out: dict[int, list[Node]] = {}
        for n in self.nodes:
            for i in n.inputs:
                out.setdefault(i, []).append(n)
        return out

    def input_names(self) -> list[str]:
        return [self.values[i].name for i in self.inputs]

    def output_names(self) -> list[str]:
        return [self.values[i].name for i in self.outputs]

    def op_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for n in self.nodes:
            counts[n.op] = counts.get(n.op, 0) + 1
        return dict(sorted(counts.items()))

    def constants(self) -> list[Value]:
        return [v for v in self.values if v.is_const]

    def param_count(self) -> int:
        used = {i for n in self.nodes for i in n.inputs} | set(self.outputs)
        return sum(v.size for v in self.values if v.is_const and v.id in used)

    def param_bytes(self) -> int:
        used = {i for n in self.nodes for i in n.inputs} | set(self.outputs)
        return sum(v.nbytes for v in self.values if v.is_const and v.id in used)

    # -- maintenance --------------------------------------------------------------------------

    def prune(self) -> "Graph":
        """Drop nodes and values the outputs do not depend on; renumber values densely."""
        producer = self.producers()
        live: set[int] = set()
        stack = list(self.outputs)
        while stack:
            v = stack.pop()
            if v in live:
                continue
            live.add(v)
            node = producer.get(v)
            if node is not None:
                stack.extend(node.inputs)
        keep_nodes = [n for n in self.nodes if any(o in live for o in n.outputs)]
        for n in keep_nodes:
            live.update(n.outputs)  # a multi-output node keeps all its outputs
        live.update(self.inputs)  # inputs stay, even when unused, so callers can feed them
        remap: dict[int, int] = {}
        values: list[Value] = []
        for v in self.values:
            if v.id in live:
                remap[v.id] = len(values)
                values.append(Value(len(values), v.name, v.shape, v.dtype, v.const))
        nodes = [Node(n.op, [remap[i] for i in n.inputs], [remap[o] for o in n.outputs], n.attrs, n.name)
                 for n in keep_nodes]
        return Graph(values, nodes, [remap[i] for i in self.inputs], [remap[o] for o in self.outputs],
                     dict(self.meta))

    def validate(self) -> None:
        """Check the structural invariants; raises ValueError on the first violation."""
        n_values = len(self.values)
        for i, v in enumerate(self.values):
            if v.id != i:
                raise ValueError(f"value {i} has id {v.id}")
            if v.const is not None and tuple(v.const.shape) != v.shape:
                raise ValueError(f"constant {v.name!r} shape {v.const.shape} != declared {v.shape}")
        defined = set(self.inputs) | {v.id for v in self.values if v.is_const}
        for node in self.nodes:
            for i in node.inputs:
                if not 0 <= i < n_values:
                    raise ValueError(f"{node.op} {node.name!r}: input id {i} out of range")
                if i not in defined:
                    raise ValueError(f"{node.op} {node.name!r}: input %{i} used before it is defined")
            for o in node.outputs:
                if not 0 <= o < n_values:
                    raise ValueError(f"{node.op} {node.name!r}: output id {o} out of range")
                if o in defined:
                    raise ValueError(f"{node.op} {node.name!r}: output %{o} defined twice")
                defined.add(o)
        for o in self.outputs:
            if o not in defined:
                raise ValueError(f"graph output %{o} is never defined")

    def summary(self) -> str:
        lines = []
        for i in self.inputs:
            v = self.values[i]
            lines.append(f"input  %{i} {v.name!r} {v.dtype}{list(v.shape)}")
        for n in self.nodes:
            outs = ", ".join(f"%{o}{list(self.values[o].shape)}" for o in n.outputs)
            ins = ", ".join(f"%{i}" + ("c" if self.values[i].is_const else "") for i in n.inputs)
            lines.append(f"{outs} = {n.op}({ins}) {n.attrs}")
        for o in self.outputs:
            lines.append(f"output %{o} {self.values[o].name!r}")
        return "\n".join(lines)
