"""The two submission formats, their headers, and the predictions they carry.

Two formats exist (see ``ABAW-FORMATS.md``):

* per-video (2020-2022): a folder of ``<name>.txt`` files, header
  ``valence,arousal``, line ``i`` after the header is frame ``i`` (1-based);
* single-file (2023 on): one file, header ``image_location,valence,arousal``,
  rows ``<name>/00001.jpg,v,a`` in any order.

Either may come as a folder, a file, or a ``.zip`` of them
(:mod:`abaw.formats.containers`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np

PER_VIDEO_HEADER = ("valence", "arousal")
SINGLE_FILE_HEADER = ("image_location", "valence", "arousal")
# RE2 and Python's re agree on this pattern; [0-9] rather than \d so that
# non-ASCII digits are refused whichever string backend pandas uses.
IMAGE_LOCATION_PATTERN = r"[^/\\]+/[0-9]{5}\.jpg"
IMAGE_LOCATION_FORM = "<video>/<5-digit frame>.jpg"
PREDICTION_SUFFIXES = (".txt", ".csv")


class SubmissionFormat(str, Enum):
    """The two layouts of a challenge submission."""

    PER_VIDEO = "per-video"
    SINGLE_FILE = "single-file"


@dataclass
class VideoPrediction:
    """Predicted valence and arousal for some frames of one video.

    Attributes:
        frames: ``int64`` 1-based frame numbers, strictly increasing.
        values: ``float64`` array ``(len(frames), 2)``: valence, arousal.
        source: Where the values were read from, for messages.

    Raises:
        ValueError: when the arrays break the rules above.

    Example:
        >>> p = VideoPrediction([1, 2, 5], [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]])
        >>> p.frames.tolist(), len(p)
        ([1, 2, 5], 3)
    """

    frames: np.ndarray
    values: np.ndarray
    source: str = ""

    def __post_init__(self) -> None:
        frames = np.asarray(self.frames)
        if frames.size == 0:
            frames = frames.astype(np.int64)
        if frames.ndim != 1 or frames.dtype.kind not in "iu":
            raise ValueError(f"frames must be a 1-D integer array, got {frames.dtype} of shape {frames.shape}")
        values = np.asarray(self.values, dtype=np.float64)
        if values.size == 0:
            values = values.reshape(0, 2)
        if values.shape != (len(frames), 2):
            raise ValueError(f"values must have shape ({len(frames)}, 2), got {values.shape}")
        self.frames = frames.astype(np.int64, copy=False)
        self.values = values
        if len(frames) and (self.frames[0] < 1 or (np.diff(self.frames) <= 0).any()):
            raise ValueError("frames must be 1-based and strictly increasing")

    @classmethod
    def consecutive(cls, values: np.ndarray, source: str = "") -> VideoPrediction:
        """Predictions for frames ``1..len(values)``, as a per-video file holds them.

        Example:
            >>> VideoPrediction.consecutive([[0.0, 0.1], [0.2, 0.3]]).frames.tolist()
            [1, 2]
        """
        values = np.asarray(values, dtype=np.float64)
        return cls(np.arange(1, len(values) + 1, dtype=np.int64), values, source)

    def __len__(self) -> int:
        return len(self.frames)


@dataclass
class PredictionSet:
    """Everything read from one submission.

    Attributes:
        format: Which layout it had.
        source: The folder, file or archive read.
        videos: Predictions by video name (suffix kept), in sorted name order.
        notes: Things the reader skipped or noticed, one line each.
    """

    format: SubmissionFormat
    source: str
    videos: dict[str, VideoPrediction]
    notes: list[str] = field(default_factory=list)

    @property
    def lines(self) -> int:
        """Prediction lines (rows) read, over all videos."""
        return sum(len(video) for video in self.videos.values())


__all__ = [
    "IMAGE_LOCATION_FORM",
    "IMAGE_LOCATION_PATTERN",
    "PER_VIDEO_HEADER",
    "PREDICTION_SUFFIXES",
    "SINGLE_FILE_HEADER",
    "PredictionSet",
    "SubmissionFormat",
    "VideoPrediction",
]
