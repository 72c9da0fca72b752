"""``abaw demo``: the whole workflow on the generated demo dataset, in minutes on a CPU, read top to bottom.

:func:`run_demo` builds ``OUT`` in ``OUT.partial`` (moved onto ``OUT`` only
when complete, so an interrupted demo never damages an earlier one, and
``resume`` continues it where it stopped) and runs these steps over one
:class:`~abaw.recipes.state.RecipeContext`:

1. time a few training steps and estimate the demo's time (:func:`~abaw.recipes.settings.check_speed`);
2. generate the demo dataset, or reuse it when generated with the same settings;
3. extract the per-frame audio features (skipped when up to date);
4. train the paper's progressive stages under the val protocol, each
   started from the previous stage's best checkpoint: Disc -> AEG-CD ->
   AEG-CD-SZ (:func:`abaw.training.progressive.train_chain`);
5. predict Validation with each stage's best checkpoint, score it with the challenge metric and
   search a smoothing of it;
6. the temporal stage (:mod:`abaw.recipes.temporal_stage`), when the recipe has one, over the
   embeddings of the per-frame stage that scored best;
7. choose the model that scores best on Validation (:func:`choose_submission`): any stage, the
   temporal model, or the temporal model averaged with its base, smoothed or not; predict Test with
   it and write the checked submission zip;
8. draw the figures of the last stage (predictions over time, cleaned faces and latent channels).

The choice and the smoothing are made on Validation, so the chosen model's
Validation score is an upper bound of what it scores on unseen videos.

Every path the result names is relative to ``OUT``.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from abaw import __version__
from abaw.data.layout import Split
from abaw.fileio import atomic_write_json
from abaw.formats.types import SubmissionFormat, VideoPrediction
from abaw.outputs import OutputKind, Staging, staged_output
from abaw.recipes.data import prepare_dataset
from abaw.recipes.settings import DemoRecipe, SpeedCheck, base_train_config, check_speed
from abaw.recipes.state import RecipeContext, RecipeRuntime
from abaw.recipes.temporal_stage import StageRef, TemporalStageResult, run_temporal_stage, validation_smoothing
from abaw.scoring.metrics import AffectScores
from abaw.scoring.references import published_results
from abaw.training.progressive import Stage

if TYPE_CHECKING:
    from abaw.prediction.members import TrainedModel
    from abaw.prediction.smoothing import SmoothingPlan

RESULTS_NAME = "results.json"


@dataclass
class StageResult:
    """One trained stage and its validation score.

    Attributes:
        stage: What was trained.
        run_dir: Its run folder (``config.yaml``, checkpoints, metrics), relative to the demo's folder.
        checkpoint: The ``best.pt`` used for prediction, relative to the demo's folder.
        best_epoch: The epoch of that checkpoint.
        scores: Validation scores of the checkpoint's predictions.
        predictions: Folder of its per-video validation predictions, relative to the demo's folder.
        train_seconds: Training time (0 for a stage a resumed demo found finished).
        smoothing: The smoothing chosen on its validation predictions (``None`` until searched).
    """

    stage: Stage
    run_dir: Path
    checkpoint: Path
    best_epoch: int
    scores: AffectScores
    predictions: Path
    train_seconds: float
    smoothing: SmoothingPlan | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return {
            "name": self.stage.paper_name,
            **self.stage.to_dict(),
            "run_dir": str(self.run_dir),
            "checkpoint": str(self.checkpoint),
            "best_epoch": self.best_epoch,
            "val": self.scores.to_dict(),
            "predictions": str(self.predictions),
            "train_seconds": round(self.train_seconds, 1),
            "smoothing": None if self.smoothing is None else self.smoothing.to_dict(),
            "smoothed_ccc_mean": None if self.smoothing is None else self.smoothing.ccc_after,
        }


@dataclass(frozen=True)
class Candidate:
    """A model the demo could submit, with its Validation score.

    Attributes:
        name: How tables name it, e.g. ``Disc``, ``Temporal, smoothed``, ``Temporal + Disc``.
        checkpoints: Its checkpoints (several: their predictions averaged), relative to the demo's folder.
        ccc_mean: Its mean CCC on Validation (after the smoothing, when it has one).
        smoothing: The smoothing applied to its predictions, or ``None``.
    """

    name: str
    checkpoints: tuple[Path, ...]
    ccc_mean: float
    smoothing: SmoothingPlan | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return {
            "name": self.name,
            "checkpoints": [str(path) for path in self.checkpoints],
            "ccc_mean": self.ccc_mean,
            "smoothing": None if self.smoothing is None else self.smoothing.to_dict(),
        }


@dataclass
class DemoResult:
    """What the demo measured and wrote.

    Attributes:
        out_dir: The demo's folder; every other path here is relative to it.
        data_dir: The dataset it used.
        data_reused: Whether the dataset was already there.
        recipe: What it generated and trained.
        stages: Each stage's result, in training order.
        submission: The zip of test predictions.
        submission_ok: Whether the submission check passed.
        plots: Figures written.
        notes: Things worth telling the user.
        seconds: Wall time of each step and ``total``.
        device: Where it computed.
        temporal: The temporal stage's result, when the recipe has one.
        speed: The training speed measured before the work.
        candidates: Every model the demo could submit, with its Validation score.
        submitted: The candidate that scored best, whose predictions make the submission.
    """

    out_dir: Path
    data_dir: Path
    data_reused: bool
    recipe: DemoRecipe
    stages: list[StageResult] = field(default_factory=list)
    submission: Path | None = None
    submission_ok: bool = False
    plots: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    device: str = ""
    temporal: TemporalStageResult | None = None
    speed: SpeedCheck | None = None
    candidates: list[Candidate] = field(default_factory=list)
    submitted: Candidate | None = None

    def path(self, relative: str | os.PathLike) -> Path:
        """Where a path the result names lies: ``out_dir / relative``."""
        return self.out_dir / relative

    def time_summary(self) -> str:
        """Wall time per step on one line, training split by stage.

        Example:
            >>> DemoResult(Path("o"), Path("d"), True, DemoRecipe(), seconds={"data": 4.2, "total": 9.0}).time_summary()
            'data 4 s, total 9 s'
        """
        parts = []
        training = [
            (step.removeprefix("train "), value) for step, value in self.seconds.items() if step.startswith("train ")
        ]
        for step, value in self.seconds.items():
            if step.startswith("train "):
                if step == f"train {training[0][0]}":
                    stages = ", ".join(f"{name} {seconds:.0f}" for name, seconds in training)
                    parts.append(f"training {sum(v for _, v in training):.0f} s ({stages})")
                continue
            parts.append(f"{step} {value:.0f} s")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (``results.json`` and ``--json``)."""
        return {
            "abaw": __version__,
            "python": platform.python_version(),
            "device": self.device,
            "speed": None if self.speed is None else self.speed.to_dict(),
            "out_dir": str(self.out_dir),
            "data_dir": str(self.data_dir),
            "data_reused": self.data_reused,
            "recipe": self.recipe.to_dict(),
            "stages": [result.to_dict() for result in self.stages],
            "published": [row.__dict__.copy() for row in published_results(Split.VALIDATION.value)],
            "submission": None if self.submission is None else str(self.submission),
            "submission_ok": self.submission_ok,
            "plots": [str(path) for path in self.plots],
            "notes": self.notes,
            "seconds": {step: round(seconds, 1) for step, seconds in self.seconds.items()},
            "temporal": None if self.temporal is None else self.temporal.to_dict(),
            "candidates": [candidate.to_dict() for candidate in self.candidates],
            "submitted": None if self.submitted is None else self.submitted.to_dict(),
        }

    def best_stage(self) -> StageResult:
        """The per-frame stage that scored best on Validation (the first of equals)."""
        return max(self.stages, key=lambda stage: stage.scores.ccc_mean)


