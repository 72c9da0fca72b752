"""The demo's temporal stage: a per-frame stage's embeddings plus audio, a temporal model, smoothing.

After the paper's stages, :func:`run_temporal_stage`:

1. embeds every face frame of the splits it needs with the ``best.pt`` of the stage
   it is given (the demo gives the one that scored best on Validation;
   ``abaw features embed``), the test entries included, as the temporal
   model may be the one the demo submits;
2. trains a temporal model over those embeddings and the audio features
   under the recipe's protocol (``abaw temporal train``, :class:`~abaw.recipes.settings.TemporalRecipe`;
   by default the ridge fitted by video folds over Validation);
3. predicts Validation with its best checkpoint into ``val/temporal/``
   beside the other stages' folders (a model fitted by video folds over
   Validation, the ``heldout`` protocol: each entry by the fold that did not
   fit on it), and scores it as they are scored;
4. searches a smoothing of the temporal model's validation predictions
   (``abaw smooth search``; the base stage's was searched with that stage). The filter is chosen and
   scored on Validation itself, so its gain is an upper bound of what it
   gives on unseen data.

Kept apart from :mod:`abaw.recipes.demo`, which calls it once after its stages. Paths in the
result are relative to the demo's folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from abaw.data.index import DatasetIndex
from abaw.data.layout import Split
from abaw.formats.types import VideoPrediction
from abaw.recipes.settings import TemporalRecipe
from abaw.recipes.state import RecipeContext
from abaw.scoring.metrics import AffectScores

if TYPE_CHECKING:
    from abaw.prediction.smoothing import SmoothingPlan


@dataclass(frozen=True)
class StageRef:
    """A trained stage as the temporal stage needs it.

    Attributes:
        name: Its paper name (e.g. ``AEG-CD-SZ``).
        checkpoint: Its ``best.pt``, relative to the recipe's output folder.
        scores: Its validation scores.
        smoothing: The smoothing chosen on its validation predictions.
    """

    name: str
    checkpoint: Path
    scores: AffectScores
    smoothing: SmoothingPlan


TEMPORAL_FOLDER = "temporal"
"""The temporal stage's folder under ``runs/`` and ``val/``."""


@dataclass
class TemporalStageResult:
    """The temporal stage's run, its validation score and the smoothing gains.

    Attributes:
        base: The paper name of the stage whose embeddings it uses.
        base_scores: That stage's validation scores.
        embeddings: The embeddings' name (under the dataset's cache).
        features: The temporal model's feature sources.
        run_dir: Its run folder (relative to the demo's folder).
        checkpoint: The ``best.pt`` used for prediction, or the run folder of a model fitted by folds
            (the ensemble of its folds) (relative).
        best_epoch: The epoch of that checkpoint (``None`` for a model fitted by folds).
        protocol: How it was trained (``abaw temporal train --protocol``): ``heldout`` fits it by video folds
            over Validation, and its Validation predictions are out of fold.
        scores: Validation scores of its predictions.
        predictions: Folder of its per-video validation predictions (relative).
        smoothing: The smoothing chosen on its validation predictions.
        base_smoothing: The smoothing chosen on the base stage's.
        embed_seconds: Embedding time.
        train_seconds: Training time.
        predicted: Its validation predictions (kept in memory for the demo's choice; not in ``to_dict``).
    """

    base: str
    base_scores: AffectScores
    embeddings: str
    features: tuple[str, ...]
    run_dir: Path
    checkpoint: Path
    best_epoch: int | None
    protocol: str
    scores: AffectScores
    predictions: Path
    smoothing: SmoothingPlan
    base_smoothing: SmoothingPlan
    embed_seconds: float
    train_seconds: float
    predicted: dict[str, VideoPrediction] | None = field(default=None, repr=False, compare=False)

    @property
    def gain(self) -> float:
        """Mean CCC of the temporal model minus that of the stage it was built on."""
        return self.scores.ccc_mean - self.base_scores.ccc_mean

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
            "protocol": self.protocol,
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


def validation_smoothing(predictions: dict[str, VideoPrediction], index: DatasetIndex, source: str) -> SmoothingPlan:
    """The smoothing (``abaw smooth search``) chosen and scored on these Validation predictions."""
    from abaw.prediction.smoothing import search_smoothing

    split = Split.VALIDATION
    found = search_smoothing(
        predictions, index.split_labels(split), index.frame_counts(split), split=split.value, source=source
    )
    return found.plan


def run_temporal_stage(
    context: RecipeContext,
    recipe: TemporalRecipe,
    base: StageRef,
    seed: int,
) -> TemporalStageResult:
    """Embed, train, predict Validation into ``val/temporal`` and search the smoothings (module docstring).

    Args:
        context: The demo's run (its output folder, dataset, device, reporters).
        recipe: What to train.
        base: The stage embedded: its paper name, ``best.pt`` (relative to the output) and validation scores.
        seed: Seeds the temporal run.

    Raises:
        AbawError: for bad data or settings (one line each).
    """
    from abaw.prediction.embed import extract_embeddings
    from abaw.prediction.open import open_model
    from abaw.prediction.predict import write_split_predictions
    from abaw.runtime.evaluation import score_split
    from abaw.temporal.trainer import train_temporal

    index = context.dataset
    name = f"demo-{base.name.lower()}"
    config = recipe.config(name, index.layout.root, seed, context.device)
    # Only what the protocol fits on, what it is scored on and what it submits (heldout: not Train).
    needed = {*config.protocol.train_splits, Split.VALIDATION, Split.TEST}
    with context.timed("embed"):
        checkpoint = context.path(base.checkpoint)
        embedded = extract_embeddings(
            index,
            checkpoint,
            name,
            device=context.device,
            workers=context.workers,
            progress=context.progress,
            recorded_as=context.output.final(checkpoint),
            splits=[split for split in Split if split in needed],
        )
        context.log(f"embeddings of {base.name}: {embedded.folder} ({embedded.dim} values per frame)")
    with context.timed("temporal"):
        run_dir = Path("runs") / TEMPORAL_FOLDER
        trained = train_temporal(config, context.path(run_dir), force=True, reporter=context.reporter)
        if trained.oof is not None:
            # Fitted by video folds: each Validation entry is predicted by the fold that did not fit on it.
            validation = {entry.name for entry in index.split(Split.VALIDATION)}
            predictions = {name: video for name, video in trained.oof.items() if name in validation}
            checkpoint, best_epoch = run_dir, None
        else:
            (member,) = open_model(trained.run_dir, context.device).members
            predictions = member.predict(index, Split.VALIDATION, workers=context.workers, progress=context.progress)
            checkpoint, best_epoch = run_dir / member.checkpoint.name, member.epoch
        predictions_dir = Path("val") / TEMPORAL_FOLDER
        write_split_predictions(
            context.path(predictions_dir), predictions, index, Split.VALIDATION, force=True, progress=context.progress
        )
        scores = score_split(predictions, index, Split.VALIDATION).scores
    return TemporalStageResult(
        base=base.name,
        base_scores=base.scores,
        embeddings=name,
        features=config.features,
        run_dir=run_dir,
        checkpoint=checkpoint,
        best_epoch=best_epoch,
        protocol=config.protocol.value,
        scores=scores,
        predictions=predictions_dir,
        smoothing=validation_smoothing(predictions, index, str(predictions_dir)),
        base_smoothing=replace(base.smoothing, predictions=base.name),  # searched with the stage, named here
        embed_seconds=context.seconds.get("embed", 0.0),
        train_seconds=context.seconds.get("temporal", 0.0),
        predicted=predictions,
    )
