"""Errors a user can act on. Every failure that reaches the CLI is one of these."""

from __future__ import annotations


class LoadrunError(Exception):
    """Base class: carries a one-line message meant for the user."""

    exit_code = 2


class ModelFormatError(LoadrunError):
    """The model file is malformed, truncated, hostile, or of an unknown kind."""

    def __init__(self, path: str, problem: str):
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class UnsupportedOperatorError(LoadrunError):
    """The model uses an operator (or a mode of one) loadrun cannot execute yet."""


class InputError(LoadrunError):
    """An input given by the user does not fit the model (name, shape or dtype)."""


class RuntimeFailure(LoadrunError):
    """The native runtime reported a failure."""


class OptionError(LoadrunError):
    """An option value is out of its range (e.g. ``--iters 0``)."""
