"""Training settings, devices and checkpoints: the small pieces the trainer stands on."""

from __future__ import annotations

import pytest
import torch

from abaw.data.layout import Split
from abaw.errors import CheckpointError, DataError
from abaw.runtime.checkpoint import CHECKPOINT_FORMAT, load_checkpoint, load_weights, save_checkpoint
from abaw.runtime.devices import DeviceError, Distributed, resolve_device
from abaw.training.config import Precision, Protocol, RealLatent, TrainConfig, read_config_file, resolve_config
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


@pytest.mark.parametrize("real_latent", list(RealLatent))
def test_every_real_latent(real_latent):
    assert TrainConfig.from_dict({"real_latent": real_latent.value}).real_latent is real_latent


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
        ({"protocol": "test"}, "'test' is not a valid Protocol"),
        ({"lr": 0}, "lr must be positive"),
        ({"betas": [0.5]}, "betas must be two numbers"),
        ({"workers": -1}, "workers must be 0 or more"),
    ],
)
def test_bad_settings_name_their_source(values, message):
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")) as caught:
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
    with pytest.raises(DataError, match="No such file"):
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
