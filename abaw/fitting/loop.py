"""The epoch loop both trainers run: train, validate, keep the best, save, log, report.

A trainer supplies an :class:`EpochTrainer` (its step over one epoch, its
validation and its checkpoint payload); :func:`run_epochs` does the rest
the same way for the ALN (:mod:`abaw.training.trainer`) and the temporal
models (:mod:`abaw.temporal.trainer`): the losses averaged over the ranks,
``val/...`` scores, the best epoch, ``last.pt`` and ``best.pt`` (one
serialisation), ``metrics.jsonl``/``metrics.csv`` kept across resumes,
TensorBoard when asked, the reporter, and a barrier after every epoch.
Only rank 0 writes.

Everything an epoch draws at random is seeded from :func:`epoch_seed`, so a
run resumed from ``last.pt`` after a kill ends with the same weights as one
that was never interrupted.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import torch

from abaw.fitting.records import BestScore, EpochRow, MetricsLog, Reporter, TensorBoardLog
from abaw.runtime.checkpoint import save_checkpoint
from abaw.runtime.devices import Distributed
from abaw.runtime.rundir import RunDir
from abaw.scoring.metrics import AffectScores

EpochCallback = Callable[[int, dict[str, Any]], None]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def epoch_seed(seed: int, epoch: int, offset: int = 0) -> int:
    """The seed of one epoch of a run seeded ``seed``; ``offset`` tells apart its ranks or folds.

    Example:
        >>> epoch_seed(0, 1), epoch_seed(0, 1, offset=1)
        (10007, 10008)
    """
    return (seed * 1_000_003 + epoch * 10_007 + offset) % 2**63


class EpochTrainer(Protocol):
    """What a trainer gives :func:`run_epochs`.

    Attributes:
        iteration: Optimisation steps taken so far (stored in checkpoints).
    """

    iteration: int

    def train_epoch(self, epoch: int, reporter: Reporter) -> dict[str, float]:
        """Train one epoch; each logged term averaged over this rank's steps."""
        ...

    def validate(self, epoch: int) -> AffectScores | None:
        """The held-out scores after ``epoch`` (the same on every rank), or ``None`` when nothing is held out."""
        ...

    def checkpoint(self, row: dict[str, Any], best: BestScore) -> dict[str, Any]:
        """Everything ``last.pt`` holds after the epoch of ``row`` (see :mod:`abaw.runtime.checkpoint`)."""
        ...


def run_epochs(
    trainer: EpochTrainer,
    work: RunDir,
    dist: Distributed,
    *,
    epochs: int,
    start_epoch: int = 0,
    best: BestScore | None = None,
    reporter: Reporter | None = None,
    tensorboard: bool = False,
    on_epoch_end: EpochCallback | None = None,
) -> list[dict[str, Any]]:
    """Run epochs ``start_epoch + 1`` to ``epochs`` of ``trainer``, writing into ``work``; every epoch's row.

    Args:
        trainer: The step, validation and checkpoint of one model.
        work: The run folder being written.
        dist: Where this process sits among the run's processes.
        epochs: The last epoch.
        start_epoch: Epochs already finished (a resumed run); their rows are read back from ``metrics.jsonl``.
        best: The best epoch so far (a resumed run's); updated in place.
        reporter: Shows progress (rank 0).
        tensorboard: Also log every row to TensorBoard in ``work/tensorboard``.
        on_epoch_end: Called with the epoch and its row once its files are written.
    """
    best = best if best is not None else BestScore()
    reporter = reporter or Reporter()
    metrics = MetricsLog(work.path, resume_epoch=start_epoch) if dist.is_main else None
    board = TensorBoardLog(work.path) if tensorboard and dist.is_main else None
    rows = list(metrics.rows) if metrics else []
    try:
        for epoch in range(start_epoch + 1, epochs + 1):
            started = time.perf_counter()
            row = EpochRow(epoch, 0, dist.mean(trainer.train_epoch(epoch, reporter)))
            row.iteration = trainer.iteration
            scores = trainer.validate(epoch)
            if scores is not None:
                row.validation = scores.to_dict()
                row.best = best.update(epoch, scores.ccc_mean)
            row.seconds = time.perf_counter() - started
            written = row.to_dict()
            if metrics is not None:
                save_checkpoint(work.last, trainer.checkpoint(written, best), also=[work.best] if row.best else [])
                metrics.append(written)
                if board is not None:
                    board.log(written, epoch)
            rows.append(written)
            reporter.end_epoch(written)
            dist.barrier()
            if on_epoch_end is not None:
                on_epoch_end(epoch, written)
    finally:
        reporter.close()
        if board is not None:
            board.close()
    return rows
