"""``abaw demo``: the whole workflow on the generated demo dataset, in minutes on a CPU.

1. Generate the demo dataset, or reuse it when it was generated with the
   same settings.
2. Extract the per-frame audio features (skipped when up to date).
3. Train the paper's progressive stages under the val protocol, each
   started from the previous stage's best checkpoint: Disc -> AEG-CD ->
   AEG-CD-SZ (:func:`abaw.training.progressive.train_chain`).
4. Predict Validation with each stage's best checkpoint and score it with
   the challenge metric; predict Test with the last stage and write the
   checked submission zip.
5. Draw the figures of the last stage (predictions over time, cleaned faces
   and latent channels).

Everything is written to ``OUT.partial`` and moved onto ``OUT`` only when
complete, so an interrupted demo never damages the outputs of an earlier
one, and ``resume`` continues the interrupted one where it stopped.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from abaw import __version__
from abaw.data.audio import AudioFeatureConfig, extract_audio_features
from abaw.data.index import DatasetIndex, open_dataset
from abaw.data.layout import Split
from abaw.demo_temporal import TemporalRecipe, TemporalStageResult, run_temporal_stage
from abaw.errors import DataError, OutputExistsError
from abaw.fileio import atomic_write_json, move_dir_onto
from abaw.formats.types import SubmissionFormat, VideoPrediction
from abaw.outputs import (
    OutputKind,
    output_lock,
    prepare_resumable_output,
    read_marker,
    refuse_dataset_overlap,
    relocated,
    staging_dir,
)
from abaw.progress import ProgressFn, no_progress
from abaw.scoring.metrics import AffectScores
from abaw.scoring.references import published_results
from abaw.synthetic import GeneratorConfig, generate_dataset
from abaw.training.progressive import PAPER_CHAIN, Stage, train_chain, with_epochs

if TYPE_CHECKING:
    # torch loads only when a demo runs, so that importing this module (and the CLI) stays quick.
    from abaw.prediction.predict import TrainedModel
    from abaw.training.config import TrainConfig
    from abaw.training.reporting import Reporter

LogFn = Callable[[str], None]
RESULTS_NAME = "results.json"


ITERATION_COST = {"disc": 1.0, "aeg-cd": 4.5, "aeg-cd-sz": 5.1}
"""Cost of one training iteration of each stage in Disc iterations, validation included.

Measured in the demo of 2026-12-01 (AMD EPYC, 2 cores, quiet; 18
iterations per epoch): Disc 29 s for 54 iterations, AEG-CD 87 s and
AEG-CD-SZ 98 s for 36 each.
"""

TRAINING_OVERHEAD = 1.5
"""Stage time over its solver steps' time as the speed check times them: validation, the loader, checkpoints.

The same demo's speed check said 90 frames/s; its Disc stage ran 54 x 32
frames in 29 s (60 frames/s).
"""

OTHER_STEPS_DISC_FRAMES = 6400
"""Data, audio, prediction, embeddings, the temporal stage and figures, in Disc training frames.

