"""The fit's search space, declared in one place.

Each dimension is one option of :class:`loadrun.options.Options`, with the values worth trying
on a target (from the target's ``option_space_hints()``). Only options in
:data:`loadrun.options.AVAILABLE` are searched; every other option stays at its default, so the
fit never "tunes" a knob that does nothing. ``--fix NAME=VALUE`` pins a dimension and
``--space NAME=V1,V2`` restricts one. Constraints between options are declared here too, as
rules that map a sampled point to the configuration that actually runs (``canonical``), so two
points that run the same thing are measured once.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Sequence

from loadrun.errors import OptionError
from loadrun.options import (AVAILABLE, FAST_RUN_MODES, JIT_LEVELS, LAYOUTS, RECORD_LEVELS, Options,
                             parse_affinity)

Value = Any


@dataclass(frozen=True)
class Dimension:
    """One searchable option: its name in ``Options``, its candidate values on this target."""

    name: str
    values: tuple[Value, ...]
    why: str = ""  # one line: what the values are and why

    def encode(self, value: Value) -> str | int | bool | None:
        """The value as an Optuna categorical choice (str, int, bool or None)."""
        return value if value is None or isinstance(value, (str, int, bool)) else _to_text(value)


def _to_text(value: Value) -> str:
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)


def _parse_bool(text: str) -> bool:
    t = text.strip().lower()
    if t in ("1", "on", "true", "yes"):
        return True
    if t in ("0", "off", "false", "no"):
        return False
    raise ValueError(text)


# How to read a --fix/--space value for each option.
PARSERS: dict[str, Callable[[str], Value]] = {
    "threads": int,
    "affinity": lambda t: t.strip().lower() if t.strip().lower() in ("none", "compact", "all")
    else parse_affinity(t),
    "inplace": _parse_bool,
    "record": int,
    "weight_preprocess": _parse_bool,
    "fast_run": str,
    "jit": int,
    "layout": str,
}


@dataclass(frozen=True)
class SearchSpace:
    dimensions: tuple[Dimension, ...]  # searched (more than one value)
    fixed: Mapping[str, Value]  # pinned by --fix or by having a single value
    hints: Mapping[str, Any] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.dimensions)

    def grid(self) -> Iterator[dict[str, Value]]:
        """Every point of the space, each canonical configuration once, in a stable order."""
        seen: set[str] = set()
        for combo in itertools.product(*(d.values for d in self.dimensions)):
            params = dict(zip(self.names, combo))
            key = self.key(self.options(params))
            if key not in seen:
                seen.add(key)
                yield params

    def size(self) -> int:
        return sum(1 for _ in self.grid())

    def options(self, params: Mapping[str, Value]) -> Options:
        """The configuration a point runs (constraints applied)."""
        values = dict(self.fixed)
        values.update(params)
        return canonical(values, self.hints)

    @staticmethod
    def key(options: Options) -> str:
        return json.dumps(options.to_dict(), sort_keys=True)

    def describe(self) -> dict[str, Any]:
        return {"dimensions": {d.name: [d.encode(v) for v in d.values] for d in self.dimensions},
                "fixed": {k: Dimension(k, ()).encode(v) for k, v in self.fixed.items()}}

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.describe(), sort_keys=True).encode()).hexdigest()[:12]

    def default_params(self) -> dict[str, Value]:
        """The point of the default configuration (Options()), clipped to the space."""
        base = Options()
        out = {}
        for d in self.dimensions:
            v = getattr(base, d.name) if d.name != "affinity" else "none"
            out[d.name] = v if v in d.values else d.values[0]
        return out

    def decode(self, name: str, choice: Any) -> Value:
        """An Optuna categorical choice back to the dimension's value."""
        for d in self.dimensions:
            if d.name == name:
                for v in d.values:
                    if d.encode(v) == choice:
                        return v
        raise KeyError(f"{name}={choice!r} is not in the search space")


# -- constraints ---------------------------------------------------------------------------------


def resolve_affinity(value: Value, threads: int, hints: Mapping[str, Any]) -> tuple[int, ...] | None:
    """An affinity choice ("none", "compact", a core group name, or CPU ids) as CPU ids."""
    if value is None or value == "none":
        return None
    if isinstance(value, tuple):
        return value
    groups = hints.get("core_groups") or {}
    if value == "compact":  # one CPU per thread, the first ones of the fastest group
        ids = list(groups.get("big") or groups.get("all") or range(threads))
        return tuple(ids[:threads]) if ids else None
    if value in groups:
        return tuple(groups[value])
    raise OptionError(f"affinity {value!r}: choose none, compact or a core group "
                      f"({', '.join(groups) or 'none known'})")


def canonical(values: Mapping[str, Value], hints: Mapping[str, Any]) -> Options:
    """Apply the constraints between options and build the configuration that runs."""
    v = dict(values)
    threads = int(v.get("threads", 1))
    v["affinity"] = resolve_affinity(v.get("affinity"), threads, hints)
    groups = hints.get("core_groups") or {}
    if threads == 1 and not (groups.get("big") or groups.get("little")):
        # One thread on identical cores: pinning it only forbids migration between equals, so
        # "compact" and "none" run the same configuration (measured once). On big.LITTLE, where
        # a core group decides the speed, pinning one thread stays a real choice.
        v["affinity"] = None
    if v.get("record", 0) and not hints.get("static_shapes", True):
        v["record"] = 0  # record/replay needs static shapes
    if v.get("fast_run", "heuristic") == "heuristic":
        v["algo_cache"] = None  # an algorithm cache is a product of fast-run profiling
    return Options.from_dict({k: val for k, val in v.items() if k != "extras"})


