"""What a dataset index holds: its entries, the problems found in its files, and what training may use.

Problems are collected rather than raised, so that ``abaw data check`` can
list all of them at once. Each problem says what it does to the work
(:class:`Effect`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import numpy as np

from abaw.data.frame_counts import FrameFacts, LearnedRule
from abaw.data.frames import frame_image_path
from abaw.data.layout import Split

FRAME_COUNT_TOLERANCE = 2
"""Annotation files may hold up to this many label lines more than the video has frames."""


class Severity(str, Enum):
    """How bad a problem is: errors make a dataset unusable, warnings do not.

    Example:
        >>> Severity("warning") is Severity.WARNING
        True
    """

    ERROR = "error"
    WARNING = "warning"


class Effect(str, Enum):
    """What a problem does to the work: it blocks a command, makes training skip its entry, or only warns.

    Example:
        >>> Effect("skipped").description
        'skipped by training'
    """

    BLOCKS = "blocks"
    SKIPPED = "skipped"
    WARNING = "warning"

    @property
    def description(self) -> str:
        """How ``abaw data check`` words the effect."""
        return {
            Effect.BLOCKS: "blocks",
            Effect.SKIPPED: "skipped by training",
            Effect.WARNING: "warning only",
        }[self]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the dataset, phrased as a one-line message naming the file.

    Attributes:
        severity: Error (a file is corrupt or unreadable) or warning (odd but consistent data).
        message: ``path[:line]: what is wrong``.
        entry: The entry concerned, if one.
        split: The split concerned; ``None`` when the whole dataset is.
        effect: What it does to the work; by default an error blocks and a warning only warns.
    """

    severity: Severity
    message: str
    entry: str | None = None
    split: Split | None = None
    effect: Effect | None = None

    def __post_init__(self) -> None:
        if self.effect is None:
            default = Effect.BLOCKS if self.severity is Severity.ERROR else Effect.WARNING
            object.__setattr__(self, "effect", default)

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready form (also how the index cache stores it)."""
        return {
            "severity": self.severity.value,
            "effect": self.effect.value,
            "message": self.message,
            "entry": self.entry,
            "split": None if self.split is None else self.split.value,
        }


@dataclass(frozen=True)
class SkippedEntry:
    """An entry that training (or scoring) leaves out, and why.

    Attributes:
        name: The entry.
        split: Its split.
        reason: The one-line problem that makes it unusable, naming the file.
    """

    name: str
    split: Split
    reason: str

    def to_dict(self) -> dict[str, str]:
        """A JSON-ready form."""
        return {"name": self.name, "split": self.split.value, "reason": self.reason}


@dataclass(frozen=True)
class EntrySelection:
    """The entries of some splits that can be used, and those left out.

    Attributes:
        entries: Usable entries, split then name order.
        skipped: Entries left out, with the reason for each.
    """

    entries: list[Entry]
    skipped: list[SkippedEntry]

    @property
    def names(self) -> list[str]:
        """Names of the usable entries."""
        return [entry.name for entry in self.entries]


@dataclass(frozen=True)
class Entry:
    """One annotated person (or test entry) and where its data is.

    Attributes:
        name: The annotation or test-list name, ``_left``/``_right`` kept.
        split: Train, validation or test.
        annotation: The annotation file (``None`` for test entries).
        frames_dir: The entry's face-crop folder, if found.
        video: The video file the entry comes from, if found.
        label_rows: Label lines after the header (0 for test entries).
        face_frames: Sorted 1-based frame numbers that have a face image.
        header_frames: The video container's own frame count N, if it gives one.
        packet_frames: Non-empty video packets P, if the video was read.
        decoded_frames: Frames the video decodes to D, once counted (``data check --decode-frames``).
        fps: The video's frame rate, if known.
        has_audio: Whether the video has an audio track, if known.
        crop_sources: Where the face images are when not all are ``frames_dir/NNNNN.jpg``:
            ``(folder, suffix)`` pairs (the entry's crops split over two
            ``cropped_aligned*`` folders, or images named ``NNNNN.JPG``).
        face_sources: Per face frame, its pair in ``crop_sources`` (``None`` with no ``crop_sources``).
    """

    name: str
    split: Split
    annotation: Path | None
    frames_dir: Path | None
    video: Path | None
    label_rows: int
    face_frames: np.ndarray = field(repr=False, compare=False)
    header_frames: int | None = None
    packet_frames: int | None = None
    decoded_frames: int | None = None
    fps: float | None = None
    has_audio: bool | None = None
    crop_sources: tuple[tuple[Path, str], ...] = ()
    face_sources: np.ndarray | None = field(default=None, repr=False, compare=False)

    def image_path(self, frame: int) -> Path:
        """The face image of 1-based ``frame``, in the folder and with the suffix it has (it may not exist).

        Raises:
            ValueError: when the entry has no face-crop folder.
        """
        if self.frames_dir is None:
            raise ValueError(f"{self.name} has no face-crop folder")
        if self.face_sources is not None and len(self.face_frames):
            position = int(np.searchsorted(self.face_frames, frame))
            if position < len(self.face_frames) and self.face_frames[position] == frame:
                folder, suffix = self.crop_sources[int(self.face_sources[position])]
                return frame_image_path(folder, frame, suffix)
        return frame_image_path(self.frames_dir, frame)

    @property
    def video_frames(self) -> int | None:
        """Frames the video decodes to: D when counted, else P (equal for the codecs of Aff-Wild2)."""
        return self.packet_frames if self.decoded_frames is None else self.decoded_frames

    @property
    def counts_disagree(self) -> bool:
        """Whether the video's header, packet and (when counted) decoded counts differ."""
        known = {count for count in (self.header_frames, self.packet_frames, self.decoded_frames) if count is not None}
        return len(known) > 1

    @property
    def facts(self) -> FrameFacts:
        """What the entry's own files say about its frames, for the frame-count rules."""
        last_crop = int(self.face_frames[-1]) if len(self.face_frames) else None
        return FrameFacts(self.header_frames, self.packet_frames, self.decoded_frames, last_crop)

    @property
    def frame_count(self) -> int:
        """Frames the entry spans by its own files: what its samples and audio features cover.

        The label lines; for an entry without labels, the frames its video
        decodes to, or its last face image. The line count of its prediction
        file is :meth:`DatasetIndex.frame_counts`, which may be larger.
        """
        if self.label_rows:
            return self.label_rows
        if self.video_frames is not None:
            return self.video_frames
        return int(self.face_frames[-1]) if len(self.face_frames) else 0

    @property
    def label_count_fits_video(self) -> bool:
        """False when the label lines cannot belong to the video: not ``frames`` to ``frames + 2``."""
        if self.annotation is None or not self.label_rows or self.video_frames is None:
            return True
        return 0 <= self.label_rows - self.video_frames <= FRAME_COUNT_TOLERANCE

    def has_face(self, frames: np.ndarray) -> np.ndarray:
        """Boolean mask: which of the 1-based ``frames`` have a face image."""
        if not len(self.face_frames):
            return np.zeros(len(frames), dtype=bool)
        position = np.minimum(np.searchsorted(self.face_frames, frames), len(self.face_frames) - 1)
        return self.face_frames[position] == frames


def unusable_video(split: Split) -> Effect:
    """The effect of an unreadable video: its labelled entry is skipped; a test entry is counted from its crops."""
    return Effect.SKIPPED if split.is_labelled else Effect.WARNING


@dataclass
class IndexContents:
    """What indexing a dataset finds, as built from its files or read from the cache.

    Attributes:
        entries: Entries by name, sorted by name.
        problems: Everything found wrong, errors and warnings.
        label_values: The labels of every entry, one after another, ``(rows, 2)``.
        label_offsets: Each entry's ``(start, stop)`` rows in ``label_values``.
        learned_rule: The frame-count rule learned from the labelled entries, when already known.
    """

    entries: dict[str, Entry]
    problems: list[Problem]
    label_values: np.ndarray = field(repr=False)
    label_offsets: dict[str, tuple[int, int]] = field(repr=False)
    learned_rule: LearnedRule | None = None
