"""The ``loadrun`` command line: parses arguments, calls :mod:`loadrun.api`, renders the result.

``loadrun [MODEL] [OPTIONS]`` is short for ``loadrun run [MODEL] [OPTIONS]``: the group inserts
``run`` when the first argument is not a subcommand, so ``loadrun model.mge`` and
``loadrun info model.mge`` both work. Errors a user can act on print one line on stderr and exit
2; Ctrl-C exits 130; a failed ``--check`` exits 1 after the report.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

import typer
import typer.core
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table

from loadrun.api import RunConfig, RunReport, jsonable, run_model
from loadrun.bench import DEFAULT_ITERS, DEFAULT_MIN_TIME, DEFAULT_WARMUP
from loadrun.errors import LoadrunError

EXIT_USAGE = 2
EXIT_CHECK_FAILED = 1
EXIT_INTERRUPTED = 130


class _DefaultRunGroup(typer.core.TyperGroup):
    """A group whose default command is ``run``, with one-line errors and clean Ctrl-C."""

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ctx.help_option_names):
            args = ["run", *args]
        return super().parse_args(ctx, args)

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        prog = prog_name or "loadrun"
        from loadrun import interrupts

        try:
            with interrupts.installed():
                code = super().main(args, prog, complete_var, standalone_mode=False, **extra)
        except typer.TyperException as e:  # click's usage errors and bad parameter values
            ctx = getattr(e, "ctx", None)
            _error(prog, f"{e.format_message()} (see '{ctx.command_path if ctx else prog} --help')")
            code = e.exit_code
        except (typer.Abort, KeyboardInterrupt):
            code = EXIT_INTERRUPTED
        except LoadrunError as e:
            _error(prog, str(e))
            code = e.exit_code
        except OSError as e:
            _error(prog, f"{e.filename}: {e.strerror}" if e.filename and e.strerror else str(e))
            code = EXIT_USAGE
        code = code if isinstance(code, int) else 0
        if code == EXIT_INTERRUPTED:  # click itself turns Ctrl-C into Exit(130), silently
            _error(prog, "interrupted")
        if standalone_mode:
            sys.exit(code)
        return code


def _error(prog: str, message: str) -> None:
    print(f"{prog}: error: {message}", file=sys.stderr)


app = typer.Typer(
    cls=_DefaultRunGroup,
    name="loadrun",
    help="Load and run MegEngine .mge models with the native runtime, and measure them honestly."
         "\n\n`loadrun [MODEL] [OPTIONS]` is short for `loadrun run [MODEL] [OPTIONS]`.",
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.command("run")
def run_command(
    model: Optional[Path] = typer.Argument(
        None, show_default=False, metavar="MODEL",
        help="The .mge model to run; without it, the embedded demo model."),
    inputs: list[str] = typer.Option(
        [], "--input", "-i", metavar="[NAME=]FILE.npy",
        help="An input tensor from a .npy file, by name or in model order (repeatable). "
             "Inputs not given get seeded random data."),
    save_outputs: Optional[Path] = typer.Option(
        None, "--save-outputs", metavar="FILE.npz",
        help="Write the outputs to an .npz file, keyed by output name in model order."),
    warmup: int = typer.Option(RunConfig.warmup, "--warmup", help="Untimed runs before timing."),
    iters: int = typer.Option(RunConfig.iters, "--iters", help="Timed runs, at least."),
    min_time: float = typer.Option(RunConfig.min_time, "--min-time", metavar="SECONDS",
                                   help="Seconds of timed runs, at least."),
    threads: int = typer.Option(RunConfig.threads, "--threads", "-t",
                                help="Threads the runtime uses."),
    check: bool = typer.Option(False, "--check",
                               help="Compare the outputs with the reference executor "
                                    "(exit 1 when they differ beyond tolerance)."),
    as_json: bool = typer.Option(False, "--json",
                                 help="Print only the JSON report on stdout."),
    decrypt: Optional[str] = typer.Option(None, "--decrypt", metavar="AES_default",
                                          help="Decrypt an encrypted model (MegEngine Lite's AES_default)."),
    profile: Optional[Path] = typer.Option(None, "--profile", metavar="FILE",
                                           help="Run with the options of a profile written by --fit."),
    force: bool = typer.Option(False, "--force",
                               help="Apply --profile even when its model digest or device differ."),
    fit: bool = typer.Option(False, "--fit", rich_help_panel="Fit",
                             help="Search the options (docs/fit.md) and write a profile."),
    trials: Optional[int] = typer.Option(None, "--trials", rich_help_panel="Fit",
                                         help="Measured trials, at most (default 40 with --time-budget 600)."),
    time_budget: Optional[float] = typer.Option(None, "--time-budget", metavar="SECONDS", rich_help_panel="Fit",
                                                help="Seconds of searching, at most."),
    strategy: str = typer.Option("auto", "--strategy", rich_help_panel="Fit",
                                 help="auto (exhaustive when the space fits the budget, else TPE), "
                                      "exhaustive, tpe, or megengine (load_and_run's fitting)."),
    objective: str = typer.Option("latency", "--objective", rich_help_panel="Fit",
                                  help="latency | first-run | memory | mix:W1,W2,W3."),
    fix: list[str] = typer.Option([], "--fix", metavar="NAME=VALUE", rich_help_panel="Fit",
                                  help="Pin one option (repeatable)."),
    space: list[str] = typer.Option([], "--space", metavar="NAME=V1,V2", rich_help_panel="Fit",
                                    help="Restrict one option's values (repeatable)."),
    fit_seed: int = typer.Option(0, "--seed", rich_help_panel="Fit", help="Seed of the sampler."),
    storage: Optional[str] = typer.Option(None, "--storage", metavar="URL", rich_help_panel="Fit",
                                          help="Optuna storage of the study (default: SQLite in the cache)."),
    profile_out: Optional[Path] = typer.Option(None, "--profile-out", metavar="FILE", rich_help_panel="Fit",
                                               help="Write the profile here (default profiles/<model>/<device>.json)."),
    report_html: Optional[Path] = typer.Option(None, "--report", metavar="FILE.html", rich_help_panel="Fit",
                                               help="Also write a self-contained HTML report of the fit."),
    device: str = typer.Option("local", "--device", rich_help_panel="Fit",
                               help="Where to fit: local, adb[:SERIAL], qemu[:ARCH]."),
    jit: int = typer.Option(0, "--jit", min=0, max=2,
                            help="JIT fusion: 0 none, 1 elementwise chains, 2 also reductions (docs/compile.md)."),
    layout: str = typer.Option("nchw", "--layout", metavar="nchw|nchw88|nchw16|nchw44",
                               help="Tensor layout: nchw, or channel-blocked nchw16 (AVX-512) / nchw88 (AVX2) "
                                    "(docs/compile.md \"Layouts\")."),
    affinity: Optional[str] = typer.Option(None, "--affinity", metavar="LIST",
                                           help="Pin the runtime's threads to these CPUs, e.g. 0,1 or 2-3."),
    inplace: bool = typer.Option(False, "--inplace/--no-inplace",
                                 help="Run kernels on the calling thread (default: a dispatcher thread)."),
    record: int = typer.Option(0, "--record", metavar="0|1|2",
                               help="0 walk the graph each run; 1 record the kernel calls once and replay "
                                    "them; 2 as 1 and free the graph metadata."),
    weight_preprocess: bool = typer.Option(False, "--weight-preprocess/--no-weight-preprocess",
                                           help="Pack/transform weights once at load (default: in every run)."),
    fast_run: str = typer.Option("heuristic", "--fast-run",
                                 metavar="heuristic|profile|profile-reproducible|profile-optimized",
                                 help="How each operator's algorithm is chosen at load (docs/native.md)."),
    algo_cache: Optional[Path] = typer.Option(None, "--algo-cache", metavar="FILE",
                                              help="Algorithm cache: read at load, written after profiling."),
    profile_nodes: int = typer.Option(0, "--profile-nodes", metavar="N",
                                      help="After measuring, N more runs timing every kernel node: "
                                           "prints the operator profile (slowest nodes, time per operator)."),
) -> None:
    """Run MODEL and print its latency: median with 95% CI, percentiles, load, first run."""
    if fit:
        from loadrun.fit.cli_fit import run_fit

        from loadrun.targets.fleet import is_fleet, run_fit_fleet

        def fit_on(dev: str, fleet: bool = False) -> int:
            def per_device(p: Optional[Path]) -> Optional[Path]:  # one file per phone in a fleet fit
                return p.with_name(f"{p.stem}-{dev.partition(':')[2]}{p.suffix}") if p and fleet else p
            return run_fit(model, inputs=inputs, decrypt=decrypt, trials=trials, time_budget=time_budget,
                           strategy=strategy, objective=objective, fix=fix, space=space, seed=fit_seed,
                           storage=storage, profile_out=per_device(profile_out),
                           report_html=per_device(report_html), device=dev)

        if is_fleet(device):  # adb:all / adb:S1,S2: each phone fitted in parallel, one profile each
            code = run_fit_fleet(device, lambda dev: fit_on(dev, True), lambda m: print(m, flush=True),
                                 storage=storage)
        else:
            code = fit_on(device)
        raise typer.Exit(code)
    runtime_options: dict = {}
    if profile is not None:
        from loadrun.fit.apply import profile_run_options

        threads, runtime_options = profile_run_options(profile, model, force=force, decrypt=decrypt,
                                                       warn=lambda m: Console(stderr=True).print(
                                                           f"[yellow]warning:[/] {m}", soft_wrap=True))
    if jit:
        runtime_options = {**runtime_options, "jit": jit}
    if layout != "nchw":
        runtime_options = {**runtime_options, "layout": layout}
    options = runtime_options_from_flags(threads, affinity, inplace, record, weight_preprocess, fast_run, algo_cache)
    config = RunConfig(threads=threads, warmup=warmup, iters=iters, min_time=min_time, decrypt=decrypt,
                       profile_nodes=profile_nodes, runtime_options=runtime_options, options=options)
    stderr = Console(stderr=True)
    import warnings

    with _progress(stderr) as progress, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if device != "local":  # the same run on a phone / emulated ARM (loadrun/targets/)
            from loadrun.targets import open_target
            from loadrun.targets.device_run import run_on_target

            target = open_target(device)
            try:
                report = run_on_target(target, model, inputs, config, check=check,
                                       save_outputs=save_outputs, progress=progress)
            finally:
                target.close()
        else:
            report = run_model(model, inputs, config, check=check, save_outputs=save_outputs,
                               progress=progress)
    for w in caught:  # e.g. a rejected algorithm cache: one line, the run goes on without it
        stderr.print(f"[yellow]warning:[/] {w.message}", highlight=False, soft_wrap=True)
    if as_json:
        print(report.to_json(), flush=True)
    else:
        render_report(report, Console(highlight=False))
    if report.latency.noise.noisy and as_json:  # the table shows it in its "noise" row
        stderr.print(f"[yellow]warning:[/] noisy measurement: {report.latency.noise.reason}",
                     highlight=False, soft_wrap=True)
    if report.check is not None and not report.check.passed:
        raise typer.Exit(EXIT_CHECK_FAILED)


def runtime_options_from_flags(threads: int, affinity: str | None, inplace: bool, record: int,
                               weight_preprocess: bool, fast_run: str, algo_cache: Path | None):
    """The run command's runtime flags as an :class:`Options`; a bad value is a one-line error (exit 2)."""
    from loadrun.errors import OptionError
    from loadrun.options import FAST_RUN_MODES, RECORD_LEVELS, Options, parse_affinity

    if record not in RECORD_LEVELS:
        raise OptionError(f"--record must be 0, 1 or 2, got {record}")
    if fast_run not in FAST_RUN_MODES:
        raise OptionError(f"--fast-run must be one of {', '.join(FAST_RUN_MODES)}, got {fast_run!r}")
    cpus = None
    if affinity is not None:
        try:
            cpus = parse_affinity(affinity)
        except OptionError as e:
            raise OptionError(f"--affinity: {e}") from None
        if cpus is not None:
            try:
                import os
                allowed = os.sched_getaffinity(0)
            except AttributeError:
                allowed = set(cpus)
            missing = sorted(set(cpus) - set(allowed))
            if missing:
                raise OptionError(f"--affinity: CPU {missing[0]} is not available to this process "
                                  f"(allowed: {','.join(map(str, sorted(allowed)))})")
    if algo_cache is not None and algo_cache.is_dir():
        raise OptionError(f"--algo-cache {algo_cache}: is a directory, give a file")
    if algo_cache is not None and not algo_cache.parent.is_dir():
        raise OptionError(f"--algo-cache {algo_cache}: the directory {algo_cache.parent} does not exist")
    if threads < 1:
        raise OptionError(f"--threads must be at least 1, got {threads}")
    return Options(threads=threads, affinity=cpus, inplace=inplace, record=record,
                   weight_preprocess=weight_preprocess, fast_run=fast_run,
                   algo_cache=str(algo_cache) if algo_cache is not None else None)


