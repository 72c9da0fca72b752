"""``abaw temporal train`` end to end on the generated dataset (audio features), tiny models, few epochs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from abaw.cli import cli
from abaw.data.audio import AudioFeatureConfig, extract_audio_features
from abaw.data.index import open_dataset
from abaw.data.layout import Split
from abaw.data.names import video_stem
from abaw.data.source import DatasetSource
from abaw.fitting.records import Reporter
from abaw.prediction.embed import extract_embeddings
from abaw.prediction.ensemble import load_ensemble
from abaw.runtime.checkpoint import load_checkpoint
from abaw.runtime.evaluation import score_entries
from abaw.temporal.config import TemporalConfig
from abaw.temporal.trainer import train_temporal
from tests.helpers import untrained_checkpoint

TINY = {"window": 16, "hidden": 8, "layers": 2, "heads": 2, "batch_size": 4, "device": "cpu", "epochs": 2}


@pytest.fixture(scope="module")
def root(generated, tmp_path_factory) -> Path:
    """The generated dataset with its audio features extracted (tests must not modify it)."""
    copy = Path(shutil.copytree(generated.root, tmp_path_factory.mktemp("temporal") / "data", symlinks=True))
    extract_audio_features(open_dataset(copy), AudioFeatureConfig())
    return copy


def tiny(root: Path, **changes) -> TemporalConfig:
    return TemporalConfig(dataset=DatasetSource(root), **{**TINY, **changes})


def run(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["-q", *map(str, args)], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def kfold_run(root, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("kfold") / "run"
    train_temporal(tiny(root, protocol="kfold", folds=2, model="gru"), out)
    return out


@pytest.mark.slow
def test_resume_ends_bit_identical_to_an_uninterrupted_run(root, tmp_path):
    straight = train_temporal(tiny(root, model="tcn", dropout=0.2), tmp_path / "straight")
    train_temporal(tiny(root, model="tcn", dropout=0.2, epochs=1), tmp_path / "resumed")
    resumed = train_temporal(tiny(root, model="tcn", dropout=0.2), tmp_path / "resumed", resume=True)
    one, other = load_checkpoint(straight.run_dir / "last.pt"), load_checkpoint(resumed.run_dir / "last.pt")
    assert one["epoch"] == other["epoch"] == 2
    for key, tensor in one["model"].items():
        assert torch.equal(tensor, other["model"][key]), key
    assert [row["val/ccc_mean"] for row in straight.rows] == [row["val/ccc_mean"] for row in resumed.rows]
    assert len((tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()) == 2


@pytest.mark.slow
def test_kfold_out_of_fold_predictions_cover_every_entry_once_and_folds_never_share_a_video(root, kfold_run):
    summary = json.loads((kfold_run / "summary.json").read_text())
    index = open_dataset(root)
    usable = set(index.usable_entries([Split.TRAIN, Split.VALIDATION]).names)
    held_out = [name for fold in summary["folds"] for name in fold["entries"]]
    assert sorted(held_out) == sorted(usable)  # every Train+Val entry exactly once
    videos = [{video_stem(name) for name in fold["entries"]} for fold in summary["folds"]]
    assert not videos[0] & videos[1]
    written = sorted(path.stem for path in (kfold_run / "oof").glob("*.txt"))
    assert written == sorted(usable)
    for name in written:  # official per-video files: header and one line per label line
        lines = (kfold_run / "oof" / f"{name}.txt").read_text().splitlines()
        assert lines[0] == "valence,arousal" and len(lines) == index.entries[name].label_rows + 1
    scores = [fold["ccc_mean"] for fold in summary["folds"]]
    assert summary["fold_ccc_mean"] == pytest.approx(np.mean(scores))
    assert summary["fold_ccc_std"] == pytest.approx(np.std(scores))
    for number in (1, 2):
        checkpoint = load_checkpoint(kfold_run / f"fold-{number}" / "best.pt")
        assert checkpoint["config"]["fold"] == number
        assert checkpoint["features"] == {
            "names": ["audio"],
            "dims": [AudioFeatureConfig().dim],
            "fingerprints": {"audio": "eGeMAPSv02-first2 format 2"},
            "made_from": {"audio": "audio features eGeMAPSv02-first2"},
        }


@pytest.mark.slow
def test_an_ensemble_of_two_identical_checkpoints_equals_one(root, kfold_run):
    index = open_dataset(root)
    checkpoint = kfold_run / "fold-1" / "best.pt"
    one = load_ensemble([checkpoint], "cpu").predict(index, Split.VALIDATION)
    two = load_ensemble([checkpoint, checkpoint], "cpu").predict(index, Split.VALIDATION)
    assert one.keys() == two.keys() and one
    for name, video in one.items():
        np.testing.assert_array_equal(video.frames, two[name].frames)
        np.testing.assert_allclose(video.values, two[name].values, rtol=0, atol=1e-12)
    # Every frame is predicted, not only the frames with a face.
    assert all(len(video) == index.entries[name].label_rows for name, video in one.items())


@pytest.mark.slow
def test_a_kfold_folder_is_the_ensemble_of_its_folds_and_mixes_with_per_frame_checkpoints(root, kfold_run, tmp_path):
    ensemble = load_ensemble([kfold_run], "cpu")
    assert ensemble.checkpoints == [str(kfold_run / f"fold-{k}" / "best.pt") for k in (1, 2)]
    assert ensemble.weights == [0.5, 0.5]
    per_frame = untrained_checkpoint(tmp_path / "disc.pt")
    code, _, stderr = run(
        "predict", "--root", root, "--checkpoint", kfold_run, "--checkpoint", per_frame, "--weights", "2,1",
        "--device", "cpu", "--workers", 0, "--out", tmp_path / "pred", "--json", tmp_path / "pred.json",
    )  # fmt: skip
    assert code == 0, stderr
    payload = json.loads((tmp_path / "pred.json").read_text())
    assert payload["weights"] == [1.0, 1.0, 1.0] and payload["frames"] > 0
    index = open_dataset(root)
    for entry in index.split(Split.VALIDATION):
        lines = (tmp_path / "pred" / f"{entry.name}.txt").read_text().splitlines()
        assert len(lines) == entry.label_rows + 1


@pytest.mark.slow
def test_plot_and_embed_take_the_paths_predict_takes_or_say_why_not(root, kfold_run, tmp_path):
    # abaw plot draws a kfold folder's predictions (its folds averaged); a temporal model has no reconstruction.
    code, _, stderr = run(
        "plot", kfold_run, "--root", root, "--out", tmp_path / "figures", "--max-videos", 1, "--device", "cpu",
        "--json", tmp_path / "figures.json",
    )  # fmt: skip
    assert code == 0, stderr
    report = json.loads((tmp_path / "figures.json").read_text())
    assert [figure["kind"] for figure in report["figures"]] == ["affect"]
    assert report["variant"] == "ensemble of 2 (temporal-gru, temporal-gru)"
    assert any("reconstruction figure skipped" in note for note in report["notes"])
    # abaw features embed needs one per-frame model: one line naming what the folder holds.
    code, _, stderr = run("features", "embed", "--checkpoint", kfold_run, "--root", root, "--device", "cpu")
    assert code == 2 and stderr.count("\n") == 1, stderr
    assert "kfold run folder of abaw temporal train (2 folds); abaw features embed takes one per-frame" in stderr
    code, _, stderr = run("features", "embed", "--checkpoint", kfold_run / "fold-1", "--root", root)
    assert code == 2 and "holds a temporal model of abaw temporal train" in stderr, stderr


@pytest.mark.slow
def test_cli_trains_val_protocol_writes_json_and_refuses_to_overwrite(root, tmp_path):
    out = tmp_path / "run"
    args = ("temporal", "train", "--root", root, "--features", "audio", "--model", "transformer", "--window", 16,
            "--epochs", 2, "--hidden", 8, "--layers", 1, "--heads", 2, "--device", "cpu", "--loss", "ccc",
            "--out", out)  # fmt: skip
    code, _, stderr = run(*args, "--json", tmp_path / "result.json")
    assert code == 0, stderr
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["protocol"] == "val" and len(result["rows"]) == 2
    assert result["scores"]["ccc_mean"] == max(row["val/ccc_mean"] for row in result["rows"])
    assert (out / "best.pt").is_file() and (out / "config.yaml").is_file()
    checkpoint = torch.load(out / "last.pt", weights_only=True)
    assert checkpoint["kind"] == "temporal" and checkpoint["config"]["loss"] == "ccc"
    code, _, stderr = run(*args)
    assert code == 2 and "--force" in stderr and len(stderr.strip().splitlines()) == 1
    code, _, stderr = run("temporal", "train", "--out", out, "--resume", "--epochs", 3)
    assert code == 0, stderr
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 3


def test_missing_features_and_outputs_in_the_dataset_are_one_line_errors(generated, root, tmp_path):
    code, _, stderr = run("temporal", "train", "--root", generated.root, "--out", tmp_path / "run", "--device", "cpu")
    assert code == 2 and "no audio features" in stderr and len(stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()
    code, _, stderr = run("temporal", "train", "--root", root, "--out", root / "run")
    assert code == 2 and len(stderr.strip().splitlines()) == 1
    code, _, stderr = run("temporal", "train", "--root", root, "--features", "aln", "--out", tmp_path / "x")
    assert code == 2 and "aln" in stderr and len(stderr.strip().splitlines()) == 1
    code, _, stderr = run("temporal", "train", "--out", tmp_path / "none", "--resume")
    assert code == 2 and "nothing to resume" in stderr


@pytest.mark.slow
def test_embeddings_and_audio_train_together_and_predict(root, tmp_path):
    data = Path(shutil.copytree(root, tmp_path / "data", symlinks=True))
    index = open_dataset(data)
    extract_embeddings(index, untrained_checkpoint(tmp_path / "disc.pt"), "aln", device="cpu", workers=0)
    result = train_temporal(tiny(data, features=("audio", "aln"), epochs=1), tmp_path / "run")
    checkpoint = load_checkpoint(result.run_dir / "best.pt")
    names, dims = checkpoint["features"]["names"], checkpoint["features"]["dims"]
    assert names == ["aln", "audio"] and dims[1] == AudioFeatureConfig().dim  # visual columns first
    assert checkpoint["model_config"]["visual_dim"] == dims[0] > 0
    predictions = load_ensemble([result.run_dir], "cpu").predict(open_dataset(data), Split.VALIDATION)
    assert sorted(predictions) == sorted(entry.name for entry in index.split(Split.VALIDATION))


@pytest.mark.slow
def test_torchrun_two_cpu_processes_train_one_model(root, tmp_path):
    run_dir = tmp_path / "ddp"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
        "-m", "abaw", "-q", "temporal", "train", "--root", str(root), "--model", "gru", "--window", "16",
        "--epochs", "2", "--hidden", "8", "--layers", "1", "--batch-size", "4", "--device", "cpu",
        "--out", str(run_dir),
    ]  # fmt: skip
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    finished = subprocess.run(command, capture_output=True, text=True, timeout=300, env=environment)
    assert finished.returncode == 0, finished.stderr[-3000:]
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2]
    # --batch-size counts windows over all processes: each rank steps on half a batch of its half of the windows.
    alone = train_temporal(tiny(root, model="gru", layers=1), tmp_path / "alone")
    assert rows[-1]["iteration"] == alone.rows[-1]["iteration"]
    assert load_checkpoint(run_dir / "best.pt")["kind"] == "temporal"


class StopAtFold(Reporter):
    """Interrupts a kfold run as its second fold starts, as Ctrl-C would."""

    def note(self, message: str) -> None:
        if message.startswith("fold 2/"):
            raise KeyboardInterrupt


@pytest.mark.slow
def test_an_interrupted_kfold_run_resumes_to_the_same_folds_and_scores(root, kfold_run, tmp_path):
    out = tmp_path / "run"
    config = tiny(root, protocol="kfold", folds=2, model="gru")
    with pytest.raises(KeyboardInterrupt):
        train_temporal(config, out, reporter=StopAtFold())
    assert (out / "fold-1" / "last.pt").is_file() and not (out / "fold-2" / "last.pt").exists()
    resumed = train_temporal(config, out, resume=True)
    expected = json.loads((kfold_run / "summary.json").read_text())
    assert [fold.scores.ccc_mean for fold in resumed.folds] == [fold["ccc_mean"] for fold in expected["folds"]]
    for number in (1, 2):
        one = load_checkpoint(out / f"fold-{number}" / "last.pt")["model"]
        other = load_checkpoint(kfold_run / f"fold-{number}" / "last.pt")["model"]
        assert all(torch.equal(tensor, other[key]) for key, tensor in one.items())


def test_the_ridge_floor_trains_checkpoints_as_tensors_and_predicts_the_test_set(root, kfold_run, tmp_path):
    out = tmp_path / "ridge"
    code, _, stderr = run(
        "temporal", "train", "--root", root, "--model", "ridge", "--spans", "2,5", "--alphas", "1,100",
        "--folds", 2, "--device", "cpu", "--out", out, "--json", tmp_path / "ridge.json",
    )  # fmt: skip
    assert code == 0, stderr
    result = json.loads((tmp_path / "ridge.json").read_text())
    (row,) = result["rows"]
    assert result["epochs"] == 1 and row["alpha/audio"] in (1.0, 100.0) and row["folds"] == 2.0
    # weights_only: the coefficients are tensors, the settings plain values (no scikit-learn object inside).
    checkpoint = torch.load(out / "best.pt", weights_only=True)
    assert checkpoint["model_config"]["variant"] == "ridge" and checkpoint["model_config"]["spans"] == [2, 5]
    assert set(checkpoint["model"]) == {"weight", "bias"} and checkpoint["optimizers"] == {}
    code, _, stderr = run(
        "predict-test", "--checkpoint", out, "--checkpoint", kfold_run, "--root", root, "--device", "cpu",
        "--workers", 0, "--out", tmp_path / "submission", "--json", tmp_path / "submission.json",
    )  # fmt: skip
    assert code == 0, stderr
    assert json.loads((tmp_path / "submission.json").read_text())["check"]["ok"]
    code, _, stderr = run("temporal", "train", "--out", out, "--resume")  # a finished fit: nothing left to do
    assert code == 0, stderr
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1


@pytest.mark.slow
def test_kfold_scores_apart_the_entries_whose_embeddings_are_out_of_sample(root, tmp_path):
    import torch as _torch

    from abaw.model import create_model
    from abaw.runtime.checkpoint import save_checkpoint
    from abaw.training.config import TrainConfig

    data = Path(shutil.copytree(root, tmp_path / "data", symlinks=True))
    index = open_dataset(data)
    _torch.manual_seed(0)
    model = create_model("disc-tiny").eval()
    config = TrainConfig(variant="disc-tiny", dataset={"root": str(data)}).to_dict()  # trained on Train
    payload = {"config": config, "model_config": model.config.to_dict(), "model": model.state_dict(), "epoch": 1}
    report = extract_embeddings(index, save_checkpoint(tmp_path / "disc.pt", payload), "aln", device="cpu", workers=0)
    assert report.trained_on == (Split.TRAIN,)
    result = train_temporal(tiny(data, features=("aln", "audio"), protocol="kfold", folds=2), tmp_path / "k")
    validation = set(index.usable_entries([Split.VALIDATION]).names)
    assert result.unseen_entries == len(validation) > 0
    assert result.unseen_scores == score_entries(result.oof, index, sorted(validation)).scores
    summary = json.loads((tmp_path / "k" / "summary.json").read_text())
    assert summary["unseen_scores"]["ccc_mean"] == result.unseen_scores.ccc_mean
    # Audio alone comes from no trained model: every out-of-fold entry is unseen.
    alone = train_temporal(tiny(data, protocol="kfold", folds=2, epochs=1), tmp_path / "audio")
    assert alone.unseen_scores == alone.scores
    # The heldout protocol fits on Validation alone, by video folds.
    heldout = train_temporal(tiny(data, features=("aln", "audio"), protocol="heldout", folds=2), tmp_path / "h")
    assert sorted(heldout.oof) == sorted(validation) and heldout.unseen_entries == len(validation)
