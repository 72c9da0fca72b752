"""Training runs end to end on generated data: learning, checkpoints, resume, protocols, audio, torchrun."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from abaw.data.audio import AudioFeatureConfig, AudioFeaturesNotReady, extract_audio_features, features_folder
from abaw.data.index import open_dataset
from abaw.data.layout import Split
from abaw.data.samples import split_frames
from abaw.errors import AbawError, CheckpointError, DataError, OutputExistsError
from abaw.fitting.class_weights import class_balanced_weights
from abaw.fitting.records import Reporter
from abaw.prediction.members import predict_entries
from abaw.prediction.open import load_trained_model
from abaw.runtime.checkpoint import load_checkpoint
from abaw.runtime.evaluation import score_split
from abaw.synthetic import GeneratorConfig, generate_dataset
from abaw.training.config import Protocol, TrainConfig
from abaw.training.trainer import best_epoch_of, resume_config, train


@pytest.fixture(scope="module")
def train_root(tmp_path_factory) -> Path:
    """Enough generated frames (about 600) for a tiny model to learn something."""
    return generate_dataset(tmp_path_factory.mktemp("train") / "data", GeneratorConfig(videos=8, frames=90)).root


def tiny(root: Path, **changes) -> TrainConfig:
    values = {
        "variant": "disc-tiny",
        "epochs": 1,
        "batch_size": 16,
        "lr": 1e-3,
        "workers": 0,
        "eval_batch_size": 128,
        "dataset": {"root": str(root)},
    }
    values.update(changes)
    return TrainConfig.from_dict(values)


@pytest.mark.slow
def test_disc_learns_and_writes_its_run(train_root, tmp_path):
    result = train(tiny(train_root, epochs=6), tmp_path / "run")
    first, last = result.rows[0], result.rows[-1]
    assert last["D/loss"] < first["D/loss"]
    best = max(row["val/ccc_mean"] for row in result.rows)
    assert best > 0.3, result.rows
    assert best == pytest.approx(load_checkpoint(result.best)["best"]["ccc_mean"])
    run = tmp_path / "run"
    for name in ("last.pt", "best.pt", "metrics.jsonl", "metrics.csv", "config.yaml", "class_weights.json"):
        assert (run / name).is_file(), name
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 6
    assert len((run / "metrics.csv").read_text().splitlines()) == 7
    checkpoint = load_checkpoint(run / "last.pt")
    assert checkpoint["epoch"] == 6 and checkpoint["config"]["variant"] == "disc-tiny"
    assert checkpoint["class_weights"].shape == (2, 21)
    assert set(checkpoint["optimizers"]) == {"D"}
    assert checkpoint["version"]
    assert best_epoch_of(run) == result.best_epoch


@pytest.mark.slow
def test_class_weights_come_from_the_trained_frames(train_root, tmp_path):
    for protocol in Protocol:
        run = tmp_path / protocol.value
        train(tiny(train_root, protocol=protocol.value, steps_per_epoch=1), run)
        saved = json.loads((run / "class_weights.json").read_text())
        samples = split_frames(open_dataset(train_root), protocol.train_splits, labelled=True)
        expected = class_balanced_weights(samples.targets)
        assert saved["frames"] == len(samples)
        np.testing.assert_allclose(saved["valence"], expected[0], rtol=1e-6)
        np.testing.assert_allclose(saved["arousal"], expected[1], rtol=1e-6)
        assert (run / "best.pt").is_file() is protocol.evaluates
        row = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
        assert ("val/ccc_mean" in row) is protocol.evaluates


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["model"]


@pytest.mark.slow
def test_interrupted_and_resumed_run_ends_with_the_same_weights(train_root, tmp_path):
    config = tiny(train_root, variant="aeg-cd-tiny", epochs=2, steps_per_epoch=3, n_critic=2, batch_size=8)
    train(config, tmp_path / "whole")

    def kill_after_first_epoch(epoch, row):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "cut", on_epoch_end=kill_after_first_epoch)
    assert load_checkpoint(tmp_path / "cut" / "last.pt")["epoch"] == 1
    train(resume_config(tmp_path / "cut"), tmp_path / "cut", resume=True)
    whole, resumed = _weights(tmp_path / "whole" / "last.pt"), _weights(tmp_path / "cut" / "last.pt")
    assert whole.keys() == resumed.keys()
    for key in whole:
        assert torch.equal(whole[key], resumed[key]), key
    rows = (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(row)["epoch"] for row in rows] == [1, 2]


@pytest.mark.slow
def test_run_folder_is_not_overwritten_without_force(train_root, tmp_path):
    run = tmp_path / "run"
    train(tiny(train_root, steps_per_epoch=1), run)
    before = (run / "last.pt").read_bytes()
    with pytest.raises(OutputExistsError, match="--resume"):
        train(tiny(train_root, steps_per_epoch=1), run)
    assert (run / "last.pt").read_bytes() == before
    with pytest.raises(CheckpointError, match="nothing to resume"):
        train(tiny(train_root), tmp_path / "empty", resume=True)
    train(tiny(train_root, steps_per_epoch=1, seed=3), run, force=True)
    assert load_checkpoint(run / "last.pt")["config"]["seed"] == 3


@pytest.mark.slow
def test_init_loads_the_previous_stage(train_root, tmp_path):
    train(tiny(train_root, steps_per_epoch=1), tmp_path / "disc")
    notes = []

    class Notes(Reporter):
        def note(self, message):
            notes.append(message)

    # A learning rate this small leaves every weight where the first step found it (Adam moves by about lr).
    gan = dict(variant="aeg-cd-tiny", steps_per_epoch=1, lr=1e-12)
    train(tiny(train_root, **gan, init=str(tmp_path / "disc" / "last.pt")), tmp_path / "gan", reporter=Notes())
    assert notes and "--init" in notes[0]
    train(tiny(train_root, **gan), tmp_path / "fresh")

    disc = load_checkpoint(tmp_path / "disc" / "last.pt")["model"]
    started = load_checkpoint(tmp_path / "gan" / "last.pt")["model"]
    fresh = load_checkpoint(tmp_path / "fresh" / "last.pt")["model"]
    shared = [key for key in disc if key in started and disc[key].shape == started[key].shape]
    assert shared and all(key.startswith("discriminator.") for key in shared)
    for key in shared:
        assert torch.allclose(started[key].float(), disc[key].float(), atol=1e-6), key
    assert any(not torch.allclose(fresh[key].float(), disc[key].float(), atol=1e-3) for key in shared)


@pytest.mark.slow
def test_corrupt_face_image_stops_training_with_its_name(train_root, tmp_path):
    root = Path(shutil.copytree(train_root, tmp_path / "data"))
    samples = split_frames(open_dataset(root), [Split.TRAIN], labelled=True)
    bad = open_dataset(root).entries[samples.names[0]].frames_dir / f"{int(samples.frames[0]):05d}.jpg"
    bad.write_bytes(b"\xff\xd8 broken")
    with pytest.raises(DataError, match=str(bad).replace("\\", "\\\\")):
        train(tiny(root), tmp_path / "run")


@pytest.mark.slow
def test_sz_variant_needs_audio_features_then_trains_on_them(train_root, tmp_path):
    root = Path(shutil.copytree(train_root, tmp_path / "data"))
    config = tiny(root, variant="aeg-cd-sz-tiny", steps_per_epoch=2, batch_size=8)
    with pytest.raises(AudioFeaturesNotReady, match="no audio features for video"):
        train(config, tmp_path / "run")
    extract_audio_features(open_dataset(root), AudioFeatureConfig())
    result = train(config, tmp_path / "run", force=True)
    checkpoint = load_checkpoint(result.last)
    assert checkpoint["model_config"]["audio_dim"] == AudioFeatureConfig().dim
    assert checkpoint["audio"]["mean"].shape == (AudioFeatureConfig().dim,)
    # The model is fed features standardised with the train split's statistics, and keeps them.
    stats = json.loads((features_folder(open_dataset(root), AudioFeatureConfig()) / "stats.json").read_text())
    np.testing.assert_allclose(checkpoint["audio"]["mean"].numpy(), stats["mean"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(checkpoint["audio"]["std"].numpy(), stats["std"], rtol=1e-5, atol=1e-6)
    trained = load_trained_model(result.last, "cpu")
    predictions = predict_entries(trained, open_dataset(root), Split.VALIDATION, workers=0)
    assert score_split(predictions, open_dataset(root), Split.VALIDATION).scores.frames > 0


@pytest.mark.slow
def test_torchrun_two_cpu_processes(train_root, tmp_path):
    """DDP with gloo: the validation score logged by the two ranks is the whole split's score."""
    run = tmp_path / "ddp"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
        "-m", "abaw", "-q", "train", "--root", str(train_root), "--variant", "aeg-cd-tiny", "--out", str(run),
        "--epochs", "1", "--steps-per-epoch", "3", "--batch-size", "8", "--n-critic", "2", "--workers", "0",
        "--device", "cpu",
    ]  # fmt: skip
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    finished = subprocess.run(command, capture_output=True, text=True, timeout=300, env=environment)
    assert finished.returncode == 0, finished.stderr[-3000:]
    row = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert row["iteration"] == 3
    index = open_dataset(train_root)
    predictions = predict_entries(load_trained_model(run / "last.pt", "cpu"), index, Split.VALIDATION, workers=0)
    single = score_split(predictions, index, Split.VALIDATION).scores
    assert row["val/frames"] == single.frames
    assert row["val/ccc_mean"] == pytest.approx(single.ccc_mean, abs=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["disc-tiny", "aeg-cd-tiny"])