@app.command("build")
def build_command(
    target: str = typer.Option(..., "--target", metavar="android-arm64|linux-aarch64|android-armv7",
                               help="What to build loadrun-runner for (a static executable)."),
    toolchain: Optional[str] = typer.Option(None, "--toolchain", metavar="zig|gcc",
                                            help="Cross compiler (default: zig cc, else the Debian cross gcc)."),
    force: bool = typer.Option(False, "--force", help="Rebuild even when the cache has this build."),
    as_json: bool = typer.Option(False, "--json", help="Print the build record as JSON."),
) -> None:
    """Cross-build the static loadrun-runner for a phone or an ARM board (cached by content hash)."""
    from loadrun.build import build_runner

    stderr = Console(stderr=True, highlight=False)
    built = build_runner(target, toolchain=toolchain, force=force, log=lambda m: stderr.print(m, markup=False))
    if as_json:
        print(json.dumps(built.to_dict(), indent=2))
    else:
        print(f"{built.path}  ({built.target}, {built.toolchain}, "
              f"{'cached' if built.cached else f'built in {built.seconds:.1f} s'})")


device_app = typer.Typer(help="Devices reached over adb: list them, clean their working folder.",
                         no_args_is_help=True)
app.add_typer(device_app, name="device")


@device_app.command("list")
def device_list_command() -> None:
    """List the adb devices with their state."""
    from loadrun.targets.adb import list_devices

    for d in list_devices():
        print(f"{d['serial']}\t{d['state']}\t{d.get('model', '')}")


