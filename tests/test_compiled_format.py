"""The compiled model format: layout, validation in Python, and a native loader that turns every
hostile byte string (truncated, flipped, absurd sizes) into an error instead of a crash."""

from __future__ import annotations

import importlib
import struct

import numpy as np
import pytest

from ir_graph_zoo import ZOO, GraphMaker
from loadrun.compile import compile_graph, serialize
from loadrun.errors import RuntimeFailure, UnsupportedOperatorError
from loadrun.ir.graph import Graph
from loadrun.runtime import Runtime

ser = importlib.import_module("loadrun.compile.serialize")
HEADER = struct.Struct("<8sIIQIIIIIIIIQQQQQQQQQ")
TENSOR = struct.Struct("<IIBBBBI8qQQ")
NODE = struct.Struct("<12I")


def header(blob: bytes) -> dict:
    names = ["magic", "version", "header_bytes", "file_bytes", "n_tensors", "n_nodes", "n_inputs", "n_outputs",
             "n_ids", "n_ints", "n_floats", "strings_bytes", "strings_off", "tensors_off", "nodes_off", "io_off",
             "ids_off", "ints_off", "floats_off", "data_off", "data_bytes"]
    return dict(zip(names, HEADER.unpack_from(blob)))


def conv_model() -> Graph:
    m = GraphMaker(11)
    x = m.randn("x", 1, 3, 8, 8)
    y = m.n1("Conv", [x, m.weight(4, 3, 3, 3), m.weight(1, 4, 1, 1)],
             {"stride": (1, 1), "pad": (1, 1), "dilation": (1, 1), "group": 1, "flip": False, "nonlinearity": "RELU"})
    z = m.n1("Reshape", [y], {"shape": (4, 64)})
    m.output(m.n1("Elemwise", [z, m.weight(1, 64)], {"mode": "ADD"}, name="out"))
    return m.g


def run_or_fail(blob: bytes) -> None:
    """Loads and runs the bytes; only a clean RuntimeFailure is allowed to come out."""
    try:
        rt = Runtime.load(blob)
    except RuntimeFailure:
        return
    with rt:
        for info in rt.inputs:
            rt.set_input(info.name, np.ones(info.shape, info.dtype))
        try:
            rt.run()
        except RuntimeFailure:
            return
        rt.get_outputs()


def test_layout():
    g = conv_model()
    blob = serialize(g)
    h = header(blob)
    assert h["magic"] == b"LRMODEL\0" and h["version"] == ser.VERSION and h["header_bytes"] == 128
    assert h["file_bytes"] == len(blob) and h["n_tensors"] == len(g.values) and h["n_nodes"] == len(g.nodes)
    assert h["data_off"] % 64 == 0
    for i, v in enumerate(g.values):
        rec = TENSOR.unpack_from(blob, h["tensors_off"] + i * TENSOR.size)
        name = blob[h["strings_off"] + rec[0]: h["strings_off"] + rec[0] + rec[1]].decode()
        assert name == v.name and rec[4] == len(v.shape) and tuple(rec[7:7 + rec[4]]) == v.shape
        data_off, data_bytes = rec[15], rec[16]
        if v.is_const:
            assert rec[3] == ser.KIND_CONST and data_off % 64 == 0 and data_bytes == v.nbytes
            at = h["data_off"] + data_off
            assert np.array_equal(np.frombuffer(blob[at: at + data_bytes], v.dtype).reshape(v.shape), v.const)
        else:
            assert data_bytes == 0
    op = NODE.unpack_from(blob, h["nodes_off"])[0]
    assert op == ser.OP_CODES["Conv"]


def test_every_zoo_graph_serializes_and_is_deterministic():
    for name, make in ZOO.items():
        g, _ = make()
        assert compile_graph(g) == compile_graph(g), name


def test_python_side_refuses_bad_graphs():
    g = conv_model()
    g.nodes[0].attrs["nonlinearity"] = "GELU"
    with pytest.raises(UnsupportedOperatorError, match="nonlinearity"):
        serialize(g)
    g = conv_model()
    g.nodes[0].op = "Remap"
    with pytest.raises(UnsupportedOperatorError, match="Remap"):
        serialize(g)
    g = conv_model()
    g.values[g.nodes[0].outputs[0]].shape = (1, 4, 8, 9)
    with pytest.raises(ValueError, match="infers"):
        serialize(g)


def test_truncations_at_every_boundary():
    blob = compile_graph(conv_model())
    h = header(blob)
    cuts = {0, 1, 7, 8, 16, 127, 128, len(blob) - 1}
    for key in ("strings_off", "tensors_off", "nodes_off", "io_off", "ids_off", "ints_off", "floats_off", "data_off"):
        cuts |= {h[key] - 1, h[key], h[key] + 1}
    for cut in sorted(c for c in cuts if 0 <= c < len(blob)):
        with pytest.raises(RuntimeFailure):
            Runtime.load(blob[:cut])
    # a truncated file with a consistent header is still caught: the sections no longer fit
    short = bytearray(blob[: h["data_off"] + 8])
    struct.pack_into("<Q", short, 16, len(short))
    with pytest.raises(RuntimeFailure, match="does not fit|outside"):
        Runtime.load(bytes(short))


