"""Shared fixtures: the real MegEngine models in ../shared/models (read-only, beside the repo)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SHARED_MODELS = Path(__file__).resolve().parents[1].parent / "shared" / "models"


def model_dirs() -> list[Path]:
    if not SHARED_MODELS.is_dir():
        return []
    dirs = [d for d in sorted(SHARED_MODELS.iterdir()) if (d / "model.mge").is_file()]
    dirs += [d for d in sorted((SHARED_MODELS / "ops").iterdir()) if (d / "model.mge").is_file()]
    return dirs


def model_params():
    dirs = model_dirs()
    if not dirs:
        return [pytest.param(None, marks=pytest.mark.skip(
            reason=f"the shared MegEngine models are not present at {SHARED_MODELS}"))]
    return [pytest.param(d, id=d.name) for d in dirs]


def reference_outputs(d: Path) -> list[np.ndarray]:
    single = d / "output_mge.npy"
    if single.is_file():
        return [np.load(single)]
    outs = []
    i = 0
    while (d / f"output_mge_{i}.npy").is_file():
        outs.append(np.load(d / f"output_mge_{i}.npy"))
        i += 1
    return outs


def max_rel_error(got: np.ndarray, ref: np.ndarray) -> float:
    """max |got - ref| / max(1, max |ref|): the tolerance measure every backend is held to."""
    assert got.shape == ref.shape, f"shape {got.shape} != {ref.shape}"
    diff = np.abs(got.astype(np.float64) - ref.astype(np.float64))
    return float(diff.max() / max(1.0, float(np.abs(ref).max()))) if diff.size else 0.0


TOLERANCE = 1e-4
