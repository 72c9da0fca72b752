"""``abaw train``: a training run, read top to bottom.

:func:`train` opens the run folder (:func:`~abaw.fitting.run.open_run_folder`),
prepares the run (:func:`~abaw.training.prepare.prepare_run`: data, class
weights, audio, model, solver and loader), then runs the epoch loop of
:func:`abaw.fitting.loop.run_epochs` over :class:`AlnEpochs`, every epoch:

1. :meth:`AlnEpochs.train_epoch`: shuffle (seeded by seed and epoch,
   sharded over ranks), run the solver's D and G steps;
2. :meth:`AlnEpochs.validate`: score Validation (val protocol) with
   :func:`~abaw.runtime.evaluation.evaluate`;
3. :meth:`AlnEpochs.checkpoint`: what ``last.pt`` (and ``best.pt``) hold.

The run folder follows :mod:`abaw.outputs`: never in the dataset, locked
while a process writes it, and with ``force`` an earlier run is replaced only
once the new one has finished: until then the new run lives in
``RUN.partial`` (which ``resume`` continues) and ``RUN`` keeps the old one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from abaw.data.layout import Split
from abaw.data.samples import batch_to_device, raise_first_fault
from abaw.errors import AbawError, CheckpointError
from abaw.fitting.loop import EpochCallback, epoch_seed, run_epochs
from abaw.fitting.records import BestScore, Reporter, TensorBoardLog
from abaw.fitting.run import open_run_folder
from abaw.model.config import GeneratorKind
from abaw.progress import ProgressFn, no_progress
from abaw.runtime.checkpoint import load_checkpoint
from abaw.runtime.devices import distributed
from abaw.runtime.evaluation import evaluate
from abaw.runtime.rundir import RunDir
from abaw.scoring.metrics import AffectScores
from abaw.training.config import DiscriminatorAffect, TrainConfig
from abaw.training.prepare import PreparedRun, prepare_run, variant_config
from abaw.training.solver import uses_bf16


@dataclass
class TrainResult:
    """What a finished run left behind.

    Attributes:
        run_dir: The run folder.
        epochs: Epochs completed.
        best_epoch: The epoch of ``best.pt`` (val protocol), else ``None``.
        rows: Every epoch's metrics row.
    """

    run_dir: Path
    epochs: int
    best_epoch: int | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def last(self) -> Path:
        """``last.pt``."""
        return RunDir(self.run_dir).last

    @property
    def best(self) -> Path | None:
        """``best.pt`` (val protocol), else ``None``."""
        return RunDir(self.run_dir).best if self.best_epoch is not None else None

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
    init_weights: Path | None = None,
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
        init_weights: Where ``config.init``'s weights are read from when they
            are not at that path yet (see :func:`~abaw.training.prepare.prepare_run`).

    Raises:
        AbawError: for bad data, settings or checkpoints (one line each);
            :class:`DataError` when no usable training frame is left (or, for
            the val protocol, no usable validation frame).
        UnsafeOutputError: ``run_dir`` is in the dataset, or a folder abaw did not write.
        OutputBusyError: another process writes ``run_dir``.
    """
    model = variant_config(config.variant)  # an unknown variant fails before the run folder is touched
    if config.noise_augment and model.use_generator:
        raise AbawError(
            f"--noise-augment trains the Disc (or the regressor) on noisy faces; {config.variant} already trains "
            "its generator to clean them"
        )
    if config.tensorboard:
        TensorBoardLog.summary_writer_class()
    with distributed(config.device) as dist:
        if config.batch_size % dist.world_size:
            raise AbawError(f"--batch-size {config.batch_size} is not divisible by the {dist.world_size} processes")
        reporter = reporter if (reporter is not None and dist.is_main) else Reporter()
        progress = progress if dist.is_main else no_progress
        dataset = config.require_dataset()
        with open_run_folder(run_dir, dataset, dist, resume=resume, force=force) as folder:
            run = prepare_run(
                config, folder, dist, strict=strict, reporter=reporter, progress=progress, init_weights=init_weights
            )
            rows = run_epochs(
                AlnEpochs(run, progress),
                folder.work,
                dist,
                epochs=config.epochs,
                start_epoch=run.start_epoch,
                best=run.best,
                reporter=reporter,
                tensorboard=config.tensorboard,
                on_epoch_end=on_epoch_end,
            )
    return TrainResult(folder.final.path, config.epochs, run.best.epoch, rows)


class AlnEpochs:
    """The ALN's part of the epoch loop: the solver's steps, validation with :func:`evaluate`, the checkpoint."""

    def __init__(self, run: PreparedRun, progress: ProgressFn = no_progress):
        self.run = run
        self.progress = progress

    @property
    def iteration(self) -> int:
        """Solver iterations so far."""
        return self.run.solver.iteration

    def train_epoch(self, epoch: int, reporter: Reporter) -> dict[str, float]:
        """One epoch of solver steps; each loss term averaged over the steps it appears in."""
        run = self.run
        config, dist, solver = run.config, run.dist, run.solver
        run.loader.sampler.set_epoch(epoch)
        solver.seed_noise(epoch_seed(config.seed, epoch, dist.rank))
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
        return {key: totals[key] / counts[key] for key in totals}

    def validate(self, epoch: int) -> AffectScores | None:
        """The Validation scores after ``epoch`` (val protocol; every rank gets them), else ``None``."""
        run = self.run
        if run.data.validation_set is None:
            return None
        return evaluate(
            run.model,
            run.data.index,
            Split.VALIDATION,
            run.data.validation_set,
            dist=run.dist,
            batch_size=run.config.eval_batch_size,
            workers=run.config.workers,
            bf16=uses_bf16(run.config.precision, run.dist.device),
            progress=self.progress,
            description=f"validation {epoch}",
        ).report.scores

    def checkpoint(self, row: dict[str, Any], best: BestScore) -> dict[str, Any]:
        """Everything :func:`prepare_run` needs to resume (see :mod:`abaw.runtime.checkpoint`)."""
        run = self.run
        return {
            "config": run.config.to_dict(),
            "model_config": run.model.config.to_dict(),
            "class_weights": run.data.class_weights,
            "audio": run.data.audio_state,
            "model": run.model.state_dict(),
            "optimizers": run.solver.optimizer_states(),
            "epoch": row["epoch"],
            "iteration": row["iteration"],
            "best": best.to_dict(),
            "metrics": row,
        }


def resume_config(run_dir: str | os.PathLike, **changes: Any) -> TrainConfig:
    """The stored config of ``run_dir/last.pt`` with ``changes`` (``None`` ignored), e.g. more epochs or another device.

    Raises:
        CheckpointError: when there is no readable ``last.pt``.
    """
    path = RunDir(run_dir).resume_checkpoint()
    # Runs from before a setting existed resume as they began: real images only, the paper's generator, no gate.
    earlier = {"d_affect": DiscriminatorAffect.REAL.value, "generator": GeneratorKind.PAPER.value, "latent_gate": False}
    values = {**earlier, **load_checkpoint(path)["config"]}
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
