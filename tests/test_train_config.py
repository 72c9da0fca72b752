"""Training settings, devices and checkpoints: the small pieces the trainer stands on."""

from __future__ import annotations

import pytest
import torch
import yaml

from abaw.choices import parse_enum
from abaw.data.frame_counts import FrameCountRule
from abaw.data.layout import Split
from abaw.data.source import DatasetSource
from abaw.errors import CheckpointError, ConfigError
from abaw.runtime.checkpoint import CHECKPOINT_FORMAT, load_checkpoint, load_weights, save_checkpoint
from abaw.runtime.devices import DeviceError, Distributed, resolve_device
from abaw.training.config import Precision, Protocol, TrainConfig, read_config_file, resolve_config
from abaw.training.solver import uses_bf16


@pytest.mark.parametrize("protocol", list(Protocol))
def test_every_protocol(protocol):
    assert Split.TRAIN in protocol.train_splits
    assert (Split.VALIDATION in protocol.train_splits) is not protocol.evaluates
    assert TrainConfig(protocol=protocol.value).protocol is protocol


@pytest.mark.parametrize("precision", list(Precision))
def test_every_precision(precision):
    assert uses_bf16(precision, torch.device("cuda")) is (precision is not Precision.FP32)
    assert uses_bf16(precision, torch.device("cpu")) is (precision is Precision.BF16)


