"""Which frames become samples, and how the torch dataset serves them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from abaw.data.annotations import valid_rows
from abaw.data.index import open_dataset
from abaw.data.layout import Split
from abaw.data.samples import (
    FaceFrameDataset,
    FrameSamples,
    images_to_float,
    raise_first_fault,
    select_frames,
    split_frames,
)
from abaw.errors import DataError


def test_training_frames_have_a_face_and_both_labels(generated):
    index = open_dataset(generated.root)
    samples = split_frames(index, [Split.TRAIN], labelled=True)
    assert len(samples) > 0
    for name, rows in samples.by_entry().items():
        entry = generated.entries[name]
        frames = samples.frames[rows]
        assert not set(frames.tolist()) & set(entry.missing_images)
        labels = index.labels(name)
        assert valid_rows(labels[frames - 1]).all()
        np.testing.assert_array_equal(samples.targets[rows], labels[frames - 1])
        usable = [
            frame
            for frame in entry.image_numbers
            if frame <= len(labels) and valid_rows(labels[frame - 1 : frame]).all()
        ]
        assert sorted(frames.tolist()) == usable


def test_prediction_frames_are_every_face_within_the_video(generated):
    index = open_dataset(generated.root)
    samples = split_frames(index, [Split.TEST], labelled=False)
    assert (samples.targets == -5).all()
    for name, rows in samples.by_entry().items():
        entry = index.entries[name]
        expected = [frame for frame in generated.entries[name].image_numbers if frame <= entry.frame_count]
        assert samples.frames[rows].tolist() == expected


def test_dataset_items_and_audio_rows(generated):
    index = open_dataset(generated.root)
    samples = select_frames(index, index.split(Split.TRAIN)[:1], labelled=True)
    name = samples.names[0]
    rows = np.arange(index.entries[name].label_rows * 3, dtype=np.float32).reshape(-1, 3)
    dataset = FaceFrameDataset(index, samples, {name: rows}, audio_dim=3)
    item = dataset[0]
    assert item["image"].dtype == torch.uint8 and item["image"].shape == (3, 112, 112)
    assert item["fault"] == ""
    frame = int(samples.frames[0])
    np.testing.assert_array_equal(item["audio"].numpy(), rows[frame - 1])
    assert dataset.audio_vector(0, 10_000).tolist() == rows[-1].tolist()
    assert FaceFrameDataset(index, samples)[0]["audio"].numel() == 0


def test_corrupt_image_is_a_fault_not_a_crash(dataset_copy):
    index = open_dataset(dataset_copy)
    samples = select_frames(index, index.split(Split.TRAIN)[:1], labelled=True)
    path = index.entries[samples.names[0]].frames_dir / f"{int(samples.frames[0]):05d}.jpg"
    path.write_bytes(b"not a jpeg")
    item = FaceFrameDataset(index, samples)[0]
    assert str(path) in item["fault"] and "cannot be decoded" in item["fault"]
    assert item["image"].sum() == 0
    with pytest.raises(DataError, match="cannot be decoded"):
        raise_first_fault(["", item["fault"]])


def test_by_entry_and_subset():
    samples = FrameSamples(["a", "b", "c"], np.array([2, 0, 2, 0]), np.array([5, 1, 6, 2]), np.zeros((4, 2)))
    groups = samples.by_entry()
    assert list(groups) == ["a", "c"]
    assert groups["a"].tolist() == [1, 3] and groups["c"].tolist() == [0, 2]
    assert samples.subset(slice(0, 2)).frames.tolist() == [5, 1]


def test_images_to_float_range():
    values = images_to_float(torch.arange(256, dtype=torch.uint8))
    assert values.min() == -1 and values.max() == 1
