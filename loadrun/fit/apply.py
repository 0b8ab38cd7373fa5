"""``loadrun MODEL --profile FILE``: the options a profile carries (runtime and compile options),
after checking that it was fitted for this model and this device (``--force`` applies it anyway,
saying what differs)."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any, Callable

from loadrun.api import resolve_model
from loadrun.bench import split_profile_options
from loadrun.fit.study import cache_dir
from loadrun.options import AVAILABLE, COMPILE_OPTIONS, Options
from loadrun.profile import ProfileError, check_applies, file_sha256, load_profile, local_fingerprint


def decode_algo_cache(entry: Any) -> bytes | None:
    if not entry:
        return None
    if not isinstance(entry, dict) or entry.get("encoding") != "base64":
        raise ProfileError("the profile's algo_cache is not base64-encoded data")
    data = base64.b64decode(entry["data"])
    if entry.get("sha256") and hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise ProfileError("the profile's algo_cache does not match its sha256")
    return data


def profile_run_options(path: Path, model_path: Path | None, *, force: bool = False,
                        decrypt: str | None = None,
                        warn: Callable[[str], None] = lambda m: None) -> tuple[int, dict[str, Any]]:
    """(threads, options) of the profile for ``RunConfig(threads=..., runtime_options=...)``: the
    runtime options and the compile options (``jit``, ``layout``: ``run_model`` compiles with
    them); raises ProfileError when the profile does not apply and ``force`` is not given."""
    from loadrun.runtime import build_id

    doc = load_profile(path)
    model = resolve_model(model_path)
    problems = check_applies(doc, model_sha256=file_sha256(model),
                             fingerprint=local_fingerprint(build_id()), force=force, path=str(path))
    for p in problems:
        warn(f"--force: applying {path} although {p}")
    options = Options.from_dict(doc["options"])
    values = {k: v for k, v in options.non_default().items()}
    cache = decode_algo_cache(doc.get("algo_cache"))
    if cache is not None:  # the fitted algorithm choices, so the run reproduces them
        file = cache_dir() / "algo_cache" / f"{hashlib.sha256(cache).hexdigest()[:24]}.bin"
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(cache)
        values["algo_cache"] = str(file)
    if "affinity" in values:
        values["affinity"] = tuple(values["affinity"])
    # compile options (layout, JIT level) go to run_model's compile step through RunConfig, when
    # this build has them; runtime options to the native runtime
    compile_values = {k: values.pop(k) for k in COMPILE_OPTIONS if k in values}
    applied, ignored = split_profile_options(values)
    for k, v in compile_values.items():
        (applied if k in AVAILABLE else ignored)[k] = v
    if ignored:
        warn(f"{path}: this build cannot apply {', '.join(f'{k}={v}' for k, v in ignored.items())}; "
             "running without them")
    threads = int(applied.pop("threads", options.threads))
    return threads, applied
