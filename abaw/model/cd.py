"""The conditional discriminator (CD): real/fake patch map and (valence, arousal).

Six stride-2 convolutions with bias and LeakyReLU(0.01), no normalisation
(WGAN-GP penalises per-sample gradients, which batch statistics would mix).
Layer 5 pads by 2 so that 7x7 becomes 4x4 at 112, leaving a 2x2 map after
layer 6. The generator's latent joins after layer 2, whose output has the
latent's size (a quarter of the image side).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from abaw.model.config import LatentInjection, VaHead

# (kernel, stride, padding) of the six trunk convolutions, from the authors' code.
CD_LAYERS = ((4, 2, 1), (4, 2, 1), (4, 2, 1), (4, 2, 1), (4, 2, 2), (4, 2, 1))


def conv_output_size(size: int, layers: tuple[tuple[int, int, int], ...] = CD_LAYERS) -> int:
    """The side of the map left by ``layers`` from an input of side ``size``.

    Example:
        >>> conv_output_size(112), conv_output_size(128), conv_output_size(64)
        (2, 2, 1)
    """
    for kernel, stride, padding in layers:
        size = (size + 2 * padding - kernel) // stride + 1
    return size


class SmallMapConv2d(nn.Conv2d):
    """A convolution that, on CPU, runs as one matrix product when its output map is small.

    oneDNN's kernels for a wide layer on a tiny map (the CD's last layer:
    512 -> 1024 channels, 4x4 -> 2x2) run far below the CPU's matrix-product
    rate; unfolding the input patches and multiplying them by the weights
    computes the same sums about three times faster there, backward and the
    gradient penalty's double backward included (measured on AMD EPYC). The
    parameters are a plain ``nn.Conv2d``'s, so checkpoints do not change;
    on CUDA, and for larger maps, it is a plain convolution.

    Example:
        >>> conv = SmallMapConv2d(3, 5, 4, 2, 1)
        >>> x = torch.randn(2, 3, 4, 4)
        >>> torch.allclose(conv(x), nn.functional.conv2d(x, conv.weight, conv.bias, 2, 1), atol=1e-6)
        True
    """

    MAX_OUTPUT_POSITIONS = 4
    """Largest output map (height x width) computed as a matrix product; above it oneDNN was as fast or faster."""

    def forward(self, x: Tensor) -> Tensor:
        """The convolution of ``x`` (B, C, H, W)."""
        rows, cols = (
            (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1
            for size, pad, dilation, kernel, stride in zip(
                x.shape[2:], self.padding, self.dilation, self.kernel_size, self.stride, strict=True
            )
        )
        if (
            x.device.type != "cpu"
            or self.groups != 1
            or self.padding_mode != "zeros"
            or rows * cols > self.MAX_OUTPUT_POSITIONS
        ):
            return super().forward(x)
        patches = nn.functional.unfold(x, self.kernel_size, self.dilation, self.padding, self.stride)
        patches = patches.transpose(1, 2).reshape(x.shape[0] * rows * cols, -1)
        weight = self.weight.reshape(self.out_channels, -1).t()
        out = patches @ weight if self.bias is None else torch.addmm(self.bias, patches, weight)
        return out.reshape(x.shape[0], rows, cols, self.out_channels).permute(0, 3, 1, 2)


class AudioMap(nn.Module):
    """Audio vector (B, audio_dim) -> one image channel (B, 1, size, size).

    ``Linear(audio_dim -> size)`` and tanh give one row that is repeated down
    the image, so every row of the map carries the same audio description.

    Example:
        >>> tuple(AudioMap(5, 8)(torch.zeros(2, 5)).shape)
        (2, 1, 8, 8)
    """

    def __init__(self, audio_dim: int, size: int):
        super().__init__()
        self.size = size
        self.fc = nn.Linear(audio_dim, size)

    def forward(self, audio: Tensor) -> Tensor:
        row = torch.tanh(self.fc(audio))
        return row[:, None, None, :].expand(-1, 1, self.size, self.size)


def check_inputs(
    name: str,
    image: Tensor,
    image_size: int,
    latent: Tensor | None,
    uses_latent: bool,
    audio: Tensor | None,
    audio_dim: int,
) -> None:
    """Raise a ValueError naming ``name`` when the inputs do not match how it was built."""
    if image.dim() != 4 or tuple(image.shape[1:]) != (3, image_size, image_size):
        expected = f"(B, 3, {image_size}, {image_size})"
        raise ValueError(f"the {name} takes images of shape {expected}, got {tuple(image.shape)}")
    if uses_latent and latent is None:
        raise ValueError(f"the {name} was built with a latent input: pass the generator's latent")
    if not uses_latent and latent is not None:
        raise ValueError(f"the {name} was built without a latent input, but a latent was passed")
    if audio_dim and audio is None:
        raise ValueError(f"the {name} was built with audio_dim={audio_dim}: pass audio of shape (B, {audio_dim})")
    if not audio_dim and audio is not None:
        raise ValueError(f"the {name} was built without audio (audio_dim=0), but audio was passed")
    if audio is not None and tuple(audio.shape) != (image.shape[0], audio_dim):
        raise ValueError(f"the {name} takes audio of shape ({image.shape[0]}, {audio_dim}), got {tuple(audio.shape)}")


class ConditionalDiscriminator(nn.Module):
    """Image (+ latent, + audio) -> (src patch map (B, 1, 2, 2), va (B, 2)) at 112.

    Latent injection:

    - ``add`` (the authors' code) adds z to the layer-2 activation. When the
      latent's channels differ from layer 2's (``latent_channels != 2 * width``,
      which the paper's 16/32 widths avoid) a bias-free 1x1 convolution
      projects z first.
    - ``concat`` (the paper) appends z's channels after layer 2's, so layer 3
      takes ``2 * width + latent_channels`` channels.

    With ``latent_gate`` the (projected) latent is first scaled by a learned
    scalar that starts at 0: a trunk trained without the latent (the Disc) is
    left undisturbed, and the latent joins as it becomes useful.

    Args:
        width: Channels of layer 1 (32 in the paper; layer k has ``width * 2**(k-1)``).
        latent_channels: Channels of the generator's latent; 0 builds a CD without latent input.
        injection: How the latent joins.
        audio_dim: Length of the audio vector; 0 builds a CD without audio input.
        va_head: Unbounded or tanh-bounded (valence, arousal).
        image_size: Side of the square input; the VA head's kernel covers the final map.
        latent_gate: Scale the latent by a scalar learned from 0 before it joins.

    Example:
        >>> cd = ConditionalDiscriminator(width=4, latent_channels=8, audio_dim=3, image_size=32)
        >>> src, va = cd(torch.zeros(2, 3, 32, 32), latent=torch.zeros(2, 8, 8, 8), audio=torch.zeros(2, 3))
        >>> tuple(src.shape), tuple(va.shape)
        ((2, 1, 1, 1), (2, 2))
    """

    def __init__(
        self,
        width: int = 32,
        latent_channels: int = 0,
        injection: LatentInjection = LatentInjection.ADD,
        audio_dim: int = 0,
        va_head: VaHead = VaHead.LINEAR,
        image_size: int = 112,
        latent_gate: bool = False,
    ):
        super().__init__()
        final = conv_output_size(image_size)
        if final < 1:
            raise ValueError(f"image_size {image_size} is too small for the discriminator's six stride-2 layers")
        self.width = width
        self.latent_channels = latent_channels
        self.injection = LatentInjection(injection)
        self.audio_dim = audio_dim
        self.va_head_kind = VaHead(va_head)
        self.image_size = image_size
        self.audio_map = AudioMap(audio_dim, image_size) if audio_dim else None

        channels = [3 + (1 if audio_dim else 0)] + [width * 2**k for k in range(6)]
        # The last layer's map is tiny (2x2 at 112): see SmallMapConv2d.
        convs = [
            (SmallMapConv2d if k == len(CD_LAYERS) - 1 else nn.Conv2d)(
                channels[k], channels[k + 1], kernel, stride, padding
            )
            for k, (kernel, stride, padding) in enumerate(CD_LAYERS)
        ]
        concat = latent_channels and self.injection is LatentInjection.CONCAT
        if concat:
            convs[2] = nn.Conv2d(channels[2] + latent_channels, channels[3], *CD_LAYERS[2])
        self.lower = nn.Sequential(convs[0], nn.LeakyReLU(0.01), convs[1], nn.LeakyReLU(0.01))
        self.latent_proj = (
            nn.Conv2d(latent_channels, channels[2], 1, bias=False)
            if latent_channels and not concat and latent_channels != channels[2]
            else None
        )
        self.upper = nn.Sequential(*(layer for conv in convs[2:] for layer in (conv, nn.LeakyReLU(0.01))))
        self.src_head = nn.Conv2d(channels[6], 1, 3, 1, 1, bias=False)
        self.va_head = nn.Conv2d(channels[6], 2, final, bias=False)
        self.latent_gate = nn.Parameter(torch.zeros(())) if latent_gate and latent_channels else None

    def forward(
        self, image: Tensor, latent: Tensor | None = None, audio: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Return ``(src, va)``: the real/fake map (B, 1, s, s) and (valence, arousal) (B, 2)."""
        h = self.feature_map(image, latent, audio)
        va = self.va_head(h).flatten(1)
        if self.va_head_kind is VaHead.TANH:
            va = torch.tanh(va)
        return self.src_head(h), va

    def features(self, image: Tensor, latent: Tensor | None = None, audio: Tensor | None = None) -> Tensor:
        """The trunk's final map averaged over space, (B, 32 * width): what both heads read, as one vector."""
        return self.feature_map(image, latent, audio).mean(dim=(2, 3))

    def feature_map(self, image: Tensor, latent: Tensor | None = None, audio: Tensor | None = None) -> Tensor:
        """The six convolutions' final map (B, 32 * width, s, s), the latent and audio joined as in training."""
        check_inputs("discriminator", image, self.image_size, latent, bool(self.latent_channels), audio, self.audio_dim)
        x = image if self.audio_map is None else torch.cat([image, self.audio_map(audio)], dim=1)
        h = self.lower(x)
        if latent is not None:
            if latent.shape[0] != h.shape[0] or tuple(latent.shape[1:]) != (self.latent_channels, *h.shape[2:]):
                expected = (h.shape[0], self.latent_channels, *h.shape[2:])
                raise ValueError(f"the discriminator takes a latent of shape {expected}, got {tuple(latent.shape)}")
            joined = latent if self.latent_proj is None else self.latent_proj(latent)
            if self.latent_gate is not None:
                joined = self.latent_gate * joined
            # Concatenated latent channels go last, so a CD trained without them can be widened with zeros.
            h = torch.cat([h, joined], dim=1) if self.injection is LatentInjection.CONCAT else h + joined
        return self.upper(h)
