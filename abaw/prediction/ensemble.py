"""Ensembles: several checkpoints predict the same frames, and their values are averaged.

Every member predicts a split with its own inputs (its own features and
their normalisation), so per-frame models of any variant and temporal
models (``abaw temporal train``) mix: each implements :class:`EnsembleMember`.
Per-frame members predict the face frames, temporal ones every frame; when
members' frames differ, each is first completed to every frame of the split
(frames it did not predict from its nearest predicted one), as a submission
would be. The weighted mean of their values is the ensemble's prediction.
A kfold run folder of ``abaw temporal train`` is one member per fold, the
folds sharing the weight given to the folder.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from abaw.data.audio import AudioFeatureConfig
from abaw.data.embeddings import checkpoint_fingerprint
from abaw.data.index import DatasetIndex
from abaw.data.layout import Split
from abaw.errors import ConfigError, PredictionError
from abaw.formats.types import VideoPrediction
from abaw.model import ModelFamily
from abaw.prediction.open import open_model
from abaw.progress import ProgressFn, no_progress
from abaw.runtime.evaluation import complete_predictions


class EnsembleMember(Protocol):
    """What an ensemble asks of a model: per-frame checkpoints and temporal ones alike.

    Attributes:
        checkpoint: The file it came from.
        epoch: The epoch the checkpoint was written after.
        train_config: The run's stored settings (its ``protocol`` says what it trained on).
    """

    checkpoint: Path
    epoch: int
    train_config: dict[str, Any]

    @property
    def variant(self) -> str:
        """How tables name it."""
        ...

    @property
    def family(self) -> ModelFamily:
        """Per-frame or temporal."""
        ...

    @property
    def audio_configs(self) -> list[AudioFeatureConfig]:
        """The audio features it takes (none for a model without audio)."""
        ...

    def predict(
        self, index: DatasetIndex, split: Split, *, batch_size: int, workers: int, progress: ProgressFn
    ) -> dict[str, VideoPrediction]:
        """Predictions of the entries of ``split``, by entry."""
        ...


def trained_splits(protocol: str | None) -> tuple[Split, ...]:
    """The splits a run of ``protocol`` trained on: ``val`` trains on Train; ``final`` and ``kfold`` on both;
    ``heldout`` (a temporal model fitted by folds over Validation) on Validation.

    Example:
        >>> [split.value for split in trained_splits("kfold")], [split.value for split in trained_splits("heldout")]
        (['train', 'val'], ['val'])
    """
    if protocol == "heldout":
        return (Split.VALIDATION,)
    return (Split.TRAIN,) if protocol in (None, "val") else (Split.TRAIN, Split.VALIDATION)


@dataclass(frozen=True)
class MemberRecord:
    """One member of an ensemble, as ``abaw predict`` and ``predict-test`` report it.

    Attributes:
        checkpoint: The file it came from.
        kind: ``frame`` (``abaw train``) or ``temporal`` (``abaw temporal train``).
        variant: How tables name it.
        weight: Its weight in the average, as a share of all weights.
        protocol: What its run trained on (``val``, ``final``, ``kfold``), ``None`` when not recorded.
        fold: The fold a kfold member held out, else ``None``.
        epoch: The epoch the checkpoint was written after.
        sha256: The checkpoint file's SHA-256 (what it is, wherever it is copied).
    """

    checkpoint: Path
    kind: str
    variant: str
    weight: float
    protocol: str | None
    fold: int | None
    epoch: int
    sha256: str

    @property
    def trained_on(self) -> tuple[Split, ...]:
        """The splits its run trained on."""
        return trained_splits(self.protocol)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "checkpoint": str(self.checkpoint),
            "kind": self.kind,
            "variant": self.variant,
            "weight": self.weight,
            "protocol": self.protocol,
            "trained_on": [split.value for split in self.trained_on],
            "fold": self.fold,
            "epoch": self.epoch,
            "sha256": self.sha256,
        }


@dataclass
class Ensemble:
    """Models whose per-frame predictions are averaged.

    Attributes:
        members: The models, in the order given.
        weights: One non-negative weight per member (not normalised; they need not sum to 1).
    """

    members: list[EnsembleMember]
    weights: list[float]

    def __post_init__(self) -> None:
        check_weights(self.weights, len(self.members))

    @classmethod
    def of(cls, trained: EnsembleMember | Ensemble) -> Ensemble:
        """``trained`` itself when it is an ensemble, else a one-member ensemble of it."""
        return trained if isinstance(trained, Ensemble) else cls([trained], [1.0])

    @property
    def name(self) -> str:
        """The member's variant, or ``ensemble of N (its members' variants)``."""
        if len(self.members) == 1:
            return self.members[0].variant
        return f"ensemble of {len(self.members)} ({', '.join(member.variant for member in self.members)})"

    @property
    def label(self) -> str:
        """Names the model in tables: the variant and checkpoint, or the members' variants."""
        if len(self.members) == 1:
            return f"{self.name} ({self.members[0].checkpoint.name})"
        return self.name

    @property
    def checkpoints(self) -> list[str]:
        """The members' checkpoint files."""
        return [str(member.checkpoint) for member in self.members]

    def records(self) -> list[MemberRecord]:
        """Every member: its file, kind, variant, share of the weights, protocol, fold, epoch and SHA-256."""
        total = float(sum(self.weights))
        return [
            MemberRecord(
                member.checkpoint,
                member.family.value,
                member.variant,
                weight / total,
                member.train_config.get("protocol"),
                member.train_config.get("fold"),
                member.epoch,
                checkpoint_fingerprint(member.checkpoint),
            )
            for member, weight in zip(self.members, self.weights, strict=True)
        ]

    def in_sample(self, split: Split) -> str | None:
        """Why scores of ``split`` are in-sample (a member trained on it), or ``None`` when they are held out.

        Example: ``"2 of 3 members trained on val (protocol kfold)"``.
        """
        trained = [member for member in self.members if split in trained_splits(member.train_config.get("protocol"))]
        if not trained:
            return None
        protocols = ", ".join(sorted({str(member.train_config.get("protocol")) for member in trained}))
        return f"{len(trained)} of {len(self.members)} members trained on {split.value} (protocol {protocols})"

    def predict(
        self,
        index: DatasetIndex,
        split: Split,
        *,
        batch_size: int = 256,
        workers: int = 2,
        progress: ProgressFn = no_progress,
    ) -> dict[str, VideoPrediction]:
        """Every face frame of ``split`` predicted by each member, averaged with the weights.

        Raises:
            PredictionError: when members predicted different frames of a video (they read the same index).
        """
        parts = [
            member.predict(index, split, batch_size=batch_size, workers=workers, progress=progress)
            for member in self.members
        ]
        if not _same_frames(parts):
            names = sorted({name for part in parts for name in part})
            counts = index.frame_counts(split)
            wanted = {name: counts[name] for name in names if name in counts}
            parts = [complete_predictions(part, wanted) for part in parts]
        return average_predictions(parts, self.weights)


