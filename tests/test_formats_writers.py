"""Writing submissions: filling, formatting, atomicity, zips."""

from __future__ import annotations

import os
import zipfile

import numpy as np
import pytest

from abaw.errors import OutputExistsError, PredictionError
from abaw.formats.check import check_submission
from abaw.formats.types import VideoPrediction
from abaw.formats.writers import (
    SubmissionWarning,
    fill_missing_frames,
    format_values,
    write_per_video,
    write_single_file,
    zip_submission,
)

PER_VIDEO = "valence,arousal\n"
SINGLE = "image_location,valence,arousal\n"


def brute_force_fill(n: int, frames: list[int], values: np.ndarray) -> np.ndarray:
    out = np.empty((n, values.shape[1]))
    for frame in range(1, n + 1):
        distances = [abs(frame - f) for f in frames]
        out[frame - 1] = values[distances.index(min(distances))]  # index() finds the earlier of a tie
    return out


# --------------------------------------------------------------------------
# fill_missing_frames


def test_fill_takes_the_nearest_frame_and_the_earlier_on_ties():
    values = np.array([[0.2, -0.2], [0.6, -0.6]])
    filled = fill_missing_frames(7, [2, 6], values)
    # Frame 4 is two frames from both: the earlier (2) wins.
    assert filled[:, 0].tolist() == [0.2, 0.2, 0.2, 0.2, 0.6, 0.6, 0.6]
    assert fill_missing_frames(3, [1, 2, 3], values[[0, 1, 0]]).tolist() == values[[0, 1, 0]].tolist()
    assert fill_missing_frames(4, [4], values[:1])[:, 1].tolist() == [-0.2] * 4


def test_fill_matches_brute_force_on_random_gaps():
    rng = np.random.default_rng(5)
    for _ in range(20):
        n = int(rng.integers(1, 60))
        frames = np.sort(rng.choice(np.arange(1, n + 1), int(rng.integers(1, n + 1)), replace=False))
        values = rng.uniform(-1, 1, (len(frames), 2))
        expected = brute_force_fill(n, frames.tolist(), values)
        np.testing.assert_array_equal(fill_missing_frames(n, frames, values), expected)


def test_fill_without_any_prediction_gives_zeros_and_bad_frames_fail():
    assert fill_missing_frames(3, np.array([], dtype=np.int64), np.zeros((0, 2))).tolist() == [[0.0, 0.0]] * 3
    with pytest.raises(PredictionError, match="prediction for frame 5, but the video has 4 frames") as caught:
        fill_missing_frames(4, [1, 5], np.zeros((2, 2)), source="v")
    assert caught.value.path == "v"
    with pytest.raises(ValueError, match="strictly increasing"):
        fill_missing_frames(4, [3, 2], np.zeros((2, 2)))
    with pytest.raises(ValueError, match="strictly increasing"):
        fill_missing_frames(4, [0, 2], np.zeros((2, 2)))


# --------------------------------------------------------------------------
# Formatting and the per-video writer


def test_format_values_precision_and_clipping():
    values = np.array([[1.2, -7.0], [-0.0000004, 0.5], [0.1234567, -0.25]])
    # A negative value that rounds to zero is written "0.000000", not Python's "-0.000000".
    assert format_values(values, 6) == b"1.000000,-1.000000\n0.000000,0.500000\n0.123457,-0.250000\n"
    assert format_values(values, 2) == b"1.00,-1.00\n0.00,0.50\n0.12,-0.25\n"
    with pytest.raises(ValueError, match="precision"):
        format_values(values, 0)


def test_format_values_agrees_with_python_formatting():
    rng = np.random.default_rng(11)
    values = rng.uniform(-1, 1, (5000, 2))
    lines = format_values(values, 6).decode().splitlines()
    ours = np.array([[float(x) for x in line.split(",")] for line in lines])
    np.testing.assert_allclose(ours, values, atol=5e-7 + 1e-12, rtol=0)
    same = sum(line == f"{a:.6f},{b:.6f}" for line, (a, b) in zip(lines, values, strict=True))
    assert same >= 4990  # only exact decimal ties may round the other way


def test_format_values_is_python_formatting_even_near_decimal_ties():
    rng = np.random.default_rng(5)
    ties = rng.integers(-999_999, 1_000_000, (2000, 2)) / 1e6 + 5e-7  # within rounding error of a tie
    values = np.concatenate([ties, rng.uniform(-1, 1, (2000, 2)).astype(np.float32)])
    expected = "".join(f"{a:.6f},{b:.6f}\n" for a, b in values).replace("-0.000000", "0.000000")
    assert format_values(values, 6).decode() == expected


