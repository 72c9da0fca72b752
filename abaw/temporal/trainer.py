"""``abaw temporal train``: a temporal model over per-frame features, read top to bottom.

:func:`train_temporal` opens the run folder (a :class:`~abaw.runtime.rundir.RunDir`,
with the output policy of :mod:`abaw.outputs`) and the dataset, builds every
entry's sequence once, and then, by protocol:

* ``val``: one model trained on Train, scored on Validation after every
  epoch, ``best.pt`` the best epoch;
* ``final``: one model on Train+Validation for fixed epochs (``last.pt``);
* ``kfold``: K models under ``RUN/fold-k/``, each trained on the other folds
  of Train+Validation (folds by video) and scored on its own; the
  out-of-fold predictions of every fold's best epoch are scored as one split
  and written in the official per-video format to ``RUN/oof/``.

:func:`fit` is the loop of one model: every epoch shuffles the windows (seeded
by seed and epoch, so ``--resume`` from ``last.pt`` ends bit-identical to a
run never interrupted), steps AdamW, scores the held-out entries, writes
``last.pt``/``best.pt`` (``weights_only`` loadable: the resolved config,
the model's sizes, the normalisation and the feature names go with the
weights) and the metrics files.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch.nn.parallel import DistributedDataParallel

from abaw.data.entries import SkippedEntry
from abaw.data.index import DatasetIndex, open_dataset
from abaw.data.layout import Split
from abaw.errors import CheckpointError, DataError
from abaw.fileio import atomic_write_json, atomic_write_text, move_dir_onto
from abaw.formats.types import PredictionSet, SubmissionFormat, VideoPrediction
from abaw.formats.writers import write_per_video
from abaw.outputs import OutputKind, check_replaceable, layout_sources, output_lock, refuse_dataset_overlap
from abaw.progress import ProgressFn, no_progress
from abaw.runtime.checkpoint import load_checkpoint, save_checkpoint
from abaw.runtime.devices import Distributed, distributed
from abaw.runtime.evaluation import complete_predictions
from abaw.runtime.rundir import RunDir
from abaw.scoring.metrics import AffectScores
from abaw.scoring.report import ScoreReport, score_predictions
from abaw.temporal.config import TemporalConfig, TemporalLoss, TemporalProtocol
from abaw.temporal.folds import video_folds
from abaw.temporal.losses import window_loss
from abaw.temporal.models import create_temporal_model
from abaw.temporal.predict import TemporalMember
from abaw.temporal.runs import CHECKPOINT_KIND, OOF_DIR, SUMMARY, fold_dir, fold_dirs
from abaw.temporal.sequences import (
    EntrySequence,
    Normalisation,
    build_sequence,
    open_sources,
    visual_dim,
)
from abaw.temporal.windows import WindowBatch, as_video_predictions, cut_windows, predict_sequences, stack_windows
from abaw.training.class_weights import class_balanced_weights
from abaw.training.prepare import BestScore, seed_everything, write_skipped
from abaw.training.reporting import MetricsLog, Reporter

# --------------------------------------------------------------------------- results


@dataclass
class FoldResult:
    """One kfold member: its folder, best epoch, and its held-out scores at that epoch."""

    fold: int
    run_dir: Path
    best_epoch: int | None
    scores: AffectScores
    entries: list[str]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "fold": self.fold,
            "run_dir": str(self.run_dir),
            "best_epoch": self.best_epoch,
            "entries": self.entries,
            **self.scores.to_dict(),
        }


@dataclass
class TemporalResult:
    """What ``abaw temporal train`` left behind.

    Attributes:
        run_dir: The run folder.
        protocol: val, final or kfold.
        epochs: Epochs per model.
        rows: Every epoch's metrics row (val and final).
        best_epoch: The best validation epoch (val).
        scores: Validation at the best epoch (val), or the out-of-fold predictions scored as one split (kfold).
        folds: Each fold's result (kfold).
        oof_dir: The out-of-fold prediction files (kfold).
    """

    run_dir: Path
    protocol: TemporalProtocol
    epochs: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int | None = None
    scores: AffectScores | None = None
    folds: list[FoldResult] = field(default_factory=list)
    oof_dir: Path | None = None

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
            "rows": self.rows,
        }


# --------------------------------------------------------------------------- data


@dataclass
class SequenceData:
    """Every usable entry's raw sequence, built once per run.

    Attributes:
        index: The dataset.
        sources: Feature names and widths, in column order.
        visual_dim: Columns of the visual sources (first).
        sequences: Raw (unnormalised) sequences by entry name.
        skipped: Entries left out, with the reasons.
    """

    index: DatasetIndex
    sources: list[tuple[str, int]]
    visual_dim: int
    sequences: dict[str, EntrySequence]
    skipped: list[SkippedEntry]

    def of(self, names: Sequence[str]) -> list[EntrySequence]:
        """The sequences of ``names``, in that order."""
        return [self.sequences[name] for name in names]


def train_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: WindowBatch,
    loss_kind: TemporalLoss,
    class_weights: torch.Tensor,
) -> dict[str, float]:
    """One optimisation step on a batch of windows (the trainer's and the benchmark's); returns the loss terms."""
    pred = model(batch.inputs, batch.has_face, batch.valid)
    loss, terms = window_loss(pred, batch.targets, batch.labelled, loss_kind, class_weights)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return terms


def load_sequence_data(
    config: TemporalConfig, index: DatasetIndex, splits: Sequence[Split], progress: ProgressFn = no_progress
) -> SequenceData:
    """Open the feature sources and build the sequence of every usable labelled entry of ``splits``.

    Raises:
        DataError: when a source is missing or out of date, or no entry is usable.
    """
    selection = index.usable_entries(splits)
    entries = [entry for entry in selection.entries if entry.label_rows]
    if not entries:
        raise DataError(f"{index.layout.root}: no usable labelled entry to train on; run 'abaw data check'")
    sources = open_sources(index, config.features, [entry.name for entry in entries])
    sequences = {
        entry.name: build_sequence(index, entry, sources)
        for entry in progress(entries, "building sequences", total=len(entries))
    }
    described = [(source.name, source.dim) for source in sources]
    return SequenceData(index, described, visual_dim(sources), sequences, list(selection.skipped))


def _class_weights(sequences: Sequence[EntrySequence]) -> torch.Tensor:
    """The affect loss's class weights from the frames annotated in both dimensions."""
    labels = np.concatenate([sequence.labels for sequence in sequences])
    annotated = labels[(labels >= -1.0).all(axis=1) & (labels <= 1.0).all(axis=1)]
    if len(annotated) < 2:
        raise DataError("fewer than 2 annotated frames to train on")
    return torch.from_numpy(class_balanced_weights(annotated))


