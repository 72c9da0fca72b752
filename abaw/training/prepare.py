"""Everything a training run prepares before its first epoch: :func:`prepare_run` builds a :class:`PreparedRun`.

1. Read the ``last.pt`` of the run folder that ``--resume`` continues (the
   folder itself is opened by :func:`abaw.fitting.run.open_run_folder`).
2. Seed, open the dataset; skip the entries that cannot train (an error in
   one of their files, or no usable frame), name them in ``skipped.json``;
   choose the frames of the protocol's splits (face image and both labels).
3. Compute the class-balanced affect weights of exactly those frames, and
   load the audio features (SZ variants); a resumed run keeps its own.
4. Build the model, start it from ``--init`` (matching layers) or from the
   checkpoint, and the solver with its optimisers; write ``config.yaml`` and
   ``class_weights.json``; build the shuffling loader.

The loop that uses it is in :mod:`abaw.training.trainer`, on :mod:`abaw.fitting`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from torch.utils.data import DataLoader, DistributedSampler

from abaw.data.audio import AudioFeatureConfig, load_audio_features
from abaw.data.entries import EntrySelection, SkippedEntry
from abaw.data.index import DatasetIndex
from abaw.data.layout import Split
from abaw.data.samples import FaceFrameDataset, select_frames
from abaw.errors import AbawError, CheckpointError, DataError
from abaw.fileio import atomic_write_json, atomic_write_text
from abaw.fitting.class_weights import class_balanced_weights
from abaw.fitting.loop import seed_everything
from abaw.fitting.records import BestScore, Reporter, write_skipped
from abaw.fitting.run import RunFolder, open_run_dataset
from abaw.model import AffectModel, ModelConfig, create_model, load_matching_state, model_config
from abaw.progress import ProgressFn, no_progress
from abaw.runtime.checkpoint import load_checkpoint, load_model_state, load_weights, require_resumable
from abaw.runtime.devices import Distributed
from abaw.runtime.rundir import RunDir
from abaw.training.config import TrainConfig
from abaw.training.solver import Solver


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
    if base.use_generator:
        overrides["generator"] = config.generator
    if base.use_latent:
        overrides["latent_gate"] = config.gates_latent
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


@dataclass
class TrainingData:
    """The frames a run trains and validates on, and what is computed from them once per run.

    Attributes:
        index: The dataset.
        skipped: The entries left out, with the reasons (``skipped.json``).
        train_set: The training frames (face image and both labels).
        validation_set: The validation frames (val protocol), else ``None``.
        class_weights: The ``(2, bins)`` affect-loss weights of the training frames
            (a resumed run keeps those of its checkpoint).
        audio_state: ``None``, or the audio config and normalisation stored in checkpoints.
    """

    index: DatasetIndex
    skipped: list[SkippedEntry]
    train_set: FaceFrameDataset
    validation_set: FaceFrameDataset | None
    class_weights: torch.Tensor
    audio_state: dict[str, Any] | None


@dataclass
class PreparedRun:
    """Everything the epoch loop needs, built by :func:`prepare_run`.

    Attributes:
        config: The run's settings.
        dist: Where this process sits among the run's processes.
        folder: The run folder, and where this attempt writes it.
        data: The frames and what was computed from them.
        model: The model, on ``dist.device``.
        solver: The optimisation step, with the optimisers.
        loader: The training batches; its sampler reshuffles per epoch.
        steps_per_epoch: Batches per epoch.
        start_epoch: Epochs already completed (resuming), else 0.
        best: The best validation epoch so far.
    """

    config: TrainConfig
    dist: Distributed
    folder: RunFolder
    data: TrainingData
    model: AffectModel
    solver: Solver
    loader: DataLoader
    steps_per_epoch: int
    start_epoch: int
    best: BestScore = field(default_factory=BestScore)


def prepare_run(
    config: TrainConfig,
    folder: RunFolder,
    dist: Distributed,
    *,
    strict: bool,
    reporter: Reporter,
    progress: ProgressFn,
    init_weights: Path | None = None,
) -> PreparedRun:
    """Read the checkpoint to resume, open the data, the model and the loader: everything before the first epoch.

    The order is fixed (seeding, then data, then the model's random
    initialisation), so a run is reproducible from its seed.

    Args:
        config: The run's settings.
        folder: The opened run folder.
        dist: Where this process sits among the run's processes.
        strict: Refuse any entry with an error instead of skipping it.
        reporter: Receives the warnings.
        progress: Progress bar for the dataset index.
        init_weights: Where to read ``config.init``'s weights when they are not
            at that path yet (a chain's previous stage, still in its staging folder).
    """
    checkpoint = None
    if folder.resumed:
        checkpoint = load_checkpoint(folder.work.last)
        require_resumable(checkpoint, folder.work.last)
    seed_everything(config.seed + dist.rank)
    needs_audio = variant_config(config.variant).audio_dim > 0
    data = load_training_data(config, dist, checkpoint, needs_audio=needs_audio, strict=strict, progress=progress)
    model = _start_model(config, data, checkpoint, folder.work, reporter, dist.device, init_weights)
    solver = Solver(model, config, data.class_weights, dist)
    start_epoch, best = 0, BestScore()
    if checkpoint is not None:
        solver.load_optimizer_states(checkpoint["optimizers"])
        solver.iteration = int(checkpoint["iteration"])
        start_epoch = int(checkpoint["epoch"])
        best = BestScore.from_dict(checkpoint.get("best"))
    if dist.is_main:
        _write_run_files(folder.work, config, data, reporter, fresh=checkpoint is None)
    loader = _train_loader(data.train_set, config, dist)
    steps = len(loader) if config.steps_per_epoch is None else min(len(loader), config.steps_per_epoch)
    return PreparedRun(config, dist, folder, data, model, solver, loader, steps, start_epoch, best)


def load_training_data(
    config: TrainConfig,
    dist: Distributed,
    checkpoint: dict[str, Any] | None,
    *,
    needs_audio: bool,
    strict: bool = False,
    progress: ProgressFn = no_progress,
) -> TrainingData:
    """The protocol's frames, their class weights and (SZ variants) their audio features.

    A resumed run (``checkpoint``) keeps the class weights and audio
    normalisation it started with.

    Raises:
        DataError: when fewer than 2 usable training frames are left, or see
            :func:`select_training_entries`.
    """
    index = open_run_dataset(config.require_dataset(), dist, progress)
    training, evaluation = select_training_entries(index, config, strict=strict)
    skipped = training.skipped + (evaluation.skipped if evaluation is not None else [])
    samples = select_frames(index, training.entries, labelled=True)
    if len(samples) < 2:
        raise DataError(f"{index.layout.root}: fewer than 2 usable frames (face image and labels) to train on")
    if checkpoint is None:
        class_weights = torch.from_numpy(class_balanced_weights(samples.targets))
    else:
        class_weights = checkpoint["class_weights"]
    validation_samples = select_frames(index, evaluation.entries, labelled=False) if evaluation is not None else None
    audio_rows, audio_state, audio_dim = None, None, 0
    if needs_audio:
        audio_config = _audio_config(config)
        names = sorted(set(samples.names) | set(validation_samples.names if validation_samples else []))
        stored = checkpoint["audio"] if checkpoint is not None else None
        stats = None if stored is None else (stored["mean"].numpy(), stored["std"].numpy())
        audio = load_audio_features(index, audio_config, names=names, stats=stats)
        audio_rows, audio_dim = audio.rows(), audio_config.dim
        audio_state = {
            "config": audio_config.to_dict(),
            "mean": torch.from_numpy(audio.mean),
            "std": torch.from_numpy(audio.std),
        }
    train_set = FaceFrameDataset(index, samples, audio_rows, audio_dim)
    validation_set = (
        FaceFrameDataset(index, validation_samples, audio_rows, audio_dim) if validation_samples is not None else None
    )
    return TrainingData(index, skipped, train_set, validation_set, class_weights, audio_state)


def _start_model(
    config: TrainConfig,
    data: TrainingData,
    checkpoint: dict[str, Any] | None,
    work: RunDir,
    reporter: Reporter,
    device: torch.device,
    init_weights: Path | None,
) -> AffectModel:
    """The variant's model on ``device``, started from ``--init`` (matching layers) or resumed from ``checkpoint``."""
    model = build_model(config, data.train_set.audio_dim).to(device)
    if checkpoint is not None:
        load_model_state(model, checkpoint, work.last)
    elif config.init:
        try:
            report = load_matching_state(model, load_weights(init_weights or config.init))
        except ValueError as error:
            raise CheckpointError(f"cannot start {config.variant} from it: {error}", path=config.init) from None
        reporter.note(f"--init {init_weights or config.init}: {report.summary()}")
    return model


def _write_run_files(work: RunDir, config: TrainConfig, data: TrainingData, reporter: Reporter, fresh: bool) -> None:
    """``skipped.json`` (naming each skipped entry), and for a new run ``config.yaml`` and ``class_weights.json``."""
    write_skipped(work.path, data.skipped)
    for entry in data.skipped:
        reporter.note(f"warning: skipped {entry.name} ({entry.split.value}): {entry.reason}")
    if fresh:
        atomic_write_text(work.config, yaml.safe_dump(config.to_dict(), sort_keys=False), force=True)
        weights = data.class_weights
        payload = {"valence": weights[0].tolist(), "arousal": weights[1].tolist(), "frames": len(data.train_set)}
        atomic_write_json(work.class_weights, payload, force=True)


def _train_loader(dataset: FaceFrameDataset, config: TrainConfig, dist: Distributed) -> DataLoader:
    """Shuffled batches of this rank's share; the sampler is reseeded per epoch (``set_epoch``)."""
    per_rank_batch = config.batch_size // dist.world_size
    sampler = DistributedSampler(
        dataset,
        num_replicas=dist.world_size,
        rank=dist.rank,
        shuffle=True,
        seed=config.seed,
        drop_last=len(dataset) >= config.batch_size,
    )
    return DataLoader(
        dataset,
        batch_size=per_rank_batch,
        sampler=sampler,
        num_workers=config.workers,
        pin_memory=dist.device.type == "cuda",
        drop_last=len(dataset) // dist.world_size >= per_rank_batch,
        persistent_workers=config.workers > 0,
        worker_init_fn=_seed_worker,
    )


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


def _seed_worker(worker_id: int) -> None:
    seed_everything(torch.initial_seed() % 2**32)
