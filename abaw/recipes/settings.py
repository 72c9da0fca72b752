"""What the recipes train, and how long they take: the demo's recipe and its timing model.

:class:`DemoRecipe` fixes what ``abaw demo`` generates and trains (and
``abaw experiment progressive`` repeats over seeds); :class:`TemporalRecipe`
its temporal stage. The demo's time is estimated before any work from a few
timed training steps (:func:`check_speed`) and the relative cost of each
stage's iterations (:data:`ITERATION_COST`); the measurements behind these
numbers are in ``docs/results.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from abaw.data.audio import AudioFeatureConfig
from abaw.errors import DataError
from abaw.synthetic import GeneratorConfig
from abaw.training.progressive import PAPER_CHAIN, Stage, with_epochs

if TYPE_CHECKING:
    # torch loads only when a recipe runs, so that importing this module (and the CLI) stays quick.
    from abaw.temporal.config import TemporalConfig
    from abaw.training.config import TrainConfig


ITERATION_COST = {"disc": 1.0, "aeg-cd": 4.5, "aeg-cd-sz": 5.1}
"""Cost of one training iteration of each stage in Disc iterations, validation included (docs/results.md)."""

TRAINING_OVERHEAD = 1.3
"""Stage time over its solver steps' time as the speed check times them: validation, the loader, checkpoints."""

OTHER_STEPS_DISC_FRAMES = 2600
"""Data, audio, prediction, embeddings, the temporal stage and figures, in Disc training frames."""

SECOND_STAGE_DISC_FRAMES = 1500
"""What the temporal stage adds to :data:`OTHER_STEPS_DISC_FRAMES` since it submits (the Test entries embedded
too, the ridge's folds, a smoothing searched per stage, the chosen model's Test predictions), in Disc training
frames (docs/results.md)."""


@dataclass(frozen=True)
class TemporalRecipe:
    """What the temporal stage trains (see ``abaw temporal train``).

    The default is the measured winner (docs/results.md): the ridge, each
    source's regularisation chosen by folds, fitted by video folds over
    Validation alone (``heldout``), where the per-frame model's embeddings
    are out of sample; its folds' ensemble submits. It fits in seconds on a
    2-core CPU on the demo data; the network settings serve ``model`` tcn,
    gru or transformer.

    Attributes:
        model: The temporal model.
        epochs: Epochs (the best Validation epoch is kept).
        window: Frames per window.
        hidden: Width of the model.
        layers: Its blocks.
        lr: AdamW learning rate.
        loss: ``ccc`` or ``affect``.
        audio: Whether the audio features join the embeddings.
        fusion: ``sources``: each source projected and normalised on its own; ``joint``: one projection.
        source_dropout: The chance a source is left out of a training window (``sources`` fusion).
        protocol: ``val`` (fit on Train, scored on Validation) or ``heldout`` (fit by video folds over
            Validation alone, scored out of fold; the submission is the folds' ensemble).
        folds: Folds of the ``heldout`` protocol.
    """

    model: str = "ridge"
    epochs: int = 25
    window: int = 64
    hidden: int = 64
    layers: int = 3
    lr: float = 3e-3
    loss: str = "affect"
    audio: bool = True
    fusion: str = "sources"
    source_dropout: float = 0.3
    protocol: str = "heldout"
    folds: int = 5

    @classmethod
    def quick(cls) -> TemporalRecipe:
        """A smoke run: two epochs of a tiny network on two folds (the quick data has two Validation videos;
        the ridge chooses its alphas by folds over at least two)."""
        return cls(model="tcn", epochs=2, window=16, hidden=8, layers=1, folds=2)

    def config(self, embeddings: str, root: Path, seed: int, device: str) -> TemporalConfig:
        """The settings of ``abaw temporal train`` over the embeddings named ``embeddings`` (and the audio).

        Example:
            >>> TemporalRecipe().config("demo-disc", Path("data"), seed=0, device="cpu").features
            ('demo-disc', 'audio')
        """
        from abaw.temporal.config import TemporalConfig, TemporalProtocol

        return TemporalConfig(
            features=(embeddings, "audio") if self.audio else (embeddings,),
            model=self.model,
            protocol=TemporalProtocol(self.protocol),
            folds=self.folds,
            window=self.window,
            epochs=self.epochs,
            lr=self.lr,
            loss=self.loss,
            hidden=self.hidden,
            layers=self.layers,
            fusion=self.fusion,
            source_dropout=self.source_dropout,
            seed=seed,
            device=device,
            dataset={"root": str(root)},
        )

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
            "fusion": self.fusion,
            "source_dropout": self.source_dropout,
            "protocol": self.protocol,
            "folds": self.folds,
        }


@dataclass(frozen=True)
class DemoRecipe:
    """What the demo generates and trains.

    The default fits the 10-minute budget of a 2-core CPU four times slower
    than the development machine, temporal stage included: full-size
    networks, a batch of 32 instead of the authors' 500-1000. Each epoch is
    capped at ``steps_per_epoch`` iterations, so the training time is set by
    the recipe, not by how many frames the generated dataset has. The
    adversarial stages get one epoch because each of their iterations costs
    several of the Disc's (:data:`ITERATION_COST`); the Disc, with few
    iterations, trains at a higher learning rate than the paper's (the
    measurements behind these choices are in docs/results.md).

    Attributes:
        stages: The progressive stages, in order; each starts from the
            previous one's ``best.pt``.
        batch_size: Frames per iteration.
        seed: Seed of the training runs.
        steps_per_epoch: Cap on iterations per epoch, or ``None`` for whole epochs.
        data: The generated dataset.
        audio: The audio features of the SZ stage.
        temporal: The temporal stage after the last one (:mod:`abaw.recipes.temporal_stage`), or ``None``.
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

    def with_learning_rates(self, rates: list[float]) -> DemoRecipe:
        """The recipe with one Adam learning rate per stage.

        Raises:
            DataError: when the rates do not match the stages or one is not positive.

        Example:
            >>> [stage.lr for stage in DemoRecipe().with_learning_rates([3e-4, 1e-3, 1e-3]).stages]
            [0.0003, 0.001, 0.001]
        """
        if len(rates) != len(self.stages) or not all(rate > 0 for rate in rates):
            raise DataError(f"give {len(self.stages)} positive learning rates (one per stage), got {list(rates)}")
        return replace(
            self, stages=tuple(replace(stage, lr=rate) for stage, rate in zip(self.stages, rates, strict=True))
        )

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
            150
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
        other = OTHER_STEPS_DISC_FRAMES + (SECOND_STAGE_DISC_FRAMES if self.temporal is not None else 0)
        return (training + other) / frames_per_second


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


def default_folders(quick: bool) -> tuple[Path, Path]:
    """``(data, out)`` folders of ``abaw demo``; the quick run keeps apart from the full one.

    Example:
        >>> [str(path) for path in default_folders(quick=True)]
        ['demo-data-quick', 'submissions/demo-quick']
    """
    suffix = "-quick" if quick else ""
    return Path(f"demo-data{suffix}"), Path(f"submissions/demo{suffix}")


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