@device_app.command("clean")
def device_clean_command(
    device: str = typer.Option("adb:all", "--device", metavar="adb[:SERIAL|:all]",
                               help="Which device(s) to clean."),
) -> None:
    """Remove loadrun's working folder (/data/local/tmp/loadrun) from the device(s)."""
    from loadrun.errors import OptionError
    from loadrun.targets.adb import WORK_DIR, clean_devices

    kind, _, arg = device.partition(":")
    if kind != "adb":
        raise OptionError(f"--device {device!r}: device clean works on adb[:SERIAL|:all]")
    for serial in clean_devices(arg or None):
        print(f"{serial}: removed {WORK_DIR}")


@app.command("info")
def info_command(
    model: Path = typer.Argument(..., show_default=False, metavar="MODEL",
                                 help="The .mge model to describe."),
    as_json: bool = typer.Option(False, "--json", help="Print the description as JSON."),
    decrypt: Optional[str] = typer.Option(None, "--decrypt", metavar="AES_default",
                                          help="Decrypt an encrypted model (MegEngine Lite's AES_default)."),
) -> None:
    """Describe MODEL without running it: inputs, outputs, operators, parameters, FLOPs."""
    from loadrun.api import DECRYPT_METHODS
    from loadrun.errors import OptionError
    from loadrun.formats import describe

    if decrypt not in DECRYPT_METHODS:
        raise OptionError(f"--decrypt must be AES_default, got {decrypt!r}")
    info = jsonable(describe(model, decrypt=decrypt))
    if as_json:
        print(json.dumps(info, indent=2, allow_nan=False))
    else:
        render_info(info, Console(highlight=False))


