"""cffi (ABI mode) binding of libloadrun: loads compiled models and runs them natively.

The library is found through ``LOADRUN_LIB`` (a path to the .so), then the package's ``_native/``
folder, then the import system (an editable install maps the library into its build folder and
rebuilds it when the C sources changed), then ``loadrun/_native/`` under every ``sys.path`` entry.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from cffi import FFI

from loadrun.errors import InputError, RuntimeFailure

CDEF = """
typedef enum lr_status { LR_OK = 0, LR_ERR_ARGUMENT = 1, LR_ERR_IO = 2, LR_ERR_FORMAT = 3,
    LR_ERR_UNSUPPORTED = 4, LR_ERR_MEMORY = 5, LR_ERR_RUNTIME = 6 } lr_status;
typedef enum lr_dtype { LR_FLOAT32 = 0, LR_FLOAT16 = 1, LR_INT32 = 2, LR_INT16 = 3, LR_INT8 = 4,
    LR_UINT8 = 5, LR_BOOL = 6 } lr_dtype;
typedef struct lr_model lr_model;
typedef struct lr_options { uint32_t size; int32_t threads; } lr_options;
typedef struct lr_stats {
    uint32_t size; uint32_t threads; uint32_t kernels; uint32_t nodes;
    uint64_t arena_bytes; uint64_t arena_lower_bound_bytes; uint64_t weight_bytes;
    uint64_t packed_weight_bytes; uint64_t workspace_bytes; uint64_t io_bytes;
    int64_t load_ns; int64_t first_run_ns;
} lr_stats;
const char *lr_version(void);
const char *lr_build_id(void);
const char *lr_last_error(void);
const char *lr_status_name(lr_status s);
void lr_options_init(lr_options *opts);
lr_status lr_load_file(const char *path, const lr_options *opts, lr_model **out);
lr_status lr_load_memory(const void *buf, size_t size, const lr_options *opts, lr_model **out);
void lr_free(lr_model *model);
int lr_input_count(const lr_model *model);
int lr_output_count(const lr_model *model);
const char *lr_input_name(const lr_model *model, int index);
const char *lr_output_name(const lr_model *model, int index);
lr_status lr_input_info(const lr_model *model, int index, lr_dtype *dtype, int *ndim, int64_t *dims);
lr_status lr_output_info(const lr_model *model, int index, lr_dtype *dtype, int *ndim, int64_t *dims);
lr_status lr_set_input(lr_model *model, int index, const void *data, size_t bytes);
lr_status lr_forward(lr_model *model);
lr_status lr_wait(lr_model *model);
int64_t lr_last_run_ns(const lr_model *model);
lr_status lr_get_output(const lr_model *model, int index, void *dst, size_t bytes);
const void *lr_output_data(const lr_model *model, int index);
lr_status lr_timed_loop(lr_model *model, int warmup, int iters, int64_t min_time_ns, int64_t *samples_ns,
                        size_t capacity, size_t *count);