The same demo: 71 s at the speed check's 90 frames/s.
"""


@dataclass(frozen=True)
class DemoRecipe:
    """What the demo generates and trains.

    The default fits the 10-minute budget of a slow 2-core CPU (a Disc
    training at 39 frames/s), temporal stage included: full-size networks, a
    batch of 32 instead of the authors' 500-1000. Each epoch is capped at
    ``steps_per_epoch`` iterations, so the training time is set by the
    recipe, not by how many frames the generated dataset has. The
    adversarial stages get one epoch because each of their iterations costs
    five to six of the Disc's (:data:`ITERATION_COST`), at the paper's
    learning rate; the Disc, with only 54 iterations, trains at 3e-4 (at
    1e-4 it had learned the shape of the labels but not their scale: CCC
    0.03, PCC 0.76; at 3e-4 and 1e-3, CCC 0.71 and 0.70, seed 0).

    Attributes:
        stages: The progressive stages, in order; each starts from the
            previous one's ``best.pt``.
        batch_size: Frames per iteration.
        seed: Seed of the training runs.
        steps_per_epoch: Cap on iterations per epoch, or ``None`` for whole epochs.
        data: The generated dataset.
        audio: The audio features of the SZ stage.
        temporal: The temporal stage after the last one (:mod:`abaw.demo_temporal`), or ``None``.
        train_settings: :class:`~abaw.training.config.TrainConfig` settings
            every stage gets (e.g. the adversarial knobs ``warmup_steps``,
            ``d_affect``, ``drift``, ``lr_d``, ``lr_g``); empty keeps the
            trainer's defaults.
    """

    stages: tuple[Stage, ...] = (
        Stage("disc", epochs=3, lr=3e-4, n_critic=5),
        Stage("aeg-cd", epochs=1, lr=1e-4, n_critic=5),
        Stage("aeg-cd-sz", epochs=1, lr=1e-4, n_critic=5),
    )
    batch_size: int = 32
    seed: int = 0
    steps_per_epoch: int | None = 18
    data: GeneratorConfig = field(default_factory=GeneratorConfig.many_identities)
    audio: AudioFeatureConfig = field(default_factory=AudioFeatureConfig)
    temporal: TemporalRecipe | None = field(default_factory=TemporalRecipe)
    train_settings: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def quick(cls) -> DemoRecipe:
        """A smoke run of every step in well under a minute: tiny variants, a tiny dataset, 2 steps per epoch.

        Example:
            >>> [stage.variant for stage in DemoRecipe.quick().stages]
            ['disc-tiny', 'aeg-cd-tiny', 'aeg-cd-sz-tiny']
        """
        return cls(
            stages=tuple(Stage(f"{variant}-tiny", epochs=1, lr=1e-3, n_critic=1) for variant in PAPER_CHAIN),
            batch_size=8,
            steps_per_epoch=2,
            data=GeneratorConfig(videos=6, frames=24),
            temporal=TemporalRecipe.quick(),
        )

    def with_seed(self, seed: int) -> DemoRecipe:
        """The recipe with ``seed`` for both the generated dataset and the training runs.

        Example:
            >>> recipe = DemoRecipe().with_seed(3)
            >>> recipe.seed, recipe.data.seed
            (3, 3)
        """
        return replace(self, seed=seed, data=replace(self.data, seed=seed))

    def with_epochs(self, epochs: list[int]) -> DemoRecipe:
        """The recipe with one epoch count per stage.

        Raises:
            DataError: when the counts do not match the stages or one is below 1.

        Example:
            >>> [stage.epochs for stage in DemoRecipe().with_epochs([2, 1, 1]).stages]
            [2, 1, 1]
        """
        return replace(self, stages=with_epochs(self.stages, epochs))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return {
            "stages": [stage.to_dict() for stage in self.stages],
            "batch_size": self.batch_size,
            "seed": self.seed,
            "steps_per_epoch": self.steps_per_epoch,
            "data": self.data.to_dict(),
            "audio": self.audio.to_dict(),
            "temporal": None if self.temporal is None else self.temporal.to_dict(),
            "train_settings": dict(self.train_settings),
        }

    def planned_iterations(self) -> list[int] | None:
        """Training iterations of each stage at most, or ``None`` when epochs are not capped.

        Example:
            >>> DemoRecipe().planned_iterations()
            [54, 18, 18]
        """
        if self.steps_per_epoch is None:
            return None
        return [stage.epochs * self.steps_per_epoch for stage in self.stages]

    def estimated_seconds(self, frames_per_second: float) -> float | None:
        """Rough wall time of the whole demo on a machine whose first stage trains at ``frames_per_second``.

        The first stage's speed is scaled by :data:`ITERATION_COST` for the
        others; ``None`` without an epoch cap or a usable speed.

        Example:
            >>> round(DemoRecipe().estimated_seconds(90.0))
            192
        """
        iterations = self.planned_iterations()
        if iterations is None or not frames_per_second > 0:
            return None
        first = ITERATION_COST.get(self.stages[0].variant.removesuffix("-tiny"), 1.0)
        disc_iterations = sum(
            count * ITERATION_COST.get(stage.variant.removesuffix("-tiny"), 1.0) / first
            for stage, count in zip(self.stages, iterations, strict=True)
        )
        training = disc_iterations * self.batch_size * TRAINING_OVERHEAD
        return (training + OTHER_STEPS_DISC_FRAMES) / frames_per_second


@dataclass
class StageResult:
    """One trained stage and its validation score.

    Attributes:
        stage: What was trained.
        run_dir: Its run folder (``config.yaml``, checkpoints, metrics).
        checkpoint: The ``best.pt`` used for prediction.
        best_epoch: The epoch of that checkpoint.
        scores: Validation scores of the checkpoint's predictions.
        predictions: Folder of its per-video validation predictions.
        train_seconds: Training time (0 for a stage a resumed demo found finished).
    """

    stage: Stage
    run_dir: Path
    checkpoint: Path
    best_epoch: int
    scores: AffectScores
    predictions: Path
    train_seconds: float

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
        }


@dataclass
class SpeedCheck:
    """The training speed the demo measured before its work, and what it expects from it.

    Attributes:
        variant: The model timed (the first stage's).
        frames_per_second: Training frames/s of a few steps on random tensors.
        device: Where it computed.
        cpu: The CPU's model name.
        threads: Torch's intra-op threads.
        estimated_seconds: The demo's expected wall time, or ``None`` when it cannot be told.
    """

    variant: str
    frames_per_second: float
    device: str
    cpu: str
    threads: int
    estimated_seconds: float | None

    def summary(self) -> str:
        """One line for the user.

        Example:
            >>> SpeedCheck("disc", 52.34, "cpu", "AMD EPYC", 2, 330.0).summary()
            'training speed: 52 frames/s (disc, cpu, AMD EPYC, 2 threads); the demo should take about 5.5 min'
        """
        line = (
            f"training speed: {self.frames_per_second:.0f} frames/s "
            f"({self.variant}, {self.device}, {self.cpu}, {self.threads} threads)"
        )
        if self.estimated_seconds is not None:
            line += f"; the demo should take about {self.estimated_seconds / 60:.1f} min"
        return line

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return {
            **self.__dict__,
            "frames_per_second": round(self.frames_per_second, 1),
            "estimated_seconds": None if self.estimated_seconds is None else round(self.estimated_seconds, 1),
        }


def check_speed(recipe: DemoRecipe, device: str) -> SpeedCheck:
    """Time a few training steps of the recipe's first stage on ``device`` and estimate the demo's time."""
    import torch

    from abaw.benchmarks.training import calibrate_training
    from abaw.runtime.devices import cpu_model, resolve_device

    resolved = resolve_device(device)
    variant = recipe.stages[0].variant
    rate = calibrate_training(variant, resolved, recipe.batch_size, audio_dim=recipe.audio.dim)
    cpu = cpu_model() if resolved.type == "cpu" else torch.cuda.get_device_name(resolved)
    return SpeedCheck(variant, rate, str(resolved), cpu, torch.get_num_threads(), recipe.estimated_seconds(rate))


@dataclass
class DemoResult:
    """What the demo measured and wrote.

    Attributes:
        out_dir: The demo's folder.
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
            "submission": str(self.submission),
            "submission_ok": self.submission_ok,
            "plots": [str(path) for path in self.plots],
            "notes": self.notes,
            "seconds": {step: round(seconds, 1) for step, seconds in self.seconds.items()},
            "temporal": None if self.temporal is None else self.temporal.to_dict(),
        }


