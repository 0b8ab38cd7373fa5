"""``--report fit.html``: one self-contained HTML file with inline SVG — the optimisation
history, the options' importance and the latency distributions of the finalists."""

from __future__ import annotations

import math
from html import escape

import numpy as np

from loadrun.fit.fit import FitResult
from loadrun.report.svg_plot import PALETTE, Series, distribution_svg

_CSS = ("body{font:14px system-ui,sans-serif;margin:24px;color:#111}table{border-collapse:collapse}"
        "td,th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:left}h2{margin-top:28px}")


def history_svg(r: FitResult, width: int = 900, height: int = 260) -> str:
    pts = [(t.number, t.value, t.state) for t in r.trials if t.value is not None and math.isfinite(t.value)]
    if not pts:
        return "<p>no finished trials</p>"
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    x0, x1 = min(xs), max(max(xs), min(xs) + 1)
    y0, y1 = min(ys), max(ys)
    y1 = y1 if y1 > y0 else y0 + 1
    pad = 44

    def X(v: float) -> float:
        return pad + (v - x0) / (x1 - x0) * (width - 2 * pad)

    def Y(v: float) -> float:
        return height - pad - (v - y0) / (y1 - y0) * (height - 2 * pad)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">',
             f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#999"/>',
             f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="#999"/>',
             f'<text x="{pad}" y="{pad - 8}" font-size="11">{y1:.4g}</text>',
             f'<text x="{pad}" y="{height - pad + 14}" font-size="11">{y0:.4g} · trial →</text>']
    best, line = math.inf, []
    for n, v, state in sorted(pts):
        color = {"complete": PALETTE[0], "pruned": "#aaa", "duplicate": "#ccc"}.get(state, "#dc2626")
        parts.append(f'<circle cx="{X(n):.1f}" cy="{Y(v):.1f}" r="3.5" fill="{color}">'
                     f'<title>trial {n}: {v:.4g} ({state})</title></circle>')
        if state == "complete" and v < best:
            best = v
        if math.isfinite(best):
            line.append(f"{X(n):.1f},{Y(best):.1f}")
    if line:
        parts.append(f'<polyline points="{" ".join(line)}" fill="none" stroke="{PALETTE[1]}" stroke-width="2"/>')
    parts.append("</svg>")
    return "".join(parts)


def importance_svg(imp: dict[str, float], width: int = 600) -> str:
    if not imp:
        return "<p>not enough finished trials to estimate importance</p>"
    row = 24
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{row * len(imp) + 8}">']
    for i, (name, v) in enumerate(imp.items()):
        w = max(1.0, v * (width - 220))
        parts.append(f'<text x="0" y="{i * row + 16}" font-size="12">{escape(name)}</text>'
                     f'<rect x="150" y="{i * row + 4}" width="{w:.1f}" height="16" fill="{PALETTE[0]}"/>'
                     f'<text x="{155 + w:.1f}" y="{i * row + 16}" font-size="12">{v:.2f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def fit_html(r: FitResult) -> str:
    body = [f"<h1>loadrun fit — {escape(r.model.name)}</h1>",
            f"<p>{escape(r.strategy)}: {escape(r.strategy_reason)}<br>objective: "
            f"{escape(r.objective.describe())}; study {escape(r.study_name)}; search {r.search_wall_s:.1f} s, "
            f"total {r.wall_s:.1f} s</p>"]
    if r.decision is not None:
        body.append(f"<p><b>{escape(r.decision.verdict)}</b></p>")
    body += ["<h2>Optimisation history</h2>", history_svg(r),
             f"<h2>Option importance ({escape(r.importance_method)})</h2>", importance_svg(r.importance)]
    if r.decision is not None:
        series = [Series(f.label[:40], np.asarray(f.pooled_ns, dtype=np.float64) / 1e6, PALETTE[i % len(PALETTE)],
                         f"median {np.median(f.pooled_ns) / 1e6:.3f} ms")
                  for i, f in enumerate(r.decision.finalists) if f.samples_ns]
        if series:
            body += ["<h2>Latency of the finalists (interleaved rounds)</h2>", distribution_svg(series)]
    rows = "".join(f"<tr><td>{t.number}</td><td>{escape(t.label)}</td><td>{t.state}</td>"
                   f"<td>{'' if t.value is None else f'{t.value:.4g}'}</td><td>{escape(t.error or '')}</td></tr>"
                   for t in r.trials)
    body.append("<h2>Trials</h2><table><tr><th>#</th><th>configuration</th><th>state</th><th>score</th>"
                f"<th>error</th></tr>{rows}</table>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>loadrun fit {escape(r.model.name)}"
            f"</title><style>{_CSS}</style></head><body>{''.join(body)}</body></html>")
