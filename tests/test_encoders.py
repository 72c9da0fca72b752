"""Pretrained frame encoders from local weights files (``abaw features embed --encoder``), with tiny timm networks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from click.testing import CliRunner
from safetensors.torch import save_file

from abaw.cli import cli
from abaw.cli.render_errors import error_line
from abaw.data.audio import AudioFeatureConfig, extract_audio_features
from abaw.data.embeddings import EmbeddingsNotReady
from abaw.data.embeddings.cache import ENCODER_RECORD
from abaw.data.frames import frame_image_path
from abaw.data.index import open_dataset
from abaw.data.layout import Split
from abaw.data.samples import images_to_float, read_face_image
from abaw.data.sequences import load_sequence_data
from abaw.prediction.embed import extract_encoder_embeddings
from abaw.prediction.encoders import EncoderSettings, open_encoder

CONVNET, TRANSFORMER = "test_resnet", "test_vit"


def timm_network(name: str, seed: int = 0) -> torch.nn.Module:
    """A tiny timm network with random weights, classifier included (as a downloaded checkpoint holds it)."""
    torch.manual_seed(seed)
    return timm.create_model(name, pretrained=False).eval()


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tests' own weights files: a convnet's state dict, a vision transformer's safetensors, a pickled model."""
    folder = tmp_path_factory.mktemp("weights")
    torch.save(timm_network(CONVNET).state_dict(), folder / "resnet.pth")
    save_file(timm_network(TRANSFORMER).state_dict(), str(folder / "vit.safetensors"))
    torch.save(timm_network(CONVNET), folder / "whole-model.pt")
    return {"convnet": folder / "resnet.pth", "vit": folder / "vit.safetensors", "pickled": folder / "whole-model.pt"}


@pytest.fixture(scope="module")
def root(generated, tmp_path_factory) -> Path:
    """The generated dataset with its audio features (tests must not modify it)."""
    copy = Path(shutil.copytree(generated.root, tmp_path_factory.mktemp("encoders") / "data", symlinks=True))
    extract_audio_features(open_dataset(copy), AudioFeatureConfig())
    return copy


