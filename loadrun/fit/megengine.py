"""``--strategy megengine``: MegEngine load_and_run's fitting, as a baseline.

MegEngine 1.13 ``lite/load_and_run/src/strategys/strategy_fitting.cpp``:

1. Stage one profiles fixed option bundles (``UserInfoParser::parse_info``), each alone, and
   keeps the best. On an x86 CPU: ``{}``, ``{weight_preprocess, fast_run}``,
   ``{layout_transform}``, ``{layout_transform, weight_preprocess}``, ``{enable_nchw88}``,
   ``{enable_nchw88, weight_preprocess, fast_run}``; on ARM the first four, then ``nchw44`` and
   ``nchw44_dot`` each alone and with ``weight_preprocess + fast_run``. Every bundle also carries
   ``enable_fuse_conv_bias_nonlinearity`` (loadrun's compiler always fuses conv+bias+activation).
2. Stage two adds, one at a time on top of the stage-one winner, ``enable_fuse_conv_bias_with_z``,
   ``enable_fuse_preprocess`` and ``record_comp_seq`` (``OptionsFastManager::init``), and keeps the
   best of all profiled settings.
3. A setting's score is the mean of ``run_iter`` (10) runs after ``warmup_iter`` (1) warm-up runs
   (``OptionsTimeProfiler``); there are no repeats and no confidence intervals.

loadrun's equivalents: ``layout_transform`` (the global layout search) is the blocked layout of
the CPU's widest vector unit (nchw16 with AVX-512, nchw88 with AVX2, nchw44 on ARM);
``fuse_conv_bias_with_z`` is JIT level 1 (elementwise fusion into the producer);
``fuse_preprocess`` has no counterpart (no input preprocessing in the graph) and is skipped;
``record_comp_seq`` is record level 1. MegEngine does not search threads: they stay at the value
given (``--fix threads=N``, else 1). Options not available in this build are dropped from a
bundle, and bundles that became identical are profiled once. loadrun's accuracy guard still
applies: a bundle whose outputs are off scores infinity.
"""

from __future__ import annotations

from typing import Any, Mapping

from loadrun.options import AVAILABLE

WARMUP = 1
RUN_ITER = 10

_X86 = [(), ("weight_preprocess", "fast_run"), ("layout_transform",),
        ("layout_transform", "weight_preprocess"), ("nchw88",), ("nchw88", "weight_preprocess", "fast_run")]
_ARM = [(), ("weight_preprocess", "fast_run"), ("layout_transform",),
        ("layout_transform", "weight_preprocess"), ("nchw44",), ("nchw44", "weight_preprocess", "fast_run"),
        ("nchw44_dot",), ("nchw44_dot", "weight_preprocess", "fast_run")]
STAGE_TWO = [("fuse_conv_bias_with_z",), ("fuse_preprocess",), ("record_comp_seq",)]


def _layout_transform(layouts: list[str]) -> str:
    for layout in ("nchw16", "nchw88", "nchw44"):
        if layout in layouts:
            return layout
    return "nchw"


def _translate(flags: tuple[str, ...], hints: Mapping[str, Any], available: set[str]) -> dict[str, Any]:
    layouts = list(hints.get("layouts", ["nchw"]))
    out: dict[str, Any] = {}
    for flag in flags:
        if flag == "weight_preprocess":
            out["weight_preprocess"] = True
        elif flag == "fast_run":
            out["fast_run"] = "profile"
        elif flag == "layout_transform":
            out["layout"] = _layout_transform(layouts)
        elif flag in ("nchw88", "nchw44", "nchw44_dot"):
            layout = "nchw44" if flag == "nchw44_dot" else flag
            if layout in layouts:
                out["layout"] = layout
        elif flag == "fuse_conv_bias_with_z":
            out["jit"] = 1
        elif flag == "record_comp_seq":
            out["record"] = 1
    return {k: v for k, v in out.items() if k in available}


def stage_one(hints: Mapping[str, Any], available: set[str] | None = None) -> list[dict[str, Any]]:
    """Stage-one settings (option values over the base), deduplicated, in MegEngine's order."""
    available = AVAILABLE if available is None else available
    arm = "nchw44" in hints.get("layouts", ())
    return _unique([_translate(b, hints, available) for b in (_ARM if arm else _X86)])


def stage_two(hints: Mapping[str, Any], available: set[str] | None = None) -> list[dict[str, Any]]:
    available = AVAILABLE if available is None else available
    return [s for s in (_translate(b, hints, available) for b in STAGE_TWO) if s]


def _unique(settings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen, out = set(), []
    for s in settings:
        key = tuple(sorted(s.items()))
        if key not in seen:
            seen.add(key)
            out.append(s)
    return out
