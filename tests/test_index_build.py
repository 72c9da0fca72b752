"""``abaw.data.index_build``: the sources an index is built from, what building reads from them, and image checks."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from abaw.data.entries import Effect, Problem, Severity
from abaw.data.index import DatasetIndex
from abaw.data.index_build import build_contents, collect_sources, verify_face_images
from abaw.data.layout import DatasetLayout, Split
from abaw.progress import no_progress
from tests.helpers import write_annotation, write_faces


def make_layout(root: Path, *, test_list: bool = True, frame_roots: tuple[str, ...] = ("crops",)) -> DatasetLayout:
    """A layout over ``root``: train/ and val/ annotation folders, crop roots, videos by stem, test.txt."""
    for folder in ("train", "val", *frame_roots):
        (root / folder).mkdir(parents=True, exist_ok=True)
    videos = {path.stem: path for path in sorted(root.glob("videos/*")) if path.suffix in (".mp4", ".avi")}
    return DatasetLayout(
        root=root,
        edition=None,
        annotation_dirs={Split.TRAIN: root / "train", Split.VALIDATION: root / "val"},
        frame_dirs=tuple(root / name for name in frame_roots),
        videos=videos,
        test_list=root / "test.txt" if test_list else None,
        cache_dir=root / ".abaw-cache",
    )


def labels(rows: int, missing: tuple[int, ...] = ()) -> list[tuple[float, float]]:
    """``rows`` label lines, ``-5,-5`` on the 1-based ``missing`` frames."""
    return [(-5, -5) if frame in missing else (frame / 100, -frame / 100) for frame in range(1, rows + 1)]


def write_video(path: Path, frames: int) -> Path:
    """A silent MPEG-4 video of ``frames`` frames at 25 fps (a few kilobytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width = stream.height = 16
        stream.pix_fmt = "yuv420p"
        for index in range(frames):
            image = av.VideoFrame.from_ndarray(np.full((16, 16, 3), index * 30, np.uint8), format="rgb24")
            for packet in stream.encode(image):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def build(layout: DatasetLayout):
    return build_contents(layout, collect_sources(layout), no_progress)


def messages(problems: list[Problem], entry: str | None = None) -> dict[str, tuple[Severity, Effect]]:
    """The problems (of ``entry``, when given) by message, with their severity and effect."""
    return {
        problem.message: (problem.severity, problem.effect)
        for problem in problems
        if entry is None or problem.entry == entry
    }


# -- collect_sources -------------------------------------------------------------------------------------------


def test_sources_are_the_annotation_files_by_split_then_name_then_the_test_list(tmp_path):
    layout = make_layout(tmp_path)
    for name in ("b", "a"):
        write_annotation(tmp_path / "train" / f"{name}.txt", labels(2))
    write_annotation(tmp_path / "val" / "c.txt", labels(2))
    (tmp_path / "test.txt").write_text("t2\nt1.mp4\n")
    sources = collect_sources(layout)
    assert sources.entries == [
        ("a", Split.TRAIN, tmp_path / "train" / "a.txt"),
        ("b", Split.TRAIN, tmp_path / "train" / "b.txt"),
        ("c", Split.VALIDATION, tmp_path / "val" / "c.txt"),
        ("t2", Split.TEST, None),
        ("t1", Split.TEST, None),
    ]
    assert sources.problems == [] and sources.frames_dirs == {}
    assert sources.videos == dict.fromkeys(["a", "b", "c", "t2", "t1"])


def test_hidden_files_and_other_suffixes_are_not_annotation_files_and_not_problems(tmp_path):
    layout = make_layout(tmp_path, test_list=False)
    write_annotation(tmp_path / "train" / "v.txt", labels(2))
    for name in (".v2.txt", "notes.md", "v3.TXT", "v4.txt.bak", "v5"):
        write_annotation(tmp_path / "train" / name, labels(2))
    sources = collect_sources(layout)
    assert [name for name, _, _ in sources.entries] == ["v"]
    assert [problem.message for problem in sources.problems] == [
        f"{tmp_path}: no test list found; pass --test-list to predict the test set"
    ]


def test_without_a_test_list_the_test_split_is_blocked_by_a_warning(tmp_path):
    (problem,) = collect_sources(make_layout(tmp_path, test_list=False)).problems
    assert (problem.severity, problem.effect, problem.split, problem.entry) == (
        Severity.WARNING,
        Effect.BLOCKS,
        Split.TEST,
        None,
    )


def test_a_folder_or_a_special_file_named_like_an_annotation_file_is_skipped_with_a_warning(tmp_path):
    layout = make_layout(tmp_path)
    (tmp_path / "test.txt").write_text("t\n")
    write_annotation(tmp_path / "train" / "real.txt", labels(2))
    (tmp_path / "train" / "folder.txt").mkdir()
    (tmp_path / "train" / "dangling.txt").symlink_to(tmp_path / "nowhere.txt")
    (tmp_path / "train" / "linked.txt").symlink_to(tmp_path / "train" / "real.txt")
    sources = collect_sources(layout)
    assert [name for name, _, _ in sources.entries] == ["linked", "real", "t"]
    assert messages(sources.problems) == {
        f"{tmp_path / 'train' / 'dangling.txt'}: not a regular file, not an annotation file; skipped": (
            Severity.WARNING,
            Effect.WARNING,
        ),
        f"{tmp_path / 'train' / 'folder.txt'}: a folder, not an annotation file; skipped": (
            Severity.WARNING,
            Effect.WARNING,
        ),
    }


def test_a_name_annotated_in_two_splits_is_an_error_and_stays_in_the_first(tmp_path):
    layout = make_layout(tmp_path)
    write_annotation(tmp_path / "train" / "x.txt", labels(2))
    write_annotation(tmp_path / "val" / "x.txt", labels(3))
    (tmp_path / "test.txt").write_text("x\ny\n")
    sources = collect_sources(layout)
    assert sources.entries == [("x", Split.TRAIN, tmp_path / "train" / "x.txt"), ("y", Split.TEST, None)]
    twice, tested = sources.problems
    assert (twice.severity, twice.effect, twice.entry) == (Severity.ERROR, Effect.BLOCKS, "x")
    assert twice.message == f"{tmp_path / 'val' / 'x.txt'}: x is annotated in both train and val"
    assert (tested.severity, tested.entry, tested.split) == (Severity.ERROR, "x", Split.TEST)
    assert tested.message == f"{tmp_path / 'test.txt'}: test video x also has train annotations"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"t1\nt1\n", "test.txt:2: 't1' is listed again (first on line 1)"),
        (b"t1\nt 2\n", "test.txt:2: 't 2' is not a video name"),
        (b"\n\n", "test.txt: lists no test video"),
        (b"t1\xff\n", "test.txt: not UTF-8 text"),
        (b"t1\rt2\n", "test.txt:1: carriage return without a line feed (U+000D) inside a line"),
    ],
)
def test_an_unreadable_test_list_is_an_error_of_the_test_split_and_gives_no_test_entry(tmp_path, content, message):
    layout = make_layout(tmp_path)
    write_annotation(tmp_path / "train" / "a.txt", labels(2))
    (tmp_path / "test.txt").write_bytes(content)
    sources = collect_sources(layout)
    assert [(name, split) for name, split, _ in sources.entries] == [("a", Split.TRAIN)]
    (problem,) = sources.problems
    assert (problem.severity, problem.effect, problem.split, problem.entry) == (
        Severity.ERROR,
        Effect.BLOCKS,
        Split.TEST,
        None,
    )
    assert problem.message.startswith(f"{tmp_path}/{message}"), problem.message


