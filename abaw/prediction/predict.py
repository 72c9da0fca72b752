"""From a checkpoint to prediction files: a labelled split for scoring, or the test set as a submission.

``abaw predict`` writes per-video files for a split (what ``abaw score``
reads); ``abaw predict-test`` writes the official files for every test
video, zips them and checks the result with the submission checker, so a
submission that would be rejected is never reported as ready.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from abaw.data.audio import entries_without_audio_source
from abaw.data.entries import SkippedEntry
from abaw.data.frame_counts import FrameCounts
from abaw.data.index import DatasetIndex
from abaw.data.layout import Split
from abaw.errors import DataError
from abaw.formats.check import SubmissionReport, check_submission
from abaw.formats.readers import read_sample_counts
from abaw.formats.types import SubmissionFormat, VideoPrediction
from abaw.formats.writers import write_per_video, write_single_file, zip_submission
from abaw.messages import some
from abaw.model import ModelFamily
from abaw.outputs import OutputKind, check_output_dir, check_replaceable, layout_sources, staged_output
from abaw.prediction.ensemble import Ensemble, EnsembleMember, MemberRecord
from abaw.prediction.smoothing import SmoothingPlan, apply_smoothing
from abaw.progress import ProgressFn, no_progress
from abaw.runtime.evaluation import score_split
from abaw.scoring.report import ScoreReport

WarnFn = Callable[[str], None]


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
        members: The models that predicted, with their kinds, weights, protocols and fingerprints.
        in_sample: Why the scores are in-sample (a member trained on the split), else ``None``:
            they are then not comparable with held-out or published scores.
    """

    out_dir: Path
    videos: int
    frame_counts: FrameCounts
    report: ScoreReport | None = None
    not_scored: list[SkippedEntry] = field(default_factory=list)
    members: list[MemberRecord] = field(default_factory=list)
    in_sample: str | None = None


