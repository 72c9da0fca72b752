"""Finding the parts of a dataset root, for every edition's folder names."""

from __future__ import annotations

from pathlib import Path

import pytest

from abaw.data.layout import Edition, Split, discover_layout
from abaw.data.names import Person, find_video, person_of, video_stem
from abaw.errors import DataError
from abaw.outputs import UnsafeOutputError
from tests.helpers import annotation_dir, tiny_dataset, write_annotation


@pytest.mark.parametrize("edition", list(Edition))
def test_each_edition_is_detected(tmp_path: Path, edition: Edition) -> None:
    tiny_dataset(tmp_path, edition)
    layout = discover_layout(tmp_path)
    assert layout.edition is edition
    assert layout.annotation_dirs[Split.TRAIN] == annotation_dir(tmp_path, edition, True)
    assert layout.annotation_dirs[Split.VALIDATION] == annotation_dir(tmp_path, edition, False)
    assert layout.frame_dirs == (tmp_path / "cropped_aligned",)
    assert layout.test_list == tmp_path / "test_set_VA_Challenge.txt"


@pytest.mark.parametrize("edition", list(Edition))
def test_edition_folder_names_are_the_published_ones(edition: Edition) -> None:
    expected = {
        Edition.ABAW2020: ("annotations/VA_Set", "Training_Set"),
        Edition.ABAW2021: ("annotations/VA_Set", "Train_Set"),
        Edition.ABAW2022: ("6th ABAW Annotations/VA_Estimation_Challenge", "Train_Set"),
    }[edition]
    assert (edition.annotation_parent, edition.train_folder) == expected
    assert edition.validation_folder == "Validation_Set"


def test_newest_abaw_annotations_win_and_are_noted(tmp_path: Path) -> None:
    for number in ("5th", "7th"):
        folder = tmp_path / f"{number} ABAW Annotations" / "VA_Estimation_Challenge" / "Train_Set"
        write_annotation(folder / "a.txt", [(0.1, 0.2)])
    layout = discover_layout(tmp_path)
    assert layout.annotation_dirs[Split.TRAIN].parts[-3] == "7th ABAW Annotations"
    assert any("several annotation folders" in note for note in layout.notes)


def test_videos_found_in_batch_folders_and_frames_folders_not_entered(tmp_path: Path) -> None:
    for relative in ("batch1/1-30-1280x720.mp4", "batch2/video59.avi", "new_vids/video10_1.mp4"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes(b"")
    (tmp_path / "cropped_aligned" / "x").mkdir(parents=True)
    (tmp_path / "cropped_aligned" / "x" / "trap.mp4").write_bytes(b"")
    (tmp_path / "cropped_aligned_new_50_vids").mkdir()
    layout = discover_layout(tmp_path)
    assert set(layout.videos) == {"1-30-1280x720", "video59", "video10_1"}
    assert layout.frame_dirs == (tmp_path / "cropped_aligned", tmp_path / "cropped_aligned_new_50_vids")


def test_explicit_parts_override_discovery(tmp_path: Path) -> None:
    root = tiny_dataset(tmp_path / "data")
    other = tmp_path / "elsewhere" / "list.txt"
    other.parent.mkdir()
    other.write_text("video1\n")
    layout = discover_layout(root, test_list=other, frames=(root / "cropped_aligned",), cache=tmp_path / "c")
    assert layout.test_list == other
    assert layout.cache_dir == tmp_path / "c"


def test_a_cache_inside_the_dataset_is_refused_but_its_own_folder(tmp_path: Path) -> None:
    root = tiny_dataset(tmp_path / "data")
    for cache in (root, root / "c", root / "cropped_aligned", tmp_path / "elsewhere" / ".."):
        with pytest.raises(UnsafeOutputError, match="--cache"):
            discover_layout(root, cache=cache)
    assert not (root / "c").exists()
    assert discover_layout(root, cache=root / ".abaw-cache" / "v2").cache_dir == root / ".abaw-cache" / "v2"
    with pytest.raises(UnsafeOutputError, match="--cache"):
        discover_layout(root, cache=tmp_path / "list.txt", test_list=tiny_list(tmp_path))


def tiny_list(folder: Path) -> Path:
    path = folder / "list.txt"
    path.write_text("video1\n")
    return path


def test_missing_root_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="dataset root not found"):
        discover_layout(tmp_path / "nope")


def test_annotations_option_must_hold_split_folders(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="neither Train_Set nor Training_Set"):
        discover_layout(tmp_path, annotations=tmp_path)


@pytest.mark.parametrize("person", list(Person))
def test_two_person_names_map_to_their_video(person: Person) -> None:
    name = f"video10_1{person.suffix}"
    assert person_of(name) is person
    assert video_stem(name) == "video10_1"
    assert find_video(name, {"video10_1": Path("v.mp4")}) == Path("v.mp4")


def test_exact_video_name_beats_suffix_stripping() -> None:
    videos = {"video2": Path("a.mp4"), "video2_left": Path("b.mp4")}
    assert find_video("video2_left", videos) == Path("b.mp4")
    assert find_video("video2_right", videos) == Path("a.mp4")
    assert find_video("video3", videos) is None


@pytest.mark.parametrize("split", list(Split))
def test_split_members(split: Split) -> None:
    assert Split(split.value) is split
    assert split.is_labelled == (split is not Split.TEST)


@pytest.mark.parametrize(
    "name",
    [
        "va_test_set.txt",
        "test_set_VA_Challenge.txt",
        "names_of_videos_in_each_test_set/Valence_Arousal_Estimation_Challenge_test_set_release.txt",
    ],
)
def test_every_editions_test_list_is_found_by_name(tmp_path: Path, name: str) -> None:
    tiny_dataset(tmp_path, Edition.ABAW2020)
    (tmp_path / "test_set_VA_Challenge.txt").unlink()
    test_list = tmp_path / name
    test_list.parent.mkdir(parents=True, exist_ok=True)
    test_list.write_text("video1\n")
    # Submission templates name the test entries too, but are never taken for the list.
    (tmp_path / "CVPR_6th_ABAW_VA_test_set_example.txt").write_text("image_location,valence,arousal\n")
    (tmp_path / "CVPR_5th_ABAW_VA_test_set_sample.txt").write_text("image_location,valence,arousal\n")
    assert discover_layout(tmp_path).test_list == test_list
