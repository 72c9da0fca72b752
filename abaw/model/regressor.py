"""The baseline: a plain timm network regressing (valence, arousal) from the face."""

from __future__ import annotations

from os import PathLike

import torch
from torch import Tensor, nn

from abaw.model.backbone import create_timm, load_backbone_weights
from abaw.model.config import VaHead


class TimmRegressor(nn.Module):
    """Image -> (None, va): a timm model with two outputs, trained on the affect loss alone.

    It answers like a discriminator (``src`` is None since it is not
    adversarial) so the same training and inference code drives it.

    Args:
        backbone: A timm model name.
        weights: A local file of weights (a classifier head of another size is skipped).
        in_chans: Input channels.
        va_head: Unbounded or tanh-bounded (valence, arousal).

    Attributes:
        weights_report: What loading ``weights`` did, or None without weights.

    Example:
        >>> src, va = TimmRegressor("test_resnet", va_head=VaHead.TANH)(torch.zeros(2, 3, 32, 32))
        >>> src is None, tuple(va.shape), bool(va.abs().max() <= 1)
        (True, (2, 2), True)
    """

    def __init__(
        self,
        backbone: str,
        weights: str | PathLike | None = None,
        in_chans: int = 3,
        va_head: VaHead = VaHead.LINEAR,
    ):
        super().__init__()
        self.backbone = backbone
        self.in_chans = in_chans
        self.va_head_kind = VaHead(va_head)
        self.net = create_timm(backbone, num_classes=2, in_chans=in_chans)
        self.weights_report = None if weights is None else load_backbone_weights(self.net, weights, backbone)

    def forward(self, image: Tensor, latent: Tensor | None = None, audio: Tensor | None = None) -> tuple[None, Tensor]:
        """Return ``(None, va)``; a latent or audio is an error (the regressor takes neither)."""
        if image.dim() != 4 or image.shape[1] != self.in_chans:
            raise ValueError(
                f"the regressor takes images of shape (B, {self.in_chans}, H, W), got {tuple(image.shape)}"
            )
        if latent is not None or audio is not None:
            raise ValueError(f"the regressor ({self.backbone}) takes neither a latent nor audio")
        va = self.net(image)
        return None, torch.tanh(va) if self.va_head_kind is VaHead.TANH else va

    def features(self, image: Tensor, latent: Tensor | None = None, audio: Tensor | None = None) -> Tensor:
        """The network's pooled features before its final layer (timm's pre-logits), (B, num_features)."""
        if latent is not None or audio is not None:
            raise ValueError(f"the regressor ({self.backbone}) takes neither a latent nor audio")
        return self.net.forward_head(self.net.forward_features(image), pre_logits=True)
