"""``abaw train``: a training run, read top to bottom.

1. Join the ``torchrun`` process group, if any, and pick the device.
2. Open the dataset; skip the entries that cannot train (an error in one of
   their files, or no usable frame), name them in ``skipped.json``; choose
   the frames of the protocol's splits (face image and both labels present).
3. Compute the class-balanced affect weights of exactly those frames.
4. Load audio features (SZ variants), build the model, start it from
   ``--init`` (matching layers) or resume it from ``last.pt``.
5. For every epoch: shuffle (seeded by seed and epoch, sharded over ranks),
   run the solver's D and G steps, average the losses over ranks, score
   Validation (val protocol), write ``last.pt``, ``best.pt``, the metrics.

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
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch.utils.data import DataLoader, DistributedSampler

from abaw.data.audio import AudioFeatureConfig, load_audio_features
from abaw.data.entries import EntrySelection, SkippedEntry
from abaw.data.index import DatasetIndex, open_dataset
from abaw.data.layout import Split
from abaw.data.samples import FaceFrameDataset, batch_to_device, raise_first_fault, select_frames
from abaw.errors import AbawError, CheckpointError, DataError, OutputExistsError
from abaw.fileio import atomic_write_json, atomic_write_text, move_dir_onto
from abaw.model import AffectModel, ModelConfig, create_model, load_matching_state, model_config
from abaw.outputs import (
    OutputKind,
    check_replaceable,
    output_lock,
    refuse_dataset_overlap,
    remove_output_dir,
    staging_dir,
    write_marker,
)
from abaw.prediction.inference import predict_values, score_split, to_video_predictions
from abaw.progress import ProgressFn, no_progress
from abaw.training.checkpoint import (
    load_checkpoint,
    load_model_state,
    load_weights,
    require_resumable,
    save_checkpoint,
)
from abaw.training.class_weights import class_balanced_weights
from abaw.training.config import TrainConfig
from abaw.training.distributed import Distributed, distributed
from abaw.training.reporting import MetricsLog, Reporter, TensorBoardLog
from abaw.training.solver import Solver, uses_bf16

LAST, BEST = "last.pt", "best.pt"
SKIPPED = "skipped.json"
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


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _step_seed(seed: int, epoch: int, rank: int) -> int:
    return (seed * 1_000_003 + epoch * 10_007 + rank) % 2**63


def open_run_dataset(config: TrainConfig, dist: Distributed, progress: ProgressFn) -> DatasetIndex:
    """Open the dataset named in ``config.dataset``; rank 0 builds the index cache first."""
    if dist.is_main:
        index = open_dataset(config.require_dataset(), progress=progress)
    dist.barrier()
    if not dist.is_main:
        index = open_dataset(config.require_dataset())
    return index


def resumed_dir(run_dir: Path) -> Path:
    """Where ``resume`` continues the run of ``run_dir``: its unfinished replacement ``RUN.partial`` if any."""
    staging = staging_dir(run_dir)
    return staging if (staging / LAST).is_file() else run_dir


def _prepare_run_dir(run_dir: Path, force: bool) -> Path:
    """Create the folder a new run writes to: ``run_dir``, or ``RUN.partial`` when it replaces an earlier run.

    Nothing of an earlier run is touched: it is replaced when the new run ends.
    """
    if check_replaceable(run_dir, OutputKind.TRAIN_RUN, force=True):
        if not force:
            message = "run folder exists; pass --resume to continue it or --force to replace it once the new run ends"
            raise OutputExistsError(message, run_dir)
        work_dir = staging_dir(run_dir)
        if work_dir.exists():
            remove_output_dir(work_dir, OutputKind.TRAIN_RUN)
    else:
        work_dir = run_dir
    work_dir.mkdir(parents=True, exist_ok=True)
    write_marker(work_dir, OutputKind.TRAIN_RUN)
    return work_dir


def variant_config(variant: str) -> ModelConfig:
    """The registered configuration of ``variant``.

    Raises:
        AbawError: naming the known variants when ``variant`` is not one.
    """
    try:
        return model_config(variant)
    except ValueError as error:
        raise AbawError(str(error)) from None


def build_model(config: TrainConfig, audio_dim: int) -> AffectModel:
    """The variant of ``config`` with the run's model options applied."""
    base = variant_config(config.variant)
    overrides: dict[str, Any] = {"latent_injection": config.latent_injection, "va_head": config.va_head}
    if base.audio_dim > 0:
        overrides["audio_dim"] = audio_dim
    if config.backbone is not None:
        overrides["backbone"] = config.backbone
    if config.backbone_weights is not None:
        overrides["backbone_weights"] = config.backbone_weights
    try:
        return create_model(config.variant, **overrides)
    except ValueError as error:
        raise AbawError(f"model {config.variant}: {error}") from None


