"""Hostile model files: every one must fail with ModelFormatError (or UnsupportedOperatorError
where that is the truth), a one-line message naming the file, quickly and in little memory.

The hypothesis fuzz test runs a bounded number of mutations by default; set
``LOADRUN_FUZZ_EXAMPLES`` (e.g. 200000) for a long run. Crashes it finds are kept in
``tests/data/hostile/`` and replayed by ``test_kept_regressions``.
"""

from __future__ import annotations

import os
import struct
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ir_graph_zoo import GraphMaker

from loadrun.errors import ModelFormatError, UnsupportedOperatorError
from loadrun.formats import mge
from loadrun.formats import mge_schema as S
from loadrun.formats.flatbuf import MAX_TABLES, root_table
from loadrun.formats.mge_to_ir import to_ir
from loadrun.formats.mge_writer import _Encoder, _Lowering, write_mge

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "mge"
HOSTILE = HERE / "data" / "hostile"
SHARED_OPS = HERE.parent.parent / "shared" / "models" / "ops"
PATH = "hostile.mge"
TIME_LIMIT_S = 2.0


def load(data: bytes, decrypt: str | None = None):
    return to_ir(mge.parse_bytes(data, PATH, decrypt))


def outcome(data: bytes, *, must_fail: bool = True, decrypt: str | None = None) -> str:
    """Read ``data``; check the error contract; returns "ok" or the error class name."""
    t0 = time.perf_counter()
    try:
        load(data, decrypt)
        result = "ok"
    except (ModelFormatError, UnsupportedOperatorError) as e:
        msg = str(e)
        assert msg.startswith(f"{PATH}: "), msg
        assert "\n" not in msg and "\r" not in msg and len(msg) < 2000, repr(msg[:300])
        result = type(e).__name__
    elapsed = time.perf_counter() - t0
    assert elapsed < TIME_LIMIT_S, f"took {elapsed:.2f}s"
    if must_fail:
        assert result != "ok", "a hostile file was accepted"
    return result


def small_model() -> bytes:
    """A small valid v2 model (conv, pooling, reshape, matmul, softmax) made by the writer."""
    m = GraphMaker(42)
    x = m.randn("data", 1, 2, 6, 6)
    c = dict(stride=(1, 1), pad=(1, 1), dilation=(1, 1), group=1, flip=False, nonlinearity="RELU")
    y = m.n1("Conv", [x, m.weight(3, 2, 3, 3), m.weight(1, 3, 1, 1)], c)
    y = m.n1("Pooling", [y], dict(mode="MAX", window=(2, 2), stride=(2, 2), pad=(0, 0)))
    y = m.n1("Reshape", [y], dict(shape=(1, 27)))
    y = m.n1("MatMul", [y, m.weight(4, 27)], dict(transA=False, transB=True))
    m.output(m.n1("Softmax", [y], dict(axis=1), name="prob"))
    return write_mge(m.done()[0])


def corpus() -> list[tuple[str, bytes]]:
    files = [(p.name, p.read_bytes()) for p in sorted(DATA.glob("*.mge")) if p.stem != "aes_default"]
    if SHARED_OPS.is_dir():
        files += [(f"ops/{p.parent.name}", p.read_bytes()) for p in sorted(SHARED_OPS.glob("*/model.mge"))
                  if p.stat().st_size < 50_000]
    return [("small_model", small_model())] + files


CORPUS = corpus()


def test_the_corpus_reads():
    for name, data in CORPUS:
        assert outcome(data, must_fail=False) == "ok", name


# -- truncation -----------------------------------------------------------------------------------

