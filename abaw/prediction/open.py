"""The one door to a trained model: what ``--checkpoint`` (or ``abaw plot``'s argument) names, opened once.

A path may be a checkpoint file, a run folder (its ``best.pt``, else its
``last.pt``) or a kfold run folder of ``abaw temporal train`` (each fold's
best, else last: one member per fold), used only when it is complete and
consistent (:func:`require_complete_kfold`); the checkpoints may hold a per-frame
model of ``abaw train`` or a temporal model of ``abaw temporal train``
(:func:`abaw.runtime.checkpoint.checkpoint_family`). :func:`open_model`
returns the members; ``abaw predict``, ``abaw predict-test``, ``abaw plot``
and ``abaw features embed`` all open their models here, and a command that
needs one per-frame model (:func:`open_frame_model`) says in one line why it
cannot take another.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from abaw.data.embeddings import checkpoint_fingerprint
from abaw.errors import CheckpointError
from abaw.messages import first_difference
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
            or a kfold run that is unfinished, misses a fold, or holds a fold of another run or kind.
    """
    target = resolve_device(device)
    files = checkpoint_files(path)
    checkpoints = [load_checkpoint(file) for file in files]
    families = {checkpoint_family(checkpoint, file) for file, checkpoint in zip(files, checkpoints, strict=True)}
    if len(families) > 1:
        raise CheckpointError("its folds hold models of different kinds; a kfold run trains one kind", path=path)
    if Path(path).is_dir() and RunDir(path).folds():
        require_complete_kfold(Path(path), dict(zip(files, checkpoints, strict=True)))
    family = families.pop()
    members: list[TrainedModel | TemporalMember] = []
    for file, checkpoint in zip(files, checkpoints, strict=True):
        if family is ModelFamily.TEMPORAL:
            members.append(TemporalMember.from_checkpoint(checkpoint, file, target))
        else:
            members.append(trained_model_from_checkpoint(checkpoint, file, str(target)))
    return OpenedModel(Path(path), family, members)


def require_complete_kfold(path: Path, checkpoints: dict[Path, dict[str, Any]]) -> None:
    """Refuse a kfold run folder that is not one finished run: what predicts with it must be every fold of it.

    A finished kfold run has its ``summary.json`` (written when the last fold
    ends), a folder per fold it lists, and fold checkpoints trained with the
    same settings (but their fold) that are the ones the summary records.

    Args:
        path: The kfold run folder.
        checkpoints: Each fold's checkpoint file (best, else last) and its contents, in fold order.

    Raises:
        CheckpointError: in one line naming the folder or the fold at fault and what to run.
    """
    run = RunDir(path)
    folds = run.folds()
    resume = f"finish it with 'abaw temporal train --resume --out {path}' before predicting with it"
    if not run.summary.is_file():
        raise CheckpointError(f"an unfinished kfold run (no {RunDir.SUMMARY}): {_progress(run)}; {resume}", path=path)
    try:
        summary = json.loads(run.summary.read_text(encoding="utf-8"))
        recorded = {int(fold["fold"]): fold for fold in summary["folds"]}
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CheckpointError(f"unreadable ({error}); train the run again with --force", path=run.summary) from None
    present = [fold.fold_number for fold in folds]
    if sorted(recorded) != present:
        missing = ", ".join(f"fold-{number}" for number in sorted(set(recorded) - set(present))) or "none"
        stray = ", ".join(f"fold-{number}" for number in sorted(set(present) - set(recorded))) or "none"
        raise CheckpointError(
            f"its {RunDir.SUMMARY} records {len(recorded)} folds; missing: {missing}, not of this run: {stray}; "
            "a kfold ensemble needs every fold of one run: train it again with --force",
            path=path,
        )
    first_file, first = next(iter(checkpoints.items()))
    settings = _settings_but_fold(first)
    for file, checkpoint in checkpoints.items():
        number = RunDir(file.parent).fold_number
        fold = checkpoint.get("config", {}).get("fold")
        if fold not in (None, number):
            raise CheckpointError(f"holds fold {fold} of a kfold run, not fold {number}: a fold of another run", file)
        if file != first_file and _settings_but_fold(checkpoint) != settings:
            difference = first_difference(settings, _settings_but_fold(checkpoint))
            raise CheckpointError(
                f"trained with other settings than {first_file.parent.name} ({difference}): a fold of another run; "
                "train the kfold run again with --force",
                path=file,
            )
        sha256 = recorded[number].get("checkpoint_sha256")
        if sha256 is not None and checkpoint_fingerprint(file) != sha256:
            raise CheckpointError(
                f"is not the checkpoint {RunDir.SUMMARY} records for fold {number} (copied from another run, "
                "or trained again?); train the kfold run again with --force",
                path=file,
            )


def _settings_but_fold(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """What every fold of one kfold run shares: its settings but the fold, and what made its features."""
    config = {key: value for key, value in dict(checkpoint.get("config", {})).items() if key != "fold"}
    features = checkpoint.get("features") or {}
    return {**config, "features made by": features.get("fingerprints")}


def _progress(run: RunDir) -> str:
    """How far each fold of an unfinished kfold run got: ``fold-2 stopped after epoch 1 of 3, fold-3 not started``."""
    parts, folds, present = [], 0, run.folds()
    for fold in present:
        if not fold.last.is_file():
            parts.append(f"{fold.path.name} has no finished epoch")
            continue
        checkpoint = load_checkpoint(fold.last)
        config = checkpoint.get("config", {})
        folds = max(folds, int(config.get("folds") or 0))
        epochs, epoch = config.get("epochs"), checkpoint.get("epoch")
        if epochs is not None and epoch is not None and epoch < epochs:
            parts.append(f"{fold.path.name} stopped after epoch {epoch} of {epochs}")
    numbers = [fold.fold_number for fold in present]
    parts.extend(f"fold-{number} not started" for number in range(1, folds + 1) if number not in numbers)
    return ", ".join(parts) or "its last fold did not end"


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
