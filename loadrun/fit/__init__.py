"""``--fit``: search the runtime options of a model on a target, confirm, write a profile."""

from loadrun.fit.fit import (DEFAULT_TIME_BUDGET_S, DEFAULT_TRIALS, STRATEGIES, FitProgress, FitResult,
                             FitSettings, FitStopped, fit_model)
from loadrun.fit.objective import Objective, parse_objective
from loadrun.fit.space import SearchSpace, build_space

__all__ = ["DEFAULT_TIME_BUDGET_S", "DEFAULT_TRIALS", "STRATEGIES", "FitProgress", "FitResult", "FitSettings",
           "FitStopped", "Objective", "SearchSpace", "build_space", "fit_model", "parse_objective"]
