"""Scoring predictions against labels with the challenge metric: :func:`score_predictions`.

Values outside [-1, 1] are clipped by the metric; the report says how many
and in which videos.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from abaw.data.annotations import valid_rows
from abaw.errors import DataError
from abaw.formats.readers import read_predictions
from abaw.formats.types import PredictionSet
from abaw.messages import some
from abaw.scoring.alignment import AlignedFrames, align_predictions
from abaw.scoring.metrics import AffectScores, score_frames


def _clipped_note(aligned: AlignedFrames) -> str | None:
    """Say how many scored predictions lie outside [-1, 1] (the metric clips them), or ``None``."""
    if not len(aligned.predictions) or -1.0 <= aligned.predictions.min() <= aligned.predictions.max() <= 1.0:
        return None  # the usual case, found with two reductions
    outside = (np.abs(aligned.predictions) > 1.0) & valid_rows(aligned.labels)[:, None]
    if not outside.any():
        return None
    videos = [name for name, rows in aligned.slices.items() if outside[rows].any()]
    largest = np.abs(aligned.predictions[outside]).max()
    return (
        f"{int(outside.sum())} predicted value(s) outside [-1, 1] (largest {largest:g})"
        f" were clipped to [-1, 1] before scoring, in {len(videos)} video(s): {some(videos)}"
    )


@dataclass
class ScoreReport:
    """The result of :func:`score_predictions`.

    Attributes:
        scores: Over all annotated frames of all labelled videos, concatenated.
        per_video: Scores of each video (``None`` unless asked for). Videos
            without any annotated frame are left out (see ``notes``).
        notes: What was left out and why.
        videos: How many labelled videos were scored.
    """

    scores: AffectScores
    per_video: dict[str, AffectScores] | None
    notes: list[str]
    videos: int

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dictionary."""
        result: dict[str, object] = {"videos": self.videos, **self.scores.to_dict(), "notes": list(self.notes)}
        if self.per_video is not None:
            result["per_video"] = {name: scores.to_dict() for name, scores in self.per_video.items()}
        return result


def score_predictions(
    predictions: PredictionSet | str | os.PathLike,
    labels: Mapping[str, np.ndarray],
    line_counts: Mapping[str, int] | None = None,
    per_video: bool = False,
) -> ScoreReport:
    """Score predictions against labels with the challenge metric.

    Args:
        predictions: A :class:`PredictionSet`, or a path to read one from.
        labels: Label arrays ``(rows, 2)`` by video name, -5 where not annotated.
        line_counts: Decoded frame count by video name (see :func:`align_predictions`).
        per_video: Also score each video on its own (for analysis only: the
            challenge score is over all frames concatenated).

    Raises:
        PredictionError: see :func:`read_predictions` and :func:`align_predictions`.
        DataError: if no labelled frame is annotated.

    Example:
        >>> from abaw.formats.types import SubmissionFormat, VideoPrediction
        >>> video = VideoPrediction.consecutive([[0.1, 0.2], [0.3, 0.1]])
        >>> preds = PredictionSet(SubmissionFormat.PER_VIDEO, "p", {"v": video})
        >>> score_predictions(preds, {"v": video.values}).scores.ccc_mean
        1.0
    """
    if not isinstance(predictions, PredictionSet):
        predictions = read_predictions(predictions)
    aligned = align_predictions(predictions, labels, line_counts)
    notes = [*predictions.notes, *aligned.notes]
    if not valid_rows(aligned.labels).any():
        raise DataError("no labelled frame is annotated (every label is -5)")
    clipped = _clipped_note(aligned)
    if clipped:
        notes.append(clipped)
    scores = score_frames(aligned.predictions, aligned.labels)
    videos = None
    if per_video:
        videos = {}
        unannotated = []
        for name, rows in aligned.slices.items():
            if valid_rows(aligned.labels[rows]).any():
                videos[name] = score_frames(aligned.predictions[rows], aligned.labels[rows])
            else:
                unannotated.append(name)
        if unannotated:
            notes.append(
                f"{len(unannotated)} video(s) have no annotated frame and no score of their own: {some(unannotated)}"
            )
    return ScoreReport(scores=scores, per_video=videos, notes=notes, videos=len(aligned.slices))


__all__ = ["ScoreReport", "score_predictions"]
