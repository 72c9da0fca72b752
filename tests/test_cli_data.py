"""``abaw data check`` and ``abaw data generate`` through click's runner."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import click
from click.testing import CliRunner

from abaw.cli import cli
from abaw.cli.context import AbawGroup
from abaw.synthetic import GeneratedDataset


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["-q", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_check_usable_dataset(generated: GeneratedDataset, tmp_path: Path) -> None:
    code, out, err = run("data", "check", "--root", str(generated.root), "--cache", str(tmp_path / "c"))
    assert code == 0, err
    assert "usable frames" in out and "usable" in out.splitlines()[-1]
    assert "Traceback" not in err


def test_check_json_report(generated: GeneratedDataset, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    args = ("data", "check", "--root", str(generated.root), "--cache", str(tmp_path / "c"), "--json", str(report))
    assert run(*args)[0] == 0
    payload = json.loads(report.read_text())
    assert payload["usable"] is True
    train = next(split for split in payload["splits"] if split["split"] == "train")
    assert train["usable_frames"] == sum(train["valence_histogram"]) > 0
    assert train["missing_label_lines"] > 0 and train["no_face_frames"] > 0
    code, _, err = run(*args)
    assert code == 2 and "already exists; pass --force" in err
    assert run(*args, "--force")[0] == 0


def test_check_reports_bad_line_and_fails(dataset_copy: Path) -> None:
    annotation = next(dataset_copy.rglob("Validation_Set/*.txt"))
    lines = annotation.read_text().splitlines()
    lines[4] = "0.1;0.2"
    annotation.write_text("\n".join(lines) + "\n")
    code, _, err = run("data", "check", "--root", str(dataset_copy))
    assert code == 1
    assert f"{annotation}:5: expected 2 comma-separated values" in err
    assert "Traceback" not in err


def test_check_warns_of_label_lines_that_do_not_fit_the_video(dataset_copy: Path) -> None:
    # Odd but consistent (issue 10): a warning, the label lines define the entry's frames.
    annotation = next(dataset_copy.rglob("Train_Set/*.txt"))
    annotation.write_text(annotation.read_text() + "0.1,0.1\n" * 5)
    report = dataset_copy.parent / "report.json"
    code, _, _ = run("data", "check", "--root", str(dataset_copy), "--json", str(report))
    assert code == 0
    problems = json.loads(report.read_text())["problems"]
    mismatch = next(problem for problem in problems if problem["message"].startswith(f"{annotation}: "))
    assert "label lines for a video of" in mismatch["message"] and "the label lines are used" in mismatch["message"]
    assert (mismatch["severity"], mismatch["effect"]) == ("warning", "warning")


def test_check_reports_corrupt_video(dataset_copy: Path) -> None:
    video = next(dataset_copy.rglob("*.mp4"))
    video.write_bytes(b"not a video at all")
    code, _, err = run("data", "check", "--root", str(dataset_copy))
    assert code == 1
    assert f"{video}: cannot read the video" in err


def test_missing_root_is_one_line_exit_2(tmp_path: Path) -> None:
    code, _, err = run("data", "check", "--root", str(tmp_path / "absent"))
    assert code == 2
    assert "does not exist" in err and "Traceback" not in err


def test_a_root_holding_nothing_of_aff_wild2_is_one_line_saying_where_it_looked(tmp_path: Path) -> None:
    wrong = tmp_path / "photos"
    (wrong / "holiday").mkdir(parents=True)
    (wrong / "holiday" / "beach.jpg").write_bytes(b"")
    code, out, err = run("data", "check", "--root", str(wrong))
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        f"error: {wrong}: no annotations found (looked below it for annotations/VA_Set/Training_Set or "
        "annotations/VA_Set/Train_Set, and '<N>th ABAW Annotations/VA_Estimation_Challenge/Train_Set'): point --root "
        "at the folder where Aff-Wild2 was unpacked, or pass --annotations DIR; nothing else of Aff-Wild2 was found "
        "there either"
    ]
    # Crops without annotations (the root one level too deep): the tables, then where the annotations were sought.
    crops = tmp_path / "data" / "cropped_aligned" / "video1"
    crops.mkdir(parents=True)
    (crops / "00001.jpg").write_bytes(b"")
    code, _, err = run("data", "check", "--root", str(tmp_path / "data"))
    assert code == 1
    assert err.strip().splitlines()[-1].startswith(f"error: {tmp_path / 'data'}: no annotations found (looked below")


def test_generate_refuses_to_overwrite(generated: GeneratedDataset, tmp_path: Path) -> None:
    out = tmp_path / "g"
    assert run("data", "generate", "--out", str(out), "--videos", "6", "--frames", "12")[0] == 0
    marker = out / "generated.json"
    before = marker.read_text()
    code, _, err = run("data", "generate", "--out", str(out), "--videos", "6", "--frames", "12", "--seed", "3")
    assert code == 2 and "pass --force" in err
    assert marker.read_text() == before
    code, _, err = run("data", "generate", "--out", str(out), "--videos", "2")
    assert code == 2 and "videos" in err and "Traceback" not in err


def test_per_video_table_and_json_entries(generated: GeneratedDataset, tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    code, out, _ = run(
        "data",
        "check",
        "--root",
        str(generated.root),
        "--cache",
        str(tmp_path / "c"),
        "--per-video",
        "--json",
        str(report),
    )
    assert code == 0
    assert "Per video" in out and "video10_1_left" in out
    entries = {entry["name"]: entry for entry in json.loads(report.read_text())["entries"]}
    assert set(entries) == set(generated.entries)
    for name, truth in generated.entries.items():
        assert entries[name]["video_frames"] == truth.frames
        assert entries[name]["fps"] == truth.fps
        if truth.annotation is not None:
            assert entries[name]["label_lines"] == truth.label_rows


def test_verify_images_reports_corrupt_and_odd_crops(dataset_copy: Path) -> None:
    from PIL import Image

    folders = sorted(path for path in (dataset_copy / "cropped_aligned").iterdir())
    corrupt = sorted(folders[0].glob("*.jpg"))[3]
    corrupt.write_bytes(corrupt.read_bytes()[:200])
    small = sorted(folders[1].glob("*.jpg"))[0]
    Image.new("RGB", (64, 64)).save(small)
    assert run("data", "check", "--root", str(dataset_copy))[0] == 0
    report = dataset_copy.parent / "report.json"
    code, _, err = run("data", "check", "--root", str(dataset_copy), "--verify-images", "--json", str(report))
    assert code == 1
    assert f"{corrupt}: cannot be decoded as an image" in err
    problems = {problem["message"]: problem for problem in json.loads(report.read_text())["problems"]}
    assert problems[f"{corrupt}: cannot be decoded as an image"]["effect"] == "blocks"
    small_problem = next(problem for message, problem in problems.items() if message.startswith(f"{small}: 64x64"))
    assert (small_problem["severity"], small_problem["effect"]) == ("warning", "warning")


def test_an_os_error_that_slipped_through_is_one_line() -> None:
    """The last resort of every command: an ``OSError`` no library code turned into an AbawError."""

    @click.group(cls=AbawGroup)
    def group() -> None:
        pass

    @group.command()
    @click.argument("kind")
    def fail(kind: str) -> None:
        if kind == "rename":
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), "a/run", None, "b/run")
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), "/data/locked")

    result = CliRunner().invoke(group, ["fail", "read"])
    assert (result.exit_code, result.stderr) == (2, "error: /data/locked: Permission denied\n")
    result = CliRunner().invoke(group, ["fail", "rename"])
    assert (result.exit_code, result.stderr) == (2, "error: a/run -> b/run: Invalid cross-device link\n")


def test_dataset_options_without_root_are_one_config_line(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    code, out, err = run("train", "--resume", "--out", str(tmp_path / "run"), "--cache", str(cache))
    assert code == 2 and out == ""
    assert err == "error: no dataset root given (pass --root with --cache)\n"
    assert not (tmp_path / "run").exists() and not cache.exists()


def test_generate_degraded_share(tmp_path: Path) -> None:
    from abaw.synthetic.degradations import read_degradations

    shares = {}
    for share in ("0", "0.5"):
        out = tmp_path / share
        args = ("--out", str(out), "--videos", "6", "--frames", "30", "--degraded-share", share)
        assert run("data", "generate", *args)[0] == 0
        records = read_degradations(out)
        shares[share] = sum(record.mask().sum() for record in records.values()) / sum(
            len(record.mask()) for record in records.values()
        )
    assert shares["0"] == 0
    assert 0.35 < shares["0.5"] < 0.65
    code, _, err = run("data", "generate", "--out", str(tmp_path / "x"), "--degraded-share", "0.9")
    assert code == 2 and "0.9" in err