def test_face_folders_are_found_in_every_crop_root_and_a_folder_of_no_entry_is_reported(tmp_path):
    layout = make_layout(tmp_path, frame_roots=("crops", "crops_new"))
    for name in ("a", "b", "c"):
        write_annotation(tmp_path / "train" / f"{name}.txt", labels(2))
    (tmp_path / "test.txt").write_text("t\n")
    write_faces(tmp_path / "crops" / "a", [1])
    write_faces(tmp_path / "crops_new" / "a", [1, 2])
    write_faces(tmp_path / "crops_new" / "b", [1])
    write_faces(tmp_path / "crops" / "t", [1])
    write_faces(tmp_path / "crops" / "stranger", [1])
    (tmp_path / "crops" / "c").write_text("a file, not a folder")
    sources = collect_sources(layout)
    assert sources.frames_dirs == {
        "a": [tmp_path / "crops" / "a", tmp_path / "crops_new" / "a"],
        "b": [tmp_path / "crops_new" / "b"],
        "t": [tmp_path / "crops" / "t"],
    }
    (stray,) = [problem for problem in sources.problems if "stranger" in problem.message]
    assert stray.severity is Severity.WARNING
    assert stray.message.startswith(f"{tmp_path / 'crops'}: 1 face-crop folder(s) named by no annotation file")
    assert "test list" in stray.message and "misspelt" in stray.message


