"""What to build: one :class:`ModelConfig` describes every model the toolkit trains.

The config holds plain values only, so a run can save it beside its checkpoint
(:meth:`ModelConfig.to_dict`) and rebuild the same network later without the
registry (:meth:`ModelConfig.from_dict`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum
from typing import Any

from abaw.choices import parse_enum

# Below this the CD's six stride-2 convolutions leave no pixel for the heads.
MIN_IMAGE_SIZE = 32


class LatentInjection(str, Enum):
    """How the generator's latent z joins the discriminator after its second layer.

    ``ADD`` is what the authors' code does; ``CONCAT`` is what the paper says
    (the third layer then takes twice the channels).

    Example:
        >>> LatentInjection("concat") is LatentInjection.CONCAT
        True
    """

    ADD = "add"
    CONCAT = "concat"


class GeneratorKind(str, Enum):
    """Which auto-encoder generator cleans the faces.

    ``paper``: the authors' AEG, which rebuilds every face through its
    bottleneck (no skip connection). ``residual``: the same layers and latent,
    the output made residual, ``clamp(x + a * decoder(z), -1, 1)`` with a
    scalar ``a`` learned from 0, so the generator starts as the identity
    (ReZero, arXiv 2003.04887) and learns only a correction of its input.

    Example:
        >>> [kind.value for kind in GeneratorKind]
        ['paper', 'residual']
    """

    PAPER = "paper"
    RESIDUAL = "residual"


class VaHead(str, Enum):
    """The (valence, arousal) output: unbounded as in the paper, or squashed by tanh.

    Example:
        >>> [head.value for head in VaHead]
        ['linear', 'tanh']
    """

    LINEAR = "linear"
    TANH = "tanh"


@dataclass
class ModelConfig:
    """The architecture of one affect model.

    Args:
        variant: The registered name this config came from (a label; building
            uses only the fields below).
        use_generator: Put the auto-encoder generator (AEG) in front of the
            discriminator and train adversarially.
        use_latent: Feed the generator's latent z into the discriminator
            (needs ``use_generator``).
        audio_dim: Length of the per-frame audio vector; above 0 the audio map
            becomes a 4th input channel of the discriminator.
        latent_injection: How z joins the discriminator.
        va_head: Unbounded or tanh-bounded (valence, arousal).
        generator_width: Channels of the AEG's first layer (16 in the paper).
        discriminator_width: Channels of the CD's first layer (32 in the paper).
        image_size: Side of the square input faces (112 for the cropped_aligned set).
        backbone: A timm model name replacing the CD trunk.
        backbone_weights: A local file of weights for the backbone.
        regressor: Build a plain timm regressor (a baseline, not adversarial).
        generator: Which generator (needs ``use_generator`` for ``residual``).
        latent_gate: Scale the latent by a learned scalar that starts at 0
            before it joins the discriminator, so the latent enters only as it
            becomes useful (needs ``use_latent``).

    Example:
        >>> ModelConfig("disc", use_generator=False, use_latent=False).discriminator_width
        32
        >>> ModelConfig("x", use_generator=False, use_latent=True)
        Traceback (most recent call last):
        ...
        ValueError: model 'x': use_latent needs use_generator (the latent comes from the generator)
    """

    variant: str
    use_generator: bool
    use_latent: bool
    audio_dim: int = 0
    latent_injection: LatentInjection = LatentInjection.ADD
    va_head: VaHead = VaHead.LINEAR
    generator_width: int = 16
    discriminator_width: int = 32
    image_size: int = 112
    backbone: str | None = None
    backbone_weights: str | None = None
    regressor: bool = False
    generator: GeneratorKind = GeneratorKind.PAPER
    latent_gate: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.variant, str) or not self.variant:
            raise ValueError(f"model variant must be a non-empty name, got {self.variant!r}")
        # Strings are accepted so that configs read back from JSON or YAML need no conversion.
        self.latent_injection = _enum(LatentInjection, self.latent_injection, "latent_injection", self.variant)
        self.va_head = _enum(VaHead, self.va_head, "va_head", self.variant)
        self.generator = _enum(GeneratorKind, self.generator, "generator", self.variant)
        for name in ("use_generator", "use_latent", "regressor", "latent_gate"):
            if not isinstance(getattr(self, name), bool):
                self._fail(f"{name} must be true or false, got {getattr(self, name)!r}")
        for name, low in (("audio_dim", 0), ("generator_width", 1), ("discriminator_width", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                self._fail(f"{name} must be an integer >= {low}, got {value!r}")
        size = self.image_size
        if isinstance(size, bool) or not isinstance(size, int) or size < MIN_IMAGE_SIZE:
            self._fail(f"image_size must be an integer >= {MIN_IMAGE_SIZE}, got {size!r}")
        for name in ("backbone", "backbone_weights"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                self._fail(f"{name} must be a non-empty string or null, got {value!r}")
        if self.use_latent and not self.use_generator:
            self._fail("use_latent needs use_generator (the latent comes from the generator)")
        if self.generator is GeneratorKind.RESIDUAL and not self.use_generator:
            self._fail("generator residual needs use_generator (a model without a generator has none to choose)")
        if self.latent_gate and not self.use_latent:
            self._fail("latent_gate needs use_latent (there is no latent to gate)")
        if self.use_generator and size % 4:
            self._fail(f"image_size must be a multiple of 4 with a generator (it halves twice), got {size}")
        if self.backbone_weights is not None and self.backbone is None:
            self._fail("backbone_weights needs backbone (the CD trunk has no pretrained weights)")
        if self.regressor:
            if self.backbone is None:
                self._fail("regressor needs backbone (a timm model name)")
            if self.use_generator or self.audio_dim:
                self._fail("a regressor takes the image only: use_generator, use_latent and audio_dim must be off")

    def _fail(self, message: str) -> None:
        raise ValueError(f"model {self.variant!r}: {message}")

    def to_dict(self) -> dict[str, Any]:
        """The config as plain JSON/YAML values (enums become their strings).

        Example:
            >>> ModelConfig("disc", False, False).to_dict()["latent_injection"]
            'add'
        """
        values = dataclasses.asdict(self)
        values["latent_injection"] = self.latent_injection.value
        values["va_head"] = self.va_head.value
        values["generator"] = self.generator.value
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        """Rebuild a config saved by :meth:`to_dict`; unknown or missing keys are errors.

        Keys added since a checkpoint was written take the value the model
        had then: a config without ``generator`` is the paper's generator,
        without ``latent_gate`` an ungated latent.

        Example:
            >>> saved = {"variant": "disc", "use_generator": False, "use_latent": False}
            >>> ModelConfig.from_dict(saved).audio_dim
            0
            >>> ModelConfig.from_dict({**saved, "depth": 3})  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            ValueError: unknown model config key 'depth'; known keys: variant, use_generator, use_latent, audio_dim, ...
        """
        if not isinstance(values, dict):
            raise ValueError(f"a model config must be a mapping, got {type(values).__name__}")
        known = field_names()
        unknown = sorted(set(values) - set(known))
        if unknown:
            plural = "s" if len(unknown) > 1 else ""
            names = ", ".join(map(repr, unknown))
            raise ValueError(f"unknown model config key{plural} {names}; known keys: {', '.join(known)}")
        required = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING]
        missing = [name for name in required if name not in values]
        if missing:
            raise ValueError(f"model config lacks {', '.join(map(repr, missing))}")
        return cls(**values)


def field_names() -> list[str]:
    """The keys a model config accepts, in declaration order.

    Example:
        >>> field_names()[:3]
        ['variant', 'use_generator', 'use_latent']
    """
    return [f.name for f in dataclasses.fields(ModelConfig)]


def _enum(kind: type[Enum], value: Any, name: str, variant: str) -> Any:
    return parse_enum(kind, value, f"model {variant!r}: {name}")
