"""``abaw features audio`` through click's runner."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from abaw.cli import cli
from abaw.synthetic import GeneratedDataset


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["-q", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_audio_extracts_then_skips(generated: GeneratedDataset, tmp_path: Path) -> None:
    cache, report = tmp_path / "cache", tmp_path / "audio.json"
    args = ("features", "audio", "--root", str(generated.root), "--cache", str(cache), "--jobs", "2")
    code, out, err = run(*args, "--json", str(report))
    assert code == 0, err
    assert "Audio features eGeMAPSv02-first2: 50 values per frame" in out
    assert str(cache / "audio" / "eGeMAPSv02-first2") in out and "Traceback" not in err
    payload = json.loads(report.read_text())
    assert (payload["videos"], payload["extracted"], payload["skipped"], payload["dim"]) == (8, 8, 0, 50)
    assert Path(payload["stats"]).is_file() and Path(payload["report"]).is_file()

    code, _, err = run(*args, "--json", str(report))
    assert code == 2 and "already exists; pass --force" in err
    code, out, _ = run(*args, "--json", "-")
    assert code == 0 and json.loads(out)["skipped"] == 8
    assert run(*args, "--json", str(report), "--force")[0] == 0
    assert json.loads(report.read_text())["extracted"] == 8


def test_audio_feature_set_and_pooling(generated: GeneratedDataset, tmp_path: Path) -> None:
    code, out, err = run(
        "features",
        "audio",
        "--root",
        str(generated.root),
        "--cache",
        str(tmp_path / "cache"),
        "--feature-set",
        "eGeMAPSv01b",
        "--pooling",
        "meanstd",
        "--jobs",
        "1",
    )
    assert code == 0, err
    assert "eGeMAPSv01b-meanstd: 46 values per frame" in out
    assert (tmp_path / "cache" / "audio" / "eGeMAPSv01b-meanstd" / "stats.json").is_file()


def test_audio_warns_about_a_video_without_audio(dataset_copy: Path) -> None:
    video = next(dataset_copy.rglob("video59.mp4"))
    video.write_bytes(b"not a video at all")
    code, out, err = run("features", "audio", "--root", str(dataset_copy), "--jobs", "1")
    assert code == 0, err
    assert f"warning: {video}: cannot read the audio" in err and "its audio features are zeros" in err
    assert "without audio (zeros)" in out and "Traceback" not in err


def assert_full_disk_is_one_line(root: Path, cache: Path) -> None:
    """``features audio`` into ``cache`` on a full disk: exit 2, its last line names the features file."""
    code, _, err = run("features", "audio", "--root", str(root), "--cache", str(cache), "--jobs", "1")
    assert code == 2 and "Traceback" not in err, err
    line = err.strip().splitlines()[-1]
    assert line.startswith(f"error: {cache / 'audio' / 'eGeMAPSv02-first2'}/")
    assert line.endswith(".npz: cannot be written: No space left on device")


def test_a_full_disk_is_one_line_naming_the_features_file(
    generated: GeneratedDataset, tmp_path: Path, monkeypatch
) -> None:
    def full_disk(*args, **kwargs):  # as the write() under np.savez fails on a full disk: no file named
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(np, "savez", full_disk)
    assert_full_disk_is_one_line(generated.root, tmp_path / "cache")
    assert not list((tmp_path / "cache").rglob("*.npz")) and not list((tmp_path / "cache").rglob("*.tmp"))


def test_features_on_a_really_full_disk_are_one_line(generated: GeneratedDataset, full_disk: Path) -> None:
    assert_full_disk_is_one_line(generated.root, full_disk / "cache")
