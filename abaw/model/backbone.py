"""A timm network in place of the CD trunk, and loading its weights from a local file.

:class:`TimmDiscriminator` keeps the CD's interface (same inputs, a
real/fake patch map of the CD's size and a (valence, arousal) pair) so it
drops into adversarial training unchanged.

The latent joins late. A timm model cannot be split after its "second layer"
in a way that holds for every architecture, so z goes through a small strided
convolutional encoder of its own, is pooled to a vector and joins the trunk's
pooled features just before the VA head: concatenated (``concat``) or
projected to the trunk's width and added (``add``). So here the latent informs
the (valence, arousal) estimate only, not the real/fake map, which in the CD
it reaches too.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import timm
import torch
from torch import Tensor, nn

from abaw.errors import DataError
from abaw.model.cd import AudioMap, check_inputs, conv_output_size
from abaw.model.config import LatentInjection, VaHead
from abaw.model.transfer import (
    TransferReport,
    UnreadableWeights,
    load_matching_state,
    read_weights_file,
    state_tensors,
)


def create_timm(name: str, **kwargs) -> nn.Module:
    """``timm.create_model(name, pretrained=False, **kwargs)``; an unknown name is a ValueError.

    Nothing is ever downloaded: weights come only from :func:`load_backbone_weights`.

    Example:
        >>> create_timm("no_such_net")
        Traceback (most recent call last):
        ...
        ValueError: unknown timm model 'no_such_net' (see timm.list_models())
    """
    if not timm.is_model(name):
        raise ValueError(f"unknown timm model {name!r} (see timm.list_models())")
    return timm.create_model(name, pretrained=False, **kwargs)


def read_state_dict(path: str | PathLike) -> dict[str, Tensor]:
    """The tensors saved in ``path`` by ``torch.save``, without running any pickled code.

    The file may hold a bare state dict or a checkpoint dict with the state
    under ``"state_dict"`` or ``"model"``; a ``module.`` prefix left by
    ``DataParallel`` is removed.

    Raises:
        DataError: The file is missing, unreadable or holds no tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("backbone weights file not found", path=path)
    try:
        saved = read_weights_file(path)
    except UnreadableWeights as error:
        raise DataError(f"cannot read backbone weights ({error})", path=path) from None
    tensors = state_tensors(saved)
    if not tensors:
        raise DataError(
            "backbone weights file holds no tensors (expected a state dict, or a dict with 'state_dict' or 'model')",
            path=path,
        )
    return tensors


def load_backbone_weights(module: nn.Module, path: str | PathLike, backbone: str) -> TransferReport:
    """Load the matching tensors of ``path`` into the timm model ``module``.

    Like ``load_state_dict(strict=False)``, but tolerant of shape differences
    too (a classifier with another class count is skipped; a first convolution
    with an extra input channel gets that channel zeroed).

    Raises:
        DataError: The file cannot be read, or no tensor in it matches ``module``.
    """
    state = read_state_dict(path)
    try:
        return load_matching_state(module, state)
    except ValueError:
        example = next(iter(state))
        raise DataError(
            f"no tensor matches timm model {backbone!r} ({len(state)} tensors in the file, e.g. {example!r})",
            path=path,
        ) from None


