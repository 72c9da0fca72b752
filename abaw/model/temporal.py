"""Temporal models over per-frame features, registered by name: ``create_model("tcn", input_dim=48)``.

Every model maps ``(B, T, F)`` inputs, ``(B, T)`` has-face flags and a
``(B, T)`` valid mask (false on padding) to ``(B, T, 2)`` valence and
arousal. A shared :class:`TemporalModel` wraps each trained body: frames
without a face get a learned "missing" vector in place of their visual
features and a mask channel, then a linear projection feeds the body, and a
linear head with ``tanh`` reads it out. Padding never reaches a real frame's
output: the TCN zeroes padded steps before each convolution, the GRU packs
the sequences, the Transformer masks padded keys.

``ridge`` is the floor the others are measured against: a linear map
(:class:`LinearTemporalModel`) over each frame's features and their means over
windows around it (:func:`windowed_features`), its coefficients fitted in
closed form by the temporal trainer (scikit-learn's ridge regression) and
kept as tensors, so its checkpoints load as every other's.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from abaw.model.registry import ModelFamily, register_model, register_network


@dataclass
class TemporalModelConfig:
    """What to build: a registered temporal body and its sizes.

    Attributes:
        variant: The registered name (``tcn``, ``gru``, ``transformer``).
        input_dim: Feature columns per frame.
        visual_dim: How many of them (the first) are visual, replaced by the missing vector without a face.
        hidden: Width of the body.
        layers: Residual blocks (TCN), recurrent layers (GRU) or encoder layers (Transformer).
        dropout: Dropout inside the body.
        kernel: Convolution width (TCN).
        heads: Attention heads (Transformer); ``hidden`` must be divisible by it.
        causal: TCN only: each frame sees only itself and the past.
        sources: Widths of the feature sources in column order (they sum to ``input_dim``): each is projected
            to ``hidden`` and layer-normalised on its own, and the projections are averaged. Empty: one
            projection of every column (checkpoints from before).
        source_dropout: In training, the chance that a source is left out of a window (the others' mean
            stands for it), so that no source is relied on alone.
    """

    variant: str
    input_dim: int
    visual_dim: int = 0
    hidden: int = 128
    layers: int = 4
    dropout: float = 0.1
    kernel: int = 3
    heads: int = 4
    causal: bool = False
    sources: tuple[int, ...] = ()
    source_dropout: float = 0.0

    def __post_init__(self) -> None:
        self.sources = tuple(int(width) for width in self.sources)
        if self.sources and (sum(self.sources) != self.input_dim or min(self.sources) < 1):
            raise ValueError(f"source widths {list(self.sources)} do not add up to input_dim {self.input_dim}")
        if not 0 <= self.source_dropout < 1:
            raise ValueError(f"source_dropout must be in [0, 1), got {self.source_dropout}")
        if self.variant not in _BODIES:
            raise ValueError(f"unknown temporal model {self.variant!r}; known: {', '.join(sorted(_BODIES))}")
        if self.input_dim < 1 or not 0 <= self.visual_dim <= self.input_dim:
            raise ValueError(f"input_dim {self.input_dim} and visual_dim {self.visual_dim} do not fit")
        for name in ("hidden", "layers", "kernel", "heads"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    def to_dict(self) -> dict[str, Any]:
        """Plain values (for the checkpoint)."""
        return {**dataclasses.asdict(self), "sources": list(self.sources)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TemporalModelConfig:
        """Rebuild a config saved by :meth:`to_dict` (checkpoints from before the registry name it ``name``).

        Example:
            >>> TemporalModelConfig.from_dict({"name": "gru", "input_dim": 4}).variant
            'gru'
        """
        values = dict(values)
        if "name" in values:
            values["variant"] = values.pop("name")
        return cls(**values)


class TemporalModel(nn.Module):
    """Missing-face input, projection, a registered body, and the ``tanh`` valence-arousal head.

    Example:
        >>> model = TemporalModel(TemporalModelConfig("tcn", input_dim=6, visual_dim=4, hidden=8, layers=1))
        >>> model(torch.zeros(2, 5, 6), torch.ones(2, 5, dtype=torch.bool), torch.ones(2, 5, dtype=torch.bool)).shape
        torch.Size([2, 5, 2])
    """

    def __init__(self, config: TemporalModelConfig):
        # The body draws its initial weights first, so that a seed gives the weights it gave before the registry.
        body = _BODIES[config.variant](config)
        super().__init__()
        self.config = config
        self.missing = nn.Parameter(torch.zeros(config.visual_dim))
        if config.sources:
            self.fusion: nn.Module = SourceFusion(config.sources, config.hidden, config.source_dropout)
        else:
            self.project = nn.Linear(config.input_dim + 1, config.hidden)
        self.body = body
        self.head = nn.Linear(config.hidden, 2)

    def forward(self, inputs: Tensor, has_face: Tensor, valid: Tensor) -> Tensor:
        """``(B, T, 2)`` valence and arousal of ``(B, T, F)`` inputs."""
        visual = self.config.visual_dim
        face = has_face.unsqueeze(-1)
        seen = torch.where(face, inputs[..., :visual], self.missing.to(inputs.dtype))
        features = torch.cat([seen, inputs[..., visual:], face.to(inputs.dtype)], dim=-1)
        projected = self.fusion(features) if self.config.sources else self.project(features)
        hidden = self.body(projected, valid)
        return torch.tanh(self.head(hidden))


class SourceFusion(nn.Module):
    """Each source projected and layer-normalised on its own, the projections averaged.

    The last input column is the face flag, added through its own
    projection. A wide source cannot drown a narrow one: every source
    enters at the same scale. In training a source is left out of a window
    with probability ``dropout`` (at least one always stays), and the mean
    is taken over the sources kept.

    Example:
        >>> fusion = SourceFusion((3, 2), hidden=4, dropout=0.5)
        >>> fusion(torch.zeros(2, 5, 6)).shape
        torch.Size([2, 5, 4])
    """

    def __init__(self, widths: Sequence[int], hidden: int, dropout: float):
        super().__init__()
        self.widths = tuple(widths)
        self.dropout = dropout
        self.projections = nn.ModuleList(nn.Linear(width, hidden) for width in self.widths)
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in self.widths)
        self.face = nn.Linear(1, hidden)

    def forward(self, features: Tensor) -> Tensor:
        parts = torch.split(features[..., :-1], self.widths, dim=-1)
        projected = torch.stack(
            [norm(project(part)) for part, project, norm in zip(parts, self.projections, self.norms, strict=True)],
            dim=-2,
        )  # (B, T, sources, hidden)
        keep = torch.ones(projected.shape[0], 1, len(self.widths), 1, dtype=projected.dtype, device=projected.device)
        if self.training and self.dropout > 0 and len(self.widths) > 1:
            keep = (torch.rand_like(keep) >= self.dropout).to(projected.dtype)
            # A window that lost every source keeps one of them, drawn at random.
            lost = keep.sum(dim=2, keepdim=True) == 0
            chosen = nn.functional.one_hot(
                torch.randint(len(self.widths), (keep.shape[0],), device=keep.device), len(self.widths)
            ).to(keep.dtype)
            keep = torch.where(lost, chosen.view_as(keep), keep)
        fused = (projected * keep).sum(dim=2) / keep.sum(dim=2)
        return fused + self.face(features[..., -1:])


class _TemporalBlock(nn.Module):
    """Two dilated convolutions with a residual connection; padded steps are zeroed before each."""

    def __init__(self, width: int, kernel: int, dilation: int, dropout: float, causal: bool):
        super().__init__()
        span = (kernel - 1) * dilation
        self.pad = (span, 0) if causal else (span // 2, span - span // 2)
        self.first = nn.Conv1d(width, width, kernel, dilation=dilation)
        self.second = nn.Conv1d(width, width, kernel, dilation=dilation)
        self.norm = nn.LayerNorm(width)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, valid: Tensor) -> Tensor:
        keep = valid.unsqueeze(1).to(x.dtype)  # (B, 1, T)
        y = x.transpose(1, 2) * keep
        y = self.drop(torch.relu(self.first(nn.functional.pad(y, self.pad))))
        y = self.drop(torch.relu(self.second(nn.functional.pad(y * keep, self.pad))))
        return self.norm(x + y.transpose(1, 2))


class TemporalConvNet(nn.Module):
    """Residual blocks with dilations 1, 2, 4, ... (receptive field grows exponentially with depth)."""

    def __init__(self, config: TemporalModelConfig):
        super().__init__()
        self.blocks = nn.ModuleList(
            _TemporalBlock(config.hidden, config.kernel, 2**layer, config.dropout, config.causal)
            for layer in range(config.layers)
        )

    def forward(self, x: Tensor, valid: Tensor) -> Tensor:
        for block in self.blocks:
            x = block(x, valid)
        return x


class BidirectionalGRU(nn.Module):
    """A bidirectional GRU over the valid frames only (packed), projected back to ``hidden``."""

    def __init__(self, config: TemporalModelConfig):
        super().__init__()
        dropout = config.dropout if config.layers > 1 else 0.0
        self.gru = nn.GRU(
            config.hidden, config.hidden, config.layers, batch_first=True, bidirectional=True, dropout=dropout
        )
        self.out = nn.Linear(2 * config.hidden, config.hidden)

    def forward(self, x: Tensor, valid: Tensor) -> Tensor:
        # Windows are padded at the end only, so the valid count is each row's length.
        lengths = valid.sum(dim=1).clamp(min=1).cpu()
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        output, _ = self.gru(packed)
        unpacked, _ = pad_packed_sequence(output, batch_first=True, total_length=x.shape[1])
        return self.out(unpacked)


class PositionalEncoding(nn.Module):
    """The sinusoidal encoding of "Attention is all you need", added to the inputs."""

    def __init__(self, width: int, length: int = 4096):
        super().__init__()
        position = torch.arange(length).unsqueeze(1)
        scale = torch.exp(torch.arange(0, width, 2) * (-math.log(10000.0) / width))
        table = torch.zeros(length, width)
        table[:, 0::2] = torch.sin(position * scale)
        table[:, 1::2] = torch.cos(position * scale)[:, : width // 2]
        self.register_buffer("table", table, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[1] > self.table.shape[0]:
            raise ValueError(f"windows of {x.shape[1]} frames exceed the positional table ({self.table.shape[0]})")
        return x + self.table[: x.shape[1]].to(x.dtype)


class TransformerEncoderBody(nn.Module):
    """A Transformer encoder with positional encoding; padded frames are masked as keys."""

    def __init__(self, config: TemporalModelConfig):
        super().__init__()
        if config.hidden % config.heads:
            raise ValueError(f"hidden {config.hidden} is not divisible by heads {config.heads}")
        self.position = PositionalEncoding(config.hidden)
        layer = nn.TransformerEncoderLayer(
            config.hidden, config.heads, 2 * config.hidden, config.dropout, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)

    def forward(self, x: Tensor, valid: Tensor) -> Tensor:
        return self.encoder(self.position(x), src_key_padding_mask=~valid)


_BODIES: dict[str, Callable[[TemporalModelConfig], nn.Module]] = {
    "tcn": TemporalConvNet,
    "gru": BidirectionalGRU,
    "transformer": TransformerEncoderBody,
}


register_network(TemporalModelConfig, TemporalModel)


@dataclass
class LinearTemporalConfig:
    """A linear map over each frame's features and their windowed means (the ``ridge`` floor).

    Attributes:
        variant: The registered name (``ridge``).
        input_dim: Feature columns per frame.
        visual_dim: How many of them (the first) are visual (averaged over the frames with a face only).
        spans: Half-widths of the windows averaged around each frame: span 7 is the frame and 7 on each side.
    """

    variant: str
    input_dim: int
    visual_dim: int = 0
    spans: tuple[int, ...] = (7,)

    def __post_init__(self) -> None:
        self.spans = tuple(int(span) for span in self.spans)
        if self.input_dim < 1 or not 0 <= self.visual_dim <= self.input_dim:
            raise ValueError(f"input_dim {self.input_dim} and visual_dim {self.visual_dim} do not fit")
        if any(span < 1 for span in self.spans) or len(set(self.spans)) != len(self.spans):
            raise ValueError(f"spans must be distinct whole numbers of at least 1, got {list(self.spans)}")

    @property
    def feature_dim(self) -> int:
        """Columns the linear map reads: the frame's inputs and face flag, then the same averaged over each span."""
        return (self.input_dim + 1) * (1 + len(self.spans))

    def to_dict(self) -> dict[str, Any]:
        """Plain values (for the checkpoint)."""
        return {**dataclasses.asdict(self), "spans": list(self.spans)}


