"""Tables of ``abaw data check``: the report of :mod:`abaw.data.report` drawn with rich."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from abaw.data.bins import BIN_CENTRES, N_AFFECT_BINS
from abaw.data.entries import Problem, Severity
from abaw.data.report import DatasetReport, EntrySummary

MAX_PROBLEMS_SHOWN = 30


_COUNT_ROWS = (
    ("videos", "entries (persons)"),
    ("video_files", "video files"),
    ("missing_videos", "missing videos"),
    ("label_lines", "label lines"),
    ("missing_label_lines", "-5 lines"),
    ("face_frames", "frames with a face"),
    ("no_face_frames", "frames without a face"),
    ("usable_frames", "usable frames (label + face)"),
    ("count_mismatches", "frame-count mismatches"),
    ("count_disagreements", "video counts N/P/D disagree"),
)


def summary_table(report: DatasetReport) -> Table:
    """One row per count, one column per split."""
    table = Table(title="Dataset", title_justify="left")
    table.add_column("")
    for summary in report.splits:
        table.add_column(summary.split.value, justify="right")
    for key, label in _COUNT_ROWS:
        values = []
        for summary in report.splits:
            if not summary.split.is_labelled and key in ("label_lines", "missing_label_lines", "usable_frames"):
                values.append("-")
            else:
                values.append(f"{getattr(summary, key):,}")
        table.add_row(label, *values)
    return table


def histogram_table(report: DatasetReport) -> Table:
    """Usable frames per affect bin, the classes the class-balanced loss weights."""
    labelled = [summary for summary in report.splits if summary.split.is_labelled]
    table = Table(title="Valence / arousal over the 21 loss bins (usable frames)", title_justify="left")
    table.add_column("bin", justify="right")
    table.add_column("centre", justify="right")
    for summary in labelled:
        table.add_column(f"{summary.split.value} V", justify="right")
        table.add_column(f"{summary.split.value} A", justify="right")
    for bin_index in range(N_AFFECT_BINS):
        cells = []
        for summary in labelled:
            cells += [f"{summary.valence_histogram[bin_index]:,}", f"{summary.arousal_histogram[bin_index]:,}"]
        table.add_row(str(bin_index), f"{BIN_CENTRES[bin_index]:+.1f}", *cells)
    return table


def frame_count_rule_table(report: DatasetReport) -> Table | None:
    """Every candidate frame-count rule and how many labelled entries' label lines it reproduces."""
    if report.frame_counts is None:
        return None
    counts = report.frame_counts
    table = Table(
        title=f"Frame-count rules against the label lines of {counts.learned.entries} labelled entries",
        title_justify="left",
    )
    table.add_column("rule")
    table.add_column("agreeing entries", justify="right")
    table.add_column("")
    for item in counts.learned.candidates:
        mark = "chosen" if item.rule is counts.rule else ""
        if mark and counts.forced:
            mark = "chosen (--frame-count-rule)"
        elif not mark and item.available is not None and item.available < item.entries:
            mark = f"no value for {item.entries - item.available} entries"
            if "D" in item.rule.value:
                mark += " (D: pass --decode-frames)"
        table.add_row(item.rule.label, f"{item.agreeing} / {item.entries}", mark)
    return table


def _video_counts_cell(entry: EntrySummary) -> str:
    if entry.video_frames is None:
        return "-"
    if not entry.counts_disagree:
        return f"{entry.video_frames:,}"
    parts = [
        f"{letter} {value:,}"
        for letter, value in (("N", entry.header_frames), ("P", entry.packet_frames), ("D", entry.decoded_frames))
        if value is not None
    ]
    return "[yellow]" + " / ".join(parts) + "[/yellow]"


def problem_lines(problems: list[Problem], limit: int = MAX_PROBLEMS_SHOWN) -> list[str]:
    """The first ``limit`` problem messages and a line saying how many more there are."""
    lines = [problem.message for problem in problems[:limit]]
    if len(problems) > limit:
        lines.append(f"... and {len(problems) - limit} more (all of them are in the --json report)")
    return lines


def problems_table(problems: list[Problem], limit: int = MAX_PROBLEMS_SHOWN) -> Table:
    """One row per problem: how severe, what it does to the work (blocks, skipped by training, warning only)."""
    table = Table(title="Problems", title_justify="left")
    table.add_column("severity")
    table.add_column("effect")
    table.add_column("problem", overflow="fold")
    for problem in problems[:limit]:
        colour = "red" if problem.severity is Severity.ERROR else "yellow"
        table.add_row(f"[{colour}]{problem.severity.value}[/{colour}]", problem.effect.description, problem.message)
    if len(problems) > limit:
        table.add_row("", "", f"... and {len(problems) - limit} more (all of them are in the --json report)")
    return table


def entries_table(report: DatasetReport) -> Table:
    """One row per entry: where its counts come from and whether they fit together."""
    table = Table(title="Per video", title_justify="left")
    for column in (
        "entry",
        "split",
        "video",
        "fps",
        "video frames",
        "label lines",
        "lines to write",
        "-5 lines",
        "faces",
        "no face",
        "usable",
        "count",
    ):
        table.add_column(column, justify="left" if column in ("entry", "split", "video", "count") else "right")
    table.columns[4].header = "video frames (N / P / D where they differ)"
    for entry in report.entries:
        table.add_row(
            entry.name,
            entry.split.value,
            Path(entry.video).name if entry.video else "[red]missing[/red]",
            "-" if entry.fps is None else f"{entry.fps:g}",
            _video_counts_cell(entry),
            f"{entry.label_lines:,}" if entry.split.is_labelled else "-",
            "[red]unknown[/red]" if entry.frame_count is None else f"{entry.frame_count:,}",
            f"{entry.missing_label_lines:,}" if entry.split.is_labelled else "-",
            f"{entry.face_frames:,}",
            f"{entry.no_face_frames:,}",
            f"{entry.usable_frames:,}" if entry.split.is_labelled else "-",
            "ok" if entry.count_fits else "[red]mismatch[/red]",
        )
    return table