def test_videos_are_matched_by_exact_name_first_then_without_the_person_suffix(tmp_path):
    for stem in ("v1", "v2", "v2_left"):
        (tmp_path / "videos").mkdir(exist_ok=True)
        (tmp_path / "videos" / f"{stem}.mp4").write_bytes(b"")
    layout = make_layout(tmp_path)
    for name in ("v1_right", "v2_left", "v2_right", "v3"):
        write_annotation(tmp_path / "train" / f"{name}.txt", labels(2))
    (tmp_path / "test.txt").write_text("v1\n")
    assert collect_sources(layout).videos == {
        "v1_right": tmp_path / "videos" / "v1.mp4",
        "v2_left": tmp_path / "videos" / "v2_left.mp4",
        "v2_right": tmp_path / "videos" / "v2.mp4",
        "v3": None,
        "v1": tmp_path / "videos" / "v1.mp4",
    }


def test_the_fingerprint_is_stable_and_changes_with_every_kind_of_source(tmp_path):
    write_video(tmp_path / "videos" / "a.mp4", 3)
    layout = make_layout(tmp_path)
    annotation = write_annotation(tmp_path / "train" / "a.txt", labels(3))
    (tmp_path / "test.txt").write_text("t\n")
    crops = write_faces(tmp_path / "crops" / "a", [1, 2])
    first = collect_sources(layout).fingerprint(layout)
    assert collect_sources(layout).fingerprint(layout) == first

    seen = {first}

    def changed() -> None:
        fingerprint = collect_sources(layout).fingerprint(layout)
        assert fingerprint not in seen
        seen.add(fingerprint)

    os.utime(annotation, ns=(1, 1))  # same size, another time
    changed()
    annotation.write_text("valence,arousal\n0.1,0.1\n")
    changed()
    write_faces(crops, [3])
    os.utime(crops, ns=(2, 2))
    changed()
    write_faces(tmp_path / "crops" / "t", [1])  # a face folder appears
    changed()
    os.utime(tmp_path / "videos" / "a.mp4", ns=(3, 3))
    changed()
    (tmp_path / "test.txt").write_text("t\nu\n")
    changed()
    (tmp_path / "test.txt").unlink()  # a source that disappears
    sources = collect_sources(layout)
    assert f"{tmp_path / 'test.txt'} missing" in sources.stats
    changed()
    moved = dataclasses.replace(layout, cache_dir=tmp_path / "elsewhere")
    assert collect_sources(moved).fingerprint(moved) not in seen


# -- build_contents --------------------------------------------------------------------------------------------


