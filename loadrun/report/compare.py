"""`loadrun compare`: the CI regression gate between two bench JSON documents.

A change counts only when it is both statistically significant (two-sided Mann-Whitney U test on
the per-run samples) and larger than the threshold on the ratio of medians. Results are matched on
(model, device, config).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from loadrun.errors import LoadrunError

BENCH_SCHEMA = "loadrun.bench/1"


class CompareInputError(LoadrunError):
    """A bench file that cannot be compared (missing, not JSON, wrong schema)."""


@dataclass
class Entry:
    key: tuple[str, str, str]
    median_ms: float
    samples_ms: np.ndarray


@dataclass
class Row:
    model: str
    device: str
    config: str
    status: str  # regression | improvement | unchanged | added | removed
    base_ms: float | None = None
    new_ms: float | None = None
    ratio: float | None = None
    p_value: float | None = None
    note: str = ""


@dataclass
class Comparison:
    rows: list[Row] = field(default_factory=list)
    threshold: float = 0.05
    alpha: float = 0.01

    @property
    def regressions(self) -> list[Row]:
        return [r for r in self.rows if r.status == "regression"]

    def exit_code(self) -> int:
        return 1 if self.regressions else 0

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in ("regression", "improvement", "unchanged", "added", "removed")}
        for r in self.rows:
            out[r.status] += 1
        return out

    def to_markdown(self) -> str:
        c = self.counts()
        lines = [
            f"**loadrun compare**: {c['regression']} regressions, {c['improvement']} improvements, "
            f"{c['unchanged']} unchanged, {c['added']} added, {c['removed']} removed "
            f"(threshold {self.threshold:.1%}, significance p < {self.alpha:g})",
            "",
            "| status | model | device | config | base median ms | new median ms | new/base | p |",
            "|---|---|---|---|---:|---:|---:|---:|",
        ]
        icon = {"regression": "🔴 regression", "improvement": "🟢 improvement", "unchanged": "⚪ unchanged",
                "added": "➕ added", "removed": "➖ removed"}
        order = {"regression": 0, "improvement": 1, "added": 2, "removed": 3, "unchanged": 4}
        for r in sorted(self.rows, key=lambda r: (order[r.status], r.model, r.device, r.config)):
            lines.append("| {} | {} | {} | {} | {} | {} | {} | {} |".format(
                icon[r.status] + (f" ({r.note})" if r.note else ""), r.model, r.device, r.config,
                _fmt(r.base_ms, ".3f"), _fmt(r.new_ms, ".3f"), _fmt(r.ratio, ".3f"), _fmt(r.p_value, ".2g")))
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        return {"schema": "loadrun.compare/1", "threshold": self.threshold, "alpha": self.alpha,
                "counts": self.counts(), "rows": [r.__dict__ for r in self.rows]}


def _fmt(v: float | None, spec: str) -> str:
    return "" if v is None else format(v, spec)


def mann_whitney_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided p-value of the Mann-Whitney U test (normal approximation, tie-corrected)."""
    n1, n2 = len(a), len(b)
    if n1 == 0 or n2 == 0:
        return 1.0
    both = np.concatenate([a, b])
    order = np.argsort(both, kind="mergesort")
    ranks = np.empty(len(both), dtype=np.float64)
    sorted_vals = both[order]
    i = 0
    tie_term = 0.0
    while i < len(both):
        j = i
        while j + 1 < len(both) and sorted_vals[j + 1] == sorted_vals[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1.0
        t = j - i + 1
        tie_term += t ** 3 - t
        i = j + 1
    u1 = ranks[:n1].sum() - n1 * (n1 + 1) / 2.0
    n = n1 + n2
    mu = n1 * n2 / 2.0
    var = n1 * n2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1))) if n > 1 else 0.0
    if var <= 0:
        return 1.0
    z = (abs(u1 - mu) - 0.5) / math.sqrt(var)
    return float(math.erfc(max(z, 0.0) / math.sqrt(2.0)))


def load_bench(path: str | Path) -> dict[tuple[str, str, str], Entry]:
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise CompareInputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CompareInputError(f"{path}: not a bench JSON file ({e.__class__.__name__}: {e})") from None
    if not isinstance(doc, dict) or doc.get("schema") != BENCH_SCHEMA:
        got = doc.get("schema") if isinstance(doc, dict) else type(doc).__name__
        raise CompareInputError(f"{path}: expected schema {BENCH_SCHEMA!r}, found {got!r} "
                                "(write it with `loadrun bench --format json`)")
    results = doc.get("results")
    if not isinstance(results, list):
        raise CompareInputError(f"{path}: 'results' must be a list")
    entries: dict[tuple[str, str, str], Entry] = {}
    for k, r in enumerate(results):
        try:
            key = (str(r["model"]), str(r.get("device", "local")), str(r.get("config", "default")))
            samples = np.asarray(r["samples_ms"], dtype=np.float64)
            median = float(r["latency_ms"]["median"])
        except (KeyError, TypeError, ValueError) as e:
            raise CompareInputError(f"{path}: result {k} is malformed ({e.__class__.__name__}: {e})") from None
        if samples.ndim != 1 or samples.size == 0 or not np.all(np.isfinite(samples)) or not median > 0:
            raise CompareInputError(f"{path}: result {k} ({key[0]}) has no valid samples")
        if key in entries:
            raise CompareInputError(f"{path}: result {k} repeats model/device/config {key}")
        entries[key] = Entry(key, median, samples)
    return entries


def compare(base: dict[tuple[str, str, str], Entry], new: dict[tuple[str, str, str], Entry],
            threshold: float = 0.05, alpha: float = 0.01) -> Comparison:
    out = Comparison(threshold=threshold, alpha=alpha)
    for key in sorted(set(base) | set(new)):
        model, device, config = key
        if key not in new:
            out.rows.append(Row(model, device, config, "removed", base_ms=base[key].median_ms))
            continue
        if key not in base:
            out.rows.append(Row(model, device, config, "added", new_ms=new[key].median_ms))
            continue
        b, n = base[key], new[key]
        ratio = n.median_ms / b.median_ms
        p = mann_whitney_p(b.samples_ms, n.samples_ms)
        status, note = "unchanged", ""
        if abs(ratio - 1.0) > threshold:
            if p < alpha:
                status = "regression" if ratio > 1 else "improvement"
            else:
                note = "not significant"
        elif p < alpha:
            note = "below threshold"
        out.rows.append(Row(model, device, config, status, b.median_ms, n.median_ms, ratio, p, note))
    return out


def parse_threshold(text: str) -> float:
    """'5%' or '0.05' -> 0.05."""
    t = text.strip()
    try:
        value = float(t[:-1]) / 100.0 if t.endswith("%") else float(t)
    except ValueError:
        raise CompareInputError(f"threshold {text!r} is not a number or percentage (e.g. 5%)") from None
    if not 0 <= value < 10:
        raise CompareInputError(f"threshold {text!r} is out of range")
    return value
