"""What ``abaw data check`` reports: per-split counts, label histograms and problems."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from rich.table import Table

from abaw.data.annotations import MISSING_LABEL, valid_rows
from abaw.data.bins import BIN_CENTRES, N_AFFECT_BINS, bin_counts
from abaw.data.index import DatasetIndex, Entry, Problem, Severity, verify_face_images
from abaw.data.layout import Split
from abaw.progress import ProgressFn, no_progress

MAX_PROBLEMS_SHOWN = 30


@dataclass
class SplitSummary:
    """Counts over the entries of one split.

    Attributes:
        split: Which split.
        videos: Entries (annotated persons, or test-list names).
        video_files: Distinct video files the entries come from.
        missing_videos: Entries whose video file was not found.
        label_lines: Label lines after the headers.
        missing_label_lines: Lines where valence or arousal is -5.
        face_frames: Face images (for labelled splits, of labelled lines only).
        usable_frames: Lines with both labels and a face image: what trains.
        no_face_frames: Frames of the video (or labelled lines) with no face image.
        count_mismatches: Entries whose label lines do not fit the video's frame count.
        valence_histogram: Usable frames per affect bin (21 bins, -1..1).
        arousal_histogram: The same for arousal.
    """

    split: Split
    videos: int = 0
    video_files: int = 0
    missing_videos: int = 0
    label_lines: int = 0
    missing_label_lines: int = 0
    face_frames: int = 0
    usable_frames: int = 0
    no_face_frames: int = 0
    count_mismatches: int = 0
    valence_histogram: list[int] = field(default_factory=lambda: [0] * N_AFFECT_BINS)
    arousal_histogram: list[int] = field(default_factory=lambda: [0] * N_AFFECT_BINS)


@dataclass
class EntrySummary:
    """The counts of one entry, for ``--per-video`` and the JSON report."""

    name: str
    split: Split
    video: str | None
    fps: float | None
    video_frames: int | None
    label_lines: int
    missing_label_lines: int
    face_frames: int
    no_face_frames: int
    usable_frames: int
    count_fits: bool


@dataclass
class DatasetReport:
    """The result of checking a dataset: usable or not, and why."""

    layout: dict[str, object]
    splits: list[SplitSummary]
    entries: list[EntrySummary]
    errors: list[Problem]
    warnings: list[Problem]

    @property
    def usable(self) -> bool:
        """True when no error was found and train and validation have usable frames."""
        labelled = [summary for summary in self.splits if summary.split.is_labelled]
        return not self.errors and len(labelled) == 2 and all(summary.usable_frames for summary in labelled)

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready form of the report."""
        splits = []
        for summary in self.splits:
            item = asdict(summary)
            item["split"] = summary.split.value
            splits.append(item)
        entries = []
        for entry in self.entries:
            item = asdict(entry)
            item["split"] = entry.split.value
            entries.append(item)
        return {
            "usable": self.usable,
            "layout": self.layout,
            "splits": splits,
            "entries": entries,
            "errors": [problem.message for problem in self.errors],
            "warnings": [problem.message for problem in self.warnings],
            "problems": [problem.to_dict() for problem in self.problems],
        }

    @property
    def problems(self) -> list[Problem]:
        """Errors, then warnings."""
        return [*self.errors, *self.warnings]


def _entry_counts(index: DatasetIndex, entry: Entry) -> tuple[EntrySummary, np.ndarray]:
    """An entry's counts, and the labels of its usable frames."""
    labels = index.labels(entry.name)
    frames = np.arange(1, (len(labels) if entry.split.is_labelled else entry.frame_count) + 1)
    face = entry.has_face(frames)
    usable = face & valid_rows(labels) if entry.split.is_labelled else np.zeros(0, dtype=bool)
    summary = EntrySummary(
        name=entry.name,
        split=entry.split,
        video=None if entry.video is None else str(entry.video),
        fps=entry.fps,
        video_frames=entry.video_frames,
        label_lines=len(labels),
        missing_label_lines=int((labels == MISSING_LABEL).any(axis=1).sum()),
        face_frames=int(face.sum()),
        no_face_frames=int((~face).sum()),
        usable_frames=int(usable.sum()),
        count_fits=entry.label_count_fits_video,
    )
    return summary, labels[usable]


def summarise(index: DatasetIndex, problems: list[Problem] | None = None) -> DatasetReport:
    """Count what each entry and each split of ``index`` holds.

    Args:
        index: The dataset.
        problems: What to report as wrong; by default the index's own problems.

    Example:
        >>> from abaw.data.layout import Split
        >>> SplitSummary(Split.TRAIN).usable_frames
        0
    """
    problems = index.problems if problems is None else problems
    splits, entries = [], []
    for split in Split:
        members = index.split(split)
        summary = SplitSummary(split=split, videos=len(members))
        summary.video_files = len({entry.video for entry in members if entry.video is not None})
        summary.missing_videos = sum(entry.video is None for entry in members)
        usable_labels = []
        for entry in members:
            counts, usable = _entry_counts(index, entry)
            entries.append(counts)
            usable_labels.append(usable)
            for key in ("label_lines", "missing_label_lines", "face_frames", "no_face_frames", "usable_frames"):
                setattr(summary, key, getattr(summary, key) + getattr(counts, key))
            summary.count_mismatches += not counts.count_fits
        if usable_labels:
            stacked = np.concatenate(usable_labels)
            summary.valence_histogram = bin_counts(stacked[:, 0]).tolist()
            summary.arousal_histogram = bin_counts(stacked[:, 1]).tolist()
        splits.append(summary)
    return DatasetReport(
        layout=index.layout.describe(),
        splits=splits,
        entries=entries,
        errors=[problem for problem in problems if problem.severity is Severity.ERROR],
        warnings=[problem for problem in problems if problem.severity is Severity.WARNING],
    )


def check_dataset(
    index: DatasetIndex, *, verify_images: bool = False, progress: ProgressFn = no_progress
) -> DatasetReport:
    """Summarise ``index``, after decoding every face image when ``verify_images`` is set."""
    problems = list(index.problems)
    if verify_images:
        problems += verify_face_images(index, progress=progress)
    return summarise(index, problems)


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
        "-5 lines",
        "faces",
        "no face",
        "usable",
        "count",
    ):
        table.add_column(column, justify="left" if column in ("entry", "split", "video", "count") else "right")
    for entry in report.entries:
        table.add_row(
            entry.name,
            entry.split.value,
            Path(entry.video).name if entry.video else "[red]missing[/red]",
            "-" if entry.fps is None else f"{entry.fps:g}",
            "-" if entry.video_frames is None else f"{entry.video_frames:,}",
            f"{entry.label_lines:,}" if entry.split.is_labelled else "-",
            f"{entry.missing_label_lines:,}" if entry.split.is_labelled else "-",
            f"{entry.face_frames:,}",
            f"{entry.no_face_frames:,}",
            f"{entry.usable_frames:,}" if entry.split.is_labelled else "-",
            "ok" if entry.count_fits else "[red]mismatch[/red]",
        )
    return table