def default_folders(quick: bool) -> tuple[Path, Path]:
    """``(data, out)`` folders of ``abaw demo``; the quick run keeps apart from the full one.

    Example:
        >>> [str(path) for path in default_folders(quick=True)]
        ['demo-data-quick', 'submissions/demo-quick']
    """
    suffix = "-quick" if quick else ""
    return Path(f"demo-data{suffix}"), Path(f"submissions/demo{suffix}")


def prepare_dataset(
    data_dir: Path, config: GeneratorConfig, force: bool, progress: ProgressFn, log: LogFn
) -> tuple[Path, bool]:
    """Reuse ``data_dir`` when it was generated with ``config``, else generate it; ``(root, reused)``.

    A folder that is not a generated dataset is never replaced, even with ``force``.

    Raises:
        OutputExistsError: ``data_dir`` was generated with other settings and ``force`` is false.
        DataError: ``data_dir`` exists and is not a generated dataset.
    """
    if data_dir.exists() and any(data_dir.iterdir()):
        marker = read_marker(data_dir)
        if marker is None or marker.get("kind") != OutputKind.DATASET.value:
            raise DataError("exists and is not a dataset made by abaw; choose another --data folder", path=data_dir)
        if marker.get("config") == config.to_dict():
            log(f"reusing the demo dataset in {data_dir}")
            return data_dir, True
        if not force:
            raise OutputExistsError("was generated with other settings; pass --force to regenerate it", data_dir)
    log(f"generating the demo dataset in {data_dir}")
    generated = generate_dataset(data_dir, config, force=True, progress=progress)
    return generated.root, False


