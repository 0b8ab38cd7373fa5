"""Tensors in files: reading one ``.npy`` input and writing named outputs as ``.npz``."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Iterable

import numpy as np

from loadrun.atomic_files import atomic_write_bytes

_NPY_MAGIC = b"\x93NUMPY"


class NotNpyError(ValueError):
    """The file exists but is not a readable ``.npy`` array."""


def read_npy(path: Path) -> np.ndarray:
    """Read a ``.npy`` file without unpickling anything; raises OSError or NotNpyError."""
    with open(path, "rb") as f:
        if f.read(len(_NPY_MAGIC)) != _NPY_MAGIC:
            raise NotNpyError("not a .npy file (no NumPy magic header; save it with numpy.save)")
        f.seek(0)
        try:
            return np.lib.format.read_array(f, allow_pickle=False)
        except (ValueError, EOFError) as e:
            raise NotNpyError(f"unreadable .npy file ({e})") from None


def write_npz(path: Path, arrays: Iterable[tuple[str, np.ndarray]]) -> None:
    """Write ``name -> array`` pairs as an uncompressed ``.npz`` whose members keep the given
    order, atomically (readers never see half a file)."""
    buffer = io.BytesIO()
    # numpy.savez takes names as keyword arguments, which breaks on a name like "file".
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, array in arrays:
            with zf.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)
    atomic_write_bytes(path, buffer.getvalue())
