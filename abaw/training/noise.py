"""The noise model: clean faces degraded into the auto-encoder generator's input.

Per training sample, :func:`add_noise` keeps the face clean with probability
``clean_probability`` (0.5 in the paper); otherwise it draws one artifact
uniformly from the configured ones, and one of that artifact's levels
uniformly. The clean face is the generator's target.

Images are float tensors ``(B, C, H, W)`` scaled to [-1, 1] (pixel ``p`` in
[0, 255] is ``p / 127.5 - 1``), on any device. Every artifact is expressed in
those units but defined on [0, 255] pixels, as the paper's:

========================  ===============  ==============================================
artifact                  levels           what a level means
========================  ===============  ==============================================
downsample                1, 2, 3          halve the size ``n`` times, resize back
blur                      1, 3, 5          std of the Gaussian (PIL's ``radius``)
gaussian-noise            .001 .005 .01    variance on [0, 1]: std ``sqrt(var) * 255`` px
brightness                .75 1.25 1.5     factor on the pixel values (PIL ``Brightness``)
grayscale (extra)         1                fraction of the colour removed (ITU-R 601 luma)
occlusion (extra)         .25 .35 .5       side of a white rectangle, as a fraction
========================  ===============  ==============================================

Every result is clipped to [0, 255] pixels. The authors' code let the
Gaussian noise wrap around ``uint8`` (a bright pixel plus noise became dark):
a bug not copied here.

Choices the paper leaves open, made here: downsampling averages pixels
(``area``) and resizes back bilinearly; the blur is a true separable Gaussian
(PIL approximates it with box blurs) truncated at three standard deviations
with reflected borders; the occlusion rectangle lies wholly inside the image
at a uniformly drawn position.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "ARTIFACT_LEVELS",
    "PAPER_ARTIFACTS",
    "Artifact",
    "NoiseConfig",
    "add_noise",
    "apply_artifact",
]


class Artifact(str, Enum):
    """A kind of degradation of a face image.

    Example:
        >>> Artifact("gaussian-noise").levels
        (0.001, 0.005, 0.01)
        >>> Artifact.OCCLUSION.in_paper
        False
    """

    DOWNSAMPLE = "downsample"
    BLUR = "blur"
    GAUSSIAN_NOISE = "gaussian-noise"
    BRIGHTNESS = "brightness"
    GRAYSCALE = "grayscale"
    OCCLUSION = "occlusion"

    @property
    def levels(self) -> tuple[float, ...]:
        """The levels :func:`add_noise` draws from (see :data:`ARTIFACT_LEVELS`)."""
        return ARTIFACT_LEVELS[self]

    @property
    def in_paper(self) -> bool:
        """Whether the paper names this artifact (the others come from the authors' code)."""
        return self in PAPER_ARTIFACTS


PAPER_ARTIFACTS: tuple[Artifact, ...] = (
    Artifact.DOWNSAMPLE,
    Artifact.BLUR,
    Artifact.GAUSSIAN_NOISE,
    Artifact.BRIGHTNESS,
)
"""The four artifacts of the paper, the default of :class:`NoiseConfig`."""

ARTIFACT_LEVELS: dict[Artifact, tuple[float, ...]] = {
    Artifact.DOWNSAMPLE: (1.0, 2.0, 3.0),
    Artifact.BLUR: (1.0, 3.0, 5.0),
    Artifact.GAUSSIAN_NOISE: (0.001, 0.005, 0.01),
    Artifact.BRIGHTNESS: (0.75, 1.25, 1.5),
    Artifact.GRAYSCALE: (1.0,),
    Artifact.OCCLUSION: (0.25, 0.35, 0.5),
}
"""The levels of each artifact; see the module docstring for their meaning."""

# ITU-R 601-2 luma, the weights of PIL's convert("L"). They sum to 1, so they
# apply unchanged to [-1, 1] values.
_LUMA = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class NoiseConfig:
    """How :func:`add_noise` degrades a batch.

    Attributes:
        clean_probability: Probability that a sample stays clean, in [0, 1].
        artifacts: The artifacts drawn from (uniformly) for the other samples;
            distinct, and at least one unless ``clean_probability`` is 1.
            Strings are accepted and converted.

    Raises:
        ValueError: for a probability outside [0, 1], an unknown or repeated
            artifact, or no artifact while some samples must be degraded.

    Example:
        >>> config = NoiseConfig.from_dict({"clean_probability": 0.25, "artifacts": ["blur", "grayscale"]})
        >>> config.artifacts
        (<Artifact.BLUR: 'blur'>, <Artifact.GRAYSCALE: 'grayscale'>)
        >>> config.to_dict()
        {'clean_probability': 0.25, 'artifacts': ['blur', 'grayscale']}
    """

    clean_probability: float = 0.5
    artifacts: tuple[Artifact, ...] = PAPER_ARTIFACTS

    def __post_init__(self) -> None:
        probability = self.clean_probability
        if isinstance(probability, bool) or not isinstance(probability, (int, float)):
            raise ValueError(f"clean_probability must be a number, got {probability!r}")
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"clean_probability must be in [0, 1], got {probability}")
        if isinstance(self.artifacts, (str, Artifact)):
            raise ValueError(f"artifacts must be a sequence of artifacts, got {self.artifacts!r}")
        try:
            artifacts = tuple(Artifact(a) for a in self.artifacts)
        except ValueError as error:
            known = ", ".join(a.value for a in Artifact)
            raise ValueError(f"{error}; known artifacts: {known}") from None
        if len(set(artifacts)) != len(artifacts):
            raise ValueError(f"artifacts must be distinct, got {[a.value for a in artifacts]}")
        if not artifacts and probability < 1.0:
            raise ValueError("no artifact to draw from: give at least one, or set clean_probability to 1")
        # Frozen dataclass: normalising the field needs object.__setattr__.
        object.__setattr__(self, "clean_probability", float(probability))
        object.__setattr__(self, "artifacts", artifacts)

    def to_dict(self) -> dict[str, Any]:
        """The configuration as JSON-ready values (artifacts as their names)."""
        return {"clean_probability": self.clean_probability, "artifacts": [a.value for a in self.artifacts]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NoiseConfig:
        """Rebuild a configuration from :meth:`to_dict`'s output; missing keys take the defaults.

        Raises:
            ValueError: for an unknown key or an invalid value.
        """
        unknown = sorted(set(data) - {"clean_probability", "artifacts"})
        if unknown:
            raise ValueError(f"unknown noise settings: {', '.join(map(str, unknown))}")
        kwargs: dict[str, Any] = {}
        if "clean_probability" in data:
            kwargs["clean_probability"] = data["clean_probability"]
        if "artifacts" in data:
            if isinstance(data["artifacts"], str):
                raise ValueError(f"artifacts must be a list of names, got {data['artifacts']!r}")
            kwargs["artifacts"] = tuple(data["artifacts"])
        return cls(**kwargs)


def _work_dtype(dtype: torch.dtype) -> torch.dtype:
    """Half and bfloat16 images are processed in float32: convolutions and rounding suffer otherwise."""
    return dtype if dtype in (torch.float32, torch.float64) else torch.float32


def _check_images(images: Tensor) -> None:
    if not isinstance(images, Tensor) or images.ndim != 4:
        raise ValueError(f"expected images of shape (B, C, H, W), got {getattr(images, 'shape', type(images))}")
    if not images.is_floating_point():
        raise ValueError(f"expected float images in [-1, 1], got dtype {images.dtype}")


def _downsample(x: Tensor, times: float) -> Tensor:
    n = int(times)
    if n != times or n < 0:
        raise ValueError(f"downsample level must be a whole number of halvings, got {times}")
    height, width = x.shape[-2:]
    small = (max(1, height >> n), max(1, width >> n))
    # Halving n times with floor division is a single shift; "area" averages
    # the pixels it merges, as a camera with fewer photosites would.
    reduced = F.interpolate(x, size=small, mode="area")
    return F.interpolate(reduced, size=(height, width), mode="bilinear", align_corners=False)


def _gaussian_kernel(sigma: float, radius: int, like: Tensor) -> Tensor:
    offsets = torch.arange(-radius, radius + 1, dtype=like.dtype, device=like.device)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return kernel / kernel.sum()


def _blur(x: Tensor, sigma: float) -> Tensor:
    if not sigma >= 0.0:
        raise ValueError(f"blur level (the Gaussian's std) must be >= 0, got {sigma}")
    if sigma == 0.0:
        return x
    channels, height, width = x.shape[-3:]
    result = x
    # Reflect padding needs pad < side, which caps the kernel on tiny images.
    for axis, side in ((2, height), (3, width)):
        radius = min(math.ceil(3.0 * sigma), side - 1)
        if radius < 1:
            continue
        kernel = _gaussian_kernel(sigma, radius, x)
        shape = (channels, 1, -1, 1) if axis == 2 else (channels, 1, 1, -1)
        pad = (0, 0, radius, radius) if axis == 2 else (radius, radius, 0, 0)
        weight = kernel.reshape(1, 1, -1).expand(channels, 1, -1).reshape(shape)
        result = F.conv2d(F.pad(result, pad, mode="reflect"), weight, groups=channels)
    return result


def _gaussian_noise(x: Tensor, variance: float, generator: torch.Generator | None) -> Tensor:
    if not variance >= 0.0:
        raise ValueError(f"gaussian-noise level (a variance) must be >= 0, got {variance}")
    # std sqrt(var) * 255 on [0, 255] pixels is sqrt(var) * 255 / 127.5 in [-1, 1] units.
    std = 2.0 * math.sqrt(variance)
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    return x + std * noise


def _brightness(x: Tensor, factor: float) -> Tensor:
    if not factor >= 0.0:
        raise ValueError(f"brightness level (a factor) must be >= 0, got {factor}")
    # PIL's Brightness scales [0, 255] pixels: p * f, i.e. (x + 1) * f - 1 here.
    return (x + 1.0) * factor - 1.0


def _grayscale(x: Tensor, amount: float) -> Tensor:
    if not 0.0 <= amount <= 1.0:
        raise ValueError(f"grayscale level (fraction of colour removed) must be in [0, 1], got {amount}")
    if x.shape[1] != 3:
        raise ValueError(f"grayscale needs RGB images (3 channels), got {x.shape[1]}")
    luma = torch.tensor(_LUMA, dtype=x.dtype, device=x.device).reshape(1, 3, 1, 1)
    gray = (x * luma).sum(dim=1, keepdim=True).expand_as(x)
    return torch.lerp(x, gray, amount)


def _occlusion(x: Tensor, side: float, generator: torch.Generator | None) -> Tensor:
    if not 0.0 < side <= 1.0:
        raise ValueError(f"occlusion level (side fraction) must be in (0, 1], got {side}")
    batch, height, width = x.shape[0], x.shape[-2], x.shape[-1]
    box_h = min(height, max(1, round(side * height)))
    box_w = min(width, max(1, round(side * width)))
    top = torch.randint(0, height - box_h + 1, (batch, 1), generator=generator, device=x.device)
    left = torch.randint(0, width - box_w + 1, (batch, 1), generator=generator, device=x.device)
    rows = torch.arange(height, device=x.device).unsqueeze(0)
    cols = torch.arange(width, device=x.device).unsqueeze(0)
    inside_rows = (rows >= top) & (rows < top + box_h)
    inside_cols = (cols >= left) & (cols < left + box_w)
    mask = inside_rows[:, None, :, None] & inside_cols[:, None, None, :]
    return x.masked_fill(mask, 1.0)


def _apply(x: Tensor, artifact: Artifact, level: float, generator: torch.Generator | None) -> Tensor:
    """Apply one artifact to ``x`` (already in the working dtype); the result is not yet clipped."""
    if artifact is Artifact.DOWNSAMPLE:
        return _downsample(x, level)
    if artifact is Artifact.BLUR:
        return _blur(x, level)
    if artifact is Artifact.GAUSSIAN_NOISE:
        return _gaussian_noise(x, level, generator)
    if artifact is Artifact.BRIGHTNESS:
        return _brightness(x, level)
    if artifact is Artifact.GRAYSCALE:
        return _grayscale(x, level)
    return _occlusion(x, level, generator)


def apply_artifact(
    images: Tensor, artifact: Artifact | str, level: float, generator: torch.Generator | None = None
) -> Tensor:
    """Degrade a whole batch with one artifact at one level.

    Args:
        images: Float images ``(B, C, H, W)`` in [-1, 1], on any device.
        artifact: The artifact (or its name).
        level: Its level; any valid value, not only those of :data:`ARTIFACT_LEVELS`.
        generator: Random source on ``images.device`` for the random artifacts
            (Gaussian noise, occlusion position); the global one if ``None``.

    Returns:
        A new tensor of the same shape, dtype and device, clipped to [-1, 1].
        It carries no gradient: the noisy image is an input, not a model output.

    Raises:
        ValueError: for malformed images, an unknown artifact or an invalid level.

    Example:
        >>> images = torch.tensor([-1.0, 0.0, 0.5]).reshape(1, 3, 1, 1)
        >>> apply_artifact(images, Artifact.BRIGHTNESS, 1.5).flatten().tolist()
        [-1.0, 0.5, 1.0]
        >>> [round(v, 3) for v in apply_artifact(images, "grayscale", 1.0).flatten().tolist()]
        [-0.242, -0.242, -0.242]
    """
    _check_images(images)
    artifact = Artifact(artifact)
    level = float(level)
    with torch.no_grad():
        work = images.to(_work_dtype(images.dtype))
        if images.shape[0] == 0:
            return images.clone()
        return _apply(work, artifact, level, generator).clamp_(-1.0, 1.0).to(images.dtype)


def _draw(
    batch: int, config: NoiseConfig, device: torch.device, generator: torch.Generator | None
) -> tuple[Tensor, Tensor]:
    """Draw each sample's artifact index into ``config.artifacts`` (-1: clean) and level index."""
    clean = torch.rand(batch, generator=generator, device=device) < config.clean_probability
    if not config.artifacts:
        return torch.full((batch,), -1, device=device), torch.zeros(batch, dtype=torch.long, device=device)
    artifact = torch.randint(0, len(config.artifacts), (batch,), generator=generator, device=device)
    # Artifacts have different numbers of levels: scale one uniform draw by the chosen artifact's count.
    counts = torch.tensor([len(a.levels) for a in config.artifacts], device=device)[artifact]
    u = torch.rand(batch, generator=generator, device=device)
    level = torch.minimum((u * counts).long(), counts - 1)
    return torch.where(clean, -1, artifact), level


def add_noise(images: Tensor, config: NoiseConfig = NoiseConfig(), generator: torch.Generator | None = None) -> Tensor:
    """Degrade each sample of a batch as the noise model says.

    Each sample stays clean with probability ``config.clean_probability``;
    otherwise it gets one artifact drawn uniformly from ``config.artifacts``
    at one of its levels drawn uniformly. Samples sharing an (artifact,
    level) are processed together, so the work is a handful of batched
    operations whatever the batch size.

    Args:
        images: Float images ``(B, C, H, W)`` in [-1, 1] on any device, any
            memory format (``channels_last`` too).
        config: The noise model.
        generator: Random source on ``images.device``; with a seeded one the
            result is reproducible. The global one if ``None``.

    Returns:
        A new tensor of the same shape, dtype and device; clean samples are
        copied unchanged, degraded ones are clipped to [-1, 1]. It carries no
        gradient.

    Raises:
        ValueError: for malformed images.

    Example:
        >>> generator = torch.Generator().manual_seed(0)
        >>> noisy = add_noise(torch.zeros(100, 3, 8, 8), NoiseConfig(0.5, ("brightness",)), generator)
        >>> sorted({round(v, 2) for v in noisy[:, 0, 0, 0].tolist()})  # clean, or one of three factors
        [-0.25, 0.0, 0.25, 0.5]
    """
    _check_images(images)
    with torch.no_grad():
        out = images.clone()
        if images.shape[0] == 0:
            return out
        artifact, level = _draw(images.shape[0], config, images.device, generator)
        most_levels = max(len(a.levels) for a in Artifact)
        group = torch.where(artifact < 0, -1, artifact * most_levels + level)
        # One device-to-host copy decides the <= 18 groups; the pixels stay on the device.
        for code in torch.unique(group.cpu()).tolist():
            if code < 0:
                continue
            chosen = config.artifacts[code // most_levels]
            index = (group == code).nonzero().squeeze(1)
            level_value = chosen.levels[code % most_levels]
            degraded = apply_artifact(images.index_select(0, index), chosen, level_value, generator)
            out.index_copy_(0, index, degraded)
        return out
