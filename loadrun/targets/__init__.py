"""Where a model runs: local (this machine), adb, qemu, ... behind one protocol (base.py)."""

from loadrun.targets.base import Target, TargetUnavailable, TrialFailed, TrialResult

__all__ = ["Target", "TargetUnavailable", "TrialFailed", "TrialResult", "open_target"]


def open_target(spec: str = "local") -> Target:
    """A target by its spec: "local" (default); "adb[:SERIAL]" and "qemu[:ARCH]" when present."""
    kind, _, arg = spec.partition(":")
    if kind == "local":
        from loadrun.targets.local import LocalTarget

        return LocalTarget()
    if kind == "adb":
        from loadrun.targets import adb  # written by the ARM engineer against base.Target

        return adb.open_target(arg or None)  # type: ignore[attr-defined]
    if kind == "qemu":
        from loadrun.targets import qemu

        return qemu.open_target(arg or None)  # type: ignore[attr-defined]
    from loadrun.errors import OptionError

    raise OptionError(f"--device {spec!r}: choose local, adb[:SERIAL] or qemu[:ARCH]")
