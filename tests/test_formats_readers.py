"""Reading predictions in both formats (folder, file, zip), and sample files."""

from __future__ import annotations

import stat
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from abaw.errors import PredictionError
from abaw.formats.containers import ANY_PREDICTION_FILE, MAX_TOTAL_BYTES, ReadLimit, SubmissionFile
from abaw.formats.readers import parse_collecting, read_predictions, read_sample_file
from abaw.formats.types import SubmissionFormat, VideoPrediction
from abaw.formats.writers import write_per_video, write_single_file, zip_submission
from tests.helpers import write_zip_bomb

PER_VIDEO = "valence,arousal\n"
SINGLE = "image_location,valence,arousal\n"


def random_predictions(seed: int = 0, counts: dict[str, int] | None = None) -> dict[str, VideoPrediction]:
    rng = np.random.default_rng(seed)
    counts = counts or {"video1": 7, "10-60-1280x720_left": 5, "102": 9}
    return {name: VideoPrediction.consecutive(rng.uniform(-1, 1, (n, 2))) for name, n in counts.items()}


def write_folder(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def write_zip(path: Path, members: dict[str, str | bytes], modes: dict[str, int] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            if modes and name in modes:
                info.create_system = 3
                info.external_attr = modes[name] << 16
            archive.writestr(info, data)
    return path


def assert_same_values(read: dict[str, VideoPrediction], written: dict[str, VideoPrediction]) -> None:
    assert sorted(read) == sorted(written)
    for name, video in written.items():
        np.testing.assert_array_equal(read[name].frames, video.frames)
        np.testing.assert_allclose(read[name].values, np.clip(video.values, -1, 1), atol=5.1e-7, rtol=0)


# --------------------------------------------------------------------------
# Round trips


def test_per_video_round_trip_folder_and_zip(tmp_path):
    predictions = random_predictions()
    counts = {name: len(video) for name, video in predictions.items()}
    folder = write_per_video(tmp_path / "sub", predictions, counts)
    read = read_predictions(folder)
    assert read.format is SubmissionFormat.PER_VIDEO
    assert list(read.videos) == sorted(predictions)
    assert read.lines == sum(counts.values())
    assert read.notes == []
    assert_same_values(read.videos, predictions)
    assert read.videos["102"].source == str(folder / "102.txt")
    zipped = read_predictions(zip_submission(folder, tmp_path / "sub.zip"))
    assert zipped.format is SubmissionFormat.PER_VIDEO
    assert_same_values(zipped.videos, predictions)
    assert zipped.videos["102"].source == f"{tmp_path / 'sub.zip'}:102.txt"


def test_single_file_round_trip_file_and_zip(tmp_path):
    predictions = random_predictions(1)
    counts = {name: len(video) for name, video in predictions.items()}
    path = write_single_file(tmp_path / "predictions.csv", predictions, counts)
    read = read_predictions(path)
    assert read.format is SubmissionFormat.SINGLE_FILE
    assert_same_values(read.videos, predictions)
    zipped = read_predictions(zip_submission(path, tmp_path / "sub.zip"))
    assert zipped.format is SubmissionFormat.SINGLE_FILE
    assert_same_values(zipped.videos, predictions)
    # A folder holding just the single file is read as that file.
    folder = write_folder(tmp_path / "folder", {"predictions.txt": path.read_text()})
    assert read_predictions(folder).format is SubmissionFormat.SINGLE_FILE


def test_single_file_rows_in_any_order_and_sparse_frames(tmp_path):
    text = SINGLE + "b/00003.jpg,0.3,0.03\na/00002.jpg,0.2,0.02\nb/00001.jpg,0.1,0.01\n"
    read = read_predictions(write_folder(tmp_path, {"p.csv": text}) / "p.csv")
    assert list(read.videos) == ["a", "b"]
    assert read.videos["b"].frames.tolist() == [1, 3]
    assert read.videos["b"].values[:, 0].tolist() == [0.1, 0.3]
    assert read.videos["a"].frames.tolist() == [2]


def test_zip_with_one_top_level_folder_and_junk(tmp_path):
    archive = write_zip(
        tmp_path / "sub.zip",
        {
            "results/": "",
            "results/a.txt": PER_VIDEO + "0.1,0.2\n",
            "results/b.txt": PER_VIDEO + "0.3,0.4\n0.5,0.6\n",
            "results/readme.md": "hello",
            "__MACOSX/results/._a.txt": "junk",
            "results/.DS_Store": "junk",
        },
    )
    read = read_predictions(archive)
    assert sorted(read.videos) == ["a", "b"]
    assert any("'results/'" in note for note in read.notes)
    assert any("readme.md" in note and "ignored 1 file" in note for note in read.notes)
    assert not any("DS_Store" in note or "MACOSX" in note for note in read.notes)


def test_stray_files_in_a_folder_are_noted(tmp_path):
    folder = write_folder(tmp_path / "sub", {"a.txt": PER_VIDEO + "0,0\n", "model.pt": "x", "old/b.txt": PER_VIDEO})
    read = read_predictions(folder)
    assert list(read.videos) == ["a"]
    (note,) = read.notes
    assert "model.pt" in note and "old/b.txt" in note


# --------------------------------------------------------------------------
# Bad input: each error names the file and line


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("valence,arousl\n0,0\n", 1, "header is 'valence,arousl', expected 'valence,arousal'"),
        ("", 1, "empty file"),
        (PER_VIDEO + "0.1,0.2\n0.3,abc\n", 3, "'abc' is not a number"),
        (PER_VIDEO + "0.1,0.2\n0.1,0.2,0.3\n", 3, "expected 2 comma-separated values, found 3"),
        (PER_VIDEO + "0.1,0.2\n\n0.1,0.2\n", 3, "empty line"),
        (PER_VIDEO + "0.1,0.2\n0.1,inf\n", 3, "not a finite number"),
    ],
)
def test_bad_per_video_file(tmp_path, text, line, message):
    folder = write_folder(tmp_path / "sub", {"good.txt": PER_VIDEO + "0,0\n", "v.txt": text})
    with pytest.raises(PredictionError, match=message) as caught:
        read_predictions(folder)
    assert caught.value.path == str(folder / "v.txt")
    assert caught.value.line == line
    assert str(caught.value).startswith(f"{folder / 'v.txt'}:{line}: ")


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("a/00001.jpg,0,0\nb/00002.jpg,0,0\na/00001.jpg,0.5,0\n", 4, r"'a/00001.jpg' appears again \(first on line 2"),
        ("a/00001.jpg,0,0\na/1.jpg,0,0\n", 3, "image_location 'a/1.jpg' is not <video>/<5-digit frame>.jpg"),
        ("a/00001.png,0,0\n", 2, "is not <video>"),
        ("00001.jpg,0,0\n", 2, "is not <video>"),
        ("a/00000.jpg,0,0\n", 2, "is not <video>"),
        ("a/b/00001.jpg,0,0\n", 2, "is not <video>"),
        ("a/00001.jpg,0\n", 2, "expected 3 comma-separated values, found 2"),
        ("a/00001.jpg,0,x\n", 2, "'x' is not a number"),
        (",0,0\n", 2, "empty image_location"),
    ],
)
def test_bad_single_file(tmp_path, body, line, message):
    path = tmp_path / "s.csv"
    path.write_text(SINGLE + body)
    with pytest.raises(PredictionError, match=message) as caught:
        read_predictions(path)
    assert (caught.value.path, caught.value.line) == (str(path), line)


