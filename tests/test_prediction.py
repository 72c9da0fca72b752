"""Prediction (``abaw/prediction/``) and evaluation (``abaw/runtime/evaluation.py``) with a real tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from abaw.cli import cli
from abaw.data.index import DatasetIndex, open_dataset
from abaw.data.layout import Split
from abaw.data.samples import FaceFrameDataset, select_frames
from abaw.errors import CheckpointError
from abaw.formats.types import VideoPrediction
from abaw.model import create_model
from abaw.prediction.members import TrainedModel, predict_entries
from abaw.prediction.open import load_trained_model
from abaw.prediction.predict import write_split_predictions
from abaw.runtime.checkpoint import save_checkpoint
from abaw.runtime.evaluation import complete_predictions, evaluate
from abaw.synthetic import GeneratedDataset
from abaw.training.config import TrainConfig


@pytest.fixture(scope="module")
def index(generated: GeneratedDataset) -> DatasetIndex:
    return open_dataset(generated.root)


@pytest.fixture(scope="module")
def trained() -> TrainedModel:
    """An untrained disc-tiny: random weights give varied predictions, which is all these tests need."""
    torch.manual_seed(0)
    return TrainedModel(create_model("disc-tiny").eval(), torch.device("cpu"), Path("untrained.pt"), epoch=0)


def read_rows(path: Path) -> np.ndarray:
    lines = path.read_text().splitlines()
    assert lines[0] == "valence,arousal"
    return np.array([[float(cell) for cell in line.split(",")] for line in lines[1:]]).reshape(-1, 2)


def test_complete_predictions_fill_faceless_frames_from_the_nearest_and_zeros_without_any() -> None:
    predictions = {"a": VideoPrediction(np.array([2, 5]), np.array([[0.2, -0.2], [0.5, -0.5]]), source="a")}
    complete = complete_predictions(predictions, {"a": 6, "b": 3})
    assert complete["a"].frames.tolist() == [1, 2, 3, 4, 5, 6]
    assert complete["a"].values[:, 0].tolist() == [0.2, 0.2, 0.2, 0.5, 0.5, 0.5]
    assert complete["a"].values[:, 1].tolist() == [-0.2, -0.2, -0.2, -0.5, -0.5, -0.5]
    assert complete["b"].frames.tolist() == [1, 2, 3] and not complete["b"].values.any()


def test_predict_entries_predicts_the_face_frames_and_the_files_fill_every_other_frame(
    index: DatasetIndex, trained: TrainedModel, tmp_path: Path
) -> None:
    split = Split.VALIDATION
    predictions = predict_entries(trained, index, split, workers=0)
    with_faces = {entry.name: entry for entry in index.split(split) if len(entry.face_frames)}
    assert set(predictions) == set(with_faces)
    for name, video in predictions.items():
        assert video.frames.tolist() == with_faces[name].face_frames.tolist()
        assert np.abs(video.values).max() <= 1.0 and video.values.std() > 0

    out = write_split_predictions(tmp_path / "pred", predictions, index, split)
    counts = index.frame_counts(split)
    assert sorted(path.stem for path in out.glob("*.txt")) == sorted(entry.name for entry in index.split(split))
    partial = 0
    for entry in index.split(split):
        rows = read_rows(out / f"{entry.name}.txt")
        assert len(rows) == counts[entry.name], entry.name
        video = predictions.get(entry.name)
        if video is None:
            assert not rows.any(), "a video without a face image gets zeros"
            continue
        faces = video.frames
        faceless = [frame for frame in range(1, len(rows) + 1) if frame not in set(faces.tolist())]
        partial += bool(faceless)
        for frame in faceless:
            nearest = faces[np.argmin(np.abs(faces - frame))]  # argmin takes the earlier frame on a tie
            expected = video.values[faces.tolist().index(nearest)]
            np.testing.assert_allclose(rows[frame - 1], expected, atol=1e-6, err_msg=f"{entry.name} frame {frame}")
    assert partial, "the generated validation split has videos with faceless frames"


def test_evaluate_scores_what_abaw_score_gives_the_written_files(
    index: DatasetIndex, trained: TrainedModel, tmp_path: Path
) -> None:
    split = Split.VALIDATION
    scored = index.scorable_entries(split)
    dataset = FaceFrameDataset(index, select_frames(index, scored.entries, labelled=False))
    evaluation = evaluate(trained.model, index, split, dataset, batch_size=16)
    assert set(evaluation.predictions) <= set(scored.names)
    assert evaluation.report.scores.frames > 0

    folder = write_split_predictions(tmp_path / "pred", evaluation.predictions, index, split)
    for name in set(folder.glob("*.txt")) - {folder / f"{name}.txt" for name in scored.names}:
        name.unlink()  # abaw score scores what it is given: give it the scored entries only
    result = CliRunner().invoke(
        cli, ["-q", "score", str(folder), "--root", str(index.layout.root), "--json", "-"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout[result.stdout.index("{") :])
    expected = evaluation.report.scores.to_dict()
    assert payload["frames"] == expected["frames"]
    for key in ("ccc_valence", "ccc_arousal", "ccc_mean", "mse_valence"):
        assert payload[key] == pytest.approx(expected[key], abs=1e-5), key


def test_evaluate_scores_only_the_named_entries(index: DatasetIndex, trained: TrainedModel) -> None:
    split = Split.VALIDATION
    scored = index.scorable_entries(split)
    dataset = FaceFrameDataset(index, select_frames(index, scored.entries, labelled=False))
    every = evaluate(trained.model, index, split, dataset)
    first = scored.names[:1]
    one = evaluate(trained.model, index, split, dataset, names=first)
    annotated = int((index.labels(first[0]) != -5).all(axis=1).sum())  # rows with a -5 label are not scored
    assert one.report.scores.frames == annotated < every.report.scores.frames


def test_load_trained_model_restores_the_weights_and_refuses_an_audio_model_without_audio(
    index: DatasetIndex, trained: TrainedModel, tmp_path: Path
) -> None:
    model = trained.model
    payload = {
        "config": TrainConfig(variant="disc-tiny").to_dict(),
        "model_config": model.config.to_dict(),
        "model": model.state_dict(),
        "audio": None,
        "epoch": 3,
    }
    path = save_checkpoint(tmp_path / "disc.pt", payload)
    restored = load_trained_model(path, device="cpu")
    assert (restored.epoch, restored.variant, restored.checkpoint) == (3, "disc-tiny", path)
    run = tmp_path / "run"
    run.mkdir()
    path.rename(run / "last.pt")
    restored = load_trained_model(run, device="cpu")
    assert restored.checkpoint == run / "last.pt", "a run folder without best.pt gives its last.pt"
    ours = predict_entries(trained, index, Split.VALIDATION, workers=0)
    theirs = predict_entries(restored, index, Split.VALIDATION, workers=0)
    for name, video in ours.items():
        np.testing.assert_array_equal(video.values, theirs[name].values)

    audio_model = create_model("aeg-cd-sz-tiny")
    audio_payload = {
        **payload,
        "config": TrainConfig(variant="aeg-cd-sz-tiny").to_dict(),
        "model_config": audio_model.config.to_dict(),
        "model": audio_model.state_dict(),
    }
    broken = save_checkpoint(tmp_path / "sz.pt", audio_payload)
    with pytest.raises(CheckpointError, match="takes audio but the checkpoint has no audio settings"):
        load_trained_model(broken, device="cpu")
