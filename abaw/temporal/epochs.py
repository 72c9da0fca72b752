"""One temporal model's fit in the epoch loop: its data, its steps, its held-out scores and its checkpoint.

:func:`fit` trains one model with the epoch loop of
:func:`abaw.fitting.loop.run_epochs`, over :class:`RidgeEpochs` for the ridge
(one "epoch" fits it in closed form, :mod:`abaw.temporal.ridge`) or
:class:`TemporalEpochs` for the networks: every epoch shuffles the windows
(seeded by seed and epoch, so ``--resume`` from ``last.pt`` ends
bit-identical to a run never interrupted), steps AdamW and scores the
held-out entries; the loop writes ``last.pt``/``best.pt``
(``weights_only`` loadable: the resolved config, the model's sizes, the
normalisation and the feature names go with the weights) and the metrics files.
:mod:`abaw.temporal.trainer` runs it once per protocol or fold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import yaml
from torch.nn.parallel import DistributedDataParallel

from abaw.data.sequences import EntrySequence, Normalisation, SequenceData
from abaw.errors import DataError
from abaw.fileio import atomic_write_text
from abaw.fitting.class_weights import class_balanced_weights
from abaw.fitting.loop import epoch_seed, run_epochs, seed_everything
from abaw.fitting.records import BestScore, Reporter
from abaw.formats.types import VideoPrediction
from abaw.model import ModelFamily, create_model
from abaw.runtime.devices import Distributed
from abaw.runtime.evaluation import score_entries
from abaw.runtime.rundir import RunDir
from abaw.runtime.windows import WindowBatch, as_video_predictions, cut_windows, predict_sequences, stack_windows
from abaw.scoring.metrics import AffectScores
from abaw.temporal.config import TemporalConfig, TemporalLoss
from abaw.temporal.losses import window_loss
from abaw.temporal.ridge import fit_ridge

# --------------------------------------------------------------------------- data


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


def _class_weights(sequences: Sequence[EntrySequence]) -> torch.Tensor:
    """The affect loss's class weights from the frames annotated in both dimensions."""
    labels = np.concatenate([sequence.labels for sequence in sequences])
    annotated = labels[(labels >= -1.0).all(axis=1) & (labels <= 1.0).all(axis=1)]
    if len(annotated) < 2:
        raise DataError("fewer than 2 annotated frames to train on")
    return torch.from_numpy(class_balanced_weights(annotated))


# --------------------------------------------------------------------------- one model


class _HeldOutModel:
    """What both kinds of temporal model share in the epoch loop: inputs, held-out scores, checkpoint.

    Built fresh (normalisation and class weights fitted on ``train_names``) or
    from the ``checkpoint`` of an interrupted run (its own kept).
    """

    model: torch.nn.Module
    epochs: int

    def __init__(
        self,
        config: TemporalConfig,
        data: SequenceData,
        train_names: Sequence[str],
        held_out: Sequence[str] | None,
        dist: Distributed,
        checkpoint: dict[str, Any] | None = None,
    ):
        self.config, self.data, self.dist = config, data, dist
        self.held_out = None if held_out is None else list(held_out)
        raw_train = data.of(train_names)
        if checkpoint is None:
            self.normalisation = Normalisation.fit(raw_train, data.visual_dim)
            self.class_weights = _class_weights(raw_train)
        else:
            stored = checkpoint["normalisation"]
            self.normalisation = Normalisation(stored["mean"].numpy(), stored["std"].numpy())
            self.class_weights = checkpoint["class_weights"]
        self.train = [self.normalisation.apply(sequence, data.visual_dim) for sequence in raw_train]
        self.scored = None if held_out is None else self.normalised(held_out)
        widths = tuple(dim for _, dim in data.sources)
        self.model_config = config.model_config(self.train[0].inputs.shape[1], data.visual_dim, widths)
        seed_everything(config.seed + 7919 * (config.fold or 0))
        self.model = create_model(self.model_config).to(dist.device)
        self.start_epoch, self.iteration, self.best = 0, 0, BestScore()
        if checkpoint is not None:
            self.model.load_state_dict(checkpoint["model"])
            self.start_epoch, self.iteration = int(checkpoint["epoch"]), int(checkpoint["iteration"])
            self.best = BestScore.from_dict(checkpoint.get("best"))
        self.prepare(checkpoint)

    def prepare(self, checkpoint: dict[str, Any] | None) -> None:
        """What the kind of model adds once it is built (an optimiser, its windows), from ``checkpoint`` if given."""

    def normalised(self, names: Sequence[str]) -> list[EntrySequence]:
        """The sequences of ``names`` with this model's normalisation."""
        return [self.normalisation.apply(sequence, self.data.visual_dim) for sequence in self.data.of(names)]

    def predict(self, sequences: Sequence[EntrySequence]) -> dict[str, VideoPrediction]:
        """Every frame of normalised ``sequences``, by entry."""
        values = predict_sequences(self.model, sequences, self.config.window, device=self.dist.device)
        return as_video_predictions(sequences, values)

    def validate(self, epoch: int) -> AffectScores | None:
        """The held-out entries scored as one split, or ``None`` when none is held out."""
        if self.scored is None:
            return None
        return score_entries(self.predict(self.scored), self.data.index, self.held_out).scores

    def optimizer_states(self) -> dict[str, Any]:
        """The optimisers' states (for resuming)."""
        return {}

    def checkpoint(self, row: dict[str, Any], best: BestScore) -> dict[str, Any]:
        """Weights, optimiser, settings, sizes, normalisation and features: what resuming and predicting need."""
        return {
            "kind": ModelFamily.TEMPORAL.value,
            "config": self.config.to_dict(),
            "model_config": self.model_config.to_dict(),
            "normalisation": {key: torch.from_numpy(value) for key, value in self.normalisation.to_dict().items()},
            "features": {
                "names": [name for name, _ in self.data.sources],
                "dims": [dim for _, dim in self.data.sources],
                **self.data.keys,
            },
            "class_weights": self.class_weights,
            "model": self.model.state_dict(),
            "optimizers": self.optimizer_states(),
            "epoch": row["epoch"],
            "iteration": row["iteration"],
            "best": best.to_dict(),
            "metrics": row,
        }