def test_errors_inside_a_zip_name_the_member(tmp_path):
    archive = write_zip(tmp_path / "sub.zip", {"a.txt": PER_VIDEO + "0,0\n", "b.txt": PER_VIDEO + "0,0\n1,2,3\n"})
    with pytest.raises(PredictionError) as caught:
        read_predictions(archive)
    assert str(caught.value).startswith(f"{archive}:b.txt:3: expected 2 comma-separated values")


@pytest.mark.parametrize(
    ("member", "mode", "message"),
    [
        ("/etc/a.txt", None, "absolute path"),
        ("../a.txt", None, r"'\.\.' in an archive path"),
        ("x/../../a.txt", None, r"'\.\.' in an archive path"),
        ("link.txt", stat.S_IFLNK | 0o777, "symbolic link"),
        ("fifo.txt", stat.S_IFIFO | 0o644, "not a regular file"),
        ("sub\\a.txt", None, "backslash in the member name"),
    ],
)
def test_unsafe_zip_members_are_refused(tmp_path, member, mode, message):
    archive = write_zip(
        tmp_path / "sub.zip", {"a.txt": PER_VIDEO + "0,0\n", member: PER_VIDEO}, {member: mode} if mode else None
    )
    with pytest.raises(PredictionError, match=message) as caught:
        read_predictions(archive)
    assert caught.value.path == f"{archive}:{member}"


