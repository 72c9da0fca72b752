"""The affect loss against the challenge metric, the WGAN-GP terms, and the class-balanced weights."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from abaw.data.bins import N_AFFECT_BINS, affect_bins
from abaw.fitting.affect_loss import affect_loss, batch_ccc, batch_pcc
from abaw.fitting.class_weights import class_balanced_weights, sample_weights
from abaw.scoring import metrics
from abaw.training.losses import (
    critic_loss,
    cycle_loss,
    generator_adversarial_loss,
    gradient_penalty,
)

TERMS = {"rmse/valence", "pcc/valence", "ccc/valence", "rmse/arousal", "pcc/arousal", "ccc/arousal"}


def random_pair(seed: int, n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    target = rng.uniform(-1, 1, (n, 2))
    pred = 0.6 * target + rng.normal(0.1, 0.3, (n, 2))
    return pred, target


# --- class_balanced_weights --------------------------------------------------------------------


def test_class_weights_hand_computed() -> None:
    labels = np.array([[0.0, -1.0], [0.0, 0.5], [0.0, 0.5], [1.0, 0.5]])
    weights = class_balanced_weights(labels)
    assert weights.shape == (2, N_AFFECT_BINS) and weights.dtype == np.float32
    # Valence: bins 10 (3 samples) and 20 (1); smoothed counts 4, 2 and 1 elsewhere, N = 25.
    # 1/p = 25/4, 25/2, 25; mean over the samples (3 * 25/4 + 25/2) / 4 = 125/16.
    scale = 125 / 16
    expected = np.full(N_AFFECT_BINS, 25 / scale)
    expected[10], expected[20] = 25 / 4 / scale, 25 / 2 / scale
    np.testing.assert_allclose(weights[0], expected, rtol=1e-6)
    # Arousal: bins 0 (1 sample) and 15 (3): the same counts in other bins.
    expected_arousal = np.full(N_AFFECT_BINS, 25 / scale)
    expected_arousal[15], expected_arousal[0] = 25 / 4 / scale, 25 / 2 / scale
    np.testing.assert_allclose(weights[1], expected_arousal, rtol=1e-6)


def test_class_weights_start_counts_at_zero_plus_one() -> None:
    # One sample: smoothed counts 2 in its bin and 1 in the 20 others, so its bin weighs half the others.
    # The authors' counts started at 0..20, which would make bin 0 weigh far more than bin 20.
    weights = class_balanced_weights(np.array([[0.0, 0.0]]))
    for row in weights:
        others = np.delete(row, 10)
        np.testing.assert_allclose(others, others[0])
        assert row[10] == pytest.approx(others[0] / 2)
        assert row[10] == pytest.approx(1.0)  # the mean over the one sample


@pytest.mark.parametrize("seed", range(3))
def test_mean_weight_over_the_training_samples_is_one(seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = np.clip(rng.normal(0.2, 0.3, (5000, 2)), -1, 1)
    weights = class_balanced_weights(labels)
    for dimension in range(2):
        per_sample = weights[dimension][affect_bins(labels[:, dimension])]
        assert per_sample.mean() == pytest.approx(1.0, rel=1e-6)
    # Rarer bins weigh more.
    counts = np.bincount(affect_bins(labels[:, 0]), minlength=N_AFFECT_BINS)
    assert weights[0][counts.argmin()] > weights[0][counts.argmax()]


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (np.zeros((0, 2)), "no labels"),
        (np.zeros((3,)), "shape"),
        (np.zeros((3, 3)), "shape"),
        (np.array([[0.0, 0.0], [-5.0, 0.1]]), "row 1"),
        (np.array([[1.01, 0.0]]), r"\[-1, 1\]"),
        (np.array([[0.0, np.nan]]), r"\[-1, 1\]"),
    ],
)
def test_class_weights_errors(labels: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        class_balanced_weights(labels)


# --- sample_weights ----------------------------------------------------------------------------


def test_arousal_weight_uses_the_arousal_bin() -> None:
    table = torch.stack([torch.zeros(N_AFFECT_BINS), torch.arange(N_AFFECT_BINS, dtype=torch.float32)])
    targets = torch.tensor([[-1.0, 1.0], [1.0, -1.0], [0.0, 0.3]])
    weights = sample_weights(targets, table)
    # The authors' bug (valence bin for both) would give arousal weights 0, 20, 10.
    assert weights[:, 1].tolist() == [20.0, 0.0, 13.0]
    assert weights[:, 0].tolist() == [0.0, 0.0, 0.0]


def test_sample_weights_round_halves_away_from_zero_like_affect_bins() -> None:
    halves = torch.tensor([-0.95, -0.05, 0.05, 0.15, 0.95, -0.85], dtype=torch.float64)
    table = torch.arange(2 * N_AFFECT_BINS, dtype=torch.float64).reshape(2, N_AFFECT_BINS)
    got = sample_weights(torch.stack([halves, halves], dim=1), table)
    expected = affect_bins(halves.numpy())
    assert expected.tolist() == [1, 10, 11, 12, 20, 2]  # half-to-even would give 0 and 10 for -0.95 and 0.05
    assert got[:, 0].long().tolist() == expected.tolist()
    assert (got[:, 1] - N_AFFECT_BINS).long().tolist() == expected.tolist()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sample_weights_match_affect_bins_on_random_values(dtype: torch.dtype) -> None:
    rng = np.random.default_rng(0)
    values = torch.from_numpy(rng.uniform(-1, 1, (5000, 2))).to(dtype)
    # Exact bin edges too, where the rounding rule matters.
    edges = torch.tensor([(k - 9.5) / 10 for k in range(20)], dtype=torch.float64).to(dtype)
    values[:20] = torch.stack([edges, edges.flip(0)], dim=1)
    table = torch.arange(2 * N_AFFECT_BINS, dtype=torch.float32).reshape(2, N_AFFECT_BINS)
    got = sample_weights(values, table)
    for dimension in range(2):
        expected = affect_bins(values[:, dimension].double().numpy()) + dimension * N_AFFECT_BINS
        assert got[:, dimension].long().tolist() == expected.tolist()
    assert got.dtype == torch.float32 and got.shape == (5000, 2)


def test_sample_weights_shape_errors() -> None:
    table = torch.ones(2, N_AFFECT_BINS)
    with pytest.raises(ValueError, match=r"\(B, 2\)"):
        sample_weights(torch.zeros(4), table)
    with pytest.raises(ValueError, match="class weights"):
        sample_weights(torch.zeros(4, 2), torch.ones(21))


def test_class_weights_and_sample_weights_together() -> None:
    labels = np.random.default_rng(1).uniform(-1, 1, (300, 2))
    table = torch.from_numpy(class_balanced_weights(labels))
    per_sample = sample_weights(torch.from_numpy(labels), table)
    assert per_sample.mean(dim=0).tolist() == pytest.approx([1.0, 1.0], rel=1e-5)


# --- batch_ccc / batch_pcc ---------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_batch_statistics_match_the_metric(seed: int) -> None:
    pred, target = random_pair(seed)
    ccc = batch_ccc(torch.from_numpy(pred).float(), torch.from_numpy(target).float())
    pcc = batch_pcc(torch.from_numpy(pred).float(), torch.from_numpy(target).float())
    assert ccc.shape == (2,) and pcc.shape == (2,)
    for d in range(2):
        assert ccc[d].item() == pytest.approx(metrics.ccc(pred[:, d], target[:, d]), abs=1e-5)
        assert pcc[d].item() == pytest.approx(metrics.pcc(pred[:, d], target[:, d]), abs=1e-5)


def test_batch_statistics_on_constant_columns() -> None:
    target = torch.tensor([[0.1, 0.2], [0.3, 0.2], [0.5, 0.2]])
    pred = torch.tensor([[0.4, 0.2], [0.4, 0.2], [0.4, 0.2]])
    # Valence: constant prediction, varied target; arousal: the same constant on both sides.
    assert batch_ccc(pred, target).tolist() == [0.0, 1.0]
    assert metrics.ccc(pred[:, 1].numpy(), target[:, 1].numpy()) == 1.0
    assert batch_pcc(pred, target).tolist() == [0.0, 0.0]  # the metric says NaN


# --- affect_loss -------------------------------------------------------------------------------


def test_perfect_prediction_scores_minus_four() -> None:
    target = torch.from_numpy(random_pair(0)[1]).float()
    loss, terms = affect_loss(target.clone(), target)
    assert loss.item() == pytest.approx(-4.0, abs=1e-3)
    assert set(terms) == TERMS
    for name in ("valence", "arousal"):
        assert terms[f"rmse/{name}"].item() == pytest.approx(0.0, abs=1e-3)
        assert terms[f"pcc/{name}"].item() == pytest.approx(1.0, abs=1e-5)
        assert terms[f"ccc/{name}"].item() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("seed", range(4))
def test_affect_loss_matches_numpy_and_the_metric(seed: int) -> None:
    pred, target = random_pair(seed)
    loss, terms = affect_loss(torch.from_numpy(pred).float(), torch.from_numpy(target).float())
    expected = 0.0
    for d, name in enumerate(("valence", "arousal")):
        rmse = math.sqrt(np.mean((pred[:, d] - target[:, d]) ** 2) + 1e-8)
        pcc, ccc = metrics.pcc(pred[:, d], target[:, d]), metrics.ccc(pred[:, d], target[:, d])
        expected += rmse - pcc - ccc
        assert terms[f"rmse/{name}"].item() == pytest.approx(rmse, abs=1e-5)
        assert terms[f"pcc/{name}"].item() == pytest.approx(pcc, abs=1e-5)
        assert terms[f"ccc/{name}"].item() == pytest.approx(ccc, abs=1e-5)
    assert loss.item() == pytest.approx(expected, abs=1e-4)
    assert loss.ndim == 0 and all(not t.requires_grad and t.ndim == 0 for t in terms.values())


def test_weights_scale_the_rmse_term_only() -> None:
    pred, target = (torch.from_numpy(a).float() for a in random_pair(1))
    _, plain = affect_loss(pred, target)
    weights = torch.ones_like(pred)
    weights[:, 1] = 4.0
    _, weighted = affect_loss(pred, target, weights)
    assert weighted["rmse/valence"].item() == pytest.approx(plain["rmse/valence"].item(), rel=1e-6)
    assert weighted["rmse/arousal"].item() == pytest.approx(2 * plain["rmse/arousal"].item(), rel=1e-4)
    assert weighted["ccc/arousal"].item() == plain["ccc/arousal"].item()
    # Weighting the worst-predicted samples raises the error term.
    errors = (pred - target).abs()
    heavy = torch.where(errors > errors.median(dim=0).values, 3.0, 0.5)
    _, skewed = affect_loss(pred, target, heavy)
    assert skewed["rmse/valence"] > plain["rmse/valence"]
    with pytest.raises(ValueError, match="weights"):
        affect_loss(pred, target, torch.ones(len(pred)))


def test_gradients_are_finite_for_constant_predictions() -> None:
    target = torch.from_numpy(random_pair(2)[1]).float()
    for pred in (torch.zeros_like(target), target.clone()[:1].expand_as(target).clone(), target.clone()):
        pred.requires_grad_(True)
        loss, _ = affect_loss(pred, target)
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(pred.grad).all()
    # Both sides the same constant: still finite.
    same = torch.full((8, 2), 0.3, requires_grad=True)
    loss, _ = affect_loss(same, torch.full((8, 2), 0.3))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(same.grad).all()


def test_affect_loss_computes_in_float32_for_bfloat16() -> None:
    pred, target = (torch.from_numpy(a).float() for a in random_pair(3))
    loss, terms = affect_loss(pred.bfloat16(), target)
    assert loss.dtype == torch.float32 and terms["ccc/valence"].dtype == torch.float32
    reference, _ = affect_loss(pred.bfloat16().float(), target)
    assert loss.item() == pytest.approx(reference.item(), abs=1e-6)


def test_affect_loss_shape_errors() -> None:
    with pytest.raises(ValueError, match="one shape"):
        affect_loss(torch.zeros(4, 2), torch.zeros(4, 3))
    with pytest.raises(ValueError, match="one shape"):
        affect_loss(torch.zeros(4), torch.zeros(4))
    with pytest.raises(ValueError, match="empty"):
        affect_loss(torch.zeros(0, 2), torch.zeros(0, 2))


# --- WGAN-GP -----------------------------------------------------------------------------------


def test_gradient_penalty_is_zero_for_a_unit_gradient_critic() -> None:
    weight = torch.randn(3 * 4 * 4, generator=torch.Generator().manual_seed(0))
    weight /= weight.norm()

    def critic(x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ weight

    real, fake = torch.randn(6, 3, 4, 4), torch.randn(6, 3, 4, 4)
    assert gradient_penalty(critic, [real], [fake]).item() == pytest.approx(0.0, abs=1e-10)
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(0.0, abs=1e-10)  # bare tensors
    # Twice the slope: the norm is 2 everywhere, the penalty (2 - 1)^2.
    assert gradient_penalty(lambda x: 2 * critic(x), [real], [fake]).item() == pytest.approx(1.0, rel=1e-5)


def test_gradient_penalty_is_positive_for_a_nonlinear_critic_and_trains_it() -> None:
    critic = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    real, fake = torch.randn(5, 3, 2, 2), torch.randn(5, 3, 2, 2)
    penalty = gradient_penalty(critic, [real], [fake], torch.Generator().manual_seed(0))
    assert penalty.item() > 0
    penalty.backward()  # create_graph=True lets the penalty reach the critic's weights
    first, last = critic[1], critic[3]
    for parameter in (first.weight, first.bias, last.weight):
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all() and parameter.grad.abs().sum() > 0
    assert last.bias.grad is None  # a constant offset does not change the critic's gradient


def test_gradient_penalty_with_a_latent_shares_alpha_and_norms_jointly() -> None:
    image_weight, latent_weight = torch.tensor([0.6, 0.0]), torch.tensor([0.0, 0.8])
    seen: list[torch.Tensor] = []

    def critic(image: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        seen.extend([image.detach(), latent.detach()])
        # A (B, 1, 2, 2) patch map: four identical patches, so the gradient is 4x each slope.
        score = image @ image_weight + latent @ latent_weight
        return score.reshape(-1, 1, 1, 1).expand(-1, 1, 2, 2) / 4

    real = (torch.zeros(7, 2), torch.zeros(7, 2))
    fake = (torch.ones(7, 2), torch.ones(7, 2))
    penalty = gradient_penalty(critic, real, fake, torch.Generator().manual_seed(1))
    # Joint norm sqrt(0.6^2 + 0.8^2) = 1: zero penalty; each part alone would give a positive one.
    assert penalty.item() == pytest.approx(0.0, abs=1e-10)
    image, latent = seen
    assert torch.equal(image, latent)  # the same alpha for both inputs
    one_alpha = 1 - image[:, 0]
    assert ((one_alpha >= 0) & (one_alpha < 1)).all() and len(set(one_alpha.tolist())) > 1
    alone = gradient_penalty(lambda x: x @ image_weight, [real[0]], [fake[0]])
    assert alone.item() == pytest.approx(0.16, rel=1e-5)


def test_gradient_penalty_is_deterministic_given_the_generator() -> None:
    critic = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    real, fake = torch.randn(9, 4), torch.randn(9, 4)
    first = gradient_penalty(critic, [real], [fake], torch.Generator().manual_seed(5))
    assert first.item() == gradient_penalty(critic, [real], [fake], torch.Generator().manual_seed(5)).item()


def test_gradient_penalty_errors() -> None:
    def critic(*xs: torch.Tensor) -> torch.Tensor:
        return sum(x.sum() for x in xs)

    with pytest.raises(ValueError, match="as many"):
        gradient_penalty(critic, [torch.zeros(2, 3)], [])
    with pytest.raises(ValueError, match="shape"):
        gradient_penalty(critic, [torch.zeros(2, 3)], [torch.zeros(2, 4)])
    with pytest.raises(ValueError, match="batch"):
        gradient_penalty(critic, [torch.zeros(2, 3), torch.zeros(3, 3)], [torch.zeros(2, 3), torch.zeros(3, 3)])


def test_adversarial_and_cycle_losses() -> None:
    real, fake = torch.tensor([[1.0, 3.0]]), torch.tensor([[0.5, -0.5], [1.5, 2.5]])
    assert critic_loss(real, fake).item() == pytest.approx(-2.0 + 1.0)
    assert generator_adversarial_loss(fake).item() == pytest.approx(-1.0)
    clean, twice = torch.zeros(2, 3, 4, 4), torch.full((2, 3, 4, 4), 0.25)
    twice[0] = -0.75
    assert cycle_loss(clean, twice).item() == pytest.approx(0.5)
    assert critic_loss(real.bfloat16(), fake.bfloat16()).dtype == torch.float32
    with pytest.raises(ValueError, match="shapes differ"):
        cycle_loss(clean, twice[:1])