lr_status lr_stats_get(const lr_model *model, lr_stats *stats);
int lr_node_count(const lr_model *model);
const char *lr_node_op(const lr_model *model, int index);
const char *lr_node_name(const lr_model *model, int index);
const char *lr_node_algo(const lr_model *model, int index);
"""

LR_MAX_NDIM = 8
DTYPES = [np.dtype(t) for t in ("float32", "float16", "int32", "int16", "int8", "uint8", "bool")]
LIB_NAME = "libloadrun.dylib" if sys.platform == "darwin" else "libloadrun.so"
MAX_SAMPLES = 1_000_000

ffi = FFI()
ffi.cdef(CDEF)
_lib = None


def library_candidates() -> Iterator[Path]:
    env = os.environ.get("LOADRUN_LIB")
    if env:
        yield Path(env)
        return
    yield Path(__file__).resolve().parent.parent / "_native" / LIB_NAME
    try:  # an editable install maps (and rebuilds) the library through its import hook
        spec = importlib.util.find_spec("loadrun._native." + LIB_NAME.split(".")[0])
        if spec is not None and spec.origin:
            yield Path(spec.origin)
    except (ImportError, ValueError):
        pass
    for entry in sys.path:
        if entry:
            yield Path(entry) / "loadrun" / "_native" / LIB_NAME


def runner_path() -> Path | None:
    """The loadrun-runner executable installed beside the library, if any."""
    for path in library_candidates():
        exe = path.parent / "loadrun-runner"
        if exe.is_file():
            return exe
    return None


def lib():
    """The loaded native library (loaded once per process)."""
    global _lib
    if _lib is None:
        tried = []
        for path in library_candidates():
            tried.append(str(path))
            if path.is_file():
                _lib = ffi.dlopen(str(path))
                break
        else:
            raise RuntimeFailure("the native runtime library is not built; run `pip install -e .` "
                                 f"or set LOADRUN_LIB (looked in: {', '.join(tried[:4])})")
    return _lib


def _check(status: int, what: str) -> None:
    if status != 0:
        L = lib()
        msg = ffi.string(L.lr_last_error()).decode("utf-8", "replace")
        name = ffi.string(L.lr_status_name(status)).decode()
        raise RuntimeFailure(f"{what}: {name}: {msg}")


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize


@dataclass(frozen=True)
class RunOptions:
    """Execution options the native runtime honours (more join as the runtime learns them)."""

    threads: int = 1

    def to_c(self):
        opts = ffi.new("lr_options *")
        lib().lr_options_init(opts)
        opts.threads = int(self.threads)
        return opts


def version() -> str:
    return ffi.string(lib().lr_version()).decode()


def build_id() -> str:
    return ffi.string(lib().lr_build_id()).decode()


class Runtime:
    """A compiled model loaded into the native runtime."""

    def __init__(self, handle, options: RunOptions):
        self._h = handle
        self.options = options
        L = lib()
        self.inputs = [self._info(L.lr_input_info, L.lr_input_name, i) for i in range(L.lr_input_count(handle))]
        self.outputs = [self._info(L.lr_output_info, L.lr_output_name, i) for i in range(L.lr_output_count(handle))]

    @classmethod
    def load(cls, compiled: bytes | bytearray | memoryview | str | os.PathLike,
             options: RunOptions | None = None) -> "Runtime":
        options = options or RunOptions()
        L = lib()
        out = ffi.new("lr_model **")
        if isinstance(compiled, (bytes, bytearray, memoryview)):
            data = bytes(compiled)
            _check(L.lr_load_memory(ffi.from_buffer(data), len(data), options.to_c(), out), "loading a compiled model")
        else:
            path = os.fspath(compiled)
            _check(L.lr_load_file(path.encode(), options.to_c(), out), f"loading {path}")
        return cls(out[0], options)

    def _info(self, info_fn, name_fn, i: int) -> TensorInfo:
        dt = ffi.new("lr_dtype *")
        nd = ffi.new("int *")
        dims = ffi.new("int64_t[]", LR_MAX_NDIM)
        _check(info_fn(self._h, i, dt, nd, dims), "querying the model")
        name = ffi.string(name_fn(self._h, i)).decode("utf-8", "replace")
        return TensorInfo(name, tuple(int(dims[d]) for d in range(nd[0])), DTYPES[int(dt[0])])

    @property
    def handle(self):
        if self._h is None:
            raise RuntimeFailure("the runtime is closed")
        return self._h

    def _index(self, key: int | str, infos: list[TensorInfo], what: str) -> int:
        if isinstance(key, (int, np.integer)):
            if not 0 <= key < len(infos):
                raise InputError(f"{what} index {key} out of range (the model has {len(infos)})")
            return int(key)
        for i, t in enumerate(infos):
            if t.name == key:
                return i
        raise InputError(f"no {what} named {key!r}; the model has {[t.name for t in infos]}")

    def set_input(self, key: int | str, array: np.ndarray) -> None:
        i = self._index(key, self.inputs, "input")
        info = self.inputs[i]
        arr = np.asarray(array)
        if arr.dtype != info.dtype or tuple(arr.shape) != info.shape:
            raise InputError(f"input {info.name!r}: expected {info.dtype}{list(info.shape)}, "
                             f"got {arr.dtype}{list(arr.shape)}")
        arr = np.ascontiguousarray(arr)
        _check(lib().lr_set_input(self.handle, i, ffi.from_buffer(arr), arr.nbytes), f"setting input {info.name!r}")

    def run(self) -> int:
        """One forward pass; returns its nanoseconds as measured in C."""
        L = lib()
        _check(L.lr_forward(self.handle), "running the model")
        _check(L.lr_wait(self.handle), "running the model")
        return int(L.lr_last_run_ns(self.handle))

    def get_output(self, key: int | str) -> np.ndarray:
        i = self._index(key, self.outputs, "output")
        info = self.outputs[i]
        out = np.empty(info.shape, dtype=info.dtype)
        _check(lib().lr_get_output(self.handle, i, ffi.from_buffer(out), out.nbytes), f"reading output {info.name!r}")
        return out

    def get_outputs(self) -> list[np.ndarray]:
        return [self.get_output(i) for i in range(len(self.outputs))]

    def timed_loop(self, warmup: int = 1, iters: int = 10, min_time_s: float = 0.0,
                   max_samples: int = MAX_SAMPLES) -> np.ndarray:
        """Per-run nanoseconds of at least ``iters`` runs lasting at least ``min_time_s`` in total."""
        cap = max(int(iters), 1)
        if min_time_s > 0:
            cap = max_samples
        samples = np.empty(cap, dtype=np.int64)
        count = ffi.new("size_t *")
        _check(lib().lr_timed_loop(self.handle, int(warmup), int(iters), int(min_time_s * 1e9),
                                   ffi.cast("int64_t *", ffi.from_buffer(samples)), cap, count), "timing the model")
        return samples[: count[0]].copy()

    def stats(self) -> dict:
        L = lib()
        s = ffi.new("lr_stats *")
        s.size = ffi.sizeof("lr_stats")
        _check(L.lr_stats_get(self.handle, s), "reading runtime stats")
        algos = []
        for i in range(L.lr_node_count(self.handle)):
            algos.append({"node": ffi.string(L.lr_node_name(self.handle, i)).decode("utf-8", "replace"),
                          "op": ffi.string(L.lr_node_op(self.handle, i)).decode(),
                          "algo": ffi.string(L.lr_node_algo(self.handle, i)).decode()})
        return {
            "arena_bytes": int(s.arena_bytes),
            "arena_lower_bound_bytes": int(s.arena_lower_bound_bytes),
            "weight_bytes": int(s.weight_bytes),
            "packed_weight_bytes": int(s.packed_weight_bytes),
            "workspace_bytes": int(s.workspace_bytes),
            "io_bytes": int(s.io_bytes),
            "kernels": int(s.kernels),
            "nodes": int(s.nodes),
            "threads": int(s.threads),
            "load_ns": int(s.load_ns),
            "first_run_ns": int(s.first_run_ns) if s.first_run_ns >= 0 else None,
            "algorithms": algos,
            "build_id": build_id(),
            "version": version(),
        }

    def close(self) -> None:
        if self._h is not None:
            lib().lr_free(self._h)
            self._h = None

    def __enter__(self) -> "Runtime":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
