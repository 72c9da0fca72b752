"""Drawing what the benchmarks measured: one ``rich`` table per benchmark, and the summary of a run.

The benchmarks (:mod:`abaw.benchmarks`) return dataclasses and never import
this package; their modules are imported here for type checking only, so that
drawing one benchmark's figures does not import another's (several import torch).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from abaw.benchmarks import Benchmark, BenchmarkRun

if TYPE_CHECKING:
    from abaw.benchmarks.audio import AudioBenchmark
    from abaw.benchmarks.embed import EmbedBenchmark
    from abaw.benchmarks.index import IndexBenchmark
    from abaw.benchmarks.scoring import ScoringBenchmark
    from abaw.benchmarks.temporal import TemporalBenchmark
    from abaw.benchmarks.training import TrainingBenchmark, VariantSpeed


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


def scoring_figures(figures: ScoringBenchmark) -> list[RenderableType]:
    """The scoring benchmark's table of stages, its score and notes, and any failed check."""
    table = Table(title=f"abaw scoring benchmark: {figures.videos} videos, {figures.lines:,} label lines")
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    table.add_column("lines", justify="right")
    table.add_column("lines/s", justify="right")
    for row in figures.stages:
        speed = f"{row.lines / row.seconds:,.0f}" if row.seconds else "-"
        table.add_row(row.stage, f"{row.seconds:.2f}", f"{row.lines:,}", speed)
    scores = figures.report.scores
    lines: list[RenderableType] = [table, f"CCC mean {scores.ccc_mean:.4f} over {scores.frames:,} annotated frames"]
    lines += [Text(f"note: {note}") for note in figures.report.notes]
    lines += [Text(failed) for failed in figures.failed_checks]
    return lines


TRAINING_COLUMNS = (
    "variant",
    "loader",
    "train (memory)",
    "train (loader)",
    "inference",
    "train peak MiB",
    "infer peak MiB",
)


def variant_cells(speed: VariantSpeed, peaks: bool = True) -> list[str]:
    """A training benchmark row: frames/s, then peak memory (``-`` where not measured) when ``peaks``.

    Example:
        >>> from abaw.benchmarks.training import VariantSpeed
        >>> variant_cells(VariantSpeed("disc", 1000.4, 200, 150, 4000, 512.3, None))
        ['disc', '1000', '200', '150', '4000', '512', '-']
        >>> variant_cells(VariantSpeed("disc", 1000.4, 200, 150, 4000), peaks=False)
        ['disc', '1000', '200', '150', '4000']
    """
    rates = [f"{value:.0f}" for value in (speed.loader, speed.train_memory, speed.train_loader, speed.inference)]
    if not peaks:
        return [speed.variant, *rates]
    memory = ["-" if value is None else f"{value:,.0f}" for value in (speed.train_peak_mib, speed.inference_peak_mib)]
    return [speed.variant, *rates, *memory]


def training_figures(figures: TrainingBenchmark) -> list[RenderableType]:
    """The training benchmark: one line per variant (whole in a narrow log), the table, and the JSON file written."""
    peaks, settings = figures.peaks, figures.settings
    columns = TRAINING_COLUMNS if peaks else TRAINING_COLUMNS[:-2]
    table = Table(
        title=f"training speed, frames/s (device {figures.environment['device']}, batch {settings['batch_size']}, "
        f"{settings['workers']} workers, {settings['train_frames']} train frames)"
    )
    for column in columns:
        table.add_column(column, justify="right")
    lines: list[RenderableType] = []
    for speed in figures.variants:
        cells = variant_cells(speed, peaks)
        table.add_row(*cells)
        lines.append(", ".join(f"{column} {cell}" for column, cell in zip(columns, cells, strict=True)))
    lines.append(table)
    if figures.written is not None:
        lines.append(Text(f"wrote {figures.written}"))
    return lines


_DRAWERS: dict[str, Callable[[Any], list[RenderableType]]] = {
    "audio": audio_figures,
    "embed": embed_figures,
    "index": index_figures,
    "scoring": scoring_figures,
    "temporal": temporal_figures,
    "training": training_figures,
}


def figures_renderables(name: str, figures: object) -> list[RenderableType]:
    """What to print for the figures benchmark ``name`` returned.

    Raises:
        KeyError: for a benchmark no drawer is registered for.
    """
    return _DRAWERS[name](figures)


def print_figures(console: Console, name: str, figures: object) -> None:
    """Print the figures benchmark ``name`` returned on ``console``."""
    for renderable in figures_renderables(name, figures):
        console.print(renderable)


def benchmark_list_table(benchmarks: Sequence[Benchmark]) -> Table:
    """The registered benchmarks, and how to run each alone."""
    table = Table(title="Benchmarks")
    for column in ("name", "measures", "run alone"):
        table.add_column(column)
    for bench in benchmarks:
        table.add_row(bench.name, bench.about, bench.command)
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
