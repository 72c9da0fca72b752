"""``abaw temporal train``: a temporal model over per-frame features, read top to bottom.

:func:`train_temporal` opens the run folder (:func:`~abaw.fitting.run.open_run_folder`)
and the dataset, builds every entry's sequence once, and then, by protocol:

* ``val``: one model trained on Train, scored on Validation after every
  epoch, ``best.pt`` the best epoch;
* ``final``: one model on Train+Validation for fixed epochs (``last.pt``);
* ``kfold``: K models under ``RUN/fold-k/``, each trained on the other folds
  of Train+Validation (folds by video) and scored on its own; the
  out-of-fold predictions of every fold's best epoch are scored as one split
  and written in the official per-video format to ``RUN/oof/``;
* ``heldout``: the same over Validation alone (a second stage fitted only on
  the videos its per-frame embeddings never trained on).

Each model is fitted by :func:`abaw.temporal.epochs.fit` (the epoch loop
over a network's windows, or the ridge's closed form).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from abaw.data.embeddings import checkpoint_fingerprint
from abaw.data.layout import Split
from abaw.data.sequences import SequenceData, load_sequence_data, require_same_features
from abaw.errors import CheckpointError, DataError
from abaw.fileio import atomic_write_json
from abaw.fitting.records import Reporter, scores_of_row, write_skipped
from abaw.fitting.run import RunFolder, open_run_dataset, open_run_folder
from abaw.formats.types import VideoPrediction
from abaw.formats.writers import write_per_video
from abaw.model import ModelFamily
from abaw.outputs import OutputKind, layout_sources, remove_output_dir, write_marker
from abaw.progress import ProgressFn, no_progress
from abaw.runtime.checkpoint import load_checkpoint
from abaw.runtime.devices import Distributed, distributed
from abaw.runtime.evaluation import score_entries
from abaw.runtime.rundir import RunDir
from abaw.scoring.metrics import AffectScores
from abaw.temporal.config import TemporalConfig, TemporalProtocol
from abaw.temporal.epochs import fit
from abaw.temporal.folds import video_folds

# --------------------------------------------------------------------------- results


@dataclass
class FoldResult:
    """One kfold member: its folder, best epoch, its held-out scores at that epoch, and its checkpoint's SHA-256."""

    fold: int
    run_dir: Path
    best_epoch: int | None
    scores: AffectScores
    entries: list[str]
    checkpoint_sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "fold": self.fold,
            "run_dir": str(self.run_dir),
            "best_epoch": self.best_epoch,
            "entries": self.entries,
            "checkpoint_sha256": self.checkpoint_sha256,
            **self.scores.to_dict(),
        }


