"""Temporal models over per-frame features, registered by name: ``create_model("tcn", input_dim=48)``.

Every model maps ``(B, T, F)`` inputs, ``(B, T)`` has-face flags and a
``(B, T)`` valid mask (false on padding) to ``(B, T, 2)`` valence and
arousal in [-1, 1]. A shared :class:`TemporalModel` wraps each body: frames
without a face get a learned "missing" vector in place of their visual
features and a mask channel, then a linear projection feeds the body, and a
linear head with ``tanh`` reads it out. Padding never reaches a real frame's
output: the TCN zeroes padded steps before each convolution, the GRU packs
the sequences, the Transformer masks padded keys.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
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

    def __post_init__(self) -> None:
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
        return dataclasses.asdict(self)

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
        self.project = nn.Linear(config.input_dim + 1, config.hidden)
        self.body = body
        self.head = nn.Linear(config.hidden, 2)

    def forward(self, inputs: Tensor, has_face: Tensor, valid: Tensor) -> Tensor:
        """``(B, T, 2)`` valence and arousal of ``(B, T, F)`` inputs."""
        visual = self.config.visual_dim
        face = has_face.unsqueeze(-1)
        seen = torch.where(face, inputs[..., :visual], self.missing.to(inputs.dtype))
        features = torch.cat([seen, inputs[..., visual:], face.to(inputs.dtype)], dim=-1)
        hidden = self.body(self.project(features), valid)
        return torch.tanh(self.head(hidden))


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