def predict_split(
    trained: EnsembleMember | Ensemble,
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
        DataError: when the split cannot be used at all, or no entry of it has a face image
            for a per-frame member to predict from.
        ConfigError: a smoothing window longer than every video of the split.
    """
    check_output_dir(out_dir, OutputKind.PREDICTIONS, force, layout_sources(index.layout))
    index.require_split(split)
    ensemble = Ensemble.of(trained)
    require_faces(ensemble, index, split)
    counts = index.frame_counts(split)
    if smoothing is not None:
        smoothing.require_fits(counts)
    for line in audio_gaps(ensemble, index, split):
        (warn or _ignore)(f"{line}; its predictions use no audio")
    scored = index.scorable_entries(split) if split.is_labelled else None
    predictions = ensemble.predict(index, split, batch_size=batch_size, workers=workers, progress=progress)
    if smoothing is not None:
        predictions = apply_smoothing(predictions, counts, smoothing)
    written = write_split_predictions(out_dir, predictions, index, split, force=force, warn=warn, progress=progress)
    result = SplitPredictions(written, len(index.split(split)), counts, members=ensemble.records())
    if scored is None:
        return result
    result.report = score_split(predictions, index, split, names=scored.names)
    result.not_scored = list(scored.skipped)
    result.in_sample = ensemble.in_sample(split)
    return result


def _ignore(line: str) -> None:
    """A warning nobody asked to see."""


def require_faces(ensemble: Ensemble, index: DatasetIndex, split: Split) -> None:
    """Refuse a split with no face image at all when a per-frame member must predict it from faces.

    Every prediction of such a member would be the zeros that fill frames
    without a face: ``--root`` most likely names the wrong folder.

    Raises:
        DataError: naming the dataset root and the crop folders looked in.
    """
    per_frame = [member.variant for member in ensemble.members if member.family is ModelFamily.FRAME]
    if not per_frame or any(len(entry.face_frames) for entry in index.split(split)):
        return
    folders = ", ".join(str(folder) for folder in index.layout.frame_dirs) or "no cropped_aligned* folder found"
    raise DataError(
        f"no {split.value} entry has a face image ({folders}); {some(per_frame, 2)} predicts from faces, so every "
        "prediction would be zero: point --root at the Aff-Wild2 folder, or name the crops with --frames",
        path=index.layout.root,
    )


def audio_gaps(ensemble: Ensemble, index: DatasetIndex, split: Split) -> list[str]:
    """One line per entry of ``split`` that a member taking audio would get zero audio for.

    Such an entry has no video file and no audio features cached from one
    (see :func:`abaw.data.audio.entries_without_audio_source`).
    """
    lines = []
    configs = {config.key: config for member in ensemble.members for config in member.audio_configs}
    names = [entry.name for entry in index.split(split)]
    for key, config in configs.items():
        users = [member.variant for member in ensemble.members if key in {c.key for c in member.audio_configs}]
        for name in entries_without_audio_source(index, names, config):
            entry = index.entries[name]
            where = entry.annotation or index.layout.test_list or index.layout.root
            lines.append(
                f"{where}: {name} has no video file and no audio features ({key}) cached from one; "
                f"{some(sorted(set(users)), 2)} takes audio"
            )
    return lines


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
        members: The models that predicted, with their kinds, weights, protocols and fingerprints.
    """

    files: Path
    zip_path: Path
    report: SubmissionReport
    videos: int
    frames: int
    format: SubmissionFormat = SubmissionFormat.PER_VIDEO
    frame_counts: FrameCounts | None = None
    kept_previous: bool = False
    members: list[MemberRecord] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return {
            "members": [member.to_dict() for member in self.members],
            "files": str(self.files),
            "zip": str(self.zip_path),
            "videos": self.videos,
            "frames": self.frames,
            "written": not self.kept_previous,
            "check": self.report.to_dict(),
            "frame_counts": None if self.frame_counts is None else self.frame_counts.to_dict(),
        }


def predict_test(
    trained: EnsembleMember | Ensemble,
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
            frame count from any source, no face image to predict from, or
            (for a member that takes audio) no video and no cached audio
            features (before any prediction work).
        ConfigError: a smoothing window longer than every test video.
    """
    protect = layout_sources(index.layout)
    target = check_output_dir(out_dir, OutputKind.SUBMISSION, force, protect)
    index.require_split(Split.TEST)
    # With a sample file its rows give the counts (the strongest source).
    counts = index.frame_counts(Split.TEST, sample=None if sample_file is None else read_sample_counts(sample_file))
    index.require_writable(Split.TEST, counts, need_faces=True)
    ensemble = Ensemble.of(trained)
    gaps = audio_gaps(ensemble, index, Split.TEST)
    if gaps:
        more = f" (and {len(gaps) - 1} more)" if len(gaps) > 1 else ""
        raise DataError(
            f"{gaps[0]}{more}: it would be predicted without its audio; pass --videos DIR where the videos are "
            "(and run abaw features audio on them)"
        )
    if smoothing is not None:
        smoothing.require_fits(counts)
    for note in counts.notes:
        (warn or _ignore)(note)
    predictions = ensemble.predict(index, Split.TEST, batch_size=batch_size, workers=workers, progress=progress)
    if smoothing is not None:
        predictions = apply_smoothing(predictions, counts, smoothing)
    kept_previous = False
    try:
        with staged_output(target, OutputKind.SUBMISSION, force=force, protect=protect) as stage:
            staged = write_test_submission(
                stage.path,
                predictions,
                counts,
                submission_format,
                sample_file=sample_file,
                shown_in=target,
                warn=warn,
                progress=progress,
            )
            if not staged.report.ok and check_replaceable(target, OutputKind.SUBMISSION, force=True):
                raise _KeepPrevious
    except _KeepPrevious:
        kept_previous = True
    return replace(
        staged,
        files=stage.final(staged.files),
        zip_path=stage.final(staged.zip_path),
        kept_previous=kept_previous,
        members=ensemble.records(),
    )


def write_test_submission(
    folder: Path,
    predictions: dict[str, VideoPrediction],
    counts: FrameCounts,
    submission_format: SubmissionFormat = SubmissionFormat.PER_VIDEO,
    *,
    sample_file: str | os.PathLike | None = None,
    shown_in: Path | None = None,
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
        shown_in: Where ``folder`` will be once complete (the check's messages name the zip there).
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
    shown = None if shown_in is None else shown_in / zip_path.name
    report = check_submission(zip_path, counts, sample_file=sample_file, shown_as=shown)
    frames = sum(len(video) for video in predictions.values())
    return TestSubmission(files, zip_path, report, len(counts), frames, submission_format, counts)


class _KeepPrevious(Exception):
    """Leaves a staged submission that failed its check unwritten, keeping the previous one."""
