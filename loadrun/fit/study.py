"""Where a fit's trials live: an Optuna study in any Optuna storage (SQLite under the cache
directory by default), named after what makes trials comparable, so running the same fit again
resumes it. Samplers are swappable behind ``make_sampler``."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping

import optuna

from loadrun.errors import OptionError

SAMPLERS = ("tpe", "random")


def cache_dir() -> Path:
    root = os.environ.get("LOADRUN_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "loadrun"


def study_name(model_sha256: str, fingerprint: Mapping[str, Any], space_digest: str,
               extra: Mapping[str, Any]) -> str:
    """Same model, device, space, objective, strategy and measurement: same study."""
    fp = hashlib.sha256(json.dumps(dict(fingerprint), sort_keys=True, default=str).encode()).hexdigest()
    ex = hashlib.sha256(json.dumps(dict(extra), sort_keys=True, default=str).encode()).hexdigest()
    return f"fit-{model_sha256[:12]}-{fp[:8]}-{space_digest[:8]}-{ex[:8]}"


def journal_storage(path: str | Path) -> optuna.storages.BaseStorage:
    """An Optuna journal file (append-only, file-locked): the default storage. A trial writes a
    dozen attributes and a value per chunk; the journal appends them, where SQLite commits (and
    fsyncs) each one, about 0.2 s per trial on this class of machine: 5x slower."""
    try:
        from optuna.storages.journal import JournalFileBackend
    except ImportError:  # Optuna < 4
        from optuna.storages import JournalFileStorage as JournalFileBackend
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(JournalFileBackend(str(path)))


def default_storage(name: str) -> optuna.storages.BaseStorage:
    return journal_storage(cache_dir() / "studies" / f"{name}.log")


def _storage(name: str, storage: str | None):
    """``--storage``: an Optuna RDB URL (``sqlite:///…``, ``postgresql://…``) or
    ``journal:PATH`` (a journal file); none: the journal file under the cache directory."""
    if not storage:
        return default_storage(name)
    if storage.startswith("journal:"):
        return journal_storage(storage[len("journal:"):])
    return storage


def make_sampler(name: str, seed: int, n_startup_trials: int = 8) -> optuna.samplers.BaseSampler:
    if name == "tpe":
        return optuna.samplers.TPESampler(multivariate=True, seed=seed,
                                          n_startup_trials=n_startup_trials)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise OptionError(f"sampler {name!r}: choose {', '.join(SAMPLERS)}")


def open_study(name: str, storage: str | None, sampler: optuna.samplers.BaseSampler,
               pruner: optuna.pruners.BasePruner) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        return optuna.create_study(study_name=name, storage=_storage(name, storage),
                                   sampler=sampler, pruner=pruner, direction="minimize",
                                   load_if_exists=True)
    except (ValueError, ImportError, RuntimeError) as e:  # a malformed URL, no driver, ...
        raise OptionError(f"--storage {storage!r}: {e}") from None
