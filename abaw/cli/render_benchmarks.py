"""Drawing what the benchmarks measured: one ``rich`` table per benchmark, and the summary of a run."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console, RenderableType
from rich.table import Table

from abaw.benchmarks import Benchmark, BenchmarkRun, find_benchmarks
from abaw.benchmarks.audio import AudioBenchmark
from abaw.benchmarks.embed import EmbedBenchmark
from abaw.benchmarks.index import IndexBenchmark
from abaw.benchmarks.temporal import TemporalBenchmark


def audio_figures(figures: AudioBenchmark) -> list[RenderableType]:
    """The audio benchmark's table and its verdict line."""
    audio, frames, sampled = figures.audio_seconds, figures.frames, figures.sampled
    table = Table(
        title=f"Audio features {figures.config_key}: {audio:.0f} s of audio, {frames:,} frames at "
        f"{figures.fps:g} fps (1 thread)"
    )
    table.add_column("step")
    table.add_column("seconds", justify="right")
    table.add_column("RTF", justify="right")
    decode, one_pass, slicing = figures.decode, figures.one_pass, figures.slicing
    both, per_window = figures.one_pass_total, figures.per_window
    table.add_row("decode + resample to 16 kHz mono (PyAV)", f"{decode:.3f}", f"{decode / audio:.4f}")
    table.add_row("openSMILE, one pass over the track", f"{one_pass:.3f}", f"{one_pass / audio:.4f}")
    table.add_row("slice + pool every frame window", f"{slicing:.4f}", f"{slicing / audio:.5f}")
    table.add_row("[bold]one pass + slicing[/bold]", f"{both:.3f}", f"{both / audio:.4f}")
    table.add_row(
        f"[bold]one openSMILE call per frame[/bold] ({sampled} timed, x{frames / sampled:.1f})",
        f"{per_window:.2f}",
        f"{per_window / audio:.4f}",
    )
    verdict = (
        f"one pass + slicing is {per_window / both:.1f}x faster than one call per frame "
        f"({figures.per_call * 1000:.2f} ms per call); with decoding, {audio / (decode + both):.0f}x real time"
    )
    return [table, verdict]


def index_figures(figures: IndexBenchmark) -> list[RenderableType]:
    """The index benchmark's line about the tree and its table."""
    lines = figures.lines
    built = f"built a tree of {figures.videos} videos, {lines:,} label lines in {figures.build_tree:.1f} s"
    table = Table(title=f"Dataset index, {figures.videos} videos, {lines:,} label lines (1 process)")
    table.add_column("step")
    table.add_column("seconds", justify="right")
    table.add_column("label lines/s", justify="right")
    first, again, probe = figures.first_build, figures.cached_load, figures.probe
    table.add_row("first build (parse + list faces)", f"{first:.2f}", f"{lines / first:,.0f}")
    table.add_row("cached load (stat + read cache)", f"{again:.2f}", f"{lines / again:,.0f}")
    table.add_row("probe one video container", f"{probe:.4f}", "")
    table.add_row(f"estimated probes for {figures.videos} videos", f"{probe * figures.videos:.1f}", "")
    return [built, table]


def embed_figures(figures: EmbedBenchmark) -> list[RenderableType]:
    """The embedding benchmark's table: frames/s per variant and device."""
    table = Table(title=f"Embedding extraction (abaw features embed) on {figures.machine}")
    for column in ("variant", "device", "values per frame", "face frames", "seconds", "frames/s"):
        table.add_column(column, justify="left" if column in ("variant", "device") else "right")
    for speed in figures.speeds:
        table.add_row(
            speed.variant,
            speed.device,
            str(speed.dim),
            f"{speed.frames:,}",
            f"{speed.seconds:.2f}",
            f"{speed.frames_per_second:,.0f}",
        )
    return [table]


def temporal_figures(figures: TemporalBenchmark) -> list[RenderableType]:
    """The temporal benchmark's table: training and inference windows/s per model and device."""
    options = figures.options
    table = Table(
        title=f"Temporal models (abaw temporal train), {figures.input_dim} inputs per frame, window "
        f"{options['window']}, batch {options['batch_size']}, fp32, on {figures.machine}"
    )
    columns = ("model", "device", "parameters", "train windows/s", "inference windows/s")
    columns += ("train peak MiB", "infer peak MiB")
    for column in columns:
        table.add_column(column, justify="left" if column in ("model", "device") else "right")
    for speed in figures.speeds:
        peaks = [
            "-" if value is None else f"{value:,.0f}" for value in (speed.train_peak_mib, speed.inference_peak_mib)
        ]
        table.add_row(
            speed.model,
            speed.device,
            f"{speed.parameters:,}",
            f"{speed.train_windows_per_second:,.1f}",
            f"{speed.inference_windows_per_second:,.1f}",
            *peaks,
        )
    return [table]


_DRAWERS: dict[type, Callable[[Any], list[RenderableType]]] = {
    AudioBenchmark: audio_figures,
    EmbedBenchmark: embed_figures,
    IndexBenchmark: index_figures,
    TemporalBenchmark: temporal_figures,
}


def figures_renderables(figures: object) -> list[RenderableType]:
    """What to print for the figures a benchmark returned.

    Raises:
        TypeError: for figures of a kind no drawer is registered for.
    """
    drawer = _DRAWERS.get(type(figures))
    if drawer is None:
        raise TypeError(f"no drawer for benchmark figures of type {type(figures).__name__}")
    return drawer(figures)


def print_figures(console: Console, figures: object) -> None:
    """Print the figures a benchmark returned on ``console``."""
    for renderable in figures_renderables(figures):
        console.print(renderable)


def run_script(name: str) -> int:
    """Run benchmark ``name`` as a script (``python -m abaw.benchmarks.NAME``): its figures on standard output.

    The module is imported by name rather than taken from ``__main__``: run as
    a script, it would define its own copy of the figures class.
    """
    (bench,) = find_benchmarks([name])
    print_figures(Console(), importlib.import_module(bench.module).main(sys.argv[1:]))
    return 0


def benchmark_list_table(benchmarks: Sequence[Benchmark]) -> Table:
    """The registered benchmarks, and how to run each alone."""
    table = Table(title="Benchmarks")
    for column in ("name", "measures", "run alone"):
        table.add_column(column)
    for bench in benchmarks:
        table.add_row(bench.name, bench.about, f"python -m {bench.module}")
    return table


def benchmark_summary_table(runs: Sequence[BenchmarkRun], quick: bool) -> Table:
    """How each benchmark of a run ended, and how long it took."""
    summary = Table(title="Benchmarks run" + (" (--quick: small sizes)" if quick else ""))
    for column in ("name", "seconds", "status"):
        summary.add_column(column, justify="right" if column == "seconds" else "left")
    for run in runs:
        status = "ok" if run.status == 0 else f"[red]failed ({run.status})[/red]"
        summary.add_row(run.name, f"{run.seconds:.1f}", status)
    return summary