def test_single_file_names_keep_what_looks_like_a_negative_zero(tmp_path):
    predictions = {"cam-0.00": VideoPrediction([1, 2], [[-1e-9, 0.5], [0.25, -1e-9]])}
    out = write_single_file(tmp_path / "s.csv", predictions, {"cam-0.00": 2}, precision=2)
    assert out.read_text() == SINGLE + "cam-0.00/00001.jpg,0.00,0.50\ncam-0.00/00002.jpg,0.25,0.00\n"


def test_write_per_video_files(tmp_path):
    predictions = {
        "video2_left": VideoPrediction([1, 4], [[0.123456789, 1.5], [-0.5, -2.0]]),
        "102": VideoPrediction.consecutive([[0.1, 0.2]] * 3),
    }
    out = write_per_video(tmp_path / "sub", predictions, {"video2_left": 5, "102": 3})
    assert sorted(p.name for p in out.iterdir()) == [".abaw-output.json", "102.txt", "video2_left.txt"]
    assert (out / "video2_left.txt").read_text() == (
        "valence,arousal\n0.123457,1.000000\n0.123457,1.000000\n-0.500000,-1.000000\n-0.500000,-1.000000\n"
        "-0.500000,-1.000000\n"
    )
    out3 = write_per_video(tmp_path / "sub3", predictions, {"102": 3}, precision=3, warn=lambda m: None)
    assert (out3 / "102.txt").read_text() == "valence,arousal\n0.100,0.200\n0.100,0.200\n0.100,0.200\n"


def test_write_per_video_missing_and_empty_videos(tmp_path):
    predictions = {"a": VideoPrediction.consecutive([[0.1, 0.1]]), "b": VideoPrediction([], [])}
    with pytest.raises(PredictionError, match="no predictions for 1 of the 3 videos to write: c"):
        write_per_video(tmp_path / "sub", predictions, {"a": 1, "b": 2, "c": 2})
    assert not (tmp_path / "sub").exists()
    messages = []
    write_per_video(tmp_path / "sub", predictions, {"a": 1, "b": 2, "c": 2}, allow_missing=True, warn=messages.append)
    assert messages == ["2 video(s) have no predicted frame and are filled with 0.0: b, c"]
    assert (tmp_path / "sub" / "c.txt").read_text() == PER_VIDEO + "0.000000,0.000000\n" * 2
    with pytest.warns(SubmissionWarning) as record:
        write_per_video(tmp_path / "other", predictions, {"b": 1})
    assert [str(w.message) for w in record] == [
        "1 video(s) have no predicted frame and are filled with 0.0: b",
        "ignored predictions for 1 video(s) that are not to be written: a",
    ]
    with pytest.raises(PredictionError, match="cannot be a video name"):
        write_per_video(tmp_path / "bad", {"x/y": predictions["a"]}, {"x/y": 1})
    with pytest.raises(PredictionError, match="not a finite number"):
        write_per_video(tmp_path / "nan", {"a": VideoPrediction.consecutive([[np.nan, 0]])}, {"a": 1})


def test_writers_never_overwrite_without_force(tmp_path):
    predictions = {"a": VideoPrediction.consecutive([[0.1, 0.1]])}
    write_per_video(tmp_path / "sub", predictions, {"a": 1})
    with pytest.raises(OutputExistsError):
        write_per_video(tmp_path / "sub", predictions, {"a": 1})
    single = write_single_file(tmp_path / "s.csv", predictions, {"a": 1})
    with pytest.raises(OutputExistsError):
        write_single_file(single, predictions, {"a": 1})
    archive = zip_submission(tmp_path / "sub", tmp_path / "sub.zip")
    with pytest.raises(OutputExistsError):
        zip_submission(tmp_path / "sub", archive)
    changed = {"a": VideoPrediction.consecutive([[0.9, 0.9]])}
    write_per_video(tmp_path / "sub", changed, {"a": 1}, force=True)
    assert (tmp_path / "sub" / "a.txt").read_text() == PER_VIDEO + "0.900000,0.900000\n"
    write_single_file(single, changed, {"a": 1}, force=True)
    assert single.read_text() == SINGLE + "a/00001.jpg,0.900000,0.900000\n"


