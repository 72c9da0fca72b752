"""The resolved configuration of a training run: defaults, then a YAML file, then command-line flags.

The resolved :class:`TrainConfig` is written to the run folder and stored in
every checkpoint, so a run can be reproduced and resumed from it alone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import Enum
from typing import Any

from abaw.choices import parse_enum
from abaw.data.layout import Split
from abaw.data.source import DatasetSource
from abaw.fitting.settings import RunSettings, absolute_setting, plain_settings, read_config_file
from abaw.messages import shown_value
from abaw.model.config import GeneratorKind


class Protocol(str, Enum):
    """What a run trains on and how it ends.

    ``val``: train on Train, score Validation after every epoch, keep the best
    epoch. ``final``: train on Train and Validation together for a fixed
    number of epochs (what is submitted).
    """

    VAL = "val"
    FINAL = "final"

    @property
    def train_splits(self) -> tuple[Split, ...]:
        """The splits whose frames are trained on.

        Example:
            >>> [split.value for split in Protocol.FINAL.train_splits]
            ['train', 'val']
        """
        return (Split.TRAIN,) if self is Protocol.VAL else (Split.TRAIN, Split.VALIDATION)

    @property
    def evaluates(self) -> bool:
        """Whether each epoch is scored on Validation (only when Validation is not trained on)."""
        return self is Protocol.VAL


class Precision(str, Enum):
    """Arithmetic of forward and backward passes: ``auto`` is bf16 autocast on CUDA, fp32 on CPU."""

    AUTO = "auto"
    BF16 = "bf16"
    FP32 = "fp32"


class RealLatent(str, Enum):
    """What the discriminator receives as the latent of a real (clean) image.

    A real image does not pass through the generator, yet the SZ
    discriminator expects a latent map beside it. ``generator`` (default)
    gives it the latent of the generator applied to the clean image, without
    gradient, so real and fake latents come from the same encoder; ``zeros``
    gives an all-zero map (cheaper, but real and fake are then told apart
    by the latent alone).
    """

    GENERATOR = "generator"
    ZEROS = "zeros"


class DiscriminatorAffect(str, Enum):
    """Which images the D step's affect loss regresses valence and arousal on.

    ``real`` (eq. 9 of the paper and the authors' code): the clean real
    images only. ``real+fake`` (the default; the paper's text, eqs. 3 and 4):
    the real images and the generator's outputs, the two terms averaged, so
    the VA head also learns the cleaned faces it reads at inference. Runs
    made before this setting existed resume with ``real``.
    """

    REAL = "real"
    REAL_AND_FAKE = "real+fake"


@dataclass
class TrainConfig(RunSettings):
    """Every setting of a training run.

    Attributes mirror ``abaw train``'s options; the paper's values are the
    defaults where it gives one (``../shared/spec/ALN-MODEL.md``), except
    the batch size: the authors' 500-1000 frames per batch fits their GPU,
    not a laptop; pass ``--batch-size`` on a server.
    """

    variant: str = "aeg-cd-sz"
    protocol: Protocol = Protocol.VAL
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-4
    lr_d: float | None = None
    lr_g: float | None = None
    betas: tuple[float, float] = (0.5, 0.999)
    n_critic: int = 5
    lambda_afc: float = 1.0
    lambda_rec: float = 10.0
    lambda_gp: float = 10.0
    seed: int = 0
    device: str = "auto"
    precision: Precision = Precision.AUTO
    channels_last: bool = True
    workers: int = 2
    eval_batch_size: int = 256
    steps_per_epoch: int | None = None
    real_latent: RealLatent = RealLatent.GENERATOR
    d_affect: DiscriminatorAffect = DiscriminatorAffect.REAL_AND_FAKE
    drift: float = 0.0
    warmup_steps: int = 0
    noise_clean_probability: float = 0.5
    noise_artifacts: tuple[str, ...] = ("downsample", "blur", "gaussian-noise", "brightness")
    audio_feature_set: str = "eGeMAPSv02"
    audio_pooling: str = "first2"
    latent_injection: str = "add"
    va_head: str = "linear"
    generator: GeneratorKind = GeneratorKind.PAPER
    latent_gate: bool | None = None
    gate_lr: float | None = None
    noise_augment: bool = False
    backbone: str | None = None
    backbone_weights: str | None = None
    init: str | None = None
    tensorboard: bool = False
    dataset: DatasetSource | None = None

    def __post_init__(self) -> None:
        if isinstance(self.dataset, dict):
            self.dataset = DatasetSource.from_dict(self.dataset) if self.dataset else None
        elif self.dataset is not None and not isinstance(self.dataset, DatasetSource):
            raise ValueError(f"dataset: expected a mapping, got {shown_value(self.dataset)}")
        # Stored paths are absolute, so that --resume and --config work from any directory.
        self.init = absolute_setting(self.init)
        self.backbone_weights = absolute_setting(self.backbone_weights)
        self.protocol = parse_enum(Protocol, self.protocol, "protocol")
        self.precision = parse_enum(Precision, self.precision, "precision")
        self.real_latent = parse_enum(RealLatent, self.real_latent, "real_latent")
        self.d_affect = parse_enum(DiscriminatorAffect, self.d_affect, "d_affect")
        self.generator = parse_enum(GeneratorKind, self.generator, "generator")
        self.betas = tuple(float(beta) for beta in self.betas)  # type: ignore[assignment]
        self.noise_artifacts = tuple(str(artifact) for artifact in self.noise_artifacts)
        for name in ("epochs", "batch_size", "n_critic", "eval_batch_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.workers < 0:
            raise ValueError(f"workers must be 0 or more, got {self.workers}")
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be at least 1, got {self.steps_per_epoch}")
        for name in ("lr", "lr_d", "lr_g", "gate_lr"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        if self.drift < 0:
            raise ValueError(f"drift must be 0 or more, got {self.drift}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be 0 or more, got {self.warmup_steps}")
        if len(self.betas) != 2:
            raise ValueError(f"betas must be two numbers, got {self.betas}")

    @property
    def gates_latent(self) -> bool:
        """Whether the latent joins the discriminator through a gate learned from 0: ``latent_gate``,
        by default on with the residual generator.

        Example:
            >>> TrainConfig(generator="residual").gates_latent, TrainConfig(generator="paper").gates_latent
            (True, False)
        """
        if self.latent_gate is not None:
            return self.latent_gate
        return self.generator is GeneratorKind.RESIDUAL

    @property
    def discriminator_lr(self) -> float:
        """The critic's learning rate: ``lr_d``, else ``lr``."""
        return self.lr if self.lr_d is None else self.lr_d

    @property
    def generator_lr(self) -> float:
        """The generator's learning rate: ``lr_g``, else ``lr``."""
        return self.lr if self.lr_g is None else self.lr_g

    def to_dict(self) -> dict[str, Any]:
        """Plain types only (for YAML, JSON and ``torch.load(weights_only=True)``).

        Example:
            >>> TrainConfig(epochs=3).to_dict()["epochs"], TrainConfig().to_dict()["protocol"]
            (3, 'val')
        """
        return plain_settings(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> TrainConfig:
        """Build from plain values, naming ``source`` for unknown keys or bad values.

        Raises:
            ConfigError: for an unknown key or a value the config rejects.

        Example:
            >>> TrainConfig.from_dict({"variant": "disc", "protocol": "final"}).protocol
            <Protocol.FINAL: 'final'>
        """
        return super().from_dict(values, source)


def resolve_config(config_file: str | os.PathLike | None = None, **flags: Any) -> TrainConfig:
    """Defaults, overridden by ``config_file``, overridden by the flags that were given (not ``None``).

    Example:
        >>> resolve_config(epochs=2, lr=None).epochs
        2
    """
    values: dict[str, Any] = {}
    source = "command line"
    if config_file is not None:
        values.update(read_config_file(config_file))
        source = str(config_file)
    values.update({key: value for key, value in flags.items() if value is not None})
    return TrainConfig.from_dict(values, source=source)
