"""Self-contained HTML reports (one file: inline CSS and SVG, no scripts, fonts or links) for
``loadrun bench --html`` and ``loadrun compare --html``, meant to be published as CI artifacts."""

from __future__ import annotations

from html import escape
from typing import Any, Mapping

import numpy as np

from loadrun.report import table
from loadrun.report.compare import Comparison, Entry
from loadrun.report.svg_plot import PALETTE, Series, distribution_svg

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2937;
       margin: 24px auto; max-width: 1180px; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 2px; }
.meta, .sub { color: #6b7280; font-size: 12.5px; } .sub { margin: 0 0 6px; }
table { border-collapse: collapse; font-size: 12.5px; margin: 10px 0; }
th, td { border-bottom: 1px solid #e5e7eb; padding: 3px 8px; text-align: left; white-space: nowrap; }
th { background: #f9fafb; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.noisy td { background: #fffbeb; }
.badge { border-radius: 9px; padding: 1px 8px; font-size: 12px; font-weight: 600; }
.regression { background: #fee2e2; color: #b91c1c; } .improvement { background: #dcfce7; color: #15803d; }
.unchanged { background: #f3f4f6; color: #4b5563; } .added, .removed { background: #e0e7ff; color: #3730a3; }
.legend { color: #6b7280; font-size: 12px; margin: 2px 0 14px; }
svg.dist text { font: 11.5px system-ui, sans-serif; fill: #374151; }
svg.dist .label { text-anchor: end; font-weight: 600; } svg.dist .note { text-anchor: end; fill: #6b7280; font-size: 10.5px; }
svg.dist .tick { text-anchor: middle; fill: #6b7280; font-size: 10.5px; }
svg.dist .axislabel { text-anchor: middle; fill: #6b7280; }
svg.dist .beyond { fill: #6b7280; font-size: 10px; }
svg.dist .grid { stroke: #f1f5f9; } svg.dist .axis { stroke: #9ca3af; }
svg.dist .dot { opacity: 0.35; } svg.dist .box { fill: #ffffff; fill-opacity: 0.55; stroke-width: 1.6; }
svg.dist .whisker { stroke-width: 1.4; } svg.dist .median { stroke-width: 3; }
"""

LEGEND = ("Each dot is one timed run (up to 300 per row, chosen at random); the box spans the "
          "quartiles, the whiskers the 5th–95th percentiles, the thick line is the median. "
          "Runs slower than the axis are counted at its right end.")
VERDICT_COLOR = {"regression": "#dc2626", "improvement": "#16a34a", "unchanged": "#2563eb",
                 "added": "#4f46e5", "removed": "#6b7280"}
BASE_COLOR = "#9ca3af"


def _page(title: str, body: list[str]) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def _host_line(host: Mapping[str, Any] | None) -> str:
    if not host:
        return ""
    parts = [str(host.get("cpu_model", "")), f"{host.get('cores', '?')} cores",
             str(host.get("os", "")), f"flags {' '.join(host.get('cpu_flags') or []) or '—'}",
             f"loadrun {host.get('loadrun_version', '?')}", f"native {host.get('native_build_id', '?')}"]
    return " · ".join(escape(p) for p in parts if p)


def _html_table(headers: list[str], rows: list[list[str]], numeric: set[str],
                row_classes: list[str] | None = None) -> str:
    out = ["<table><thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in headers) + "</tr></thead><tbody>"]
    for i, row in enumerate(rows):
        cls = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        cells = "".join(f'<td class="num">{c}</td>' if h in numeric else f"<td>{c}</td>"
                        for h, c in zip(headers, row))
        out.append(f"<tr{cls}>{cells}</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def bench_html(doc: Mapping[str, Any]) -> str:
    """The bench report: the table, then per model the latency distribution of each config."""
    results = doc["results"]
    settings = doc.get("settings") or {}
    body = [f"<h1>loadrun bench</h1>",
            f'<p class="meta">{escape(str(doc.get("device", "local")))} · {_host_line(doc.get("host"))}<br>'
            f'{escape(str(doc.get("created", "")))} · {len(results)} results · settings: '
            + escape(", ".join(f"{k} {v}" for k, v in settings.items() if v is not None)) + "</p>"]
    headers = [h for h, _ in table.COLUMNS]
    body.append(_html_table(headers, [[escape(c) for c in row] for row in table.rows(doc)],
                            table.RIGHT_ALIGNED, ["noisy" if r.get("noisy") else "" for r in results]))
    body.append(f'<p class="legend">⚠ marks a noisy measurement. {escape(LEGEND)}</p>')
    by_model: dict[str, list[Mapping[str, Any]]] = {}
    for r in results:
        by_model.setdefault(str(r["model"]), []).append(r)
    for k, (model, rs) in enumerate(by_model.items()):
        first = rs[0]
        flops = first.get("flops")
        body.append(f"<h2>{escape(model)}</h2>")
        body.append(f'<p class="sub">{escape(str(first.get("model_path", "")))} · sha256 '
                    f'{escape(str(first.get("model_sha256", ""))[:12])}'
                    + (f" · {flops / 1e9:.3g} GFLOP per run" if flops else "") + "</p>")
        series = [Series(f"{r.get('config', 'default')}", np.asarray(r["samples_ms"], dtype=np.float64),
                         PALETTE[i % len(PALETTE)],
                         f"{table.ms_cell(r['latency_ms']['median'])} ms"
                         + (f" · {r['speedup']:.2f}×" if r.get("speedup") is not None else ""))
                  for i, r in enumerate(rs)]
        body.append(distribution_svg(series, seed=k))
    return _page("loadrun bench", body)


def compare_html(result: Comparison, base: Mapping[tuple, Entry], new: Mapping[tuple, Entry],
                 base_name: str = "base", new_name: str = "new") -> str:
    """The compare report: the verdicts, then per row the before/after distributions."""
    c = result.counts()
    body = ["<h1>loadrun compare</h1>",
            f'<p class="meta">{escape(base_name)} → {escape(new_name)} · {c["regression"]} regressions, '
            f'{c["improvement"]} improvements, {c["unchanged"]} unchanged, {c["added"]} added, '
            f'{c["removed"]} removed · a change counts when |new/base − 1| &gt; {result.threshold:.1%} '
            f'and the Mann-Whitney p &lt; {result.alpha:g}</p>']
    order = {"regression": 0, "improvement": 1, "added": 2, "removed": 3, "unchanged": 4}
    rows = sorted(result.rows, key=lambda r: (order[r.status], r.model, r.device, r.config))
    headers = ["verdict", "model", "device", "config", "base median ms", "new median ms", "new/base", "p"]
    cells = [[_badge(r.status, r.note), escape(r.model), escape(r.device), escape(r.config),
              table.ms_cell(r.base_ms), table.ms_cell(r.new_ms), table.num_cell(r.ratio, ".3f"),
              table.num_cell(r.p_value, ".2g")] for r in rows]
    body.append(_html_table(headers, cells, {"base median ms", "new median ms", "new/base", "p"}))
    body.append(f'<p class="legend">{escape(LEGEND)}</p>')
    for k, r in enumerate(rows):
        key = (r.model, r.device, r.config)
        ratio = f" · new/base {r.ratio:.3f}" if r.ratio is not None else ""
        p = f" · p = {r.p_value:.2g}" if r.p_value is not None else ""
        body.append(f"<h2>{escape(r.model)} · {escape(r.config)} {_badge(r.status, r.note)}</h2>")
        body.append(f'<p class="sub">{escape(r.device)}{ratio}{p}</p>')
        series = []
        if key in base:
            series.append(Series(base_name, base[key].samples_ms, BASE_COLOR,
                                 f"{table.ms_cell(base[key].median_ms)} ms"))
        if key in new:
            series.append(Series(new_name, new[key].samples_ms, VERDICT_COLOR[r.status],
                                 f"{table.ms_cell(new[key].median_ms)} ms"))
        body.append(distribution_svg(series, seed=k))
    return _page("loadrun compare", body)


def _badge(status: str, note: str = "") -> str:
    text = status + (f" ({note})" if note else "")
    return f'<span class="badge {escape(status)}">{escape(text)}</span>'
