"""Batched inference over face frames, and :func:`evaluate`: predict a labelled split and score it.

Inference takes clean images (no noise), runs the generator and the
discriminator's VA head, and clips to [-1, 1]. Under ``torchrun`` each rank
predicts a strided share of the frames and every rank receives all values,
so validation scores are computed over the whole split.

The trainer validates with :func:`evaluate`; ``abaw predict`` predicts with
:func:`predict_dataset` and scores what it wrote with :func:`score_split`,
so both score exactly as ``abaw score`` scores the written files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from abaw.data.annotations import MISSING_LABEL
from abaw.data.index import DatasetIndex
from abaw.data.layout import Split
from abaw.data.samples import Batch, FaceFrameDataset, FrameSamples, batch_to_device, raise_first_fault
from abaw.formats.types import PredictionSet, SubmissionFormat, VideoPrediction
from abaw.formats.writers import fill_missing_frames
from abaw.progress import ProgressFn, no_progress
from abaw.runtime.devices import Distributed
from abaw.scoring.report import ScoreReport, score_predictions


def predict_dataset(
    model: torch.nn.Module,
    dataset: FaceFrameDataset,
    *,
    dist: Distributed | None = None,
    batch_size: int = 256,
    workers: int = 0,
    bf16: bool = False,
    progress: ProgressFn = no_progress,
    description: str = "predicting",
) -> dict[str, VideoPrediction]:
    """Valence and arousal of every frame of ``dataset``, clipped to [-1, 1], by entry.

    Args:
        model: An :class:`~abaw.model.AffectModel` (its ``forward`` maps images and audio to VA).
        dataset: The frames to predict.
        dist: Process placement; ranks share the work and all get every value.
        batch_size: Frames per forward pass.
        workers: DataLoader worker processes.
        bf16: Autocast to bf16 (CUDA).
        progress: Wraps the batch loop.
        description: The progress bar's label.

    Returns:
        One :class:`VideoPrediction` per entry of ``dataset`` with a frame (see :func:`to_video_predictions`).

    Raises:
        DataError: for a face image that cannot be read.
    """
    dist = dist or Distributed()
    rows = np.arange(len(dataset))[dist.shard(len(dataset))]
    outputs = batched_outputs(
        lambda inputs: model(inputs.images, inputs.audio).clamp(-1.0, 1.0),
        model,
        Subset(dataset, rows.tolist()),
        device=dist.device,
        batch_size=batch_size,
        workers=workers,
        bf16=bf16,
        progress=progress,
        description=description,
    )
    values = np.concatenate([np.zeros((0, 2), dtype=np.float32), *outputs])
    if dist.enabled:
        every = np.zeros((len(dataset), 2), dtype=np.float32)
        for rank, part in enumerate(dist.gather(values)):
            every[np.arange(len(dataset))[rank :: dist.world_size]] = part
        values = every
    return to_video_predictions(dataset.samples, values)


def batched_outputs(
    compute: Callable[[Batch], torch.Tensor],
    model: torch.nn.Module,
    dataset: Dataset,
    *,
    device: torch.device,
    batch_size: int = 256,
    workers: int = 0,
    bf16: bool = False,
    progress: ProgressFn = no_progress,
    description: str = "predicting",
) -> Iterator[np.ndarray]:
    """Feed the face frames of ``dataset`` to ``model`` in order and yield ``compute``'s float32 output per batch.

    The one inference loop of the toolkit: images read and scaled as in
    training (:func:`~abaw.data.samples.batch_to_device`), no gradients,
    ``model`` in eval mode for the duration, bf16 autocast on request.

    Args:
        compute: Maps a batch on ``device`` to a ``(B, ...)`` tensor, e.g. the model's VA.
        model: The network ``compute`` runs (put in eval mode, its mode restored after).
        dataset: :class:`~abaw.data.samples.FaceFrameDataset` items (or a ``Subset`` of them).
        device: Where to compute.
        batch_size, workers, bf16, progress, description: As for :func:`predict_dataset`.

    Raises:
        DataError: for a face image that cannot be read.
    """
    loader = DataLoader(
        dataset, batch_size=batch_size, shuffle=False, num_workers=workers, pin_memory=device.type == "cuda"
    )
    channels_last = device.type == "cuda"
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for batch in progress(loader, description, total=len(loader)):
                raise_first_fault(batch["fault"])
                inputs = batch_to_device(batch, device, channels_last)
                with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16):
                    output = compute(inputs)
                yield output.float().cpu().numpy()
    finally:
        model.train(was_training)


def to_video_predictions(samples: FrameSamples, values: np.ndarray) -> dict[str, VideoPrediction]:
    """Group per-sample values into one :class:`VideoPrediction` per entry (frames ascending).

    Example:
        >>> samples = FrameSamples(["a", "b"], np.array([1, 0, 0]), np.array([4, 2, 1]), np.zeros((3, 2)))
        >>> preds = to_video_predictions(samples, np.array([[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]]))
        >>> preds["b"].frames.tolist(), preds["a"].frames.tolist(), preds["a"].values[:, 0].tolist()
        ([4], [1, 2], [0.3, 0.2])
    """
    predictions = {}
    for name, rows in samples.by_entry().items():
        order = rows[np.argsort(samples.frames[rows], kind="stable")]
        predictions[name] = VideoPrediction(samples.frames[order], values[order].astype(np.float64), source=name)
    return predictions


def complete_predictions(
    predictions: Mapping[str, VideoPrediction], frame_counts: Mapping[str, int]
) -> dict[str, VideoPrediction]:
    """One value per frame ``1..frame_count`` of every video, frames without a face from the nearest predicted one.

    Videos with no predicted frame get zeros, as the submission writers do.
    """
    complete = {}
    for name, count in frame_counts.items():
        video = predictions.get(name)
        frames = video.frames if video is not None else np.zeros(0, np.int64)
        values = video.values if video is not None else np.zeros((0, 2))
        complete[name] = VideoPrediction.consecutive(fill_missing_frames(count, frames, values, source=name), name)
    return complete


def score_split(
    predictions: Mapping[str, VideoPrediction],
    index: DatasetIndex,
    split: Split,
    names: Iterable[str] | None = None,
    rows: Mapping[str, np.ndarray] | None = None,
) -> ScoreReport:
    """Score face-frame predictions of a labelled split with the challenge metric.

    Frames without a face take the nearest prediction, as in a submission,
    so the score is the one ``abaw score`` gives the written files.

    Args:
        predictions: Face-frame predictions by entry.
        index: The dataset.
        split: A labelled split.
        names: The entries to score (those not skipped); by default every entry of ``split``.
        rows: Per entry, a boolean mask of the label rows to score (e.g. the
            degraded frames); the other rows, and entries without a mask, are
            left out as unannotated ones are. ``None`` scores every row.

    Raises:
        DataError: when no scored row is annotated.
    """
    counts: Mapping[str, int] = index.frame_counts(split)
    labels = index.split_labels(split)
    if names is not None:
        wanted = set(names)
        counts = {name: count for name, count in counts.items() if name in wanted}
        labels = {name: values for name, values in labels.items() if name in wanted}
    if rows is not None:
        labels = {name: _keep_rows(values, rows.get(name)) for name, values in labels.items()}
    complete = complete_predictions(predictions, counts)
    prediction_set = PredictionSet(SubmissionFormat.PER_VIDEO, split.value, complete)
    return score_predictions(prediction_set, labels, line_counts=counts)


def score_entries(predictions: Mapping[str, VideoPrediction], index: DatasetIndex, names: Iterable[str]) -> ScoreReport:
    """Score labelled entries of any splits together, as one split (a kfold run's held-out folds).

    Raises:
        DataError: when no scored row is annotated.
    """
    names = list(names)
    counts = {name: index.entries[name].label_rows for name in names}
    complete = complete_predictions(predictions, counts)
    labels = {name: index.labels(name) for name in names}
    return score_predictions(PredictionSet(SubmissionFormat.PER_VIDEO, "held out", complete), labels, counts)


def _keep_rows(labels: np.ndarray, keep: np.ndarray | None) -> np.ndarray:
    """``labels`` with every row outside ``keep`` marked unannotated (-5); a mask shorter than the labels keeps less.

    Example:
        >>> _keep_rows(np.array([[0.1, 0.2], [0.3, 0.4]]), np.array([False, True])).tolist()
        [[-5.0, -5.0], [0.3, 0.4]]
    """
    kept = np.full_like(labels, MISSING_LABEL)
    if keep is not None:
        mask = np.zeros(len(labels), dtype=bool)
        count = min(len(mask), len(keep))
        mask[:count] = np.asarray(keep, dtype=bool)[:count]
        kept[mask] = labels[mask]
    return kept


@dataclass
class Evaluation:
    """A split predicted and scored.

    Attributes:
        predictions: Face-frame predictions by entry.
        report: Their scores over the entries scored, as ``abaw score`` reports them.
    """

    predictions: dict[str, VideoPrediction]
    report: ScoreReport


def evaluate(
    model: torch.nn.Module,
    index: DatasetIndex,
    split: Split,
    dataset: FaceFrameDataset,
    *,
    names: Iterable[str] | None = None,
    dist: Distributed | None = None,
    batch_size: int = 256,
    workers: int = 0,
    bf16: bool = False,
    progress: ProgressFn = no_progress,
    description: str = "evaluating",
) -> Evaluation:
    """Predict the face frames of ``dataset`` (frames of the labelled ``split`` of ``index``) and score them.

    Args:
        model: An :class:`~abaw.model.AffectModel`.
        index: The dataset.
        split: A labelled split.
        dataset: The split's face frames (with the audio the model takes), e.g.
            built once by a trainer and evaluated after every epoch.
        names: The entries to score; by default those of ``dataset``.
        dist: Process placement; ranks share the work and all get the same scores.
        batch_size, workers, bf16, progress, description: As for :func:`predict_dataset`.

    Raises:
        DataError: for a face image that cannot be read.
    """
    predictions = predict_dataset(
        model,
        dataset,
        dist=dist,
        batch_size=batch_size,
        workers=workers,
        bf16=bf16,
        progress=progress,
        description=description,
    )
    scored = dataset.samples.names if names is None else names
    return Evaluation(predictions, score_split(predictions, index, split, names=scored))
