"""Checking submissions before upload: every problem, one line each."""

from __future__ import annotations

import stat
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from abaw.formats.check import MAX_LISTED_PROBLEMS, check_submission
from abaw.formats.readers import read_predictions
from abaw.formats.types import SubmissionFormat, VideoPrediction
from abaw.formats.writers import (
    write_per_video,
    write_single_file,
    zip_submission,
)
from tests.helpers import write_zip_bomb

PER_VIDEO = "valence,arousal\n"
SINGLE = "image_location,valence,arousal\n"


# --------------------------------------------------------------------------
# check_submission


EXPECTED = {"a": 3, "b_left": 2}


def valid_per_video(root: Path) -> Path:
    predictions = {name: VideoPrediction.consecutive(np.full((n, 2), 0.5)) for name, n in EXPECTED.items()}
    return write_per_video(root, predictions, EXPECTED)


def test_valid_submissions_pass(tmp_path):
    folder = valid_per_video(tmp_path / "sub")
    for path in (folder, zip_submission(folder, tmp_path / "sub.zip")):
        report = check_submission(path, EXPECTED)
        assert report.ok, report.problems
        assert (report.format, report.videos, report.lines) == (SubmissionFormat.PER_VIDEO, 2, 5)
    single = write_single_file(tmp_path / "s.csv", read_predictions(folder).videos, EXPECTED)
    report = check_submission(zip_submission(single, tmp_path / "single.zip"), EXPECTED)
    assert report.ok, report.problems
    assert (report.format, report.videos, report.lines) == (SubmissionFormat.SINGLE_FILE, 2, 5)
    assert report.to_dict()["ok"] is True


def test_per_video_faults_are_all_reported(tmp_path):
    folder = valid_per_video(tmp_path / "sub")
    (folder / "a.txt").write_text("Valence,Arousal\n0.1,0.2\nx,0.3\n1.5,-2\n0.1,0.2\n")
    (folder / "b_left.txt").unlink()
    (folder / "zz.txt").write_text(PER_VIDEO + "0,0\n")
    (folder / "preview.png").write_bytes(b"\x89PNG")
    report = check_submission(folder, EXPECTED)
    assert not report.ok
    assert report.problems == [
        f"{folder}/preview.png: not part of a submission: not a prediction file (.png)",
        f"{folder}/a.txt:1: header is 'Valence,Arousal', expected exactly 'valence,arousal'",
        f"{folder}/a.txt:3: 'x' is not a number",
        f"{folder}/a.txt: 4 prediction lines, expected 3 (one per video frame)",
        f"{folder}/a.txt:4: valence 1.5 is outside [-1, 1]",
        f"{folder}/zz.txt: 'zz' is not a test video: remove this file",
        f"{folder}: no prediction file for the test video 'b_left' (b_left.txt, 2 lines)",
    ]
    assert report.problem_count == 7


def test_zip_faults(tmp_path):
    archive = tmp_path / "sub.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a.txt", PER_VIDEO + "0,0\n0,0\n0,0\n")
        zf.writestr("b_left.txt", PER_VIDEO + "0,0\n0,0\n")
        zf.writestr("../evil.txt", PER_VIDEO)
        link = zipfile.ZipInfo("link.txt")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
        zf.writestr("inner.zip", b"PK")
        zf.writestr("__MACOSX/._a.txt", b"")
    report = check_submission(archive, EXPECTED)
    assert report.problems == [
        f"{archive}:../evil.txt: '..' in an archive path",
        f"{archive}:link.txt: symbolic link in the archive",
        f"{archive}:inner.zip: not part of a submission: a zip archive inside the submission",
    ]
    assert any("__MACOSX" in note for note in report.notes)