def _audio_config(config: TrainConfig) -> AudioFeatureConfig:
    try:
        return AudioFeatureConfig.from_dict({"feature_set": config.audio_feature_set, "pooling": config.audio_pooling})
    except ValueError as error:
        raise DataError(f"audio features: {error}") from None


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
    run_dir = refuse_dataset_overlap(run_dir, config.require_dataset().read_paths())
    with distributed(config.device) as dist, contextlib.ExitStack() as lock:
        if dist.is_main:  # only rank 0 writes under torchrun
            lock.enter_context(output_lock(run_dir))
        try:
            return _train(config, run_dir, dist, resume, force, strict, reporter, progress, on_epoch_end)
        except BaseException:
            if dist.is_main and not resume:
                _discard_unstarted(staging_dir(run_dir))
            raise


def _discard_unstarted(work_dir: Path) -> None:
    """Remove a replacing run that failed before its first checkpoint: there is nothing in it to resume."""
    if work_dir.is_dir() and not (work_dir / LAST).exists():
        with contextlib.suppress(AbawError):  # not abaw's run: left alone, and the first error stays the one shown
            remove_output_dir(work_dir, OutputKind.TRAIN_RUN)


def select_training_entries(
    index: DatasetIndex, config: TrainConfig, *, strict: bool = False
) -> tuple[EntrySelection, EntrySelection | None]:
    """The entries a run trains on and (val protocol) scores on, each with what it skips.

    Raises:
        DataError: when a split cannot be used at all, when no usable
            validation entry is left, and with ``strict`` for any error.
    """
    training = index.usable_entries(config.protocol.train_splits, strict=strict)
    evaluation = None
    if config.protocol.evaluates:
        evaluation = index.usable_entries([Split.VALIDATION], strict=strict)
        if not evaluation.entries:
            raise DataError(
                f"{index.layout.root}: no usable validation frame (a label and a face image) is left; "
                "run 'abaw data check' to see why"
            )
    return training, evaluation


def write_skipped(run_dir: Path, skipped: list[SkippedEntry]) -> None:
    """List the skipped entries and their reasons in ``run_dir/skipped.json`` (atomically)."""
    payload = {"skipped": [entry.to_dict() for entry in skipped]}
    atomic_write_json(run_dir / SKIPPED, payload, force=True)


