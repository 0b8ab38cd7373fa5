"""Compiled variants of one model: compile options (layout, JIT level) reshape the graph on the
host, so each combination is a different compiled model. Each is compiled once per fit and
identified by the sha256 of its bytes (targets cache pushed files by it)."""

from __future__ import annotations

import hashlib
import inspect
from typing import Any

from loadrun.compile import compile_graph
from loadrun.ir.graph import Graph
from loadrun.options import COMPILE_OPTIONS, Options


class CompiledVariants:
    def __init__(self, graph: Graph):
        self.graph = graph
        self._by_options: dict[tuple, bytes] = {}
        self._digests: dict[tuple, str] = {}
        self.compile_count = 0

    def _kwargs(self, options: Options) -> dict[str, Any]:
        """Non-default compile options only, so a compiler that does not know an option yet
        still compiles the default configuration."""
        base = Options()
        kw = {k: getattr(options, k) for k in COMPILE_OPTIONS if getattr(options, k) != getattr(base, k)}
        if kw:
            accepted = inspect.signature(compile_graph).parameters
            missing = [k for k in kw if k not in accepted]
            if missing:
                from loadrun.targets.base import TrialFailed

                raise TrialFailed(f"compile_graph does not take {', '.join(missing)} yet")
        return kw

    def get(self, options: Options) -> bytes:
        kw = self._kwargs(options)
        key = tuple(sorted(kw.items()))
        if key not in self._by_options:
            data = compile_graph(self.graph, **kw)
            self._by_options[key] = data
            self._digests[key] = hashlib.sha256(data).hexdigest()
            self.compile_count += 1
        return self._by_options[key]

    def digest(self, options: Options) -> str:
        self.get(options)
        return self._digests[tuple(sorted(self._kwargs(options).items()))]