def test_single_file_faults(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text(
        SINGLE
        + "a/00001.jpg,0.1,0.1\n"  # 2
        + "a/00002.jpg,0.1,1.2\n"  # 3: out of range
        + "a/00004.jpg,0,0\n"  # 4: past a's 3 frames
        + "b_left/00001.jpg,0,0\n"  # 5
        + "a/00001.jpg,0,0\n"  # 6: repeated
        + "c/00001.jpg,0,0\n"  # 7: not a test video
        + "c/00002.jpg,0,0\n"  # 8
    )
    report = check_submission(path, EXPECTED)
    assert report.problems == [
        f"{path}:6: 'a/00001.jpg' appears again (first on line 2)",
        f"{path}:3: arousal 1.2 is outside [-1, 1]",
        f"{path}: video 'a': no row for 1 of its 3 images, first a/00003.jpg",
        f"{path}: video 'b_left': no row for 1 of its 2 images, first b_left/00002.jpg",
        f"{path}:7: 2 row(s) for 'c', not a test video",
        f"{path}:4: 'a/00004.jpg' is past the video's 3 frames",
    ]
    path.write_text(SINGLE + "a/00001.jpg,0,0\na/1.jpg,0,0\na/00002.jpg,zero,0\n")
    report = check_submission(path, EXPECTED)
    assert report.problems == [
        f"{path}:4: 'zero' is not a number",
        f"{path}:3: image_location 'a/1.jpg' is not <video>/<5-digit frame>.jpg",
    ]
    assert any("not checked" in note for note in report.notes)


def test_single_file_against_the_sample_order(tmp_path):
    sample = tmp_path / "sample.csv"
    sample.write_text(SINGLE + "b_left/00001.jpg,0,0\na/00001.jpg,0,0\na/00002.jpg,0,0\n")
    path = tmp_path / "s.csv"
    path.write_text(SINGLE + "a/00001.jpg,0,0\na/00002.jpg,0,0\nb_left/00001.jpg,0,0\n")
    report = check_submission(path, EXPECTED, sample_file=sample)
    assert report.problems == [
        f"{path}:2: rows are not in the sample file's order: 'a/00001.jpg' where the sample has "
        "'b_left/00001.jpg' (line 2); 3 rows are out of place"
    ]
    path.write_text(SINGLE + "b_left/00001.jpg,0,0\na/00001.jpg,0,0\na/00003.jpg,0,0\n")
    report = check_submission(path, EXPECTED, sample_file=sample)
    assert report.problems == [
        f"{path}: video 'a': no row for 1 of the sample's 2 images, first a/00002.jpg (sample line 4)",
        f"{path}:4: 'a/00003.jpg' is not in the sample file",
    ]


def test_problems_are_capped_but_counted(tmp_path):
    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / "a.txt").write_text(PER_VIDEO + "2,2\n" * 120)
    report = check_submission(folder, {"a": 120, "b": 1})
    assert len(report.problems) == MAX_LISTED_PROBLEMS + 1
    assert report.problem_count == 121  # 120 lines out of range, and b.txt missing
    assert report.problems[-1] == "... and 71 more problems"
    assert report.problems[-2] == f"{folder}/a.txt:51: valence 2 is outside [-1, 1]"
    # Lines that cannot be parsed stop the reading of a file once the list is full.
    (folder / "a.txt").write_text(PER_VIDEO + "x,2\n" * 120)
    report = check_submission(folder, {"a": 120})
    assert report.stopped_early and report.problem_count == MAX_LISTED_PROBLEMS
    assert report.problems[-1].startswith("... and possibly more problems")


def test_unreadable_submission_is_a_problem_not_an_exception(tmp_path):
    report = check_submission(tmp_path / "missing", EXPECTED)
    assert report.problems == [f"{tmp_path / 'missing'}: does not exist"]
    empty = tmp_path / "empty"
    empty.mkdir()
    report = check_submission(empty, EXPECTED)
    assert report.format is None and report.problem_count == 1
    assert "no prediction files" in report.problems[0]


def test_layout_notes_and_header_faults(tmp_path):
    archive = tmp_path / "sub.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("results/a.txt", "\ufeffvalence,arousal\n0,0\n0,0\n0,0\n")
        zf.writestr("results/b_left.txt", PER_VIDEO + "0,0\n0,0\n")
    report = check_submission(archive, EXPECTED)
    assert report.problems == [
        f"{archive}: the files are inside the folder 'results/' of the zip; "
        "the organisers' instructions put them at its root",
        f"{archive}:results/a.txt:1: starts with a byte-order mark: save it as UTF-8 without one",
    ]
    unzipped = tmp_path / "unzipped"
    archive_files = zipfile.ZipFile(archive)
    archive_files.extractall(unzipped)
    archive_files.close()
    report = check_submission(unzipped, EXPECTED)
    assert any("inside the folder 'results/'; zip that folder's content" in note for note in report.notes)
    single = tmp_path / "s.csv"
    single.write_text("image_location,valence\na/00001.jpg,0\n")
    report = check_submission(single, EXPECTED)
    assert report.problems == [
        f"{single}:1: header is 'image_location,valence', expected 'image_location,valence,arousal'"
    ]
    assert report.format is SubmissionFormat.SINGLE_FILE
    folders = tmp_path / "folders"
    (folders / "x").mkdir(parents=True)
    (folders / "y").mkdir()
    (folders / "x" / "a.txt").write_text(PER_VIDEO)
    (folders / "y" / "a.txt").write_text(PER_VIDEO)
    report = check_submission(folders, EXPECTED)
    assert report.problems == [f"{folders}: prediction files in several folders (x/, y/); keep one"]


