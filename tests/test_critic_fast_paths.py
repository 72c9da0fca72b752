"""The CPU speed-ups (one critic pass over real and fake; the last critic layer as a matrix product) change no value."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from abaw.data.samples import Batch
from abaw.model import create_model
from abaw.model.cd import SmallMapConv2d
from abaw.runtime.devices import Distributed
from abaw.training.config import TrainConfig
from abaw.training.solver import Solver, has_batch_norm

BATCH = 6


def _solver(variant: str, joint_critic: bool) -> Solver:
    torch.manual_seed(0)
    model = create_model(variant, **({"audio_dim": 5} if "sz" in variant else {}))
    config = TrainConfig.from_dict({"variant": variant, "precision": "fp32", "n_critic": 1})
    solver = Solver(model, config, torch.rand(2, 21, generator=torch.Generator().manual_seed(3)) + 0.5, Distributed())
    solver.joint_critic = joint_critic
    return solver


def _batch(variant: str) -> Batch:
    generator = torch.Generator().manual_seed(1)
    images = torch.rand(BATCH, 3, 112, 112, generator=generator) * 2 - 1
    targets = torch.rand(BATCH, 2, generator=generator) * 2 - 1
    audio = torch.randn(BATCH, 5, generator=generator) if "sz" in variant else None
    return Batch(images, targets, audio)


def _step_with_gradients(solver: Solver, batch: Batch) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """One D step; its loss terms and the critic's gradients (left in ``.grad`` by the update)."""
    solver.seed_noise(7)
    losses = solver.discriminator_step(batch)
    gradients = {name: parameter.grad.clone() for name, parameter in solver.model.discriminator.named_parameters()}
    return {key: value.item() for key, value in losses.items()}, gradients


@pytest.mark.parametrize("variant", ["aeg-cd-tiny", "aeg-cd-sz-tiny"])
def test_one_critic_pass_over_real_and_fake_equals_two(variant):
    batch = _batch(variant)
    joint_losses, joint_gradients = _step_with_gradients(_solver(variant, joint_critic=True), batch)
    split_losses, split_gradients = _step_with_gradients(_solver(variant, joint_critic=False), batch)
    assert joint_losses.keys() == split_losses.keys()
    for key, value in split_losses.items():
        assert joint_losses[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
    for name, gradient in split_gradients.items():
        # The stacked pass sums the batch's gradients in another order: float32 rounding only.
        torch.testing.assert_close(joint_gradients[name], gradient, rtol=1e-4, atol=1e-4, msg=name)


def test_batch_norm_critics_keep_separate_passes():
    assert not has_batch_norm(create_model("aeg-cd-tiny").discriminator)
    assert has_batch_norm(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4)))


@pytest.mark.parametrize(("side", "bias"), [(4, True), (4, False), (7, True)])
def test_small_map_convolution_equals_conv2d_up_to_the_double_backward(side, bias):
    generator = torch.Generator().manual_seed(side)
    conv = SmallMapConv2d(6, 5, 4, 2, 1, bias=bias)
    x = torch.randn(3, 6, side, side, generator=generator, requires_grad=True)

    def penalty_like(forward):
        """Output, input gradient (create_graph) and the weight gradients of a WGAN-GP-like loss."""
        conv.zero_grad(set_to_none=True)
        out = forward(x)
        (grad,) = torch.autograd.grad(out.square().sum(), x, create_graph=True)
        (grad.square().sum() + out.mean()).backward()
        return [out, grad] + [parameter.grad.clone() for parameter in conv.parameters()]

    plain = penalty_like(lambda image: F.conv2d(image, conv.weight, conv.bias, conv.stride, conv.padding))
    for got, expected in zip(penalty_like(conv), plain, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_the_critics_last_layer_is_the_matrix_product_convolution():
    critic = create_model("aeg-cd").discriminator
    assert isinstance(critic.upper[-2], SmallMapConv2d)
    assert sum(isinstance(layer, SmallMapConv2d) for layer in critic.modules()) == 1