class TimmDiscriminator(nn.Module):
    """The CD's interface around a timm trunk: image (+ latent, + audio) -> (src, va).

    The audio map is the trunk's 4th input channel, as in the CD. ``src`` is a
    bias-free 3x3 convolution on the trunk's final map, average-pooled to the
    CD's patch-map size (2x2 at 112); ``va`` is a linear layer on the pooled
    trunk features, joined by the latent's features when there is a latent.

    Args:
        backbone: A timm model name producing a (B, C, H, W) feature map (CNNs).
        weights: A local file of weights for the trunk (see :func:`load_backbone_weights`).
        width: Channels of the latent encoder's first convolution.
        latent_channels: Channels of the generator's latent; 0 builds no latent input.
        injection: How the latent's features join the trunk's.
        audio_dim: Length of the audio vector; 0 builds no audio input.
        va_head: Unbounded or tanh-bounded (valence, arousal).
        image_size: Side of the square input.

    Attributes:
        weights_report: What loading ``weights`` did, or None without weights.

    Example:
        >>> import torch
        >>> disc = TimmDiscriminator("test_resnet", latent_channels=4, audio_dim=3, image_size=32)
        >>> src, va = disc(torch.zeros(2, 3, 32, 32), latent=torch.zeros(2, 4, 8, 8), audio=torch.zeros(2, 3))
        >>> tuple(src.shape), tuple(va.shape)
        ((2, 1, 1, 1), (2, 2))
    """

    def __init__(
        self,
        backbone: str,
        weights: str | PathLike | None = None,
        width: int = 32,
        latent_channels: int = 0,
        injection: LatentInjection = LatentInjection.ADD,
        audio_dim: int = 0,
        va_head: VaHead = VaHead.LINEAR,
        image_size: int = 112,
        latent_gate: bool = False,
    ):
        super().__init__()
        self.backbone = backbone
        self.latent_channels = latent_channels
        self.injection = LatentInjection(injection)
        self.audio_dim = audio_dim
        self.va_head_kind = VaHead(va_head)
        self.image_size = image_size
        self.audio_map = AudioMap(audio_dim, image_size) if audio_dim else None
        self.trunk = create_timm(backbone, num_classes=0, global_pool="", in_chans=4 if audio_dim else 3)
        features = self.trunk.num_features
        self._channels_last = self._probe_layout(features)
        self.src_head = nn.Conv2d(features, 1, 3, 1, 1, bias=False)
        self.src_pool = nn.AdaptiveAvgPool2d(max(conv_output_size(image_size), 1))

        self.latent_encoder = None
        self.latent_proj = None
        head_in = features
        if latent_channels:
            self.latent_encoder = nn.Sequential(
                nn.Conv2d(latent_channels, width, 4, 2, 1),
                nn.LeakyReLU(0.01),
                nn.Conv2d(width, 2 * width, 4, 2, 1),
                nn.LeakyReLU(0.01),
                nn.AdaptiveAvgPool2d(1),
                nn.Flatten(1),
            )
            if self.injection is LatentInjection.CONCAT:
                head_in += 2 * width
            else:
                self.latent_proj = nn.Linear(2 * width, features, bias=False)
        self.va_head = nn.Linear(head_in, 2)
        self.latent_gate = nn.Parameter(torch.zeros(())) if latent_gate and latent_channels else None
        self.weights_report = None if weights is None else load_backbone_weights(self.trunk, weights, backbone)

    def _probe_layout(self, features: int) -> bool:
        # One eval-mode pass at the configured size, so that a transformer's token output fails at build time.
        was_training = self.trunk.training
        self.trunk.eval()
        with torch.no_grad():
            out = self.trunk(torch.zeros(1, self.trunk_in_chans, self.image_size, self.image_size))
        self.trunk.train(was_training)
        if out.dim() == 4 and out.shape[1] == features:
            return False
        if out.dim() == 4 and out.shape[3] == features:
            return True
        raise ValueError(
            f"timm model {self.backbone!r} gives features of shape {tuple(out.shape)}; "
            "the discriminator needs a (B, C, H, W) map (use a convolutional backbone)"
        )

    @property
    def trunk_in_chans(self) -> int:
        """Input channels of the trunk: RGB, plus the audio map when there is audio."""
        return 4 if self.audio_dim else 3

    def forward(
        self, image: Tensor, latent: Tensor | None = None, audio: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Return ``(src, va)`` as :class:`~abaw.model.cd.ConditionalDiscriminator` does."""
        fmap = self._feature_map(image, latent, audio)
        va = self.va_head(self._pooled(fmap, latent))
        if self.va_head_kind is VaHead.TANH:
            va = torch.tanh(va)
        return self.src_pool(self.src_head(fmap)), va

    def features(self, image: Tensor, latent: Tensor | None = None, audio: Tensor | None = None) -> Tensor:
        """What the VA head reads: the trunk's pooled features, joined by the latent's code when there is one."""
        return self._pooled(self._feature_map(image, latent, audio), latent)

    def _feature_map(self, image: Tensor, latent: Tensor | None, audio: Tensor | None) -> Tensor:
        check_inputs(
            f"discriminator ({self.backbone})",
            image,
            self.image_size,
            latent,
            bool(self.latent_channels),
            audio,
            self.audio_dim,
        )
        x = image if self.audio_map is None else torch.cat([image, self.audio_map(audio)], dim=1)
        fmap = self.trunk(x)
        if self._channels_last:
            fmap = fmap.permute(0, 3, 1, 2)
        return fmap

    def _pooled(self, fmap: Tensor, latent: Tensor | None) -> Tensor:
        pooled = fmap.mean(dim=(2, 3))
        if latent is not None:
            if latent.dim() != 4 or latent.shape[:2] != (fmap.shape[0], self.latent_channels):
                raise ValueError(
                    f"the discriminator takes a latent of shape ({fmap.shape[0]}, {self.latent_channels}, h, w), "
                    f"got {tuple(latent.shape)}"
                )
            coded = self.latent_encoder(latent)
            if self.latent_gate is not None:
                coded = self.latent_gate * coded
            if self.injection is LatentInjection.CONCAT:
                pooled = torch.cat([pooled, coded], dim=1)
            else:
                pooled = pooled + self.latent_proj(coded)
        return pooled
