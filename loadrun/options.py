"""Every runtime option loadrun knows, declared once.

Options are of two kinds:

- **compile** options reshape the graph in Python before it is serialized (layout, JIT level), so
  each combination is a different compiled model (cached by content hash);
- **runtime** options are honoured by the native runtime at load and run time (threads, affinity,
  inplace, record level, weight preprocess, fast-run and its algorithm cache).

An option is *available* only once it changes what the machine does; the CLI, the fit's search
space and profiles accept only available options, so nothing is accepted that does nothing.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from loadrun.errors import OptionError

LAYOUTS = ("nchw", "nchw88", "nchw16", "nchw44")
FAST_RUN_MODES = ("heuristic", "profile", "profile-reproducible", "profile-optimized")
RECORD_LEVELS = (0, 1, 2)
JIT_LEVELS = (0, 1, 2)

# Options whose effect is implemented; grows as each one becomes real.
AVAILABLE: set[str] = {"threads", "jit", "layout", "affinity", "inplace", "record", "weight_preprocess", "fast_run", "algo_cache"}

COMPILE_OPTIONS = ("layout", "jit")
RUNTIME_OPTIONS = ("threads", "affinity", "inplace", "record", "weight_preprocess", "fast_run", "algo_cache")


@dataclass(frozen=True)
class Options:
    """One configuration. Defaults are MegEngine Lite's defaults, the baseline a fit improves on."""

    threads: int = 1
    affinity: tuple[int, ...] | None = None  # CPU ids the pool threads are pinned to
    inplace: bool = False  # True: the caller's thread runs the kernels; False: a dispatcher thread
    record: int = 0  # 0 walk the graph each run; 1 record/replay kernel calls; 2 + free metadata
    weight_preprocess: bool = False  # True: pack/transform weights once at load
    fast_run: str = "heuristic"  # or profile every usable algorithm at load
    algo_cache: str | None = None  # algorithm cache file read (and written after profiling)
    jit: int = 0  # 1: fuse elementwise chains; 2: fuse reductions too
    layout: str = "nchw"  # blocked layouts: nchw88 (AVX2), nchw16 (AVX-512), nchw44 (ARM)
    extras: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.threads, int) or self.threads < 1:
            raise OptionError(f"threads must be an integer >= 1, got {self.threads!r}")
        if self.affinity is not None:
            cpus = tuple(int(c) for c in self.affinity)
            if not cpus or any(c < 0 for c in cpus):
                raise OptionError(f"affinity must be a non-empty list of CPU ids, got {self.affinity!r}")
            object.__setattr__(self, "affinity", cpus)
        if self.record not in RECORD_LEVELS:
            raise OptionError(f"record must be one of {RECORD_LEVELS}, got {self.record!r}")
        if self.jit not in JIT_LEVELS:
            raise OptionError(f"jit must be one of {JIT_LEVELS}, got {self.jit!r}")
        if self.layout not in LAYOUTS:
            raise OptionError(f"layout must be one of {', '.join(LAYOUTS)}, got {self.layout!r}")
        if self.fast_run not in FAST_RUN_MODES:
            raise OptionError(f"fast_run must be one of {', '.join(FAST_RUN_MODES)}, got {self.fast_run!r}")

    # -- views -----------------------------------------------------------------------------------

    def non_default(self) -> dict[str, Any]:
        base = Options()
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name != "extras" and getattr(self, f.name) != getattr(base, f.name)}

    def check_available(self) -> None:
        """Refuse any non-default value of an option that is not implemented."""
        missing = sorted(set(self.non_default()) - AVAILABLE)
        if missing:
            raise OptionError(f"option(s) {', '.join(missing)} are not available in this build of loadrun")

    def compile_kwargs(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in COMPILE_OPTIONS}

    def runtime_kwargs(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in RUNTIME_OPTIONS}

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("extras")
        if d["affinity"] is not None:
            d["affinity"] = list(d["affinity"])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Options":
        known = {f.name for f in fields(cls)} - {"extras"}
        unknown = sorted(set(d) - known)
        if unknown:
            raise OptionError(f"unknown option(s): {', '.join(unknown)}")
        kwargs = dict(d)
        if kwargs.get("affinity") is not None:
            kwargs["affinity"] = tuple(kwargs["affinity"])
        return cls(**kwargs)

    def with_(self, **changes: Any) -> "Options":
        return replace(self, **changes)

    def label(self) -> str:
        nd = self.non_default()
        return ",".join(f"{k}={_fmt(v)}" for k, v in nd.items()) or "default"


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, tuple):
        return "+".join(map(str, v))
    return str(v)


def parse_affinity(text: str) -> tuple[int, ...] | None:
    """'none' | '0,2,3' | '4-7' -> CPU ids."""
    t = text.strip().lower()
    if t in ("", "none"):
        return None
    cpus: list[int] = []
    try:
        for part in t.split(","):
            if "-" in part:
                a, b = part.split("-", 1)
                cpus.extend(range(int(a), int(b) + 1))
            else:
                cpus.append(int(part))
    except ValueError:
        raise OptionError(f"affinity {text!r} is not a CPU list like 0,1 or 4-7") from None
    if not cpus or min(cpus) < 0:
        raise OptionError(f"affinity {text!r} names no valid CPU")
    return tuple(cpus)


def host_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
