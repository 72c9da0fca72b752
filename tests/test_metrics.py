"""The challenge metric against an independent reference and hand-computed cases."""

from __future__ import annotations

import dataclasses
import math
import statistics

import numpy as np
import pytest

from abaw.scoring.metrics import AffectScores, ccc, mse, pcc, rmse, score_frames


def reference_moments(x: list[float], y: list[float]) -> tuple[float, float, float, float, float]:
    """Means, population variances and covariance with Python's statistics module and a hand-written sum."""
    mean_x, mean_y = statistics.fmean(x), statistics.fmean(y)
    var_x, var_y = statistics.pvariance(x, mean_x), statistics.pvariance(y, mean_y)
    cov = math.fsum((a - mean_x) * (b - mean_y) for a, b in zip(x, y, strict=True)) / len(x)
    return mean_x, mean_y, var_x, var_y, cov


def reference_ccc(x: list[float], y: list[float]) -> float:
    mean_x, mean_y, var_x, var_y, cov = reference_moments(x, y)
    return 2 * cov / (var_x + var_y + (mean_x - mean_y) ** 2)


def reference_pcc(x: list[float], y: list[float]) -> float:
    _, _, var_x, var_y, cov = reference_moments(x, y)
    return cov / math.sqrt(var_x * var_y)


@pytest.mark.parametrize("seed", range(5))
def test_metrics_match_the_reference_on_random_data(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 400))
    truth = rng.uniform(-1, 1, n)
    pred = 0.6 * truth + rng.normal(0.1, 0.3, n)
    x, y = pred.tolist(), truth.tolist()
    assert ccc(pred, truth) == pytest.approx(reference_ccc(x, y), rel=1e-12, abs=1e-12)
    assert pcc(pred, truth) == pytest.approx(reference_pcc(x, y), rel=1e-12, abs=1e-12)
    expected_mse = math.fsum((a - b) ** 2 for a, b in zip(x, y, strict=True)) / n
    assert mse(pred, truth) == pytest.approx(expected_mse, rel=1e-12)
    assert rmse(pred, truth) == pytest.approx(math.sqrt(expected_mse), rel=1e-12)


def test_three_point_example_by_hand():
    # truth 1, 2, 3: mean 2, variance (1 + 0 + 1) / 3 = 2/3.
    # pred 2, 2, 4: mean 8/3, deviations -2/3, -2/3, 4/3, variance (4 + 4 + 16) / 27 = 8/9.
    # covariance ((-1)(-2/3) + 0 + (1)(4/3)) / 3 = 2/3; squared mean difference (2/3)^2 = 4/9.
    # CCC = 2 (2/3) / (8/9 + 6/9 + 4/9) = (4/3) / 2 = 2/3.
    # PCC = (2/3) / sqrt((2/3)(8/9)) = (2/3) / (4 / (3 sqrt 3)) = sqrt(3) / 2.
    # MSE = (1 + 0 + 1) / 3 = 2/3.
    pred, truth = [2.0, 2.0, 4.0], [1.0, 2.0, 3.0]
    assert ccc(pred, truth) == pytest.approx(2 / 3, abs=1e-15)
    assert pcc(pred, truth) == pytest.approx(math.sqrt(3) / 2, abs=1e-15)
    assert mse(pred, truth) == pytest.approx(2 / 3, abs=1e-15)


def test_perfect_negated_shifted_and_scaled():
    truth = np.array([-0.5, -0.1, 0.0, 0.2, 0.4])
    centred = truth - truth.mean()
    assert ccc(truth, truth) == pytest.approx(1.0)
    assert ccc(-centred, centred) == pytest.approx(-1.0)
    assert pcc(-truth, truth) == pytest.approx(-1.0)
    shifted = truth + 0.3
    assert pcc(shifted, truth) == pytest.approx(1.0)
    assert ccc(shifted, truth) < pcc(shifted, truth)
    scaled = 2 * truth
    assert pcc(scaled, truth) == pytest.approx(1.0)
    assert ccc(scaled, truth) < 1.0
    assert ccc(truth, shifted) == pytest.approx(ccc(shifted, truth))  # symmetric