def run_demo(
    recipe: DemoRecipe | None = None,
    data_dir: str | os.PathLike = "demo-data",
    out_dir: str | os.PathLike = "submissions/demo",
    *,
    force: bool = False,
    resume: bool = False,
    submission_format: SubmissionFormat = SubmissionFormat.PER_VIDEO,
    runtime: RecipeRuntime | None = None,
) -> DemoResult:
    """Run the whole workflow on the generated demo dataset (see the module docstring).

    Args:
        recipe: What to generate and train (default: :class:`~abaw.recipes.settings.DemoRecipe`).
        data_dir: The demo dataset: reused when generated with ``recipe.data``, generated otherwise.
        out_dir: Where the runs, predictions, submission, figures and
            ``results.json`` end up (built in ``OUT.partial`` first).
        force: Replace an earlier demo in ``out_dir`` (once the new one is
            complete) and regenerate a dataset made with other settings.
        resume: Continue the interrupted demo in ``OUT.partial``.
        submission_format: Format of the test submission.
        runtime: Device, loader processes and reporting (default: the CPU or CUDA, silent).

    Returns:
        The measured scores and where everything was written.

    Raises:
        AbawError: for bad settings, existing outputs or bad data (one line each).
    """
    from abaw.runtime.devices import resolve_device

    began = time.perf_counter()
    recipe = recipe if recipe is not None else DemoRecipe()
    runtime = runtime if runtime is not None else RecipeRuntime()
    data_dir = Path(data_dir).expanduser().resolve()
    resolved_device = str(resolve_device(runtime.device))
    with staged_output(
        Path(out_dir).expanduser().resolve(),
        OutputKind.DEMO,
        staging=Staging.RESUMABLE,
        force=force,
        resume=resume,
        protect=[data_dir],  # replacing the demo must never delete its dataset, nor the dataset hold the demo
        recipe=recipe.to_dict(),
        what="demo",
    ) as output:
        context = RecipeContext(output, runtime)
        with context.timed("speed check"):
            speed = check_speed(recipe, runtime.device)
            context.log(speed.summary())
        result = _open_data(context, recipe, data_dir, force)
        result.device, result.speed = resolved_device, speed
        _extract_audio(context, result)
        predictions = _train_and_score_stages(context, result)
        if recipe.temporal is not None:
            best = result.best_stage()
            base = StageRef(best.stage.paper_name, best.checkpoint, best.scores, best.smoothing)
            result.temporal = run_temporal_stage(context, recipe.temporal, base, recipe.seed)
        result.candidates = submission_candidates(result, _ensemble_score(context, result, predictions))
        result.submitted = choose_submission(result.candidates)
        context.log(f"submitting {result.submitted.name}: mean CCC {result.submitted.ccc_mean:.4f} on Validation")
        _submit(context, result, submission_format)
        _draw(context, result, predictions[result.stages[-1].stage.variant])
        context.seconds["total"] = time.perf_counter() - began
        result.seconds = context.seconds
        atomic_write_json(context.path(RESULTS_NAME), result.to_dict(), force=True)
    return result