@app.command("bench")
def bench_command(
    paths: list[Path] = typer.Argument(
        None, show_default=False, metavar="PATH...",
        help="Model files, or directories searched for *.mge (models/<name>/model.mge is named "
             "<name>)."),
    profiles: Optional[Path] = typer.Option(
        None, "--profiles", metavar="DIR",
        help="Also run each model with its profile DIR/<model>/<device>.json, when it matches."),
    threads: str = typer.Option("1", "--threads", "-t", metavar="LIST",
                                help="Thread counts, comma-separated: one config each."),
    warmup: int = typer.Option(DEFAULT_WARMUP, "--warmup", help="Untimed runs before timing."),
    iters: int = typer.Option(DEFAULT_ITERS, "--iters", help="Timed runs per config, at least."),
    min_time: float = typer.Option(DEFAULT_MIN_TIME, "--min-time", metavar="SECONDS",
                                   help="Seconds of timed runs per config, at least."),
    fmt: str = typer.Option("table", "--format", "-f", metavar="table|markdown|json|csv",
                            help="Output format."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", metavar="FILE",
                                       help="Write the output to FILE (atomically), not stdout."),
    html: Optional[Path] = typer.Option(None, "--html", metavar="FILE",
                                        help="Also write a self-contained HTML report with plots."),
    from_json: Optional[Path] = typer.Option(
        None, "--from", metavar="BENCH.json",
        help="Render an earlier --format json result instead of running models."),
) -> None:
    """Benchmark models in each configuration and print one table (CI performance tables)."""
    from loadrun.bench import BenchError, BenchSettings, parse_threads, read_bench, run_bench

    if fmt not in BENCH_FORMATS:
        raise BenchError(f"--format {fmt!r}: choose one of {', '.join(BENCH_FORMATS)}")
    stderr = Console(stderr=True, highlight=False)
    if from_json is not None:
        if paths:
            raise BenchError("give either model PATHs or --from BENCH.json, not both")
        doc = read_bench(from_json)
    else:
        if not paths:
            raise BenchError("no PATH given: name model files or directories to benchmark")
        settings = BenchSettings(threads=parse_threads(threads), warmup=warmup, iters=iters,
                                 min_time=min_time, profiles=profiles)
        with _bench_progress(stderr) as progress:
            doc = run_bench(paths, settings, progress=progress,
                            warn=lambda m: stderr.print(f"[yellow]warning:[/] {m}", soft_wrap=True))
    _emit(render_bench(doc, fmt, out is None and sys.stdout.isatty()), out)
    if html is not None:
        from loadrun.report.html import bench_html

        _write_atomically(html, bench_html(doc))


