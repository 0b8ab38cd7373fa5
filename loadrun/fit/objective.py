"""What a fit minimises: steady-state latency, time to the first result, peak memory, or a
stated weighted mix of the three, each relative to the default configuration."""

from __future__ import annotations

from dataclasses import dataclass

from loadrun.errors import OptionError

KINDS = ("latency", "first-run", "memory", "mix")


@dataclass(frozen=True)
class Costs:
    """The three costs of one configuration (one trial or one confirmation round)."""

    latency_ns: float  # median per-run latency
    first_ns: float  # load + first run: the time until the first result
    memory_bytes: float  # peak resident memory of the process

    def to_dict(self) -> dict:
        return {"latency_ms": self.latency_ns / 1e6, "first_result_ms": self.first_ns / 1e6,
                "peak_rss_mb": self.memory_bytes / (1 << 20)}


@dataclass(frozen=True)
class Objective:
    kind: str = "latency"
    weights: tuple[float, float, float] = (1.0, 0.0, 0.0)  # latency, first-run, memory

    @property
    def unit(self) -> str:
        return {"latency": "ms", "first-run": "ms", "memory": "MiB"}.get(self.kind, "× default")

    def score(self, costs: Costs, baseline: Costs | None) -> float:
        """Lower is better. Single objectives are in their own unit (ms, MiB); a mix is the
        weighted sum of each cost divided by the default configuration's."""
        if self.kind == "latency":
            return costs.latency_ns / 1e6
        if self.kind == "first-run":
            return costs.first_ns / 1e6
        if self.kind == "memory":
            return costs.memory_bytes / (1 << 20)
        if baseline is None:
            raise ValueError("a mixed objective needs the default configuration's costs")
        w1, w2, w3 = self.weights
        return (w1 * costs.latency_ns / max(baseline.latency_ns, 1.0)
                + w2 * costs.first_ns / max(baseline.first_ns, 1.0)
                + w3 * costs.memory_bytes / max(baseline.memory_bytes, 1.0))

    def describe(self) -> str:
        if self.kind != "mix":
            return {"latency": "median latency per run",
                    "first-run": "load + first run (time to the first result)",
                    "memory": "peak resident memory"}[self.kind]
        w1, w2, w3 = self.weights
        return (f"{w1:g}·latency/default + {w2:g}·(load+first run)/default + "
                f"{w3:g}·peak memory/default")

    def to_dict(self) -> dict:
        return {"kind": self.kind, "weights": list(self.weights), "description": self.describe()}


def parse_objective(text: str) -> Objective:
    """``latency`` | ``first-run`` | ``memory`` | ``mix:W1,W2,W3``."""
    t = text.strip().lower()
    if t in ("latency", "first-run", "memory"):
        return Objective(t, {"latency": (1.0, 0.0, 0.0), "first-run": (0.0, 1.0, 0.0),
                             "memory": (0.0, 0.0, 1.0)}[t])
    if t.startswith("mix:"):
        try:
            weights = tuple(float(w) for w in t[4:].split(","))
        except ValueError:
            weights = ()
        if len(weights) != 3 or any(w < 0 or w != w for w in weights) or not sum(weights) > 0:
            raise OptionError(f"--objective {text!r}: mix needs three non-negative weights "
                              "(latency, first-run, memory), e.g. mix:1,0.2,0.1")
        return Objective("mix", weights)  # type: ignore[arg-type]
    raise OptionError(f"--objective {text!r}: choose latency, first-run, memory or mix:W1,W2,W3")
