"""Strictness that matches what is at stake: which problems block, which entries training skips, what only warns."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from abaw.cli import cli
from abaw.data.entries import Effect
from abaw.data.index import open_dataset
from abaw.data.layout import Edition, Split
from abaw.errors import DataError
from tests.foreign import ANNOTATIONS
from tests.helpers import annotation_dir, tiny_dataset

QUICK = ["--variant", "disc-tiny", "--steps-per-epoch", "1", "--batch-size", "4", "--workers", "0", "--epochs", "1"]


def run(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["-q", *map(str, args)], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def corrupt_line(path: Path, line: int) -> None:
    """Make 1-based ``line`` of a label file not two numbers, keeping its line endings."""
    lines = path.read_bytes().split(b"\n")
    lines[line - 1] = b"0.1;0.2" + (b"\r" if lines[line - 1].endswith(b"\r") else b"")
    path.write_bytes(b"\n".join(lines))


def test_warnings_only_exit_0(tmp_path: Path) -> None:
    root = tiny_dataset(tmp_path / "data")  # no videos at all: odd but consistent
    report = tmp_path / "r.json"
    code, out, err = run("data", "check", "--root", root, "--json", report)
    assert code == 0, err
    payload = json.loads(report.read_text())
    assert payload["usable"] and not payload["errors"] and payload["warnings"]
    assert {problem["effect"] for problem in payload["problems"]} == {Effect.WARNING.value}
    assert "warning only" in out


def test_every_effect_in_the_table_and_json(tmp_path: Path) -> None:
    root = tiny_dataset(tmp_path / "data")
    label_file = annotation_dir(root, Edition.ABAW2022) / "video1.txt"
    corrupt_line(label_file, 3)
    shutil.rmtree(root / "cropped_aligned" / "200")
    report = tmp_path / "r.json"
    code, out, err = run("data", "check", "--root", root, "--json", report)
    assert code == 1
    assert f"error: {label_file}:3: expected 2 comma-separated values" in err and "Traceback" not in err
    problems = json.loads(report.read_text())["problems"]
    assert {problem["effect"] for problem in problems} == {effect.value for effect in Effect}
    by_entry = {(problem["entry"], problem["effect"]) for problem in problems}
    assert ("video1", "skipped") in by_entry  # its label file is corrupt: training skips it
    assert ("200", "blocks") in by_entry  # a test entry without crops cannot be predicted
    assert ("102", "warning") in by_entry  # no video: only a warning
    for effect in Effect:
        assert effect.description in out


def test_index_selects_usable_entries_and_says_why_others_are_skipped(tmp_path: Path) -> None:
    root = tiny_dataset(tmp_path)
    label_file = annotation_dir(root, Edition.ABAW2022) / "video1.txt"
    corrupt_line(label_file, 4)
    for name in (tmp_path / "cropped_aligned" / "video10_1_left").iterdir():
        name.unlink()
    index = open_dataset(root)
    assert index.usable_entries([Split.TRAIN]).entries == []
    selection = index.usable_entries([Split.TRAIN, Split.VALIDATION])
    assert selection.names == ["102"]
    reasons = {entry.name: entry.reason for entry in selection.skipped}
    assert reasons["video1"].startswith(f"{label_file}:4:")
    assert "no face images" in reasons["video10_1_left"]
    with pytest.raises(DataError, match=f"{label_file}:4:"):
        index.usable_entries([Split.TRAIN], strict=True)
    # Scoring needs labels, not faces: only the unreadable label file is left out.
    assert index.scorable_entries(Split.TRAIN).names == ["video10_1_left"]


def test_split_blockers_concern_the_split_not_its_entries(tmp_path: Path) -> None:
    root = tiny_dataset(tmp_path)
    corrupt_line(annotation_dir(root, Edition.ABAW2022) / "video1.txt", 2)
    (root / "test_set_VA_Challenge.txt").write_text("200\n200\n")
    index = open_dataset(root)
    index.require_split(Split.TRAIN)  # an entry's own error does not block its split
    with pytest.raises(DataError, match="listed again"):
        index.require_split(Split.TEST)


def test_test_entries_without_count_or_faces_cannot_be_written(tmp_path: Path) -> None:
    root = tiny_dataset(tmp_path / "data")
    (root / "test_set_VA_Challenge.txt").write_text("200\n300\n")
    index = open_dataset(root)
    counts = index.frame_counts(Split.TEST)
    with pytest.raises(DataError, match="no frame count for 300"):
        index.require_writable(Split.TEST, counts)
    index.require_writable(Split.TEST, {"200": 6, "300": 6})
    with pytest.raises(DataError, match="no face image to predict 300 from"):
        index.require_writable(Split.TEST, {"200": 6, "300": 6}, need_faces=True)
    submission = tmp_path / "sub"
    submission.mkdir()
    code, _, err = run("submission", "check", submission, "--root", root)
    assert code == 2 and "no frame count for 300" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_train_skips_a_corrupt_label_file_and_strict_refuses(foreign_copy: Path, tmp_path: Path) -> None:
    label_file = foreign_copy / ANNOTATIONS / "Training_Set" / "5-60-1920x1080.txt"
    corrupt_line(label_file, 5)
    run_dir = tmp_path / "run"
    code, _, err = run("train", "--root", foreign_copy, "--out", run_dir, *QUICK)
    assert code == 0, err
    skipped = json.loads((run_dir / "skipped.json").read_text())["skipped"]
    assert [entry["name"] for entry in skipped] == ["5-60-1920x1080"]
    assert skipped[0]["split"] == "train" and skipped[0]["reason"].startswith(f"{label_file}:5:")
    assert f"warning: skipped 5-60-1920x1080 (train): {label_file}:5:" in err

    code, _, err = run("train", "--root", foreign_copy, "--out", tmp_path / "strict", "--strict", *QUICK)
    assert code == 2 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and f"{label_file}:5: expected 2 comma-separated values" in err
    assert not (tmp_path / "strict" / "last.pt").exists()


@pytest.mark.slow
def test_train_refuses_only_when_no_usable_frame_is_left(foreign_copy: Path, tmp_path: Path) -> None:
    for label_file in (foreign_copy / ANNOTATIONS / "Validation_Set").glob("*.txt"):
        corrupt_line(label_file, 2)
    code, _, err = run("train", "--root", foreign_copy, "--out", tmp_path / "val", *QUICK)
    assert code == 2 and "no usable validation frame" in err and "Traceback" not in err
    # The final protocol does not score validation: the train entries are enough.
    code, _, err = run("train", "--root", foreign_copy, "--out", tmp_path / "final", "--protocol", "final", *QUICK)
    assert code == 0, err
    for label_file in (foreign_copy / ANNOTATIONS / "Training_Set").glob("*.txt"):
        corrupt_line(label_file, 2)
    code, _, err = run("train", "--root", foreign_copy, "--out", tmp_path / "none", "--protocol", "final", *QUICK)
    assert code == 2 and "fewer than 2 usable frames" in err and "Traceback" not in err
