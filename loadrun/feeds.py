"""Input tensors for a run: ``--input`` files checked against the model, or seeded random data."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from loadrun.errors import InputError
from loadrun.tensor_io import NotNpyError, read_npy

RANDOM_INT_HIGH = 10  # integer inputs are often indices or ids: keep random ones small


@dataclass(frozen=True)
class InputSpec:
    """What the model expects of one input."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype


@dataclass(frozen=True)
class Feed:
    """One input tensor and where it came from (a file path, or ``random(seed=N)``)."""

    spec: InputSpec
    array: np.ndarray
    source: str


def parse_input_args(args: Sequence[str], specs: Sequence[InputSpec]) -> dict[str, Path]:
    """Map ``--input`` arguments to input names: ``NAME=FILE.npy`` names one input, a bare
    ``FILE.npy`` takes the next input (in model order) that no argument named."""
    names = [s.name for s in specs]
    named: dict[str, Path] = {}
    bare: list[str] = []
    for arg in args:
        name, sep, file = arg.partition("=")
        if sep and name in names:
            if name in named:
                raise InputError(f"--input {arg}: input {name!r} is given twice")
            named[name] = Path(file)
        elif sep and not Path(arg).exists():
            raise InputError(f"--input {arg}: the model has no input {name!r}; "
                             f"its inputs are: {', '.join(names)}")
        else:
            bare.append(arg)
    free = [n for n in names if n not in named]
    if len(bare) > len(free):
        raise InputError(f"{len(args)} --input arguments for a model with {len(names)} "
                         f"input{'s' if len(names) != 1 else ''} ({', '.join(names)})")
    named.update({name: Path(file) for name, file in zip(free, bare)})
    return {n: named[n] for n in names if n in named}


def read_input(spec: InputSpec, path: Path) -> np.ndarray:
    """Read ``path`` and check it is exactly what ``spec`` expects."""
    where = f"input {spec.name!r} ({path})"
    try:
        array = read_npy(path)
    except FileNotFoundError:
        raise InputError(f"{where}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{where}: is a directory, not a .npy file") from None
    except NotNpyError as e:
        raise InputError(f"{where}: {e}") from None
    except OSError as e:
        raise InputError(f"{where}: {e.strerror or e}") from None
    expected = f"{spec.dtype}{list(spec.shape)}"
    got = f"{array.dtype}{list(array.shape)}"
    if array.shape != spec.shape:
        raise InputError(f"{where}: expected shape {expected}, got {got}")
    if array.dtype != spec.dtype:
        raise InputError(f"{where}: expected dtype {expected}, got {got} "
                         f"(convert it with array.astype('{spec.dtype}'))")
    return array


def random_input(spec: InputSpec, rng: np.random.Generator) -> np.ndarray:
    """Standard normal for floating inputs, integers in [0, 10) for integer ones, coin flips
    for booleans."""
    dtype = spec.dtype
    if dtype.kind == "f":
        return rng.standard_normal(spec.shape).astype(dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, size=spec.shape).astype(dtype)
    if dtype.kind in "iu":
        return rng.integers(0, RANDOM_INT_HIGH, size=spec.shape).astype(dtype)
    raise InputError(f"input {spec.name!r}: cannot make random data of dtype {dtype}; "
                     f"give it with --input {spec.name}=FILE.npy")


def build_feeds(specs: Sequence[InputSpec], args: Sequence[str], seed: int) -> list[Feed]:
    """One feed per model input, in model order: from ``--input`` files where given, else
    random data seeded by ``(seed, input index)``, so an input's data does not depend on which
    other inputs came from files."""
    files = parse_input_args(args, specs)
    feeds = []
    for index, spec in enumerate(specs):
        if spec.name in files:
            feeds.append(Feed(spec, read_input(spec, files[spec.name]), str(files[spec.name])))
        else:
            rng = np.random.default_rng((seed, index))
            feeds.append(Feed(spec, random_input(spec, rng), f"random(seed={seed})"))
    return feeds