def test_a_failed_write_leaves_the_old_output_intact(tmp_path):
    good = {name: VideoPrediction.consecutive([[0.1, 0.1]] * 2) for name in ("a", "b", "c")}
    out = write_per_video(tmp_path / "sub", good, {"a": 2, "b": 2, "c": 2})
    before = {p.name: p.read_text() for p in out.iterdir()}
    # "c" fails after "a" and "b" were written into the new folder.
    broken = {**good, "a": VideoPrediction.consecutive([[0.7, 0.7]] * 2)}
    broken["c"] = VideoPrediction([1, 3], np.zeros((2, 2)))
    with pytest.raises(PredictionError, match="frame 3, but the video has 2 frames"):
        write_per_video(out, broken, {"a": 2, "b": 2, "c": 2}, force=True)
    assert {p.name: p.read_text() for p in out.iterdir()} == before
    single = write_single_file(tmp_path / "s.csv", good, {"a": 2, "b": 2, "c": 2})
    text = single.read_text()
    with pytest.raises(PredictionError):
        write_single_file(single, broken, {"a": 2, "b": 2, "c": 2}, force=True)
    assert single.read_text() == text
    assert sorted(os.listdir(tmp_path)) == ["s.csv", "sub"]  # no temporary left behind


# --------------------------------------------------------------------------
# Single file


def test_single_file_in_the_sample_order(tmp_path):
    sample = tmp_path / "sample.csv"
    sample.write_text(SINGLE + "b/00002.jpg,0,0\na/00003.jpg,0,0\nb/00001.jpg,0,0\na/00001.jpg,0,0\nb/00004.jpg,0,0\n")
    predictions = {
        "a": VideoPrediction([1, 2], [[0.1, -0.1], [0.2, -0.2]]),
        "b": VideoPrediction([2, 3], [[0.5, 0.5], [0.7, 0.7]]),
        "unused": VideoPrediction([1], [[0, 0]]),
    }
    with pytest.warns(SubmissionWarning, match="not in the sample file: unused"):
        out = write_single_file(tmp_path / "out.csv", predictions, sample_file=sample, precision=1)
    assert out.read_text() == SINGLE + (
        "b/00002.jpg,0.5,0.5\na/00003.jpg,0.2,-0.2\nb/00001.jpg,0.5,0.5\na/00001.jpg,0.1,-0.1\nb/00004.jpg,0.7,0.7\n"
    )
    assert check_submission(out, None, sample_file=sample).ok
    with pytest.raises(PredictionError, match="no predictions for video 'b'") as caught:
        write_single_file(tmp_path / "out2.csv", {"a": predictions["a"]}, sample_file=sample)
    assert (caught.value.path, caught.value.line) == (str(sample), 2)
    messages = []
    write_single_file(
        tmp_path / "out3.csv", {"a": predictions["a"]}, sample_file=sample, allow_missing=True, warn=messages.append
    )
    assert messages == ["1 video(s) have no predicted frame and are filled with 0.0: b"]


def test_single_file_default_rows(tmp_path):
    predictions = {"v_right": VideoPrediction([2], [[0.25, -0.75]]), "a": VideoPrediction.consecutive([[1, 1]])}
    out = write_single_file(tmp_path / "s.csv", predictions, {"v_right": 3, "a": 1}, precision=2)
    assert out.read_text() == SINGLE + (
        "a/00001.jpg,1.00,1.00\nv_right/00001.jpg,0.25,-0.75\nv_right/00002.jpg,0.25,-0.75\nv_right/00003.jpg,0.25,-0.75\n"
    )
    with pytest.raises(PredictionError, match="more than 5-digit image names"):
        write_single_file(tmp_path / "long.csv", {"a": VideoPrediction([1], [[0, 0]])}, {"a": 100_000})
    with pytest.raises(ValueError, match="frame_counts or sample_file"):
        write_single_file(tmp_path / "none.csv", predictions)


# --------------------------------------------------------------------------
# Zip


def test_zip_is_deterministic_and_flat(tmp_path):
    out = write_per_video(
        tmp_path / "sub", {n: VideoPrediction.consecutive([[0.1, 0.2]]) for n in "cab"}, {n: 1 for n in "cab"}
    )
    (out / ".hidden").write_text("x")
    first = zip_submission(out, tmp_path / "one.zip").read_bytes()
    os.utime(out / "a.txt", (0, 1_000_000_000))
    second = zip_submission(out, tmp_path / "two.zip").read_bytes()
    assert first == second
    with zipfile.ZipFile(tmp_path / "one.zip") as archive:
        assert archive.namelist() == ["a.txt", "b.txt", "c.txt"]
        assert archive.getinfo("a.txt").date_time == (1980, 1, 1, 0, 0, 0)
        assert archive.read("b.txt") == (out / "b.txt").read_bytes()
    with pytest.raises(PredictionError, match="inside the folder it packs"):
        zip_submission(out, out / "x.zip")
    (out / "folder").mkdir()
    with pytest.raises(PredictionError, match="files only"):
        zip_submission(out, tmp_path / "three.zip")