def base_train_config(recipe: DemoRecipe, root: Path, device: str, workers: int) -> TrainConfig:
    """The settings the demo's stages share: the val protocol on the demo dataset, the recipe's batch and seed."""
    from abaw.training.config import Protocol, TrainConfig

    config = TrainConfig(
        variant=recipe.stages[0].variant,
        protocol=Protocol.VAL,
        batch_size=recipe.batch_size,
        seed=recipe.seed,
        device=device,
        workers=workers,
        steps_per_epoch=recipe.steps_per_epoch,
        audio_feature_set=recipe.audio.feature_set.value,
        audio_pooling=recipe.audio.pooling.value,
        dataset={"root": str(root)},
    )
    return config.replace(**recipe.train_settings)


def _validate_stage(
    result_dir: Path, trained: TrainedModel, index: DatasetIndex, workers: int, progress: ProgressFn
) -> tuple[AffectScores, dict[str, VideoPrediction]]:
    """Predict Validation with ``trained`` into ``result_dir``; ``(scores, predictions)``."""
    from abaw.prediction.predict import predict_entries, write_split_predictions
    from abaw.runtime.evaluation import score_split

    predictions = predict_entries(trained, index, Split.VALIDATION, workers=workers, progress=progress)
    write_split_predictions(result_dir, predictions, index, Split.VALIDATION, force=True, progress=progress)
    return score_split(predictions, index, Split.VALIDATION).scores, predictions


def run_demo(
    recipe: DemoRecipe | None = None,
    data_dir: str | os.PathLike = "demo-data",
    out_dir: str | os.PathLike = "submissions/demo",
    *,
    force: bool = False,
    resume: bool = False,
    device: str = "auto",
    workers: int = 2,
    submission_format: SubmissionFormat = SubmissionFormat.PER_VIDEO,
    reporter: Reporter | None = None,
    progress: ProgressFn = no_progress,
    log: LogFn = lambda message: None,
) -> DemoResult:
    """Run the whole workflow on the generated demo dataset (see the module docstring).

    Args:
        recipe: What to generate and train (default: :class:`DemoRecipe`).
        data_dir: The demo dataset: reused when generated with
            ``recipe.data``, generated otherwise.
        out_dir: Where the runs, predictions, submission, figures and
            ``results.json`` end up (built in ``OUT.partial`` first).
        force: Replace an earlier demo in ``out_dir`` (once the new one is
            complete) and regenerate a dataset made with other settings.
        resume: Continue the interrupted demo in ``OUT.partial``.
        device: ``auto``, ``cpu`` or ``cuda``.
        workers: DataLoader worker processes.
        submission_format: Format of the test submission.
        reporter: A :class:`~abaw.training.reporting.Reporter` for the training progress.
        progress: Progress bar for the other steps.
        log: Receives one line per step.

    Returns:
        The measured scores and where everything was written.

    Raises:
        AbawError: for bad settings, existing outputs or bad data (one line each).
    """
    from abaw.runtime.devices import resolve_device

    began = time.perf_counter()
    recipe = recipe if recipe is not None else DemoRecipe()
    out_dir = Path(out_dir).expanduser().resolve()
    data_dir = Path(data_dir).expanduser().resolve()
    staging = staging_dir(out_dir)
    resolved_device = str(resolve_device(device))
    # Replacing the demo folder must never delete its dataset, nor the dataset hold the demo.
    refuse_dataset_overlap(out_dir, [data_dir])
    with output_lock(out_dir):
        prepare_resumable_output(out_dir, OutputKind.DEMO, recipe.to_dict(), force=force, resume=resume, what="demo")
        return _run_stages(
            recipe,
            data_dir,
            out_dir,
            staging,
            force,
            device,
            resolved_device,
            workers,
            submission_format,
            reporter,
            progress,
            log,
            began,
        )


