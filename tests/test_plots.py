"""Figures of a trained run: the arrays behind them, the PNGs written, and what is refused."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from abaw.cli.render_prediction import figures_table
from abaw.data.index import DatasetIndex, open_dataset
from abaw.data.layout import Split
from abaw.errors import CheckpointError, DataError, OutputExistsError, PredictionError
from abaw.formats.types import VideoPrediction
from abaw.plots import (
    Reconstruction,
    affect_series,
    plot_affect_over_time,
    plot_run,
    reconstruct_faces,
    sample_faces,
)
from abaw.prediction.open import load_trained_model
from abaw.runtime.rundir import resolve_checkpoint
from abaw.scoring.metrics import ccc
from abaw.synthetic import GeneratedDataset
from abaw.training.config import TrainConfig
from abaw.training.noise import NoiseConfig
from abaw.training.trainer import train


def tiny_run(root: Path, variant: str, run_dir: Path) -> Path:
    config = TrainConfig(
        variant=variant,
        epochs=1,
        steps_per_epoch=2,
        batch_size=8,
        workers=0,
        device="cpu",
        dataset={"root": str(root)},
    )
    train(config, run_dir)
    return run_dir


@pytest.fixture(scope="module")
def index(generated: GeneratedDataset) -> DatasetIndex:
    return open_dataset(generated.root)


@pytest.fixture(scope="module")
def aeg_run(generated: GeneratedDataset, tmp_path_factory) -> Path:
    return tiny_run(generated.root, "aeg-cd-tiny", tmp_path_factory.mktemp("plots") / "aeg")


@pytest.fixture(scope="module")
def disc_run(generated: GeneratedDataset, tmp_path_factory) -> Path:
    return tiny_run(generated.root, "disc-tiny", tmp_path_factory.mktemp("plots") / "disc")


@pytest.fixture(scope="module")
def figures(aeg_run: Path, index: DatasetIndex, tmp_path_factory):
    """One plot_run of the AEG run over the validation split, shared by the tests that only read it."""
    out = tmp_path_factory.mktemp("figures") / "out"
    return out, plot_run(aeg_run, index, out, device="cpu")


def assert_png(path: Path, least: tuple[int, int] = (400, 200)) -> tuple[int, int]:
    assert path.is_file(), path
    with Image.open(path) as image:
        assert image.format == "PNG"
        image.verify()
    with Image.open(path) as image:
        size = image.size
        image.load()
    assert size[0] >= least[0] and size[1] >= least[1], size
    return size


# -- the arrays behind the affect figure ---------------------------------------


def test_affect_series_gaps_fill_and_time():
    labels = np.array([[0.5, 0.1], [-5, -5], [0.1, 0.3], [-0.2, 0.4], [0.3, -5], [0.9, 0.9]])
    predictions = VideoPrediction([1, 3, 4], [[0.4, 0.1], [0.2, 0.3], [1.5, -0.2]])
    series = affect_series(labels, predictions, fps=25.0, frame_count=5)

    assert series.frames.tolist() == [1, 2, 3, 4, 5, 6]
    # -5 lines are gaps on both dimensions, as the challenge drops the whole row.
    assert np.isnan(series.true[[1, 4]]).all()
    np.testing.assert_array_equal(series.true[[0, 2, 3, 5]], labels[[0, 2, 3, 5]])
    # Frames without a face take the nearest predicted frame (ties: the earlier), clipped to [-1, 1];
    # the label line past the video's last frame has no prediction.
    np.testing.assert_allclose(series.predicted[:5, 0], [0.4, 0.4, 0.2, 1.0, 1.0])
    assert np.isnan(series.predicted[5]).all()
    assert series.has_face.tolist() == [True, False, True, True, False, False]
    assert series.filled.tolist() == [False, True, False, False, True, False]
    assert series.filled_runs == [(2, 2), (5, 5)]
    np.testing.assert_allclose(series.x, [0.0, 0.04, 0.08, 0.12, 0.16, 0.2])
    assert series.x_label == "time (s)"
    # Scored as abaw score does: annotated rows within the video, predictions clipped.
    rows = [0, 2, 3]
    assert series.ccc == pytest.approx((ccc([0.4, 0.2, 1.0], labels[rows, 0]), ccc([0.1, 0.3, -0.2], labels[rows, 1])))


def test_affect_series_of_a_prediction_file_uses_the_face_frames_given():
    labels = np.array([[0.1, 0.2], [0.2, 0.3], [0.3, 0.4]])
    series = affect_series(labels, labels.copy(), fps=None, face_frames=np.array([1, 3]))
    assert series.has_face.tolist() == [True, False, True]
    assert series.ccc == (1.0, 1.0)
    assert series.seconds is None and series.x.tolist() == [1.0, 2.0, 3.0]
    assert series.x_label.startswith("frame")


def test_affect_series_without_annotation_has_no_ccc():
    series = affect_series(np.full((3, 2), -5.0), np.zeros((3, 2)), fps=30.0)
    assert series.ccc is None and np.isnan(series.true).all()


def test_plot_affect_over_time_writes_a_png_and_refuses_to_overwrite(tmp_path):
    path = tmp_path / "deep" / "affect_x.png"
    rng = np.random.default_rng(0)
    labels = rng.uniform(-1, 1, (300, 2))
    labels[40:60] = -5
    faces = np.setdiff1d(np.arange(1, 301), np.arange(100, 120))
    prediction = VideoPrediction(faces, rng.uniform(-1, 1, (len(faces), 2)))
    series = plot_affect_over_time("x", labels, prediction, 30.0, path, face_frames=faces)
    assert_png(path)
    assert series.filled_runs == [(100, 119)]
    with pytest.raises(OutputExistsError, match=r"affect_x\.png"):
        plot_affect_over_time("x", labels, prediction, 30.0, path)
    before = path.read_bytes()
    plot_affect_over_time("y", labels, prediction, 30.0, path, force=True)
    assert path.read_bytes() != before
    assert [p.name for p in path.parent.iterdir()] == ["affect_x.png"]  # no temporary left behind


# -- the reconstruction ---------------------------------------------------------


def test_busiest_channels_ranks_by_variance_over_the_faces():
    latent = np.zeros((3, 5, 2, 2), np.float32)
    latent[:, 3] = np.arange(12).reshape(3, 2, 2)
    latent[0, 1, 0, 0] = 2.0
    result = Reconstruction(latent, latent, latent, latent, ["", "", ""])
    assert result.busiest_channels(2) == [3, 1]
    assert result.busiest_channels(0) == []
    assert len(result.busiest_channels(10)) == 5


def test_faces_are_sampled_deterministically(index):
    first = sample_faces(index, Split.VALIDATION, 4, seed=3)
    again = sample_faces(index, Split.VALIDATION, 4, seed=3)
    assert [face.caption for face in first] == [face.caption for face in again]
    assert len(first) == 4 and all(face.image.shape == (3, 112, 112) for face in first)
    assert {face.entry for face in first} <= {entry.name for entry in index.split(Split.VALIDATION)}
    assert len(sample_faces(index, Split.VALIDATION, 10_000)) == sum(
        len(entry.face_frames[entry.face_frames <= entry.frame_count]) for entry in index.split(Split.VALIDATION)
    )


def test_every_noisy_face_is_degraded(aeg_run, index):
    trained = load_trained_model(aeg_run / "last.pt", "cpu")
    images = np.stack([face.image for face in sample_faces(index, Split.VALIDATION, 6)])
    result = reconstruct_faces(trained, images, NoiseConfig(0.0, ("blur", "gaussian-noise")), seed=1)
    assert result.clean.shape == result.noisy.shape == result.cleaned.shape == (6, 3, 112, 112)
    assert result.latent.shape[0] == 6 and result.latent.shape[2:] == (28, 28)
    for clean, noisy in zip(result.clean, result.noisy, strict=True):
        assert not np.allclose(clean, noisy)
    assert all(label.split()[0] in {"blur", "gaussian-noise"} for label in result.artifacts)
    again = reconstruct_faces(trained, torch.from_numpy(images), NoiseConfig(0.0, ("blur", "gaussian-noise")), seed=1)
    np.testing.assert_array_equal(result.noisy, again.noisy)


# -- plot_run -------------------------------------------------------------------


def test_plot_run_writes_both_figures(figures, index, aeg_run):
    out, report = figures
    val = [entry.name for entry in index.split(Split.VALIDATION)]
    assert sorted(path.name for path in out.iterdir()) == sorted(
        [*(f"affect_{name}.png" for name in val), "reconstruction.png", ".abaw-output.json"]
    )
    assert report.files == [*(out / f"affect_{name}.png" for name in val), out / "reconstruction.png"]
    assert report.checkpoint == aeg_run / "best.pt" and report.variant == "aeg-cd-tiny"
    assert report.notes == []
    for path in report.files[:-1]:
        assert_png(path)
    width, height = assert_png(report.files[-1])
    assert width > height  # 4 faces by 3 images + 4 latent channels
    reconstruction = report.figures[-1]
    assert reconstruction.kind == "reconstruction" and len(reconstruction.details["latent_channels"]) == 4
    assert len(reconstruction.details["faces"]) == 4
    payload = json.loads(json.dumps(report.to_dict()))
    assert payload["split"] == "val" and len(payload["figures"]) == len(val) + 1
    affect = payload["figures"][0]
    assert affect["kind"] == "affect" and affect["video"] == val[0] and math.isfinite(affect["ccc_valence"])
    table = figures_table(report, "t")
    assert table.row_count == len(val) + 1 and [column.header for column in table.columns] == [
        "figure",
        "file",
        "shows",
    ]


def test_plot_run_refuses_to_overwrite_before_predicting(figures, aeg_run, index, tmp_path):
    out, _ = figures
    copy = Path(shutil.copytree(out, tmp_path / "out"))
    first = sorted(copy.glob("affect_*.png"))[0]
    first.unlink()
    with pytest.raises(OutputExistsError, match="already exists; pass --force"):
        plot_run(aeg_run, index, copy, device="cpu")
    assert not first.exists()


def test_disc_has_no_reconstruction(disc_run, index, tmp_path):
    report = plot_run(disc_run / "last.pt", index, tmp_path / "out", split=Split.TRAIN, max_videos=2, device="cpu")
    assert [path.name for path in report.files] == [
        f"affect_{entry.name}.png" for entry in index.split(Split.TRAIN)[:2]
    ]
    assert any("reconstruction figure skipped" in note and "disc-tiny" in note for note in report.notes)
    assert any("first 2 of" in note for note in report.notes)
    assert not (tmp_path / "out" / "reconstruction.png").exists()


def test_given_predictions_are_plotted(disc_run, index, tmp_path):
    name = index.split(Split.VALIDATION)[1].name
    labels = index.labels(name)
    perfect = np.where(labels == -5, 0.0, labels)
    predictions = {name: VideoPrediction.consecutive(perfect)}
    report = plot_run(disc_run, index, tmp_path / "out", predictions=predictions, device="cpu")
    assert [path.name for path in report.files] == [f"affect_{name}.png"]
    details = report.figures[0].details
    assert details["ccc_valence"] == pytest.approx(1.0) and details["ccc_arousal"] == pytest.approx(1.0)
    assert any("no predictions and are not plotted" in note for note in report.notes)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"videos": ["nope"]}, DataError, "no video named 'nope'"),
        ({"videos": ["102"]}, DataError, "in the train split, not val; pass --split train"),
        ({"videos": ["video73"]}, DataError, "in the test split"),
        ({"split": Split.TEST}, DataError, "no labels"),
        ({"videos": ["video59"], "predictions": {}}, PredictionError, "no predictions for video 'video59'"),
        ({"predictions": {}}, PredictionError, "no predictions for any val video"),
    ],
)
def test_bad_requests_are_one_line_errors(disc_run, index, tmp_path, kwargs, error, message):
    with pytest.raises(error, match=message) as caught:
        plot_run(disc_run, index, tmp_path / "out", device="cpu", **kwargs)
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "out").exists()


def test_checkpoint_resolution(disc_run, tmp_path):
    assert resolve_checkpoint(disc_run) == disc_run / "best.pt"
    only_last = tmp_path / "run"
    only_last.mkdir()
    shutil.copy(disc_run / "last.pt", only_last / "last.pt")
    assert resolve_checkpoint(only_last) == only_last / "last.pt"
    with pytest.raises(CheckpointError, match=r"no best\.pt or last\.pt"):
        resolve_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match=r"missing\.pt: checkpoint not found"):
        resolve_checkpoint(tmp_path / "missing.pt")
