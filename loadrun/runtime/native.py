"""cffi (ABI mode) binding of libloadrun: loads compiled models and runs them natively.

The library is found through ``LOADRUN_LIB`` (a path to the .so), then the package's ``_native/``
folder, then the import system (an editable install maps the library into its build folder and
rebuilds it when the C sources changed), then ``loadrun/_native/`` under every ``sys.path`` entry.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import warnings
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
typedef struct lr_options {
    uint32_t size; int32_t threads;
    int32_t inplace; int32_t record; int32_t weight_preprocess; int32_t fast_run;
    int32_t n_affinity; int32_t affinity[64];
    const char *algo_cache;
} lr_options;
typedef struct lr_stats {
    uint32_t size; uint32_t threads; uint32_t kernels; uint32_t nodes;
    uint64_t arena_bytes; uint64_t arena_lower_bound_bytes; uint64_t weight_bytes;
    uint64_t packed_weight_bytes; uint64_t workspace_bytes; uint64_t io_bytes;
    int64_t load_ns; int64_t first_run_ns;
    uint32_t runs; uint32_t graph_walks_per_run; uint32_t weight_packs_per_run; uint32_t kernels_per_run;
    uint32_t fused_kernels; uint32_t recorded_calls;
    uint64_t metadata_bytes; uint64_t metadata_bytes_at_load;
    uint32_t threads_used; uint32_t dispatcher_runs;
    int64_t profiling_ns; uint32_t profiled_nodes; uint32_t algo_cache_hits; uint32_t algo_cache_misses;
    int32_t algo_cache_status; int32_t algo_cache_written;
    int32_t inplace, record, weight_preprocess, fast_run;
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
const char *lr_node_layout(const lr_model *model, int index);
const char *lr_layouts(void);
int lr_cpus_used(const lr_model *model, int *cpus, int capacity);
const char *lr_algo_cache_message(const lr_model *model);
lr_status lr_reshape_input(lr_model *model, int index, int ndim, const int64_t *dims);
lr_status lr_node_timing(lr_model *model, int enable);
int64_t lr_node_time_ns(const lr_model *model, int index);
"""

LR_MAX_NDIM = 8
LR_MAX_AFFINITY = 64
FAST_RUN_CODES = {"heuristic": 0, "profile": 1, "profile-reproducible": 2, "profile-optimized": 3}
ALGO_CACHE_STATUS = ("none", "loaded", "absent", "rejected-corrupt", "rejected-foreign")
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


class AlgoCacheWarning(UserWarning):
    """The algorithm cache file was rejected (corrupt or from another build/CPU) and not used."""


@dataclass(frozen=True)
class RunOptions:
    """Execution options the native runtime honours: the runtime fields of
    :class:`loadrun.options.Options` (``Options.runtime_kwargs()``), with the same defaults."""

    threads: int = 1
    affinity: tuple[int, ...] | None = None
    inplace: bool = False
    record: int = 0
    weight_preprocess: bool = False
    fast_run: str = "heuristic"
    algo_cache: str | os.PathLike | None = None

    def __post_init__(self) -> None:
        if self.fast_run not in FAST_RUN_CODES:
            raise InputError(f"fast_run must be one of {', '.join(FAST_RUN_CODES)}, got {self.fast_run!r}")
        if self.record not in (0, 1, 2):
            raise InputError(f"record must be 0, 1 or 2, got {self.record!r}")
        if self.affinity is not None:
            cpus = tuple(int(c) for c in self.affinity)
            if not 0 < len(cpus) <= LR_MAX_AFFINITY:
                raise InputError(f"affinity takes 1..{LR_MAX_AFFINITY} CPU ids, got {len(cpus)}")
            object.__setattr__(self, "affinity", cpus)

    @classmethod
    def from_options(cls, options) -> "RunOptions":
        """From a :class:`loadrun.options.Options`."""
        return cls(**options.runtime_kwargs())

    def to_c(self):
        """The C struct and what it points to (keep both alive while the struct is used)."""
        opts = ffi.new("lr_options *")
        lib().lr_options_init(opts)
        opts.threads = int(self.threads)
        opts.inplace = int(bool(self.inplace))
        opts.record = int(self.record)
        opts.weight_preprocess = int(bool(self.weight_preprocess))
        opts.fast_run = FAST_RUN_CODES[self.fast_run]
        if self.affinity:
            opts.n_affinity = len(self.affinity)
            for i, cpu in enumerate(self.affinity):
                opts.affinity[i] = int(cpu)
        keep = None
        if self.algo_cache is not None:
            keep = ffi.new("char[]", os.fsencode(os.fspath(self.algo_cache)))
            opts.algo_cache = keep
        return opts, keep


def version() -> str:
    return ffi.string(lib().lr_version()).decode()


def build_id() -> str:
    return ffi.string(lib().lr_build_id()).decode()


def supported_layouts() -> tuple[str, ...]:
    """Layouts the native library has fast kernels for on this CPU ("nchw" first), as the library
    sees it (LOADRUN_X86_ISA caps it); ("nchw",) for a library without blocked layouts."""
    try:
        fn = lib().lr_layouts
    except AttributeError:
        return ("nchw",)
    return tuple(ffi.string(fn()).decode().split())