def test_round_trip_is_plain_and_lossless():
    config = TrainConfig(variant="disc", betas=[0.4, 0.9], noise_artifacts=["blur"], dataset={"root": "/d"})
    plain = config.to_dict()
    assert plain["betas"] == [0.4, 0.9] and plain["protocol"] == "val" and plain["noise_artifacts"] == ["blur"]
    assert TrainConfig.from_dict(plain) == config


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"epoch": 1}, "unknown setting(s) epoch"),
        ({"epochs": 0}, "epochs must be at least 1"),
        ({"protocol": "test"}, "protocol must be one of val, final, got 'test'"),
        ({"lr": 0}, "lr must be positive"),
        ({"betas": [0.5]}, "betas must be two numbers"),
        ({"workers": -1}, "workers must be 0 or more"),
    ],
)
def test_bad_settings_name_their_source(values, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
        TrainConfig.from_dict(values, source="run.yaml")
    assert str(caught.value).startswith("run.yaml: ")


def test_flags_override_the_file_which_overrides_defaults(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("epochs: 7\nbatch-size: 12\nlr: 2.0e-4\n")
    config = resolve_config(path, epochs=3, lr=None)
    assert (config.epochs, config.batch_size, config.lr, config.n_critic) == (3, 12, 2e-4, 5)
    assert read_config_file(tmp_path / "c.yaml")["batch_size"] == 12
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert resolve_config(empty) == TrainConfig()


def test_unreadable_config_file(tmp_path):
    with pytest.raises(ConfigError, match="No such file"):
        read_config_file(tmp_path / "missing.yaml")


def test_devices():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(DeviceError, match="unknown device 'tpu'"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="no CUDA GPU"):
            resolve_device("cuda")


def test_shards_cover_every_row_once():
    rows = sorted(row for rank in range(3) for row in range(10)[Distributed(rank=rank, world_size=3).shard(10)])
    assert rows == list(range(10))
    alone = Distributed()
    assert alone.gather(5) == [5] and alone.broadcast(5) == 5 and alone.mean({"a": 1.0}) == {"a": 1.0}


def test_checkpoint_round_trip_with_weights_only(tmp_path):
    path = save_checkpoint(
        tmp_path / "c.pt", {"config": {"epochs": 2}, "model_config": {}, "model": {"w": torch.ones(2)}}
    )
    loaded = load_checkpoint(path)
    assert (
        loaded["format"] == CHECKPOINT_FORMAT and loaded["version"] and torch.equal(loaded["model"]["w"], torch.ones(2))
    )
    assert list(load_weights(path)) == ["w"]
    torch.save({"layer.weight": torch.zeros(1), "step": 3}, tmp_path / "bare.pt")
    assert list(load_weights(tmp_path / "bare.pt")) == ["layer.weight"]


def test_bad_checkpoints_are_named(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match=r"junk\.pt: not a readable checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"model": {}}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an abaw checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    save_checkpoint(tmp_path / "new.pt", {"config": {}, "model_config": {}, "model": {}})
    newer = torch.load(tmp_path / "new.pt", weights_only=True)
    newer["format"] = CHECKPOINT_FORMAT + 1
    torch.save(newer, tmp_path / "new.pt")
    with pytest.raises(CheckpointError, match="newer abaw"):
        load_checkpoint(tmp_path / "new.pt")
    torch.save({"note": "no tensors"}, tmp_path / "empty.pt")
    with pytest.raises(CheckpointError, match="holds no model weights"):
        load_weights(tmp_path / "empty.pt")


class Evil:
    """Not a tensor, not a primitive: weights_only loading must refuse it."""


def test_pickled_code_is_refused(tmp_path):
    torch.save({"format": 1, "config": {}, "model_config": {}, "model": {}, "x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="not a readable checkpoint") as caught:
        load_checkpoint(tmp_path / "evil.pt")
    # torch's own text goes on to advise weights_only=False, which would run the file's code.
    assert "not a weights-only checkpoint" in str(caught.value) and "weights_only" not in str(caught.value)


def test_dataset_source_round_trips_through_yaml_with_absolute_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    source = DatasetSource("data", frames=("crops/a", "crops/b"), frame_counts="counts.txt", frame_count_rule="P+1")
    config = resolve_config(dataset=source)
    assert config.dataset.root == tmp_path / "data" and config.dataset.frames[1] == tmp_path / "crops" / "b"
    assert config.dataset.frame_counts == tmp_path / "counts.txt"
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config.to_dict()))
    stored = yaml.safe_load(path.read_text())["dataset"]
    assert stored == {
        "root": str(tmp_path / "data"),
        "frames": [str(tmp_path / "crops" / "a"), str(tmp_path / "crops" / "b")],
        "frame_counts": str(tmp_path / "counts.txt"),
        "frame_count_rule": "P+1",
    }
    monkeypatch.chdir(tmp_path / "..")
    assert resolve_config(path) == config and resolve_config(path).dataset == source


@pytest.mark.parametrize(
    ("dataset", "message"),
    [
        ({"root": "/d", "frame": ["/d/a"]}, "run.yaml: dataset: unknown setting(s) frame; known: root, annotations"),
        ({"cache": "/c"}, "run.yaml: no dataset root given (pass --root)"),
        ({"root": "/d", "frames": "/d/a"}, "run.yaml: dataset: frames: expected a list of folders, got '/d/a'"),
        ({"root": 3}, "run.yaml: dataset: root: expected a path, got 3"),
        ("/d", "run.yaml: dataset: expected a mapping, got '/d'"),
    ],
)
def test_bad_dataset_settings_are_config_errors(dataset, message):
    with pytest.raises(ConfigError) as caught:
        TrainConfig.from_dict({"dataset": dataset}, source="run.yaml")
    assert str(caught.value).startswith(message)


def test_no_dataset_is_refused_when_needed():
    with pytest.raises(ConfigError, match=r"no dataset root given \(pass --root\)"):
        TrainConfig().require_dataset()


def test_parse_enum_members_values_and_loose_text():
    assert parse_enum(Protocol, Protocol.FINAL, "protocol") is Protocol.FINAL
    assert parse_enum(FrameCountRule, "max(p + 1, CROPS)", "rule", loose=True) is FrameCountRule.MAX_P_PLUS_1_CROPS
    with pytest.raises(ConfigError, match=r"^rule must be one of P, P\+1, .*, got 'p\+1'$"):
        parse_enum(FrameCountRule, "p+1", "rule")
    with pytest.raises(ValueError, match="protocol must be one of val, final, got 3"):
        parse_enum(Protocol, 3, "protocol")
