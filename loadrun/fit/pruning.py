"""Stopping a trial early: a trial is run in chunks and each chunk's running median goes to an
Optuna pruner. Pruners are swappable; the default stops a trial that is clearly slower than the
incumbent (the best finished trial), which is what a single-objective fit wants."""

from __future__ import annotations

import math

import optuna
from optuna.pruners import BasePruner
from optuna.trial import FrozenTrial, TrialState

from loadrun.errors import OptionError

PRUNERS = ("incumbent", "median", "none")
# "Clearly slower": the running median is this much above the incumbent's final value.
DEFAULT_MARGIN = 0.15


class IncumbentPruner(BasePruner):
    """Prune when the trial's latest intermediate value exceeds the best finished value by more
    than ``margin`` (relative), after ``min_step`` chunks."""

    def __init__(self, margin: float = DEFAULT_MARGIN, min_step: int = 0):
        self.margin = margin
        self.min_step = min_step

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if step is None or step < self.min_step:
            return False
        best = math.inf
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if t.value is not None and t.value < best:
                best = t.value
        if not math.isfinite(best):
            return False
        return trial.intermediate_values[step] > best * (1.0 + self.margin)


def make_pruner(name: str = "incumbent") -> BasePruner:
    if name == "incumbent":
        return IncumbentPruner()
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=0)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise OptionError(f"--pruner {name!r}: choose {', '.join(PRUNERS)}")
