"""``abaw experiment progressive``: the paper's chain Disc -> AEG-CD -> AEG-CD-SZ over several training seeds.

One dataset (the demo's, generated with a fixed data seed, or ``--root``),
several training seeds, each training the demo's progressive chain
(:func:`abaw.training.progressive.train_chain`) into its own folder
``OUT/seed-<n>/runs/<variant>``. Every stage's ``best.pt`` is then measured
on the validation split (:mod:`abaw.recipes.measures`: CCC on all frames and
on the degraded ones, the generator's PSNR), and the summary gives each
stage's mean and standard deviation over the seeds. Paths in the results are
relative to ``OUT``.

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from abaw import __version__
from abaw.data.layout import Split
from abaw.errors import DataError
from abaw.fileio import atomic_write_json
from abaw.outputs import OutputKind, Staging, staged_output
from abaw.recipes.data import prepare_dataset
from abaw.recipes.measures import SeedResult, StageSummary, degraded_rows, measure_stage, summarise
from abaw.recipes.settings import DemoRecipe, base_train_config
from abaw.recipes.state import RecipeContext, RecipeRuntime
from abaw.scoring.references import published_results
from abaw.training.progressive import train_chain

if TYPE_CHECKING:
    from abaw.training.config import TrainConfig

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
        runtime: Device, loader processes and reporting (default: the CPU or CUDA, silent).

    Raises:
        AbawError: for bad settings, existing outputs or bad data (one line each).
    """
    from abaw.runtime.devices import resolve_device

    began = time.perf_counter()
    settings = settings if settings is not None else ExperimentSettings()
    runtime = runtime if runtime is not None else RecipeRuntime()
    dataset = Path(root if root is not None else data_dir).expanduser().resolve()
    with staged_output(
        Path(out_dir).expanduser().resolve(),
        OutputKind.EXPERIMENT,
        staging=Staging.RESUMABLE,
        force=force,
        resume=resume,
        protect=[dataset],
        recipe={**settings.to_dict(), "root": None if root is None else str(dataset)},
        what="experiment",
    ) as output:
        context = RecipeContext(output, runtime)
        measured = _open_data(context, settings, dataset, given=root is not None, force=force)
        base = settings.base_config(context.dataset.layout.root, runtime.device, runtime.workers)
        seeds = []
        for number, seed in enumerate(settings.seeds, start=1):
            context.log(f"training seed {seed} ({number}/{len(settings.seeds)})")
            seeds.append(_run_seed(context, settings, base.replace(seed=seed), measured))
            context.seconds[f"seed {seed}"] = seeds[-1].seconds
        context.seconds["total"] = time.perf_counter() - began
        result = ExperimentResult(
            output.target,
            context.dataset.layout.root,
            settings,
            seeds,
            summarise(seeds),
            _degraded_frames(seeds, measured.masks),
            measured.notes,
            context.seconds,
            str(resolve_device(runtime.device)),
        )
        atomic_write_json(context.path(RESULTS_NAME), result.to_dict(), force=True)
    return result


@dataclass
class _Measured:
    """What every seed is measured on: the degraded rows and the faces of the PSNR, and notes for the user."""

    masks: Mapping[str, np.ndarray] | None
    faces: np.ndarray
    notes: list[str]


def _open_data(
    context: RecipeContext, settings: ExperimentSettings, dataset: Path, *, given: bool, force: bool
) -> _Measured:
    """Open (or generate) the dataset, extract the audio features, choose what every seed is measured on."""
    from abaw.data.audio import extract_audio_features
    from abaw.data.index import open_dataset
    from abaw.plots.reconstruction import sample_faces

    notes: list[str] = []
    with context.timed("data"):
        if given:
            root = dataset
            context.log(f"using the dataset in {root}")
        else:
            root, _ = prepare_dataset(dataset, settings.recipe.data, force, context.progress, context.log)
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
    context: RecipeContext, settings: ExperimentSettings, base: TrainConfig, measured: _Measured
) -> SeedResult:
    """Train one seed's chain in ``seed-<n>/runs`` and measure it; a seed already measured is read back."""
    seed = base.seed
    seed_dir = Path(f"seed-{seed}")
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
    runs = train_chain(
        settings.recipe.stages,
        context.path(runs_dir),
        base,
        final_dir=context.output.target / runs_dir,
        reporter=context.reporter,
        progress=context.progress,
        log=lambda message: context.log(f"seed {seed}: {message}"),
    )
    stages = [measure_stage(context, run, runs_dir, measured.masks, measured.faces) for run in runs]
    result = SeedResult(seed, stages, time.perf_counter() - began)
    atomic_write_json(done, result.to_dict(), force=True)
    return result


def _degraded_frames(seeds: Sequence[SeedResult], masks: Mapping[str, np.ndarray] | None) -> int | None:
    """Annotated validation frames marked degraded (``None`` when the dataset records none)."""
    if masks is None:
        return None
    first = seeds[0].stages[0].degraded
    return first.frames if first else 0
