"""The dataset index: entries, faces, labels, problems, and its cache."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from abaw.data.entries import Effect, Severity
from abaw.data.index import open_dataset
from abaw.data.layout import Edition, Split
from abaw.data.report import summarise
from abaw.errors import DataError
from tests.helpers import annotation_dir, tiny_dataset, write_annotation, write_faces


def test_entries_labels_and_faces(tmp_path: Path) -> None:
    index = open_dataset(tiny_dataset(tmp_path))
    assert [entry.name for entry in index.split(Split.TRAIN)] == ["video1", "video10_1_left"]
    assert [entry.name for entry in index.split(Split.VALIDATION)] == ["102"]
    assert [entry.name for entry in index.split(Split.TEST)] == ["200"]
    entry = index.entries["video1"]
    assert entry.label_rows == 6
    assert entry.face_frames.tolist() == [1, 2, 4, 5, 6]
    assert entry.has_face(np.array([1, 3, 6, 7])).tolist() == [True, False, True, False]
    assert index.labels("video1")[1].tolist() == [-5, -5]
    assert index.frame_counts(Split.TEST) == {"200": 6}


def test_summary_counts(tmp_path: Path) -> None:
    report = summarise(open_dataset(tiny_dataset(tmp_path)))
    train = report.splits[0]
    assert train.split is Split.TRAIN
    assert (train.videos, train.label_lines, train.missing_label_lines) == (2, 12, 2)
    assert (train.face_frames, train.no_face_frames, train.usable_frames) == (10, 2, 8)
    assert sum(train.valence_histogram) == sum(train.arousal_histogram) == 8
    assert train.missing_videos == 2
    assert report.usable
    assert all("no video file" in problem.message for problem in report.warnings)


def test_cache_is_reused_until_a_source_changes(tmp_path: Path) -> None:
    root = tiny_dataset(tmp_path)
    assert not open_dataset(root).from_cache
    assert open_dataset(root).from_cache
    annotation = annotation_dir(root, Edition.ABAW2022) / "video1.txt"
    write_annotation(annotation, [(0.1, 0.1)] * 7)
    os.utime(annotation, ns=(1, 1))
    index = open_dataset(root)
    assert not index.from_cache
    assert index.entries["video1"].label_rows == 7
    (root / "cropped_aligned" / "video1" / "00006.jpg").unlink()
    index = open_dataset(root)
    assert not index.from_cache and index.entries["video1"].face_frames.tolist() == [1, 2, 4, 5]


def test_cache_lives_in_the_cache_folder_and_dataset_is_untouched(tmp_path: Path) -> None:
    root = tiny_dataset(tmp_path / "data")
    before = sorted(path for path in root.rglob("*"))
    open_dataset(root, cache=tmp_path / "cache")
    assert sorted(path for path in root.rglob("*")) == before
    assert list((tmp_path / "cache").glob("index-v*.npz"))


def test_an_annotation_file_that_is_a_folder_is_a_warning(tmp_path: Path) -> None:
    root = tiny_dataset(tmp_path)
    folder = annotation_dir(root, Edition.ABAW2022, False) / "103.txt"
    folder.mkdir()
    index = open_dataset(root)
    assert f"{folder}: a folder, not an annotation file; skipped" in [problem.message for problem in index.warnings]
    assert "103" not in index.entries


def test_face_crops_named_without_leading_zeros_are_a_warning_naming_the_expected_name(tmp_path: Path) -> None:
    root = tiny_dataset(tmp_path)
    crops = root / "cropped_aligned" / "102"
    for image in sorted(crops.iterdir()):
        image.rename(crops / f"{int(image.stem)}.jpg")
    index = open_dataset(root)
    assert not len(index.entries["102"].face_frames)
    messages = [problem.message for problem in index.warnings]
    assert (
        f"{crops}: ignored 5 image(s) not named as 5-digit frame numbers: "
        "1.jpg (expected 00001.jpg), 2.jpg (expected 00002.jpg), 4.jpg (expected 00004.jpg) and 2 more"
    ) in messages
    assert open_dataset(root).from_cache
    assert messages == [problem.message for problem in open_dataset(root).warnings]


def test_corrupt_cache_is_rebuilt(tmp_path: Path) -> None:
    root = tiny_dataset(tmp_path)
    open_dataset(root)
    for cache in (root / ".abaw-cache").glob("index-*.npz"):
        cache.write_bytes(b"garbage")
    assert not open_dataset(root).from_cache


def test_bad_annotation_is_collected_with_file_and_line(tmp_path: Path) -> None:
    root = tiny_dataset(tmp_path)
    write_annotation(annotation_dir(root, Edition.ABAW2022, False) / "102.txt", "valence,arousal\n0.1,0.2\n0.3;0.4\n")
    index = open_dataset(root)
    assert [problem.message for problem in index.errors] == [
        f"{annotation_dir(root, Edition.ABAW2022, False)}/102.txt:3: expected 2 comma-separated values, found 1: "
        "'0.3;0.4'"
    ]
    index.require_usable([Split.TRAIN])
    with pytest.raises(DataError, match=r"102.txt:3: expected 2"):
        index.require_usable([Split.TRAIN, Split.VALIDATION])
    assert not summarise(index).usable


def test_missing_frames_folder_and_duplicate_names(tmp_path: Path) -> None:
    root = tiny_dataset(tmp_path)
    write_annotation(annotation_dir(root, Edition.ABAW2022, True) / "lonely.txt", [(0.1, 0.1)])
    write_annotation(annotation_dir(root, Edition.ABAW2022, False) / "video1.txt", [(0.1, 0.1)])
    index = open_dataset(root)
    messages = [problem.message for problem in index.errors]
    assert any("video1 is annotated in both train and val" in message for message in messages)
    # A missing crop folder is odd but consistent data: a warning, and training skips the entry.
    lonely = {problem.message: problem.effect for problem in index.warnings if problem.entry == "lonely"}
    crops = [message for message in lonely if "lonely.txt: no face-crop folder lonely/ in cropped_aligned" in message]
    assert [lonely[message] for message in crops] == [Effect.SKIPPED]


def test_test_video_with_annotations_is_an_error(tmp_path: Path) -> None:
    root = tiny_dataset(tmp_path)
    (root / "test_set_VA_Challenge.txt").write_text("200\nvideo1\n")
    assert any("test video video1 also has train annotations" in p.message for p in open_dataset(root).errors)


def test_faces_beyond_labels_warn(tmp_path: Path) -> None:
    root = tiny_dataset(tmp_path)
    write_faces(root / "cropped_aligned" / "video1", [7, 8, 9])
    warnings = [p.message for p in open_dataset(root).problems if p.severity is Severity.WARNING]
    assert any("3 face images beyond frame 6" in message for message in warnings)


def test_no_annotations_at_all_makes_training_impossible(tmp_path: Path) -> None:
    write_faces(tmp_path / "cropped_aligned" / "x", [1])
    index = open_dataset(tmp_path)
    with pytest.raises(DataError, match="no train annotation folder found"):
        index.require_usable([Split.TRAIN])
    assert not summarise(index).usable


def test_read_only_root_still_indexes(tmp_path: Path) -> None:
    root = tiny_dataset(tmp_path)
    (root / ".abaw-cache").write_text("a file where the cache folder should be")
    index = open_dataset(root)
    assert any("index not cached" in problem.message for problem in index.warnings)


def test_broken_test_list_does_not_block_training_splits(tmp_path: Path) -> None:
    root = tiny_dataset(tmp_path)
    (root / "test_set_VA_Challenge.txt").write_text("200\n200\n")
    for index in (open_dataset(root), open_dataset(root)):
        index.require_usable([Split.TRAIN, Split.VALIDATION])
        with pytest.raises(DataError, match="listed again"):
            index.require_usable([Split.TEST])
