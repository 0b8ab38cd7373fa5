"""Fits on several adb devices at once (``--device adb:all`` or ``adb:S1,S2``), and the fit
settings an emulated device gets.

Each device gets its own fit (own study, own profile named after its serial) in its own thread;
the phones work in parallel while the host only waits on adb. Afterwards one line per device says
whether its timings can be trusted: a device whose governor can be set (root) or already is
``performance`` measures at fixed frequencies; the others measure under a moving governor.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any, Callable

from loadrun.errors import LoadrunError


def is_fleet(device: str) -> bool:
    kind, _, arg = device.partition(":")
    return kind == "adb" and (arg == "all" or "," in arg)


def emulated_fit_settings(settings, hints: dict[str, Any]):
    """On an emulated device (qemu, an Android emulator) timings mean nothing: one timed run per
    trial, one finalist, two confirmation rounds, so the fit proves the pipeline, not a speed."""
    if not hints.get("emulated"):
        return settings
    from loadrun.fit.evaluate import MeasurePlan

    tiny = MeasurePlan(warmup=0, iters=1, min_time_s=0.0, chunks=1)
    return dataclasses.replace(settings, plan=tiny, confirm_plan=tiny, rounds=2, finalists=1)


def device_trust(serial: str) -> dict[str, Any]:
    from loadrun.targets.adb import _PROBE, Adb, parse_probe

    info = parse_probe(serial, Adb(serial).shell(_PROBE, what="probe the device", check=False).stdout)
    govs = info.governors()
    pinned = govs == ["performance"]
    return {"serial": serial, "governor_settable": info.root, "governors": govs,
            "trustworthy": pinned or info.root,
            "reason": ("governor is performance" if pinned else
                       "root: the governor can be pinned to performance" if info.root else
                       f"governor {'/'.join(govs) or 'unknown'}, no root: frequencies move under the fit; "
                       "trust only the interleaved confirmation")}


def run_fit_fleet(device: str, run_one: Callable[[str], int], say: Callable[[str], None],
                  storage: str | None = None) -> int:
    """``run_one("adb:SERIAL")`` for every device ``device`` names, in parallel; the worst exit
    code wins. A device that fails does not stop the others."""
    from loadrun.targets.adb import resolve_serials

    if storage:  # one shared database: create its tables once, before the threads race to
        import optuna

        optuna.storages.RDBStorage(storage)

    serials = resolve_serials(device.partition(":")[2])
    codes: dict[str, int] = {}
    errors: dict[str, str] = {}

    def work(serial: str) -> None:
        try:
            codes[serial] = run_one(f"adb:{serial}")
        except LoadrunError as e:
            codes[serial], errors[serial] = e.exit_code, str(e)
        except Exception as e:  # a thread must not die silently: report it with the device
            codes[serial], errors[serial] = 1, f"{type(e).__name__}: {e}"

    threads = [threading.Thread(target=work, args=(s,), name=f"fit-{s}") for s in serials]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in serials:
        if s in errors:
            say(f"{s}: fit failed: {errors[s]}")
            continue
        try:
            t = device_trust(s)
            verdict = "trustworthy" if t["trustworthy"] else "indicative only"
            say(f"{s}: fit {'done' if codes[s] == 0 else f'exit {codes[s]}'}; timings {verdict} ({t['reason']})")
        except LoadrunError as e:
            say(f"{s}: fit exit {codes[s]}; device no longer answers ({e})")
    return max(codes.values(), default=0)
