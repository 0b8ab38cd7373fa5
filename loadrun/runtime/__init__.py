"""The native runtime, seen from Python."""

from loadrun.runtime.native import RunOptions, Runtime, TensorInfo, build_id, runner_path, version

__all__ = ["Runtime", "RunOptions", "TensorInfo", "build_id", "runner_path", "version"]
