"""The affect loss of both trainers (the paper's eq. 5-8): per dimension, weighted RMSE minus PCC minus CCC.

For each of valence and arousal, summed over the two::

    sqrt(mean(w * (pred - y)^2) + eps) - PCC(pred, y) - CCC(pred, y)

with population (biased) statistics over the batch, as the challenge metric
(:mod:`abaw.scoring.metrics`) uses. The statistics are computed in float32 at
least, whatever the prediction's dtype (bf16 under autocast, say). The
weights ``w`` are the class-balanced ones of :mod:`abaw.fitting.class_weights`.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["DIMENSIONS", "affect_loss", "at_least_float32", "batch_ccc", "batch_pcc"]

DIMENSIONS = ("valence", "arousal")
"""The affect dimensions, in column order."""


def at_least_float32(x: Tensor) -> Tensor:
    """Half and bfloat16 tensors cast up to float32; float32 and float64 kept."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def _check_pair(pred: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    if pred.ndim != 2 or pred.shape[1] != 2 or pred.shape != target.shape:
        raise ValueError(
            f"expected pred and target of one shape (B, 2), got {tuple(pred.shape)} and {tuple(target.shape)}"
        )
    if pred.shape[0] == 0:
        raise ValueError("empty batch")
    dtype = torch.promote_types(at_least_float32(pred).dtype, at_least_float32(target).dtype)
    return pred.to(dtype), target.to(dtype)


def _moments(pred: Tensor, target: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Per-column means, population variances and covariance, from centred values for accuracy."""
    mean_p, mean_t = pred.mean(dim=0), target.mean(dim=0)
    dp, dt = pred - mean_p, target - mean_t
    return mean_p, mean_t, (dp * dp).mean(dim=0), (dt * dt).mean(dim=0), (dp * dt).mean(dim=0)


def batch_ccc(pred: Tensor, target: Tensor, eps: float = 1e-8) -> Tensor:
    """Concordance correlation coefficient of each column over the batch.

    ``2 cov / (var_p + var_y + (mean_p - mean_y)^2 + eps)`` with population
    statistics: the value of :func:`abaw.scoring.metrics.ccc` up to ``eps``,
    including 1.0 when both sides are the same constant. The ``eps`` keeps the
    gradient bounded when the denominator is tiny.

    Args:
        pred: ``(B, 2)`` predicted valence and arousal.
        target: ``(B, 2)`` labels.
        eps: Added to the denominator.

    Returns:
        ``(2,)`` tensor (float32 at least): valence CCC, arousal CCC.

    Raises:
        ValueError: for mismatched shapes or an empty batch.

    Example:
        >>> pred = torch.tensor([[0.2, 0.1], [0.3, 0.2], [0.4, 0.3]])
        >>> [round(v, 4) for v in batch_ccc(pred, torch.tensor([[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]])).tolist()]
        [0.5714, 1.0]
    """
    pred, target = _check_pair(pred, target)
    mean_p, mean_t, var_p, var_t, cov = _moments(pred, target)
    denominator = var_p + var_t + (mean_p - mean_t) ** 2
    value = 2.0 * cov / (denominator + eps)
    # Identical constants agree perfectly; the metric says 1.0 and so must this.
    return torch.where(denominator == 0, torch.ones_like(value), value)


def batch_pcc(pred: Tensor, target: Tensor, eps: float = 1e-8) -> Tensor:
    """Pearson correlation of each column over the batch.

    ``cov / (sqrt(var_p + eps) sqrt(var_y + eps))``: the value of
    :func:`abaw.scoring.metrics.pcc` up to ``eps``, except that a constant
    column gives 0 here (the metric says NaN), so the loss and its gradient
    stay finite.

    Returns:
        ``(2,)`` tensor (float32 at least): valence PCC, arousal PCC.

    Raises:
        ValueError: for mismatched shapes or an empty batch.

    Example:
        >>> pred = torch.tensor([[1.0, 0.5], [2.0, 0.5], [3.0, 0.5]])
        >>> [round(v, 4) for v in batch_pcc(pred, torch.tensor([[2.0, 1.0], [4.0, 2.0], [6.0, 3.0]])).tolist()]
        [1.0, 0.0]
    """
    pred, target = _check_pair(pred, target)
    _, _, var_p, var_t, cov = _moments(pred, target)
    return cov / (torch.sqrt(var_p + eps) * torch.sqrt(var_t + eps))


def affect_loss(
    pred: Tensor, target: Tensor, weights: Tensor | None = None, eps: float = 1e-8
) -> tuple[Tensor, dict[str, Tensor]]:
    """The affect loss L_afc: per dimension, weighted RMSE minus PCC minus CCC, summed.

    Args:
        pred: ``(B, 2)`` predicted valence and arousal (any float dtype; the
            loss is computed in float32 at least).
        target: ``(B, 2)`` labels, all annotated.
        weights: ``(B, 2)`` class-balanced weight per sample and dimension
            (see :func:`abaw.fitting.class_weights.sample_weights`); 1 if ``None``.
        eps: Guards the square root and the correlations' denominators.

    Returns:
        The scalar loss, and its terms as detached scalars keyed
        ``"rmse/valence"``, ``"pcc/valence"``, ``"ccc/valence"`` and the same
        for ``arousal``. The loss is ``sum(rmse - pcc - ccc)`` of those terms
        (``rmse`` includes ``eps`` under its root). A perfect prediction of a
        varied batch scores about -4.

    Raises:
        ValueError: for mismatched shapes or an empty batch.

    Example:
        >>> target = torch.tensor([[0.1, -0.2], [0.4, 0.3], [-0.5, 0.0]])
        >>> loss, terms = affect_loss(target.clone(), target)
        >>> round(loss.item(), 3), round(terms["ccc/arousal"].item(), 3)
        (-4.0, 1.0)
    """
    pred, target = _check_pair(pred, target)
    if weights is None:
        squared = (pred - target) ** 2
    else:
        if weights.shape != pred.shape:
            raise ValueError(f"expected weights of shape {tuple(pred.shape)}, got {tuple(weights.shape)}")
        squared = weights.to(pred.dtype) * (pred - target) ** 2
    rmse = torch.sqrt(squared.mean(dim=0) + eps)
    pcc = batch_pcc(pred, target, eps)
    ccc = batch_ccc(pred, target, eps)
    loss = (rmse - pcc - ccc).sum()
    terms: dict[str, Tensor] = {}
    for column, name in enumerate(DIMENSIONS):
        terms[f"rmse/{name}"] = rmse[column].detach()
        terms[f"pcc/{name}"] = pcc[column].detach()
        terms[f"ccc/{name}"] = ccc[column].detach()
    return loss, terms
