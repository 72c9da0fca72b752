"""The demo's temporal stage (issue 15): the last stage's embeddings plus audio, a temporal model, smoothing.

After the paper's stages, :func:`run_temporal_stage`:

1. embeds every face frame of Train and Validation with the last stage's
   ``best.pt`` (``abaw features embed``; the test entries are left out, the
   demo scores Validation only);
2. trains a temporal model over those embeddings and the audio features
   under the val protocol (``abaw temporal train``);
3. predicts Validation with its best checkpoint into ``val/temporal/``
   beside the other stages' folders, and scores it as they are scored;
4. searches a smoothing of the temporal and of the last per-frame stage's
   validation predictions (``abaw smooth search``). The filter is chosen and
   scored on Validation itself, so its gain is an upper bound of what it
   gives on unseen data.

Kept apart from :mod:`abaw.demo`, which calls it once after its stages.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from abaw.data.index import DatasetIndex
from abaw.data.layout import Split
from abaw.formats.types import VideoPrediction
from abaw.progress import ProgressFn
from abaw.scoring.metrics import AffectScores

if TYPE_CHECKING:
    from abaw.prediction.smoothing import SmoothingPlan
    from abaw.training.reporting import Reporter

TEMPORAL_FOLDER = "temporal"
"""The temporal stage's folder under ``runs/`` and ``val/``."""


@dataclass(frozen=True)
class TemporalRecipe:
    """What the temporal stage trains (see ``abaw temporal train``).

    The default trains in about 30-40 s on a 2-core CPU on the demo data
    (windows of 64 frames: the demo's videos have 120-180). With the affect
    loss and this learning rate, validation CCC jumps after about 15 epochs
    on the demo data (measured: 0.07 -> 0.48 at epoch 16, 0.53 at epoch 20).

    Attributes:
        model: The temporal model.
        epochs: Epochs (the best Validation epoch is kept).
        window: Frames per window.
        hidden: Width of the model.
        layers: Its blocks.
        lr: AdamW learning rate.
        loss: ``ccc`` or ``affect``.
        audio: Whether the audio features join the embeddings.
    """

    model: str = "tcn"
    epochs: int = 25
    window: int = 64
    hidden: int = 64
    layers: int = 3
    lr: float = 3e-3
    loss: str = "affect"
    audio: bool = True

    @classmethod
    def quick(cls) -> TemporalRecipe:
        """A smoke run: two epochs of a tiny model."""
        return cls(epochs=2, window=16, hidden=8, layers=1)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return {
            "model": self.model,
            "epochs": self.epochs,
            "window": self.window,
            "hidden": self.hidden,
            "layers": self.layers,
            "lr": self.lr,
            "loss": self.loss,
            "audio": self.audio,
        }