def _same_frames(parts: Sequence[dict[str, VideoPrediction]]) -> bool:
    """Whether every part predicted the same frames of the same videos."""
    first = parts[0]
    return all(
        part.keys() == first.keys() and all(np.array_equal(part[name].frames, first[name].frames) for name in first)
        for part in parts[1:]
    )


def check_weights(weights: Sequence[float], count: int) -> None:
    """Refuse weights that are not one finite, non-negative number per member with a positive sum.

    Raises:
        ConfigError: saying what is wrong.
    """
    if len(weights) != count:
        raise ConfigError(
            f"--weights gives {len(weights)} weight(s) for {count} checkpoint(s); give one per checkpoint"
        )
    if count == 0:
        raise ConfigError("an ensemble needs at least one checkpoint")
    values = np.asarray(weights, dtype=np.float64)
    if not np.isfinite(values).all() or (values < 0).any() or values.sum() <= 0:
        raise ConfigError(f"--weights must be non-negative numbers with a positive sum, got {list(weights)}")


def load_ensemble(
    paths: Sequence[str | os.PathLike], device: str = "auto", weights: Sequence[float] | None = None
) -> Ensemble:
    """Open every path (see :func:`abaw.prediction.open.open_model`) as one ensemble.

    A kfold run folder is one member per fold, the folds sharing the weight given to the folder.

    Args:
        paths: Checkpoint files, run folders or kfold run folders.
        device: auto, cpu or cuda.
        weights: One per path; equal weights by default.

    Raises:
        ConfigError: for weights that do not match the paths (before any is loaded).
        CheckpointError: naming a checkpoint that is missing, unreadable or does not fit its model.
    """
    weights = [1.0] * len(paths) if weights is None else [float(weight) for weight in weights]
    check_weights(weights, len(paths))
    members: list[EnsembleMember] = []
    member_weights: list[float] = []
    for path, weight in zip(paths, weights, strict=True):
        opened = open_model(path, device)
        members.extend(opened.members)
        member_weights.extend([weight / len(opened.members)] * len(opened.members))
    return Ensemble(members, member_weights)


def average_predictions(
    parts: Sequence[dict[str, VideoPrediction]], weights: Sequence[float]
) -> dict[str, VideoPrediction]:
    """The weighted mean, frame by frame, of predictions of the same frames.

    Example:
        >>> a = {"v": VideoPrediction([1, 2], [[0.0, 0.2], [0.4, 0.4]])}
        >>> b = {"v": VideoPrediction([1, 2], [[0.4, 0.2], [0.0, 0.0]])}
        >>> average_predictions([a, b], [1.0, 1.0])["v"].values.tolist()
        [[0.2, 0.2], [0.2, 0.2]]
    """
    check_weights(weights, len(parts))
    if len(parts) == 1:
        return dict(parts[0])
    first = parts[0]
    averaged = {}
    for name, video in first.items():
        stack = []
        for part in parts:
            other = part.get(name)
            if other is None or not np.array_equal(other.frames, video.frames):
                raise PredictionError(f"the ensemble's members predicted different frames of video '{name}'")
            stack.append(other.values)
        values = np.average(np.stack(stack), axis=0, weights=np.asarray(weights, dtype=np.float64))
        averaged[name] = VideoPrediction(video.frames, values, source=video.source)
    return averaged


__all__ = [
    "Ensemble",
    "EnsembleMember",
    "MemberRecord",
    "average_predictions",
    "check_weights",
    "load_ensemble",
    "trained_splits",
]
