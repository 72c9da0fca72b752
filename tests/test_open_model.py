"""The one door to a trained model (``abaw/prediction/open.py``) and the temporal member it opens
(``abaw/prediction/members.py``), on checkpoints the tests write by hand."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from abaw.data.embeddings import checkpoint_fingerprint
from abaw.data.sequences import EntrySequence, Normalisation
from abaw.errors import CheckpointError
from abaw.model import ModelFamily, create_model, model_config
from abaw.outputs import OutputKind, write_marker
from abaw.prediction.members import TemporalMember, TrainedModel
from abaw.prediction.open import checkpoint_files, load_trained_model, open_frame_model, open_model
from abaw.runtime.checkpoint import load_weights, save_checkpoint
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


def fold_payload(fold: int, folds: int, epoch: int = 3, **settings) -> dict:
    """A fold of a kfold run of ``folds`` folds and 3 epochs, after ``epoch`` epochs."""
    payload = temporal_payload(seed=fold)
    config = {**payload["config"], "protocol": "kfold", "folds": folds, "epochs": 3, "seed": 0, "fold": fold}
    return {**payload, "config": {**config, **settings}, "epoch": epoch}


def kfold_run(path: Path, numbers: tuple[int, ...], *, summary: bool = True) -> Path:
    """A kfold run folder as abaw temporal train leaves it: every fold's best and last, then its summary.json."""
    for number in numbers:
        run_folder(path / f"fold-{number}", fold_payload(number, len(numbers)), "last.pt", "best.pt")
    if summary:
        folds = [
            {
                "fold": number,
                "best_epoch": 3,
                "checkpoint_sha256": checkpoint_fingerprint(path / f"fold-{number}/best.pt"),
            }
            for number in numbers
        ]
        (path / "summary.json").write_text(json.dumps({"protocol": "kfold", "folds": folds}))
    return path


def test_a_kfold_folder_is_one_member_per_fold_in_fold_order(tmp_path):
    kfold = kfold_run(tmp_path / "kfold", (1, 2, 10))
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


def unfinished_kfold(path: Path) -> Path:
    """A kfold run of 3 folds killed in fold 2: fold 1 done, fold 2 one epoch of three, no fold 3, no summary."""
    run_folder(path / "fold-1", fold_payload(1, 3), "last.pt", "best.pt")
    run_folder(path / "fold-2", fold_payload(2, 3, epoch=1), "last.pt")
    return path


UNFINISHED = (
    "{kfold}: an unfinished kfold run (no summary.json): fold-2 stopped after epoch 1 of 3, fold-3 not started; "
    "finish it with 'abaw temporal train --resume --out {kfold}' before predicting with it"
)
"""What an :func:`unfinished_kfold` run is refused with."""


def test_an_unfinished_kfold_run_is_refused_naming_how_far_each_fold_got_and_the_resume(tmp_path):
    kfold = unfinished_kfold(tmp_path / "kfold")
    with pytest.raises(CheckpointError) as raised:
        open_model(kfold, "cpu")
    assert str(raised.value) == UNFINISHED.format(kfold=kfold)


def test_a_kfold_run_missing_a_fold_or_holding_one_of_another_run_is_refused(tmp_path):
    deleted = kfold_run(tmp_path / "deleted", (1, 2, 3))
    shutil.rmtree(deleted / "fold-3")
    with pytest.raises(CheckpointError, match=r"records 3 folds; missing: fold-3, not of this run: none"):
        open_model(deleted, "cpu")
    # A fold copied from a run of other settings.
    other_settings = kfold_run(tmp_path / "settings", (1, 2, 3))
    save_checkpoint(other_settings / "fold-2" / "best.pt", fold_payload(2, 3, seed=7))
    with pytest.raises(CheckpointError) as raised:
        open_model(other_settings, "cpu")
    assert str(raised.value).startswith(f"{other_settings / 'fold-2' / 'best.pt'}: trained with other settings than ")
    assert "seed was 0, now 7" in str(raised.value)
    # A fold copied from a run of the same settings (here: another epoch's weights): not the bytes the summary records.
    same_settings = kfold_run(tmp_path / "same", (1, 2, 3))
    save_checkpoint(same_settings / "fold-2" / "best.pt", {**fold_payload(2, 3), "model": fold_payload(5, 3)["model"]})
    with pytest.raises(CheckpointError, match=r"fold-2/best.pt: is not the checkpoint summary.json records for fold 2"):
        open_model(same_settings, "cpu")


def test_a_runs_config_yaml_given_as_a_checkpoint_names_the_run_folder_instead(tmp_path):
    run = run_folder(tmp_path / "run", frame_payload())
    (run / "config.yaml").write_text("variant: disc-tiny\nepochs: 3\n")
    with pytest.raises(CheckpointError) as raised:
        open_model(run / "config.yaml", "cpu")
    assert str(raised.value) == (
        f"{run / 'config.yaml'}: is the run's settings (a YAML text file), not a checkpoint: give the run folder "
        f"{run}, or its best.pt or last.pt"
    )
    (tmp_path / "notes.txt").write_text("best epoch 3\n")
    with pytest.raises(CheckpointError, match=r"notes.txt: is a text file, not a checkpoint: give a best.pt"):
        load_weights(tmp_path / "notes.txt")


def test_a_chain_of_stages_given_as_one_run_lists_its_stage_folders(tmp_path):
    chain = tmp_path / "runs"
    for stage in ("disc", "aeg-cd"):
        run_folder(chain / stage, frame_payload())
    with pytest.raises(CheckpointError) as raised:
        open_model(chain, "cpu")
    assert str(raised.value) == (
        f"{chain}: no best.pt or last.pt in this folder, but in its run folders aeg-cd, disc (a chain of abaw train "
        f"--stages?): give one of them, e.g. {chain / 'disc'}"
    )


def test_a_temporal_checkpoint_given_as_init_names_what_it_holds_and_what_init_takes(tmp_path):
    path = save_checkpoint(tmp_path / "temporal.pt", temporal_payload())
    with pytest.raises(CheckpointError) as raised:
        load_weights(path)
    assert str(raised.value) == (
        f"{path}: holds a temporal model of abaw temporal train; --init takes a per-frame model of abaw train"
    )
    assert set(load_weights(save_checkpoint(tmp_path / "frame.pt", frame_payload()))) == set(
        create_model("disc-tiny").state_dict()
    )
