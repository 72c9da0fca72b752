"""Aligning predictions with labels and scoring them."""

from __future__ import annotations

import numpy as np
import pytest

from abaw.errors import DataError, PredictionError
from abaw.formats.types import PredictionSet, SubmissionFormat, VideoPrediction
from abaw.formats.writers import write_per_video
from abaw.scoring.alignment import align_predictions
from abaw.scoring.metrics import score_frames
from abaw.scoring.report import score_predictions

# --------------------------------------------------------------------------
# Aligning with labels


def per_video_set(values: dict[str, np.ndarray]) -> PredictionSet:
    videos = {name: VideoPrediction.consecutive(v, f"{name}.txt") for name, v in values.items()}
    return PredictionSet(SubmissionFormat.PER_VIDEO, "sub", videos)


def test_align_per_video_lengths():
    labels = {"a": np.array([[0.1, 0.1], [0.2, 0.2], [0.3, -5]]), "b": np.array([[0.5, 0.5], [-5, -5]])}
    predictions = per_video_set({"a": np.zeros((2, 2)), "b": np.ones((2, 2)), "extra": np.zeros((1, 2))})
    with pytest.raises(PredictionError) as caught:
        align_predictions(predictions, labels)
    assert str(caught.value) == "a.txt: 2 prediction lines, expected 3 (one per video frame)"
    with pytest.raises(PredictionError, match="2 prediction lines, expected 3 or 4"):
        align_predictions(predictions, labels, {"a": 4})
    aligned = align_predictions(predictions, labels, {"a": 2})
    assert aligned.slices == {"a": slice(0, 2), "b": slice(2, 4)}
    assert aligned.labels.tolist() == [[0.1, 0.1], [0.2, 0.2], [0.5, 0.5], [-5, -5]]
    assert aligned.predictions.tolist() == [[0, 0], [0, 0], [1, 1], [1, 1]]
    assert any("1 label row(s) past their last frame (0 annotated)" in note for note in aligned.notes)
    assert any("1 video(s) without labels: extra" in note for note in aligned.notes)
    pred, _, slices = aligned  # unpacks like the tuple it stands for
    assert pred is aligned.predictions and slices is aligned.slices


def test_align_names_missing_videos():
    predictions = per_video_set({"a": np.zeros((1, 2))})
    with pytest.raises(PredictionError, match="no predictions for 2 of the 3 labelled videos: b, c") as caught:
        align_predictions(predictions, {"a": np.zeros((1, 2)), "b": np.zeros((1, 2)), "c": np.zeros((1, 2))})
    assert caught.value.path == "sub"
    with pytest.raises(DataError):
        align_predictions(predictions, {})


def test_align_single_file_needs_every_annotated_frame():
    labels = {"v": np.array([[0.1, 0.1], [-5, -5], [0.3, 0.3], [0.4, 0.4], [0.5, 0.5]])}
    sparse = VideoPrediction([1, 3, 4, 5, 9], np.arange(10.0).reshape(5, 2) / 10, "s.csv")
    predictions = PredictionSet(SubmissionFormat.SINGLE_FILE, "s.csv", {"v": sparse})
    aligned = align_predictions(predictions, labels)
    assert aligned.labels[:, 0].tolist() == [0.1, 0.3, 0.4, 0.5]
    assert aligned.predictions[:, 0].tolist() == [0.0, 0.2, 0.4, 0.6]
    assert any("past the last label row" in note for note in aligned.notes)
    gappy = VideoPrediction([1, 2, 3], np.zeros((3, 2)), "s.csv")
    predictions.videos["v"] = gappy
    with pytest.raises(PredictionError) as caught:
        align_predictions(predictions, labels)
    assert str(caught.value) == "s.csv: video 'v': no prediction for the annotated image v/00004.jpg (and 1 more)"
    # The decoded frame count excuses label rows past the video's end.
    predictions.videos["v"] = VideoPrediction([1, 2, 3, 4], np.zeros((4, 2)), "s.csv")
    aligned = align_predictions(predictions, labels, {"v": 4})
    assert len(aligned.labels) == 4
    assert any("(1 annotated) are not scored" in note for note in aligned.notes)


def test_score_predictions_concatenates_videos(tmp_path):
    rng = np.random.default_rng(3)
    labels = {name: rng.uniform(-1, 1, (n, 2)) for name, n in {"a": 30, "b": 50}.items()}
    labels["a"][:4] = -5
    values = {name: label + rng.normal(0, 0.3, label.shape) for name, label in labels.items()}
    predictions = per_video_set(values)
    report = score_predictions(predictions, labels, per_video=True)
    expected = score_frames(np.concatenate([values["a"], values["b"]]), np.concatenate([labels["a"], labels["b"]]))
    assert report.scores == expected
    assert report.scores.frames == 76
    assert report.per_video["a"] == score_frames(values["a"], labels["a"])
    assert report.videos == 2
    assert report.to_dict()["per_video"]["b"]["frames"] == 50
    # From a path, as written by the writer.
    folder = write_per_video(tmp_path / "sub", predictions.videos, {n: len(v) for n, v in labels.items()})
    from_disk = score_predictions(folder, labels)
    assert from_disk.per_video is None
    assert from_disk.scores.ccc_mean == pytest.approx(expected.ccc_mean, abs=1e-5)


def test_score_predictions_unannotated():
    predictions = per_video_set({"a": np.zeros((2, 2)), "b": np.zeros((2, 2))})
    with pytest.raises(DataError, match="every label is -5"):
        score_predictions(predictions, {"a": np.full((2, 2), -5.0)})
    report = score_predictions(predictions, {"a": np.full((2, 2), -5.0), "b": np.eye(2)}, per_video=True)
    assert list(report.per_video) == ["b"]
    assert any("no annotated frame" in note and ": a" in note for note in report.notes)


def test_score_says_when_it_clips_out_of_range_predictions():
    labels = {"a": np.array([[0.5, 0.5], [-5, -5], [0.1, 0.2]]), "b": np.array([[0.2, 0.1], [0.3, 0.3]])}
    predictions = per_video_set({"a": [[1.5, 0.0], [9.0, 9.0], [0.1, -1.25]], "b": [[0.2, 0.1], [0.3, 0.3]]})
    report = score_predictions(predictions, labels)
    # The -5 row of 'a' is not scored, so its 9s are not counted.
    clipped = (
        "2 predicted value(s) outside [-1, 1] (largest 1.5) were clipped to [-1, 1] before scoring, in 1 video(s): a"
    )
    assert clipped in report.notes
    in_range = score_predictions(per_video_set({"a": np.clip(labels["a"], -1, 1), "b": labels["b"]}), labels)
    assert not any("clipped" in note for note in in_range.notes)
