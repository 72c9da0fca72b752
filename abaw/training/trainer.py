"""``abaw train``: a training run, read top to bottom.

:func:`train` prepares the run (:func:`~abaw.training.prepare.prepare_run`:
the run folder, data, class weights, audio, model, solver and loader), then
:func:`run_epochs` loops, every epoch:

1. :func:`train_epoch`: shuffle (seeded by seed and epoch, sharded over
   ranks), run the solver's D and G steps, average the losses over ranks;
2. :func:`validate`: score Validation (val protocol) with
   :func:`~abaw.runtime.evaluation.evaluate`;
3. :func:`save_epoch`: write ``last.pt`` (and ``best.pt``), then the metrics.

Everything a step draws at random is seeded from ``(seed, epoch, rank)``, so
a run resumed from ``last.pt`` after a kill ends with the same weights as
one that was never interrupted.

The run folder follows :mod:`abaw.outputs`: never in the dataset, locked
while a process writes it, and with ``force`` an earlier run is replaced only
once the new one has finished: until then the new run lives in
``RUN.partial`` (which ``resume`` continues) and ``RUN`` keeps the old one.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from abaw.data.layout import Split
from abaw.data.samples import batch_to_device, raise_first_fault
from abaw.errors import CheckpointError
from abaw.fileio import move_dir_onto
from abaw.outputs import output_lock, refuse_dataset_overlap
from abaw.progress import ProgressFn, no_progress
from abaw.runtime.checkpoint import load_checkpoint, save_checkpoint
from abaw.runtime.devices import distributed
from abaw.runtime.evaluation import evaluate
from abaw.runtime.rundir import RunDir
from abaw.scoring.metrics import AffectScores
from abaw.training.config import DiscriminatorAffect, TrainConfig
from abaw.training.prepare import PreparedRun, prepare_run
from abaw.training.reporting import MetricsLog, Reporter, TensorBoardLog
from abaw.training.solver import uses_bf16

EpochCallback = Callable[[int, dict[str, Any]], None]


@dataclass
class TrainResult:
    """What a finished run left behind.

    Attributes:
        run_dir: The run folder.
        epochs: Epochs completed.
        last: Path of ``last.pt``.
        best: Path of ``best.pt`` (val protocol), else ``None``.
        best_epoch: The epoch of ``best.pt``.
        rows: Every epoch's metrics row.
    """

    run_dir: Path
    epochs: int
    last: Path
    best: Path | None = None
    best_epoch: int | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (for ``--json``)."""
        return {
            "run_dir": str(self.run_dir),
            "epochs": self.epochs,
            "last": str(self.last),
            "best": None if self.best is None else str(self.best),
            "best_epoch": self.best_epoch,
            "rows": self.rows,
        }


def train(
    config: TrainConfig,
    run_dir: str | os.PathLike,
    *,
    resume: bool = False,
    force: bool = False,
    strict: bool = False,
    reporter: Reporter | None = None,
    progress: ProgressFn = no_progress,
    on_epoch_end: EpochCallback | None = None,
) -> TrainResult:
    """Train ``config.variant`` under ``config.protocol``, writing checkpoints and metrics to ``run_dir``.

    Entries that cannot train (an error in one of their files, or no frame
    with both labels and a face image) are skipped: each is named through
    ``reporter`` and listed with its reason in ``run_dir/skipped.json``.

    Args:
        config: The resolved settings (``config.dataset`` names the data).
        run_dir: The run folder; created, or continued with ``resume``.
        resume: Continue from ``run_dir/last.pt``; ``config`` should come
            from :func:`resume_config`.
        force: Replace an existing run folder (one abaw wrote), once the new run ends.
        strict: Refuse any error in the protocol's splits instead of skipping its entry.
        reporter: Shows progress (rank 0 only).
        progress: Progress bar for dataset indexing and validation.
        on_epoch_end: Called with the epoch and its metrics row after the
            checkpoints are written.

    Raises:
        AbawError: for bad data, settings or checkpoints (one line each);
            :class:`DataError` when no usable training frame is left (or, for
            the val protocol, no usable validation frame).
        UnsafeOutputError: ``run_dir`` is in the dataset, or a folder abaw did not write.
        OutputBusyError: another process writes ``run_dir``.
    """
    final = RunDir(refuse_dataset_overlap(run_dir, config.require_dataset().read_paths()))
    with distributed(config.device) as dist, contextlib.ExitStack() as lock:
        if dist.is_main:  # only rank 0 writes under torchrun
            lock.enter_context(output_lock(final.path))
        try:
            reporter = reporter if (reporter is not None and dist.is_main) else Reporter()
            progress = progress if dist.is_main else no_progress
            run = prepare_run(
                config, final, dist, resume=resume, force=force, strict=strict, reporter=reporter, progress=progress
            )
            return run_epochs(run, reporter, progress, on_epoch_end)
        except BaseException:
            if dist.is_main and not resume:
                final.discard_unstarted_staging()
            raise


