"""The one door to a trained model: what ``--checkpoint`` (or ``abaw plot``'s argument) names, opened once.

A path may be a checkpoint file, a run folder (its ``best.pt``, else its
``last.pt``) or a kfold run folder of ``abaw temporal train`` (each fold's
best, else last: one member per fold); the checkpoints may hold a per-frame
model of ``abaw train`` or a temporal model of ``abaw temporal train``
(:func:`abaw.runtime.checkpoint.checkpoint_family`). :func:`open_model`
returns the members; ``abaw predict``, ``abaw predict-test``, ``abaw plot``
and ``abaw features embed`` all open their models here, and a command that
needs one per-frame model (:func:`open_frame_model`) says in one line why it
cannot take another.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from abaw.errors import CheckpointError
from abaw.model import ModelFamily
from abaw.prediction.members import TemporalMember, TrainedModel, trained_model_from_checkpoint
from abaw.runtime.checkpoint import checkpoint_family, load_checkpoint, require_family
from abaw.runtime.devices import resolve_device
from abaw.runtime.rundir import RunDir, resolve_checkpoint


@dataclass
class OpenedModel:
    """The model one path names.

    Attributes:
        path: The path as given.
        family: Per-frame or temporal.
        members: One model, or one per fold of a kfold run.
    """

    path: Path
    family: ModelFamily
    members: list[TrainedModel | TemporalMember]

    @property
    def is_kfold(self) -> bool:
        """Whether the path is a kfold run folder (its folds are the members)."""
        return RunDir(self.path).folds() != [] and self.path.is_dir()


def checkpoint_files(path: str | os.PathLike) -> list[Path]:
    """The checkpoint files a path names: the file, a run folder's best (else last), or every fold's of a kfold run.

    Raises:
        CheckpointError: naming the path when nothing is there to load.
    """
    path = Path(path)
    folds = RunDir(path).folds() if path.is_dir() else []
    if folds:
        return [resolve_checkpoint(fold.path) for fold in folds]
    return [resolve_checkpoint(path)]


def open_model(path: str | os.PathLike, device: str = "auto") -> OpenedModel:
    """Open every checkpoint ``path`` names onto ``device`` (see the module docstring).

    Raises:
        CheckpointError: naming a checkpoint that is missing, unreadable or does not fit its model,
            or a kfold run whose folds hold models of different kinds.
    """
    target = resolve_device(device)
    members: list[TrainedModel | TemporalMember] = []
    families = set()
    for file in checkpoint_files(path):
        checkpoint = load_checkpoint(file)
        family = checkpoint_family(checkpoint, file)
        families.add(family)
        if family is ModelFamily.TEMPORAL:
            members.append(TemporalMember.from_checkpoint(checkpoint, file, target))
        else:
            members.append(trained_model_from_checkpoint(checkpoint, file, str(target)))
    if len(families) > 1:
        raise CheckpointError("its folds hold models of different kinds; a kfold run trains one kind", path=path)
    return OpenedModel(Path(path), families.pop(), members)


def open_frame_model(path: str | os.PathLike, device: str = "auto", *, use: str = "this command") -> TrainedModel:
    """The one per-frame model of ``abaw train`` that ``path`` names (a checkpoint file or a run folder).

    Args:
        path: A checkpoint file or a run folder.
        device: ``auto``, ``cpu`` or ``cuda``.
        use: The command that needs it, for the message that refuses another kind of model.

    Raises:
        CheckpointError: in one line, when ``path`` is a kfold run folder or holds a temporal model
            (naming the command that takes it), or is missing, unreadable or does not fit.
    """
    files = checkpoint_files(path)
    if len(files) > 1:
        raise CheckpointError(
            f"is a kfold run folder of abaw temporal train ({len(files)} folds); {use} takes one per-frame "
            "checkpoint of abaw train",
            path=path,
        )
    checkpoint = load_checkpoint(files[0])
    require_family(checkpoint, files[0], ModelFamily.FRAME, use)
    return trained_model_from_checkpoint(checkpoint, files[0], device)


def load_trained_model(path: str | os.PathLike, device: str = "auto") -> TrainedModel:
    """Restore a per-frame model of ``abaw train`` from a checkpoint or a run folder (best, else last).

    Raises:
        CheckpointError: naming the file when it is missing, unreadable, of another kind or does not fit the model.
    """
    return open_frame_model(path, device, use="a per-frame prediction")