@app.command("compare")
def compare_command(
    base: Path = typer.Argument(..., show_default=False, metavar="BASE.json",
                                help="The baseline bench result (loadrun bench --format json)."),
    new: Path = typer.Argument(..., show_default=False, metavar="NEW.json",
                               help="The bench result to judge."),
    threshold: str = typer.Option("5%", "--threshold", metavar="PERCENT",
                                  help="Smallest change of the median that counts, e.g. 5% or 0.05."),
    alpha: float = typer.Option(0.01, "--alpha",
                                help="Significance level of the Mann-Whitney U test."),
    fmt: str = typer.Option("markdown", "--format", "-f", metavar="markdown|json",
                            help="Output format."),
    html: Optional[Path] = typer.Option(None, "--html", metavar="FILE",
                                        help="Also write a self-contained HTML report with plots."),
) -> None:
    """Compare two bench results: exit 1 on a significant regression beyond the threshold."""
    from loadrun.report.compare import CompareInputError, compare, load_bench, parse_threshold

    if fmt not in ("markdown", "json"):
        raise CompareInputError(f"--format {fmt!r}: choose markdown or json")
    if not 0 < alpha < 1:
        raise CompareInputError(f"--alpha {alpha:g}: must be between 0 and 1, e.g. 0.01")
    limit = parse_threshold(threshold)
    base_entries, new_entries = load_bench(base), load_bench(new)
    result = compare(base_entries, new_entries, threshold=limit, alpha=alpha)
    if fmt == "json":
        print(json.dumps(jsonable(result.to_dict()), indent=2, allow_nan=False), flush=True)
    else:
        print(result.to_markdown(), end="", flush=True)
    if html is not None:
        from loadrun.report.html import compare_html

        _write_atomically(html, compare_html(result, base_entries, new_entries, base.name, new.name))
    raise typer.Exit(result.exit_code())


