"""From a checkpoint to prediction files: a labelled split for scoring, or the test set as a submission.

``abaw predict`` writes per-video files for a split (what ``abaw score``
reads); ``abaw predict-test`` writes the official files for every test
video, zips them and checks the result with the submission checker, so a
submission that would be rejected is never reported as ready.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from abaw.data.audio import AudioFeatureConfig, load_audio_features
from abaw.data.entries import Entry, SkippedEntry
from abaw.data.frame_counts import FrameCounts
from abaw.data.index import DatasetIndex
from abaw.data.layout import Split
from abaw.data.samples import FaceFrameDataset, select_frames
from abaw.errors import CheckpointError
from abaw.formats.check import SubmissionReport, check_submission
from abaw.formats.readers import read_sample_counts
from abaw.formats.types import SubmissionFormat, VideoPrediction
from abaw.formats.writers import write_per_video, write_single_file, zip_submission
from abaw.model import AffectModel
from abaw.outputs import OutputKind, check_output_dir, check_replaceable, layout_sources, staged_output_dir
from abaw.prediction.smoothing import SmoothingPlan, apply_smoothing
from abaw.progress import ProgressFn, no_progress
from abaw.runtime.checkpoint import load_checkpoint, model_from_checkpoint
from abaw.runtime.devices import resolve_device
from abaw.runtime.evaluation import predict_dataset, score_split
from abaw.runtime.rundir import resolve_checkpoint
from abaw.scoring.report import ScoreReport

if TYPE_CHECKING:
    from abaw.prediction.ensemble import Ensemble

WarnFn = Callable[[str], None]


@dataclass
class TrainedModel:
    """A model restored from a checkpoint, with what it needs to see its inputs as in training.

    Attributes:
        model: The network, in eval mode, on ``device``.
        device: Where it computes.
        checkpoint: The file it came from.
        epoch: The epoch the checkpoint was written after.
        audio_config: The audio features it was trained with, or ``None``.
        audio_mean, audio_std: The normalisation of those features in training.
        train_config: The run's stored settings (``TrainConfig.to_dict()``), e.g. its noise.
    """

    model: AffectModel
    device: torch.device
    checkpoint: Path
    epoch: int
    audio_config: AudioFeatureConfig | None = None
    audio_mean: np.ndarray | None = None
    audio_std: np.ndarray | None = None
    train_config: dict[str, Any] = field(default_factory=dict)

    @property
    def variant(self) -> str:
        """The registered variant name."""
        return self.model.config.variant

    def predict(
        self,
        index: DatasetIndex,
        split: Split,
        *,
        batch_size: int = 256,
        workers: int = 2,
        progress: ProgressFn = no_progress,
    ) -> dict[str, VideoPrediction]:
        """Every face frame of ``split`` (see :func:`predict_entries`): the ensemble member's protocol."""
        return predict_entries(self, index, split, batch_size=batch_size, workers=workers, progress=progress)


def load_trained_model(path: str | os.PathLike, device: str = "auto") -> TrainedModel:
    """Restore a model onto ``device`` from a checkpoint of ``abaw train`` or a run folder (best, else last).

    Raises:
        CheckpointError: naming the file when it is missing, unreadable or does not fit the model.
    """
    path = resolve_checkpoint(path)
    return trained_model_from_checkpoint(load_checkpoint(path), path, device)


def trained_model_from_checkpoint(checkpoint: dict[str, Any], path: Path, device: str = "auto") -> TrainedModel:
    """Restore a model onto ``device`` from a loaded checkpoint of ``abaw train`` (read from ``path``).

    Raises:
        CheckpointError: naming ``path`` when the checkpoint does not fit the model.
    """
    target = resolve_device(device)
    model = model_from_checkpoint(checkpoint, path).to(target).eval()
    audio = checkpoint.get("audio")
    trained = TrainedModel(model, target, path, int(checkpoint.get("epoch", 0)), train_config=checkpoint["config"])
    if model.uses_audio:
        if not audio:
            raise CheckpointError("the model takes audio but the checkpoint has no audio settings", path=path)
        trained.audio_config = AudioFeatureConfig.from_dict(audio["config"])
        trained.audio_mean = audio["mean"].numpy()
        trained.audio_std = audio["std"].numpy()
    return trained


def inference_dataset(trained: TrainedModel, index: DatasetIndex, entries: Iterable[Entry]) -> FaceFrameDataset:
    """Every face frame of ``entries`` within its video, with the audio ``trained`` takes, scaled as in its training.

    Raises:
        DataError: audio features the model needs missing or out of date.
    """
    samples = select_frames(index, entries, labelled=False)
    audio_rows, audio_dim = None, 0
    if trained.audio_config is not None:
        stats = (trained.audio_mean, trained.audio_std)
        audio_rows = load_audio_features(index, trained.audio_config, names=samples.names, stats=stats).rows()
        audio_dim = trained.audio_config.dim
    return FaceFrameDataset(index, samples, audio_rows, audio_dim)