# -- the space per target ------------------------------------------------------------------------


def candidate_values(hints: Mapping[str, Any]) -> dict[str, tuple[tuple[Value, ...], str]]:
    """Every option's candidate values on a target with these hints, and why."""
    max_threads = max(1, int(hints.get("max_threads", 1)))
    layouts = tuple(x for x in hints.get("layouts", ("nchw",)) if x in LAYOUTS) or ("nchw",)
    affinity: tuple[Value, ...] = ("none",)
    if hints.get("affinity_matters"):
        groups = tuple(g for g in (hints.get("core_groups") or {}) if g != "all")
        affinity = ("none", "compact") + groups
    return {
        "threads": (tuple(range(1, max_threads + 1)), f"1..{max_threads} cores"),
        "affinity": (affinity, "unpinned, one CPU per thread, or a core group"),
        "inplace": ((False, True), "dispatcher thread or the caller's"),
        "record": (tuple(RECORD_LEVELS), "walk the graph, replay, replay + free metadata"),
        "weight_preprocess": ((False, True), "pack weights per run or once at load"),
        "fast_run": (tuple(FAST_RUN_MODES), "heuristic or fast-run profiling modes"),
        "jit": (tuple(JIT_LEVELS), "no fusion, elementwise, + reductions"),
        "layout": (layouts, "layouts this CPU has kernels for"),
    }


def parse_assignments(items: Sequence[str], flag: str, multi: bool) -> dict[str, list[Value]]:
    """``NAME=V`` (``--fix``) or ``NAME=V1,V2`` (``--space``) into parsed values."""
    out: dict[str, list[Value]] = {}
    for item in items:
        name, eq, text = item.partition("=")
        name = name.strip().replace("-", "_")
        if not eq or not text.strip():
            raise OptionError(f"{flag} {item!r}: expected NAME={'V1,V2' if multi else 'VALUE'}")
        if name not in PARSERS:
            raise OptionError(f"{flag} {item!r}: unknown option {name!r}; "
                              f"options: {', '.join(PARSERS)}")
        if name in out:
            raise OptionError(f"{flag} names {name!r} twice")
        if not multi:
            parts = [text]
        elif name == "affinity":  # CPU lists contain commas: separate choices with ';'
            parts = text.split(";")
        else:
            parts = text.split(",")
        try:
            out[name] = [PARSERS[name](p.strip()) for p in parts]
        except (ValueError, OptionError):
            raise OptionError(f"{flag} {item!r}: {text!r} is not a valid {name} value") from None
    return out


def build_space(hints: Mapping[str, Any], fix: Sequence[str] = (), restrict: Sequence[str] = (),
                available: set[str] | None = None) -> SearchSpace:
    """The search space on a target: available options with their candidate values, minus what
    ``--fix`` pins, narrowed by ``--space``."""
    available = AVAILABLE if available is None else available
    fixes = {k: v[0] for k, v in parse_assignments(fix, "--fix", multi=False).items()}
    restricts = parse_assignments(restrict, "--space", multi=True)
    for name in set(fixes) & set(restricts):
        raise OptionError(f"{name!r} is both fixed (--fix) and restricted (--space)")
    candidates = candidate_values(hints)
    base = Options()
    dims: list[Dimension] = []
    fixed: dict[str, Value] = {}
    for name, (values, why) in candidates.items():
        default = getattr(base, name) if name != "affinity" else "none"
        given = fixes.get(name, None)
        chosen = restricts.get(name)
        if name not in available:
            asked = [given] if name in fixes else chosen or []
            if any(a != default for a in asked):
                raise OptionError(f"option {name!r} is not available in this build of loadrun "
                                  f"(available: {', '.join(sorted(available))})")
            continue
        if name in fixes:
            _check_value(name, given, hints)
            fixed[name] = given
            continue
        if chosen is not None:
            for value in chosen:
                _check_value(name, value, hints)
            values = tuple(dict.fromkeys(chosen))
        if len(values) == 1:
            fixed[name] = values[0]
        else:
            dims.append(Dimension(name, values, why))
    return SearchSpace(tuple(dims), fixed, dict(hints))


def _check_value(name: str, value: Value, hints: Mapping[str, Any]) -> None:
    """Refuse values the option or the target cannot take (exit 2 via OptionError)."""
    if name == "layout" and value not in hints.get("layouts", ("nchw",)):
        raise OptionError(f"layout {value!r} has no kernels on this target "
                          f"(valid: {', '.join(hints.get('layouts', ('nchw',)))})")
    if name == "threads" and (not isinstance(value, int) or value < 1):
        raise OptionError(f"threads must be >= 1, got {value!r}")
    if name == "affinity":
        resolve_affinity(value, 1, hints)
        return
    Options.from_dict({name: value})  # the option's own range check