BENCH_FORMATS = ("table", "markdown", "json", "csv")


def render_bench(doc: dict, fmt: str, terminal: bool) -> str:
    """The bench document in one of ``BENCH_FORMATS``; a rich table on a terminal, else text."""
    from loadrun.bench import to_json
    from loadrun.report import table

    if fmt == "json":
        return to_json(doc)
    if fmt == "csv":
        return table.to_csv(doc)
    if fmt == "markdown":
        return table.to_markdown(doc)
    console = Console(highlight=False, width=None if terminal else 250, record=True,
                      file=io.StringIO(), force_terminal=terminal)
    console.print(table.to_rich(doc))
    return "\n".join(line.rstrip() for line in console.export_text(styles=terminal).splitlines()) + "\n"


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        _write_atomically(out, text)


def _write_atomically(path: Path, text: str) -> None:
    from loadrun.atomic_files import atomic_write_bytes

    atomic_write_bytes(path, text.encode())


class _BenchProgressBar:
    """``bench.BenchProgress`` as one rich bar over all configurations."""

    def __init__(self, console: Console):
        self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                  MofNCompleteColumn(), console=console, transient=True)
        self._task = None

    def __enter__(self) -> "_BenchProgressBar":
        self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.stop()

    def __call__(self, done: int, total: int, label: str) -> None:
        if self._task is None:
            self._task = self._progress.add_task(label, total=total)
        self._progress.update(self._task, completed=done, total=total, description=label)


class _BenchProgressLines:
    """``bench.BenchProgress`` as one line per configuration (CI logs are not terminals)."""

    def __init__(self, console: Console):
        self._console = console

    def __enter__(self) -> "_BenchProgressLines":
        return self

    def __exit__(self, *exc) -> None:
        pass

    def __call__(self, done: int, total: int, label: str) -> None:
        if done < total:
            self._console.print(f"bench [{done + 1}/{total}] {label}", markup=False)


def _bench_progress(console: Console):
    return _BenchProgressBar(console) if console.is_terminal else _BenchProgressLines(console)


class _ProgressBar:
    """``api.Progress`` drawn with rich on stderr (only when stderr is a terminal)."""

    def __init__(self, console: Console):
        self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                  MofNCompleteColumn(), console=console, transient=True)
        self._task = None
        self._phase = None

    def __enter__(self) -> "_ProgressBar":
        self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.stop()

    def __call__(self, phase: str, done: int, total: int | None) -> None:
        if phase != self._phase:  # a fresh task per phase: counts do not leak between phases
            if self._task is not None:
                self._progress.remove_task(self._task)
            self._task = self._progress.add_task(phase, total=total)
            self._phase = phase
        self._progress.update(self._task, completed=done, total=total)


class _NoProgress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc) -> None:
        pass


def _progress(console: Console):
    return _ProgressBar(console) if console.is_terminal else _NoProgress()


# -- rendering -----------------------------------------------------------------------------------


def format_ms(ms: float) -> str:
    """A duration with a unit that keeps 3-4 significant digits."""
    if ms >= 1000:
        return f"{ms / 1000:.3f} s"
    if ms >= 1:
        return f"{ms:.3f} ms"
    return f"{ms * 1000:.2f} µs"


def _mib(n_bytes: float) -> str:
    return f"{n_bytes / (1 << 20):.1f} MiB"


def _tensor(t: dict) -> str:
    return f"{t['name']}: {t['dtype']}{t['shape']}"


