"""The qemu target: the cross-built ARM runner on this machine under user-mode qemu.

``--device qemu`` (or ``qemu:linux-aarch64``, ``qemu:android-armv7``) runs exactly the binary a
phone would get (loadrun/build.py, NEON kernels included) through ``qemu-aarch64-static``, so
the ARM build's outputs can be checked without a phone. Emulated timings say nothing about a real
CPU: use this target for correctness, never for speed.
"""

from __future__ import annotations

import platform
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from loadrun import __version__
from loadrun.build import BuildError, build_runner, find_qemu, get_target
from loadrun.targets.local import LocalTarget, runner_flags


def qemu_missing_message(qemu: str) -> str:
    return (f"{qemu} is not installed: apt-get install qemu-user-static "
            "(Debian/Ubuntu; the ARM runner runs under user-mode qemu)")


class QemuTarget(LocalTarget):
    """A LocalTarget whose runner is the cross-built ARM binary, started through qemu."""

    def __init__(self, build_target: str = "linux-aarch64", timeout_s: float = 900.0, log=None):
        target = get_target(build_target)
        qemu = find_qemu(target)
        if qemu is None:
            raise BuildError(qemu_missing_message(target.qemu))
        built = build_runner(build_target, log=log)
        self.qemu = qemu
        self.build = built
        self.name = f"qemu:{build_target}"
        usage = subprocess.run([qemu, str(built.path), "--help"], capture_output=True, text=True,
                               timeout=120).stderr
        # LocalTarget's fields, set here: its own __init__ would start the runner without qemu
        self.runner = built.path
        self.timeout_s = timeout_s
        self.flags = runner_flags(usage)
        self._dir = Path(tempfile.mkdtemp(prefix="loadrun-qemu-"))
        self._models = {}
        self._fingerprint = None
        self._arch = target.arch

    def fingerprint(self) -> dict[str, Any]:
        if self._fingerprint is None:
            self._fingerprint = {
                "kind": "qemu",
                "machine": self._arch,
                "cpu_model": f"qemu user-mode ({Path(self.qemu).name}) on {platform.machine()}",
                "cpu_flags": ["asimd"] if self._arch == "aarch64" else ["neon"],
                "cores": 1,
                "os": f"{platform.system()} {platform.release()} (emulated)",
                "loadrun_version": __version__,
                "native_build_id": f"{self.build.target} {self.build.digest[:16]}",
            }
        return self._fingerprint

    def option_space_hints(self) -> dict[str, Any]:
        hints = super().option_space_hints()
        from loadrun.targets.adb import arm_layouts

        hints["layouts"] = arm_layouts(self._arch)
        hints["emulated"] = True  # timings are meaningless; the fit should keep budgets tiny
        return hints

    def _spawn(self, args: list[str], work: Path):
        return super()._spawn([self.qemu, *args], work)


def open_target(arg: str | None = None, **kwargs: Any) -> QemuTarget:
    name = arg or "linux-aarch64"
    if name in ("aarch64", "arm64"):
        name = "linux-aarch64"
    elif name in ("armv7", "arm"):
        name = "android-armv7"
    return QemuTarget(name, **kwargs)