def test_degenerate_inputs():
    assert ccc([0.3, 0.3], [0.3, 0.3]) == 1.0  # same constant: perfect agreement
    assert ccc([0.3, 0.3], [0.1, 0.1]) == 0.0  # different constants
    assert ccc([0.3, 0.3], [0.1, 0.5]) == 0.0  # one constant: covariance 0
    assert math.isnan(pcc([0.3, 0.3], [0.1, 0.5]))
    assert math.isnan(pcc([0.1, 0.5], [0.3, 0.3]))
    assert mse([1.0], [1.0]) == 0.0
    for function in (ccc, pcc, mse, rmse):
        with pytest.raises(ValueError, match="no values"):
            function([], [])
        with pytest.raises(ValueError, match="3 values, labels 2"):
            function([1.0, 2.0, 3.0], [1.0, 2.0])
        with pytest.raises(ValueError, match="finite"):
            function([1.0, float("nan")], [1.0, 2.0])
        with pytest.raises(ValueError, match="1-D"):
            function([[1.0]], [[1.0]])


def test_score_frames_drops_rows_with_any_missing_label():
    labels = np.array([[0.1, 0.2], [-5, 0.9], [0.3, -5], [0.5, -0.4], [-0.2, 0.1], [-5, -5]])
    pred = np.array([[0.0, 0.1], [0.9, 0.9], [0.9, 0.9], [0.6, -0.3], [-0.1, 0.3], [0.9, 0.9]])
    scores = score_frames(pred, labels)
    keep = [0, 3, 4]
    assert scores.frames == 3
    assert scores.ccc_valence == pytest.approx(reference_ccc(pred[keep, 0].tolist(), labels[keep, 0].tolist()))
    assert scores.ccc_arousal == pytest.approx(reference_ccc(pred[keep, 1].tolist(), labels[keep, 1].tolist()))
    assert scores.ccc_mean == pytest.approx((scores.ccc_valence + scores.ccc_arousal) / 2)
    assert scores.rmse_valence == pytest.approx(math.sqrt(scores.mse_valence))


def test_score_frames_clips_predictions():
    labels = np.array([[1.0, -1.0], [0.0, 0.5], [-0.5, 0.0]])
    pred = np.array([[1.7, -3.0], [0.0, 0.5], [-0.5, 0.0]])
    scores = score_frames(pred, labels)
    assert scores.ccc_valence == 1.0 and scores.ccc_arousal == 1.0
    assert scores.mse_valence == 0.0


def test_score_frames_rejects_bad_shapes_and_unannotated_input():
    with pytest.raises(ValueError, match="no annotated frame"):
        score_frames(np.zeros((2, 2)), np.full((2, 2), -5.0))
    with pytest.raises(ValueError, match="shapes"):
        score_frames(np.zeros((2, 2)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="shapes"):
        score_frames(np.zeros((2, 3)), np.zeros((2, 3)))


def test_concatenated_score_differs_from_mean_of_per_video_scores():
    rng = np.random.default_rng(7)
    first_truth = rng.uniform(-0.2, 0.2, (50, 2))
    second_truth = rng.uniform(0.3, 0.9, (80, 2))
    first_pred = first_truth + rng.normal(0, 0.05, (50, 2))
    second_pred = np.full((80, 2), 0.6) + rng.normal(0, 0.05, (80, 2))
    pred = np.concatenate([first_pred, second_pred])
    truth = np.concatenate([first_truth, second_truth])
    overall = score_frames(pred, truth)
    per_video = [score_frames(first_pred, first_truth), score_frames(second_pred, second_truth)]
    mean_of_videos = (per_video[0].ccc_mean + per_video[1].ccc_mean) / 2
    expected = statistics.fmean(reference_ccc(pred[:, k].tolist(), truth[:, k].tolist()) for k in range(2))
    assert overall.ccc_mean == pytest.approx(expected)
    assert abs(overall.ccc_mean - mean_of_videos) > 0.05


def test_affect_scores_is_frozen_and_serialisable():
    scores = score_frames(np.array([[0.1, 0.2], [0.3, 0.5]]), np.array([[0.1, 0.3], [0.2, 0.5]]))
    data = scores.to_dict()
    assert set(data) == {"ccc_mean"} | {f.name for f in dataclasses.fields(AffectScores)}
    assert data["frames"] == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        scores.frames = 3  # type: ignore[misc]