def score_entries(predictions: dict[str, VideoPrediction], index: DatasetIndex, names: Sequence[str]) -> ScoreReport:
    """Score labelled entries of any split together, as one split, with the challenge metric."""
    counts = {name: index.entries[name].label_rows for name in names}
    complete = complete_predictions(predictions, counts)
    labels = {name: index.labels(name) for name in names}
    return score_predictions(PredictionSet(SubmissionFormat.PER_VIDEO, "held out", complete), labels, counts)


# --------------------------------------------------------------------------- one model


@dataclass
class FitResult:
    """One trained model: its epoch rows and best epoch (when scored)."""

    rows: list[dict[str, Any]]
    best: BestScore


def fit(
    config: TemporalConfig,
    work: RunDir,
    data: SequenceData,
    train_names: Sequence[str],
    held_out: Sequence[str] | None,
    dist: Distributed,
    *,
    checkpoint: dict[str, Any] | None = None,
    reporter: Reporter | None = None,
) -> FitResult:
    """Train one model on ``train_names``, scoring ``held_out`` after each epoch; checkpoints in ``work``."""
    reporter = reporter or Reporter()
    raw_train = data.of(train_names)
    if checkpoint is None:
        normalisation = Normalisation.fit(raw_train, data.visual_dim)
        class_weights = _class_weights(raw_train)
    else:
        normalisation = Normalisation(
            checkpoint["normalisation"]["mean"].numpy(), checkpoint["normalisation"]["std"].numpy()
        )
        class_weights = checkpoint["class_weights"]
    train = [normalisation.apply(sequence, data.visual_dim) for sequence in raw_train]
    scored = None if held_out is None else [normalisation.apply(s, data.visual_dim) for s in data.of(held_out)]
    input_dim = train[0].inputs.shape[1]
    model_config = config.model_config(input_dim, data.visual_dim)
    seed_everything(config.seed + 7919 * (config.fold or 0))
    model = create_temporal_model(config.model, model_config).to(dist.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    start_epoch, iteration, best = 0, 0, BestScore()
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizers"]["adamw"])
        start_epoch, iteration = int(checkpoint["epoch"]), int(checkpoint["iteration"])
        best = BestScore.from_dict(checkpoint.get("best"))
    elif dist.is_main:
        atomic_write_text(work.config, yaml.safe_dump(config.to_dict(), sort_keys=False), force=True)
    trained = DistributedDataParallel(model) if dist.enabled else model
    windows = cut_windows(train, config.window, config.train_stride)
    per_rank = max(1, config.batch_size // dist.world_size)
    metrics = MetricsLog(work.path, resume_epoch=start_epoch) if dist.is_main else None
    rows = list(metrics.rows) if metrics else []
    stored = {
        "kind": CHECKPOINT_KIND,
        "config": config.to_dict(),
        "model_config": {"name": config.model, **model_config.to_dict()},
        "normalisation": {key: torch.from_numpy(value) for key, value in normalisation.to_dict().items()},
        "features": {"names": [name for name, _ in data.sources], "dims": [dim for _, dim in data.sources]},
        "class_weights": class_weights,
    }
    try:
        for epoch in range(start_epoch + 1, config.epochs + 1):
            started = time.perf_counter()
            seed = _epoch_seed(config.seed, epoch, config.fold or 0)
            order = torch.randperm(len(windows), generator=torch.Generator().manual_seed(seed)).tolist()
            usable = len(order) - len(order) % dist.world_size if len(order) >= dist.world_size else len(order)
            mine = order[:usable][dist.shard(usable)]
            torch.manual_seed(seed + dist.rank)  # dropout
            steps = (len(mine) + per_rank - 1) // per_rank
            reporter.start_epoch(epoch, config.epochs, steps)
            totals: dict[str, float] = {}
            model.train()
            for step in range(steps):
                picked = [windows[i] for i in mine[step * per_rank : (step + 1) * per_rank]]
                terms = train_step(
                    trained,
                    optimizer,
                    stack_windows(train, picked, config.window).to(dist.device),
                    config.loss,
                    class_weights.to(dist.device),
                )
                iteration += 1
                for key, value in terms.items():
                    totals[key] = totals.get(key, 0.0) + value / steps
                reporter.step(terms)
            row: dict[str, Any] = {"epoch": epoch, "iteration": iteration, **_mean_over_ranks(dist, totals)}
            is_best = False
            if scored is not None:
                values = predict_sequences(model, scored, config.window, device=dist.device)
                scores = score_entries(as_video_predictions(scored, values), data.index, held_out).scores
                row.update({f"val/{key}": value for key, value in scores.to_dict().items()})
                is_best = best.update(epoch, scores.ccc_mean)
                if is_best:
                    row["best"] = True
            row["seconds"] = time.perf_counter() - started
            if dist.is_main:
                payload = {
                    **stored,
                    "model": model.state_dict(),
                    "optimizers": {"adamw": optimizer.state_dict()},
                    "epoch": epoch,
                    "iteration": iteration,
                    "best": best.to_dict(),
                    "metrics": row,
                }
                save_checkpoint(work.last, payload, also=[work.best] if is_best else [])
                metrics.append(row)
            rows.append(row)
            reporter.end_epoch(row)
            dist.barrier()
    finally:
        reporter.close()
    return FitResult(rows, best)


def _mean_over_ranks(dist: Distributed, totals: dict[str, float]) -> dict[str, float]:
    """Each logged term averaged over the ranks that have it (a rank whose batches lacked a dimension has none)."""
    gathered = dist.gather(totals)
    keys = sorted({key for part in gathered for key in part})
    return {key: float(np.mean([part[key] for part in gathered if key in part])) for key in keys}


def _epoch_seed(seed: int, epoch: int, fold: int) -> int:
    return (seed * 1_000_003 + epoch * 10_007 + fold * 101) % 2**63


def require_temporal(checkpoint: dict[str, Any], path: Path) -> dict[str, Any]:
    """``checkpoint`` when it is a temporal one with a training state.

    Raises:
        CheckpointError: naming ``path`` otherwise.
    """
    if checkpoint.get("kind") != CHECKPOINT_KIND:
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
    final = RunDir(refuse_dataset_overlap(run_dir, config.require_dataset().read_paths()))
    with distributed(config.device) as dist, contextlib.ExitStack() as lock:
        if dist.is_main:
            lock.enter_context(output_lock(final.path))
        reporter = reporter if (reporter is not None and dist.is_main) else Reporter()
        progress = progress if dist.is_main else no_progress
        if dist.is_main:
            index = open_dataset(config.require_dataset(), progress=progress)
        dist.barrier()
        if not dist.is_main:
            index = open_dataset(config.require_dataset())
        data = load_sequence_data(config, index, config.protocol.train_splits, progress)
        work = _open_work(final, config, resume, force, dist)
        try:
            if dist.is_main:
                write_skipped(work.path, data.skipped)
            if config.protocol is TemporalProtocol.KFOLD:
                result = _train_kfold(config, final, work, data, dist, resume=resume, reporter=reporter)
            else:
                result = _train_single(config, final, work, data, dist, resume=resume, reporter=reporter)
        except BaseException:
            started = any(fold.last.is_file() for fold in fold_dirs(final.staging.path))
            if dist.is_main and not resume and not started:  # a kfold replacement with a finished epoch is resumable
                final.discard_unstarted_staging()
            raise
        if dist.is_main and work != final:
            move_dir_onto(work.path, final.path)
        dist.barrier()
        return result


def _open_work(final: RunDir, config: TemporalConfig, resume: bool, force: bool, dist: Distributed) -> RunDir:
    """The folder this attempt writes: a new run, ``RUN.partial`` beside one it replaces, or the one resumed."""
    work = final
    if resume:
        work = _resumed(final, config.protocol)
        if work != final:
            check_replaceable(final.path, OutputKind.TRAIN_RUN, force=True)
    elif dist.is_main:
        work = final.create(force)
    dist.barrier()
    return RunDir(dist.broadcast(str(work.path)))  # the other ranks read the checkpoints rank 0 writes


def _resumed(final: RunDir, protocol: TemporalProtocol) -> RunDir:
    """The folder ``--resume`` continues (a kfold run: the one whose folds have a ``last.pt``)."""
    if protocol is not TemporalProtocol.KFOLD:
        final.resume_checkpoint()  # raises "nothing to resume"
        return final.resumed()
    for candidate in (final.staging, final):
        if any(fold.last.is_file() for fold in fold_dirs(candidate.path)):
            return candidate
    raise CheckpointError("nothing to resume: no fold-k/last.pt here", path=final.path)


def _train_single(
    config: TemporalConfig,
    final: RunDir,
    work: RunDir,
    data: SequenceData,
    dist: Distributed,
    *,
    resume: bool,
    reporter: Reporter,
) -> TemporalResult:
    """The val or final protocol: one model in the run folder itself."""
    index = data.index
    train_names = sorted(name for name in data.sequences if index.entries[name].split is Split.TRAIN)
    if config.protocol is TemporalProtocol.FINAL:
        train_names = sorted(data.sequences)
    held_out = None
    if config.protocol is TemporalProtocol.VAL:
        validation = load_sequence_data(config, index, [Split.VALIDATION])
        data.sequences.update(validation.sequences)
        held_out = sorted(validation.sequences)
    if not train_names:
        raise DataError(f"{index.layout.root}: no usable Train entry to train on")
    checkpoint = _resume_checkpoint(work) if resume else None
    fitted = fit(config, work, data, train_names, held_out, dist, checkpoint=checkpoint, reporter=reporter)
    scores = None
    if fitted.best.epoch is not None:
        best_row = next(row for row in fitted.rows if row["epoch"] == fitted.best.epoch)
        scores = _scores_of_row(best_row)
    return TemporalResult(final.path, config.protocol, config.epochs, fitted.rows, fitted.best.epoch, scores)


def _resume_checkpoint(run: RunDir) -> dict[str, Any] | None:
    if not run.last.is_file():
        return None
    return require_temporal(load_checkpoint(run.last), run.last)


def _scores_of_row(row: dict[str, Any]) -> AffectScores:
    names = [item for item in AffectScores.__dataclass_fields__]
    return AffectScores(**{name: row[f"val/{name}"] for name in names})


def _train_kfold(
    config: TemporalConfig,
    final: RunDir,
    work: RunDir,
    data: SequenceData,
    dist: Distributed,
    *,
    resume: bool,
    reporter: Reporter,
) -> TemporalResult:
    """K models by video fold; their out-of-fold predictions scored as one split and written to ``RUN/oof``."""
    index = data.index
    entries = [index.entries[name] for name in sorted(data.sequences)]
    folds = video_folds(entries, config.folds, config.seed)
    results: list[FoldResult] = []
    oof: dict[str, VideoPrediction] = {}
    for number, held_out in enumerate(folds, start=1):
        member = fold_dir(work.path, number)
        fold_config = config.replace(fold=number)
        train_names = sorted(name for other in folds if other is not held_out for name in other)
        checkpoint = _resume_checkpoint(member) if resume else None
        if checkpoint is None and dist.is_main:
            member.create(force=True)  # an unstarted fold folder is abaw's; replace it
        dist.barrier()
        reporter.note(f"fold {number}/{config.folds}: {len(train_names)} entries to train, {len(held_out)} held out")
        if checkpoint is None or int(checkpoint["epoch"]) < config.epochs:
            fit(fold_config, member, data, train_names, held_out, dist, checkpoint=checkpoint, reporter=reporter)
        best_path = member.best_or_last()
        stored = load_checkpoint(best_path)
        predictor = TemporalMember.from_checkpoint(stored, best_path, dist.device)
        predictions = predictor.predict_sequences(data.of(held_out))
        oof.update(predictions)
        scores = score_entries(predictions, index, held_out).scores
        best_epoch = (stored.get("best") or {}).get("epoch")
        results.append(FoldResult(number, fold_dir(final.path, number).path, best_epoch, scores, list(held_out)))
    names = sorted(oof)
    report = score_entries(oof, index, names)
    oof_dir = work.path / OOF_DIR
    if dist.is_main:
        counts = {name: index.entries[name].label_rows for name in names}
        write_per_video(oof_dir, oof, counts, force=True, protect=layout_sources(index.layout), marker=False)
    result = TemporalResult(final.path, config.protocol, config.epochs, scores=report.scores, folds=results)
    result.oof_dir = final.path / OOF_DIR
    if dist.is_main:
        atomic_write_json(work.path / SUMMARY, result.to_dict(), force=True)
    return result


def read_summary(run: str | os.PathLike) -> dict[str, Any]:
    """The ``summary.json`` of a finished kfold run."""
    return json.loads((Path(run) / SUMMARY).read_text(encoding="utf-8"))


def resume_temporal_config(run_dir: str | os.PathLike, **changes: Any) -> TemporalConfig:
    """The stored settings of a temporal run (its ``last.pt``, or a kfold run's first fold) with ``changes``.

    ``None`` changes are ignored; a kfold member's ``fold`` is dropped, so the
    result describes the whole run.

    Raises:
        CheckpointError: when there is nothing to resume.
    """
    final = RunDir(run_dir)
    folds = [fold.last for candidate in (final.staging, final) for fold in fold_dirs(candidate.path)]
    existing = [path for path in folds if path.is_file()]
    path = existing[0] if existing else final.resume_checkpoint()
    stored = require_temporal(load_checkpoint(path), path)
    values = {**stored["config"], "fold": None}
    return TemporalConfig.from_dict(values, source=str(path)).replace(**changes)
