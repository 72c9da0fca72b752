"""``abaw experiment progressive``: the paper's chain Disc -> AEG-CD -> AEG-CD-SZ over several training seeds.

One dataset (the demo's, generated with a fixed data seed, or ``--root``),
several training seeds, each training the demo's progressive chain
(:func:`abaw.training.progressive.train_chain`) into its own folder
``OUT/seed-<n>/runs/<variant>``. Every stage's ``best.pt`` is then measured
on the validation split:

* the challenge CCC (valence, arousal, mean) over all frames, scored as
  ``abaw score`` scores (:func:`abaw.runtime.evaluation.score_split`);
* the same over the degraded frames only, from the generator's record
  (:func:`abaw.synthetic.degradations.read_degradations`; ``None`` when the
  dataset has none, e.g. the real data);
* for a stage with a generator, the PSNR of its output ``G(noisy)`` and of
  the noisy input against the clean face (:mod:`abaw.experiments.generator`).

The summary gives each stage's mean and standard deviation over the seeds.

The experiment is built in ``OUT.partial`` and moved onto ``OUT`` when every
seed is done (the output policy of :mod:`abaw.outputs`). Each finished seed
leaves ``seed-<n>/seed.json``: ``resume`` (same settings only) reuses it
without retraining or re-measuring, and continues a half-trained seed from
its runs' ``last.pt``.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from abaw import __version__
from abaw.data.layout import Split
from abaw.demo import DemoRecipe, base_train_config, prepare_dataset
from abaw.errors import DataError
from abaw.fileio import atomic_write_json, move_dir_onto
from abaw.outputs import (
    OutputKind,
    output_lock,
    prepare_resumable_output,
    refuse_dataset_overlap,
    relocated,
)
from abaw.progress import ProgressFn, no_progress
from abaw.scoring.metrics import AffectScores
from abaw.scoring.references import published_results
from abaw.training.progressive import Stage, train_chain

if TYPE_CHECKING:
    from abaw.data.index import DatasetIndex
    from abaw.experiments.generator import FacePsnr
    from abaw.training.config import TrainConfig
    from abaw.training.reporting import Reporter

LogFn = Callable[[str], None]

RESULTS_NAME = "experiment.json"
SEED_RESULT_NAME = "seed.json"
KNOBS = ("warmup_steps", "d_affect", "drift", "lr_d", "lr_g")
"""The adversarial settings an experiment may override (``abaw train``'s flags of the same names)."""


@dataclass(frozen=True)
class ExperimentSettings:
    """What an experiment trains and measures.

    Attributes:
        recipe: The demo's recipe: stages, batch, generated data (its seed is
            the data seed) and audio; its own ``seed`` is replaced by each of ``seeds``.
        seeds: The training seeds, one chain each.
        knobs: Adversarial settings given to every stage (``warmup_steps``,
            ``d_affect``, ``drift``, ``lr_d``, ``lr_g``); the rest keep ``abaw train``'s defaults.
        psnr_faces: Validation faces (a seeded draw, the same for every run) the PSNR is measured on.
    """

    recipe: DemoRecipe = field(default_factory=DemoRecipe)
    seeds: tuple[int, ...] = (0, 1, 2)
    knobs: Mapping[str, Any] = field(default_factory=dict)
    psnr_faces: int = 256

    def __post_init__(self) -> None:
        if not self.seeds:
            raise DataError("give at least one training seed")
        repeated = sorted({seed for seed in self.seeds if self.seeds.count(seed) > 1})
        if repeated:
            raise DataError(f"training seed(s) {', '.join(map(str, repeated))} given twice")
        if any(seed < 0 for seed in self.seeds):
            raise DataError(f"training seeds must be 0 or more, got {list(self.seeds)}")
        unknown = sorted(set(self.knobs) - set(KNOBS))
        if unknown:
            raise DataError(f"unknown experiment setting(s) {', '.join(unknown)}; known: {', '.join(KNOBS)}")
        if self.psnr_faces < 1:
            raise DataError(f"psnr_faces must be at least 1, got {self.psnr_faces}")
        object.__setattr__(self, "seeds", tuple(int(seed) for seed in self.seeds))
        object.__setattr__(self, "knobs", {key: self.knobs[key] for key in KNOBS if self.knobs.get(key) is not None})

    @classmethod
    def create(
        cls,
        *,
        quick: bool = False,
        seeds: Sequence[int] = (0, 1, 2),
        data_seed: int = 0,
        epochs: Sequence[int] | None = None,
        batch_size: int | None = None,
        psnr_faces: int | None = None,
        **knobs: Any,
    ) -> ExperimentSettings:
        """The demo's recipe (``quick``: its smoke run) on the data of ``data_seed``, with the given changes.

        Example:
            >>> settings = ExperimentSettings.create(quick=True, seeds=[0, 1], data_seed=3, drift=0.001, lr_d=None)
            >>> settings.recipe.data.seed, settings.seeds, dict(settings.knobs)
            (3, (0, 1), {'drift': 0.001})
        """
        recipe = DemoRecipe.quick() if quick else DemoRecipe()
        recipe = replace(recipe, data=replace(recipe.data, seed=data_seed))
        if epochs is not None:
            recipe = recipe.with_epochs(list(epochs))
        if batch_size is not None:
            recipe = replace(recipe, batch_size=batch_size)
        faces = psnr_faces if psnr_faces is not None else (16 if quick else cls.psnr_faces)
        return cls(recipe, tuple(seeds), knobs, faces)

    def base_config(self, root: Path, device: str, workers: int) -> TrainConfig:
        """The settings every stage of every seed shares (the demo's, plus the knobs); the seed is set per chain."""
        return base_train_config(self.recipe, root, device, workers).replace(**self.knobs)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (also the recipe a resumed experiment must match)."""
        return {
            "recipe": {key: value for key, value in self.recipe.to_dict().items() if key != "seed"},
            "seeds": list(self.seeds),
            "knobs": dict(self.knobs),
            "psnr_faces": self.psnr_faces,
        }


def _scores_from_dict(values: Mapping[str, Any] | None) -> AffectScores | None:
    """:class:`AffectScores` back from its :meth:`~AffectScores.to_dict` (``None`` stays ``None``)."""
    if values is None:
        return None
    return AffectScores(**{item.name: values[item.name] for item in fields(AffectScores)})


@dataclass
class StageMeasurement:
    """One stage of one seed, measured on the validation split.

    Attributes:
        stage: What was trained.
        run_dir: Its run folder.
        best_epoch: The epoch of the ``best.pt`` measured.
        train_seconds: Training time (0 when a resumed experiment found it trained).
        all_frames: CCC and companions over every annotated validation frame.
        degraded: The same over the degraded frames only; ``None`` when the dataset records none.
        psnr: The generator's PSNR; ``None`` for a stage without a generator.
    """

    stage: Stage
    run_dir: Path
    best_epoch: int
    train_seconds: float
    all_frames: AffectScores
    degraded: AffectScores | None = None
    psnr: FacePsnr | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return {
            "name": self.stage.paper_name,
            "stage": self.stage.to_dict(),
            "run_dir": str(self.run_dir),
            "best_epoch": self.best_epoch,
            "train_seconds": round(self.train_seconds, 1),
            "val": self.all_frames.to_dict(),
            "val_degraded": None if self.degraded is None else self.degraded.to_dict(),
            "psnr": None if self.psnr is None else self.psnr.to_dict(),
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> StageMeasurement:
        """Back from :meth:`to_dict` (a resumed experiment's finished seeds)."""
        from abaw.experiments.generator import FacePsnr

        psnr = values.get("psnr")
        return cls(
            Stage(**values["stage"]),
            Path(values["run_dir"]),
            int(values["best_epoch"]),
            float(values["train_seconds"]),
            _scores_from_dict(values["val"]),  # type: ignore[arg-type]
            _scores_from_dict(values.get("val_degraded")),
            None if psnr is None else FacePsnr(float(psnr["output"]), float(psnr["noisy"]), int(psnr["faces"])),
        )


@dataclass
class SeedResult:
    """One training seed's chain, measured.

    Attributes:
        seed: The training seed.
        stages: Each stage, in training order.
        seconds: Wall time of the seed (training and measuring).
    """

    seed: int
    stages: list[StageMeasurement]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (``seed-<n>/seed.json``)."""
        return {"seed": self.seed, "seconds": round(self.seconds, 1), "stages": [s.to_dict() for s in self.stages]}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> SeedResult:
        """Back from :meth:`to_dict`."""
        stages = [StageMeasurement.from_dict(stage) for stage in values["stages"]]
        return cls(int(values["seed"]), stages, float(values["seconds"]))

    def moved(self, staging: Path, target: Path) -> SeedResult:
        """This seed with its run folders where they will be once ``staging`` is moved onto ``target``."""
        stages = [replace(stage, run_dir=relocated(stage.run_dir, staging, target)) for stage in self.stages]
        return replace(self, stages=stages)


@dataclass(frozen=True)
class Spread:
    """A measurement over seeds: its mean and sample standard deviation.

    Attributes:
        mean: The mean over the seeds.
        std: The sample standard deviation (``ddof=1``); ``None`` for one seed.
        values: The per-seed values, in seed order.

    Example:
        >>> spread = Spread.of([0.5, 0.7, 0.9])
        >>> round(spread.mean, 6), round(spread.std, 6)
        (0.7, 0.2)
        >>> Spread.of([0.5]).std is None
        True
    """

    mean: float
    std: float | None
    values: tuple[float, ...]

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        """The spread of ``values`` (at least one)."""
        array = np.asarray(values, dtype=np.float64)
        std = float(array.std(ddof=1)) if len(array) > 1 else None
        return cls(float(array.mean()), std, tuple(float(value) for value in array))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return {"mean": self.mean, "std": self.std, "values": list(self.values)}


def _ccc_spreads(scores: Sequence[AffectScores]) -> dict[str, Spread]:
    return {
        "valence": Spread.of([score.ccc_valence for score in scores]),
        "arousal": Spread.of([score.ccc_arousal for score in scores]),
        "mean": Spread.of([score.ccc_mean for score in scores]),
    }


@dataclass
class StageSummary:
    """One stage over every seed.

    Attributes:
        stage: The stage.
        all_frames: CCC ``valence``, ``arousal`` and ``mean`` over all validation frames.
        degraded: The same over the degraded frames; ``None`` when the dataset records none.
        psnr_output: PSNR of the generator's output; ``None`` without a generator.
        psnr_noisy: PSNR of its noisy input; ``None`` without a generator.
    """

    stage: Stage
    all_frames: dict[str, Spread]
    degraded: dict[str, Spread] | None
    psnr_output: Spread | None
    psnr_noisy: Spread | None

    @classmethod
    def of(cls, measured: Sequence[StageMeasurement]) -> StageSummary:
        """The summary of one stage's measurements, one per seed."""
        degraded = [item.degraded for item in measured if item.degraded is not None]
        psnr = [item.psnr for item in measured if item.psnr is not None]
        return cls(
            measured[0].stage,
            _ccc_spreads([item.all_frames for item in measured]),
            _ccc_spreads(degraded) if len(degraded) == len(measured) else None,
            Spread.of([value.output for value in psnr]) if psnr else None,
            Spread.of([value.noisy for value in psnr]) if psnr else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""

        def spreads(values: dict[str, Spread] | None) -> dict[str, Any] | None:
            return None if values is None else {key: value.to_dict() for key, value in values.items()}

        return {
            "name": self.stage.paper_name,
            "published_name": self.stage.published_name,
            "ccc": spreads(self.all_frames),
            "ccc_degraded": spreads(self.degraded),
            "psnr_output": None if self.psnr_output is None else self.psnr_output.to_dict(),
            "psnr_noisy": None if self.psnr_noisy is None else self.psnr_noisy.to_dict(),
        }


def summarise(seeds: Sequence[SeedResult]) -> list[StageSummary]:
    """Each stage's spread over ``seeds`` (every seed trains the same stages), in training order."""
    return [StageSummary.of([seed.stages[number] for seed in seeds]) for number in range(len(seeds[0].stages))]


@dataclass
class ExperimentResult:
    """What an experiment measured and where it wrote it.

    Attributes:
        out_dir: The experiment's folder.
        data_dir: The dataset.
        settings: What was trained and measured.
        seeds: Each seed's measurements, in seed order.
        summary: Each stage over the seeds.
        degraded_frames: Annotated validation frames marked degraded, ``None`` when the dataset records none.
        notes: Things worth telling the user.
        seconds: Wall time of the steps and ``total``.
        device: Where it computed.
    """

    out_dir: Path
    data_dir: Path
    settings: ExperimentSettings
    seeds: list[SeedResult]
    summary: list[StageSummary]
    degraded_frames: int | None = None
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    device: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (``experiment.json`` and ``--json``)."""
        return {
            "abaw": __version__,
            "python": platform.python_version(),
            "device": self.device,
            "out_dir": str(self.out_dir),
            "data_dir": str(self.data_dir),
            "settings": self.settings.to_dict(),
            "degraded_frames": self.degraded_frames,
            "summary": [stage.to_dict() for stage in self.summary],
            "seeds": [seed.to_dict() for seed in self.seeds],
            "published": [row.__dict__.copy() for row in published_results(Split.VALIDATION.value)],
            "notes": self.notes,
            "seconds": {step: round(value, 1) for step, value in self.seconds.items()},
        }


def degraded_rows(root: Path, names: Sequence[str]) -> dict[str, np.ndarray] | None:
    """Per entry of ``names``, the boolean mask of its degraded label rows; ``None`` when the dataset records none.

    Raises:
        DataError: for an unreadable record (naming the file and line).
    """
    from abaw.synthetic.degradations import read_degradations

    records = read_degradations(root)
    if not records:
        return None
    return {name: records[name].mask() for name in names if name in records}


def _measure_stage(
    run,
    index: DatasetIndex,
    masks: Mapping[str, np.ndarray] | None,
    faces: np.ndarray,
    device: str,
    workers: int,
    progress: ProgressFn,
) -> StageMeasurement:
    """Predict Validation with the stage's checkpoint, score all and degraded frames, measure the generator."""
    from abaw.experiments.generator import measure_generator_psnr
    from abaw.prediction.predict import load_trained_model, predict_entries
    from abaw.runtime.evaluation import score_split

    trained = load_trained_model(run.checkpoint, device)
    predictions = predict_entries(trained, index, Split.VALIDATION, workers=workers, progress=progress)
    all_frames = score_split(predictions, index, Split.VALIDATION).scores
    degraded = None
    if masks:
        try:
            degraded = score_split(predictions, index, Split.VALIDATION, rows=masks).scores
        except DataError:  # no annotated degraded frame in this validation split
            degraded = None
    psnr = measure_generator_psnr(trained, faces) if trained.model.generator is not None else None
    return StageMeasurement(run.stage, run.run_dir, trained.epoch, run.train_seconds, all_frames, degraded, psnr)


def _run_seed(
    seed: int,
    settings: ExperimentSettings,
    base: TrainConfig,
    seed_dir: Path,
    index: DatasetIndex,
    masks: Mapping[str, np.ndarray] | None,
    faces: np.ndarray,
    device: str,
    workers: int,
    reporter: Reporter | None,
    progress: ProgressFn,
    log: LogFn,
) -> SeedResult:
    """Train one seed's chain in ``seed_dir/runs`` and measure it; a seed already measured is read back."""
    done = seed_dir / SEED_RESULT_NAME
    if done.is_file():
        try:
            result = SeedResult.from_dict(json.loads(done.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise DataError(f"unreadable ({error}); start over with --force", path=done) from None
        log(f"seed {seed}: measured before, reusing {done}")
        return result
    began = time.perf_counter()
    runs = train_chain(
        settings.recipe.stages,
        seed_dir / "runs",
        base.replace(seed=seed),
        reporter=reporter,
        progress=progress,
        log=lambda message: log(f"seed {seed}: {message}"),
    )
    stages = [_measure_stage(run, index, masks, faces, device, workers, progress) for run in runs]
    result = SeedResult(seed, stages, time.perf_counter() - began)
    atomic_write_json(done, result.to_dict(), force=True)
    return result


def run_experiment(
    settings: ExperimentSettings | None = None,
    out_dir: str | os.PathLike = "experiments/progressive",
    *,
    root: str | os.PathLike | None = None,
    data_dir: str | os.PathLike = "demo-data",
    force: bool = False,
    resume: bool = False,
    device: str = "auto",
    workers: int = 2,
    reporter: Reporter | None = None,
    progress: ProgressFn = no_progress,
    log: LogFn = lambda message: None,
) -> ExperimentResult:
    """Train the progressive chain once per training seed on one dataset and measure every stage.

    Args:
        settings: What to train and measure (default: the demo's recipe, seeds 0, 1, 2).
        out_dir: The experiment's folder (built in ``OUT.partial`` first).
        root: An existing dataset to use; ``None`` generates the demo data of
            ``settings.recipe.data`` into ``data_dir`` (reused when generated alike).
        data_dir: Where the demo data is generated when ``root`` is ``None``.
        force: Replace an earlier experiment (once the new one is complete), or
            start an interrupted one over; regenerate a demo dataset made with other settings.
        resume: Continue the interrupted experiment (same settings only):
            measured seeds are reused, a half-trained chain continues.
        device: ``auto``, ``cpu`` or ``cuda``.
        workers: DataLoader worker processes.
        reporter: Shows each stage's training progress.
        progress: Progress bar for the other steps.
        log: Receives one line per step.

    Raises:
        AbawError: for bad settings, existing outputs or bad data (one line each).
    """
    from abaw.runtime.devices import resolve_device

    began = time.perf_counter()
    settings = settings if settings is not None else ExperimentSettings()
    out_dir = Path(out_dir).expanduser().resolve()
    dataset = Path(root if root is not None else data_dir).expanduser().resolve()
    refuse_dataset_overlap(out_dir, [dataset])
    recipe = {**settings.to_dict(), "root": None if root is None else str(dataset)}
    with output_lock(out_dir):
        staging = prepare_resumable_output(
            out_dir, OutputKind.EXPERIMENT, recipe, force=force, resume=resume, what="experiment"
        )
        result = _run_seeds(
            settings, root is not None, dataset, staging, force, device, workers, reporter, progress, log
        )
        result.device = str(resolve_device(device))
        result.seconds["total"] = time.perf_counter() - began
        final = replace(result, out_dir=out_dir, seeds=[seed.moved(staging, out_dir) for seed in result.seeds])
        atomic_write_json(staging / RESULTS_NAME, final.to_dict(), force=True)
        move_dir_onto(staging, out_dir)
    return final


def _run_seeds(
    settings: ExperimentSettings,
    given_root: bool,
    dataset: Path,
    staging: Path,
    force: bool,
    device: str,
    workers: int,
    reporter: Reporter | None,
    progress: ProgressFn,
    log: LogFn,
) -> ExperimentResult:
    """Every step of :func:`run_experiment` after the checks, in ``staging``."""
    from abaw.data.audio import extract_audio_features
    from abaw.data.index import open_dataset
    from abaw.plots.reconstruction import sample_faces

    seconds: dict[str, float] = {}
    started = time.perf_counter()
    if given_root:
        root = dataset
        log(f"using the dataset in {root}")
    else:
        root, _ = prepare_dataset(dataset, settings.recipe.data, force, progress, log)
    index = open_dataset(root, progress=progress)
    notes: list[str] = []
    if any(stage.variant.startswith("aeg-cd-sz") for stage in settings.recipe.stages):
        audio = extract_audio_features(index, settings.recipe.audio, jobs=max(1, workers), progress=progress)
        notes.extend(audio.warnings)
    masks = degraded_rows(root, [entry.name for entry in index.split(Split.VALIDATION)])
    if masks is None:
        notes.append("the dataset records no degraded frames: the degraded-frame scores are n/a")
    faces = np.stack([face.image for face in sample_faces(index, Split.VALIDATION, settings.psnr_faces)])
    seconds["data"] = time.perf_counter() - started

    base = settings.base_config(root, device, workers)
    results = []
    for number, seed in enumerate(settings.seeds, start=1):
        log(f"training seed {seed} ({number}/{len(settings.seeds)})")
        seed_dir = staging / f"seed-{seed}"
        results.append(
            _run_seed(seed, settings, base, seed_dir, index, masks, faces, device, workers, reporter, progress, log)
        )
        seconds[f"seed {seed}"] = results[-1].seconds
    degraded_frames = None
    if masks is not None:
        degraded_frames = results[0].stages[0].degraded.frames if results[0].stages[0].degraded else 0
    return ExperimentResult(staging, root, settings, results, summarise(results), degraded_frames, notes, seconds)
