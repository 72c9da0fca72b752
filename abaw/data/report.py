"""What ``abaw data check`` reports: per-split counts, label histograms and problems."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from abaw.data.annotations import MISSING_LABEL, valid_rows
from abaw.data.bins import N_AFFECT_BINS, bin_counts
from abaw.data.entries import Entry, Problem, Severity
from abaw.data.frame_counts import FrameCounts
from abaw.data.index import DatasetIndex, count_decoded_video_frames
from abaw.data.index_build import verify_face_images
from abaw.data.layout import Split
from abaw.errors import DataError
from abaw.progress import ProgressFn, no_progress


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
        count_disagreements: Entries whose video's header, packet and decoded counts differ.
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
    count_disagreements: int = 0
    valence_histogram: list[int] = field(default_factory=lambda: [0] * N_AFFECT_BINS)
    arousal_histogram: list[int] = field(default_factory=lambda: [0] * N_AFFECT_BINS)


@dataclass
class EntrySummary:
    """The counts of one entry, for ``--per-video`` and the JSON report.

    ``video_frames`` is what the video decodes to (D when counted, else P);
    ``header_frames``, ``packet_frames`` and ``decoded_frames`` are N, P and D;
    ``frame_count`` is the lines of its prediction file and ``frame_count_source`` why.
    """

    name: str
    split: Split
    video: str | None
    fps: float | None
    video_frames: int | None
    header_frames: int | None
    packet_frames: int | None
    decoded_frames: int | None
    counts_disagree: bool
    frame_count: int | None
    frame_count_source: str | None
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
    frame_counts: FrameCounts | None = None

    @property
    def videos_disagreeing(self) -> tuple[int, int]:
        """(videos whose header, packet and decoded counts differ, videos read)."""
        videos = {entry.video: entry.counts_disagree for entry in self.entries if entry.packet_frames is not None}
        return sum(videos.values()), len(videos)

    def frame_count_lines(self) -> list[str]:
        """What ``data check`` prints about frame counts: disagreeing videos and the test entries' source."""
        disagreeing, videos = self.videos_disagreeing
        lines = [
            f"video frame counts: {disagreeing} of {videos} videos have header (N), packet (P) and decoded (D) "
            "counts that disagree" + (" (see --per-video)" if disagreeing else "")
        ]
        if self.frame_counts is not None:
            lines.append(f"frame-count rule for test entries: {self.frame_counts.rule_description}")
            lines.append(f"test frame counts from: {self.frame_counts.summary()}")
        return lines

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
            "videos_disagreeing": dict(zip(("videos", "of"), self.videos_disagreeing, strict=True)),
            "frame_counts": None if self.frame_counts is None else self.frame_counts.to_dict(),
        }

    @property
    def problems(self) -> list[Problem]:
        """Errors, then warnings."""
        return [*self.errors, *self.warnings]


def _entry_counts(index: DatasetIndex, entry: Entry, counts: FrameCounts) -> tuple[EntrySummary, np.ndarray]:
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
        header_frames=entry.header_frames,
        packet_frames=entry.packet_frames,
        decoded_frames=entry.decoded_frames,
        counts_disagree=entry.counts_disagree,
        frame_count=counts.get(entry.name),
        frame_count_source=counts.sources.get(entry.name),
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
    problems = list(index.problems if problems is None else problems)
    splits, entries = [], []
    test_counts = index.frame_counts(Split.TEST)
    problems += [
        Problem(Severity.ERROR, message, name, Split.TEST)
        for name, message in test_counts.unknown.items()
        if message not in {problem.message for problem in problems}
    ]
    for split in Split:
        members = index.split(split)
        split_counts = test_counts if split is Split.TEST else index.frame_counts(split)
        summary = SplitSummary(split=split, videos=len(members))
        summary.video_files = len({entry.video for entry in members if entry.video is not None})
        summary.missing_videos = sum(entry.video is None for entry in members)
        usable_labels = []
        for entry in members:
            counts, usable = _entry_counts(index, entry, split_counts)
            summary.count_disagreements += entry.counts_disagree
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
        frame_counts=test_counts,
    )


def check_dataset(
    index: DatasetIndex,
    *,
    verify_images: bool = False,
    decode_frames: bool = False,
    progress: ProgressFn = no_progress,
) -> DatasetReport:
    """Summarise ``index``, after decoding every face image when ``verify_images`` is set.

    With ``decode_frames``, every video not yet decoded is decoded to count
    its frames D (kept in the index cache) before the frame-count rule is chosen.

    Raises:
        DataError: when the root holds nothing of Aff-Wild2 (no annotations,
            crops or test list): saying where it looked, before any table.
    """
    if index.layout.found_nothing:
        raise DataError(f"{index.layout.annotations_missing()}; nothing else of Aff-Wild2 was found there either")
    if decode_frames:
        count_decoded_video_frames(index, progress=progress)
    problems = list(index.problems)
    if verify_images:
        problems += verify_face_images(index, progress=progress)
    return summarise(index, problems)