def _train(
    config: TrainConfig,
    run_dir: Path,
    dist: Distributed,
    resume: bool,
    force: bool,
    strict: bool,
    reporter: Reporter | None,
    progress: ProgressFn,
    on_epoch_end: EpochCallback | None,
) -> TrainResult:
    reporter = reporter if (reporter is not None and dist.is_main) else Reporter()
    progress = progress if dist.is_main else no_progress
    base = variant_config(config.variant)
    if config.tensorboard:
        TensorBoardLog.summary_writer_class()
    final_dir, run_dir = run_dir, resumed_dir(run_dir) if resume else run_dir
    if resume and not (run_dir / LAST).is_file():
        raise CheckpointError(f"nothing to resume: no {LAST} here", path=run_dir)
    if run_dir != final_dir:
        check_replaceable(final_dir, OutputKind.TRAIN_RUN, force=True)
    checkpoint = load_checkpoint(run_dir / LAST) if resume else None
    if checkpoint is not None:
        require_resumable(checkpoint, run_dir / LAST)
    if dist.is_main and not resume:
        run_dir = _prepare_run_dir(run_dir, force)
    dist.barrier()
    if config.batch_size % dist.world_size:
        raise AbawError(f"--batch-size {config.batch_size} is not divisible by the {dist.world_size} processes")
    seed_everything(config.seed + dist.rank)

    # Data: the frames of the protocol's splits, their class weights, their audio.
    index = open_run_dataset(config, dist, progress)
    training, evaluation = select_training_entries(index, config, strict=strict)
    skipped = training.skipped + (evaluation.skipped if evaluation is not None else [])
    samples = select_frames(index, training.entries, labelled=True)
    if len(samples) < 2:
        raise DataError(f"{index.layout.root}: fewer than 2 usable frames (face image and labels) to train on")
    if checkpoint is None:
        class_weights = torch.from_numpy(class_balanced_weights(samples.targets))
    else:
        class_weights = checkpoint["class_weights"]
    needs_audio = base.audio_dim > 0
    audio_config = _audio_config(config) if needs_audio else None
    audio_rows, audio_state = None, None
    evaluation_samples = select_frames(index, evaluation.entries, labelled=False) if evaluation is not None else None
    if audio_config is not None:
        names = sorted(set(samples.names) | set(evaluation_samples.names if evaluation_samples else []))
        stored_audio = checkpoint["audio"] if checkpoint is not None else None
        stats = None if stored_audio is None else (stored_audio["mean"].numpy(), stored_audio["std"].numpy())
        audio = load_audio_features(index, audio_config, names=names, stats=stats)
        audio_rows = audio.rows()
        audio_state = {
            "config": audio_config.to_dict(),
            "mean": torch.from_numpy(audio.mean),
            "std": torch.from_numpy(audio.std),
        }
    audio_dim = audio_config.dim if audio_config is not None else 0
    dataset = FaceFrameDataset(index, samples, audio_rows, audio_dim)

    # Model: built from the variant, started from --init or resumed.
    model = build_model(config, audio_dim).to(dist.device)
    if checkpoint is None and config.init:
        try:
            report = load_matching_state(model, load_weights(config.init))
        except ValueError as error:
            raise CheckpointError(f"cannot start {config.variant} from it: {error}", path=config.init) from None
        reporter.note(f"--init {config.init}: {report.summary()}")
    if checkpoint is not None:
        load_model_state(model, checkpoint, run_dir / LAST)
    solver = Solver(model, config, class_weights, dist)
    start_epoch, best = 0, {"epoch": None, "ccc_mean": None}
    if checkpoint is not None:
        solver.load_optimizer_states(checkpoint["optimizers"])
        solver.iteration = int(checkpoint["iteration"])
        start_epoch = int(checkpoint["epoch"])
        best = dict(checkpoint.get("best") or best)

    # What every checkpoint of the run holds besides the weights, optimisers and progress.
    run_state = {
        "config": config.to_dict(),
        "model_config": model.config.to_dict(),
        "class_weights": class_weights,
        "audio": audio_state,
    }
    if dist.is_main:
        write_skipped(run_dir, skipped)
        for entry in skipped:
            reporter.note(f"warning: skipped {entry.name} ({entry.split.value}): {entry.reason}")
    if dist.is_main and checkpoint is None:
        atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False), force=True)
        atomic_write_json(
            run_dir / "class_weights.json",
            {"valence": class_weights[0].tolist(), "arousal": class_weights[1].tolist(), "frames": len(samples)},
            force=True,
        )
    per_rank_batch = config.batch_size // dist.world_size
    sampler = DistributedSampler(
        dataset,
        num_replicas=dist.world_size,
        rank=dist.rank,
        shuffle=True,
        seed=config.seed,
        drop_last=len(dataset) >= config.batch_size,
    )
    loader = DataLoader(
        dataset,
        batch_size=per_rank_batch,
        sampler=sampler,
        num_workers=config.workers,
        pin_memory=dist.device.type == "cuda",
        drop_last=len(dataset) // dist.world_size >= per_rank_batch,
        persistent_workers=config.workers > 0,
        worker_init_fn=_seed_worker,
    )
    steps = len(loader) if config.steps_per_epoch is None else min(len(loader), config.steps_per_epoch)
    evaluation_dataset = (
        FaceFrameDataset(index, evaluation_samples, audio_rows, audio_dim) if evaluation_samples is not None else None
    )
    metrics_log = MetricsLog(run_dir, resume_epoch=start_epoch) if dist.is_main else None
    tensorboard = TensorBoardLog(run_dir) if config.tensorboard and dist.is_main else None
    rows = list(metrics_log.rows) if metrics_log else []
    try:
        for epoch in range(start_epoch + 1, config.epochs + 1):
            started = time.perf_counter()
            sampler.set_epoch(epoch)
            solver.seed_noise(_step_seed(config.seed, epoch, dist.rank))
            reporter.start_epoch(epoch, config.epochs, steps)
            totals: dict[str, float] = {}
            counts: dict[str, int] = {}
            for step, batch in enumerate(loader):
                if step >= steps:
                    break
                raise_first_fault(batch["fault"])
                losses = solver.step(batch_to_device(batch, dist.device, solver.channels_last))
                for key, value in losses.items():
                    totals[key] = totals.get(key, 0.0) + value
                    counts[key] = counts.get(key, 0) + 1
                reporter.step(losses)
            means = dist.mean({key: totals[key] / counts[key] for key in totals})
            row: dict[str, Any] = {"epoch": epoch, "iteration": solver.iteration, **means}
            if evaluation_dataset is not None:
                values = predict_values(
                    model,
                    evaluation_dataset,
                    dist=dist,
                    batch_size=config.eval_batch_size,
                    workers=config.workers,
                    bf16=uses_bf16(config.precision, dist.device),
                    progress=progress,
                    description=f"validation {epoch}",
                )
                predictions = to_video_predictions(evaluation_samples, values)
                scores = score_split(predictions, index, Split.VALIDATION, names=evaluation_samples.names).scores
                row.update({f"val/{key}": value for key, value in scores.to_dict().items()})
                if best["ccc_mean"] is None or scores.ccc_mean > best["ccc_mean"]:
                    best = {"epoch": epoch, "ccc_mean": float(scores.ccc_mean)}
                    row["best"] = True
            row["seconds"] = time.perf_counter() - started
            if dist.is_main:
                payload = {
                    **run_state,
                    "model": model.state_dict(),
                    "optimizers": solver.optimizer_states(),
                    "epoch": epoch,
                    "iteration": solver.iteration,
                    "best": best,
                    "metrics": row,
                }
                save_checkpoint(run_dir / LAST, payload, also=[run_dir / BEST] if row.get("best") else [])
                metrics_log.append(row)
                if tensorboard is not None:
                    tensorboard.log(row, epoch)
            rows.append(row)
            reporter.end_epoch(row)
            dist.barrier()
            if on_epoch_end is not None:
                on_epoch_end(epoch, row)
    finally:
        reporter.close()
        if tensorboard is not None:
            tensorboard.close()
    if dist.is_main and run_dir != final_dir:
        move_dir_onto(run_dir, final_dir)
    dist.barrier()
    best_path = final_dir / BEST if (final_dir / BEST).is_file() else None
    return TrainResult(final_dir, config.epochs, final_dir / LAST, best_path, best["epoch"], rows)


def _seed_worker(worker_id: int) -> None:
    seed_everything(torch.initial_seed() % 2**32)


def resume_config(run_dir: str | os.PathLike, **changes: Any) -> TrainConfig:
    """The stored config of ``run_dir/last.pt`` with ``changes`` (``None`` ignored), e.g. more epochs or another device.

    Raises:
        CheckpointError: when there is no readable ``last.pt``.
    """
    path = resumed_dir(Path(run_dir)) / LAST
    if not path.is_file():
        raise CheckpointError(f"nothing to resume: no {LAST} here", path=run_dir)
    stored = TrainConfig.from_dict(load_checkpoint(path)["config"], source=str(path))
    return stored.replace(**changes)


def best_epoch_of(path: str | os.PathLike) -> int:
    """The best validation epoch of a val run (its folder, ``best.pt`` or ``last.pt``), for ``--epochs-from``.

    Raises:
        CheckpointError: when the run has no scored epoch.
    """
    path = Path(path)
    if path.is_dir():
        path = path / BEST if (path / BEST).is_file() else path / LAST
    best = load_checkpoint(path).get("best") or {}
    if not best.get("epoch"):
        raise CheckpointError("has no best validation epoch (was it a --protocol val run?)", path=path)
    return int(best["epoch"])