def boundaries(data: bytes) -> list[int]:
    """Offsets where sections start or end: headers, each tensor's data, the inner model of a wrapper."""
    cuts = set(range(0, min(len(data), 24)))
    raw = mge.parse_bytes(data, PATH)
    base = np.frombuffer(data, np.uint8).ctypes.data
    for op in raw.oprs:
        for t in op.tensors:
            if t.data is not None:
                start = np.frombuffer(t.data, np.uint8).ctypes.data - base
                if 0 <= start <= len(data):
                    cuts.update((start - 4, start, start + len(t.data) // 2, start + len(t.data)))
    cuts.update(range(0, len(data), max(1, len(data) // 300)))  # and a sweep
    return sorted(c for c in cuts if 0 <= c < len(data))


def first_model_end(name: str, data: bytes) -> int:
    """Bytes the reader needs: a mgbtest0 file's test cases and v1 trailing bytes are not read."""
    if data[:8] == b"mgbtest0":
        (size,) = struct.unpack_from("<I", data, 12)
        return 12 + 4 + size
    return len(data)


@pytest.mark.parametrize("name,data", CORPUS[:12], ids=[n for n, _ in CORPUS[:12]])
def test_truncated_at_every_section_boundary(name, data):
    need = first_model_end(name, data)
    for cut in boundaries(data):
        outcome(data[:cut], must_fail=cut < need)


def test_truncated_flatbuffer_with_a_consistent_size_prefix():
    data = small_model()
    for cut in range(12, len(data), 3):
        b = bytearray(data[:cut])
        struct.pack_into("<I", b, 0, cut - 4)
        outcome(bytes(b), must_fail=False)  # only the contract: a format error or a valid model


# -- random bytes, wrong magic ------------------------------------------------------------------------

@pytest.mark.parametrize("prefix", [b"", b"\x00" * 8 + b"mgv2", b"MGBC" + b"\x00" * 12, b"MGBS\x00\x00\x00\x00",
                                    b"packed_model", b"mgbtest0\x01\x00\x00\x00", b"mgb0001"])
def test_random_bytes(prefix):
    rng = np.random.RandomState(len(prefix))
    for n in (0, 1, 7, 11, 12, 13, 16, 64, 300, 4096):
        for _ in range(20):
            outcome(prefix + rng.bytes(n))


@pytest.mark.parametrize("head", [b"mgv3", b"MGV2", b"\x00\x00\x00\x00"])
def test_wrong_magic(head):
    b = bytearray(small_model())
    b[8:12] = head
    msg = pytest.raises(ModelFormatError, load, bytes(b)).value
    assert "not a MegEngine model" in str(msg)


def test_empty_and_tiny_files():
    for data in (b"", b"m", b"mgv2", b"\x00" * 11):
        assert "too short" in str(pytest.raises(ModelFormatError, load, data).value)


def test_old_formats_are_named():
    assert "mgb0001" in str(pytest.raises(ModelFormatError, load, b"mgb0001" + b"\x00" * 32).value)


# -- flipped offsets and vtables --------------------------------------------------------------------------

def structure_positions(data: bytes) -> list[int]:
    """4-aligned positions of the FlatBuffer outside tensor data (offsets, vtables, scalars)."""
    raw = mge.parse_bytes(data, PATH)
    base = np.frombuffer(data, np.uint8).ctypes.data
    in_data = np.zeros(len(data), bool)
    for op in raw.oprs:
        for t in op.tensors:
            if t.data is not None and len(t.data) > 8:
                s = np.frombuffer(t.data, np.uint8).ctypes.data - base
                in_data[s + 4: s + len(t.data)] = True
    return [p for p in range(4, len(data) - 3, 2) if not in_data[p]]


def test_flipped_offsets_and_vtable_entries():
    data = small_model()
    rng = np.random.RandomState(5)
    results: dict[str, int] = {}
    for p in structure_positions(data):
        b = bytearray(data)
        if p % 4:  # vtable entries are 16-bit
            struct.pack_into("<H", b, p, int(rng.choice([0, 2, 0xFFFF, 0x8000, rng.randint(1 << 16)])))
        else:  # offsets, lengths, scalars are 32-bit
            (u32,) = struct.unpack_from("<I", data, p)
            choices = [0, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, (u32 + 4) & 0xFFFFFFFF, (u32 - 4) & 0xFFFFFFFF,
                       len(data), u32 ^ 0x0100]
            struct.pack_into("<I", b, p, int(choices[rng.randint(len(choices))]))
        r = outcome(bytes(b), must_fail=False)
        results[r] = results.get(r, 0) + 1
    assert results.get("ModelFormatError", 0) > 100, results


# -- crafted files: absurd sizes, bad references, huge vectors ------------------------------------------

def lowered(seed: int = 7) -> tuple[_Lowering, list[int]]:
    m = GraphMaker(seed)
    x = m.randn("data", 1, 3, 4, 4)
    y = m.n1("Reshape", [x], dict(shape=(1, 48)))
    y = m.n1("Elemwise", [y, m.weight(1, 48)], dict(mode="ADD"), name="out")
    m.output(y)
    g = m.done()[0]
    low = _Lowering(g)
    low.run()
    return low, [low.vmap[o] for o in g.outputs]


def encode(low: _Lowering, outputs: list[int]) -> bytes:
    return _Encoder(1 << 16).model(low, outputs)


def op_of(low: _Lowering, registered: str):
    return next(op for op in low.ops if op.registered == registered)


def test_crafted_baseline_reads():
    assert outcome(encode(*lowered()), must_fail=False) == "ok"


def expect_error(data: bytes, *fragments: str, kind=ModelFormatError, max_bytes: int = 64 << 20):
    tracemalloc.start()
    try:
        t0 = time.perf_counter()
        with pytest.raises(kind) as e:
            load(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - t0 < TIME_LIMIT_S
    assert peak < max_bytes, f"peak {peak} bytes"
    msg = str(e.value)
    assert msg.startswith(f"{PATH}: ") and "\n" not in msg, msg
    for f in fragments:
        assert f in msg, msg
    return msg


@pytest.mark.parametrize("shape", [(1 << 20, 1 << 20), (0xFFFFFFFF, 0xFFFFFFFF), (65536, 65536, 2), (1,) * 8])
def test_constant_claiming_an_absurd_size(shape):
    low, outs = lowered()
    op_of(low, "ImmutableTensor").tensors[0].shape = shape
    expect_error(encode(low, outs), "tensor")


def test_input_claiming_an_absurd_size():
    low, outs = lowered()
    op_of(low, "Host2DeviceCopy").tensors[0].shape = (1 << 21, 1 << 21)
    expect_error(encode(low, outs), "2^32")


def test_computed_value_claiming_an_absurd_size():
    low, outs = lowered()
    reshape = op_of(low, "ReshapeV1")
    target = low.ops[reshape.inputs[1]]
    target.tensors[0].data = np.array([0x7FFFFFFF, 0x7FFFFFFF, 1, 0], np.int32)[:len(target.tensors[0].shape)].tobytes()
    expect_error(encode(low, outs))


def test_broadcast_of_a_constant_to_an_absurd_shape_is_not_folded():
    m = GraphMaker(3)
    x = m.randn("data", 4)
    c = m.weight(1, 1)
    y = m.n1("Broadcast", [c], dict(shape=(2, 4)))
    m.output(m.n1("Elemwise", [y, x], dict(mode="ADD")))
    low = _Lowering(m.done()[0])
    low.run()
    bc = op_of(low, "Broadcast")
    shape_op = low.ops[bc.inputs[1]]
    shape_op.tensors[0].data = np.array([1 << 30, 8], np.int32).tobytes()
    expect_error(encode(low, [len(low.var_names) - 1]), "2^32")


def test_data_length_disagreeing_with_the_shape():
    low, outs = lowered()
    t = op_of(low, "ImmutableTensor").tensors[0]
    t.data = bytes(t.data)[:-4]
    expect_error(encode(low, outs), "bytes of data")


@pytest.mark.parametrize("bad", ["later", "never", "self"])
def test_dangling_or_cyclic_var_references(bad):
    low, outs = lowered()
    k = next(i for i, op in enumerate(low.ops) if op.registered == "Elemwise")
    op = low.ops[k]
    op.inputs[0] = {"later": op.outputs[0] + 1, "never": 10_000, "self": op.outputs[0]}[bad]
    if bad == "later":  # a var that exists, but only after this operator
        low.ops.append(type(op)("Elemwise", 1, [op.outputs[0]], [len(low.var_names)], [(17, {})]))
        low.var_names.append("later")
        low.var_shapes.append((1, 48))
    expect_error(encode(low, outs), "not defined before it is used")


def test_output_ids_out_of_sequence():
    low, outs = lowered()
    low.ops[-1].outputs = [low.ops[-1].outputs[0] + 5]
    expect_error(encode(low, outs), "declares output var")


def test_graph_output_never_produced():
    low, _ = lowered()
    expect_error(encode(low, [12345]), "not produced")


def test_unknown_operator_is_unsupported():
    low, outs = lowered()
    op_of(low, "Elemwise").registered = "NoSuchOperatorV3"
    msg = expect_error(encode(low, outs), "NoSuchOperator", kind=UnsupportedOperatorError)
    assert "not supported" in msg


def test_control_characters_in_names_stay_on_one_line():
    low, outs = lowered()
    op_of(low, "Elemwise").registered = "Evil\nName\r\x1b[31m" + "x" * 5000
    msg = expect_error(encode(low, outs), kind=UnsupportedOperatorError)
    assert len(msg) < 1000


def vector_length_position(data: bytes, slot: int) -> int:
    model = root_table(memoryview(data)[4:], "Model")
    p = model._field(slot)
    return 4 + p + struct.unpack_from("<I", data, 4 + p)[0]


@pytest.mark.parametrize("slot", [S.MODEL_OPRS, S.MODEL_MIDDLE_TENSORS, S.MODEL_OUTPUT_VARS])
@pytest.mark.parametrize("length", [0xFFFFFFFF, 0x7FFFFFFF, 1 << 24])
def test_huge_vector_lengths(slot, length):
    b = bytearray(small_model())
    struct.pack_into("<I", b, vector_length_position(bytes(b), slot), length)
    expect_error(bytes(b), "FlatBuffer")


def test_huge_tensor_data_length():
    data = small_model()
    raw = mge.parse_bytes(data, PATH)
    base = np.frombuffer(data, np.uint8).ctypes.data
    t = next(t for op in raw.oprs for t in op.tensors if t.data is not None)
    pos = np.frombuffer(t.data, np.uint8).ctypes.data - base - 4
    b = bytearray(data)
    struct.pack_into("<I", b, pos, 0xFFFFFFF0)
    expect_error(bytes(b), "FlatBuffer")


def test_vector_of_more_tables_than_any_model_has():
    # In bounds (the file really is that big) but beyond the cap: refused before reading them all.
    data = bytearray(small_model())
    n = MAX_TABLES + 1
    pad = bytearray(4 * n)
    start = len(data)
    data += struct.pack("<I", n) + pad
    model_pos = 4 + struct.unpack_from("<I", data, 4)[0]
    model = root_table(memoryview(bytes(data))[4:], "Model")
    field = 4 + model._field(S.MODEL_OPRS)
    struct.pack_into("<I", data, field, start - field)
    struct.pack_into("<I", data, 0, len(data) - 4)
    assert model_pos > 0
    expect_error(bytes(data), f"at most {MAX_TABLES}", max_bytes=256 << 20)


# -- wrappers ---------------------------------------------------------------------------------------------

def packed(inner: bytes) -> bytes:
    """A packed_model around ``inner``, built with the same flatbuffers layout Lite uses."""
    import flatbuffers
    b = flatbuffers.Builder(len(inner) + 256)
    data_vec = b.CreateByteVector(inner)
    b.StartObject(1)
    b.PrependUOffsetTRelativeSlot(0, data_vec, 0)
    model_data = b.EndObject()
    b.StartObject(3)
    b.PrependUOffsetTRelativeSlot(2, model_data, 0)
    m = b.EndObject()
    b.StartVector(4, 1, 4)
    b.PrependUOffsetTRelative(m)
    models = b.EndVector()
    b.StartObject(1)
    b.PrependUOffsetTRelativeSlot(0, models, 0)
    b.Finish(b.EndObject())
    return b"packed_model" + bytes(b.Output())


def test_packed_model_built_here_reads():
    assert outcome(packed(small_model()), must_fail=False) == "ok"


@pytest.mark.parametrize("depth", [3, 10, 200])
def test_deeply_nested_wrappers(depth):
    data = small_model()
    for k in range(depth):
        data = packed(data) if k % 2 else b"mgbtest0" + struct.pack("<I", 0) + data
    expect_error(data, "nested")


def test_mgbtest0_with_absurd_case_count_reads_the_model_only():
    data = b"mgbtest0" + struct.pack("<I", 0xFFFFFFFF) + small_model()
    assert outcome(data, must_fail=False) == "ok"


def test_aes_garbage_is_a_format_error():
    pytest.importorskip("cryptography")
    for data in (b"\x01" * 40, b"\x02" * 4096, os.urandom(1000)):
        outcome(data, decrypt="AES_default")


# -- fuzzing ---------------------------------------------------------------------------------------------

FUZZ_EXAMPLES = int(os.environ.get("LOADRUN_FUZZ_EXAMPLES", "8000"))
U32_VALUES = [0, 1, 2, 4, 7, 8, 0xFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 1 << 20]

mutation = st.tuples(st.sampled_from(["byte", "u32", "u16", "bit", "cut", "cutfix"]),
                     st.floats(0, 1, exclude_max=True), st.integers(0, 255), st.sampled_from(U32_VALUES))


def mutate(data: bytes, muts) -> bytes:
    b = bytearray(data)
    for kind, where, byte, value in muts:
        if len(b) < 16:
            break
        p = int(where * len(b))
        if kind == "byte":
            b[p] = byte
        elif kind == "bit":
            b[p] ^= 1 << (byte % 8)
        elif kind == "u32" and p + 4 <= len(b):
            struct.pack_into("<I", b, p & ~3, value)
        elif kind == "u16" and p + 2 <= len(b):
            struct.pack_into("<H", b, p & ~1, value & 0xFFFF)
        elif kind in ("cut", "cutfix"):
            b = b[:p]
            if kind == "cutfix" and len(b) >= 12 and b[8:12] == b"mgv2":
                struct.pack_into("<I", b, 0, len(b) - 4)
    return bytes(b)


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize="LOADRUN_FUZZ_EXAMPLES" not in os.environ,
          suppress_health_check=list(HealthCheck))
@given(seed=st.sampled_from(range(len(CORPUS))), muts=st.lists(mutation, min_size=1, max_size=6))
def test_fuzz_mutated_models(seed, muts):
    data = mutate(CORPUS[seed][1], muts)
    try:
        outcome(data, must_fail=False)
    except AssertionError:
        keep_finding(data)
        raise
    except Exception:
        keep_finding(data)
        raise


def keep_finding(data: bytes) -> None:
    """Save a crashing input as a regression case (when fuzzing for long, by hand)."""
    if "LOADRUN_FUZZ_EXAMPLES" in os.environ:
        import hashlib
        HOSTILE.mkdir(parents=True, exist_ok=True)
        (HOSTILE / f"fuzz-{hashlib.sha256(data).hexdigest()[:12]}.mge").write_bytes(data)


@pytest.mark.parametrize("path", sorted(HOSTILE.glob("*.mge")), ids=lambda p: p.name)
def test_kept_regressions(path):
    outcome(path.read_bytes(), must_fail=True)
