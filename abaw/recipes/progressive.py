"""``abaw experiment progressive``: the paper's stages and their controls over several training seeds.

On each dataset (the demo's, a harder one generated from it, or ``--root``)
and for each training seed, the experiment trains the demo's Disc, then from
the Disc's ``best.pt`` (:class:`Arm`, :func:`experiment_arms`):

* **Disc + noise**, the fair control: the Disc trained on the generator's
  noise model for as many iterations as the adversarial stages get together,
  so that a gain can be told apart from augmentation and from longer training;
* for each generator (``paper``, ``residual``): AEG-CD from the Disc, then
  AEG-CD-SZ from that AEG-CD.

Every arm's checkpoint is measured on the validation split
(:mod:`abaw.recipes.measures`: CCC on all frames and on the degraded ones,
the generator's PSNR against its input's), and the summary gives each arm's
mean and standard deviation over the seeds. Runs go to
``OUT/<dataset>/seed-<n>/runs/<arm>``; paths in the results are relative to ``OUT``.

The experiment is built in ``OUT.partial`` and moved onto ``OUT`` when every
seed is done (the output policy of :mod:`abaw.outputs`). Each finished seed
leaves ``<dataset>/seed-<n>/seed.json``: ``resume`` (same settings only) reuses it
without retraining or re-measuring, and continues a half-trained seed from
its runs' ``last.pt``.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from abaw import __version__
from abaw.data.layout import Split
from abaw.errors import DataError
from abaw.fileio import atomic_write_json
from abaw.model.config import GeneratorKind
from abaw.outputs import OutputKind, Staging, staged_output
from abaw.recipes.data import prepare_dataset
from abaw.recipes.measures import SeedResult, StageSummary, degraded_rows, measure_stage, summarise
from abaw.recipes.settings import DemoRecipe, base_train_config
from abaw.recipes.state import RecipeContext, RecipeRuntime
from abaw.scoring.references import published_results
from abaw.synthetic import GeneratorConfig
from abaw.training.progressive import Stage, StageRun, stage_config, train_stage

if TYPE_CHECKING:
    from abaw.training.config import TrainConfig

RESULTS_NAME = "experiment.json"
SEED_RESULT_NAME = "seed.json"
KNOBS = ("warmup_steps", "d_affect", "drift", "lr_d", "lr_g", "latent_gate", "gate_lr")
"""The adversarial settings an experiment may override (``abaw train``'s flags of the same names)."""


class DataPreset(str, Enum):
    """A generated dataset an experiment runs on: the demo's, or the same made harder (:meth:`GeneratorConfig.harder`).

    Example:
        >>> [preset.value for preset in DataPreset]
        ['demo', 'hard']
    """

    DEMO = "demo"
    HARD = "hard"

    def config(self, demo: GeneratorConfig) -> GeneratorConfig:
        """What to generate, given the demo's data."""
        return demo if self is DataPreset.DEMO else demo.harder()


@dataclass(frozen=True)
class Arm:
    """One row of the experiment: a stage trained from scratch or from another arm's checkpoint.

    Attributes:
        key: Its run folder's name under ``runs/``, unique.
        name: Its row in the tables.
        stage: What it trains.
        start: The key of the arm whose checkpoint it starts from, ``None`` from scratch.
        settings: :class:`~abaw.training.config.TrainConfig` settings of this arm alone.
    """

    key: str
    name: str
    stage: Stage
    start: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return {**self.__dict__, "stage": self.stage.to_dict(), "settings": dict(self.settings)}


def experiment_arms(stages: Sequence[Stage], generators: Sequence[GeneratorKind]) -> tuple[Arm, ...]:
    """The Disc, Disc + noise, and per generator AEG-CD and AEG-CD-SZ, from the recipe's three stages, in order.

    Example:
        >>> stages = (Stage("disc", 3), Stage("aeg-cd", 1, lr=1e-4), Stage("aeg-cd-sz", 1, lr=1e-4))
        >>> [(arm.key, arm.start, arm.stage.epochs) for arm in experiment_arms(stages, [GeneratorKind.RESIDUAL])]
        [('disc', None, 3), ('disc-noise', 'disc', 2), ('aeg-cd-residual', 'disc', 1), ('aeg-cd-sz-residual', 'aeg-cd-residual', 1)]
    """  # noqa: E501
    if len(stages) != 3:
        raise DataError(f"the experiment needs the paper's three stages (Disc, AEG-CD, AEG-CD-SZ), got {len(stages)}")
    disc, cd, sz = stages
    control = replace(disc, epochs=cd.epochs + sz.epochs, lr=cd.lr, n_critic=cd.n_critic)
    arms = [
        Arm("disc", disc.paper_name, disc),
        Arm("disc-noise", f"{disc.paper_name} + noise", control, "disc", {"noise_augment": True}),
    ]
    for kind in generators:
        kind = GeneratorKind(kind)
        cd_key, sz_key = f"aeg-cd-{kind.value}", f"aeg-cd-sz-{kind.value}"
        arms.append(Arm(cd_key, f"{cd.paper_name} ({kind.value})", cd, "disc", {"generator": kind.value}))
        arms.append(Arm(sz_key, f"{sz.paper_name} ({kind.value})", sz, cd_key, {"generator": kind.value}))
    return tuple(arms)


@dataclass(frozen=True)
class ExperimentSettings:
    """What an experiment trains and measures.

    Attributes:
        recipe: The demo's recipe: stages, batch, generated data (its seed is
            the data seed) and audio; its own ``seed`` is replaced by each of ``seeds``.
        seeds: The training seeds.
        knobs: Adversarial settings given to every arm (see :data:`KNOBS`); the rest keep ``abaw train``'s defaults.
        psnr_faces: Validation faces (a seeded draw, the same for every run) the PSNR is measured on.
        generators: The generators whose AEG-CD and AEG-CD-SZ are trained.
        datasets: The generated datasets (ignored with ``--root``).
    """

    recipe: DemoRecipe = field(default_factory=DemoRecipe)
    seeds: tuple[int, ...] = (0, 1, 2)
    knobs: Mapping[str, Any] = field(default_factory=dict)
    psnr_faces: int = 256
    generators: tuple[GeneratorKind, ...] = (GeneratorKind.PAPER, GeneratorKind.RESIDUAL)
    datasets: tuple[DataPreset, ...] = (DataPreset.DEMO,)

    def __post_init__(self) -> None:
        if not self.seeds:
            raise DataError("give at least one training seed")
        for what, values in (("training seed", self.seeds), ("generator", self.generators), ("dataset", self.datasets)):
            repeated = sorted({str(getattr(value, "value", value)) for value in values if values.count(value) > 1})
            if repeated:
                raise DataError(f"{what}(s) {', '.join(repeated)} given twice")
        if any(seed < 0 for seed in self.seeds):
            raise DataError(f"training seeds must be 0 or more, got {list(self.seeds)}")
        if not self.generators or not self.datasets:
            raise DataError("give at least one generator and one dataset")
        unknown = sorted(set(self.knobs) - set(KNOBS))
        if unknown:
            raise DataError(f"unknown experiment setting(s) {', '.join(unknown)}; known: {', '.join(KNOBS)}")
        if self.psnr_faces < 1:
            raise DataError(f"psnr_faces must be at least 1, got {self.psnr_faces}")
        object.__setattr__(self, "seeds", tuple(int(seed) for seed in self.seeds))
        try:
            object.__setattr__(self, "generators", tuple(GeneratorKind(kind) for kind in self.generators))
            object.__setattr__(self, "datasets", tuple(DataPreset(preset) for preset in self.datasets))
        except ValueError as error:
            raise DataError(str(error)) from None
        object.__setattr__(self, "knobs", {key: self.knobs[key] for key in KNOBS if self.knobs.get(key) is not None})

    @classmethod
    def create(
        cls,
        *,
        quick: bool = False,
        seeds: Sequence[int] = (0, 1, 2),
        data_seed: int = 0,
        epochs: Sequence[int] | None = None,
        learning_rates: Sequence[float] | None = None,
        batch_size: int | None = None,
        psnr_faces: int | None = None,
        generators: Sequence[str] = ("paper", "residual"),
        datasets: Sequence[str] = ("demo",),
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
        if learning_rates is not None:
            recipe = recipe.with_learning_rates(list(learning_rates))
        if batch_size is not None:
            recipe = replace(recipe, batch_size=batch_size)
        faces = psnr_faces if psnr_faces is not None else (16 if quick else cls.psnr_faces)
        return cls(recipe, tuple(seeds), knobs, faces, tuple(generators), tuple(datasets))

    @property
    def arms(self) -> tuple[Arm, ...]:
        """What every seed trains, in order (see :func:`experiment_arms`)."""
        return experiment_arms(self.recipe.stages, self.generators)

    def base_config(self, root: Path, device: str, workers: int) -> TrainConfig:
        """The settings every arm of every seed shares (the demo's, plus the knobs); the seed is set per seed."""
        return base_train_config(self.recipe, root, device, workers).replace(**self.knobs)

    def to_dict(self, generated: bool = True) -> dict[str, Any]:
        """A JSON-ready copy (also the recipe a resumed experiment must match).

        Args:
            generated: Whether the experiment generates its data; an experiment on a given dataset
                (``--root``) records no generator settings and no dataset presets.
        """
        recipe = {key: value for key, value in self.recipe.to_dict().items() if key != "seed"}
        if not generated:
            recipe["data"] = None
        return {
            "recipe": recipe,
            "seeds": list(self.seeds),
            "knobs": dict(self.knobs),
            "psnr_faces": self.psnr_faces,
            "generators": [kind.value for kind in self.generators],
            "datasets": [preset.value for preset in self.datasets] if generated else None,
            "arms": [arm.to_dict() for arm in self.arms],
        }


@dataclass
class DatasetResult:
    """Every seed measured on one dataset.

    Attributes:
        name: ``demo``, ``hard`` or ``root`` (a dataset given with ``--root``).
        data_dir: The dataset.
        seeds: Each seed's measurements, in seed order.
        summary: Each arm over the seeds.
        degraded_frames: Annotated validation frames marked degraded, ``None`` when the dataset records none.
        notes: Things worth telling the user.
    """

    name: str
    data_dir: Path
    seeds: list[SeedResult]
    summary: list[StageSummary]
    degraded_frames: int | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return {
            "name": self.name,
            "data_dir": str(self.data_dir),
            "degraded_frames": self.degraded_frames,
            "summary": [arm.to_dict() for arm in self.summary],
            "seeds": [seed.to_dict() for seed in self.seeds],
            "notes": self.notes,
        }


@dataclass
class ExperimentResult:
    """What an experiment measured and where it wrote it.

    Attributes:
        out_dir: The experiment's folder; the run folders the results name are relative to it.
        settings: What was trained and measured.
        datasets: Each dataset's measurements.
        seconds: Wall time of the steps and ``total``.
        device: Where it computed.
    """

    out_dir: Path
    settings: ExperimentSettings
    datasets: list[DatasetResult]
    seconds: dict[str, float] = field(default_factory=dict)
    device: str = ""

    @property
    def notes(self) -> list[str]:
        """Every dataset's notes, each naming its dataset."""
        return [f"{dataset.name}: {note}" for dataset in self.datasets for note in dataset.notes]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (``experiment.json`` and ``--json``)."""
        return {
            "abaw": __version__,
            "python": platform.python_version(),
            "device": self.device,
            "out_dir": str(self.out_dir),
            "settings": self.settings.to_dict(generated=self.datasets[0].name != "root"),
            "datasets": [dataset.to_dict() for dataset in self.datasets],
            "published": [row.__dict__.copy() for row in published_results(Split.VALIDATION.value)],
            "seconds": {step: round(value, 1) for step, value in self.seconds.items()},
        }


def run_experiment(
    settings: ExperimentSettings | None = None,
    out_dir: str | os.PathLike = "experiments/progressive",
    *,
    root: str | os.PathLike | None = None,
    data_dir: str | os.PathLike = "demo-data",
    force: bool = False,
    resume: bool = False,
    runtime: RecipeRuntime | None = None,
) -> ExperimentResult:
    """Train every arm once per training seed on each dataset and measure it.

    Args:
        settings: What to train and measure (default: the demo's recipe, seeds 0, 1, 2, both generators).
        out_dir: The experiment's folder (built in ``OUT.partial`` first).
        root: An existing dataset to use instead of the generated ones.
        data_dir: Where the demo data is generated (the harder data beside it, ``DATA-hard``), reused when
            generated alike.
        force: Replace an earlier experiment (once the new one is complete), or
            start an interrupted one over; regenerate a dataset made with other settings.
        resume: Continue the interrupted experiment (same settings only):
            measured seeds are reused, a half-trained arm continues.
        runtime: Device, loader processes and reporting (default: the CPU or CUDA, silent).

    Raises:
        AbawError: for bad settings, existing outputs or bad data (one line each).
    """
    from abaw.runtime.devices import resolve_device

    began = time.perf_counter()
    settings = settings if settings is not None else ExperimentSettings()
    runtime = runtime if runtime is not None else RecipeRuntime()
    sources = _dataset_sources(settings, root, Path(data_dir))
    with staged_output(
        Path(out_dir).expanduser().resolve(),
        OutputKind.EXPERIMENT,
        staging=Staging.RESUMABLE,
        force=force,
        resume=resume,
        protect=[path for _, path, _ in sources],
        recipe={**settings.to_dict(generated=root is None), "root": None if root is None else str(sources[0][1])},
        what="experiment",
    ) as output:
        context = RecipeContext(output, runtime)
        results = [_run_dataset(context, settings, name, path, config, force) for name, path, config in sources]
        context.seconds["total"] = time.perf_counter() - began
        result = ExperimentResult(
            output.target, settings, results, context.seconds, str(resolve_device(runtime.device))
        )
        atomic_write_json(context.path(RESULTS_NAME), result.to_dict(), force=True)
    return result


def _dataset_sources(
    settings: ExperimentSettings, root: str | os.PathLike | None, data_dir: Path
) -> list[tuple[str, Path, GeneratorConfig | None]]:
    """``(name, folder, what to generate there or None)`` of every dataset the experiment runs on."""
    if root is not None:
        return [("root", Path(root).expanduser().resolve(), None)]
    base = data_dir.expanduser().resolve()
    return [
        (
            preset.value,
            base if preset is DataPreset.DEMO else base.with_name(f"{base.name}-{preset.value}"),
            preset.config(settings.recipe.data),
        )
        for preset in settings.datasets
    ]


def _run_dataset(
    context: RecipeContext,
    settings: ExperimentSettings,
    name: str,
    path: Path,
    generate: GeneratorConfig | None,
    force: bool,
) -> DatasetResult:
    """Every seed on one dataset, into ``OUT/<name>/``."""
    with context.timed(f"data {name}"):
        measured = _open_data(context, settings, path, generate, force)
    base = settings.base_config(context.dataset.layout.root, context.device, context.workers)
    seeds = []
    for number, seed in enumerate(settings.seeds, start=1):
        context.log(f"{name}: training seed {seed} ({number}/{len(settings.seeds)})")
        seeds.append(_run_seed(context, settings, base.replace(seed=seed), Path(name) / f"seed-{seed}", measured))
        context.seconds[f"{name} seed {seed}"] = seeds[-1].seconds
    degraded = _degraded_frames(seeds, measured.masks)
    return DatasetResult(name, context.dataset.layout.root, seeds, summarise(seeds), degraded, measured.notes)


@dataclass
class _Measured:
    """What every seed is measured on: the degraded rows and the faces of the PSNR, and notes for the user."""

    masks: Mapping[str, np.ndarray] | None
    faces: np.ndarray
    notes: list[str]


def _open_data(
    context: RecipeContext, settings: ExperimentSettings, path: Path, generate: GeneratorConfig | None, force: bool
) -> _Measured:
    """Open (or generate) the dataset, extract the audio features, choose what every seed is measured on."""
    from abaw.data.audio import extract_audio_features
    from abaw.data.index import open_dataset
    from abaw.plots.reconstruction import sample_faces

    notes: list[str] = []
    if generate is None:
        root = path
        context.log(f"using the dataset in {root}")
    else:
        root, _ = prepare_dataset(path, generate, force, context.progress, context.log)
    context.index = index = open_dataset(root, progress=context.progress)
    if any(stage.variant.startswith("aeg-cd-sz") for stage in settings.recipe.stages):
        audio = extract_audio_features(
            index, settings.recipe.audio, jobs=max(1, context.workers), progress=context.progress
        )
        notes.extend(audio.warnings)
    masks = degraded_rows(root, [entry.name for entry in index.split(Split.VALIDATION)])
    if masks is None:
        notes.append("the dataset records no degraded frames: the degraded-frame scores are n/a")
    faces = np.stack([face.image for face in sample_faces(index, Split.VALIDATION, settings.psnr_faces)])
    return _Measured(masks, faces, notes)


def _run_seed(
    context: RecipeContext, settings: ExperimentSettings, base: TrainConfig, seed_dir: Path, measured: _Measured
) -> SeedResult:
    """Train one seed's arms in ``seed_dir/runs`` and measure them; a seed already measured is read back."""
    seed = base.seed
    done = context.path(seed_dir / SEED_RESULT_NAME)
    if done.is_file():
        try:
            result = SeedResult.from_dict(json.loads(done.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise DataError(f"unreadable ({error}); start over with --force", path=done) from None
        context.log(f"seed {seed}: measured before, reusing {context.output.final(done)}")
        return result
    began = time.perf_counter()
    runs_dir = seed_dir / "runs"
    runs: dict[str, StageRun] = {}
    for number, arm in enumerate(settings.arms, start=1):
        context.log(f"seed {seed}: arm {number}/{len(settings.arms)}: {arm.name}, {arm.stage.epochs} epochs")
        start = None if arm.start is None else runs[arm.start].checkpoint
        config = stage_config(
            base.replace(**arm.settings), arm.stage, None if start is None else context.output.target / runs_dir / start
        )
        runs[arm.key] = train_stage(
            arm.stage,
            config,
            context.path(runs_dir / arm.key),
            init_weights=None if start is None else context.path(runs_dir / start),
            reporter=context.reporter,
            progress=context.progress,
            log=lambda message: context.log(f"seed {seed}: {message}"),
        )
    arms = [
        measure_stage(context, arm.name, runs[arm.key], runs_dir, measured.masks, measured.faces)
        for arm in settings.arms
    ]
    result = SeedResult(seed, arms, time.perf_counter() - began)
    atomic_write_json(done, result.to_dict(), force=True)
    return result


def _degraded_frames(seeds: Sequence[SeedResult], masks: Mapping[str, np.ndarray] | None) -> int | None:
    """Annotated validation frames marked degraded (``None`` when the dataset records none)."""
    if masks is None:
        return None
    first = seeds[0].stages[0].degraded
    return first.frames if first else 0
