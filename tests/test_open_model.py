"""The one door to a trained model (``abaw/prediction/open.py``) and the temporal member it opens
(``abaw/prediction/members.py``), on checkpoints the tests write by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from abaw.data.sequences import EntrySequence, Normalisation
from abaw.errors import CheckpointError
from abaw.model import ModelFamily, create_model, model_config
from abaw.outputs import OutputKind, write_marker
from abaw.prediction.members import TemporalMember, TrainedModel
from abaw.prediction.open import checkpoint_files, load_trained_model, open_frame_model, open_model
from abaw.runtime.checkpoint import save_checkpoint
from abaw.runtime.windows import predict_sequences
from abaw.training.config import TrainConfig

INPUTS, VISUAL, WINDOW = 6, 4, 8


def temporal_payload(seed: int = 0, mean: float = 0.5, std: float = 2.0) -> dict:
    torch.manual_seed(seed)
    config = model_config("tcn", input_dim=INPUTS, visual_dim=VISUAL, hidden=8, layers=1)
    model = create_model(config)
    return {
        "kind": ModelFamily.TEMPORAL.value,
        "config": {"features": ["aln", "audio"], "window": WINDOW, "model": "tcn"},
        "model_config": config.to_dict(),
        "normalisation": {"mean": torch.full((INPUTS,), mean), "std": torch.full((INPUTS,), std)},
        "features": {"names": ["aln", "audio"], "dims": [VISUAL, INPUTS - VISUAL]},
        "model": model.state_dict(),
        "epoch": 3,
    }


def frame_payload() -> dict:
    model = create_model("disc-tiny")
    return {
        "config": TrainConfig(variant="disc-tiny").to_dict(),
        "model_config": model.config.to_dict(),
        "model": model.state_dict(),
        "audio": None,
        "epoch": 2,
    }


def run_folder(path: Path, payload: dict, *names: str) -> Path:
    path.mkdir(parents=True)
    write_marker(path, OutputKind.TRAIN_RUN)
    for name in names or ("last.pt",):
        save_checkpoint(path / name, payload)
    return path


def sequence(name: str, rows: int, seed: int) -> EntrySequence:
    rng = np.random.default_rng(seed)
    has_face = rng.random(rows) > 0.3
    inputs = rng.normal(size=(rows, INPUTS)).astype(np.float32)
    inputs[~has_face, :VISUAL] = 0.0
    return EntrySequence(name, inputs, has_face)


def test_a_temporal_member_normalises_as_in_training_and_predicts_every_frame(tmp_path):
    path = tmp_path / "best.pt"
    save_checkpoint(path, temporal_payload())
    (member,) = open_model(path, "cpu").members
    assert isinstance(member, TemporalMember)
    assert (member.features, member.window, member.feature_names, member.epoch) == (
        ("aln", "audio"),
        8,
        ["aln", "audio"],
        3,
    )
    assert member.variant == "temporal-tcn" and member.checkpoint == path
    raw = [sequence("a", 13, 1), sequence("b", 5, 2)]
    predictions = member.predict_sequences(raw)
    assert [predictions[name].frames.tolist() for name in ("a", "b")] == [list(range(1, 14)), list(range(1, 6))]
    # The same as predicting the sequences normalised by hand with the stored statistics.
    normalisation = Normalisation(np.full(INPUTS, 0.5, np.float32), np.full(INPUTS, 2.0, np.float32))
    expected = predict_sequences(
        member.model, [normalisation.apply(item, VISUAL) for item in raw], WINDOW, device=torch.device("cpu")
    )
    assert np.allclose(predictions["a"].values, expected[0]) and np.allclose(predictions["b"].values, expected[1])
    # Other statistics give other values: the normalisation is applied, not ignored.
    other = tmp_path / "other.pt"
    save_checkpoint(other, temporal_payload(mean=-3.0))
    assert not np.allclose(open_model(other, "cpu").members[0].predict_sequences(raw)["a"].values, expected[0])


def test_a_temporal_checkpoint_whose_weights_do_not_fit_is_one_line(tmp_path):
    payload = temporal_payload()
    payload["model_config"]["hidden"] = 16
    path = tmp_path / "broken.pt"
    save_checkpoint(path, payload)
    with pytest.raises(CheckpointError, match="not a usable temporal checkpoint") as raised:
        open_model(path, "cpu")
    assert str(path) in str(raised.value) and "\n" not in str(raised.value)


def test_a_run_folder_opens_its_best_else_its_last(tmp_path):
    both = run_folder(tmp_path / "both", frame_payload(), "last.pt", "best.pt")
    assert checkpoint_files(both) == [both / "best.pt"]
    only_last = run_folder(tmp_path / "last", frame_payload())
    opened = open_model(only_last, "cpu")
    assert opened.family is ModelFamily.FRAME and not opened.is_kfold
    assert [member.checkpoint for member in opened.members] == [only_last / "last.pt"]
    assert isinstance(opened.members[0], TrainedModel)


def test_a_kfold_folder_is_one_member_per_fold_in_fold_order(tmp_path):
    kfold = tmp_path / "kfold"
    for fold in (1, 2, 10):
        run_folder(kfold / f"fold-{fold}", temporal_payload(seed=fold), "last.pt", "best.pt")
    opened = open_model(kfold, "cpu")
    assert opened.is_kfold and opened.family is ModelFamily.TEMPORAL
    assert [member.checkpoint.parent.name for member in opened.members] == ["fold-1", "fold-2", "fold-10"]


def test_a_kfold_folder_mixing_kinds_is_refused(tmp_path):
    kfold = tmp_path / "kfold"
    run_folder(kfold / "fold-1", temporal_payload())
    run_folder(kfold / "fold-2", frame_payload())
    with pytest.raises(CheckpointError, match="models of different kinds"):
        open_model(kfold, "cpu")


def test_a_command_needing_one_per_frame_model_says_why_it_cannot_take_another(tmp_path):
    temporal = run_folder(tmp_path / "temporal", temporal_payload())
    with pytest.raises(CheckpointError) as raised:
        open_frame_model(temporal, "cpu", use="abaw features embed")
    message = str(raised.value)
    assert "temporal model of abaw temporal train" in message
    assert "abaw features embed takes a per-frame model of abaw train" in message
    kfold = tmp_path / "kfold"
    run_folder(kfold / "fold-1", temporal_payload())
    run_folder(kfold / "fold-2", temporal_payload())
    with pytest.raises(CheckpointError, match=r"is a kfold run folder of abaw temporal train \(2 folds\)"):
        open_frame_model(kfold, "cpu", use="abaw features embed")
    frame = run_folder(tmp_path / "frame", frame_payload())
    assert load_trained_model(frame, "cpu").variant == "disc-tiny"


def test_an_unknown_kind_and_a_missing_path_are_one_line(tmp_path):
    payload = {**frame_payload(), "kind": "hologram"}
    save_checkpoint(tmp_path / "odd.pt", payload)
    with pytest.raises(CheckpointError, match="unknown kind 'hologram'"):
        open_model(tmp_path / "odd.pt", "cpu")
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        open_model(tmp_path / "missing.pt", "cpu")
