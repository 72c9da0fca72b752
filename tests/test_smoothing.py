"""Smoothing (``abaw/prediction/smoothing.py``) and ``abaw smooth search``, with ``predict --smoothing``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from abaw.cli import cli
from abaw.errors import ConfigError, OutputExistsError, PredictionError
from abaw.formats.types import VideoPrediction
from abaw.prediction.smoothing import (
    DimensionSmoothing,
    SmoothingFilter,
    SmoothingPlan,
    apply_smoothing,
    load_smoothing,
    save_smoothing,
    search_smoothing,
    smooth_series,
)
from abaw.scoring.metrics import ccc
from abaw.synthetic import GeneratedDataset
from tests.helpers import untrained_checkpoint


def run(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["-q", *map(str, args)], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def noisy_trajectories(videos: int = 4, frames: int = 400, noise: float = 0.3, seed: int = 0):
    """Slow sine trajectories as labels (a few -5 rows), and the same plus white noise as predictions."""
    rng = np.random.default_rng(seed)
    labels, predictions = {}, {}
    for number in range(videos):
        time = np.arange(frames) / frames
        truth = 0.6 * np.stack([np.sin(2 * np.pi * (time + number / 7)), np.cos(3 * np.pi * time + number)], axis=1)
        noisy = truth + rng.normal(0.0, noise, truth.shape)
        truth[:5] = -5.0  # unannotated rows are left out of the score
        labels[f"v{number}"] = truth
        predictions[f"v{number}"] = VideoPrediction.consecutive(noisy)
    return predictions, labels


@pytest.mark.parametrize("kind", list(SmoothingFilter))
def test_window_one_is_the_identity(kind: SmoothingFilter) -> None:
    values = np.random.default_rng(1).normal(size=(57, 2))
    np.testing.assert_array_equal(smooth_series(values, kind, 1), values)
    np.testing.assert_array_equal(smooth_series(values[:, 0], kind, 1), values[:, 0])


@pytest.mark.parametrize("kind", list(SmoothingFilter))
def test_every_filter_raises_the_ccc_of_a_noisy_smooth_signal_and_keeps_a_constant(kind: SmoothingFilter) -> None:
    predictions, labels = noisy_trajectories(videos=1)
    truth, noisy = labels["v0"][5:, 0], predictions["v0"].values[5:, 0]
    smoothed = smooth_series(predictions["v0"].values, kind, 25)[5:, 0]
    assert ccc(smoothed, truth) > ccc(noisy, truth) + 0.1
    np.testing.assert_allclose(smooth_series(np.full((30, 2), 0.25), kind, 9), 0.25)


@pytest.mark.parametrize("window", [0, 2, -3, 4.0])
def test_a_window_that_is_not_odd_and_positive_is_refused(window) -> None:
    with pytest.raises(ConfigError, match="odd number of frames"):
        smooth_series(np.zeros((4, 2)), SmoothingFilter.MEDIAN, window)


def test_search_keeps_the_best_filter_per_dimension_and_gains_ccc() -> None:
    predictions, labels = noisy_trajectories()
    counts = {name: len(rows) for name, rows in labels.items()}
    result = search_smoothing(predictions, labels, counts, windows=(1, 5, 25, 65), split="val", source="p")
    assert len(result.candidates) == 1 + 3 * 3 and result.videos == 4 and result.frames == 4 * 395
    for column, choice in enumerate(result.plan.dimensions):
        assert choice.window > 1 and choice.ccc_after > choice.ccc_before + 0.1
        key = ("ccc_valence", "ccc_arousal")[column]
        assert choice.ccc_after == max(getattr(candidate, key) for candidate in result.candidates)
    # The plan applied to the same predictions gives the score the search reported.
    smoothed = apply_smoothing(predictions, counts, result.plan)
    pooled = np.concatenate([smoothed[name].values[5:] for name in sorted(labels)])
    truth = np.concatenate([labels[name][5:] for name in sorted(labels)])
    assert ccc(pooled[:, 0], truth[:, 0]) == pytest.approx(result.plan.valence.ccc_after)
    assert ccc(pooled[:, 1], truth[:, 1]) == pytest.approx(result.plan.arousal.ccc_after)


def test_search_on_clean_predictions_keeps_them_unsmoothed() -> None:
    predictions, labels = noisy_trajectories(noise=0.0)
    counts = {name: len(rows) for name, rows in labels.items()}
    plan = search_smoothing(predictions, labels, counts, windows=(1, 9, 49)).plan
    assert [choice.window for choice in plan.dimensions] == [1, 1]


def test_search_refuses_predictions_that_miss_a_labelled_video() -> None:
    predictions, labels = noisy_trajectories(videos=3)
    del predictions["v1"]
    counts = {name: len(rows) for name, rows in labels.items()}
    with pytest.raises(PredictionError, match="no predictions for 1 of the 3 labelled videos: v1"):
        search_smoothing(predictions, labels, counts, windows=(1, 3), source="preds")


def test_apply_fills_faceless_frames_first_and_leaves_videos_without_predictions_out() -> None:
    plan = SmoothingPlan(
        DimensionSmoothing(SmoothingFilter.MEDIAN, 3, 0.0, 0.0), DimensionSmoothing(SmoothingFilter.MEDIAN, 1, 0.0, 0.0)
    )
    face = VideoPrediction([2, 3, 6], [[0.5, 0.1], [0.9, 0.2], [0.1, 0.3]])
    smoothed = apply_smoothing({"a": face, "b": VideoPrediction([], [])}, {"a": 6, "b": 4}, plan)
    assert list(smoothed) == ["a"]
    # filled: 0.5 0.5 0.9 0.9 0.1 0.1 (nearest, ties earlier); median of 3 along time, arousal untouched
    assert smoothed["a"].values[:, 0].tolist() == [0.5, 0.5, 0.9, 0.9, 0.1, 0.1]
    assert smoothed["a"].values[:, 1].tolist() == [0.1, 0.1, 0.2, 0.2, 0.3, 0.3]


def test_the_smoothing_file_round_trips_and_is_not_overwritten(tmp_path: Path) -> None:
    plan = SmoothingPlan(
        DimensionSmoothing(SmoothingFilter.GAUSSIAN, 17, 0.31, 0.36),
        DimensionSmoothing(SmoothingFilter.EXPONENTIAL, 9, 0.42, 0.44),
        split="val",
        predictions="preds",
    )
    path = save_smoothing(plan, tmp_path / "smoothing.json")
    assert load_smoothing(path) == plan
    with pytest.raises(OutputExistsError):
        save_smoothing(plan, path)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return untrained_checkpoint(tmp_path_factory.mktemp("smoothing") / "disc.pt")


def test_search_writes_a_file_that_predict_applies_with_the_score_it_reported(
    generated: GeneratedDataset, checkpoint: Path, tmp_path: Path
) -> None:
    plain = tmp_path / "val"
    code, _, err = run("predict", "--checkpoint", checkpoint, "--root", generated.root, "--out", plain, "--workers", 0)
    assert code == 0, err
    smoothing, report = tmp_path / "smoothing.json", tmp_path / "search.json"
    args = ["smooth", "search", plain, "--root", generated.root, "--out", smoothing, "--windows", "1,3,9"]
    code, stdout, err = run(*args, "--json", report)
    assert code == 0, err
    assert "Smoothing chosen on val" in stdout and "valence" in stdout and "arousal" in stdout
    plan = load_smoothing(smoothing)
    assert json.loads(report.read_text())["valence"] == plan.valence.to_dict()
    code, _, err = run(*args)
    assert code == 2 and "--force" in err and load_smoothing(smoothing) == plan

    smoothed, scores = tmp_path / "smoothed", tmp_path / "smoothed.json"
    code, _, err = run(
        "predict", "--checkpoint", checkpoint, "--root", generated.root, "--out", smoothed, "--workers", 0,
        "--smoothing", smoothing, "--json", scores,
    )  # fmt: skip
    assert code == 0, err
    payload = json.loads(scores.read_text())
    # The search read the written files (6 decimals); predict scores its values unrounded.
    assert payload["ccc_valence"] == pytest.approx(plan.valence.ccc_after, abs=1e-6)
    assert payload["ccc_arousal"] == pytest.approx(plan.arousal.ccc_after, abs=1e-6)
    assert payload["smoothing"] == plan.to_dict()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not JSON"),
        ('{"format": "something"}', "not a smoothing file"),
        ('{"format": "abaw-smoothing", "version": 1, "valence": {"filter": "box", "window": 3}}', "unknown filter"),
        (
            '{"format": "abaw-smoothing", "version": 1, "valence": {"filter": "median", "window": 4,'
            ' "ccc_before": 0, "ccc_after": 0}, "arousal": {}}',
            "odd number of frames",
        ),
    ],
)
def test_a_bad_smoothing_file_is_one_line_naming_it_and_writes_nothing(
    generated: GeneratedDataset, checkpoint: Path, tmp_path: Path, text: str, message: str
) -> None:
    bad = tmp_path / "smoothing.json"
    bad.write_text(text)
    for command in ("predict", "predict-test"):
        out = tmp_path / command
        code, _, err = run(
            command, "--checkpoint", checkpoint, "--root", generated.root, "--out", out, "--smoothing", bad
        )
        assert code == 2, err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert str(bad) in err and message in err
        assert not out.exists()


def test_a_plans_means_are_the_mean_over_its_two_dimensions():
    from abaw.prediction.smoothing import DimensionSmoothing, SmoothingFilter, SmoothingPlan

    valence = DimensionSmoothing(SmoothingFilter.MEDIAN, 3, ccc_before=0.2, ccc_after=0.3)
    arousal = DimensionSmoothing(SmoothingFilter.MEDIAN, 5, ccc_before=0.4, ccc_after=0.6)
    plan = SmoothingPlan(valence, arousal)
    assert plan.ccc_before == pytest.approx(0.3)
    assert plan.ccc_after == pytest.approx(0.45)
    assert plan.gain == pytest.approx(0.15)
