"""Figures of a trained run: :func:`plot_run`, what ``abaw plot`` calls.

For a labelled split it writes one ``affect_<entry>.png`` per video (labels
against predictions over time, the paper's Fig. 3) and, for a model with a
generator, ``reconstruction.png`` (clean, noisy and cleaned faces with the
latent map, the paper's Fig. 2). Every output path is checked before any
prediction work, so a refused overwrite costs nothing.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from abaw.data.entries import Entry
from abaw.data.index import DatasetIndex
from abaw.data.layout import Split
from abaw.errors import CheckpointError, DataError, PredictionError
from abaw.formats.types import VideoPrediction
from abaw.messages import some
from abaw.outputs import OutputKind, check_output_dir, layout_sources, staged_output
from abaw.plots.affect import AffectSeries, plot_affect_over_time
from abaw.plots.reconstruction import plot_reconstruction, sample_degraded_faces, sample_faces
from abaw.prediction.ensemble import Ensemble, EnsembleMember
from abaw.prediction.members import TrainedModel
from abaw.prediction.open import open_model
from abaw.progress import ProgressFn, no_progress
from abaw.training.config import TrainConfig
from abaw.training.noise import NoiseConfig

__all__ = ["RECONSTRUCTION_NAME", "PlotReport", "PlottedFigure", "affect_file_name", "plot_run"]

RECONSTRUCTION_NAME = "reconstruction.png"
DEGRADED_FACES = 2
"""Rows of the reconstruction figure for frames degraded in the (generated) data itself."""
_WORKER_FRAMES = 5000
"""Face frames from which loader processes pay off; below, starting them costs more than they save."""


def affect_file_name(entry_name: str) -> str:
    """The affect figure's file name for an entry.

    Example:
        >>> affect_file_name("video10_1_left")
        'affect_video10_1_left.png'
    """
    return f"affect_{entry_name}.png"


@dataclass(frozen=True)
class PlottedFigure:
    """One PNG written.

    Attributes:
        kind: ``affect`` or ``reconstruction``.
        path: The file.
        shows: What it shows, one line.
        details: Numbers behind it for JSON (per-video CCC, latent channels).
    """

    kind: str
    path: Path
    shows: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class PlotReport:
    """What :func:`plot_run` wrote.

    Attributes:
        files: The PNGs written, in order.
        notes: What was skipped or left out, one line each (e.g. the
            reconstruction of a model without a generator).
        figures: One description per file, in the same order.
        checkpoint: The checkpoint used.
        variant: Its model variant.
        split: The split plotted.
    """

    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    figures: list[PlottedFigure] = field(default_factory=list)
    checkpoint: Path | None = None
    variant: str | None = None
    split: Split | None = None

    def add(self, figure: PlottedFigure) -> None:
        """Record a written figure."""
        self.files.append(figure.path)
        self.figures.append(figure)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return {
            "checkpoint": None if self.checkpoint is None else str(self.checkpoint),
            "variant": self.variant,
            "split": None if self.split is None else self.split.value,
            "files": [str(path) for path in self.files],
            "figures": [
                {"kind": figure.kind, "file": str(figure.path), "shows": figure.shows, **figure.details}
                for figure in self.figures
            ],
            "notes": list(self.notes),
        }


def run_noise(trained: TrainedModel) -> NoiseConfig:
    """The run's training noise with every face degraded (no clean pass-through).

    Raises:
        CheckpointError: when the stored settings cannot be read.
    """
    path = trained.checkpoint
    config = TrainConfig.from_dict(dict(trained.train_config), source=str(path))
    artifacts = list(config.noise_artifacts)
    try:
        return NoiseConfig.from_dict({"clean_probability": 0.0 if artifacts else 1.0, "artifacts": artifacts})
    except ValueError as error:
        raise CheckpointError(f"noise settings cannot be read ({error})", path=path) from None


def _choose_entries(
    index: DatasetIndex,
    split: Split,
    videos: Sequence[str] | None,
    max_videos: int,
    predictions: Mapping[str, VideoPrediction] | None,
    notes: list[str],
) -> list[Entry]:
    in_split = index.split(split)
    if videos:
        chosen = []
        for name in dict.fromkeys(videos):
            entry = index.entries.get(name)
            if entry is None:
                known = some([item.name for item in in_split])
                message = f"no video named '{name}' in the dataset ({split.value} videos: {known})"
                raise DataError(message, path=index.layout.root)
            if entry.split is not split:
                message = f"video '{name}' is in the {entry.split.value} split, not {split.value}"
                if entry.split.is_labelled:
                    message += f"; pass --split {entry.split.value}"
                raise DataError(message, path=index.layout.root)
            if predictions is not None and name not in predictions:
                raise PredictionError(f"no predictions for video '{name}'")
            chosen.append(entry)
        return chosen
    candidates = in_split
    if predictions is not None:
        candidates = [entry for entry in in_split if entry.name in predictions]
        missing = [entry.name for entry in in_split if entry.name not in predictions]
        if not candidates:
            other = "train" if split is Split.VALIDATION else "val"
            raise PredictionError(
                f"no predictions for any {split.value} video; if they are of the {other} split, pass --split {other}"
            )
        if missing:
            notes.append(
                f"{len(missing)} {split.value} video(s) have no predictions and are not plotted: {some(missing)}"
            )
    if len(candidates) > max_videos:
        notes.append(
            f"plotted the first {max_videos} of {len(candidates)} {split.value} videos; name others with --video"
        )
    return candidates[:max_videos]


def _predict(
    members: Sequence[EnsembleMember], index: DatasetIndex, split: Split, entries: list[Entry], progress: ProgressFn
) -> dict[str, VideoPrediction]:
    # An index restricted to the plotted entries: predicting the whole split would waste most of the work.
    subset = dataclasses.replace(index, entries={entry.name: entry for entry in entries})
    frames = sum(len(entry.face_frames) for entry in entries)
    workers = 2 if frames >= _WORKER_FRAMES else 0
    ensemble = Ensemble(list(members), [1.0] * len(members))
    return ensemble.predict(subset, split, workers=workers, progress=progress)


def _affect_description(entry: Entry, series: AffectSeries) -> tuple[str, dict[str, Any]]:
    length = f"{len(series.frames)} frames" if series.fps is None else f"{len(series.frames) / series.fps:.1f} s"
    details: dict[str, Any] = {"video": entry.name, "ccc_valence": None, "ccc_arousal": None}
    if series.ccc is None:
        return f"{entry.name}: valence and arousal over {length}; no annotated frame", details
    details["ccc_valence"], details["ccc_arousal"] = series.ccc
    shows = f"{entry.name}: valence and arousal over {length}; CCC V {series.ccc[0]:.3f}, A {series.ccc[1]:.3f}"
    return shows, details


def plot_run(
    checkpoint: str | os.PathLike | TrainedModel,
    index: DatasetIndex,
    out_dir: str | os.PathLike,
    *,
    split: Split = Split.VALIDATION,
    predictions: Mapping[str, VideoPrediction] | None = None,
    videos: Sequence[str] | None = None,
    max_videos: int = 6,
    faces: int = 4,
    latent_channels: int = 4,
    seed: int = 0,
    device: str = "auto",
    force: bool = False,
    progress: ProgressFn = no_progress,
) -> PlotReport:
    """Write the affect-over-time figures of some videos and the reconstruction figure of a run.

    Args:
        checkpoint: Whatever ``abaw predict --checkpoint`` takes
            (:func:`abaw.prediction.open.open_model`: a checkpoint of ``abaw train``
            or ``abaw temporal train``, a run folder, a kfold run folder), or a
            per-frame model already loaded from one (``device`` is then ignored).
            The reconstruction figure needs one per-frame model with a generator.
        index: The dataset.
        out_dir: Folder for the PNGs, created with the figures once all are
            drawn; an existing one is replaced only with ``force`` and only
            when abaw wrote it (see :mod:`abaw.outputs`).
        split: A labelled split (train or validation).
        predictions: Predictions by video name (e.g. read from ``abaw predict``'s
            files); ``None`` predicts the plotted videos with the checkpoint.
        videos: Entry names to plot; ``None`` plots the split's entries (those
            with predictions, when given), the first ``max_videos`` by name.
        max_videos: Cap on the videos plotted when ``videos`` is ``None``.
        faces: Rows of the reconstruction figure, face frames drawn from the split with ``seed``.
        latent_channels: Latent channels shown, those that vary most over the shown faces.
        seed: Seeds the face draw and the noise.
        device: ``auto``, ``cpu`` or ``cuda``.
        force: Replace an existing figures folder.
        progress: Wraps the prediction and plotting loops.

    Returns:
        The files written and notes on what was skipped.

    Raises:
        CheckpointError: for a missing or unreadable checkpoint.
        DataError: for the test split (no labels), an unknown video or one of
            another split, or an unusable dataset.
        PredictionError: when ``predictions`` lack a requested video.
        OutputExistsError: when ``out_dir`` exists and ``force`` is false (before any work).
        UnsafeOutputError: when ``out_dir`` is in the dataset or a folder abaw did not write.
        ValueError: for ``max_videos`` or ``faces`` below 1, or ``latent_channels`` below 0.

    Example:
        With ``index`` from :func:`abaw.data.index.open_dataset` and a run of ``abaw train``::

            report = plot_run("runs/aeg-cd", index, "figures", videos=["video59"])
            [path.name for path in report.files]  # ['affect_video59.png', 'reconstruction.png']
    """
    split = Split(split)
    if max_videos < 1 or faces < 1 or latent_channels < 0:
        raise ValueError(
            f"need max_videos >= 1, faces >= 1, latent_channels >= 0; got {max_videos}, {faces}, {latent_channels}"
        )
    if not split.is_labelled:
        raise DataError(f"the {split.value} split has no labels to plot against; choose train or val")
    index.require_usable([split])
    if isinstance(checkpoint, TrainedModel):
        members: list[EnsembleMember] = [checkpoint]
        path = checkpoint.checkpoint
    else:
        members = list(open_model(checkpoint, device).members)
        path = members[0].checkpoint if len(members) == 1 else Path(checkpoint)
    report = PlotReport(checkpoint=path, split=split)
    entries = _choose_entries(index, split, videos, max_videos, predictions, report.notes)
    report.variant = Ensemble(members, [1.0] * len(members)).name
    protect = layout_sources(index.layout)
    out_dir = check_output_dir(out_dir, OutputKind.FIGURES, force, protect)
    trained = members[0] if len(members) == 1 and isinstance(members[0], TrainedModel) else None
    reconstruct = trained is not None and trained.model.generator is not None
    if reconstruct:
        # Read before the long work, so that a bad face image or setting fails at once.
        noise = run_noise(trained)
        shown = sample_faces(index, split, faces, seed)
        degraded = sample_degraded_faces(index, split, DEGRADED_FACES, seed)
    else:
        report.notes.append(f"reconstruction figure skipped: {report.variant} has no generator")

    if predictions is None:
        predictions = _predict(members, index, split, entries, progress)
        faceless = [entry.name for entry in entries if entry.name not in predictions]
        if faceless:
            notes = f"{len(faceless)} video(s) have no face image; their predictions are zeros: {some(faceless)}"
            report.notes.append(notes)
    unknown_fps = [entry.name for entry in entries if not entry.fps]
    if unknown_fps:
        report.notes.append(f"frame rate unknown (no video found), time axis in frames: {some(unknown_fps)}")
    empty = VideoPrediction(np.zeros(0, np.int64), np.zeros((0, 2)))
    with staged_output(out_dir, OutputKind.FIGURES, force=force, protect=protect) as staged:
        stage = staged.path
        for entry in progress(entries, "plotting videos", len(entries)):
            name = affect_file_name(entry.name)
            prediction = predictions.get(entry.name, empty)
            # Per-video files may hold one line per label row, one more than the video's frames; score them all.
            last = int(prediction.frames[-1]) if len(prediction) else 0
            series = plot_affect_over_time(
                entry.name,
                index.labels(entry.name),
                prediction,
                entry.fps,
                stage / name,
                face_frames=entry.face_frames,
                frame_count=max(entry.frame_count, last),
            )
            shows, details = _affect_description(entry, series)
            report.add(PlottedFigure("affect", out_dir / name, shows, details))

        if reconstruct:
            if len(shown) < faces:
                report.notes.append(f"the {split.value} split has only {len(shown)} face images to show")
            result, channels = plot_reconstruction(
                trained,
                np.stack([face.image for face in shown]),
                stage / RECONSTRUCTION_NAME,
                noise=noise,
                captions=[face.caption for face in shown],
                latent_channels=latent_channels,
                seed=seed,
                degraded=np.stack([face.image for face in degraded]) if degraded else None,
                degraded_captions=[face.caption for face in degraded],
            )
            shows = f"{len(shown)} {split.value} faces: clean, noisy, cleaned" + (
                f", latent channels {', '.join(map(str, channels))}" if channels else ""
            )
            if degraded:
                shows += f"; {len(degraded)} frames degraded in the data and their cleaned output"
            details = {
                "faces": [face.caption for face in shown],
                "degraded_faces": [face.caption for face in degraded],
                "psnr_noisy": float(result.noisy_psnr.mean()),
                "psnr_cleaned": float(result.cleaned_psnr.mean()),
                "artifacts": result.artifacts,
                "latent_channels": channels,
            }
            report.add(PlottedFigure("reconstruction", out_dir / RECONSTRUCTION_NAME, shows, details))
    return report
