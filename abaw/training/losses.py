"""The ALN losses: the affect loss (eq. 5-8) and the WGAN-GP terms (StarGAN style).

Affect loss, for each of valence and arousal, summed over the two::

    sqrt(mean(w * (pred - y)^2) + eps) - PCC(pred, y) - CCC(pred, y)

with population (biased) statistics over the batch, as the challenge metric
(:mod:`abaw.scoring.metrics`) uses. The statistics are computed in float32 at
least, whatever the prediction's dtype (bf16 under autocast, say).

Adversarial terms (critic ``D``, generator ``G``)::

    critic_loss                = -mean(D(real)) + mean(D(fake))
    generator_adversarial_loss = -mean(D(fake))
    gradient_penalty           = mean((||grad D(x_hat)|| - 1)^2),  x_hat = a real + (1 - a) fake
    cycle_loss                 = mean|clean - G(G(noisy))|
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

__all__ = [
    "DIMENSIONS",
    "affect_loss",
    "batch_ccc",
    "batch_pcc",
    "critic_loss",
    "cycle_loss",
    "generator_adversarial_loss",
    "gradient_penalty",
]

DIMENSIONS = ("valence", "arousal")
"""The affect dimensions, in column order."""


def _up(x: Tensor) -> Tensor:
    """Half and bfloat16 tensors cast up to float32; float32 and float64 kept."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def _check_pair(pred: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    if pred.ndim != 2 or pred.shape[1] != 2 or pred.shape != target.shape:
        raise ValueError(
            f"expected pred and target of one shape (B, 2), got {tuple(pred.shape)} and {tuple(target.shape)}"
        )
    if pred.shape[0] == 0:
        raise ValueError("empty batch")
    dtype = torch.promote_types(_up(pred).dtype, _up(target).dtype)
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
            (see :func:`abaw.training.class_weights.sample_weights`); 1 if ``None``.
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


def _as_tuple(tensors: Sequence[Tensor] | Tensor) -> tuple[Tensor, ...]:
    return (tensors,) if isinstance(tensors, Tensor) else tuple(tensors)


def gradient_penalty(
    critic: Callable[..., Tensor],
    real: Sequence[Tensor],
    fake: Sequence[Tensor],
    generator: torch.Generator | None = None,
) -> Tensor:
    """WGAN-GP penalty on points between real and fake inputs.

    One ``alpha ~ U[0, 1)`` is drawn per sample and shared by all the
    critic's inputs (the image and the latent injected into the critic move
    together along the segment). The critic is called on the interpolated
    inputs; the gradient of the sum of its outputs (any shape: a patch map
    sums its patches) with respect to all of them is flattened and
    concatenated per sample, and the penalty is ``mean((norm - 1)^2)``.

    The graph is kept (``create_graph=True``) so the penalty can be
    back-propagated into the critic's weights. Every input must reach the
    critic's output: an unused one raises torch's error.

    Args:
        critic: Called as ``critic(*x_hats)``.
        real: The real inputs, in the critic's argument order; a single
            tensor is accepted too. Detached before use.
        fake: The fake inputs, same shapes as ``real``. Detached before use.
        generator: Random source for ``alpha`` on the inputs' device.

    Returns:
        The scalar penalty (float32 at least).

    Raises:
        ValueError: for mismatched inputs.

    Example:
        >>> weight = torch.tensor([0.6, 0.8])
        >>> critic = lambda x: x @ weight  # gradient norm 1 everywhere
        >>> gradient_penalty(critic, [torch.randn(5, 2)], [torch.randn(5, 2)]).abs().item() < 1e-10
        True
    """
    reals, fakes = _as_tuple(real), _as_tuple(fake)
    if not reals or len(reals) != len(fakes):
        raise ValueError(f"expected as many real as fake inputs (at least one), got {len(reals)} and {len(fakes)}")
    for r, f in zip(reals, fakes, strict=True):
        if r.shape != f.shape:
            raise ValueError(f"real and fake inputs differ in shape: {tuple(r.shape)} and {tuple(f.shape)}")
    batch = reals[0].shape[0]
    if batch == 0 or any(r.ndim == 0 or r.shape[0] != batch for r in reals):
        raise ValueError("every input must have the same, non-zero batch size")
    alpha = torch.rand(batch, generator=generator, device=reals[0].device)
    x_hats = []
    for r, f in zip(reals, fakes, strict=True):
        a = alpha.to(r.dtype).reshape(batch, *([1] * (r.ndim - 1)))
        x_hats.append((a * r.detach() + (1.0 - a) * f.detach()).requires_grad_(True))
    out = critic(*x_hats)
    grads = torch.autograd.grad(outputs=out, inputs=x_hats, grad_outputs=torch.ones_like(out), create_graph=True)
    flat = torch.cat([_up(g).reshape(batch, -1) for g in grads], dim=1)
    # vector_norm's gradient at a zero vector is 0, not NaN as sqrt(sum(g^2)) would give.
    norm = torch.linalg.vector_norm(flat, dim=1)
    return ((norm - 1.0) ** 2).mean()


def critic_loss(real_src: Tensor, fake_src: Tensor) -> Tensor:
    """Wasserstein critic loss ``-mean(real) + mean(fake)`` (the fake detached by the caller).

    Example:
        >>> critic_loss(torch.tensor([2.0, 4.0]), torch.tensor([1.0])).item()
        -2.0
    """
    return -_up(real_src).mean() + _up(fake_src).mean()


def generator_adversarial_loss(fake_src: Tensor) -> Tensor:
    """The generator's adversarial loss ``-mean(fake)``.

    Example:
        >>> generator_adversarial_loss(torch.tensor([[1.0, 2.0], [3.0, 6.0]])).item()
        -3.0
    """
    return -_up(fake_src).mean()


def cycle_loss(clean: Tensor, twice_cleaned: Tensor) -> Tensor:
    """Cycle (reconstruction) loss ``mean|clean - G(G(noisy))|`` (the paper's eq. 2).

    Raises:
        ValueError: if the shapes differ (broadcasting would hide a bug).

    Example:
        >>> cycle_loss(torch.zeros(2, 3), torch.full((2, 3), -0.5)).item()
        0.5
    """
    if clean.shape != twice_cleaned.shape:
        raise ValueError(f"shapes differ: {tuple(clean.shape)} and {tuple(twice_cleaned.shape)}")
    return (_up(clean) - _up(twice_cleaned)).abs().mean()


def drift_penalty(real_scores: Tensor) -> Tensor:
    """ProGAN's drift penalty ``mean(D_src(x_r)^2)``: keeps the critic's scores of real images near zero.

    Example:
        >>> drift_penalty(torch.tensor([1.0, -3.0])).item()
        5.0
    """
    return _up(real_scores).square().mean()