def read_traced(path: Path) -> tuple[PredictionError, int]:
    """The error reading ``path`` raises, and the peak of memory allocated meanwhile."""
    tracemalloc.start()
    try:
        with pytest.raises(PredictionError) as caught:
            read_predictions(path)
        return caught.value, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_zip_bomb_member_is_refused_before_inflating(tmp_path):
    size = ANY_PREDICTION_FILE.bytes + 1
    archive = write_zip_bomb(tmp_path / "bomb.zip", {"a.txt": size})
    assert archive.stat().st_size < size / 100
    error, peak = read_traced(archive)
    assert str(error) == (
        f"{archive}:a.txt: {size:,} bytes unpacked, more than the {size - 1:,} any prediction file can need; not read"
    )
    assert peak < 5_000_000


@pytest.mark.slow
def test_zip_bomb_of_many_members_is_refused_before_inflating(tmp_path):
    half = ANY_PREDICTION_FILE.bytes // 2 + 1
    archive = write_zip_bomb(tmp_path / "bomb.zip", {"a.txt": half, "b.txt": half})
    error, peak = read_traced(archive)
    assert str(error) == (
        f"{archive}: its 2 prediction files unpack to {2 * half:,} bytes, more than the "
        f"{MAX_TOTAL_BYTES:,} a submission for every frame of the dataset can need; not read"
    )
    assert peak < 5_000_000


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, "no prediction files"),
        ({"notes.md": "x", "model.pt": "y"}, "no prediction files"),
        ({"a.txt": PER_VIDEO + "0,0\n", "all.csv": SINGLE + "a/00001.jpg,0,0\n"}, "single-file .* and per-video"),
        ({"x.csv": SINGLE, "y.csv": SINGLE}, "2 single-file submissions"),
        ({"a/v.txt": PER_VIDEO, "b/w.txt": PER_VIDEO}, r"several folders \(a/, b/\)"),
    ],
)
def test_folders_without_a_clear_submission(tmp_path, files, message):
    folder = write_folder(tmp_path / "sub", files)
    with pytest.raises(PredictionError, match=message) as caught:
        read_predictions(folder)
    assert caught.value.path == str(folder)


def test_unreadable_inputs(tmp_path):
    with pytest.raises(PredictionError, match="does not exist"):
        read_predictions(tmp_path / "nothing")
    (tmp_path / "fake.zip").write_text("not a zip")
    with pytest.raises(PredictionError, match="not a readable zip"):
        read_predictions(tmp_path / "fake.zip")
    (tmp_path / "latin.txt").write_bytes(b"valence,arousal\n0.1,\xe90\n")
    with pytest.raises(PredictionError, match="not UTF-8") as caught:
        read_predictions(tmp_path / "latin.txt")
    assert caught.value.path == str(tmp_path / "latin.txt")
    duplicate = tmp_path / "twice.zip"
    with pytest.warns(UserWarning, match="Duplicate name"):
        write_zip(duplicate, {"a.txt": PER_VIDEO + "0,0\n"})
        with zipfile.ZipFile(duplicate, "a") as archive:
            archive.writestr("a.txt", PER_VIDEO + "1,1\n")
    with pytest.raises(PredictionError, match="'a' has a second prediction file"):
        read_predictions(duplicate)