def _open_data(context: RecipeContext, recipe: DemoRecipe, data_dir: Path, force: bool) -> DemoResult:
    """Generate (or reuse) the demo dataset and open it."""
    from abaw.data.index import open_dataset

    with context.timed("data"):
        root, reused = prepare_dataset(data_dir, recipe.data, force, context.progress, context.log)
        context.index = open_dataset(root, progress=context.progress)
    return DemoResult(context.output.target, root, reused, recipe)


def _extract_audio(context: RecipeContext, result: DemoResult) -> None:
    """The audio features, when a stage reads them."""
    from abaw.data.audio import extract_audio_features

    if not any(stage.variant.startswith("aeg-cd-sz") for stage in result.recipe.stages):
        return
    with context.timed("audio"):
        audio = extract_audio_features(
            context.dataset, result.recipe.audio, jobs=max(1, context.workers), progress=context.progress
        )
        result.notes.extend(audio.warnings)
        context.log(f"audio features: {audio.folder}")


def _train_and_score_stages(context: RecipeContext, result: DemoResult) -> dict[str, dict[str, VideoPrediction]]:
    """Train the chain, then predict, score and smooth Validation with each stage; each stage's predictions."""
    from abaw.prediction.open import load_trained_model
    from abaw.training.progressive import train_chain

    recipe, runs_dir = result.recipe, Path("runs")
    base = base_train_config(recipe, result.data_dir, context.device, context.workers)
    runs = train_chain(
        recipe.stages,
        context.path(runs_dir),
        base,
        final_dir=context.output.target / runs_dir,
        reporter=context.reporter,
        progress=context.progress,
        log=context.log,
    )
    predictions: dict[str, dict[str, VideoPrediction]] = {}
    for run in runs:
        context.seconds[f"train {run.stage.paper_name}"] = run.train_seconds
    for run in runs:
        with context.timed("predict"):
            checkpoint, predictions_dir = runs_dir / run.checkpoint, Path("val") / run.stage.variant
            trained = load_trained_model(context.path(checkpoint), context.device)
            scores, predictions[run.stage.variant] = _validate_stage(context, trained, predictions_dir)
            smoothing = validation_smoothing(predictions[run.stage.variant], context.dataset, str(predictions_dir))
        stage = StageResult(
            run.stage,
            runs_dir / run.run_dir,
            checkpoint,
            trained.epoch,
            scores,
            predictions_dir,
            run.train_seconds,
            smoothing,
        )
        result.stages.append(stage)
    return predictions


def _validate_stage(
    context: RecipeContext, trained: TrainedModel, predictions_dir: Path
) -> tuple[AffectScores, dict[str, VideoPrediction]]:
    """Predict Validation with ``trained`` into ``predictions_dir``; ``(scores, predictions)``."""
    from abaw.prediction.members import predict_entries
    from abaw.prediction.predict import write_split_predictions
    from abaw.runtime.evaluation import score_split

    index, split = context.dataset, Split.VALIDATION
    predictions = predict_entries(trained, index, split, workers=context.workers, progress=context.progress)
    write_split_predictions(
        context.path(predictions_dir), predictions, index, split, force=True, progress=context.progress
    )
    return score_split(predictions, index, split).scores, predictions


