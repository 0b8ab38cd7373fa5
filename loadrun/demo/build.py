"""Builds the embedded demo model ``demo.mge`` with loadrun's own ``.mge`` writer.

A small image classifier with seeded weights: conv + folded batch norm + ReLU, a depthwise-separable
block, a residual block, max and global average pooling, a linear layer and softmax; input
``data`` float32 (1, 3, 64, 64), output ``prob`` (1, 10). Regenerate with
``python -m loadrun.demo.build``; the build is deterministic (a test checks the committed file).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from loadrun.formats.mge_writer import save_mge, write_mge
from loadrun.ir import ops as O
from loadrun.ir.graph import Graph

SEED = 20240601
INPUT_SHAPE = (1, 3, 64, 64)
CLASSES = 10


class _Net:
    def __init__(self, seed: int):
        self.g = Graph()
        self.rng = np.random.RandomState(seed)  # the legacy generator: a stream fixed across numpy versions

    def node(self, op: str, inputs: list[int], attrs: dict, name: str) -> int:
        outs = O.infer(op, [(self.g.values[i].shape, self.g.values[i].dtype) for i in inputs], attrs)
        ids = [self.g.add_value(name if k == 0 else f"{name}:{k}", s, t) for k, (s, t) in enumerate(outs)]
        self.g.add_node(op, inputs, ids, attrs, name)
        return ids[0]

    def conv_bn(self, x: int, oc: int, k: int, name: str, *, stride: int = 1, group: int = 1,
                act: str = "RELU") -> int:
        """Conv (no bias) followed by an inference batch norm, folded into the conv's weight and bias."""
        ic = self.g.values[x].shape[1]
        fan_in = ic // group * k * k
        w = self.rng.standard_normal((oc, ic // group, k, k)) * np.sqrt(2.0 / fan_in)
        gamma = 1.0 + 0.1 * self.rng.standard_normal(oc)
        beta = 0.1 * self.rng.standard_normal(oc)
        mean = 0.1 * self.rng.standard_normal(oc)
        var = 1.0 + 0.1 * np.abs(self.rng.standard_normal(oc))
        scale = gamma / np.sqrt(var + 1e-5)
        wf = self.g.add_const(f"{name}.weight", (w * scale[:, None, None, None]).astype(np.float32))
        bf = self.g.add_const(f"{name}.bias", (beta - mean * scale).astype(np.float32).reshape(1, oc, 1, 1))
        attrs = dict(stride=(stride, stride), pad=(k // 2, k // 2), dilation=(1, 1), group=group, flip=False,
                     nonlinearity=act)
        return self.node("Conv", [x, wf, bf], attrs, name)


def build_graph(seed: int = SEED) -> Graph:
    n = _Net(seed)
    g = n.g
    x = g.add_value("data", INPUT_SHAPE, np.float32)
    g.inputs.append(x)
    y = n.conv_bn(x, 16, 3, "stem", stride=2)                       # 16 x 32 x 32
    y = n.conv_bn(y, 16, 3, "dw1", group=16)                        # depthwise
    y = n.conv_bn(y, 32, 1, "pw1")                                  # pointwise, 32 x 32 x 32
    y = n.node("Pooling", [y], dict(mode="MAX", window=(2, 2), stride=(2, 2), pad=(0, 0)), "pool1")  # 16 x 16
    r = n.conv_bn(y, 32, 3, "res.conv1")
    r = n.conv_bn(r, 32, 3, "res.conv2", act="IDENTITY")
    y = n.node("Elemwise", [r, y], dict(mode="FUSE_ADD_RELU"), "res.add")
    y = n.conv_bn(y, 48, 3, "down", stride=2)                       # 48 x 8 x 8
    y = n.node("Reduce", [y], dict(mode="MEAN", axes=(2, 3)), "gap")
    y = n.node("Reshape", [y], dict(shape=(1, 48)), "flatten")
    w = g.add_const("fc.weight", (n.rng.standard_normal((CLASSES, 48)) / np.sqrt(48)).astype(np.float32))
    b = g.add_const("fc.bias", (0.01 * n.rng.standard_normal((1, CLASSES))).astype(np.float32))
    y = n.node("MatMul", [y, w], dict(transA=False, transB=True), "fc")
    y = n.node("Elemwise", [y, b], dict(mode="ADD"), "fc.add")
    y = n.node("Softmax", [y], dict(axis=1), "prob")
    g.outputs.append(y)
    g.validate()
    return g


def build_bytes(seed: int = SEED) -> bytes:
    return write_mge(build_graph(seed))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0]) if argv else Path(__file__).with_name("demo.mge")
    save_mge(build_graph(), out)
    print(f"wrote {out} ({out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