def test_parse_collecting_reports_every_bad_line():
    lines = ["0.1,0.2"] * 20
    lines[3] = "x,0"
    lines[4] = ""
    lines[7] = ""  # the last line of a block of 4: the parser's strip must not hide it
    lines[9] = "1,2,3"
    lines[17] = "0.5"
    text = PER_VIDEO + "\n".join(lines) + "\n"
    expected = [
        "v.txt:5: 'x' is not a number",
        "v.txt:6: empty line",
        "v.txt:9: empty line",
        "v.txt:11: expected 2 comma-separated values, found 3: '1,2,3'",
        "v.txt:19: expected 2 comma-separated values, found 1: '0.5'",
    ]
    header = ("valence", "arousal")
    for sizes in ((4, 2), (4, 3), (100, 2000)):  # blocks from the start, and the whole text first
        found: list[str] = []
        collect = lambda e, found=found: not found.append(str(e))  # noqa: E731
        table, numbers = parse_collecting(text, "v.txt", header, 0, collect, *sizes)
        assert found == expected
        assert numbers.tolist() == [n for n in range(2, 22) if n not in (5, 6, 9, 11, 19)]
        assert table.values.shape == (15, 2)
    stopped: list[PredictionError] = []
    parse_collecting(text, "v.txt", header, 0, lambda e: stopped.append(e) and False)
    assert len(stopped) == 1
    assert parse_collecting("valence\n0\n", "v.txt", header, 0, stopped.append, 1) is None
    assert str(stopped[-1]) == "v.txt:1: header is 'valence', expected 'valence,arousal'"


def test_video_prediction_validates():
    with pytest.raises(ValueError, match="strictly increasing"):
        VideoPrediction([2, 1], np.zeros((2, 2)))
    with pytest.raises(ValueError, match="1-based"):
        VideoPrediction([0, 1], np.zeros((2, 2)))
    with pytest.raises(ValueError, match="shape"):
        VideoPrediction([1, 2], np.zeros((2, 3)))
    with pytest.raises(ValueError, match="integer"):
        VideoPrediction([1.5], np.zeros((1, 2)))
    assert len(VideoPrediction([], [])) == 0


def test_sample_file_values_may_be_any_text(tmp_path):
    sample = tmp_path / "sample.csv"
    sample.write_text(SINGLE + "b/00002.jpg,?,?\na/00001.jpg,x,y\n")
    rows = read_sample_file(sample)
    assert rows.names == ["b", "a"]
    assert rows.frames.tolist() == [2, 1]
    # Only image_location matters: empty value columns are a sample too.
    sample.write_text(SINGLE + "T1/00001.jpg,,\nT1/00002.jpg,,\n")
    assert read_sample_file(sample).frames.tolist() == [1, 2]
    sample.write_text(SINGLE + ",0,0\n")
    with pytest.raises(PredictionError, match="empty image_location"):
        read_sample_file(sample)
    sample.write_text(SINGLE + "b/00002.jpg,0,0\nb/00002.jpg,0,0\n")
    with pytest.raises(PredictionError, match="appears again") as caught:
        read_sample_file(sample)
    assert caught.value.line == 3
    with pytest.raises(PredictionError, match="does not exist"):
        read_sample_file(tmp_path / "none.csv")


def test_a_huge_bad_location_is_quoted_cut_short(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text(SINGLE + "a/00001.jpg,0,0\n" + "v" * 3_000_000 + ".jpg,0,0\n")
    with pytest.raises(PredictionError) as caught:
        read_predictions(path)
    assert str(caught.value) == f"{path}:3: image_location '{'v' * 80}...' is not <video>/<5-digit frame>.jpg"


def test_a_file_that_grows_after_listing_is_read_whole_or_refused(tmp_path):
    path = tmp_path / "v.txt"
    path.write_text(PER_VIDEO + "0.1,0.2\n")
    listed = SubmissionFile.from_path(path)
    with path.open("a") as grown:
        grown.write("0.3,0.4\n" * 1000)
    assert listed.text().count("\n") == 1002
    again = SubmissionFile.from_path(tmp_path / "v.txt")
    again.size = 10  # as listed before it grew past its limit
    with pytest.raises(PredictionError, match="more than the 5,000 a test can need; not read"):
        again.text(ReadLimit(5_000, "a test"))