def submission_candidates(result: DemoResult, ensemble_ccc: float | None = None) -> list[Candidate]:
    """Every model the demo could submit, in the order it trained them: each stage, then the temporal model,
    each as it is and smoothed; then the temporal model averaged with its base stage (``ensemble_ccc``, when scored).
    """
    candidates = []
    rows = [(stage.stage.paper_name, stage.checkpoint, stage.scores, stage.smoothing) for stage in result.stages]
    temporal = result.temporal
    if temporal is not None:
        rows.append(("Temporal", temporal.checkpoint, temporal.scores, temporal.smoothing))
    for name, checkpoint, scores, smoothing in rows:
        candidates.append(Candidate(name, (checkpoint,), scores.ccc_mean))
        if smoothing is not None:
            candidates.append(Candidate(f"{name}, smoothed", (checkpoint,), smoothing.ccc_after, smoothing))
    if temporal is not None and ensemble_ccc is not None:
        base = next(stage for stage in result.stages if stage.stage.paper_name == temporal.base)
        pair = (temporal.checkpoint, base.checkpoint)
        candidates.append(Candidate(f"Temporal + {temporal.base}", pair, ensemble_ccc))
    return candidates


def choose_submission(candidates: list[Candidate]) -> Candidate:
    """The candidate with the best mean CCC on Validation; of equals, the first (the simpler).

    Example:
        >>> plain, later = Candidate("Disc", (Path("a"),), 0.7), Candidate("Temporal", (Path("b"),), 0.8)
        >>> choose_submission([plain, later]).name, choose_submission([plain, Candidate("x", (), 0.7)]).name
        ('Temporal', 'Disc')
    """
    return max(candidates, key=lambda candidate: candidate.ccc_mean)


def _ensemble_score(
    context: RecipeContext, result: DemoResult, predictions: dict[str, dict[str, VideoPrediction]]
) -> float | None:
    """Mean CCC on Validation of the temporal model's predictions averaged with its base stage's."""
    from abaw.prediction.ensemble import average_predictions
    from abaw.runtime.evaluation import complete_predictions, score_split

    temporal = result.temporal
    if temporal is None or temporal.predicted is None:
        return None
    base = next(stage for stage in result.stages if stage.stage.paper_name == temporal.base)
    index, split = context.dataset, Split.VALIDATION
    counts = index.frame_counts(split)
    parts = [complete_predictions(part, counts) for part in (temporal.predicted, predictions[base.stage.variant])]
    return score_split(average_predictions(parts, [1.0, 1.0]), index, split).scores.ccc_mean


def _submit(context: RecipeContext, result: DemoResult, submission_format: SubmissionFormat) -> None:
    """Predict Test with the chosen candidate and write the checked submission into the demo's folder."""
    from abaw.prediction.ensemble import load_ensemble
    from abaw.prediction.predict import write_test_submission
    from abaw.prediction.smoothing import apply_smoothing

    index, chosen = context.dataset, result.submitted
    if chosen is None:
        raise RuntimeError("the demo submits after choosing what")
    with context.timed("predict"):
        index.require_usable([Split.TEST])
        counts = index.frame_counts(Split.TEST)
        ensemble = load_ensemble([context.path(path) for path in chosen.checkpoints], context.device)
        predictions = ensemble.predict(index, Split.TEST, workers=context.workers, progress=context.progress)
        if chosen.smoothing is not None:
            predictions = apply_smoothing(predictions, counts, chosen.smoothing)
        submission = write_test_submission(
            context.output.path,
            predictions,
            counts,
            submission_format,
            shown_in=context.output.target,
            warn=result.notes.append,
            progress=context.progress,
        )
    result.submission = submission.zip_path.relative_to(context.output.path)
    result.submission_ok = submission.report.ok
    result.notes.extend(submission.report.problems)


def _draw(context: RecipeContext, result: DemoResult, predictions: dict[str, VideoPrediction]) -> None:
    """The last stage's figures in ``plots/``."""
    from abaw.plots import plot_run

    with context.timed("plots"):
        checkpoint = context.path(result.stages[-1].checkpoint)
        figures = plot_run(
            checkpoint,
            context.dataset,
            context.path("plots"),
            predictions=predictions,
            max_videos=3,
            device=context.device,
            force=True,
        )
    result.plots = [path.relative_to(context.output.path) for path in figures.files]
    result.notes.extend(figures.notes)