class TemporalEpochs(_HeldOutModel):
    """A temporal network's part of the epoch loop: its windows, AdamW steps, held-out scores and checkpoint."""

    def prepare(self, checkpoint: dict[str, Any] | None) -> None:
        """AdamW (its state from ``checkpoint``), the network as the ranks train it, and the training windows."""
        config = self.config
        self.epochs = config.epochs
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        if checkpoint is not None:
            self.optimizer.load_state_dict(checkpoint["optimizers"]["adamw"])
        self.trained = DistributedDataParallel(self.model) if self.dist.enabled else self.model
        self.windows = cut_windows(self.train, config.window, config.train_stride)

    def train_epoch(self, epoch: int, reporter: Reporter) -> dict[str, float]:
        """One pass over this rank's share of the shuffled windows; each term averaged over the steps."""
        config, dist = self.config, self.dist
        seed = epoch_seed(config.seed, epoch, 101 * (config.fold or 0))
        order = torch.randperm(len(self.windows), generator=torch.Generator().manual_seed(seed)).tolist()
        usable = len(order) - len(order) % dist.world_size if len(order) >= dist.world_size else len(order)
        mine = order[:usable][dist.shard(usable)]
        torch.manual_seed(seed + dist.rank)  # dropout
        per_rank = max(1, config.batch_size // dist.world_size)
        steps = (len(mine) + per_rank - 1) // per_rank
        reporter.start_epoch(epoch, config.epochs, steps)
        totals: dict[str, float] = {}
        self.model.train()
        weights = self.class_weights.to(dist.device)
        for step in range(steps):
            picked = [self.windows[i] for i in mine[step * per_rank : (step + 1) * per_rank]]
            batch = stack_windows(self.train, picked, config.window).to(dist.device)
            terms = train_step(self.trained, self.optimizer, batch, config.loss, weights)
            self.iteration += 1
            for key, value in terms.items():
                totals[key] = totals.get(key, 0.0) + value / steps
            reporter.step(terms)
        return totals

    def optimizer_states(self) -> dict[str, Any]:
        """AdamW's state."""
        return {"adamw": self.optimizer.state_dict()}


class RidgeEpochs(_HeldOutModel):
    """The ridge floor in the epoch loop: one "epoch" fits it in closed form (:func:`~abaw.temporal.ridge.fit_ridge`).

    Every rank fits the same coefficients (the fit is deterministic), so it
    runs as it is under ``torchrun``.
    """

    epochs = 1

    def train_epoch(self, epoch: int, reporter: Reporter) -> dict[str, float]:
        """Fit the coefficients on every training frame, each source's alpha chosen by folds over the videos."""
        reporter.start_epoch(epoch, 1, 1)
        config = self.config
        solution = fit_ridge(self.model, self.train, self.data.sources, config.alphas, config.folds, config.max_rows)
        terms = solution.to_row()
        reporter.step(terms)
        return terms


@dataclass
class FitResult:
    """One trained model: its epoch rows, its best epoch (when scored) and its trainer state."""

    rows: list[dict[str, Any]]
    best: BestScore
    epochs: TemporalEpochs | RidgeEpochs


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
    """Train one model on ``train_names``, scoring ``held_out`` after each epoch; checkpoints in ``work``.

    A network trains for ``config.epochs``; the ridge is fitted in one.
    """
    kind = RidgeEpochs if config.closed_form else TemporalEpochs
    epochs = kind(config, data, train_names, held_out, dist, checkpoint)
    if checkpoint is None and dist.is_main:
        atomic_write_text(work.config, yaml.safe_dump(config.to_dict(), sort_keys=False), force=True)
    rows = run_epochs(
        epochs,
        work,
        dist,
        epochs=epochs.epochs,
        start_epoch=epochs.start_epoch,
        best=epochs.best,
        reporter=reporter,
    )
    return FitResult(rows, epochs.best, epochs)