class Runtime:
    """A compiled model loaded into the native runtime."""

    def __init__(self, handle, options: RunOptions):
        self._h = handle
        self.options = options
        L = lib()
        self.inputs = [self._info(L.lr_input_info, L.lr_input_name, i) for i in range(L.lr_input_count(handle))]
        self.outputs = [self._info(L.lr_output_info, L.lr_output_name, i) for i in range(L.lr_output_count(handle))]
        # read now: record level 2 frees the node metadata after the first run
        self.nodes = [self.node_info(i) for i in range(L.lr_node_count(handle))]
        self.algo_cache_message = ffi.string(L.lr_algo_cache_message(handle)).decode("utf-8", "replace")
        status = self._raw_stats().algo_cache_status
        if ALGO_CACHE_STATUS[status].startswith("rejected"):
            warnings.warn(AlgoCacheWarning(self.algo_cache_message), stacklevel=3)

    @classmethod
    def load(cls, compiled: bytes | bytearray | memoryview | str | os.PathLike,
             options: RunOptions | None = None) -> "Runtime":
        options = options or RunOptions()
        L = lib()
        out = ffi.new("lr_model **")
        c_opts, _keep = options.to_c()
        if isinstance(compiled, (bytes, bytearray, memoryview)):
            data = bytes(compiled)
            _check(L.lr_load_memory(ffi.from_buffer(data), len(data), c_opts, out), "loading a compiled model")
        else:
            path = os.fspath(compiled)
            _check(L.lr_load_file(path.encode(), c_opts, out), f"loading {path}")
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

    def node_info(self, index: int) -> dict:
        """Name, operator, chosen algorithm and layout of node ``index``, read from the runtime now
        (refused once record level 2 has freed the graph metadata)."""
        L = lib()
        fields = {"node": L.lr_node_name, "op": L.lr_node_op, "algo": L.lr_node_algo, "layout": L.lr_node_layout}
        info = {}
        for key, fn in fields.items():
            p = fn(self.handle, int(index))
            if p == ffi.NULL:
                msg = ffi.string(L.lr_last_error()).decode("utf-8", "replace")
                raise RuntimeFailure(f"querying node {index}: {msg}")
            info[key] = ffi.string(p).decode("utf-8", "replace")
        return info

    def node_times(self, runs: int) -> np.ndarray:
        """Per-node wall nanoseconds of ``runs`` runs, shape (runs, nodes); -1 where a node did not
        run (zero-copy aliases). Timing each node adds two clock reads per kernel."""
        L = lib()
        n = len(self.nodes)
        out = np.full((max(int(runs), 0), n), -1, dtype=np.int64)
        _check(L.lr_node_timing(self.handle, 1), "turning node timing on")
        try:
            for r in range(out.shape[0]):
                self.run()
                for i in range(n):
                    out[r, i] = L.lr_node_time_ns(self.handle, i)
        finally:
            L.lr_node_timing(self.handle, 0)
        return out

    def cpus_used(self) -> list[int]:
        """CPUs the model's threads were seen running on (sampled per parallel region)."""
        L = lib()
        n = L.lr_cpus_used(self.handle, ffi.NULL, 0)
        buf = ffi.new("int[]", max(n, 1))
        n = min(n, L.lr_cpus_used(self.handle, buf, n))
        return [int(buf[i]) for i in range(n)]

    def reshape_input(self, key: int | str, shape: tuple[int, ...]) -> None:
        """Ask for another input shape: only the compiled shape is accepted (shapes are static);
        record level 2 refuses any change after the first run (the metadata is gone)."""
        i = self._index(key, self.inputs, "input")
        dims = ffi.new("int64_t[]", [int(d) for d in shape] or [0])
        _check(lib().lr_reshape_input(self.handle, i, len(shape), dims), f"reshaping input {self.inputs[i].name!r}")

    def _raw_stats(self):
        s = ffi.new("lr_stats *")
        s.size = ffi.sizeof("lr_stats")
        _check(lib().lr_stats_get(self.handle, s), "reading runtime stats")
        return s

    def stats(self) -> dict:
        s = self._raw_stats()
        algos = [dict(n) for n in self.nodes]
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
            "runs": int(s.runs),
            "graph_walks_per_run": int(s.graph_walks_per_run),
            "weight_packs_per_run": int(s.weight_packs_per_run),
            "kernels_per_run": int(s.kernels_per_run),
            "fused_kernels": int(s.fused_kernels),
            "recorded_calls": int(s.recorded_calls),
            "metadata_bytes": int(s.metadata_bytes),
            "metadata_bytes_at_load": int(s.metadata_bytes_at_load),
            "metadata_freed_bytes": max(0, int(s.metadata_bytes_at_load) - int(s.metadata_bytes)),
            "threads_used": int(s.threads_used),
            "dispatcher_runs": int(s.dispatcher_runs),
            "dispatcher_thread_ran": bool(s.dispatcher_runs > 0),
            "cpus_used": self.cpus_used(),
            "profiling_ns": int(s.profiling_ns),
            "profiled_nodes": int(s.profiled_nodes),
            "algo_cache": {"status": ALGO_CACHE_STATUS[s.algo_cache_status] if 0 <= s.algo_cache_status < len(ALGO_CACHE_STATUS) else "unknown",
                           "hits": int(s.algo_cache_hits), "misses": int(s.algo_cache_misses),
                           "written": bool(s.algo_cache_written), "message": self.algo_cache_message,
                           "path": os.fspath(self.options.algo_cache) if self.options.algo_cache is not None else None},
            "options": {"threads": int(s.threads), "affinity": list(self.options.affinity) if self.options.affinity else None,
                        "inplace": bool(s.inplace), "record": int(s.record),
                        "weight_preprocess": bool(s.weight_preprocess), "fast_run": self.options.fast_run},
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
