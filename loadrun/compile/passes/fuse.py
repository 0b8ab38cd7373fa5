"""JIT fusion passes (docs/compile.md): elementwise groups at level 1, reductions with their
elementwise prologue at level 2.

Level 1 groups float32 Elemwise / PowC / TypeCvt(f32 <-> f16) / Broadcast / Reshape nodes of equal
element count into convex sub-graphs and replaces each group by one ``FusedElemwise`` node whose
``program`` is a small register machine (loadrun/ir/ops.py documents it). Level 2 then folds a
fused (or single) elementwise producer into a following Softmax, LayerNorm or global mean
(Pooling over the whole plane, Reduce MEAN over trailing axes), which then evaluates the program
while streaming over its input: ``FusedSoftmax``, ``FusedLayerNorm``, ``FusedMean``.
"""

from __future__ import annotations

import heapq
from typing import Any

import numpy as np

from loadrun.ir import ops
from loadrun.ir.graph import Graph, Node

F32, F16 = np.dtype("float32"), np.dtype("float16")
MAX_VIEWS = ops.FUSED_MAX_VIEWS
MAX_REGS = ops.FUSED_MAX_REGS
MAX_OUTPUTS = 8


def fuse_graph(graph: Graph, level: int) -> Graph:
    """The graph with JIT fusion ``level`` (0: unchanged, 1: elementwise, 2: + reductions) applied."""
    if level <= 0:
        return graph
    graph = fuse_elemwise(graph)
    if level >= 2:
        graph = fuse_reductions(graph)
    return graph


# -- level 1 ---------------------------------------------------------------------------------------


def _numel(shape) -> int:
    return int(np.prod(shape, dtype=np.int64))


def _fusible(g: Graph, n: Node) -> bool:
    ins = [g.values[i] for i in n.inputs]
    outs = [g.values[o] for o in n.outputs]
    if len(outs) != 1:
        return False
    if n.op == "Elemwise":
        return all(v.dtype == F32 for v in ins) and outs[0].dtype == F32 and n.attrs["mode"] in ops.ELEMWISE_ARITY
    if n.op == "PowC":
        return ins[0].dtype == F32
    if n.op == "TypeCvt":
        return (ins[0].dtype, outs[0].dtype) in ((F32, F16), (F16, F32), (F32, F32))
    if n.op in ("Broadcast", "Reshape"):
        return ins[0].dtype in (F32, F16)
    return False


def _computes(n: Node) -> bool:
    """Nodes that cost a kernel launch when left alone (a Reshape is a zero-copy alias)."""
    return n.op != "Reshape"


def _group(g: Graph) -> list[list[int]]:
    """Convex groups of fusible node indices, each in topological order."""
    producer_idx = {o: k for k, n in enumerate(g.nodes) for o in n.outputs}
    group_of: dict[int, int] = {}
    groups: list[dict[str, Any]] = []
    deps: dict[int, frozenset[int]] = {}  # value -> groups it depends on, through any path

    def safe(gid: int, node: Node) -> bool:
        for v in node.inputs:
            p = producer_idx.get(v)
            if p is not None and group_of.get(p) == gid:
                continue
            if gid in deps.get(v, frozenset()):
                return False  # the path leaves the group and would re-enter it: a cycle
        return True

    for k, node in enumerate(g.nodes):
        in_deps = frozenset().union(*(deps.get(v, frozenset()) for v in node.inputs))
        gid = None
        if _fusible(g, node):
            n_el = _numel(g.values[node.outputs[0]].shape)
            internal = [group_of[producer_idx[v]] for v in node.inputs
                        if v in producer_idx and producer_idx[v] in group_of]
            internal = [x for x in internal if groups[x]["numel"] == n_el and not groups[x]["closed"]]
            # a Reshape of an f16 value or of a non-member is only worth fusing behind a member
            if node.op == "Reshape" or g.values[node.inputs[0]].dtype != F32:
                candidates = internal
            else:
                siblings = [x for x, gr in enumerate(groups) if gr["numel"] == n_el and not gr["closed"]
                            and gr["externals"] & set(node.inputs)]
                candidates = sorted(set(internal), key=lambda x: -len(groups[x]["members"])) + siblings
            for cand in candidates:
                if safe(cand, node):
                    gid = cand
                    break
            if gid is None and node.op not in ("Reshape",) and g.values[node.inputs[0]].dtype == F32:
                gid = len(groups)
                groups.append({"numel": n_el, "members": [], "externals": set(), "closed": False})
            if gid is not None:
                gr = groups[gid]
                gr["members"].append(k)
                group_of[k] = gid
                for v in node.inputs:
                    p = producer_idx.get(v)
                    if p is None or group_of.get(p) != gid:
                        gr["externals"].add(v)
                if len(gr["externals"]) >= MAX_VIEWS:
                    gr["closed"] = True
        mine = frozenset((gid,)) if gid is not None else frozenset()
        for o in node.outputs:
            deps[o] = in_deps | mine
    return [gr["members"] for gr in groups if sum(_computes(g.nodes[k]) for k in gr["members"]) >= 2]