@dataclass
class EpochRow:
    """One epoch's metrics: a line of ``metrics.jsonl`` once :meth:`to_dict` is applied.

    Attributes:
        epoch: The epoch (from 1).
        iteration: Iterations completed after it.
        losses: Each loss term averaged over the epoch's steps and the ranks.
        validation: The validation scores (val protocol), written ``val/NAME``.
        best: Whether this epoch became ``best.pt``.
        seconds: Wall time of the epoch, validation included.
    """

    epoch: int
    iteration: int
    losses: dict[str, float]
    validation: dict[str, float] = field(default_factory=dict)
    best: bool = False
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The row as written: epoch, iteration, losses, ``val/...``, ``best`` (only when true), seconds."""
        row: dict[str, Any] = {"epoch": self.epoch, "iteration": self.iteration, **self.losses}
        row.update({f"val/{key}": value for key, value in self.validation.items()})
        if self.best:
            row["best"] = True
        row["seconds"] = self.seconds
        return row


# --------------------------------------------------------------------------- the loop


def run_epochs(
    run: PreparedRun, reporter: Reporter, progress: ProgressFn, on_epoch_end: EpochCallback | None = None
) -> TrainResult:
    """The training loop: for each remaining epoch, train, evaluate, save; then move the run into place."""
    dist, config = run.dist, run.config
    metrics_log = MetricsLog(run.work.path, resume_epoch=run.start_epoch) if dist.is_main else None
    tensorboard = TensorBoardLog(run.work.path) if config.tensorboard and dist.is_main else None
    rows = list(metrics_log.rows) if metrics_log else []
    try:
        for epoch in range(run.start_epoch + 1, config.epochs + 1):
            started = time.perf_counter()
            losses = train_epoch(run, epoch, reporter)
            row = EpochRow(epoch, run.solver.iteration, losses)
            scores = validate(run, epoch, progress)
            if scores is not None:
                row.validation = scores.to_dict()
                row.best = run.best.update(epoch, scores.ccc_mean)
            row.seconds = time.perf_counter() - started
            written = row.to_dict()
            if dist.is_main:
                save_epoch(run, row)
                metrics_log.append(written)
                if tensorboard is not None:
                    tensorboard.log(written, epoch)
            rows.append(written)
            reporter.end_epoch(written)
            dist.barrier()
            if on_epoch_end is not None:
                on_epoch_end(epoch, written)
    finally:
        reporter.close()
        if tensorboard is not None:
            tensorboard.close()
    if dist.is_main and run.work != run.final:
        move_dir_onto(run.work.path, run.final.path)
    dist.barrier()
    final = run.final
    best_path = final.best if final.best.is_file() else None
    return TrainResult(final.path, config.epochs, final.last, best_path, run.best.epoch, rows)


def train_epoch(run: PreparedRun, epoch: int, reporter: Reporter) -> dict[str, float]:
    """One epoch of solver steps; each loss term averaged over the steps it appears in, then over the ranks."""
    config, dist, solver = run.config, run.dist, run.solver
    run.loader.sampler.set_epoch(epoch)
    solver.seed_noise(_step_seed(config.seed, epoch, dist.rank))
    reporter.start_epoch(epoch, config.epochs, run.steps_per_epoch)
    totals: dict[str, float] = {}
    counts: dict[str, int] = {}
    for step, batch in enumerate(run.loader):
        if step >= run.steps_per_epoch:
            break
        raise_first_fault(batch["fault"])
        losses = solver.step(batch_to_device(batch, dist.device, solver.channels_last))
        for key, value in losses.items():
            totals[key] = totals.get(key, 0.0) + value
            counts[key] = counts.get(key, 0) + 1
        reporter.step(losses)
    return dist.mean({key: totals[key] / counts[key] for key in totals})


def validate(run: PreparedRun, epoch: int, progress: ProgressFn) -> AffectScores | None:
    """The Validation scores after ``epoch`` (val protocol; every rank gets them), else ``None``."""
    if run.data.validation_set is None:
        return None
    config, dist = run.config, run.dist
    return evaluate(
        run.model,
        run.data.index,
        Split.VALIDATION,
        run.data.validation_set,
        dist=dist,
        batch_size=config.eval_batch_size,
        workers=config.workers,
        bf16=uses_bf16(config.precision, dist.device),
        progress=progress,
        description=f"validation {epoch}",
    ).report.scores


def save_epoch(run: PreparedRun, row: EpochRow) -> None:
    """Write ``last.pt`` after the epoch of ``row``, and ``best.pt`` too when it is the best (one serialisation).

    The checkpoint holds everything :func:`prepare_run` needs to resume (see :mod:`abaw.runtime.checkpoint`).
    """
    payload = {
        "config": run.config.to_dict(),
        "model_config": run.model.config.to_dict(),
        "class_weights": run.data.class_weights,
        "audio": run.data.audio_state,
        "model": run.model.state_dict(),
        "optimizers": run.solver.optimizer_states(),
        "epoch": row.epoch,
        "iteration": row.iteration,
        "best": run.best.to_dict(),
        "metrics": row.to_dict(),
    }
    save_checkpoint(run.work.last, payload, also=[run.work.best] if row.best else [])


def _step_seed(seed: int, epoch: int, rank: int) -> int:
    return (seed * 1_000_003 + epoch * 10_007 + rank) % 2**63


def resume_config(run_dir: str | os.PathLike, **changes: Any) -> TrainConfig:
    """The stored config of ``run_dir/last.pt`` with ``changes`` (``None`` ignored), e.g. more epochs or another device.

    Raises:
        CheckpointError: when there is no readable ``last.pt``.
    """
    path = RunDir(run_dir).resume_checkpoint()
    # Runs from before --d-affect existed trained with the real images only: they resume as they began.
    values = {"d_affect": DiscriminatorAffect.REAL.value, **load_checkpoint(path)["config"]}
    stored = TrainConfig.from_dict(values, source=str(path))
    return stored.replace(**changes)


def best_epoch_of(path: str | os.PathLike) -> int:
    """The best validation epoch of a val run (its folder, ``best.pt`` or ``last.pt``), for ``--epochs-from``.

    Raises:
        CheckpointError: when the run has no scored epoch.
    """
    path = Path(path)
    if path.is_dir():
        path = RunDir(path).best_or_last() or RunDir(path).last
    best = load_checkpoint(path).get("best") or {}
    if not best.get("epoch"):
        raise CheckpointError("has no best validation epoch (was it a --protocol val run?)", path=path)
    return int(best["epoch"])