def windowed_features(inputs: Tensor, has_face: Tensor, valid: Tensor, visual_dim: int, spans: Sequence[int]) -> Tensor:
    """``(B, T, (F + 1) * (1 + len(spans)))``: each frame's inputs and face flag, then their means around it.

    For each span ``s`` the window is frames ``t - s .. t + s`` of the valid
    ones: visual columns are averaged over the frames with a face in it (zero
    when there is none), the others over every valid frame, and the face flag
    gives the share of frames with a face. A frame at least ``s`` frames from
    both ends of a window sees the same values as in the whole sequence.

    Example:
        >>> x = torch.tensor([[[1.0], [2.0], [3.0], [0.0]]])
        >>> face, valid = torch.tensor([[True, True, True, False]]), torch.ones(1, 4, dtype=torch.bool)
        >>> windowed_features(x, face, valid, 1, [1])[0, :, 2].tolist()  # the visual mean over +-1 frame
        [1.5, 2.0, 2.5, 3.0]
    """
    width = inputs.shape[-1]
    keep = valid.to(inputs.dtype).unsqueeze(-1)
    face = (has_face & valid).to(inputs.dtype).unsqueeze(-1)
    frame = torch.cat([inputs * keep, face], dim=-1)
    parts = [frame]
    for span in spans:
        sums = _box_sums(torch.cat([frame, keep], dim=-1), span)
        faces, frames = sums[..., width : width + 1], sums[..., width + 1 :].clamp(min=1.0)
        visual = sums[..., :visual_dim] / faces.clamp(min=1.0)
        parts.append(torch.cat([visual, sums[..., visual_dim:width] / frames, faces / frames], dim=-1))
    return torch.cat(parts, dim=-1)


