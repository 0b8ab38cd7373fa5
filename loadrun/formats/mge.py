"""Reading MegEngine model files: containers and the serialized graph, into a ``RawModel``.

Containers (docs: ../shared/docs/mge-format.md §1): FlatBuffers v2 ("mgv2"), the legacy v1
("MGBC"/"MGBS"), the "mgbtest0" test-case wrapper and MegEngine Lite's "packed_model" wrapper
(its JSON info kept; AES_default decryption only when asked for). Turning the raw operators into
loadrun's IR is ``loadrun.formats.mge_to_ir``.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from loadrun.errors import ModelFormatError
from loadrun.formats import mge_schema as S
from loadrun.formats.flatbuf import FlatBufferError, SafeTable, root_table

# Refuse tensors beyond this many elements: far above any real model, far below what would exhaust memory.
MAX_TENSOR_ELEMENTS = 1 << 32
MAX_NDIM = 7
AES_DEFAULT_KEY = bytes(range(32))


@dataclass
class RawTensor:
    name: str | None
    shape: tuple[int, ...]
    dtype: int  # DTypeEnum
    scale: float | None
    zero_point: int | None
    data: memoryview | None  # raw bytes (None: no value)

    def numpy_dtype(self) -> np.dtype | None:
        name = S.DTYPES.get(self.dtype)
        return np.dtype(name) if name else None

    def array(self) -> np.ndarray:
        dt = self.numpy_dtype()
        assert dt is not None and self.data is not None
        return np.frombuffer(self.data, dtype=dt).reshape(self.shape)


@dataclass
class RawParam:
    tag: int
    name: str
    fields: dict[str, Any]


@dataclass
class RawOp:
    index: int
    type: str  # canonical name (registered name without its V<digit> suffix)
    registered: str
    opr_version: int
    name: str
    inputs: list[int]
    outputs: list[int]
    params: list[RawParam]
    tensors: list[RawTensor]
    output_dtype: tuple[int, float | None, int | None] | None


@dataclass
class RawModel:
    path: str
    container: str
    mge_version: int
    model_version: int
    oprs: list[RawOp]
    outputs: list[int]
    var_names: dict[int, str]
    var_shapes: dict[int, tuple[int, ...]]
    metadata: dict[str, Any]
    file_bytes: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def version_string(self) -> str:
        v = self.mge_version
        return f"{v // 100000}.{v // 100 % 1000}.{v % 100}"


def one_line(text: str, limit: int = 400) -> str:
    """``text`` as one printable line of at most ``limit`` characters (names in files are untrusted)."""
    out = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[: limit * 2])
    return out if len(out) <= limit else out[: limit - 3] + "..."


class _Fail(Exception):
    """Internal: a problem in the file; converted to ModelFormatError with the path."""


def _u32(b, off: int, what: str) -> int:
    if off + 4 > len(b):
        raise _Fail(f"truncated: {what} at byte {off} is past the end ({len(b)} bytes)")
    return struct.unpack_from("<I", b, off)[0]


def _u64(b, off: int, what: str) -> int:
    if off + 8 > len(b):
        raise _Fail(f"truncated: {what} at byte {off} is past the end ({len(b)} bytes)")
    return struct.unpack_from("<Q", b, off)[0]


# -- params --------------------------------------------------------------------------------------

def _read_param(tag: int, table: SafeTable | None) -> RawParam:
    if tag not in S.PARAMS:
        name = S.PARAM_TAG_NAMES.get(tag)
        if name is None:
            raise _Fail(f"unknown operator param tag {tag}")
        return RawParam(tag, name, {})  # recognised but not decoded: its operator is unsupported
    name, spec = S.PARAMS[tag]
    fields: dict[str, Any] = {}
    if table is None:
        raise _Fail(f"param {name} has a type tag but no table")
    for slot, (fname, kind, default) in enumerate(spec):
        if kind.startswith("enum:"):
            raw = table.scalar(slot, "u32", default)
            members = S.ENUMS[kind[5:]]
            if raw >= len(members):
                raise _Fail(f"param {name}.{fname} = {raw} is not a valid {kind[5:]}")
            fields[fname] = members[raw]
        elif kind == "[i32]":
            fields[fname] = table.scalars(slot, "i32")
        elif kind == "[AxisDesc]":
            fields[fname] = [("ADD_1" if m == 0 else "REMOVE" if m == 1 else m, ax)
                             for m, ax in table.structs(slot, "b3xi")]
        elif kind == "[IndexDescMaskItem]":
            fields[fname] = [dict(axis=ax, begin=bool(b), end=bool(e), step=bool(s), idx=bool(i))
                             for ax, b, e, s, i in table.structs(slot, "b????")]
        elif kind == "LinearQuantizationParam":
            q = table.table(slot, "LinearQuantizationParam") if fields.get("param_type") == 1 else None
            fields[fname] = (q.scalar(0, "f32", 0.0), q.scalar(1, "u8", 0)) if q else None
        else:
            fields[fname] = table.scalar(slot, kind, default)
    return RawParam(tag, name, fields)


def _read_dtype(t: SafeTable | None) -> tuple[int, float | None, int | None] | None:
    if t is None:
        return None
    dtype = t.scalar(0, "i8", 0)
    scale = zp = None
    if t.scalar(1, "u8", 0) == 1:
        q = t.table(2, "LinearQuantizationParam")
        if q is not None:
            scale, zp = q.scalar(0, "f32", 0.0), q.scalar(1, "u8", 0)
    if dtype not in S.DTYPE_NAMES:
        raise _Fail(f"unknown dtype enum {dtype}")
    return dtype, scale, zp


def _check_shape(shape: list[int], what: str) -> tuple[int, ...]:
    if len(shape) > MAX_NDIM:
        raise _Fail(f"{what}: {len(shape)} dimensions (at most {MAX_NDIM})")
    n = 1
    for d in shape:
        n *= d
        if n > MAX_TENSOR_ELEMENTS:
            raise _Fail(f"{what}: shape {shape} claims more than 2^32 elements")
    return tuple(shape)


def _tensor_from(t: SafeTable, data: memoryview | None, what: str) -> RawTensor:
    name = t.string(S.TENSOR_NAME)
    shape = _check_shape(t.scalars(S.TENSOR_SHAPE, "u32"), what)
    dt = _read_dtype(t.table(S.TENSOR_DTYPE, "DType"))
    dtype, scale, zp = dt if dt else (0, None, None)
    if data is not None and len(data) == 0:
        data = None
    if data is not None:
        np_dt = S.DTYPES.get(dtype)
        if np_dt is not None:
            expect = int(np.prod(shape, dtype=np.int64)) * np.dtype(np_dt).itemsize
            if len(data) != expect:
                raise _Fail(f"{what}: {len(data)} bytes of data for {S.DTYPE_NAMES[dtype]}{list(shape)} "
                            f"(expected {expect}; compressed weights are not supported)")
    return RawTensor(name.decode("utf-8", "replace") if name is not None else None, shape, dtype,
                     scale, zp, data)


def _op_type(type_str: bytes | None, type_id: int, opr_version: int, what: str) -> tuple[str, str]:
    if type_str:
        registered = type_str.decode("utf-8", "replace")
        return S.canonical_name(registered), registered
    canonical = S.TYPE_IDS.get(type_id)
    if canonical is None:
        raise _Fail(f"{what}: unknown operator type id {type_id:#018x}")
    return canonical, canonical


# -- v2 --------------------------------------------------------------------------------------------

def _parse_v2(fb: memoryview) -> dict[str, Any]:
    model = root_table(fb, "Model")
    mge_version = model.scalar(S.MODEL_MGE_VERSION, "u32", 0)
    model_version = model.scalar(S.MODEL_MODEL_VERSION, "u32", 0)
    oprs: list[RawOp] = []
    for i, op in enumerate(model.tables(S.MODEL_OPRS, "Operator")):
        what = f"operator #{i}"
        opr_version = op.scalar(S.OP_OPR_VERSION, "u32", 0)
        type_id = op.scalar(S.OP_TYPE_ID, "u64", 0)
        canonical, registered = _op_type(op.string(S.OP_TYPE), type_id, opr_version, what)
        params = []
        tag = op.scalar(S.OP_PARAM_TYPE, "u8", 0)
        if tag:
            params.append(_read_param(tag, op.table(S.OP_PARAM, "param")))
        add_tags = op.scalars(S.OP_ADD_PARAM_TYPES, "u8")
        add_tables = op.tables(S.OP_ADD_PARAMS, "additional_params")
        if len(add_tags) != len(add_tables):
            raise _Fail(f"{what}: {len(add_tags)} additional param tags for {len(add_tables)} tables")
        params += [_read_param(t, tb) for t, tb in zip(add_tags, add_tables) if t]
        tensors = [_tensor_from(t, t.bytes_view(S.TENSOR_DATA), f"{what} ({canonical}) tensor {k}")
                   for k, t in enumerate(op.tables(S.OP_TENSORS, "Tensor"))]
        name = op.string(S.OP_NAME)
        oprs.append(RawOp(i, canonical, registered, opr_version,
                          name.decode("utf-8", "replace") if name else "",
                          op.scalars(S.OP_INPUTS, "u32"), op.scalars(S.OP_OUTPUTS, "u32"),
                          params, tensors, _read_dtype(op.table(S.OP_OUTPUT_DTYPE, "DType"))))
    var_names: dict[int, str] = {}
    var_shapes: dict[int, tuple[int, ...]] = {}
    for vid, mt in enumerate(model.tables(S.MODEL_MIDDLE_TENSORS, "MiddleTensor")):
        name = mt.string(0)
        if name is not None:
            var_names[vid] = name.decode("utf-8", "replace")
        if mt.has(1):
            var_shapes[vid] = tuple(mt.scalars(1, "u32"))
    # In v2 OutputVar is a table (in v1 a struct).
    out_tables = model.tables(S.MODEL_OUTPUT_VARS, "OutputVar")
    outputs = [t.scalar(0, "u32", 0) for t in out_tables]
    originals = [t.scalar(1, "u32", 0) for t in out_tables]
    aliases = {}
    for a in model.tables(S.MODEL_OUTPUT_ALIAS, "OutputAlias"):
        nm = a.string(1)
        aliases[a.scalar(0, "u32", 0)] = nm.decode("utf-8", "replace") if nm else ""
    if aliases:
        for k, orig in enumerate(originals):
            if orig in aliases:
                var_names[outputs[k]] = aliases[orig]
    meta_t = model.table(S.MODEL_METADATA, "Metadata")
    metadata = {}
    if meta_t is not None:
        metadata = dict(is_valid=meta_t.scalar(0, "bool", False), graph_modified=meta_t.scalar(1, "bool", False),
                        optimize_options=meta_t.scalar(2, "u64", 0))
    # Var ids are implicit and sequential over the operators' outputs.
    expect = 0
    for op in oprs:
        for o in op.outputs:
            if o != expect:
                raise _Fail(f"operator #{op.index} ({op.type}) declares output var {o}, expected {expect}")
            expect += 1
    return dict(mge_version=mge_version, model_version=model_version, oprs=oprs, outputs=outputs,
                var_names=var_names, var_shapes=var_shapes, metadata=metadata)


# -- v1 --------------------------------------------------------------------------------------------

_V1_OUTPUT_COUNTS = {"Argsort": 2, "TopK": 2, "LayerNorm": 3, "BatchNorm": 4}


def _parse_v1(b: memoryview, magic: str) -> tuple[dict[str, Any], int]:
    if magic == "MGBC":
        off_pos = 4 + 8 + 4
    else:
        off_pos = 4 + 4
    off = _u64(b, off_pos, "graph offset")
    tensor_begin = off_pos + 8
    graph_at = tensor_begin + off
    size = _u32(b, graph_at, "graph size prefix")
    fb = b[graph_at + 4: graph_at + 4 + size]
    if len(fb) != size:
        raise _Fail(f"truncated: the graph claims {size} bytes, {len(fb)} remain")
    if bytes(fb[4:8]) != b"mgb1":
        raise _Fail("v1 graph lacks its 'mgb1' identifier")
    g = root_table(fb, "Graph")
    blob = tensor_begin
    oprs: list[RawOp] = []
    var_names: dict[int, str] = {}
    next_var = 0
    for i, op in enumerate(g.tables(S.V1_GRAPH_OPRS, "Operator")):
        what = f"operator #{i}"
        canonical, registered = _op_type(None, op.scalar(S.V1_OP_TYPE_ID, "u64", 0), 0, what)
        params = []
        tag = op.scalar(S.V1_OP_PARAM_TYPE, "u8", 0)
        if tag:
            params.append(_read_param(tag, op.table(S.V1_OP_PARAM, "param")))
        add_tags = op.scalars(S.V1_OP_ADD_PARAM_TYPES, "u8")
        add_tables = op.tables(S.V1_OP_ADD_PARAMS, "additional_params")
        params += [_read_param(t, tb) for t, tb in zip(add_tags, add_tables) if t]
        tensors = []
        for k, t in enumerate(op.tables(S.V1_OP_TENSORS, "Tensor")):
            data_size = t.scalar(S.V1_TENSOR_DATA_SIZE, "u32", 0)
            skip = t.scalar(S.V1_TENSOR_OFFSET, "u32", 0)
            data = None
            if data_size:
                if blob + data_size > graph_at or skip > data_size:
                    raise _Fail(f"{what} tensor {k}: blob of {data_size} bytes overruns the tensor area")
                data = b[blob + skip: blob + data_size]
                blob += data_size
            tensors.append(_tensor_from(t, data, f"{what} ({canonical}) tensor {k}"))
        out_names = [n.decode("utf-8", "replace") for n in
                     (op_str for op_str in _v1_strings(op, S.V1_OP_OUTPUT_NAME))]
        if out_names:
            n_out = len(out_names)
        elif canonical == "MultipleDeviceTensorHolder":
            n_out = len(tensors)
        else:
            n_out = _V1_OUTPUT_COUNTS.get(canonical, 1)
        outputs = list(range(next_var, next_var + n_out))
        for vid, nm in zip(outputs, out_names):
            var_names[vid] = nm
        next_var += n_out
        name = op.string(S.V1_OP_NAME)
        oprs.append(RawOp(i, canonical, registered, 0, name.decode("utf-8", "replace") if name else "",
                          op.scalars(S.V1_OP_INPUTS, "u32"), outputs, params, tensors,
                          _read_dtype(op.table(S.V1_OP_OUTPUT_DTYPE, "DType"))))
    outputs = [c for c, _o in g.structs(S.V1_GRAPH_OUTPUT_VARS, "II")]
    mt = g.table(S.V1_GRAPH_METADATA, "Metadata")
    metadata = {}
    if mt is not None:
        metadata = dict(is_valid=mt.scalar(0, "bool", False), graph_modified=mt.scalar(1, "bool", False),
                        optimize_options=mt.scalar(3, "u64", 0))
    parsed = dict(mge_version=g.scalar(S.V1_GRAPH_MGB_VERSION, "u32", 0), model_version=1, oprs=oprs,
                  outputs=outputs, var_names=var_names, var_shapes={}, metadata=metadata)
    return parsed, graph_at + 4 + size


def _v1_strings(op: SafeTable, slot: int) -> list[bytes]:
    out = []
    for i in range(op.vector_len(slot)):
        # A vector of strings is a vector of offsets to strings.
        out.append(_vector_string(op, slot, i))
    return out


def _vector_string(t: SafeTable, slot: int, i: int) -> bytes:
    v = t._vector(slot, 4)
    start, _n = v
    p = start + 4 * i
    t._need(p, 4, "string offset")
    target = p + struct.unpack_from("<I", t.buf, p)[0]
    t._need(target, 4, "string")
    (n,) = struct.unpack_from("<I", t.buf, target)
    t._need(target + 4, n, "string bytes")
    return bytes(t.buf[target + 4: target + 4 + n])


# -- wrappers ----------------------------------------------------------------------------------------

def aes_default_decrypt(data: bytes) -> bytes:
    """MegEngine Lite's AES_default: IV(16) | AES-256-CBC(PKCS#7) | uint64 BE plaintext length."""
    try:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    except ImportError:
        raise _Fail("AES_default decryption needs the 'cryptography' package (pip install 'loadrun[crypto]')")
    if len(data) < 16 + 16 + 8 or (len(data) - 24) % 16:
        raise _Fail("AES_default: the encrypted model has an impossible length")
    iv, body, trailer = data[:16], data[16:-8], data[-8:]
    (length,) = struct.unpack(">Q", trailer)
    dec = Cipher(algorithms.AES(AES_DEFAULT_KEY), modes.CBC(iv)).decryptor()
    plain = dec.update(body) + dec.finalize()
    if length > len(plain):
        raise _Fail("AES_default: wrong key or corrupt data (length trailer exceeds the plaintext)")
    return plain[:length]