@dataclass
class TemporalStageResult:
    """The temporal stage's run, its validation score and the smoothing gains.

    Attributes:
        base: The paper name of the stage whose embeddings it uses.
        base_scores: That stage's validation scores.
        embeddings: The embeddings' name (under the dataset's cache).
        features: The temporal model's feature sources.
        run_dir: Its run folder.
        checkpoint: The ``best.pt`` used for prediction.
        best_epoch: The epoch of that checkpoint.
        scores: Validation scores of its predictions.
        predictions: Folder of its per-video validation predictions.
        smoothing: The smoothing chosen on its validation predictions.
        base_smoothing: The smoothing chosen on the base stage's.
        embed_seconds: Embedding time.
        train_seconds: Training time.
    """

    base: str
    base_scores: AffectScores
    embeddings: str
    features: tuple[str, ...]
    run_dir: Path
    checkpoint: Path
    best_epoch: int
    scores: AffectScores
    predictions: Path
    smoothing: SmoothingPlan
    base_smoothing: SmoothingPlan
    embed_seconds: float
    train_seconds: float

    @property
    def gain(self) -> float:
        """Mean CCC of the temporal model minus that of the stage it was built on."""
        return self.scores.ccc_mean - self.base_scores.ccc_mean

    def relocated(self, moved: Callable[[Path], Path]) -> TemporalStageResult:
        """This result with its paths passed through ``moved`` (the demo's staging folder moved onto its own)."""
        return replace(
            self, run_dir=moved(self.run_dir), checkpoint=moved(self.checkpoint), predictions=moved(self.predictions)
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return {
            "name": "Temporal",
            "base": self.base,
            "embeddings": self.embeddings,
            "features": list(self.features),
            "run_dir": str(self.run_dir),
            "checkpoint": str(self.checkpoint),
            "best_epoch": self.best_epoch,
            "val": self.scores.to_dict(),
            "gain_over_base": self.gain,
            "predictions": str(self.predictions),
            "smoothing": self.smoothing.to_dict(),
            "smoothed_ccc_mean": self.smoothing.ccc_after,
            "base_smoothing": self.base_smoothing.to_dict(),
            "base_smoothed_ccc_mean": self.base_smoothing.ccc_after,
            "embed_seconds": round(self.embed_seconds, 1),
            "train_seconds": round(self.train_seconds, 1),
        }


def _search(predictions: dict[str, VideoPrediction], index: DatasetIndex, source: str) -> SmoothingPlan:
    from abaw.prediction.smoothing import search_smoothing

    split = Split.VALIDATION
    found = search_smoothing(
        predictions, index.split_labels(split), index.frame_counts(split), split=split.value, source=source
    )
    return found.plan


def run_temporal_stage(
    recipe: TemporalRecipe,
    base_name: str,
    base_checkpoint: Path,
    base_scores: AffectScores,
    base_predictions: dict[str, VideoPrediction],
    index: DatasetIndex,
    staging: Path,
    *,
    seed: int,
    device: str,
    workers: int,
    reporter: Reporter | None,
    progress: ProgressFn,
    log: Callable[[str], None],
) -> TemporalStageResult:
    """Embed, train, predict Validation into ``staging/val/temporal`` and search the smoothings (module docstring).

    Args:
        recipe: What to train.
        base_name: The paper name of the stage embedded (e.g. ``AEG-CD-SZ``).
        base_checkpoint: Its ``best.pt``.
        base_scores: Its validation scores.
        base_predictions: Its validation predictions (face frames).
        index: The demo dataset.
        staging: The demo's folder being written.
        seed: Seeds the temporal run.
        device: ``auto``, ``cpu`` or ``cuda``.
        workers: DataLoader worker processes of the embedding.
        reporter: Shows the training progress.
        progress: Progress bar for the other steps.
        log: Receives one line per step.

    Raises:
        AbawError: for bad data or settings (one line each).
    """
    from abaw.prediction.embed import extract_embeddings
    from abaw.prediction.predict import write_split_predictions
    from abaw.runtime.evaluation import score_split
    from abaw.temporal.config import TemporalConfig, TemporalProtocol
    from abaw.temporal.predict import load_temporal_members
    from abaw.temporal.trainer import train_temporal

    started = time.perf_counter()
    name = f"demo-{base_name.lower()}"
    embedded = extract_embeddings(
        index,
        base_checkpoint,
        name,
        splits=[Split.TRAIN, Split.VALIDATION],
        device=device,
        workers=workers,
        progress=progress,
    )
    log(f"embeddings of {base_name}: {embedded.folder} ({embedded.dim} values per frame)")
    embed_seconds = time.perf_counter() - started

    started = time.perf_counter()
    features = (name, "audio") if recipe.audio else (name,)
    config = TemporalConfig(
        features=features,
        model=recipe.model,
        protocol=TemporalProtocol.VAL,
        window=recipe.window,
        epochs=recipe.epochs,
        lr=recipe.lr,
        loss=recipe.loss,
        hidden=recipe.hidden,
        layers=recipe.layers,
        seed=seed,
        device=device,
        dataset={"root": str(index.layout.root)},
    )
    trained = train_temporal(config, staging / "runs" / TEMPORAL_FOLDER, force=True, reporter=reporter)
    train_seconds = time.perf_counter() - started

    (member,) = load_temporal_members(trained.run_dir, device)
    predictions = member.predict(index, Split.VALIDATION, workers=workers, progress=progress)
    predictions_dir = staging / "val" / TEMPORAL_FOLDER
    write_split_predictions(predictions_dir, predictions, index, Split.VALIDATION, force=True, progress=progress)
    scores = score_split(predictions, index, Split.VALIDATION).scores
    return TemporalStageResult(
        base=base_name,
        base_scores=base_scores,
        embeddings=name,
        features=features,
        run_dir=trained.run_dir,
        checkpoint=member.checkpoint,
        best_epoch=member.epoch,
        scores=scores,
        predictions=predictions_dir,
        smoothing=_search(predictions, index, str(predictions_dir)),
        base_smoothing=_search(base_predictions, index, base_name),
        embed_seconds=embed_seconds,
        train_seconds=train_seconds,
    )