def _box_sums(values: Tensor, span: int) -> Tensor:
    """Sums of ``(B, T, C)`` values over frames ``t - span .. t + span`` (zeros beyond the ends)."""
    width = 2 * span + 1
    pooled = nn.functional.avg_pool1d(values.transpose(1, 2), width, stride=1, padding=span, count_include_pad=True)
    return pooled.transpose(1, 2) * width


class LinearTemporalModel(nn.Module):
    """``windowed_features(...) @ weight.T + bias``: no trainable parameter; the trainer fits ``weight`` and ``bias``.

    Example:
        >>> model = LinearTemporalModel(LinearTemporalConfig("ridge", input_dim=3, visual_dim=2, spans=(2,)))
        >>> model.weight.shape, model.context
        (torch.Size([2, 8]), 2)
    """

    def __init__(self, config: LinearTemporalConfig):
        super().__init__()
        self.config = config
        self.register_buffer("weight", torch.zeros(2, config.feature_dim))
        self.register_buffer("bias", torch.zeros(2))

    @property
    def context(self) -> int:
        """Frames on each side a frame's output depends on (inference keeps them inside its windows)."""
        return max(self.config.spans, default=0)

    def features(self, inputs: Tensor, has_face: Tensor, valid: Tensor) -> Tensor:
        """The columns the linear map reads (see :func:`windowed_features`)."""
        return windowed_features(inputs, has_face, valid, self.config.visual_dim, self.config.spans)

    def forward(self, inputs: Tensor, has_face: Tensor, valid: Tensor) -> Tensor:
        """``(B, T, 2)`` valence and arousal (unbounded; predictions are clipped where they are written)."""
        return self.features(inputs, has_face, valid) @ self.weight.T.to(inputs.dtype) + self.bias.to(inputs.dtype)