def test_every_flipped_byte_is_an_error_or_runs():
    blob = compile_graph(conv_model())
    h = header(blob)
    end = h["data_off"]  # weights are data: flipping them is legal
    for i in range(end):
        for v in (0xFF, 0x80):
            b = bytearray(blob)
            b[i] ^= v
            run_or_fail(bytes(b))


def test_random_corruption_of_zoo_models():
    rng = np.random.RandomState(3)
    for name in ("conv_family", "shapes_and_slices", "sorting_indexing", "elemwise_multi", "warp"):
        blob = compile_graph(ZOO[name]()[0])
        for _ in range(150):
            b = bytearray(blob)
            for _ in range(rng.randint(1, 4)):
                at = rng.randint(0, header(blob)["data_off"])
                b[at] = rng.randint(0, 256)
            run_or_fail(bytes(b))


def patch_tensor(blob: bytes, index: int, **fields) -> bytes:
    h = header(blob)
    off = h["tensors_off"] + index * TENSOR.size
    rec = list(TENSOR.unpack_from(blob, off))
    pos = {"dtype": 2, "kind": 3, "ndim": 4, "data_off": 15, "data_bytes": 16}
    for k, v in fields.items():
        if k.startswith("dim"):
            rec[7 + int(k[3:])] = v
        else:
            rec[pos[k]] = v
    b = bytearray(blob)
    TENSOR.pack_into(b, off, *rec)
    return bytes(b)


@pytest.mark.parametrize("fields,match", [
    (dict(dim0=1 << 40), "out of range"),
    (dict(dim0=-1), "out of range"),
    (dict(dim1=1 << 20, dim2=1 << 20, dim3=1 << 20), "limit"),
    (dict(dim0=(1 << 33) + 1, dim1=(1 << 33) + 1), "out of range|limit"),
    (dict(ndim=0), "ndim"),
    (dict(ndim=9), "ndim"),
    (dict(dtype=7), "dtype"),
    (dict(kind=9), "kind"),
    (dict(dim3=9), "dim 3"),
])
def test_absurd_tensor_fields(fields, match):
    blob = compile_graph(conv_model())
    with pytest.raises(RuntimeFailure, match=match):
        Runtime.load(patch_tensor(blob, 0, **fields))


def test_absurd_const_data_and_counts():
    g = conv_model()
    blob = compile_graph(g)
    w = next(v.id for v in g.prune().values if v.is_const)
    with pytest.raises(RuntimeFailure, match="does not fit"):
        Runtime.load(patch_tensor(blob, w, data_off=1 << 62))
    with pytest.raises(RuntimeFailure, match="does not fit"):
        Runtime.load(patch_tensor(blob, w, data_off=64 * 1000))
    h = header(blob)
    for field, at in (("n_tensors", 24), ("n_nodes", 28), ("n_ids", 40), ("n_ints", 44)):
        b = bytearray(blob)
        struct.pack_into("<I", b, at, 0xFFFFFFFF)
        with pytest.raises(RuntimeFailure):
            Runtime.load(bytes(b))
        struct.pack_into("<I", b, at, h[field] + 1)  # one more record read from the next section
        run_or_fail(bytes(b))
    for at in range(56, 128, 8):  # every section offset pointed past the end / into the header
        for value in (len(blob) + 8, 1 << 63, 8):
            b = bytearray(blob)
            struct.pack_into("<Q", b, at, value)
            run_or_fail(bytes(b))


def test_node_ids_and_attrs_out_of_range():
    blob = compile_graph(conv_model())
    h = header(blob)
    for field, value in ((3, 200), (4, 1 << 31), (7, 1 << 30), (8, 5), (9, 1 << 30), (0, 99)):
        b = bytearray(blob)
        rec = list(NODE.unpack_from(b, h["nodes_off"]))
        rec[field] = value
        NODE.pack_into(b, h["nodes_off"], *rec)
        with pytest.raises(RuntimeFailure):
            Runtime.load(bytes(b))
    b = bytearray(blob)
    struct.pack_into("<I", b, h["ids_off"], 1 << 20)  # a tensor id past the table
    with pytest.raises(RuntimeFailure, match="out of range"):
        Runtime.load(bytes(b))
    b = bytearray(blob)
    struct.pack_into("<q", b, h["ints_off"], -5)  # Conv stride -5
    with pytest.raises(RuntimeFailure, match="stride"):
        Runtime.load(bytes(b))