def report_rows(doc: dict) -> list[tuple[str, str]]:
    """The summary of a run JSON document as (label, value) rows, shared by table and text."""
    lat = doc["latency_ms"]
    opts = doc["options"]
    rows = [
        ("model", f"{doc['model']['path']} (sha256 {doc['model']['sha256'][:12]})"),
        ("inputs", "; ".join(f"{_tensor(t)} from {t['source']}" for t in doc["inputs"])),
        ("outputs", "; ".join(_tensor(t) for t in doc["outputs"])),
        ("threads", str(opts["threads"])),
        ("load", format_ms(doc["load_ms"])),
        ("first run", format_ms(doc["first_run_ms"])),
        ("median", f"{format_ms(lat['median'])}  (95% CI {format_ms(lat['ci95_low'])} – "
                   f"{format_ms(lat['ci95_high'])})"),
        ("p90 / p99", f"{format_ms(lat['p90'])} / {format_ms(lat['p99'])}"),
        ("min / max", f"{format_ms(lat['min'])} / {format_ms(lat['max'])}"),
        ("mean ± stddev", f"{format_ms(lat['mean'])} ± {format_ms(lat['stddev'])}"),
        ("cv", f"{lat['cv']:.1%} (robust {lat['robust_cv']:.1%})"),
        ("runs", f"{doc['iters']} timed in {doc['total_time_s']:.2f} s "
                 f"(after {opts['warmup']} warm-up)"),
        ("peak RSS", f"{doc['peak_rss_mb']:.1f} MiB (whole process)"),
    ]
    runtime = doc.get("runtime") or {}
    memory = [f"{label} {_mib(runtime[key])}" for key, label in
              (("arena_bytes", "arena"), ("weight_bytes", "weights")) if key in runtime]
    if memory:
        rows.append(("runtime memory", ", ".join(memory)))
    ropts = opts.get("runtime_options") or {}
    if ropts:
        rows.append(("runtime options", ", ".join(f"{k}={v}" for k, v in ropts.items() if v is not None)))
    if "graph_walks_per_run" in runtime:
        cache = runtime.get("algo_cache") or {}
        rows.append(("executor", f"walks/run {runtime['graph_walks_per_run']}, weight packs/run "
                                 f"{runtime['weight_packs_per_run']}, kernels/run {runtime['kernels_per_run']}, "
                                 f"dispatcher runs {runtime['dispatcher_runs']}, threads used {runtime['threads_used']}, "
                                 f"CPUs {','.join(map(str, runtime.get('cpus_used') or []))}"))
        rows.append(("algorithms", f"profiling {runtime['profiling_ns'] / 1e6:.1f} ms over "
                                   f"{runtime['profiled_nodes']} nodes; cache {cache.get('status')} "
                                   f"({cache.get('hits', 0)} hits, {cache.get('misses', 0)} misses)"))
        rows.append(("metadata", f"{runtime['metadata_bytes_at_load']:,} B at load, "
                                 f"{runtime['metadata_bytes']:,} B now"))
    if doc["noisy"]:
        rows.append(("noise", f"NOISY: {doc['noise_reason']}"))
    if "check" in doc:
        check = doc["check"]
        for out in check["outputs"]:
            verdict = "pass" if out["passed"] else f"FAIL: {out['problem']}"
            if out["max_abs_error"] is None:
                rows.append((f"check {out['name']}", verdict))
            else:
                rows.append((f"check {out['name']}",
                             f"{verdict} (max abs {out['max_abs_error']:.3g}, max rel "
                             f"{out['max_rel_error']:.3g}, tolerance {out['tolerance']:.3g})"))
    if doc.get("saved_outputs"):
        rows.append(("outputs saved", doc["saved_outputs"]))
    return rows


def _render_rows(title: str, rows: list[tuple[str, str]], console: Console) -> None:
    if console.is_terminal:
        table = Table(title=title, show_header=False, title_justify="left")
        table.add_column(style="bold")
        table.add_column()
        for label, value in rows:
            style = "red" if value.startswith(("FAIL", "NOISY")) else None
            table.add_row(label, value, style=style)
        console.print(table)
    else:
        width = max(len(label) for label, _ in rows)
        console.print(title, markup=False)
        for label, value in rows:
            console.print(f"  {label:<{width}}  {value}", markup=False, soft_wrap=True)