def test_bf16_autocast_steps_are_finite(train_root, tmp_path, variant):
    """The CUDA path's bf16 autocast, exercised on the CPU (channels-last applies on CUDA only)."""
    config = tiny(train_root, variant=variant, precision="bf16", steps_per_epoch=2, n_critic=1, batch_size=8)
    row = train(config, tmp_path / "run").rows[-1]
    losses = [value for key, value in row.items() if key.startswith(("D/", "G/"))]
    assert losses and np.isfinite(losses).all()


def test_tensorboard_missing_is_one_line_before_anything_is_written(train_root, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(AbawError, match=r"abaw\[tensorboard\]"):
        train(tiny(train_root, tensorboard=True), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_tensorboard_gets_every_epoch(train_root, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = train(tiny(train_root, tensorboard=True, epochs=2, steps_per_epoch=1), tmp_path / "run")
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    events.Reload()
    tags = events.Tags()["scalars"]
    assert "D/loss" in tags and any(tag.startswith("val/") or "ccc" in tag.lower() for tag in tags)
    logged = events.Scalars("D/loss")
    assert [event.step for event in logged] == [row["epoch"] for row in result.rows] == [1, 2]
    assert [event.value for event in logged] == pytest.approx([row["D/loss"] for row in result.rows])


def test_live_losses_average_each_term_over_the_steps_it_appears_in():
    from rich.console import Console

    from abaw.cli.render_training import RichReporter

    reporter = RichReporter(Console(file=io.StringIO()), show_progress=False)
    reporter.start_epoch(1, 1, 4)
    for step in range(4):
        reporter.step({"D/loss": float(step), **({"G/loss": 10.0 + step} if step % 2 else {})})
    assert reporter.running == {"D/loss": 1.5, "G/loss": 12.0}


def test_epoch_line_shows_the_temporal_models_loss():
    from rich.console import Console

    from abaw.cli.render_training import RichReporter

    console = Console(file=io.StringIO(), width=200)
    reporter = RichReporter(console, show_progress=False)
    reporter.start_epoch(1, 1, 1)
    reporter.step({"loss": 0.25})
    reporter.end_epoch({"epoch": 1, "loss": 0.25, "val/ccc_mean": 0.5, "seconds": 1.0})
    line = console.file.getvalue()
    assert "loss 0.2500" in line and "val/ccc_mean 0.5000" in line