def _unpack_packed_model(b: memoryview, decrypt: str | None) -> tuple[memoryview, dict[str, Any]]:
    fb = b[12:]
    pack = root_table(fb, "PackModel")
    models = pack.tables(0, "PackModel.models")
    if len(models) != 1:
        raise _Fail(f"packed_model holds {len(models)} models (exactly 1 expected)")
    m = models[0]
    header = m.table(0, "ModelHeader")
    hdr: dict[str, Any] = {}
    if header is not None:
        for slot, key in enumerate(("name", "info_decryption_method", "info_parse_method",
                                    "model_decryption_method", "info_cache_parse_method")):
            s = header.string(slot)
            hdr[key] = s.decode("utf-8", "replace") if s is not None else ""
        hdr["is_fast_run_cache"] = header.scalar(5, "bool", False)
    info: dict[str, Any] = {"header": hdr}
    mi = m.table(1, "ModelInfo")
    if mi is not None:
        raw = mi.bytes_view(0)
        if raw is not None and len(raw):
            method = hdr.get("info_decryption_method", "NONE") or "NONE"
            info_bytes = bytes(raw)
            if method != "NONE":
                if decrypt != method:
                    info["info_encrypted"] = method
                    info_bytes = b""
                else:
                    info_bytes = aes_default_decrypt(info_bytes)
            if info_bytes:
                try:
                    info["info"] = json.loads(info_bytes.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError) as e:
                    raise _Fail(f"packed_model info is not valid JSON ({e.__class__.__name__})")
        info["has_algo_policy"] = bool(mi.vector_len(1, 1))
    md = m.table(2, "ModelData")
    data = md.bytes_view(0) if md is not None else None
    if data is None:
        raise _Fail("packed_model has no model data")
    method = hdr.get("model_decryption_method", "NONE") or "NONE"
    if method != "NONE":
        if method != "AES_default":
            raise _Fail(f"packed_model is encrypted with {method}, which loadrun cannot decrypt")
        if decrypt != "AES_default":
            raise _Fail("packed_model is encrypted with AES_default; pass --decrypt AES_default")
        data = memoryview(aes_default_decrypt(bytes(data)))
    return data, info