register_network(LinearTemporalConfig, LinearTemporalModel)


def temporal_model_config(values: dict[str, Any]) -> TemporalModelConfig | LinearTemporalConfig:
    """The config of a temporal model saved by its ``to_dict`` (a checkpoint's ``model_config``).

    Example:
        >>> type(temporal_model_config({"variant": "ridge", "input_dim": 4, "spans": [3]})).__name__
        'LinearTemporalConfig'
    """
    values = dict(values)
    if values.get("variant") == "ridge":
        return LinearTemporalConfig(**{**values, "spans": tuple(values.get("spans", (7,)))})
    return TemporalModelConfig.from_dict(values)


def _temporal(variant: str, overrides: dict[str, Any]) -> TemporalModelConfig:
    return TemporalModelConfig(variant=variant, **{"input_dim": 1, **overrides})


@register_model("tcn", family=ModelFamily.TEMPORAL)
def tcn(**overrides: Any) -> TemporalModelConfig:
    """A temporal convolutional network: residual blocks with dilations 1, 2, 4, ..."""
    return _temporal("tcn", overrides)


@register_model("gru", family=ModelFamily.TEMPORAL)
def gru(**overrides: Any) -> TemporalModelConfig:
    """A bidirectional GRU over the valid frames."""
    return _temporal("gru", overrides)


@register_model("transformer", family=ModelFamily.TEMPORAL)
def transformer(**overrides: Any) -> TemporalModelConfig:
    """A Transformer encoder with sinusoidal positions; padded frames masked."""
    return _temporal("transformer", overrides)


@register_model("ridge", family=ModelFamily.TEMPORAL)
def ridge(**overrides: Any) -> LinearTemporalConfig:
    """A ridge regression over each frame's features and their windowed means: the floor of the others."""
    return LinearTemporalConfig(variant="ridge", **{"input_dim": 1, **overrides})
