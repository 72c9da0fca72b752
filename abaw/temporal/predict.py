"""Temporal checkpoints as ensemble members of ``abaw predict`` and ``abaw predict-test``.

A :class:`TemporalMember` rebuilds the model, the feature sources it was
trained on and their normalisation from one checkpoint, and predicts every
frame of every entry of a split (overlapping windows averaged). A kfold run
folder is one member per fold (:func:`load_temporal_members`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from abaw.data.index import DatasetIndex
from abaw.data.layout import Split
from abaw.errors import CheckpointError
from abaw.formats.types import VideoPrediction
from abaw.progress import ProgressFn, no_progress
from abaw.runtime.checkpoint import load_checkpoint
from abaw.runtime.devices import resolve_device
from abaw.runtime.rundir import resolve_checkpoint
from abaw.temporal.config import TemporalConfig
from abaw.temporal.models import TemporalModel, TemporalModelConfig, create_temporal_model
from abaw.temporal.runs import CHECKPOINT_KIND, fold_dirs
from abaw.temporal.sequences import EntrySequence, Normalisation, open_sources, sequences_for
from abaw.temporal.windows import as_video_predictions, predict_sequences


def is_temporal_checkpoint(checkpoint: dict[str, Any]) -> bool:
    """Whether a loaded checkpoint was written by ``abaw temporal train``."""
    return checkpoint.get("kind") == CHECKPOINT_KIND


@dataclass
class TemporalMember:
    """A temporal model restored from a checkpoint, with its features and their normalisation.

    Attributes:
        model: The network, in eval mode, on ``device``.
        device: Where it computes.
        checkpoint: The file it came from.
        config: The run's settings.
        normalisation: The training statistics of its inputs.
        feature_names: Its feature sources, in column order.
        epoch: The epoch the checkpoint was written after.
    """

    model: TemporalModel
    device: torch.device
    checkpoint: Path
    config: TemporalConfig
    normalisation: Normalisation
    feature_names: list[str] = field(default_factory=list)
    epoch: int = 0

    @property
    def variant(self) -> str:
        """How tables name it: ``temporal-MODEL``."""
        return f"temporal-{self.config.model}"

    @classmethod
    def from_checkpoint(cls, checkpoint: dict[str, Any], path: Path, device: torch.device) -> TemporalMember:
        """Rebuild the member stored in a loaded checkpoint.

        Raises:
            CheckpointError: naming ``path`` when the settings or weights do not fit.
        """
        try:
            config = TemporalConfig.from_dict(checkpoint["config"], source=str(path))
            sizes = dict(checkpoint["model_config"])
            name = sizes.pop("name")
            model = create_temporal_model(name, TemporalModelConfig(**sizes))
            model.load_state_dict(checkpoint["model"])
            normalisation = Normalisation(
                checkpoint["normalisation"]["mean"].numpy(), checkpoint["normalisation"]["std"].numpy()
            )
            names = list(checkpoint["features"]["names"])
        except (KeyError, TypeError, ValueError, RuntimeError) as error:
            first = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
            raise CheckpointError(f"not a usable temporal checkpoint ({first})", path=path) from None
        model = model.to(device).eval()
        return cls(model, device, path, config, normalisation, names, int(checkpoint.get("epoch", 0)))

    def predict_sequences(self, sequences: list[EntrySequence]) -> dict[str, VideoPrediction]:
        """Every frame of raw ``sequences`` (normalised here), by entry."""
        visual = self.model.config.visual_dim
        ready = [self.normalisation.apply(sequence, visual) for sequence in sequences]
        values = predict_sequences(self.model, ready, self.config.window, device=self.device)
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
            DataError: when a feature source is missing or out of date for the split.
        """
        entries = [entry for entry in index.split(split) if entry.frame_count]
        sources = open_sources(index, self.config.features, [entry.name for entry in entries])
        if [source.name for source in sources] != self.feature_names:
            raise CheckpointError(
                f"expects features {','.join(self.feature_names)}, found {','.join(s.name for s in sources)}",
                path=self.checkpoint,
            )
        sequences = sequences_for(
            index, list(progress(entries, f"features {split.value}", total=len(entries))), sources
        )
        return self.predict_sequences(sequences)


def temporal_checkpoint_files(path: str | os.PathLike) -> list[Path] | None:
    """The checkpoints of a kfold run folder (each fold's best, else last), or ``None`` for any other path."""
    folds = fold_dirs(Path(path)) if Path(path).is_dir() else []
    if not folds:
        return None
    return [resolve_checkpoint(fold.path) for fold in folds]


def load_temporal_members(path: str | os.PathLike, device: str = "auto") -> list[TemporalMember]:
    """A temporal checkpoint, or a kfold run folder (one member per fold), restored onto ``device``.

    Raises:
        CheckpointError: naming a file that is not a temporal checkpoint or does not fit.
    """
    target = resolve_device(device)
    files = temporal_checkpoint_files(path) or [resolve_checkpoint(path)]
    members = []
    for file in files:
        checkpoint = load_checkpoint(file)
        if not is_temporal_checkpoint(checkpoint):
            raise CheckpointError("not a checkpoint of abaw temporal train", path=file)
        members.append(TemporalMember.from_checkpoint(checkpoint, file, target))
    return members
