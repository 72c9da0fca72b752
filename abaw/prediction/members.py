"""Trained models as ensemble members: a per-frame model of ``abaw train`` or a temporal one of ``abaw temporal train``.

A :class:`TrainedModel` predicts the face frames of a split from their images
(and audio) as in training; a :class:`TemporalMember` rebuilds the feature
sources a temporal model was trained on and their normalisation, and predicts
every frame of every entry (overlapping windows averaged). Both are opened
from a checkpoint by :func:`abaw.prediction.open.open_model`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from abaw.data.audio import AudioFeatureConfig, load_audio_features
from abaw.data.entries import Entry
from abaw.data.index import DatasetIndex
from abaw.data.layout import Split
from abaw.data.samples import FaceFrameDataset, select_frames
from abaw.data.sequences import (
    AUDIO,
    EntrySequence,
    Normalisation,
    feature_keys,
    open_sources,
    require_same_features,
    sequences_for,
)
from abaw.errors import CheckpointError
from abaw.formats.types import VideoPrediction
from abaw.model import AffectModel, ModelFamily, create_model
from abaw.model.temporal import LinearTemporalModel, TemporalModel, temporal_model_config
from abaw.progress import ProgressFn, no_progress
from abaw.runtime.checkpoint import model_from_checkpoint
from abaw.runtime.devices import resolve_device
from abaw.runtime.evaluation import predict_dataset
from abaw.runtime.windows import as_video_predictions, predict_sequences


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

    @property
    def family(self) -> ModelFamily:
        """A per-frame model of ``abaw train``."""
        return ModelFamily.FRAME

    @property
    def audio_configs(self) -> list[AudioFeatureConfig]:
        """The audio features it takes (none, or the ones it was trained with)."""
        return [] if self.audio_config is None else [self.audio_config]

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


def audio_rows(trained: TrainedModel, index: DatasetIndex, names: Sequence[str]) -> dict[str, np.ndarray] | None:
    """The audio rows ``trained`` takes for each of ``names``, scaled as in its training; ``None`` without audio.

    Raises:
        DataError: audio features the model needs missing or out of date.
    """
    if trained.audio_config is None:
        return None
    stats = (trained.audio_mean, trained.audio_std)
    return load_audio_features(index, trained.audio_config, names=names, stats=stats).rows()


def inference_dataset(
    trained: TrainedModel,
    index: DatasetIndex,
    entries: Iterable[Entry],
    audio: Mapping[str, np.ndarray] | None = None,
) -> FaceFrameDataset:
    """Every face frame of ``entries`` within its video, with the audio ``trained`` takes, scaled as in its training.

    ``audio``: those rows when the caller already has them (:func:`audio_rows` of at least these entries).

    Raises:
        DataError: audio features the model needs missing or out of date.
    """
    samples = select_frames(index, entries, labelled=False)
    audio_dim = 0 if trained.audio_config is None else trained.audio_config.dim
    if audio is None:
        audio = audio_rows(trained, index, samples.names)
    return FaceFrameDataset(index, samples, audio, audio_dim)


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


@dataclass
class TemporalMember:
    """A temporal model restored from a checkpoint, with its features and their normalisation.

    Attributes:
        model: The network, in eval mode, on ``device``.
        device: Where it computes.
        checkpoint: The file it came from.
        features: The feature sources it reads (``--features``).
        window: Frames per inference window.
        normalisation: The training statistics of its inputs.
        feature_names: Its feature sources, in column order.
        epoch: The epoch the checkpoint was written after.
        train_config: The run's stored settings (``TemporalConfig.to_dict()``).
        feature_record: The checkpoint's ``features``: names, sizes and what made each source
            (:func:`abaw.data.sequences.feature_keys`; none in checkpoints from before they were recorded).
    """

    model: TemporalModel | LinearTemporalModel
    device: torch.device
    checkpoint: Path
    features: tuple[str, ...]
    window: int
    normalisation: Normalisation
    feature_names: list[str] = field(default_factory=list)
    epoch: int = 0
    train_config: dict[str, Any] = field(default_factory=dict)
    feature_record: dict[str, Any] = field(default_factory=dict)

    @property
    def variant(self) -> str:
        """How tables name it: ``temporal-MODEL``."""
        return f"temporal-{self.model.config.variant}"

    @property
    def family(self) -> ModelFamily:
        """A temporal model of ``abaw temporal train``."""
        return ModelFamily.TEMPORAL

    @property
    def audio_configs(self) -> list[AudioFeatureConfig]:
        """The audio features it takes: the toolkit's default ones when ``audio`` is among its features."""
        return [AudioFeatureConfig()] if AUDIO in self.features else []

    @classmethod
    def from_checkpoint(cls, checkpoint: dict[str, Any], path: Path, device: torch.device) -> TemporalMember:
        """Rebuild the member stored in a loaded checkpoint.

        Raises:
            CheckpointError: naming ``path`` when the settings or weights do not fit.
        """
        try:
            features = tuple(checkpoint["config"]["features"])
            window = int(checkpoint["config"]["window"])
            model = create_model(temporal_model_config(checkpoint["model_config"]))
            model.load_state_dict(checkpoint["model"])
            normalisation = Normalisation(
                checkpoint["normalisation"]["mean"].numpy(), checkpoint["normalisation"]["std"].numpy()
            )
            names = list(checkpoint["features"]["names"])
            record = dict(checkpoint["features"])
        except (KeyError, TypeError, ValueError, RuntimeError) as error:
            first = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
            raise CheckpointError(f"not a usable temporal checkpoint ({first})", path=path) from None
        model = model.to(device).eval()
        epoch = int(checkpoint.get("epoch", 0))
        config = dict(checkpoint["config"])
        return cls(model, device, path, features, window, normalisation, names, epoch, config, record)

    def predict_sequences(self, sequences: list[EntrySequence]) -> dict[str, VideoPrediction]:
        """Every frame of raw ``sequences`` (normalised here), by entry."""
        visual = self.model.config.visual_dim
        ready = [self.normalisation.apply(sequence, visual) for sequence in sequences]
        values = predict_sequences(self.model, ready, self.window, device=self.device)
        return as_video_predictions(sequences, values)

    def predict(
        self,
        index: DatasetIndex,
        split: Split,
        *,
        batch_size: int = 256,
        workers: int = 2,
        progress: ProgressFn = no_progress,
    ) -> dict[str, VideoPrediction]:
        """Every frame of every entry of ``split`` (the entry's rows: label lines, or its frame count).

        Raises:
            DataError: when a feature source is missing or out of date for the split, or is not
                made as the one the model was trained on (other embeddings under the same name).
        """
        entries = [entry for entry in index.split(split) if entry.frame_count]
        sources = open_sources(index, self.features, [entry.name for entry in entries])
        if [source.name for source in sources] != self.feature_names:
            raise CheckpointError(
                f"expects features {','.join(self.feature_names)}, found {','.join(s.name for s in sources)}",
                path=self.checkpoint,
            )
        require_same_features(self.feature_record, feature_keys(sources), self.checkpoint, index.layout)
        sequences = sequences_for(
            index, list(progress(entries, f"features {split.value}", total=len(entries))), sources
        )
        return self.predict_sequences(sequences)