def test_contents_hold_every_entry_its_labels_in_one_array_and_its_faces(tmp_path):
    layout = make_layout(tmp_path)
    write_annotation(tmp_path / "train" / "b.txt", labels(3))
    write_annotation(tmp_path / "train" / "a.txt", labels(2, missing=(2,)))
    write_annotation(tmp_path / "val" / "c.txt", labels(4))
    (tmp_path / "test.txt").write_text("t\n")
    for name, frames in (("a", [1, 2]), ("b", [3, 1]), ("c", [1, 2, 3, 4]), ("t", [1, 2, 5])):
        write_faces(tmp_path / "crops" / name, frames)
    before = sorted(tmp_path.rglob("*"))
    contents = build(layout)
    assert sorted(tmp_path.rglob("*")) == before  # nothing written, not even a cache

    assert list(contents.entries) == ["a", "b", "c", "t"]
    assert {name: entry.label_rows for name, entry in contents.entries.items()} == {"a": 2, "b": 3, "c": 4, "t": 0}
    assert contents.entries["b"].face_frames.tolist() == [1, 3]
    assert contents.entries["t"].face_frames.tolist() == [1, 2, 5]
    assert contents.entries["c"].split is Split.VALIDATION and contents.entries["t"].annotation is None
    # Labels in the order the sources list them (split, then name), each entry's rows found by its offsets.
    assert contents.label_offsets == {"a": (0, 2), "b": (2, 5), "c": (5, 9), "t": (9, 9)}
    assert contents.label_values.shape == (9, 2)
    start, stop = contents.label_offsets["a"]
    assert np.allclose(contents.label_values[start:stop], [[0.01, -0.01], [-5.0, -5.0]])
    start, stop = contents.label_offsets["c"]
    assert np.allclose(contents.label_values[start:stop, 0], [0.01, 0.02, 0.03, 0.04])
    # No videos anywhere: a warning per entry, and nothing else.
    assert all("no video file for" in problem.message for problem in contents.problems)
    assert len(contents.problems) == 4


def test_progress_wraps_the_loop_over_entries(tmp_path):
    layout = make_layout(tmp_path)
    for name in ("a", "b"):
        write_annotation(tmp_path / "train" / f"{name}.txt", labels(2))
    (tmp_path / "test.txt").write_text("t\n")
    calls = []

    def progress(items, description, total):
        calls.append((description, total))
        return items

    build_contents(layout, collect_sources(layout), progress)
    assert calls == [("Indexing videos", 3)]


def test_a_malformed_annotation_file_is_an_error_that_skips_only_its_entry(tmp_path):
    layout = make_layout(tmp_path)
    bad = write_annotation(tmp_path / "train" / "bad.txt", "valence,arousal\n0.1,0.2\n0.3,x\n")
    write_annotation(tmp_path / "train" / "good.txt", labels(2))
    (tmp_path / "test.txt").write_text("t\n")
    for name in ("bad", "good", "t"):
        write_faces(tmp_path / "crops" / name, [1, 2])
    contents = build(layout)
    assert contents.entries["bad"].label_rows == 0 and contents.label_offsets["bad"] == (0, 0)
    assert contents.entries["good"].label_rows == 2 and contents.label_offsets["good"] == (0, 2)
    errors = [problem for problem in contents.problems if problem.severity is Severity.ERROR]
    assert [(p.message, p.entry, p.split, p.effect) for p in errors] == [
        (f"{bad}:3: 'x' is not a number", "bad", Split.TRAIN, Effect.SKIPPED)
    ]


def test_a_lone_carriage_return_in_an_annotation_file_is_an_error_not_a_line_end(tmp_path):
    # Read as a line end, it would add a label line and shift every later frame's labels by one.
    layout = make_layout(tmp_path)
    bad = tmp_path / "train" / "cr.txt"
    bad.write_bytes(b"valence,arousal\r\n0.1,0.2\r\n0.3,0.4\r0.5,0.6\r\n")
    crlf = tmp_path / "train" / "crlf.txt"
    crlf.write_bytes(b"\xef\xbb\xbfvalence,arousal\r\n0.1,0.2\r\n0.3,0.4\r\n\r\n")
    (tmp_path / "test.txt").write_text("t\n")
    contents = build(layout)
    assert contents.entries["crlf"].label_rows == 2
    assert contents.entries["cr"].label_rows == 0
    assert messages(contents.problems, "cr")[
        f"{bad}:3: carriage return without a line feed (U+000D) inside a line: lines may end only with \\n or \\r\\n"
    ] == (Severity.ERROR, Effect.SKIPPED)


