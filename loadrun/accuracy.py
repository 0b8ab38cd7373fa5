"""Outputs against the reference executor, with the project's one tolerance (docs/ir.md):
``max |y - ref| <= 1e-4 * max(1, max |ref|)`` per output."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RELATIVE_TOLERANCE = 1e-4


@dataclass(frozen=True)
class OutputCheck:
    name: str
    max_abs: float | None  # None when the shapes differ; inf when NaN/inf differ
    max_rel: float | None  # max_abs / max |ref| (max_abs when the reference is all zeros)
    tolerance: float
    passed: bool
    problem: str | None = None

    def to_dict(self) -> dict:
        # JSON has no infinity: an unbounded error is null, and ``problem`` says why.
        return {"name": self.name, "max_abs_error": _finite_or_none(self.max_abs),
                "max_rel_error": _finite_or_none(self.max_rel), "tolerance": self.tolerance,
                "passed": self.passed, "problem": self.problem}


def _finite_or_none(x: float | None) -> float | None:
    return x if x is not None and np.isfinite(x) else None


def tolerance_for(reference: np.ndarray) -> float:
    ref = np.asarray(reference, dtype=np.float64)
    finite = np.abs(ref[np.isfinite(ref)])
    return RELATIVE_TOLERANCE * max(1.0, float(finite.max()) if finite.size else 0.0)


def compare_output(name: str, actual: np.ndarray, reference: np.ndarray) -> OutputCheck:
    """Compare one output; NaN matches only NaN and an infinity only the same infinity."""
    tol = tolerance_for(reference)
    if actual.shape != reference.shape:
        return OutputCheck(name, None, None, tol, False,
                           f"shape {list(actual.shape)} != reference {list(reference.shape)}")
    a = np.asarray(actual, dtype=np.float64)
    r = np.asarray(reference, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(a - r)
    diff[(a == r) | (np.isnan(a) & np.isnan(r))] = 0.0
    diff[np.isnan(diff)] = np.inf
    max_abs = float(diff.max()) if diff.size else 0.0
    finite = np.abs(r[np.isfinite(r)])
    scale = float(finite.max()) if finite.size else 0.0
    max_rel = max_abs / scale if scale > 0 else max_abs
    passed = max_abs <= tol
    problem = None if passed else (
        "non-finite values differ from the reference" if not np.isfinite(max_abs)
        else f"max abs error {max_abs:.3g} exceeds tolerance {tol:.3g}")
    return OutputCheck(name, max_abs, max_rel, tol, passed, problem)
