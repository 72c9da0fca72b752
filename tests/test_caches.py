"""The caches derived from a dataset (index, audio features, embeddings): keyed on everything their content
depends on, kept by a copy, written by one process at a time, and read by temporal models only as trained.

Datasets are written by hand (:func:`tests.helpers.jpeg_dataset`, :mod:`tests.foreign`); models are
untrained tiny ones saved as the trainers save theirs.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from abaw.cli.render_errors import error_line
from abaw.data.audio import AudioFeatureConfig, extract_audio_features, features_folder
from abaw.data.audio.cache import AUDIO_FEATURES_FORMAT
from abaw.data.embeddings import EmbeddingsNotReady, checkpoint_fingerprint, embeddings_folder
from abaw.data.index import open_dataset
from abaw.data.layout import Split
from abaw.data.source import DatasetSource
from abaw.model import ModelFamily, create_model, model_config
from abaw.outputs import OutputBusyError, output_lock
from abaw.prediction.embed import extract_embeddings
from abaw.prediction.open import open_model
from abaw.runtime.checkpoint import load_checkpoint, save_checkpoint
from abaw.temporal.config import TemporalConfig
from abaw.temporal.trainer import train_temporal
from abaw.training.config import TrainConfig
from tests.helpers import jpeg_dataset, untrained_checkpoint, write_jpeg_faces

DISC_DIM = 256


ROWS = 4
"""Frames per entry: few, so that a tiny model embeds the whole dataset in a moment."""
FACES = [1, 2, 4]
"""The frames with a face image (jpeg_dataset leaves frame 3 without one)."""


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return jpeg_dataset(tmp_path / "data", rows=ROWS)


def embed(root: Path, checkpoint: Path, cache: Path | None = None, **options):
    index = open_dataset(root, cache=cache)
    return extract_embeddings(index, checkpoint, "aln", device="cpu", workers=0, **options)


# --------------------------------------------------------------------------- embeddings


def test_crops_replaced_under_the_same_names_make_their_entry_stale(data, tmp_path):
    checkpoint = untrained_checkpoint(tmp_path / "a.pt")
    assert embed(data, checkpoint).written == 4
    write_jpeg_faces(data / "cropped_aligned" / "102", FACES, seed=99)  # same names, other images
    again = embed(data, checkpoint)
    assert (again.written, again.skipped) == (1, 3)
    assert again.stale == {"102": "its face crops changed since (same frames, other images)"}


def test_another_dataset_sharing_the_cache_does_not_take_this_ones_embeddings(tmp_path):
    checkpoint = untrained_checkpoint(tmp_path / "a.pt")
    cache = tmp_path / "shared-cache"
    first = jpeg_dataset(tmp_path / "first", rows=ROWS)
    other = Path(shutil.copytree(first, tmp_path / "other"))
    write_jpeg_faces(other / "cropped_aligned" / "video1", FACES, seed=7)
    assert embed(first, checkpoint, cache).written == 4
    shared = embed(other, checkpoint, cache)
    # The three entries whose crops are the same bytes are the same embeddings; video1's are not.
    assert (shared.written, shared.skipped, list(shared.stale)) == (1, 3, ["video1"])


def sz_checkpoint(path: Path) -> Path:
    """An untrained aeg-cd-sz-tiny (takes audio) with its audio normalisation, as abaw train saves it."""
    torch.manual_seed(0)
    model = create_model("aeg-cd-sz-tiny").eval()
    config = AudioFeatureConfig()
    payload = {
        "config": TrainConfig(variant="aeg-cd-sz-tiny").to_dict(),
        "model_config": model.config.to_dict(),
        "model": model.state_dict(),
        "audio": {"config": config.to_dict(), "mean": torch.zeros(config.dim), "std": torch.ones(config.dim)},
        "epoch": 1,
    }
    return save_checkpoint(path, payload)


@pytest.mark.slow  # an -sz model over every frame, twice: 2-3 s
def test_an_sz_models_embeddings_are_stale_when_the_audio_it_takes_changes(data, tmp_path):
    checkpoint = sz_checkpoint(tmp_path / "sz.pt")
    cache = tmp_path / "cache"
    assert embed(data, checkpoint, cache).written == 4
    # The val entry's video is not there; audio features cached from it before now are its audio.
    config = AudioFeatureConfig()
    folder = features_folder(open_dataset(data, cache=cache), config)
    folder.mkdir(parents=True)
    meta = {"format": AUDIO_FEATURES_FORMAT, "config": config.to_dict(), "has_audio": True, "rows": ROWS}
    with open(folder / "102.npz", "wb") as handle:
        np.savez(handle, features=np.ones((ROWS, config.dim), np.float32), meta=np.array(json.dumps(meta)))
    again = embed(data, checkpoint, cache)
    assert (again.written, again.skipped) == (1, 3)
    assert again.stale == {"102": "the audio features the model takes changed since"}


def test_two_extractions_under_one_name_cannot_run_at_once(data, tmp_path):
    index = open_dataset(data)
    checkpoint = untrained_checkpoint(tmp_path / "a.pt")
    with output_lock(embeddings_folder(index, "aln")), pytest.raises(OutputBusyError) as raised:
        extract_embeddings(index, checkpoint, "aln", device="cpu", workers=0)
    assert "another abaw process is writing it" in str(raised.value)
    assert not (embeddings_folder(index, "aln") / "embeddings.json").exists()


def test_the_audio_features_and_the_index_are_written_by_one_process_at_a_time(data, tmp_path):
    index = open_dataset(data, cache=tmp_path / "cache")
    with output_lock(features_folder(index, AudioFeatureConfig())), pytest.raises(OutputBusyError):
        extract_audio_features(index)
    cache_file = next((tmp_path / "cache").glob("index-v*.npz"))
    cache_file.unlink()
    # The index is read either way; the writer holding its lock writes it.
    with output_lock(cache_file):
        assert len(open_dataset(data, cache=tmp_path / "cache").entries) == 4
    assert not cache_file.exists()
    open_dataset(data, cache=tmp_path / "cache")
    assert cache_file.exists()


# --------------------------------------------------------------------------- copies keep the caches


def test_the_index_is_reused_when_only_the_files_times_changed(data):
    open_dataset(data)
    for folder, _, files in os.walk(data):
        for name in [*files, "."]:
            path = Path(folder) / name
            if ".abaw-cache" not in path.parts:
                stamp = path.stat().st_mtime_ns + 7_000_000_000
                os.utime(path, ns=(stamp, stamp))
    assert open_dataset(data).from_cache
    (data / "cropped_aligned" / "102" / "00004.jpg").unlink()
    changed = open_dataset(data)
    assert not changed.from_cache and changed.entries["102"].face_frames.tolist() == [1, 2]


@pytest.mark.slow  # openSMILE over 7 videos: 2-4 s
def test_a_dataset_copied_without_its_timestamps_keeps_its_audio_features(foreign, tmp_path):
    original = Path(shutil.copytree(foreign.root, tmp_path / "original"))
    first = extract_audio_features(open_dataset(original))
    assert first.extracted + first.failed == first.videos > 0
    # cp -r: the bytes, the cache among them, with new times.
    copy = Path(shutil.copytree(original, tmp_path / "copy", copy_function=shutil.copy))
    assert (copy / "batch1" / "video7.mp4").stat().st_mtime_ns != (
        original / "batch1" / "video7.mp4"
    ).stat().st_mtime_ns
    again = extract_audio_features(open_dataset(copy))
    assert (again.extracted, again.failed, again.skipped) == (0, 0, first.videos)


# --------------------------------------------------------------------------- temporal models and their features


def temporal_checkpoint(path: Path, embeddings: Path) -> Path:
    """An untrained temporal model over the embeddings aln made from ``embeddings``, saved as the trainer saves it."""
    torch.manual_seed(0)
    config = model_config("tcn", input_dim=DISC_DIM, visual_dim=DISC_DIM, hidden=8, layers=1)
    payload = {
        "kind": ModelFamily.TEMPORAL.value,
        "config": {"features": ["aln"], "window": 8, "model": "tcn", "protocol": "val"},
        "model_config": config.to_dict(),
        "normalisation": {"mean": torch.zeros(DISC_DIM), "std": torch.ones(DISC_DIM)},
        "features": {
            "names": ["aln"],
            "dims": [DISC_DIM],
            "fingerprints": {"aln": checkpoint_fingerprint(embeddings)},
            "made_from": {"aln": str(embeddings)},
        },
        "model": create_model(config).state_dict(),
        "epoch": 1,
    }
    return save_checkpoint(path, payload)


def test_a_temporal_model_refuses_embeddings_made_by_another_checkpoint_under_its_name(data, tmp_path):
    aln, other = untrained_checkpoint(tmp_path / "aln.pt", 0), untrained_checkpoint(tmp_path / "other.pt", 1)
    embed(data, aln)
    (member,) = open_model(temporal_checkpoint(tmp_path / "temporal.pt", aln), "cpu").members
    index = open_dataset(data)
    assert len(member.predict(index, Split.VALIDATION)["102"]) == ROWS
    embed(data, other)  # the README's recipe: one name, 'aln', whatever made it
    with pytest.raises(EmbeddingsNotReady) as raised:
        member.predict(open_dataset(data), Split.VALIDATION)
    assert error_line(raised.value) == (
        f"{tmp_path / 'temporal.pt'}: the model was trained on 'aln' made from {aln}; 'aln' is now made from "
        f"{other}: remake it as it was, or train the model again on the new one; run 'abaw features embed "
        f"--checkpoint {aln} --root {data} --name aln'"
    )


@pytest.mark.slow  # two short trainings and two extractions: 3-5 s
def test_a_temporal_run_records_its_features_and_does_not_resume_over_others(data, tmp_path):
    aln, other = untrained_checkpoint(tmp_path / "aln.pt", 0), untrained_checkpoint(tmp_path / "other.pt", 1)
    embed(data, aln)
    settings = {"window": 4, "hidden": 8, "layers": 1, "batch_size": 2, "device": "cpu", "model": "tcn"}
    config = TemporalConfig(dataset=DatasetSource(data), features=("aln",), epochs=1, **settings)
    train_temporal(config, tmp_path / "run")
    recorded = load_checkpoint(tmp_path / "run" / "last.pt")["features"]
    assert recorded["fingerprints"] == {"aln": checkpoint_fingerprint(aln)}
    assert recorded["made_from"] == {"aln": str(aln.absolute())}
    embed(data, other)
    with pytest.raises(EmbeddingsNotReady, match=r"last.pt: the model was trained on 'aln' made from .*aln.pt"):
        train_temporal(config.replace(epochs=2), tmp_path / "run", resume=True)