def test_missing_or_empty_face_folders_skip_a_labelled_entry_and_block_a_test_entry(tmp_path):
    layout = make_layout(tmp_path)
    for name in ("none", "empty"):
        write_annotation(tmp_path / "train" / f"{name}.txt", labels(2))
    (tmp_path / "test.txt").write_text("t_none\nt_empty\n")
    for name in ("empty", "t_empty"):
        (tmp_path / "crops" / name).mkdir()
        (tmp_path / "crops" / name / "Thumbs.db").write_bytes(b"")
    found = messages(build(layout).problems)
    crops = tmp_path / "crops"
    expected = {
        f"{tmp_path / 'train' / 'none.txt'}: no face-crop folder none/ in crops": (Severity.WARNING, Effect.SKIPPED),
        f"{tmp_path / 'test.txt'}: no face-crop folder t_none/ in crops": (Severity.WARNING, Effect.BLOCKS),
        f"{crops / 'empty'}: no face images (NNNNN.jpg)": (Severity.WARNING, Effect.SKIPPED),
        f"{crops / 't_empty'}: no face images (NNNNN.jpg)": (Severity.WARNING, Effect.BLOCKS),
    }
    assert expected.items() <= found.items()


def test_a_face_folder_that_cannot_be_listed_is_an_error_of_its_entry(tmp_path):
    layout = make_layout(tmp_path)
    write_annotation(tmp_path / "train" / "a.txt", labels(2))
    (tmp_path / "test.txt").write_text("t\n")
    sources = collect_sources(layout)
    # Listed when the sources were collected, replaced by a file before the build reads it.
    for name in ("a", "t"):
        sources.frames_dirs[name] = [tmp_path / "crops" / name]
        (tmp_path / "crops" / name).write_text("not a folder")
    contents = build_contents(layout, sources, no_progress)
    for name, effect in (("a", Effect.SKIPPED), ("t", Effect.BLOCKS)):
        errors = [p for p in contents.problems if p.entry == name and p.severity is Severity.ERROR]
        assert [(p.message, p.effect) for p in errors] == [(f"{tmp_path / 'crops' / name}: Not a directory", effect)]
        assert not len(contents.entries[name].face_frames)


def test_misnamed_face_images_are_a_warning_naming_the_expected_names(tmp_path):
    layout = make_layout(tmp_path)
    write_annotation(tmp_path / "train" / "a.txt", labels(3))
    (tmp_path / "test.txt").write_text("t\n")
    crops = write_faces(tmp_path / "crops" / "a", [1])
    (crops / "2.jpg").write_bytes(b"")
    contents = build(layout)
    assert contents.entries["a"].face_frames.tolist() == [1]
    assert messages(contents.problems, "a")[
        f"{crops}: ignored 1 image(s) not named as 5-digit frame numbers: 2.jpg (expected 00002.jpg)"
    ] == (Severity.WARNING, Effect.WARNING)


def test_a_video_gives_its_entries_counts_rate_and_audio_and_a_silent_one_warns(tmp_path):
    video = write_video(tmp_path / "videos" / "v.mp4", 5)
    layout = make_layout(tmp_path)
    for name in ("v_left", "v_right"):
        write_annotation(tmp_path / "train" / f"{name}.txt", labels(5))
        write_faces(tmp_path / "crops" / name, [1, 2, 3, 4, 5])
    (tmp_path / "test.txt").write_text("t\n")
    contents = build(layout)
    for name in ("v_left", "v_right"):
        entry = contents.entries[name]
        assert (entry.video, entry.header_frames, entry.packet_frames, entry.fps, entry.has_audio) == (
            video,
            5,
            5,
            25.0,
            False,
        )
        assert messages(contents.problems, name) == {
            f"{video}: the video has no audio track": (Severity.WARNING, Effect.WARNING)
        }


@pytest.mark.parametrize(("rows", "fits"), [(4, False), (5, True), (7, True), (8, False)])
def test_label_lines_may_exceed_the_video_frames_by_two(tmp_path, rows, fits):
    video = write_video(tmp_path / "videos" / "v.mp4", 5)
    layout = make_layout(tmp_path)
    annotation = write_annotation(tmp_path / "train" / "v.txt", labels(rows))
    write_faces(tmp_path / "crops" / "v", list(range(1, rows + 1)))
    (tmp_path / "test.txt").write_text("t\n")
    contents = build(layout)
    assert contents.entries["v"].label_rows == rows
    mismatch = (
        f"{annotation}: {rows} label lines for a video of 5 frames (v.mp4); expected 5 to 7; the label lines are used"
    )
    assert (mismatch in messages(contents.problems, "v")) is not fits
    assert video == contents.entries["v"].video


