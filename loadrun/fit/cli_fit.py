"""The CLI side of ``--fit``: builds the settings, draws live progress with rich, prints the
table of the top configurations and the verdict. Kept out of loadrun/cli.py, which only parses."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from loadrun.fit.fit import FitProgress, FitResult, FitSettings, fit_model
from loadrun.fit.objective import parse_objective
from loadrun.fit.space import build_space
from loadrun.targets import open_target

EXIT_INTERRUPTED = 130


class _LiveProgress:
    def __init__(self, console: Console):
        self.console = console
        self.live = Live(Text(""), console=console, transient=True, refresh_per_second=4) \
            if console.is_terminal else None

    def __enter__(self):
        if self.live:
            self.live.start()
        return self

    def __exit__(self, *exc):
        if self.live:
            self.live.stop()

    def __call__(self, p: FitProgress) -> None:
        if p.phase == "search":
            total = f"{p.total}" if p.total else "?"
            best = f"best {p.best} ({p.best_value:.4g})" if p.best_value is not None else "best: -"
            line = f"trial {p.done + 1} of {total} · {best} · now {p.current}"
        elif p.phase == "confirm":
            line = f"confirming (interleaved) {p.done}/{p.total} · {p.current}"
        else:
            return
        if self.live:
            self.live.update(Text(line))
        else:
            self.console.print(line, markup=False, highlight=False)


def run_fit(model: Path | None, *, inputs: Sequence[str], decrypt: str | None, trials: int | None,
            time_budget: float | None, strategy: str, objective: str, fix: Sequence[str],
            space: Sequence[str], seed: int, storage: str | None, profile_out: Path | None,
            report_html: Path | None, device: str) -> int:
    settings = FitSettings(trials=trials, time_budget_s=time_budget, strategy=strategy, seed=seed,
                           objective=parse_objective(objective), fix=tuple(fix), space=tuple(space),
                           storage=storage, profile_out=profile_out, inputs=tuple(inputs), decrypt=decrypt)
    stderr = Console(stderr=True, highlight=False)
    target = open_target(device)
    from loadrun.targets.fleet import emulated_fit_settings  # qemu/emulator: tiny plans (ARM engineer)

    settings = emulated_fit_settings(settings, target.option_space_hints())
    try:
        build_space(target.option_space_hints(), settings.fix, settings.space)  # usage errors first
        with _LiveProgress(stderr) as progress:
            result = fit_model(model, target, settings, progress)
    finally:
        target.close()
    render_fit(result, Console(highlight=False))
    if report_html is not None:
        from loadrun.fit.report import fit_html
        from loadrun.atomic_files import atomic_write_bytes

        atomic_write_bytes(report_html, fit_html(result).encode())
    if result.interrupted:
        stderr.print("[yellow]interrupted:[/] finished trials are kept in the study; run the same "
                     "command again to resume" + (f"; best profile so far: {result.profile_path}"
                                                   if result.profile_path else ""), soft_wrap=True)
        return EXIT_INTERRUPTED
    return 0


def render_fit(r: FitResult, console: Console) -> None:
    unit = r.objective.unit
    console.print(f"fit {r.model.name}: {r.strategy} — {r.strategy_reason}", markup=False, soft_wrap=True)
    counts = {}
    for t in r.trials:
        counts[t.state] = counts.get(t.state, 0) + 1
    console.print(f"trials: {', '.join(f'{n} {s}' for s, n in counts.items())}; search "
                  f"{r.search_wall_s:.1f} s, total {r.wall_s:.1f} s; study {r.study_name}"
                  + (f" (resumed with {r.resumed_trials} earlier trials)" if r.resumed_trials else ""),
                  markup=False, soft_wrap=True)
    table = Table(title=f"top configurations ({r.objective.describe()}, {unit})", title_justify="left")
    for col in ("#", "configuration", "score", "median ms (95% CI)", "load+first ms", "peak MiB"):
        table.add_column(col, justify="right" if col not in ("configuration",) else "left")
    for t in r.top(8):
        lat = t.latency or {}
        costs = t.costs or {}
        table.add_row(str(t.number), t.label, f"{t.value:.4g}",
                      f"{lat.get('median_ms', 0):.3f} ({lat.get('ci95_low_ms', 0):.3f}–{lat.get('ci95_high_ms', 0):.3f})",
                      f"{costs.get('first_result_ms', 0):.1f}", f"{costs.get('peak_rss_mb', 0):.1f}")
    console.print(table)
    failed = [t for t in r.trials if t.state == "failed" and t.error]
    for t in failed[:5]:
        console.print(f"failed: {t.label}: {t.error}", markup=False, soft_wrap=True)
    if r.decision is not None:
        d = r.decision
        table = Table(title=f"confirmation: {d.rounds} interleaved rounds", title_justify="left")
        for col in ("finalist", f"median score ({unit})", "× default (95% CI)"):
            table.add_column(col)
        from loadrun.fit.confirm import paired_ratio

        for f in d.finalists:
            ratio = paired_ratio(d.default.scores, f.scores)
            mark = " ← winner" if f is d.winner else ""
            table.add_row(f.label + mark, f"{f.median_score:.4g}",
                          f"{ratio.median:.3f} ({ratio.low:.3f}–{ratio.high:.3f})")
        console.print(table)
        console.print(f"verdict: {d.verdict}", markup=False, soft_wrap=True)
    if r.importance:
        console.print("importance (" + r.importance_method + "): " +
                      ", ".join(f"{k} {v:.2f}" for k, v in r.importance.items()), markup=False)
    if r.profile_path:
        console.print(f"profile: {r.profile_path}", markup=False)
