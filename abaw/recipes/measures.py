"""What an experiment measures of a trained stage, and its spread over seeds.

* the challenge CCC (valence, arousal, mean) over all validation frames,
  scored as ``abaw score`` scores (:func:`abaw.runtime.evaluation.score_split`);
* the same over the degraded frames only, from the generator's record
  (:func:`abaw.synthetic.degradations.read_degradations`; ``None`` when the
  dataset has none, e.g. the real data);
* for a stage with a generator, the PSNR of its output ``G(noisy)`` and of
  the noisy input against the clean face (:func:`measure_generator_psnr`).

:class:`Spread` and :class:`StageSummary` give each stage's mean and
standard deviation over the seeds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from abaw.data.layout import Split
from abaw.errors import DataError
from abaw.recipes.state import RecipeContext
from abaw.scoring.metrics import AffectScores
from abaw.scoring.psnr import psnr
from abaw.training.progressive import Stage, StageRun

if TYPE_CHECKING:
    from abaw.prediction.members import TrainedModel


@dataclass(frozen=True)
class FacePsnr:
    """How close the generator brings degraded faces to the clean ones.

    Attributes:
        output: Mean PSNR (dB) of the generator's output ``G(noisy)`` against the clean face.
        noisy: Mean PSNR (dB) of its noisy input against the clean face.
        faces: How many faces were measured.
    """

    output: float
    noisy: float
    faces: int

    @property
    def gain(self) -> float:
        """``output - noisy``: positive when the generator cleans, negative when it damages."""
        return self.output - self.noisy

    def to_dict(self) -> dict[str, float | int]:
        """A JSON-ready dictionary."""
        return {"output": self.output, "noisy": self.noisy, "gain": self.gain, "faces": self.faces}


def measure_generator_psnr(
    trained: TrainedModel, faces: Sequence[np.ndarray] | np.ndarray, *, seed: int = 0, batch_size: int = 64
) -> FacePsnr:
    """Degrade ``faces`` with the run's training noise (every face, seeded) and measure PSNR before and after cleaning.

    The noise is the one the run trained with (:func:`abaw.plots.run.run_noise`:
    its artifacts, none left clean), drawn as the reconstruction figure draws
    it, so the same seed and faces give every model the same noisy inputs.

    Args:
        trained: A :class:`~abaw.prediction.members.TrainedModel` with a generator.
        faces: ``uint8`` ``(n, 3, H, W)`` clean faces (n >= 1).
        seed: Seeds the noise; batch ``k`` uses ``seed + k``.
        batch_size: Faces per generator pass.

    Raises:
        ValueError: when the model has no generator or there is no face.
    """
    from abaw.plots.reconstruction import reconstruct_faces
    from abaw.plots.run import run_noise

    faces = np.asarray(faces)
    if not len(faces):
        raise ValueError("no face to measure the generator's PSNR on")
    noise = run_noise(trained)
    output, noisy = [], []
    for number, start in enumerate(range(0, len(faces), batch_size)):
        result = reconstruct_faces(trained, faces[start : start + batch_size], noise, seed + number)
        output.append(psnr(result.cleaned, result.clean))
        noisy.append(psnr(result.noisy, result.clean))
    return FacePsnr(float(np.concatenate(output).mean()), float(np.concatenate(noisy).mean()), len(faces))


def _scores_from_dict(values: Mapping[str, Any] | None) -> AffectScores | None:
    """:class:`AffectScores` back from its :meth:`~AffectScores.to_dict` (``None`` stays ``None``)."""
    if values is None:
        return None
    return AffectScores(**{item.name: values[item.name] for item in fields(AffectScores)})


@dataclass
class StageMeasurement:
    """One arm of one seed, measured on the validation split.

    Attributes:
        name: The arm's row in the tables, e.g. ``AEG-CD-SZ (residual)``.
        stage: What was trained.
        run_dir: Its run folder, relative to the experiment's folder.
        best_epoch: The epoch of the ``best.pt`` measured.
        train_seconds: Training time (0 when a resumed experiment found it trained).
        all_frames: CCC and companions over every annotated validation frame.
        degraded: The same over the degraded frames only; ``None`` when the dataset records none.
        psnr: The generator's PSNR; ``None`` for a stage without a generator.
    """

    name: str
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
            "name": self.name,
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
        psnr = values.get("psnr")
        return cls(
            str(values["name"]),
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
    """One arm over every seed.

    Attributes:
        name: The arm's row, e.g. ``Disc + noise``.
        stage: What was trained.
        all_frames: CCC ``valence``, ``arousal`` and ``mean`` over all validation frames.
        degraded: The same over the degraded frames; ``None`` when the dataset records none.
        psnr_output: PSNR of the generator's output; ``None`` without a generator.
        psnr_noisy: PSNR of its noisy input; ``None`` without a generator.
    """

    name: str
    stage: Stage
    all_frames: dict[str, Spread]
    degraded: dict[str, Spread] | None
    psnr_output: Spread | None
    psnr_noisy: Spread | None

    @classmethod
    def of(cls, measured: Sequence[StageMeasurement]) -> StageSummary:
        """The summary of one arm's measurements, one per seed."""
        degraded = [item.degraded for item in measured if item.degraded is not None]
        psnr = [item.psnr for item in measured if item.psnr is not None]
        return cls(
            measured[0].name,
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
            "name": self.name,
            "stage": self.stage.to_dict(),
            "ccc": spreads(self.all_frames),
            "ccc_degraded": spreads(self.degraded),
            "psnr_output": None if self.psnr_output is None else self.psnr_output.to_dict(),
            "psnr_noisy": None if self.psnr_noisy is None else self.psnr_noisy.to_dict(),
        }


def summarise(seeds: Sequence[SeedResult]) -> list[StageSummary]:
    """Each arm's spread over ``seeds`` (every seed trains the same arms), in training order."""
    return [StageSummary.of([seed.stages[number] for seed in seeds]) for number in range(len(seeds[0].stages))]


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


def measure_stage(
    context: RecipeContext,
    name: str,
    run: StageRun,
    runs_dir: Path,
    masks: Mapping[str, np.ndarray] | None,
    faces: np.ndarray,
) -> StageMeasurement:
    """Predict Validation with the stage's checkpoint, score all and degraded frames, measure the generator.

    Args:
        context: The experiment's run (output folder, dataset, device).
        name: The arm's row in the tables.
        run: The trained stage (its paths relative to ``runs_dir``).
        runs_dir: The chain's folder, relative to the experiment's folder.
        masks: Per validation entry, its degraded label rows (``None``: the dataset records none).
        faces: The clean validation faces the generator's PSNR is measured on.
    """
    from abaw.prediction.members import predict_entries
    from abaw.prediction.open import load_trained_model
    from abaw.runtime.evaluation import score_split

    index = context.dataset
    trained = load_trained_model(context.path(runs_dir / run.checkpoint), context.device)
    predictions = predict_entries(trained, index, Split.VALIDATION, workers=context.workers, progress=context.progress)
    all_frames = score_split(predictions, index, Split.VALIDATION).scores
    degraded = None
    if masks:
        try:
            degraded = score_split(predictions, index, Split.VALIDATION, rows=masks).scores
        except DataError:  # no annotated degraded frame in this validation split
            degraded = None
    psnr = measure_generator_psnr(trained, faces) if trained.model.generator is not None else None
    run_dir = runs_dir / run.run_dir
    return StageMeasurement(name, run.stage, run_dir, trained.epoch, run.train_seconds, all_frames, degraded, psnr)