def test_an_unreadable_video_is_an_error_that_skips_a_labelled_entry_but_not_a_test_entry(tmp_path):
    (tmp_path / "videos").mkdir()
    broken = tmp_path / "videos" / "v.mp4"
    broken.write_bytes(b"not a video at all")
    layout = make_layout(tmp_path)
    write_annotation(tmp_path / "train" / "v_left.txt", labels(3))
    (tmp_path / "test.txt").write_text("v_right\n")
    for name in ("v_left", "v_right"):
        write_faces(tmp_path / "crops" / name, [1, 2, 3])
    contents = build(layout)
    for name, effect in (("v_left", Effect.SKIPPED), ("v_right", Effect.WARNING)):
        entry = contents.entries[name]
        assert entry.video == broken and entry.packet_frames is None and entry.has_audio is None
        errors = [p for p in contents.problems if p.entry == name and p.severity is Severity.ERROR]
        assert len(errors) == 1 and errors[0].effect is effect
        assert errors[0].message.startswith(f"{broken}: cannot read the video")
    # The test entry still has a frame count, from its last face image.
    assert contents.entries["v_right"].frame_count == 3


def test_no_video_warns_about_what_it_is_needed_for(tmp_path):
    layout = make_layout(tmp_path)
    write_annotation(tmp_path / "train" / "a.txt", labels(2))
    (tmp_path / "test.txt").write_text("t\n")
    for name in ("a", "t"):
        write_faces(tmp_path / "crops" / name, [1, 2])
    problems = build(layout).problems
    assert messages(problems, "a") == {
        f"{tmp_path / 'train' / 'a.txt'}: no video file for a (needed for audio features)": (
            Severity.WARNING,
            Effect.WARNING,
        )
    }
    assert messages(problems, "t") == {
        f"{tmp_path / 'test.txt'}: no video file for t (needed for audio features and the exact frame count)": (
            Severity.WARNING,
            Effect.WARNING,
        )
    }


def test_face_images_beyond_the_last_label_line_or_the_test_video_are_counted_in_a_warning(tmp_path):
    write_video(tmp_path / "videos" / "t.mp4", 4)
    layout = make_layout(tmp_path)
    write_annotation(tmp_path / "train" / "a.txt", labels(3))
    write_faces(tmp_path / "crops" / "a", [1, 2, 3, 4, 9])
    (tmp_path / "test.txt").write_text("t\n")
    # A test entry spans its video's 4 frames, and may have crops up to 2 frames past it.
    write_faces(tmp_path / "crops" / "t", [1, 4, 6, 7, 8])
    problems = build(layout).problems
    assert f"{tmp_path / 'crops' / 'a'}: 2 face images beyond frame 3" in messages(problems, "a")
    assert f"{tmp_path / 'crops' / 't'}: 2 face images beyond frame 6" in messages(problems, "t")


def test_an_entry_whose_labelled_frames_have_no_face_is_skipped(tmp_path):
    layout = make_layout(tmp_path)
    annotation = write_annotation(tmp_path / "train" / "a.txt", labels(4, missing=(1, 2)))
    write_faces(tmp_path / "crops" / "a", [1, 2])  # faces only where the labels are -5
    write_annotation(tmp_path / "train" / "b.txt", labels(4, missing=(1, 2)))
    write_faces(tmp_path / "crops" / "b", [2, 3])
    (tmp_path / "test.txt").write_text("t\n")
    problems = build(layout).problems
    assert messages(problems, "a")[f"{annotation}: no frame has both a label and a face image"] == (
        Severity.WARNING,
        Effect.SKIPPED,
    )
    assert not any("no frame has both" in message for message in messages(problems, "b"))


# -- verify_face_images ----------------------------------------------------------------------------------------


