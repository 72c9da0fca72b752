"""``abaw predict`` and ``predict-test`` never exit 0 with a wrong result: what they used, and what they refuse.

Every dataset here is written by hand (:func:`tests.helpers.jpeg_dataset`) and
every model is an untrained tiny one saved as the trainers save theirs.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from abaw.cli import cli
from abaw.data.audio import AudioFeatureConfig, features_folder, load_audio_features
from abaw.data.audio.cache import AUDIO_FEATURES_FORMAT
from abaw.data.embeddings import checkpoint_fingerprint
from abaw.data.index import open_dataset
from abaw.data.layout import Edition
from abaw.model import create_model
from abaw.prediction.smoothing import SmoothingFilter
from abaw.runtime.checkpoint import save_checkpoint
from abaw.training.config import TrainConfig
from tests.helpers import annotation_dir, jpeg_dataset, tiny_dataset, untrained_checkpoint
from tests.test_open_model import UNFINISHED, temporal_payload, unfinished_kfold


def run(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["-q", *map(str, args)], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def frame_checkpoint(path: Path, protocol: str = "val", seed: int = 0) -> Path:
    """An untrained disc-tiny saved as ``abaw train --protocol PROTOCOL`` saves it."""
    torch.manual_seed(seed)
    model = create_model("disc-tiny").eval()
    payload = {
        "config": TrainConfig(variant="disc-tiny", protocol=protocol).to_dict(),
        "model_config": model.config.to_dict(),
        "model": model.state_dict(),
        "audio": None,
        "epoch": 4,
    }
    return save_checkpoint(path, payload)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """Two train entries, one val and one test entry of 6 frames, decodable crops, no videos."""
    return jpeg_dataset(tmp_path_factory.mktemp("guards") / "data")


def test_predict_test_lists_every_member_with_its_kind_weight_protocol_and_fingerprint(data, tmp_path):
    first = frame_checkpoint(tmp_path / "a" / "best.pt", "final", seed=1)
    second = untrained_checkpoint(tmp_path / "b.pt", seed=2)
    out = tmp_path / "submission"
    code, stdout, err = run(
        "predict-test", "--root", data, "--cache", tmp_path / "cache", "--out", out, "--workers", 0,
        "--checkpoint", first.parent, "--checkpoint", second, "--weights", "3,1", "--json", "-",
    )  # fmt: skip
    assert code == 0, err
    members = json.loads(stdout)["members"]
    assert [(m["checkpoint"], m["kind"], m["variant"], m["protocol"]) for m in members] == [
        (str(first), "frame", "disc-tiny", "final"),
        (str(second), "frame", "disc-tiny", "val"),
    ]
    assert [m["weight"] for m in members] == [0.75, 0.25]
    assert [m["sha256"] for m in members] == [checkpoint_fingerprint(first), checkpoint_fingerprint(second)]
    assert [m["trained_on"] for m in members] == [["train", "val"], ["train"]]
    # The tables (on standard error with --json -) name them too.
    assert "Models (2)" in err and checkpoint_fingerprint(first)[:12] in err


def test_an_unfinished_kfold_run_predicts_nothing(data, tmp_path):
    kfold = unfinished_kfold(tmp_path / "kfold")
    out = tmp_path / "submission"
    code, _, err = run(
        "predict-test", "--root", data, "--cache", tmp_path / "cache", "--out", out, "--checkpoint", kfold
    )
    assert code == 2 and not out.exists()
    assert err.strip().splitlines() == [f"error: {UNFINISHED.format(kfold=kfold)}"]


def test_a_root_without_face_crops_is_refused_instead_of_all_zero_predictions(tmp_path):
    # --root names the annotations folder: the labels are found, the crops are not.
    data = tiny_dataset(tmp_path / "data")
    root = annotation_dir(data, Edition.ABAW2022).parent.parent
    out = tmp_path / "predictions"
    checkpoint = untrained_checkpoint(tmp_path / "a.pt")
    code, stdout, err = run("predict", "--root", root, "--out", out, "--checkpoint", checkpoint)
    assert code == 2 and not out.exists() and "Scores" not in stdout
    assert err.strip().splitlines() == [
        f"error: {root}: no val entry has a face image (no cropped_aligned* folder found); disc-tiny predicts from "
        "faces, so every prediction would be zero: point --root at the Aff-Wild2 folder, or name the crops with "
        "--frames"
    ]


def test_scores_of_a_split_a_member_trained_on_are_shown_as_in_sample(data, tmp_path):
    final = frame_checkpoint(tmp_path / "final.pt", "final")
    out = tmp_path / "predictions"
    code, stdout, err = run(
        "predict", "--root", data, "--cache", tmp_path / "cache", "--out", out, "--workers", 0,
        "--checkpoint", final, "--json", tmp_path / "p.json",
    )  # fmt: skip
    assert code == 0, err
    payload = json.loads((tmp_path / "p.json").read_text())
    assert payload["in_sample"] == "1 of 1 members trained on val (protocol final)"
    assert "IN-SAMPLE scores on val" in stdout and "(published)" not in stdout
    assert "warning: in-sample scores: 1 of 1 members trained on val (protocol final)" in err
    # A val-protocol model's scores on val are held out, beside the published rows.
    held_out = untrained_checkpoint(tmp_path / "val.pt")
    code, stdout, err = run(
        "predict", "--root", data, "--cache", tmp_path / "cache", "--out", tmp_path / "held", "--workers", 0,
        "--checkpoint", held_out, "--json", tmp_path / "h.json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads((tmp_path / "h.json").read_text())["in_sample"] is None
    assert "Scores on val" in stdout and "(published)" in stdout


def test_face_crops_named_with_an_upper_case_suffix_are_read(tmp_path):
    data = jpeg_dataset(tmp_path / "data")
    crops = data / "cropped_aligned" / "102"  # the val entry
    for image in crops.glob("*.jpg"):
        image.rename(image.with_suffix(".JPG"))
    code, _, err = run(
        "predict", "--root", data, "--cache", tmp_path / "cache", "--out", tmp_path / "p", "--workers", 0,
        "--checkpoint", untrained_checkpoint(tmp_path / "a.pt"),
    )  # fmt: skip
    assert code == 0, err
    lines = (tmp_path / "p" / "102.txt").read_text().splitlines()[1:]
    assert len(lines) == 6 and len(set(lines)) > 1, "the faces were read: the predictions vary"
    index = open_dataset(data, cache=tmp_path / "cache")
    assert index.entries["102"].face_frames.tolist() == [1, 2, 4, 5, 6]
    assert index.entries["102"].image_path(4) == crops / "00004.JPG"


def write_smoothing(path: Path, window: int) -> Path:
    entry = {"filter": SmoothingFilter.GAUSSIAN.value, "window": window, "ccc_before": 0.1, "ccc_after": 0.2}
    path.write_text(json.dumps({"format": "abaw-smoothing", "version": 1, "valence": entry, "arousal": entry}))
    return path


def test_a_smoothing_window_longer_than_every_video_is_refused(data, tmp_path):
    checkpoint = untrained_checkpoint(tmp_path / "a.pt")
    smoothing = write_smoothing(tmp_path / "smoothing.json", 99)
    out = tmp_path / "p"
    code, _, err = run(
        "predict", "--root", data, "--cache", tmp_path / "cache", "--out", out, "--checkpoint", checkpoint,
        "--smoothing", smoothing,
    )  # fmt: skip
    assert code == 2 and not out.exists()
    assert err.strip().splitlines() == [
        f"error: {smoothing}: the valence window (99 frames) is longer than every video to smooth (the longest has "
        "6 frames): it would flatten the predictions; choose it again with abaw smooth search"
    ]
    huge = write_smoothing(tmp_path / "huge.json", 10**9 + 1)
    code, _, err = run("predict", "--root", data, "--out", out, "--checkpoint", checkpoint, "--smoothing", huge)
    assert code == 2 and err.strip().splitlines() == [
        f"error: {huge}: 'valence': a smoothing window must be an odd number of frames from 1 to 9999, got 1000000001"
    ]


def audio_temporal_checkpoint(path: Path) -> Path:
    """A temporal checkpoint over embeddings and the audio features."""
    payload = temporal_payload()
    return save_checkpoint(path, {**payload, "config": {**payload["config"], "protocol": "val"}})


def test_a_test_entry_without_video_or_cached_audio_is_refused_for_a_model_that_takes_audio(data, tmp_path):
    checkpoint = audio_temporal_checkpoint(tmp_path / "temporal.pt")
    out = tmp_path / "submission"
    code, _, err = run(
        "predict-test", "--root", data, "--cache", tmp_path / "cache", "--out", out, "--checkpoint", checkpoint
    )
    assert code == 2 and not out.exists()
    assert err.strip().splitlines() == [
        f"error: {data / 'test_set_VA_Challenge.txt'}: 200 has no video file and no audio features "
        "(eGeMAPSv02-first2) cached from one; temporal-tcn takes audio: it would be predicted without its audio; "
        "pass --videos DIR where the videos are (and run abaw features audio on them)"
    ]


def test_an_entry_whose_video_is_gone_takes_the_audio_features_cached_from_it(data, tmp_path):
    index = open_dataset(data, cache=tmp_path / "cache")
    config = AudioFeatureConfig()
    folder = features_folder(index, config)
    folder.mkdir(parents=True)
    features = np.random.default_rng(0).normal(size=(6, config.dim)).astype(np.float32)
    meta = {"format": AUDIO_FEATURES_FORMAT, "config": config.to_dict(), "has_audio": True, "rows": 6}
    with open(folder / "200.npz", "wb") as handle:
        np.savez(handle, features=features, meta=np.array(json.dumps(meta)))
    loaded = load_audio_features(index, config, names=["200"], normalise=False)
    assert loaded.has_audio("200")
    np.testing.assert_array_equal(loaded.for_entry("200"), features)
