"""Which options mattered: Optuna's PED-ANOVA importance (no scikit-learn needed), or, when it
cannot run (too few trials), a simple variance-based share: how much of the objective's variance
the per-value means of each option explain."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import optuna
from optuna.trial import TrialState


def param_importance(study: optuna.Study) -> tuple[dict[str, float], str]:
    trials = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
              if t.value is not None and np.isfinite(t.value)]
    params = sorted({p for t in trials for p in t.params})
    if len(trials) < 2 or not params:
        return {}, "none"
    try:
        evaluator = optuna.importance.PedAnovaImportanceEvaluator()
        imp = optuna.importance.get_param_importances(study, evaluator=evaluator)
        if imp and all(np.isfinite(v) for v in imp.values()) and sum(imp.values()) > 0:
            return {k: float(v) for k, v in imp.items()}, "ped-anova"
    except Exception:  # noqa: BLE001 - optional refinement; fall back to the simple estimate
        pass
    return variance_importance([(t.params, float(t.value)) for t in trials], params), "variance"


def variance_importance(points: list[tuple[dict, float]], params: list[str]) -> dict[str, float]:
    values = np.array([v for _, v in points], dtype=np.float64)
    total = float(np.var(values))
    out: dict[str, float] = {}
    for p in params:
        groups: dict[object, list[float]] = defaultdict(list)
        for ps, v in points:
            if p in ps:
                groups[ps[p]].append(v)
        if total <= 0 or len(groups) < 2:
            out[p] = 0.0
            continue
        between = sum(len(g) * (np.mean(g) - values.mean()) ** 2 for g in groups.values()) / len(values)
        out[p] = float(between / total)
    s = sum(out.values())
    return {k: (v / s if s > 0 else 0.0) for k, v in sorted(out.items(), key=lambda kv: -kv[1])}