def render_report(report: RunReport, console: Console) -> None:
    doc = report.to_dict()
    _render_rows(f"loadrun {Path(doc['model']['path']).name}", report_rows(doc), console)
    if report.node_profile is not None:
        render_node_profile(report.node_profile, doc["latency_ms"]["median"], console)


NODE_PROFILE_ROWS = 15


def render_node_profile(profile: dict, run_median_ms: float, console: Console) -> None:
    """The slowest kernel nodes, then the time per operator and algorithm."""
    nodes = profile["nodes"]
    title = (f"operator profile: {len(nodes)} kernels over {profile['runs']} runs, sum of node medians "
             f"{profile['sum_of_medians_ms']:.3f} ms (run median {run_median_ms:.3f} ms)")
    slowest = sorted(nodes, key=lambda n: -n["median_ms"])[:NODE_PROFILE_ROWS]
    groups: dict[tuple[str, str], list] = {}
    for n in nodes:
        g = groups.setdefault((n["op"], n["algo"]), [0, 0.0])
        g[0] += 1
        g[1] += n["median_ms"]
    nodes_cols = (("#", "right"), ("node", "left"), ("op", "left"), ("algorithm", "left"), ("layout", "left"),
                  ("median ms", "right"), ("p90 ms", "right"), ("share", "right"))
    nodes_rows = [(str(n["index"]), n["name"], n["op"], n["algo"], n["layout"], f"{n['median_ms']:.3f}",
                   f"{n['p90_ms']:.3f}", f"{100 * n['share']:.1f}%") for n in slowest]
    total = profile["sum_of_medians_ms"] or 1.0
    op_cols = (("op", "left"), ("algorithm", "left"), ("nodes", "right"), ("ms", "right"), ("share", "right"))
    op_rows = [(op, algo, str(count), f"{ms:.3f}", f"{100 * ms / total:.1f}%")
               for (op, algo), (count, ms) in sorted(groups.items(), key=lambda kv: -kv[1][1])]
    _print_table(title, nodes_cols, nodes_rows, console)
    _print_table("time per operator", op_cols, op_rows, console)


def _print_table(title: str, cols, rows, console: Console) -> None:
    """A rich table on a terminal; else plain text, one line per row, nothing cut."""
    if console.is_terminal:
        table = Table(title=title, title_justify="left")
        for name, justify in cols:
            table.add_column(name, justify=justify)
        for row in rows:
            table.add_row(*row)
        console.print(table)
        return
    console.print(title, markup=False, soft_wrap=True)
    lines = [tuple(name for name, _ in cols), *rows]
    widths = [max(len(line[c]) for line in lines) for c in range(len(cols))]
    for line in lines:
        cells = [v.rjust(w) if justify == "right" else v.ljust(w) for v, w, (_, justify) in zip(line, widths, cols)]
        console.print("  " + "  ".join(cells).rstrip(), markup=False, soft_wrap=True)


def info_rows(info: dict) -> list[tuple[str, str]]:
    rows = [("path", str(info.get("path"))),
            ("container", str(info.get("container"))),
            ("MegEngine version", str(info.get("mge_version"))),
            ("model version", str(info.get("model_version")))]
    rows += [("input", _tensor(t)) for t in info.get("inputs", [])]
    rows += [("output", _tensor(t)) for t in info.get("outputs", [])]
    rows += [("parameters", f"{info.get('params', 0):,} ({_mib(info.get('param_bytes', 0))})"),
             ("FLOPs", f"{info.get('flops', 0):,}"),
             ("file", f"{info.get('file_bytes', 0):,} bytes")]
    for key, label in (("mge_operators", "MegEngine operators"), ("ir_operators", "IR operators")):
        ops = info.get(key) or {}
        rows.append((label, ", ".join(f"{name}×{count}" for name, count in ops.items())))
    return rows


def render_info(info: dict, console: Console) -> None:
    _render_rows(f"loadrun info {Path(str(info.get('path'))).name}", info_rows(info), console)


def main() -> None:
    app(prog_name="loadrun")


if __name__ == "__main__":
    main()
