"""Pairing each labelled frame with its prediction, in either submission format.

Decisions:

* Predictions for videos that have no labels are not an error: scoring a
  split with predictions for more videos than it holds is common. They are
  ignored and named in a note.
* Per-video files may have one line per label row or one per decoded frame
  (often one less in Aff-Wild2); label rows past the last frame are left
  out and counted in a note.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from abaw.data.annotations import valid_rows
from abaw.data.frames import image_location
from abaw.errors import DataError, PredictionError
from abaw.formats.types import PredictionSet, SubmissionFormat, VideoPrediction
from abaw.messages import some


@dataclass
class AlignedFrames:
    """Predictions and labels of the same frames, all videos concatenated.

    Unpacks like a tuple: ``predictions, labels, slices = align_predictions(...)``.

    Attributes:
        predictions: ``(n, 2)`` ``float64`` predicted values.
        labels: ``(n, 2)`` ``float64`` labels, -5 where not annotated.
        slices: Rows of each video, in sorted name order.
        notes: What was left out and why.
    """

    predictions: np.ndarray
    labels: np.ndarray
    slices: dict[str, slice]
    notes: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator:
        return iter((self.predictions, self.labels, self.slices))


def align_predictions(
    predictions: PredictionSet,
    labels: Mapping[str, np.ndarray],
    line_counts: Mapping[str, int] | None = None,
) -> AlignedFrames:
    """Pair each labelled frame with its prediction, videos in sorted name order.

    Per-video predictions must have one line per label row, or one per
    decoded video frame (``line_counts[name]``, which in Aff-Wild2 is often
    one less than the label rows: the label rows past the last frame are then
    left out and counted in a note). Single-file predictions must cover every
    annotated frame; frames that have no prediction and no annotation are
    left out, and so are, when ``line_counts`` is given, annotated label rows
    past the video's last frame.

    Args:
        predictions: What :func:`read_predictions` returned.
        labels: Label arrays ``(rows, 2)`` by video name, -5 where not annotated.
        line_counts: Decoded frame count by video name, where known.

    Raises:
        PredictionError: naming the videos without predictions, the per-video
            file with the wrong number of lines, or the first annotated image
            a single file has no row for.
        DataError: if ``labels`` is empty.

    Example:
        >>> preds = PredictionSet(SubmissionFormat.PER_VIDEO, "p", {"v": VideoPrediction.consecutive([[0.1, 0.2]] * 2)})
        >>> pred, true, slices = align_predictions(preds, {"v": np.array([[0.1, 0.2], [0.3, 0.4], [-5, -5]])}, {"v": 2})
        >>> pred.shape, slices["v"]
        ((2, 2), slice(0, 2, None))
    """
    if not labels:
        raise DataError("no labelled videos to score")
    names = sorted(labels)
    missing = [name for name in names if name not in predictions.videos]
    if missing:
        raise PredictionError(
            f"no predictions for {len(missing)} of the {len(names)} labelled videos: {some(missing)}",
            path=predictions.source,
        )
    counts = line_counts or {}
    single = predictions.format is SubmissionFormat.SINGLE_FILE
    pred_parts, label_parts, slices = [], [], {}
    cut = _Cut()
    offset = 0
    for name in names:
        truth = np.asarray(labels[name], dtype=np.float64)
        if truth.ndim != 2 or truth.shape[1] != 2:
            raise ValueError(f"labels of '{name}' must have shape (rows, 2), got {truth.shape}")
        video = predictions.videos[name]
        align = _align_single if single else _align_per_video
        pred, truth = align(name, video, truth, counts.get(name), cut)
        pred_parts.append(pred)
        label_parts.append(truth)
        slices[name] = slice(offset, offset + len(pred))
        offset += len(pred)
    notes = cut.notes()
    extra = sorted(set(predictions.videos) - set(labels))
    if extra:
        notes.append(f"ignored predictions for {len(extra)} video(s) without labels: {some(extra)}")
    return AlignedFrames(np.concatenate(pred_parts), np.concatenate(label_parts), slices, notes)


@dataclass
class _Cut:
    """Tallies of label rows and predictions left out, for one summary note each."""

    short_videos: int = 0
    short_rows: int = 0
    short_annotated: int = 0
    beyond_videos: int = 0
    beyond_rows: int = 0

    def notes(self) -> list[str]:
        notes = []
        if self.short_videos:
            notes.append(
                f"{self.short_videos} video(s) have predictions for fewer frames than label rows; "
                f"{self.short_rows} label row(s) past their last frame "
                f"({self.short_annotated} annotated) are not scored"
            )
        if self.beyond_videos:
            notes.append(
                f"ignored {self.beyond_rows} prediction(s) past the last label row in {self.beyond_videos} video(s)"
            )
        return notes


def _align_per_video(
    name: str, video: VideoPrediction, truth: np.ndarray, frame_count: int | None, cut: _Cut
) -> tuple[np.ndarray, np.ndarray]:
    lines, rows = len(video), len(truth)
    if lines != rows and lines != frame_count:
        expected = f"{rows}" if frame_count in (None, rows) else f"{rows} or {frame_count}"
        raise PredictionError(
            f"{lines} prediction lines, expected {expected} (one per video frame)",
            path=video.source or f"{name}.txt",
        )
    used = min(lines, rows)
    if used < rows:
        cut.short_videos += 1
        cut.short_rows += rows - used
        cut.short_annotated += int(valid_rows(truth[used:]).sum())
    elif lines > rows:
        cut.beyond_videos += 1
        cut.beyond_rows += lines - rows
    return video.values[:used], truth[:used]


def _align_single(
    name: str, video: VideoPrediction, truth: np.ndarray, frame_count: int | None, cut: _Cut
) -> tuple[np.ndarray, np.ndarray]:
    rows = len(truth)
    inside = video.frames <= rows
    index = video.frames[inside] - 1
    have = np.zeros(rows, dtype=bool)
    have[index] = True
    missing = valid_rows(truth) & ~have
    if frame_count is not None and frame_count < rows:
        past = missing.copy()
        past[:frame_count] = False
        if past.any():
            cut.short_videos += 1
            cut.short_rows += int(past.sum())
            cut.short_annotated += int(past.sum())
        missing[frame_count:] = False
    if missing.any():
        first = int(np.argmax(missing)) + 1
        more = int(missing.sum()) - 1
        raise PredictionError(
            f"video '{name}': no prediction for the annotated image {image_location(name, first)}"
            + (f" (and {more} more)" if more else ""),
            path=video.source or None,
        )
    if not inside.all():
        cut.beyond_videos += 1
        cut.beyond_rows += int((~inside).sum())
    return video.values[inside], truth[index]


__all__ = ["AlignedFrames", "align_predictions"]
