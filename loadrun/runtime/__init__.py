"""The native runtime, seen from Python."""

from loadrun.runtime.native import (AlgoCacheWarning, RunOptions, Runtime, TensorInfo, build_id, runner_path,
                                    supported_layouts, version)

__all__ = ["AlgoCacheWarning", "Runtime", "RunOptions", "TensorInfo", "build_id", "runner_path", "supported_layouts", "version"]