def _view(g: Graph, vid: int, shape: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Coalesced (dims, element strides) that read value ``vid`` broadcast onto ``shape``, row-major."""
    src = g.values[vid].shape
    nd = len(shape)
    strides, s = [0] * nd, 1
    for d in range(nd - 1, -1, -1):
        td = d - (nd - len(src))
        dim = src[td] if td >= 0 else 1
        strides[d] = 0 if dim == 1 else s
        s *= dim
    dims_out: list[int] = []
    st_out: list[int] = []
    for d in range(nd):
        if shape[d] == 1:
            continue
        if dims_out and st_out[-1] == strides[d] * shape[d]:
            dims_out[-1] *= shape[d]
            st_out[-1] = strides[d]
        else:
            dims_out.append(shape[d])
            st_out.append(strides[d])
    if not dims_out:
        return (1,), (0,)
    return tuple(dims_out), tuple(st_out)


class _ProgramBuilder:
    """Turns member nodes into views + instructions over virtual registers, then allocates registers."""

    def __init__(self, g: Graph) -> None:
        self.g = g
        self.inputs: list[int] = []  # external value ids, in first-use order
        self.views: list[tuple[int, tuple[int, ...], tuple[int, ...]]] = []
        self.view_key: dict[tuple, int] = {}
        self.code: list[tuple[str, Any, int, tuple[int, ...]]] = []  # (kind, arg, vdst, vsrcs)
        self.reg_of: dict[int, int] = {}  # value id -> virtual register
        self.n_virtual = 0

    def _new(self) -> int:
        self.n_virtual += 1
        return self.n_virtual - 1

    def view(self, vid: int, shape: tuple[int, ...]) -> int:
        if vid not in self.inputs:
            self.inputs.append(vid)
        dims, strides = _view(self.g, vid, shape)
        key = (vid, dims, strides)
        if key not in self.view_key:
            self.view_key[key] = len(self.views)
            self.views.append((self.inputs.index(vid), dims, strides))
        return -1 - self.view_key[key]  # views are negative until allocation

    def src(self, vid: int, shape: tuple[int, ...]) -> int:
        return self.reg_of[vid] if vid in self.reg_of else self.view(vid, shape)

    def emit(self, kind: str, arg: Any, srcs: list[int]) -> int:
        dst = self._new()
        self.code.append((kind, arg, dst, tuple(srcs)))
        return dst

    def add(self, n: Node) -> None:
        g = self.g
        out = n.outputs[0]
        shape = g.values[out].shape
        if n.op == "Reshape":
            self.reg_of[out] = self.src(n.inputs[0], g.values[n.inputs[0]].shape)
        elif n.op == "Broadcast":
            self.reg_of[out] = self.src(n.inputs[0], shape)
        elif n.op == "TypeCvt":
            r = self.src(n.inputs[0], shape)
            self.reg_of[out] = self.emit("ROUND_F16", None, [r]) if g.values[out].dtype == F16 else r
        elif n.op == "PowC":
            self.reg_of[out] = self.emit("POWC", float(n.attrs["exp"]), [self.src(n.inputs[0], shape)])
        else:
            self.reg_of[out] = self.emit("ELEMWISE", n.attrs["mode"], [self.src(i, shape) for i in n.inputs])

    def finish(self, outputs: list[int]) -> dict[str, Any]:
        """Attributes of the fused node; ``outputs`` are value ids read outside the group."""
        out_regs = []
        for vid in outputs:
            r = self.reg_of[vid]
            if r < 0 or r in out_regs:  # a view or an already stored value: materialise a copy
                r = self.emit("COPY", None, [r])
            out_regs.append(r)
        n_views = len(self.views)
        last_use: dict[int, int] = {}
        for k, (_, _, _, srcs) in enumerate(self.code):
            for s in srcs:
                last_use[s] = k
        for r in out_regs:
            last_use[r] = len(self.code)  # stored at the end: never reused
        phys: dict[int, int] = {}
        free: list[int] = []
        n_regs = n_views
        program = []
        for k, (kind, arg, dst, srcs) in enumerate(self.code):
            ps = tuple(-1 - s if s < 0 else phys[s] for s in srcs)
            for s in set(srcs):
                if s >= 0 and last_use.get(s) == k:
                    heapq.heappush(free, phys[s])
            if free:
                phys[dst] = heapq.heappop(free)
            else:
                phys[dst] = n_regs
                n_regs += 1
            program.append((kind, arg, phys[dst], ps))
        return {"views": [(i, d, s) for i, d, s in self.views], "program": program, "n_regs": n_regs,
                "outputs": tuple(phys[r] for r in out_regs),
                "out_shapes": tuple(self.g.values[v].shape for v in outputs)}


def program_of(g: Graph, members: list[Node], outputs: list[int]) -> tuple[list[int], dict[str, Any]]:
    """(external input value ids, program attributes) of a group of fusible nodes in topological order."""
    b = _ProgramBuilder(g)
    for n in members:
        b.add(n)
    attrs = b.finish(outputs)
    return b.inputs, attrs


def _toposort(g: Graph, nodes: list[tuple[int, Node]]) -> list[Node]:
    """Nodes (with their original position as the tie-break) in a topological order."""
    producer = {o: k for k, (_, n) in enumerate(nodes) for o in n.outputs}
    indeg = [0] * len(nodes)
    users: list[list[int]] = [[] for _ in nodes]
    for k, (_, n) in enumerate(nodes):
        for p in {producer[i] for i in n.inputs if i in producer}:
            indeg[k] += 1
            users[p].append(k)
    heap = [(pos, k) for k, (pos, _) in enumerate(nodes) if indeg[k] == 0]
    heapq.heapify(heap)
    out = []
    while heap:
        _, k = heapq.heappop(heap)
        out.append(nodes[k][1])
        for u in users[k]:
            indeg[u] -= 1
            if indeg[u] == 0:
                heapq.heappush(heap, (nodes[u][0], u))
    if len(out) != len(nodes):
        raise AssertionError("fusion produced a cycle")
    return out


def _readers(g: Graph) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for k, n in enumerate(g.nodes):
        for i in n.inputs:
            out.setdefault(i, []).append(k)
    return out


def fuse_elemwise(graph: Graph) -> Graph:
    """Level 1: each convex group of >= 2 elementwise nodes becomes one FusedElemwise node."""
    g = graph
    readers = _readers(g)
    graph_outputs = set(g.outputs)
    replaced: dict[int, Node] = {}  # first member index -> fused node
    dropped: set[int] = set()
    for members in _group(g):
        mset = set(members)
        outs = [o for k in members for o in g.nodes[k].outputs
                if o in graph_outputs or any(r not in mset for r in readers.get(o, []))]
        ins, attrs = program_of(g, [g.nodes[k] for k in members], outs)
        if len(outs) > MAX_OUTPUTS or attrs["n_regs"] > MAX_REGS or len(attrs["views"]) > MAX_VIEWS:
            continue
        name = "fused:" + "+".join(g.nodes[k].name or g.nodes[k].op for k in members[:3])
        replaced[members[0]] = Node("FusedElemwise", ins, outs, attrs, name[:200])
        dropped |= mset
    nodes = [(k, replaced.get(k, n)) for k, n in enumerate(g.nodes) if k not in dropped or k in replaced]
    return Graph(list(g.values), _toposort(g, nodes), list(g.inputs), list(g.outputs), dict(g.meta)).prune()


# -- level 2 ---------------------------------------------------------------------------------------


def _is_global_mean(g: Graph, n: Node) -> tuple[int, ...] | None:
    """The trailing axes a Pooling / Reduce node averages over entirely, or None."""
    x = g.values[n.inputs[0]]
    if x.dtype != F32:
        return None
    if n.op == "Pooling" and n.attrs["mode"] in ("AVERAGE", "AVERAGE_COUNT_EXCLUDE_PADDING"):
        h, w = x.shape[2:]
        if tuple(n.attrs["window"]) == (h, w) and tuple(n.attrs["pad"]) == (0, 0):
            return (2, 3)
    if n.op == "Reduce" and n.attrs["mode"] == "MEAN":
        axes = tuple(sorted(n.attrs["axes"]))
        if axes and axes == tuple(range(len(x.shape) - len(axes), len(x.shape))):
            return axes
    return None


def fuse_reductions(graph: Graph) -> Graph:
    """Level 2: an elementwise producer read only by a Softmax / LayerNorm / global mean moves into it."""
    g = graph
    producer = {o: k for k, n in enumerate(g.nodes) for o in n.outputs}
    readers = _readers(g)
    graph_outputs = set(g.outputs)
    new_nodes: dict[int, Node] = {}
    dropped: set[int] = set()
    for k, n in enumerate(g.nodes):
        if n.op not in ("Softmax", "LayerNorm", "Pooling", "Reduce"):
            continue
        x = n.inputs[0]
        p = producer.get(x)
        if p is None or p in dropped or x in graph_outputs or readers.get(x) != [k]:
            continue
        if g.values[x].dtype != F32:
            continue
        pn = g.nodes[p]
        if pn.op == "FusedElemwise" and len(pn.outputs) == 1:
            ins, prog = list(pn.inputs), dict(pn.attrs)
        elif pn.op in ("Elemwise", "PowC") and _fusible(g, pn):
            ins, prog = program_of(g, [pn], [x])
        else:
            continue
        prog["out_shapes"] = (g.values[x].shape,)
        if n.op == "Softmax":
            fused = Node("FusedSoftmax", ins, list(n.outputs), {**prog, "axis": n.attrs["axis"]}, n.name)
        elif n.op == "LayerNorm":
            fused = Node("FusedLayerNorm", ins + list(n.inputs[1:]), list(n.outputs),
                         {**prog, "eps": n.attrs["eps"], "normalized_dim": n.attrs["normalized_dim"],
                          "affine": n.attrs["affine"]}, n.name)
        else:
            axes = _is_global_mean(g, n)
            if axes is None:
                continue
            fused = Node("FusedMean", ins, list(n.outputs), {**prog, "axes": axes}, n.name)
        new_nodes[k] = fused
        dropped.add(p)
    nodes = [(k, new_nodes.get(k, n)) for k, n in enumerate(g.nodes) if k not in dropped]
    return Graph(list(g.values), _toposort(g, nodes), list(g.inputs), list(g.outputs), dict(g.meta)).prune()