def predict_entries(
    trained: TrainedModel,
    index: DatasetIndex,
    split: Split,
    *,
    batch_size: int = 256,
    workers: int = 2,
    progress: ProgressFn = no_progress,
) -> dict[str, VideoPrediction]:
    """Predict every face frame of the entries of ``split`` (clean images, clipped values)."""
    return predict_dataset(
        trained.model,
        inference_dataset(trained, index, index.split(split)),
        batch_size=batch_size,
        workers=workers,
        bf16=trained.device.type == "cuda",
        progress=progress,
        description=f"predicting {split.value}",
    )


def write_split_predictions(
    out_dir: str | os.PathLike,
    predictions: dict[str, VideoPrediction],
    index: DatasetIndex,
    split: Split,
    *,
    force: bool = False,
    warn: WarnFn | None = None,
    progress: ProgressFn = no_progress,
) -> Path:
    """Per-video files for every entry of ``split``, as ``abaw score`` reads them.

    One line per frame of :meth:`DatasetIndex.frame_counts`: per label line
    for a labelled entry, so every labelled frame is scored. ``out_dir`` is
    abaw's output folder (see :mod:`abaw.outputs`), never in the dataset of ``index``.
    """
    return write_per_video(
        out_dir,
        predictions,
        index.frame_counts(split),
        force=force,
        allow_missing=True,
        warn=warn,
        progress=progress,
        protect=layout_sources(index.layout),
    )


@dataclass
class SplitPredictions:
    """What ``abaw predict`` wrote for a split, and its score when the split is labelled.

    Attributes:
        out_dir: The folder of per-video files.
        videos: Prediction files written.
        frame_counts: The lines written per video, and where each count came from.
        report: The challenge scores of the scorable entries (labelled splits only).
        not_scored: The labelled entries left out of the score, with their reasons.
    """

    out_dir: Path
    videos: int
    frame_counts: FrameCounts
    report: ScoreReport | None = None
    not_scored: list[SkippedEntry] = field(default_factory=list)


def predict_split(
    trained: TrainedModel | Ensemble,
    index: DatasetIndex,
    split: Split,
    out_dir: str | os.PathLike,
    *,
    force: bool = False,
    batch_size: int = 256,
    workers: int = 2,
    smoothing: SmoothingPlan | None = None,
    warn: WarnFn | None = None,
    progress: ProgressFn = no_progress,
) -> SplitPredictions:
    """Predict every frame of ``split`` into per-video files under ``out_dir``; score them when labelled.

    ``trained`` may be an ensemble (its members' predictions are averaged);
    ``smoothing`` smooths every video along time before it is written.

    Raises:
        OutputExistsError, UnsafeOutputError: for ``out_dir`` (before any prediction work).
        DataError: when the split cannot be used at all.
    """
    check_output_dir(out_dir, OutputKind.PREDICTIONS, force, layout_sources(index.layout))
    index.require_split(split)
    scored = index.scorable_entries(split) if split.is_labelled else None
    from abaw.prediction.ensemble import Ensemble  # it builds on this module

    predictions = Ensemble.of(trained).predict(index, split, batch_size=batch_size, workers=workers, progress=progress)
    counts = index.frame_counts(split)
    if smoothing is not None:
        predictions = apply_smoothing(predictions, counts, smoothing)
    written = write_split_predictions(out_dir, predictions, index, split, force=force, warn=warn, progress=progress)
    if scored is None:
        return SplitPredictions(written, len(index.split(split)), counts)
    report = score_split(predictions, index, split, names=scored.names)
    return SplitPredictions(written, len(index.split(split)), counts, report, list(scored.skipped))


@dataclass
class TestSubmission:
    """What ``abaw predict-test`` wrote.

    Attributes:
        files: The per-video folder or the single file.
        zip_path: The zip to upload.
        report: The submission check of the zip.
        videos: Test videos predicted.
        frames: Frames the models predicted (a per-frame model: the face
            frames; a temporal model: every frame); the other lines are
            filled from the nearest predicted frame.
        format: The submission's format.
        frame_counts: The lines written per test video, and where each count came from.
        kept_previous: The new submission failed its check and was not
            written: ``files`` and ``zip_path`` still hold the previous one.
    """

    files: Path
    zip_path: Path
    report: SubmissionReport
    videos: int
    frames: int
    format: SubmissionFormat = SubmissionFormat.PER_VIDEO
    frame_counts: FrameCounts | None = None
    kept_previous: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return {
            "files": str(self.files),
            "zip": str(self.zip_path),
            "videos": self.videos,
            "frames": self.frames,
            "written": not self.kept_previous,
            "check": self.report.to_dict(),
            "frame_counts": None if self.frame_counts is None else self.frame_counts.to_dict(),
        }


