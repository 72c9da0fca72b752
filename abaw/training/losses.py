"""The ALN's adversarial losses: the WGAN-GP terms (StarGAN style) and the cycle loss.

The affect loss both trainers share is :mod:`abaw.fitting.affect_loss`.

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

from abaw.fitting.affect_loss import at_least_float32

__all__ = ["critic_loss", "cycle_loss", "drift_penalty", "generator_adversarial_loss", "gradient_penalty"]


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
    flat = torch.cat([at_least_float32(g).reshape(batch, -1) for g in grads], dim=1)
    # vector_norm's gradient at a zero vector is 0, not NaN as sqrt(sum(g^2)) would give.
    norm = torch.linalg.vector_norm(flat, dim=1)
    return ((norm - 1.0) ** 2).mean()


def critic_loss(real_src: Tensor, fake_src: Tensor) -> Tensor:
    """Wasserstein critic loss ``-mean(real) + mean(fake)`` (the fake detached by the caller).

    Example:
        >>> critic_loss(torch.tensor([2.0, 4.0]), torch.tensor([1.0])).item()
        -2.0
    """
    return -at_least_float32(real_src).mean() + at_least_float32(fake_src).mean()


def generator_adversarial_loss(fake_src: Tensor) -> Tensor:
    """The generator's adversarial loss ``-mean(fake)``.

    Example:
        >>> generator_adversarial_loss(torch.tensor([[1.0, 2.0], [3.0, 6.0]])).item()
        -3.0
    """
    return -at_least_float32(fake_src).mean()


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
    return (at_least_float32(clean) - at_least_float32(twice_cleaned)).abs().mean()


def drift_penalty(real_scores: Tensor) -> Tensor:
    """ProGAN's drift penalty ``mean(D_src(x_r)^2)``: keeps the critic's scores of real images near zero.

    Example:
        >>> drift_penalty(torch.tensor([1.0, -3.0])).item()
        5.0
    """
    return at_least_float32(real_scores).square().mean()
