"""Latency distributions as inline SVG: one horizontal box-and-strip row per series, shared axis.

Plain strings, no plotting library: the HTML report must be one self-contained file. The box
spans the quartiles, the whiskers the 5th to 95th percentiles, the thick line is the median and
each dot is one run (a seeded random subset when there are many). A few very slow runs would
squash everything else, so the axis stops near the slowest series' 99th percentile and runs
beyond it are counted at the right edge; when the runs still span a wide range the axis is
logarithmic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

import numpy as np

MAX_DOTS = 300  # per series: enough to show the shape, small enough to keep the file light
LABEL_WIDTH = 190
ROW_HEIGHT = 34
AXIS_HEIGHT = 34
RIGHT_MARGIN = 76
LOG_SCALE_SPAN = 4.0
PALETTE = ("#2563eb", "#d97706", "#059669", "#7c3aed", "#db2777", "#0891b2", "#65a30d", "#dc2626")


@dataclass(frozen=True)
class Series:
    label: str
    samples_ms: np.ndarray
    color: str
    note: str = ""  # a second, smaller label line (e.g. the median)


def nice_ticks(lo: float, hi: float, target: int = 6) -> list[float]:
    """Round tick values (1, 2, 5 x 10^k steps) covering [lo, hi]."""
    span = hi - lo
    if not span > 0:
        return [lo]
    raw = span / max(target - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    ticks = []
    t = first
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 12))
        t += step
    return ticks


def _tick_label(v: float, ticks: list[float]) -> str:
    """As many decimals as the tick step needs (0.25 -> 2, 5 -> 0)."""
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    decimals = 0
    while decimals < 6 and abs(round(step, decimals) - step) > step * 1e-6:
        decimals += 1
    return f"{v:.{decimals}f}"


def axis_range(series: list[Series]) -> tuple[float, float]:
    """From the fastest run to the slowest, but no further than 15% past the largest 99th
    percentile: a handful of very slow runs must not squash everything else."""
    lo = min(float(np.min(s.samples_ms)) for s in series)
    top = max(float(np.max(s.samples_ms)) for s in series)
    p99 = max(float(np.percentile(s.samples_ms, 99)) for s in series)
    return lo, min(top, p99 * 1.15)


def log_ticks(lo: float, hi: float) -> list[float]:
    """1, 2, 5 x 10^k values within [lo, hi] (at least the two ends when there are fewer)."""
    ticks = [m * 10.0 ** e for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
             for m in (1, 2, 5) if lo <= m * 10.0 ** e <= hi]
    return ticks if len(ticks) >= 2 else [lo, hi]


def distribution_svg(series: list[Series], *, width: int = 960, axis_label: str = "latency per run (ms)",
                     seed: int = 0) -> str:
    """An inline ``<svg>`` element (no namespace URL: inline SVG in HTML5 does not need one).

    The axis is logarithmic when the runs span more than a factor LOG_SCALE_SPAN (a slow tail
    or very different configs): equal ratios then look equally far apart."""
    if not series:
        return ""
    lo, hi = axis_range(series)
    log = lo > 0 and hi / lo > LOG_SCALE_SPAN
    plot_w = width - LABEL_WIDTH - RIGHT_MARGIN
    height = ROW_HEIGHT * len(series) + AXIS_HEIGHT + 8
    if log:
        lo, hi = lo / 1.05, hi * 1.05
        scale_lo, scale_hi = math.log(lo), math.log(hi)
    else:
        pad = (hi - lo) * 0.04 if hi > lo else abs(lo) * 0.05 or 1e-3
        lo, hi = max(0.0, lo - pad), hi + pad
        scale_lo, scale_hi = lo, hi

    def x(v: float) -> float:
        v = min(max(v, lo), hi)
        return LABEL_WIDTH + ((math.log(v) if log else v) - scale_lo) / (scale_hi - scale_lo) * plot_w

    out = [f'<svg class="dist" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
           f'role="img" aria-label="{escape(axis_label)}">']
    ticks = log_ticks(lo, hi) if log else nice_ticks(lo, hi)
    if log:
        axis_label += ", log scale"
    axis_y = ROW_HEIGHT * len(series) + 6
    for t in ticks:
        tx = x(t)
        out.append(f'<line x1="{tx:.1f}" y1="4" x2="{tx:.1f}" y2="{axis_y}" class="grid"/>')
        label = f"{t:.3g}" if log else _tick_label(t, ticks)
        out.append(f'<text x="{tx:.1f}" y="{axis_y + 14}" class="tick">{label}</text>')
    out.append(f'<line x1="{LABEL_WIDTH}" y1="{axis_y}" x2="{LABEL_WIDTH + plot_w}" y2="{axis_y}" class="axis"/>')
    out.append(f'<text x="{LABEL_WIDTH + plot_w / 2:.1f}" y="{axis_y + 28}" class="axislabel">'
               f'{escape(axis_label)}</text>')
    rng = np.random.default_rng(seed)
    for i, s in enumerate(series):
        out.append(_row(s, i, x, hi, rng, plot_w))
    out.append("</svg>")
    return "\n".join(out)


def _row(s: Series, i: int, x, hi: float, rng: np.random.Generator, plot_w: float) -> str:
    cy = ROW_HEIGHT * i + ROW_HEIGHT / 2 + 4
    data = np.asarray(s.samples_ms, dtype=np.float64)
    p5, q1, med, q3, p95 = np.percentile(data, [5, 25, 50, 75, 95])
    tip = (f"{s.label}: median {med:.4g} ms, quartiles {q1:.4g}–{q3:.4g} ms, "
           f"5–95% {p5:.4g}–{p95:.4g} ms, {data.size} runs")
    parts = [f'<g class="series"><title>{escape(tip)}</title>']
    label_y = cy - 2 if s.note else cy + 4
    parts.append(f'<text x="{LABEL_WIDTH - 10}" y="{label_y:.1f}" class="label">{escape(s.label)}</text>')
    if s.note:
        parts.append(f'<text x="{LABEL_WIDTH - 10}" y="{cy + 11:.1f}" class="note">{escape(s.note)}</text>')
    dots = data if data.size <= MAX_DOTS else rng.choice(data, MAX_DOTS, replace=False)
    jitter = rng.uniform(-ROW_HEIGHT * 0.28, ROW_HEIGHT * 0.28, dots.size)
    inside = dots <= hi
    for v, j in zip(dots[inside], jitter[inside]):
        parts.append(f'<circle cx="{x(v):.1f}" cy="{cy + j:.1f}" r="1.8" fill="{s.color}" class="dot"/>')
    h = ROW_HEIGHT * 0.5
    parts.append(f'<line x1="{x(p5):.1f}" y1="{cy:.1f}" x2="{x(p95):.1f}" y2="{cy:.1f}" '
                 f'stroke="{s.color}" class="whisker"/>')
    for w in (p5, p95):
        parts.append(f'<line x1="{x(w):.1f}" y1="{cy - h / 3:.1f}" x2="{x(w):.1f}" y2="{cy + h / 3:.1f}" '
                     f'stroke="{s.color}" class="whisker"/>')
    parts.append(f'<rect x="{x(q1):.1f}" y="{cy - h / 2:.1f}" width="{max(x(q3) - x(q1), 1.0):.1f}" '
                 f'height="{h:.1f}" stroke="{s.color}" class="box"/>')
    parts.append(f'<line x1="{x(med):.1f}" y1="{cy - h / 2 - 3:.1f}" x2="{x(med):.1f}" '
                 f'y2="{cy + h / 2 + 3:.1f}" stroke="{s.color}" class="median"/>')
    beyond = int(np.sum(data > hi))
    if beyond:
        edge = LABEL_WIDTH + plot_w
        parts.append(f'<path d="M{edge + 2:.1f},{cy - 5:.1f} l7,5 l-7,5 z" fill="{s.color}"/>')
        parts.append(f'<text x="{edge + 12:.1f}" y="{cy + 4:.1f}" class="beyond">{beyond} slower</text>')
    parts.append("</g>")
    return "\n".join(parts)
