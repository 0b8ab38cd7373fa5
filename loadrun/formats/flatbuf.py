"""Bounds-checked FlatBuffers table access on top of the ``flatbuffers`` runtime.

The runtime's ``Table`` trusts every offset it follows. Model files are untrusted, so every
position is checked against the buffer before the runtime reads it, and every failure becomes a
``FlatBufferError`` with a short description of what was wrong.
"""

from __future__ import annotations

import struct

import numpy as np


class FlatBufferError(ValueError):
    pass


# Each table read costs a few hundred bytes of Python objects: cap vectors of tables (operators,
# tensors, vars) far above real models (ResNet-50: ~300 operators) so a small hostile file cannot
# make the reader allocate gigabytes.
MAX_TABLES = 1 << 20


# Scalar kinds -> little-endian struct formats (precompiled: this is the reader's hot path).
_FORMATS = {"bool": "?", "u8": "B", "i8": "b", "u16": "H", "i16": "h", "u32": "I", "i32": "i",
            "u64": "Q", "i64": "q", "f32": "f", "f64": "d"}
_STRUCTS = {kind: struct.Struct("<" + f) for kind, f in _FORMATS.items()}
_SCALARS = {kind: (st, st.size) for kind, st in _STRUCTS.items()}
_U16, _U32, _I32 = _STRUCTS["u16"].unpack_from, _STRUCTS["u32"].unpack_from, _STRUCTS["i32"].unpack_from


class SafeTable:
    """A table at ``pos`` in ``buf`` whose every access is bounds-checked."""

    __slots__ = ("buf", "pos", "_vt", "_vt_len", "what")

    def __init__(self, buf: bytes | memoryview, pos: int, what: str = "table"):
        self.buf = buf
        self.pos = pos
        self.what = what
        self._need(pos, 4, "table")
        vt = pos - _I32(buf, pos)[0]
        self._need(vt, 4, "vtable")
        (vt_len,) = _U16(buf, vt)
        if vt_len < 4 or vt_len % 2:
            raise FlatBufferError(f"{what}: vtable size {vt_len} is invalid")
        self._need(vt, vt_len, "vtable")
        self._vt = vt
        self._vt_len = vt_len

    def _need(self, pos: int, size: int, what: str) -> None:
        if pos < 0 or size < 0 or pos + size > len(self.buf):
            raise FlatBufferError(f"{self.what if hasattr(self, 'what') else 'table'}: {what} at byte "
                                  f"{pos} (+{size}) is outside the {len(self.buf)}-byte buffer")

    def _field(self, slot: int) -> int:
        """Absolute position of the field in ``slot``, or 0 when absent."""
        entry = 4 + 2 * slot
        if entry + 2 > self._vt_len:
            return 0
        (off,) = _U16(self.buf, self._vt + entry)
        return self.pos + off if off else 0

    def has(self, slot: int) -> bool:
        return self._field(slot) != 0

    def scalar(self, slot: int, kind: str, default=0):
        p = self._field(slot)
        if not p:
            return default
        st, size = _SCALARS[kind]
        self._need(p, size, f"field {slot}")
        (v,) = st.unpack_from(self.buf, p)
        return bool(v) if kind == "bool" else v

    def _deref(self, p: int, what: str) -> int:
        self._need(p, 4, what)
        target = p + _U32(self.buf, p)[0]
        self._need(target, 4, what)
        return target

    def table(self, slot: int, what: str = "") -> "SafeTable | None":
        p = self._field(slot)
        if not p:
            return None
        return SafeTable(self.buf, self._deref(p, f"field {slot}"), what or f"{self.what}.{slot}")

    def _vector(self, slot: int, elem_size: int) -> tuple[int, int] | None:
        p = self._field(slot)
        if not p:
            return None
        start = self._deref(p, f"vector {slot}")
        (n,) = _U32(self.buf, start)
        self._need(start + 4, n * elem_size, f"vector {slot} of {n} elements")
        return start + 4, n

    def vector_len(self, slot: int, elem_size: int = 4) -> int:
        v = self._vector(slot, elem_size)
        return v[1] if v else 0

    def string(self, slot: int) -> bytes | None:
        v = self._vector(slot, 1)
        if v is None:
            return None
        start, n = v
        return bytes(self.buf[start:start + n])

    def bytes_view(self, slot: int) -> memoryview | None:
        """The bytes of a ``[ubyte]`` vector, without copying."""
        v = self._vector(slot, 1)
        if v is None:
            return None
        start, n = v
        return memoryview(self.buf)[start:start + n]

    def scalars(self, slot: int, kind: str) -> list:
        _st, size = _SCALARS[kind]
        v = self._vector(slot, size)
        if v is None:
            return []
        start, n = v
        return list(struct.unpack_from(f"<{n}{_FORMATS[kind]}", self.buf, start))

    def structs(self, slot: int, fmt: str) -> list[tuple]:
        size = struct.calcsize("<" + fmt)
        v = self._vector(slot, size)
        if v is None:
            return []
        start, n = v
        return [struct.unpack_from("<" + fmt, self.buf, start + i * size) for i in range(n)]

    def tables(self, slot: int, what: str = "") -> list["SafeTable"]:
        v = self._vector(slot, 4)
        if v is None:
            return []
        start, n = v
        name = what or f"{self.what}.{slot}"
        if n > MAX_TABLES:
            raise FlatBufferError(f"{name}: a vector of {n} tables (at most {MAX_TABLES} are read)")
        return [SafeTable(self.buf, self._deref(start + 4 * i, f"{name}[{i}]"), f"{name}[{i}]")
                for i in range(n)]

    def array(self, slot: int, dtype: np.dtype) -> np.ndarray:
        v = self._vector(slot, np.dtype(dtype).itemsize)
        if v is None:
            return np.zeros(0, dtype)
        start, n = v
        return np.frombuffer(self.buf, dtype=dtype, count=n, offset=start)


def root_table(buf: bytes | memoryview, what: str = "root") -> SafeTable:
    if len(buf) < 8:
        raise FlatBufferError(f"{what}: {len(buf)} bytes is too short for a FlatBuffer")
    (root,) = struct.unpack_from("<I", buf, 0)
    return SafeTable(buf, root, what)
