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
# "Clearly slower": the running median is this much above the incumbent's final value. The
# margin tightens as a trial gathers chunks (its median is then less noisy): 15% after the first
# chunk, 10% after the second, 6% from the third on. A trial within 6% of the incumbent runs to
# the end; one clearly behind costs its load, first run and one or two short chunks.
DEFAULT_MARGIN = 0.15
MARGINS = (0.15, 0.10, 0.06)


class IncumbentPruner(BasePruner):
    """Prune when the trial's running median (the latest intermediate value) exceeds the best
    finished value by more than the margin of its step (``margins[step]``, the last one from then
    on; a single ``margin`` is a flat schedule), after ``min_step`` chunks."""

    def __init__(self, margin: float | None = None, min_step: int = 0,
                 margins: tuple[float, ...] = MARGINS):
        self.margins = (margin,) if margin is not None else tuple(margins)
        self.margin = self.margins[0]
        self.min_step = min_step

    def margin_at(self, step: int) -> float:
        return self.margins[min(step, len(self.margins) - 1)]

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
        return trial.intermediate_values[step] > best * (1.0 + self.margin_at(step))


def make_pruner(name: str = "incumbent") -> BasePruner:
    if name == "incumbent":
        return IncumbentPruner()
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=0)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise OptionError(f"--pruner {name!r}: choose {', '.join(PRUNERS)}")