def predict_test(
    trained: TrainedModel | Ensemble,
    index: DatasetIndex,
    out_dir: str | os.PathLike,
    *,
    submission_format: SubmissionFormat = SubmissionFormat.PER_VIDEO,
    sample_file: str | os.PathLike | None = None,
    force: bool = False,
    batch_size: int = 256,
    workers: int = 2,
    smoothing: SmoothingPlan | None = None,
    warn: WarnFn | None = None,
    progress: ProgressFn = no_progress,
) -> TestSubmission:
    """Predict every test video and write, zip and check the submission under ``out_dir``.

    ``out_dir`` receives ``predictions/`` (per-video) or ``predictions.txt``
    (single file) and ``submission.zip``, built together in a staging folder
    beside it. The new folder replaces ``out_dir`` only once its zip passed
    the check, or when there is no previous submission to keep.

    ``trained`` may be an ensemble (its members' predictions are averaged);
    ``smoothing`` smooths every video along time before it is written.

    Raises:
        OutputExistsError: when ``out_dir`` holds a submission and ``force`` is false
            (checked before any prediction work).
        UnsafeOutputError: when ``out_dir`` is in the dataset or a folder abaw did not write.
        DataError: when the dataset has no test list, or a test entry has no
            frame count from any source or no face image to predict from
            (before any prediction work).
    """
    protect = layout_sources(index.layout)
    target = check_output_dir(out_dir, OutputKind.SUBMISSION, force, protect)
    index.require_split(Split.TEST)
    # With a sample file its rows give the counts (the strongest source).
    counts = index.frame_counts(Split.TEST, sample=None if sample_file is None else read_sample_counts(sample_file))
    index.require_writable(Split.TEST, counts, need_faces=True)
    from abaw.prediction.ensemble import Ensemble  # it builds on this module

    ensemble = Ensemble.of(trained)
    predictions = ensemble.predict(index, Split.TEST, batch_size=batch_size, workers=workers, progress=progress)
    if smoothing is not None:
        predictions = apply_smoothing(predictions, counts, smoothing)
    kept_previous = False
    try:
        with staged_output_dir(target, OutputKind.SUBMISSION, force=force, protect=protect) as stage:
            staged = write_test_submission(
                stage, predictions, counts, submission_format, sample_file=sample_file, warn=warn, progress=progress
            )
            if not staged.report.ok and check_replaceable(target, OutputKind.SUBMISSION, force=True):
                raise _KeepPrevious
    except _KeepPrevious:
        kept_previous = True
    return replace(
        staged,
        files=target / staged.files.name,
        zip_path=target / staged.zip_path.name,
        report=_moved_report(staged.report, stage, target),
        kept_previous=kept_previous,
    )


def write_test_submission(
    folder: Path,
    predictions: dict[str, VideoPrediction],
    counts: FrameCounts,
    submission_format: SubmissionFormat = SubmissionFormat.PER_VIDEO,
    *,
    sample_file: str | os.PathLike | None = None,
    warn: WarnFn | None = None,
    progress: ProgressFn = no_progress,
) -> TestSubmission:
    """Write the test predictions into the new output ``folder``: the files, their zip, and the zip's check.

    Args:
        folder: A folder being built (staged) that has neither the files nor the zip yet.
        predictions: Test predictions by video name.
        counts: Frame count of every test video.
        submission_format: Per-video files or one file.
        sample_file: The organisers' sample single file (rows and order).
        warn: Receives one line per warning.
        progress: Wraps the loop over videos.
    """
    single = submission_format is SubmissionFormat.SINGLE_FILE
    files = folder / ("predictions.txt" if single else "predictions")
    zip_path = folder / "submission.zip"
    if single:
        write_single_file(
            files,
            predictions,
            None if sample_file is not None else counts,
            sample_file=sample_file,
            allow_missing=True,
            warn=warn,
        )
    else:
        write_per_video(files, predictions, counts, allow_missing=True, warn=warn, progress=progress, marker=False)
    zip_submission(files, zip_path)
    report = check_submission(zip_path, counts, sample_file=sample_file)
    frames = sum(len(video) for video in predictions.values())
    return TestSubmission(files, zip_path, report, len(counts), frames, submission_format, counts)


class _KeepPrevious(Exception):
    """Leaves a staged submission that failed its check unwritten, keeping the previous one."""


def _moved_report(report: SubmissionReport, stage: Path, target: Path) -> SubmissionReport:
    """``report`` naming the files where they will be once ``stage`` is moved onto ``target``."""

    def moved(text: str) -> str:
        return text.replace(str(stage), str(target))

    return replace(
        report,
        path=moved(report.path),
        problems=[moved(line) for line in report.problems],
        notes=[moved(line) for line in report.notes],
    )