def _run_stages(
    recipe: DemoRecipe,
    data_dir: Path,
    out_dir: Path,
    staging: Path,
    force: bool,
    device: str,
    resolved_device: str,
    workers: int,
    submission_format: SubmissionFormat,
    reporter: Reporter | None,
    progress: ProgressFn,
    log: LogFn,
    began: float,
) -> DemoResult:
    """Every step of :func:`run_demo` after the checks, in ``staging``, then moved onto ``out_dir``."""
    from abaw.plots import plot_run
    from abaw.prediction.predict import load_trained_model, predict_entries, write_test_submission

    seconds: dict[str, float] = {}

    def timed(step: str, started: float) -> None:
        seconds[step] = seconds.get(step, 0.0) + time.perf_counter() - started

    started = time.perf_counter()
    speed = check_speed(recipe, device)
    log(speed.summary())
    timed("speed check", started)

    started = time.perf_counter()
    root, reused = prepare_dataset(data_dir, recipe.data, force, progress, log)
    index = open_dataset(root, progress=progress)
    timed("data", started)
    result = DemoResult(out_dir, root, reused, recipe, device=resolved_device, speed=speed)

    if any(stage.variant.startswith("aeg-cd-sz") for stage in recipe.stages):
        started = time.perf_counter()
        audio = extract_audio_features(index, recipe.audio, jobs=max(1, workers), progress=progress)
        result.notes.extend(audio.warnings)
        log(f"audio features: {audio.folder}")
        timed("audio", started)

    runs = train_chain(
        recipe.stages,
        staging / "runs",
        base_train_config(recipe, root, device, workers),
        reporter=reporter,
        progress=progress,
        log=log,
    )
    for run in runs:
        seconds[f"train {run.stage.paper_name}"] = run.train_seconds
    for run in runs:
        started = time.perf_counter()
        predictions_dir = staging / "val" / run.stage.variant
        trained = load_trained_model(run.checkpoint, device)
        scores, predictions = _validate_stage(predictions_dir, trained, index, workers, progress)
        timed("predict", started)
        result.stages.append(
            StageResult(
                run.stage, run.run_dir, run.checkpoint, trained.epoch, scores, predictions_dir, run.train_seconds
            )
        )

    if recipe.temporal is not None:
        result.temporal = _temporal_stage(
            recipe, result.stages[-1], predictions, index, staging, device, workers, reporter, progress, log, seconds
        )

    started = time.perf_counter()
    index.require_usable([Split.TEST])
    submission = write_test_submission(
        staging,
        predict_entries(trained, index, Split.TEST, workers=workers, progress=progress),
        index.frame_counts(Split.TEST),
        submission_format,
        warn=lambda message: result.notes.append(message),
        progress=progress,
    )
    result.submission, result.submission_ok = submission.zip_path, submission.report.ok
    result.notes.extend(submission.report.problems)
    timed("predict", started)

    started = time.perf_counter()
    figures = plot_run(trained, index, staging / "plots", predictions=predictions, max_videos=3, force=True)
    result.plots = figures.files
    result.notes.extend(figures.notes)
    timed("plots", started)
    seconds["total"] = time.perf_counter() - began
    result.seconds = seconds

    final = _relocated(result, staging, out_dir)
    atomic_write_json(staging / RESULTS_NAME, final.to_dict(), force=True)
    move_dir_onto(staging, out_dir)
    return final


def _relocated(result: DemoResult, staging: Path, out_dir: Path) -> DemoResult:
    """``result`` with every path under ``staging`` pointing where it will be once moved onto ``out_dir``."""

    def moved(path: Path) -> Path:
        return relocated(path, staging, out_dir)

    stages = [
        replace(
            stage,
            run_dir=moved(stage.run_dir),
            checkpoint=moved(stage.checkpoint),
            predictions=moved(stage.predictions),
        )
        for stage in result.stages
    ]
    submission = None if result.submission is None else moved(result.submission)
    temporal = None if result.temporal is None else result.temporal.relocated(moved)
    return replace(
        result, stages=stages, submission=submission, plots=[moved(path) for path in result.plots], temporal=temporal
    )


# --------------------------------------------------------------------------- temporal stage (issue 15)


def _temporal_stage(
    recipe: DemoRecipe,
    base: StageResult,
    base_predictions: dict[str, VideoPrediction],
    index: DatasetIndex,
    staging: Path,
    device: str,
    workers: int,
    reporter: Reporter | None,
    progress: ProgressFn,
    log: LogFn,
    seconds: dict[str, float],
) -> TemporalStageResult:
    """The temporal stage over the last stage's embeddings (:mod:`abaw.demo_temporal`), its times in ``seconds``."""
    assert recipe.temporal is not None
    started = time.perf_counter()
    stage = run_temporal_stage(
        recipe.temporal,
        base.stage.paper_name,
        base.checkpoint,
        base.scores,
        base_predictions,
        index,
        staging,
        seed=recipe.seed,
        device=device,
        workers=workers,
        reporter=reporter,
        progress=progress,
        log=log,
    )
    seconds["embed"] = stage.embed_seconds
    seconds["temporal"] = time.perf_counter() - started - stage.embed_seconds
    return stage