@dataclass
class TemporalResult:
    """What ``abaw temporal train`` left behind.

    Attributes:
        run_dir: The run folder.
        protocol: val, final, kfold or heldout.
        epochs: Epochs per model.
        rows: Every epoch's metrics row (val and final).
        best_epoch: The best validation epoch (val).
        scores: Validation at the best epoch (val), or the out-of-fold predictions scored as one split
            (kfold, heldout).
        folds: Each fold's result (kfold, heldout).
        oof_dir: The out-of-fold prediction files (kfold, heldout).
        unseen_scores: The out-of-fold predictions of the entries no feature source's model trained on,
            scored as one split: the honest out-of-fold score (``None`` when there are none, or it is not
            known which they are).
        unseen_entries: How many entries that score covers.
        oof: The out-of-fold predictions, by entry (in memory only).
    """

    run_dir: Path
    protocol: TemporalProtocol
    epochs: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int | None = None
    scores: AffectScores | None = None
    folds: list[FoldResult] = field(default_factory=list)
    oof_dir: Path | None = None
    unseen_scores: AffectScores | None = None
    unseen_entries: int = 0
    oof: dict[str, VideoPrediction] | None = field(default=None, repr=False, compare=False)

    def fold_spread(self) -> tuple[float, float] | None:
        """Mean and (population) standard deviation of the folds' mean CCC (kfold)."""
        if not self.folds:
            return None
        values = np.array([fold.scores.ccc_mean for fold in self.folds])
        return float(values.mean()), float(values.std())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``--json``)."""
        spread = self.fold_spread()
        return {
            "run_dir": str(self.run_dir),
            "protocol": self.protocol.value,
            "epochs": self.epochs,
            "best_epoch": self.best_epoch,
            "scores": None if self.scores is None else self.scores.to_dict(),
            "folds": [fold.to_dict() for fold in self.folds],
            "fold_ccc_mean": None if spread is None else spread[0],
            "fold_ccc_std": None if spread is None else spread[1],
            "oof_dir": None if self.oof_dir is None else str(self.oof_dir),
            "unseen_scores": None if self.unseen_scores is None else self.unseen_scores.to_dict(),
            "unseen_entries": self.unseen_entries,
            "rows": self.rows,
        }


def require_temporal(checkpoint: dict[str, Any], path: Path) -> dict[str, Any]:
    """``checkpoint`` when it is a temporal one with a training state.

    Raises:
        CheckpointError: naming ``path`` otherwise.
    """
    if checkpoint.get("kind") != ModelFamily.TEMPORAL.value:
        raise CheckpointError("not a checkpoint of abaw temporal train", path=path)
    missing = [
        key for key in ("optimizers", "normalisation", "class_weights", "epoch", "iteration") if key not in checkpoint
    ]
    if missing:
        raise CheckpointError(f"cannot be resumed: no {', '.join(missing)} inside", path=path)
    return checkpoint


# --------------------------------------------------------------------------- the protocols


def train_temporal(
    config: TemporalConfig,
    run_dir: str | os.PathLike,
    *,
    resume: bool = False,
    force: bool = False,
    reporter: Reporter | None = None,
    progress: ProgressFn = no_progress,
) -> TemporalResult:
    """Train ``config.model`` over ``config.features`` under ``config.protocol`` into ``run_dir``.

    Args:
        config: The settings (``config.dataset`` names the data).
        run_dir: The run folder; created, or continued with ``resume``.
        resume: Continue from the ``last.pt`` files (kfold: the unfinished folds).
        force: Replace an existing run folder (one abaw wrote), once the new run ends.
        reporter: Shows progress (rank 0 only).
        progress: Progress bar for indexing and building sequences.

    Raises:
        AbawError: for bad data, settings or checkpoints (one line each).
        UnsafeOutputError: ``run_dir`` is in the dataset, or a folder abaw did not write.
        OutputBusyError: another process writes ``run_dir``.
    """
    dataset = config.require_dataset()
    with distributed(config.device) as dist:
        reporter = reporter if (reporter is not None and dist.is_main) else Reporter()
        progress = progress if dist.is_main else no_progress
        with open_run_folder(run_dir, dataset, dist, resume=resume, force=force) as folder:
            index = open_run_dataset(dataset, dist, progress)
            data = load_sequence_data(index, config.features, config.protocol.train_splits, progress)
            if dist.is_main:
                write_skipped(folder.work.path, data.skipped)
            if config.protocol.by_folds:
                return _train_kfold(config, folder, data, dist, reporter)
            return _train_single(config, folder, data, dist, reporter)


def _train_single(
    config: TemporalConfig, folder: RunFolder, data: SequenceData, dist: Distributed, reporter: Reporter
) -> TemporalResult:
    """The val or final protocol: one model in the run folder itself."""
    index = data.index
    train_names = sorted(name for name in data.sequences if index.entries[name].split is Split.TRAIN)
    if config.protocol is TemporalProtocol.FINAL:
        train_names = sorted(data.sequences)
    held_out = None
    if config.protocol is TemporalProtocol.VAL:
        validation = load_sequence_data(index, config.features, [Split.VALIDATION])
        data.sequences.update(validation.sequences)
        held_out = sorted(validation.sequences)
    if not train_names:
        raise DataError(f"{index.layout.root}: no usable Train entry to train on")
    checkpoint = _resume_checkpoint(folder.work, data) if folder.resumed else None
    fitted = fit(config, folder.work, data, train_names, held_out, dist, checkpoint=checkpoint, reporter=reporter)
    scores = None
    if fitted.best.epoch is not None:
        scores = scores_of_row(next(row for row in fitted.rows if row["epoch"] == fitted.best.epoch))
    epochs = fitted.epochs.epochs
    return TemporalResult(folder.final.path, config.protocol, epochs, fitted.rows, fitted.best.epoch, scores)


def _resume_checkpoint(run: RunDir, data: SequenceData) -> dict[str, Any] | None:
    if not run.last.is_file():
        return None
    checkpoint = require_temporal(load_checkpoint(run.last), run.last)
    require_same_features(checkpoint["features"], data.keys, run.last, data.index.layout)
    return checkpoint


def _fresh_fold(fold: RunDir) -> None:
    """Empty ``fold``'s folder for a fold that starts over (what an unfinished first epoch left is abaw's)."""
    if fold.path.exists():
        remove_output_dir(fold.path, OutputKind.TRAIN_RUN)
    fold.path.mkdir(parents=True)
    write_marker(fold.path, OutputKind.TRAIN_RUN)


def _train_kfold(
    config: TemporalConfig, folder: RunFolder, data: SequenceData, dist: Distributed, reporter: Reporter
) -> TemporalResult:
    """K models by video fold; their out-of-fold predictions scored as one split and written to ``RUN/oof``.

    The entries whose features no source's model trained on (embeddings of a
    model trained on Train: the Validation entries) are scored apart too: the
    honest out-of-fold score, where the others' features are in-sample.
    """
    index = data.index
    entries = [index.entries[name] for name in sorted(data.sequences)]
    folds = video_folds(entries, config.folds)
    results: list[FoldResult] = []
    oof: dict[str, VideoPrediction] = {}
    for number, held_out in enumerate(folds, start=1):
        member = folder.work.fold(number)
        train_names = sorted(name for other in folds if other is not held_out for name in other)
        checkpoint = _resume_checkpoint(member, data) if folder.resumed else None
        if checkpoint is None and dist.is_main:
            _fresh_fold(member)
        dist.barrier()
        reporter.note(f"fold {number}/{config.folds}: {len(train_names)} entries to train, {len(held_out)} held out")
        fold_config = config.replace(fold=number)
        fitted = fit(fold_config, member, data, train_names, held_out, dist, checkpoint=checkpoint, reporter=reporter)
        best_path = member.best_or_last()
        best_state = load_checkpoint(best_path)
        fitted.epochs.model.load_state_dict(best_state["model"])
        predictions = fitted.epochs.predict(fitted.epochs.normalised(held_out))
        oof.update(predictions)
        scores = score_entries(predictions, index, held_out).scores
        best_epoch = (best_state.get("best") or {}).get("epoch")
        # The summary names each fold's checkpoint by content, so a fold replaced later is not taken for this one.
        sha256 = checkpoint_fingerprint(best_path)
        results.append(FoldResult(number, folder.final.fold(number).path, best_epoch, scores, list(held_out), sha256))
    names = sorted(oof)
    report = score_entries(oof, index, names)
    if dist.is_main:
        counts = {name: index.entries[name].label_rows for name in names}
        write_per_video(folder.work.oof, oof, counts, force=True, protect=layout_sources(index.layout), marker=False)
    epochs = fitted.epochs.epochs  # every fold's model trains as many
    result = TemporalResult(folder.final.path, config.protocol, epochs, scores=report.scores, folds=results)
    result.oof_dir, result.oof = folder.final.oof, oof
    unseen = data.unseen(names)
    if unseen:
        result.unseen_scores, result.unseen_entries = score_entries(oof, index, unseen).scores, len(unseen)
    if dist.is_main:
        atomic_write_json(folder.work.summary, result.to_dict(), force=True)
    return result


def read_summary(run: str | os.PathLike) -> dict[str, Any]:
    """The ``summary.json`` of a finished kfold run."""
    return json.loads(RunDir(run).summary.read_text(encoding="utf-8"))


def resume_temporal_config(run_dir: str | os.PathLike, **changes: Any) -> TemporalConfig:
    """The stored settings of a temporal run (its ``last.pt``, or a kfold run's first fold) with ``changes``.

    ``None`` changes are ignored; a kfold member's ``fold`` is dropped, so the
    result describes the whole run.

    Raises:
        CheckpointError: when there is nothing to resume.
    """
    final = RunDir(run_dir)
    folds = [fold.last for candidate in (final.staging, final) for fold in candidate.folds()]
    existing = [path for path in folds if path.is_file()]
    path = existing[0] if existing else final.resume_checkpoint()
    stored = require_temporal(load_checkpoint(path), path)
    values = {**stored["config"], "fold": None}
    return TemporalConfig.from_dict(values, source=str(path)).replace(**changes)
