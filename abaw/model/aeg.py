"""The auto-encoder generator (AEG): cleans a degraded face and exposes its bottleneck.

The layer table is the authors' (StarGAN-style generator, shrunk): every
convolution is bias-free because an affine InstanceNorm follows it, and the
"residual" block has no skip and no skip connections bridge the bottleneck, so
the latent must carry the whole face. The ``residual`` variant keeps every
layer and the latent, and adds its decoded output to the input, scaled by a
scalar learned from 0: it starts as the identity and learns a correction
(see :class:`~abaw.model.config.GeneratorKind`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _conv_in_relu(conv: nn.Module, channels: int) -> list[nn.Module]:
    return [conv, nn.InstanceNorm2d(channels, affine=True), nn.ReLU(inplace=True)]


class AutoEncoderGenerator(nn.Module):
    """Noisy face in [-1, 1] -> (cleaned face in [-1, 1], latent z).

    At 112x112 and ``width=16`` the latent is 64x28x28 and the network has
    160,928 parameters.

    Args:
        width: Channels of the first layer; the latent has ``4 * width``.
        residual: Output ``clamp(x + a * decoder(z), -1, 1)`` with ``a`` learned from 0,
            instead of ``decoder(z)``.

    Example:
        >>> generator = AutoEncoderGenerator(width=4)
        >>> cleaned, latent = generator(torch.zeros(2, 3, 32, 32))
        >>> tuple(cleaned.shape), tuple(latent.shape), generator.latent_channels
        ((2, 3, 32, 32), (2, 16, 8, 8), 16)
        >>> faces = torch.rand(2, 3, 32, 32) * 2 - 1
        >>> bool((AutoEncoderGenerator(width=4, residual=True)(faces)[0] == faces).all())  # the identity at first
        True
    """

    def __init__(self, width: int = 16, residual: bool = False):
        super().__init__()
        if width < 1:
            raise ValueError(f"generator width must be >= 1, got {width}")
        w1, w2, w4 = width, 2 * width, 4 * width
        self.latent_channels = w4
        self.residual = residual
        self.encoder = nn.Sequential(
            *_conv_in_relu(nn.Conv2d(3, w1, 7, 1, 3, bias=False), w1),
            *_conv_in_relu(nn.Conv2d(w1, w2, 4, 2, 1, bias=False), w2),
            *_conv_in_relu(nn.Conv2d(w2, w4, 4, 2, 1, bias=False), w4),
        )
        self.bottleneck = nn.Sequential(
            *_conv_in_relu(nn.Conv2d(w4, w4, 3, 1, 1, bias=False), w4),
            nn.Conv2d(w4, w4, 3, 1, 1, bias=False),
            nn.InstanceNorm2d(w4, affine=True),
        )
        self.decoder = nn.Sequential(
            *_conv_in_relu(nn.ConvTranspose2d(w4, w2, 4, 2, 1, bias=False), w2),
            *_conv_in_relu(nn.ConvTranspose2d(w2, w1, 4, 2, 1, bias=False), w1),
            nn.Conv2d(w1, 3, 7, 1, 3, bias=False),
            nn.Tanh(),
        )
        # Registered only for the residual generator, so the paper's has exactly the authors' parameters.
        self.residual_scale = nn.Parameter(torch.zeros(())) if residual else None

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Return ``(cleaned, latent)`` for images ``x`` of shape (B, 3, H, W), H and W multiples of 4."""
        if x.dim() != 4 or x.shape[1] != 3 or x.shape[2] % 4 or x.shape[3] % 4:
            raise ValueError(
                f"the generator takes images of shape (B, 3, H, W) with H and W multiples of 4, got {tuple(x.shape)}"
            )
        latent = self.bottleneck(self.encoder(x))
        decoded = self.decoder(latent)
        if self.residual_scale is None:
            return decoded, latent
        return (x + self.residual_scale * decoded).clamp(-1.0, 1.0), latent