def test_per_video_checked_against_the_sample_counts(tmp_path):
    sample = tmp_path / "sample.csv"
    sample.write_text(SINGLE + "a/00001.jpg,0,0\na/00002.jpg,0,0\nb/00001.jpg,0,0\n")
    predictions = {"a": VideoPrediction([1], [[0.1, 0.1]]), "b": VideoPrediction([1], [[0, 0]])}
    folder = write_per_video(tmp_path / "sub", predictions, {"a": 2, "b": 2})
    report = check_submission(folder, None, sample_file=sample)
    assert report.problems == [f"{folder}/b.txt: 2 prediction lines, expected 1 (one per video frame)"]
    with pytest.raises(ValueError, match="expected frame counts or a sample"):
        check_submission(folder, None)


def test_unreadable_files_are_problems_of_their_own(tmp_path):
    folder = valid_per_video(tmp_path / "sub")
    (folder / "a.txt").write_bytes(b"valence,arousal\n\xff\xfe,0\n")
    (folder / "b_left.txt").write_text(PER_VIDEO + "0,0\n")
    report = check_submission(folder, EXPECTED)
    assert report.problems == [
        f"{folder}/a.txt: not UTF-8 text (invalid start byte)",
        f"{folder}/b_left.txt: 1 prediction lines, expected 2 (one per video frame)",
    ]


# --------------------------------------------------------------------------
# As strict as the organisers' readers, and bounded


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ("0.1_0,0.2", "'0.1_0' is not a plain decimal number"),
        ("\uff11.0,0", "'\uff11.0' is not a plain decimal number"),
        ("nan,0", "'nan' is not a finite number"),
        ("0,inf", "'inf' is not a finite number"),
    ],
)
def test_check_refuses_numbers_a_pandas_reader_would_not_read(tmp_path, line, shown):
    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / "a.txt").write_text(PER_VIDEO + "0.1,0.2\n" + line + "\n0.1,0.2\n")
    (folder / "b_left.txt").write_text(PER_VIDEO + "0,0\n0,0\n")
    report = check_submission(folder, EXPECTED)
    assert report.problems == [f"{folder}/a.txt:3: {shown} (ASCII digits, '.', optional exponent)"] or (
        report.problems == [f"{folder}/a.txt:3: {shown}"]
    )


def test_check_refuses_backslashes_in_member_names(tmp_path):
    archive = tmp_path / "sub.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a.txt", PER_VIDEO + "0,0\n0,0\n0,0\n")
        zf.writestr("preds\\b_left.txt", PER_VIDEO + "0,0\n0,0\n")
    report = check_submission(archive, EXPECTED)
    assert report.problems[0] == (
        f"{archive}:preds\\b_left.txt: backslash in the member name: zip it with a tool that writes '/' separators"
    )
    assert not report.ok


def test_check_refuses_a_zip_bomb_unread(tmp_path):
    """A member far larger than its video's frames can need, or not a test video's file, is never inflated."""
    # zz.txt is not a test video's file, model.bin cannot be a prediction file.
    members = {name: 16 << 20 for name in ("a.txt", "b_left.txt", "zz.txt", "model.bin")}
    archive = write_zip_bomb(tmp_path / "bomb.zip", members)
    assert archive.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        report = check_submission(archive, EXPECTED)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    size = f"{16 << 20:,}"
    assert report.problems == [
        f"{archive}:model.bin: not part of a submission: not a prediction file (.bin)",
        f"{archive}:a.txt: {size} bytes unpacked, more than the 4,288 a prediction file of 3 frames can need; not read",
        f"{archive}:b_left.txt: {size} bytes unpacked, more than the 4,224 a prediction file of 2 frames can need; "
        "not read",
        f"{archive}:zz.txt: 'zz' is not a test video: remove this file",
    ]
    assert peak < 2_000_000


def test_check_refuses_an_oversized_single_file_unread(tmp_path):
    archive = tmp_path / "single.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("all.csv")
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w") as member:
            member.write(SINGLE.encode() + b"a/00001.jpg,0,0\n" * 100_000)
    report = check_submission(archive, EXPECTED)
    assert len(report.problems) == 1
    assert report.problems[0].startswith(f"{archive}:all.csv: 1,600,031 bytes unpacked, more than the ")
    assert report.problems[0].endswith("a single file of 5 frames can need; not read")


def test_check_reports_a_form_feed_at_its_line_and_reads_on(tmp_path):
    folder = tmp_path / "sub"
    folder.mkdir()
    # str.splitlines() would make 4 lines of these 3 and shift the frames after the form feed.
    (folder / "a.txt").write_text(PER_VIDEO + "0.1,0.2\n0.3\f0.4,0.5\n2,0\n")
    (folder / "b_left.txt").write_text(PER_VIDEO + "0,0\n0,0\n")
    report = check_submission(folder, EXPECTED)
    assert report.problems == [
        f"{folder}/a.txt:3: form feed (U+000C) inside a line: lines may end only with \\n or \\r\\n",
        f"{folder}/a.txt:4: valence 2 is outside [-1, 1]",
    ]