def parse_bytes(data: bytes | memoryview, path: str = "<memory>", decrypt: str | None = None) -> RawModel:
    """Parse the bytes of a MegEngine model file; raises ModelFormatError naming ``path``."""
    b = memoryview(data)
    try:
        return _parse(b, path, decrypt, depth=0)
    except _Fail as e:
        raise ModelFormatError(path, one_line(str(e))) from None
    except FlatBufferError as e:
        raise ModelFormatError(path, one_line(f"corrupt FlatBuffer: {e}")) from None
    except (struct.error, IndexError, OverflowError, UnicodeDecodeError, ValueError, MemoryError) as e:
        raise ModelFormatError(path, one_line(f"corrupt model ({e.__class__.__name__}: {e})")) from None


def _parse(b: memoryview, path: str, decrypt: str | None, depth: int) -> RawModel:
    if depth > 2:
        raise _Fail("nested model wrappers")
    total = len(b)
    if total < 12:
        raise _Fail(f"too short to be a MegEngine model ({total} bytes)")
    head = bytes(b[:12])
    extra: dict[str, Any] = {}
    if head == b"packed_model":
        inner, info = _unpack_packed_model(b, decrypt)
        raw = _parse(inner, path, decrypt, depth + 1)
        raw.container = "packed_model/" + raw.container
        raw.extra["lite"] = info
        raw.file_bytes = total
        return raw
    if head[:8] == b"mgbtest0":
        n_cases = _u32(b, 8, "test case count")
        raw = _parse(b[12:], path, decrypt, depth + 1)
        raw.container = "mgbtest0/" + raw.container
        raw.extra["test_cases"] = n_cases
        raw.file_bytes = total
        return raw
    magic32 = struct.unpack_from("<I", b, 0)[0]
    if magic32 in (0x4342474D, 0x5342474D) and struct.unpack_from("<I", b, 4)[0] == 0:
        magic = "MGBC" if magic32 == 0x4342474D else "MGBS"
        parsed, end = _parse_v1(b, magic)
        container = f"v1-{magic}"
        extra["trailing_bytes"] = total - end
    elif head[8:12] == b"mgv2":
        size = _u32(b, 0, "size prefix")
        if size + 4 > total:
            raise _Fail(f"truncated: the FlatBuffer claims {size} bytes but only {total - 4} follow")
        parsed = _parse_v2(b[4:4 + size])
        container = "v2"
        extra["trailing_bytes"] = total - 4 - size
    elif head[:7] == b"mgb0001" or head[:8] == b"mgb0000a":
        raise _Fail("pre-FlatBuffers MegEngine format (mgb0001/mgb0000a), which open-source MegEngine cannot load either")
    else:
        hint = " (an encrypted bare model? pass --decrypt AES_default)" if decrypt is None else ""
        if decrypt == "AES_default" and depth == 0:
            return _parse(memoryview(aes_default_decrypt(bytes(b))), path, None, depth + 1)
        raise _Fail(f"not a MegEngine model: unknown leading bytes {head[:8]!r}{hint}")
    return RawModel(path=path, container=container, file_bytes=total, extra=extra, **parsed)


def read_file(path: str, decrypt: str | None = None) -> RawModel:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise ModelFormatError(path, "no such file") from None
    except IsADirectoryError:
        raise ModelFormatError(path, "is a directory, not a model file") from None
    except OSError as e:
        raise ModelFormatError(path, f"cannot read ({e.strerror})") from None
    return parse_bytes(data, path, decrypt)
