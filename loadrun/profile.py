"""The profile: a fitted configuration, bound to one model (sha256) and one device (fingerprint).

Profiles are versioned JSON documents written atomically. Applying one checks that the model
digest and the device fingerprint still match, and says which field differs when they do not.
The default location follows the ``profiles/`` convention: ``profiles/<model>/<device>.json``.
"""

from __future__ import annotations

import json
import os
import platform
import re
from pathlib import Path
from typing import Any

from loadrun import __version__
from loadrun.atomic_files import atomic_write_bytes, atomic_write_json, file_sha256  # noqa: F401 (re-exported)
from loadrun.errors import LoadrunError

PROFILE_SCHEMA = "loadrun.profile/1"
# Fingerprint fields that must match for a profile to apply.
FINGERPRINT_KEYS = ("kind", "machine", "cpu_model", "cpu_flags", "cores", "os", "loadrun_version",
                    "native_build_id")
# CPU features that change which kernels run; other /proc/cpuinfo flags do not matter.
RELEVANT_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
                  "avx512_bf16", "amx_tile", "asimd", "asimddp", "fphp", "asimdhp", "sve", "i8mm", "bf16")


class ProfileError(LoadrunError):
    """A profile that cannot be read or does not apply."""


def _cpuinfo() -> tuple[str, list[str]]:
    model, flags = platform.processor() or platform.machine(), []
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return model, flags
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware", "cpu model") and value.strip():
            model = value.strip()
        elif key in ("flags", "features") and not flags:
            present = set(value.split())
            flags = [f for f in RELEVANT_FLAGS if f in present]
    return model, flags


def local_fingerprint(native_build_id: str) -> dict[str, Any]:
    model, flags = _cpuinfo()
    return {
        "kind": "local",
        "machine": platform.machine(),
        "cpu_model": model,
        "cpu_flags": flags,
        "cores": os.cpu_count() or 1,
        "os": f"{platform.system()} {platform.release()}",
        "loadrun_version": __version__,
        "native_build_id": native_build_id,
    }


def fingerprint_differences(want: dict[str, Any], have: dict[str, Any]) -> list[str]:
    diffs = []
    for key in FINGERPRINT_KEYS:
        if want.get(key) != have.get(key):
            diffs.append(f"{key}: profile has {want.get(key)!r}, this device has {have.get(key)!r}")
    return diffs


def device_slug(fp: dict[str, Any]) -> str:
    base = f"{fp.get('kind', 'local')}-{fp.get('machine', '')}-{fp.get('cpu_model', '')}-{fp.get('cores', '')}c"
    if fp.get("serial"):
        base += f"-{fp['serial']}"
    return re.sub(r"[^a-z0-9]+", "-", base.lower()).strip("-")[:80]


def default_profile_path(model_path: str | Path, fingerprint: dict[str, Any], root: str | Path = "profiles") -> Path:
    stem = Path(model_path).stem if Path(model_path).stem != "model" else Path(model_path).resolve().parent.name
    return Path(root) / re.sub(r"[^A-Za-z0-9_.-]+", "-", stem) / f"{device_slug(fingerprint)}.json"


def make_profile(*, model_path: str, model_sha256: str, fingerprint: dict[str, Any], options: dict[str, Any],
                 algo_cache: Any, winner_stats: dict[str, Any], default_stats: dict[str, Any],
                 speedup: dict[str, Any], fit: dict[str, Any]) -> dict[str, Any]:
    return {
        "schema": PROFILE_SCHEMA,
        "model": {"path": str(model_path), "name": Path(model_path).name, "sha256": model_sha256},
        "device": fingerprint,
        "options": options,
        "algo_cache": algo_cache,
        "stats": {"winner": winner_stats, "default": default_stats, "speedup": speedup},
        "fit": fit,
    }


def load_profile(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise ProfileError(f"{path}: no such profile") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ProfileError(f"{path}: not a profile ({e.__class__.__name__})") from None
    if not isinstance(doc, dict) or doc.get("schema") != PROFILE_SCHEMA:
        got = doc.get("schema") if isinstance(doc, dict) else type(doc).__name__
        raise ProfileError(f"{path}: expected schema {PROFILE_SCHEMA!r}, found {got!r}")
    for key in ("model", "device", "options"):
        if not isinstance(doc.get(key), dict):
            raise ProfileError(f"{path}: missing or malformed {key!r}")
    if not isinstance(doc["model"].get("sha256"), str):
        raise ProfileError(f"{path}: the profile does not name its model's sha256")
    return doc


def check_applies(profile: dict[str, Any], *, model_sha256: str, fingerprint: dict[str, Any],
                  force: bool = False, path: str = "profile") -> list[str]:
    """Return the reasons the profile does not fit; raise unless ``force``."""
    problems = []
    if profile["model"]["sha256"] != model_sha256:
        problems.append(f"model digest: profile is for sha256 {profile['model']['sha256'][:12]}…, "
                        f"this model is {model_sha256[:12]}…")
    problems += fingerprint_differences(profile["device"], fingerprint)
    if problems and not force:
        raise ProfileError(f"{path} does not match ({'; '.join(problems)}); pass --force to apply it anyway")
    return problems
