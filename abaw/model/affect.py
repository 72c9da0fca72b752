"""The affect model: optional generator in front of a discriminator (or a plain regressor)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from abaw.model.aeg import AutoEncoderGenerator
from abaw.model.backbone import TimmDiscriminator
from abaw.model.cd import ConditionalDiscriminator
from abaw.model.config import GeneratorKind, ModelConfig
from abaw.model.regressor import TimmRegressor
from abaw.model.transfer import TransferReport


class AffectModel(nn.Module):
    """Everything one :class:`ModelConfig` describes, built in one place.

    Training drives the two parts separately (:meth:`generate`,
    :meth:`discriminate`); inference calls the model (:meth:`forward`).

    Attributes:
        config: What was built.
        generator: The AEG, or None for Disc and the regressor.
        discriminator: A :class:`ConditionalDiscriminator`, a :class:`TimmDiscriminator`
            (``config.backbone``) or a :class:`TimmRegressor` (``config.regressor``).

    Example:
        >>> import torch
        >>> model = AffectModel(ModelConfig("t", True, True, audio_dim=5, generator_width=2,
        ...                                 discriminator_width=2, image_size=32))
        >>> tuple(model(torch.zeros(2, 3, 32, 32), audio=torch.zeros(2, 5)).shape)
        (2, 2)
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        if not isinstance(config, ModelConfig):
            raise TypeError(f"AffectModel needs a ModelConfig, got {type(config).__name__}")
        self.config = config
        residual = config.generator is GeneratorKind.RESIDUAL
        self.generator = AutoEncoderGenerator(config.generator_width, residual) if config.use_generator else None
        latent_channels = self.generator.latent_channels if config.use_latent else 0
        knobs = {
            "width": config.discriminator_width,
            "latent_channels": latent_channels,
            "injection": config.latent_injection,
            "audio_dim": config.audio_dim,
            "va_head": config.va_head,
            "image_size": config.image_size,
            "latent_gate": config.latent_gate,
        }
        if config.regressor:
            self.discriminator = TimmRegressor(config.backbone, config.backbone_weights, va_head=config.va_head)
        elif config.backbone is not None:
            self.discriminator = TimmDiscriminator(config.backbone, config.backbone_weights, **knobs)
        else:
            self.discriminator = ConditionalDiscriminator(**knobs)

    @property
    def adversarial(self) -> bool:
        """Whether training is adversarial (there is a generator)."""
        return self.config.use_generator

    @property
    def uses_audio(self) -> bool:
        """Whether the model needs the per-frame audio vector."""
        return self.config.audio_dim > 0

    @property
    def weights_report(self) -> TransferReport | None:
        """What loading ``config.backbone_weights`` did, or None when there were none."""
        return getattr(self.discriminator, "weights_report", None)

    def generate(self, noisy: Tensor) -> tuple[Tensor, Tensor]:
        """Clean ``noisy`` faces: ``(cleaned, latent)``. Only for models with a generator."""
        if self.generator is None:
            raise ValueError(f"model {self.config.variant!r} has no generator (use_generator is off)")
        return self.generator(noisy)

    def discriminate(
        self, image: Tensor, latent: Tensor | None = None, audio: Tensor | None = None
    ) -> tuple[Tensor | None, Tensor]:
        """``(src, va)`` for ``image``; ``src`` is None for the regressor.

        The latent is passed on only when ``config.use_latent`` and the audio
        only when ``config.audio_dim > 0``, so callers may always pass both.
        """
        return self.discriminator(image, *self.discriminator_inputs(latent, audio))

    def discriminator_inputs(self, latent: Tensor | None, audio: Tensor | None) -> tuple[Tensor | None, Tensor | None]:
        """``(latent, audio)`` as the discriminator takes them: each only when the model was built with it.

        Training calls the discriminator through its DistributedDataParallel
        wrapper, so it needs this filtering without :meth:`discriminate`.
        """
        return (latent if self.config.use_latent else None, audio if self.uses_audio else None)

    def embed(self, images: Tensor, audio: Tensor | None = None) -> Tensor:
        """Inference: one feature vector per image, the input of a temporal model, shape (B, :attr:`embedding_dim`).

        The discriminator's features before its heads (``features()``), then
        with a generator the generator's latent averaged over space; the
        images are cleaned and the latent used as in :meth:`forward`.
        """
        latent = None
        if self.generator is not None:
            images, latent = self.generator(images)
        features = self.discriminator.features(images, *self.discriminator_inputs(latent, audio))
        if latent is None:
            return features
        return torch.cat([features, latent.mean(dim=(2, 3))], dim=1)

    def embedding_kinds(self) -> list[tuple[str, int]]:
        """``(kind, columns)`` of each block of :meth:`embed`'s output, in column order (one probe pass)."""
        size = self.config.image_size
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                device = next(self.parameters()).device
                audio = torch.zeros(1, self.config.audio_dim, device=device) if self.uses_audio else None
                total = self.embed(torch.zeros(1, 3, size, size, device=device), audio).shape[1]
        finally:
            self.train(was_training)
        if self.generator is None:
            return [("discriminator", total)]
        latent = self.generator.latent_channels
        return [("discriminator", total - latent), ("generator_latent", latent)]

    def forward(self, images: Tensor, audio: Tensor | None = None) -> Tensor:
        """Inference: (valence, arousal) per image, shape (B, 2), not clipped.

        With a generator the images are cleaned first and its latent used.
        The paper's head is unbounded: clip to [-1, 1] before scoring.
        """
        latent = None
        if self.generator is not None:
            images, latent = self.generator(images)
        return self.discriminate(images, latent, audio)[1]