def run(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["-q", *map(str, args)], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(("kind", "name"), [("convnet", CONVNET), ("vit", TRANSFORMER)])
def test_encoder_features_are_the_networks_pooled_features_of_the_resized_normalised_face(
    weights, generated, kind, name
):
    encoder = open_encoder(EncoderSettings(f"timm:{name}", weights[kind], input_size=48), torch.device("cpu"))
    assert not any(parameter.requires_grad for parameter in encoder.parameters()) and not encoder.training
    assert encoder.input_size == 48 and encoder.mean == (0.5, 0.5, 0.5)  # timm's defaults for the test networks
    index = open_dataset(generated.root)
    entry = index.split(Split.TRAIN)[0]
    image = images_to_float(torch.from_numpy(read_face_image(frame_image_path(entry.frames_dir, 1)))[None])
    reference = timm_network(name)
    with torch.no_grad():
        pixels = torch.nn.functional.interpolate(image * 0.5 + 0.5, size=(48, 48), mode="bilinear")
        expected = reference.forward_head(reference.forward_features((pixels - 0.5) / 0.5), pre_logits=True)
        torch.testing.assert_close(encoder(image), expected)


def test_weights_that_cannot_be_used_are_one_line_errors_naming_the_file(weights, root, tmp_path):
    args = ("features", "embed", "--root", root, "--device", "cpu", "--workers", 0)
    code, _, stderr = run(*args, "--encoder", f"timm:{CONVNET}", "--weights", weights["pickled"])
    assert code == 2 and stderr.count("\n") == 1, stderr
    assert str(weights["pickled"]) in stderr and "pickled Python objects" in stderr and "--allow-pickle" in stderr
    # A file of another architecture.
    code, _, stderr = run(*args, "--encoder", f"timm:{CONVNET}", "--weights", weights["vit"])
    assert code == 2 and stderr.count("\n") == 1 and f"does not fit timm:{CONVNET}" in stderr, stderr
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a weights file at all")
    code, _, stderr = run(*args, "--encoder", f"timm:{CONVNET}", "--weights", broken)
    assert code == 2 and stderr.count("\n") == 1 and "not a readable weights file" in stderr, stderr
    code, _, stderr = run(*args, "--encoder", "hub:resnet18", "--weights", weights["convnet"])
    assert code == 2 and "timm:NAME" in stderr, stderr
    code, _, stderr = run(*args, "--encoder", "timm:no_such_network", "--weights", weights["convnet"])
    assert code == 2 and "unknown timm model" in stderr, stderr
    code, _, stderr = run(*args, "--encoder", f"timm:{CONVNET}")
    assert code == 2 and "--encoder needs --weights" in stderr, stderr


def test_a_pickled_whole_model_loads_only_when_the_user_opts_in(weights, generated, tmp_path):
    index = open_dataset(generated.root, cache=tmp_path / "cache")
    settings = EncoderSettings(f"timm:{CONVNET}", weights["pickled"], input_size=32, allow_pickle=True)
    report = extract_encoder_embeddings(index, settings, "trusted", device="cpu", workers=0, splits=[Split.TEST])
    state = EncoderSettings(f"timm:{CONVNET}", weights["convnet"], input_size=32)
    same = extract_encoder_embeddings(index, state, "state", device="cpu", workers=0, splits=[Split.TEST])
    assert report.written == same.written > 0
    for entry in index.split(Split.TEST):  # the same network: the same features
        np.testing.assert_array_equal(
            np.load(report.folder / f"{entry.name}.npz")["features"],
            np.load(same.folder / f"{entry.name}.npz")["features"],
        )


@pytest.mark.slow
def test_embed_train_over_the_encoder_and_audio_and_submit_end_to_end(weights, root, tmp_path):
    data = Path(shutil.copytree(root, tmp_path / "data", symlinks=True))
    embed = ("features", "embed", "--root", data, "--encoder", f"timm:{TRANSFORMER}", "--weights", weights["vit"],
             "--input-size", 32, "--mean", "0.4,0.4,0.4", "--std", "0.2,0.2,0.2", "--name", "vit",
             "--device", "cpu", "--workers", 0)  # fmt: skip
    code, _, stderr = run(*embed, "--json", tmp_path / "embed.json")
    assert code == 0, stderr
    report = json.loads((tmp_path / "embed.json").read_text())
    index = open_dataset(data)
    assert report["written"] == len(index.entries) and report["variant"] == f"timm:{TRANSFORMER}"
    record = json.loads((Path(report["folder"]) / ENCODER_RECORD).read_text())
    assert record["input_size"] == 32 and record["mean"] == [0.4, 0.4, 0.4] and record["std"] == [0.2, 0.2, 0.2]
    assert record["weights_sha256"] == report["encoder"]["weights_sha256"] and len(record["weights_sha256"]) == 64
    # The same command finds every entry up to date; another input size makes every entry stale.
    code, _, stderr = run(*embed, "--json", tmp_path / "again.json")
    assert code == 0 and json.loads((tmp_path / "again.json").read_text())["skipped"] == len(index.entries)
    other = extract_encoder_embeddings(
        index, EncoderSettings(f"timm:{TRANSFORMER}", weights["vit"], input_size=48), "vit", device="cpu", workers=0
    )
    assert other.written == len(index.entries) and other.fingerprint != report["fingerprint"]
    # A missing entry's error line gives the command that extracts it again, with the encoder's settings.
    (Path(report["folder"]) / f"{index.split(Split.TRAIN)[0].name}.npz").unlink()
    with pytest.raises(EmbeddingsNotReady) as missing:
        load_sequence_data(open_dataset(data), ["vit", "audio"], [Split.TRAIN])
    line = error_line(missing.value)
    assert f"--encoder timm:{TRANSFORMER} --weights {weights['vit']} --input-size 48" in line, line
    code, _, stderr = run(*embed[:-4], "--input-size", 48, "--device", "cpu", "--workers", 0)
    assert code == 0, stderr
    code, _, stderr = run(*embed[:-4], "--input-size", 40, "--device", "cpu", "--workers", 0)
    assert code == 2 and stderr.count("\n") == 1 and "cannot take 40-pixel inputs" in stderr, stderr
    # The cache feeds abaw temporal train like any other source; the run predicts the test set.
    code, _, stderr = run(
        "temporal", "train", "--root", data, "--features", "vit,audio", "--window", 16, "--epochs", 2,
        "--hidden", 8, "--layers", 1, "--fusion", "sources", "--device", "cpu", "--out", tmp_path / "run",
    )  # fmt: skip
    assert code == 0, stderr
    code, _, stderr = run(
        "predict-test", "--checkpoint", tmp_path / "run", "--root", data, "--device", "cpu", "--workers", 0,
        "--out", tmp_path / "submission", "--json", tmp_path / "submission.json",
    )  # fmt: skip
    assert code == 0, stderr
    submission = json.loads((tmp_path / "submission.json").read_text())
    assert submission["check"]["ok"] and Path(submission["zip"]).is_file()
    code, _, stderr = run("submission", "check", submission["zip"], "--root", data)
    assert code == 0, stderr