def test_verifying_face_images_reports_each_unusable_image_with_its_entry(tmp_path):
    layout = make_layout(tmp_path)
    write_annotation(tmp_path / "train" / "a.txt", labels(5))
    (tmp_path / "test.txt").write_text("t\n")
    crops = tmp_path / "crops" / "a"
    crops.mkdir()
    Image.new("RGB", (112, 112), (200, 100, 50)).save(crops / "00001.jpg")
    Image.new("L", (112, 112), 128).save(crops / "00002.jpg")  # grey is fine: training converts it
    Image.new("RGB", (64, 64)).save(crops / "00003.jpg")
    Image.new("CMYK", (112, 112)).save(crops / "00004.jpg")
    (crops / "00005.jpg").write_bytes(b"not a jpeg")
    write_faces(tmp_path / "crops" / "t", [])
    index = DatasetIndex.of(layout, build(layout))
    found = {problem.message: problem for problem in verify_face_images(index)}
    assert set(found) == {
        f"{crops / '00003.jpg'}: 64x64 pixels, the organisers' crops are 112x112",
        f"{crops / '00004.jpg'}: colour mode CMYK, expected RGB",
        f"{crops / '00005.jpg'}: cannot be decoded as an image",
    }
    assert [found[message].severity for message in sorted(found)] == [
        Severity.WARNING,
        Severity.WARNING,
        Severity.ERROR,
    ]
    assert all((problem.entry, problem.split) == ("a", Split.TRAIN) for problem in found.values())


def test_an_entry_whose_crops_lie_in_two_crop_roots_gets_every_frame_from_where_it_is(tmp_path):
    # Aff-Wild2 ships cropped_aligned/ and cropped_aligned_new_50_vids/; a video can have a folder in both.
    layout = make_layout(tmp_path, frame_roots=("cropped_aligned", "cropped_aligned_new_50_vids"))
    for name in ("split", "moved"):
        write_annotation(tmp_path / "train" / f"{name}.txt", labels(24))
    first, second = tmp_path / "cropped_aligned", tmp_path / "cropped_aligned_new_50_vids"
    write_faces(first / "split", list(range(1, 11)))
    write_faces(second / "split", list(range(5, 25)))
    (first / "moved").mkdir()  # an empty folder left where the crops were before
    write_faces(second / "moved", list(range(1, 25)))
    contents = build(layout)
    split, moved = contents.entries["split"], contents.entries["moved"]
    assert split.face_frames.tolist() == list(range(1, 25))
    assert [split.image_path(frame) for frame in (4, 10, 11, 24)] == [
        first / "split" / "00004.jpg",
        first / "split" / "00010.jpg",
        second / "split" / "00011.jpg",
        second / "split" / "00024.jpg",
    ]
    assert moved.face_frames.tolist() == list(range(1, 25)) and moved.image_path(7) == second / "moved" / "00007.jpg"
    expected = (
        f"{first / 'split'}: the face crops of split lie in 2 folders: {first / 'split'} (10 images), "
        f"{second / 'split'} (20 images); all 24 frames are used; 6 frames are in more than one, taken from the first"
    )
    assert messages(contents.problems, "split")[expected] == (Severity.WARNING, Effect.WARNING)
    assert (
        f"{first / 'moved'}: the face crops of moved lie in 2 folders: {first / 'moved'} (0 images), "
        f"{second / 'moved'} (24 images); all 24 frames are used"
    ) in messages(contents.problems, "moved")
    # The index cache keeps where each frame is.
    index = DatasetIndex.of(layout, contents)
    from abaw.data.index_cache import read_cache, write_cache

    write_cache(tmp_path / "index.npz", "key", index.contents)
    cached = read_cache(tmp_path / "index.npz", "key")
    assert cached is not None and cached.entries["split"].image_path(11) == second / "split" / "00011.jpg"


def test_face_images_with_an_upper_case_suffix_are_faces_read_under_their_own_name(tmp_path):
    layout = make_layout(tmp_path)
    write_annotation(tmp_path / "train" / "a.txt", labels(3))
    (tmp_path / "test.txt").write_text("t\n")
    crops = write_faces(tmp_path / "crops" / "a", [1])
    for frame in (2, 3):
        (crops / f"{frame:05d}.JPG").write_bytes(b"")
    entry = build(layout).entries["a"]
    assert entry.face_frames.tolist() == [1, 2, 3]
    assert [entry.image_path(frame).name for frame in (1, 2, 3)] == ["00001.jpg", "00002.JPG", "00003.JPG"]
