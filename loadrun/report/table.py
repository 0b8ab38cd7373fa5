"""The bench table: one row per (model, configuration), as markdown, CSV or a rich table.

Every format renders a bench document (``loadrun.bench/1``), fresh or read back from JSON.
"""

from __future__ import annotations

import csv
import io
from typing import Any, Callable, Mapping

from rich.table import Table

# (header, cell) per column; the cell renders one result for people.
Column = tuple[str, Callable[[Mapping[str, Any]], str]]


def num_cell(value: Any, spec: str, missing: str = "—") -> str:
    return missing if value is None else format(value, spec)


def ms_cell(value: Any) -> str:
    """Milliseconds with 3-4 significant digits, in one unit so a column compares at a glance."""
    if value is None:
        return "—"
    if value >= 100:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.3f}"
    return f"{value:.4f}"


def _median(r: Mapping[str, Any]) -> str:
    return ms_cell(r["latency_ms"]["median"]) + (" ⚠" if r.get("noisy") else "")


def _ci(r: Mapping[str, Any]) -> str:
    lat = r["latency_ms"]
    if lat.get("ci95_low") is None or lat.get("ci95_high") is None:
        return "—"
    return f"{ms_cell(lat['ci95_low'])} – {ms_cell(lat['ci95_high'])}"


def _speedup(r: Mapping[str, Any]) -> str:
    return num_cell(r.get("speedup"), ".2f") + ("×" if r.get("speedup") is not None else "")


COLUMNS: list[Column] = [
    ("model", lambda r: str(r["model"])),
    ("device", lambda r: str(r.get("device", "local"))),
    ("config", lambda r: str(r.get("config", "default"))),
    ("options", lambda r: str(r.get("options", ""))),
    ("median ms", _median),
    ("p90 ms", lambda r: ms_cell(r["latency_ms"].get("p90"))),
    ("95% CI ms", _ci),
    ("load ms", lambda r: ms_cell(r.get("load_ms"))),
    ("first run ms", lambda r: ms_cell(r.get("first_run_ms"))),
    ("peak MB", lambda r: num_cell(r.get("peak_rss_mb"), ".1f")),
    ("GFLOP/s", lambda r: num_cell(r.get("gflops"), ".2f")),
    ("speed-up", _speedup),
]
RIGHT_ALIGNED = {"median ms", "p90 ms", "95% CI ms", "load ms", "first run ms", "peak MB",
                 "GFLOP/s", "speed-up"}

# Spreadsheet columns: raw numbers, no units in cells (units are in the names).
CSV_FIELDS: list[tuple[str, Callable[[Mapping[str, Any]], Any]]] = [
    ("model", lambda r: r["model"]),
    ("device", lambda r: r.get("device", "local")),
    ("config", lambda r: r.get("config", "default")),
    ("options", lambda r: r.get("options", "")),
    ("threads", lambda r: r.get("threads")),
    ("median_ms", lambda r: r["latency_ms"]["median"]),
    ("p90_ms", lambda r: r["latency_ms"].get("p90")),
    ("p99_ms", lambda r: r["latency_ms"].get("p99")),
    ("ci95_low_ms", lambda r: r["latency_ms"].get("ci95_low")),
    ("ci95_high_ms", lambda r: r["latency_ms"].get("ci95_high")),
    ("min_ms", lambda r: r["latency_ms"].get("min")),
    ("max_ms", lambda r: r["latency_ms"].get("max")),
    ("cv", lambda r: r["latency_ms"].get("cv")),
    ("n", lambda r: r["latency_ms"].get("n", len(r.get("samples_ms", [])))),
    ("noisy", lambda r: r.get("noisy")),
    ("load_ms", lambda r: r.get("load_ms")),
    ("first_run_ms", lambda r: r.get("first_run_ms")),
    ("peak_rss_mb", lambda r: r.get("peak_rss_mb")),
    ("flops", lambda r: r.get("flops")),
    ("gflops", lambda r: r.get("gflops")),
    ("speedup", lambda r: r.get("speedup")),
    ("model_path", lambda r: r.get("model_path")),
    ("model_sha256", lambda r: r.get("model_sha256")),
]


def rows(doc: Mapping[str, Any]) -> list[list[str]]:
    return [[cell(r) for _, cell in COLUMNS] for r in doc["results"]]


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def to_markdown(doc: Mapping[str, Any]) -> str:
    """A GitHub-flavoured markdown table (fits a CI job summary), a title line above it and
    notes below it."""
    header = [h for h, _ in COLUMNS]
    align = ["---:" if h in RIGHT_ALIGNED else "---" for h in header]
    lines = [f"**loadrun bench** on `{doc.get('device', 'local')}` "
             f"({len(doc['results'])} results, {doc.get('created', 'unknown time')})", "",
             "| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows(doc)]
    notes = _notes(doc)
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def _notes(doc: Mapping[str, Any]) -> list[str]:
    notes = []
    if any(r.get("noisy") for r in doc["results"]):
        notes.append("⚠ noisy: the measurement's spread or the median's CI is too wide to trust "
                     "(see `noise_reason` in the JSON)")
    if any(r.get("gflops") is None for r in doc["results"]):
        notes.append("GFLOP/s — : the model has no counted FLOPs (only conv, deconv and matmul "
                     "are counted)")
    return notes


def to_csv(doc: Mapping[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([name for name, _ in CSV_FIELDS])
    for r in doc["results"]:
        writer.writerow(["" if (v := get(r)) is None else v for _, get in CSV_FIELDS])
    return out.getvalue()


def to_rich(doc: Mapping[str, Any]) -> Table:
    table = Table(title=f"loadrun bench on {doc.get('device', 'local')}", title_justify="left")
    for header, _ in COLUMNS:
        table.add_column(header, justify="right" if header in RIGHT_ALIGNED else "left",
                         no_wrap=header != "options")
    for r, row in zip(doc["results"], rows(doc)):
        table.add_row(*row, style="yellow" if r.get("noisy") else None)
    return table
