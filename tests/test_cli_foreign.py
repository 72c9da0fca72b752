"""Every command on a dataset the toolkit's generator did not make (``tests/foreign.py``), through click's runner.

The foreign dataset is shared by the session and must stay unchanged, so
every command gets its own ``--cache`` folder.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from abaw.cli import cli
from abaw.data.entries import Effect
from abaw.data.index import open_dataset
from abaw.data.layout import Split
from tests.foreign import ForeignDataset

QUICK = ["--steps-per-epoch", "2", "--batch-size", "8", "--workers", "0", "--epochs", "1"]


def learned_test_counts(foreign: ForeignDataset) -> dict[str, int]:
    """The counts the label files imply for the test entries.

    Most labelled entries hold D + 1 lines (one D + 2, one without video), and
    the AVI header overcounts, so P + 1 reproduces the most of them; the test
    entry without a video falls back to the best rule with a value, its
    highest crop number.
    """
    return {
        name: entry.video.decoded + 1 if entry.video is not None else max(entry.face_frames)
        for name, entry in foreign.entries.items()
        if entry.split is Split.TEST
    }


def written_counts(folder: Path) -> dict[str, int]:
    """Lines after the header of each per-video file in ``folder``."""
    return {path.stem: len(path.read_text().splitlines()) - 1 for path in folder.glob("*.txt")}


def run(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["-q", *map(str, args)], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def predict_test(run_dir: Path, *args: object) -> tuple[int, str, str]:
    """``abaw predict-test`` with the last checkpoint of ``run_dir``."""
    return run("predict-test", "--checkpoint", run_dir / "last.pt", "--workers", "0", *args)


def test_data_check_shows_each_problem_with_its_effect(foreign: ForeignDataset, tmp_path: Path) -> None:
    report = tmp_path / "check.json"
    code, out, err = run("data", "check", "--root", foreign.root, "--cache", tmp_path / "c", "--json", report)
    payload = json.loads(report.read_text())
    assert "Traceback" not in err
    # Odd but consistent data (no audio, no video) are warnings; only errors make the check fail.
    assert code == (1 if payload["errors"] else 0)
    problems = payload["problems"]
    effects = {(problem["entry"], problem["severity"], problem["effect"]) for problem in problems}
    assert ("video33", "warning", "warning") in effects  # no audio track
    assert ("video90", "warning", "warning") in effects  # annotated, no video
    assert ("video61", "warning", "warning") in effects  # test entry without video: counted from its crops
    # Whatever the label and video counts say, nothing here blocks a command.
    assert all(problem["effect"] != Effect.BLOCKS.value for problem in problems)
    assert "Problems" in out and "warning only" in out
    # The frame-count rule learned from the label files: P + 1 reproduces all but the D + 2 entry and
    # the entry without a video; the AVIs whose headers count empty packets are the disagreeing videos.
    labelled = [entry for entry in foreign.entries.values() if entry.split.is_labelled]
    plus_one = sum(entry.video is not None and entry.label_lines == entry.video.decoded + 1 for entry in labelled)
    assert f"frame-count rule for test entries: P + 1 ({plus_one}/{len(labelled)} entries)" in out
    specs = {entry.video for entry in foreign.entries.values() if entry.video is not None}
    overcounting = sum(spec.empty_packets > 0 for spec in specs)
    assert f"video frame counts: {overcounting} of {len(specs)} videos" in out
    assert payload["frame_counts"]["rule"] == "P+1"
    written = {name: item["count"] for name, item in payload["frame_counts"]["entries"].items()}
    assert written == learned_test_counts(foreign)
    assert payload["frame_counts"]["entries"]["video61"]["source"].startswith("rule crops (")
    index = open_dataset(foreign.root, cache=tmp_path / "c")
    assert sorted(index.entries) == sorted(foreign.entries)
    for name, truth in foreign.entries.items():
        entry = index.entries[name]
        assert entry.label_rows == (truth.label_lines or 0), name
        assert entry.face_frames.tolist() == list(truth.face_frames), name


@pytest.fixture(scope="module")
def features_cache(foreign: ForeignDataset, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    cache = tmp_path_factory.mktemp("foreign-cache")
    report = cache.parent / "audio.json"
    code, _, err = run("features", "audio", "--root", foreign.root, "--cache", cache, "--jobs", "1", "--json", report)
    assert code == 0, err
    return cache, json.loads(report.read_text())


@pytest.fixture(scope="module")
def foreign_run(
    foreign: ForeignDataset, features_cache: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path, str]:
    cache, _ = features_cache
    run_dir = tmp_path_factory.mktemp("foreign-run") / "run"
    code, out, err = run(
        "train", "--root", foreign.root, "--cache", cache, "--out", run_dir, "--variant", "aeg-cd-sz-tiny",
        "--n-critic", "1", *QUICK,
    )  # fmt: skip
    assert code == 0, err
    assert "val/ccc_mean" in out
    return run_dir, cache, err


@pytest.mark.slow
def test_features_audio_on_foreign_videos(foreign: ForeignDataset, features_cache: tuple[Path, dict]) -> None:
    _, payload = features_cache
    specs = {entry.video for entry in foreign.entries.values() if entry.video is not None}
    videos = {spec.path for spec in specs}
    silent = {Path(spec.path).stem for spec in specs if spec.audio is None}
    assert payload["videos"] == len(videos) and payload["extracted"] == len(videos) - len(silent)
    assert sorted(payload["entries_without_video"]) == sorted(
        name for name, entry in foreign.entries.items() if entry.video is None
    )
    assert any(stem in name for name in payload["without_audio"] for stem in silent)


@pytest.mark.slow
def test_train_skips_only_what_cannot_train_and_lists_it(
    foreign: ForeignDataset, foreign_run: tuple[Path, Path, str]
) -> None:
    run_dir, cache, err = foreign_run
    index = open_dataset(foreign.root, cache=cache)
    expected = {
        problem.entry: problem.message
        for problem in index.problems
        if problem.effect is Effect.SKIPPED and problem.split in (Split.TRAIN, Split.VALIDATION)
    }
    skipped = json.loads((run_dir / "skipped.json").read_text())["skipped"]
    assert {entry["name"]: entry["reason"] for entry in skipped} == expected
    for name in expected:
        assert f"skipped {name}" in err


@pytest.mark.slow
def test_predict_score_and_submit_on_foreign(
    foreign: ForeignDataset, foreign_run: tuple[Path, Path, str], tmp_path: Path
) -> None:
    run_dir, cache, _ = foreign_run
    dataset = ["--root", foreign.root, "--cache", cache]
    out, predicted = tmp_path / "val", tmp_path / "predict.json"
    code, _, err = run("predict", "--checkpoint", run_dir / "best.pt", *dataset, "--out", out, "--workers", "0",
                       "--json", predicted)  # fmt: skip
    assert code == 0, err
    assert sorted(path.stem for path in out.glob("*.txt")) == foreign.names(Split.VALIDATION)
    # One line per label line, whatever the video says: every labelled frame is scored.
    assert written_counts(out) == {name: foreign.entries[name].label_lines for name in foreign.names(Split.VALIDATION)}
    assert "not scored" not in err
    code, _, err = run("score", out, *dataset, "--json", tmp_path / "score.json")
    assert code == 0, err
    scored = json.loads((tmp_path / "score.json").read_text())
    assert scored["ccc_mean"] == pytest.approx(json.loads(predicted.read_text())["ccc_mean"], abs=1e-5)

    submission = tmp_path / "submissions" / "foreign"
    # video61 has neither a video nor cached audio: the audio model refuses it unless told to predict it silent.
    code, _, err = predict_test(run_dir, *dataset, "--out", submission)
    assert code == 2 and "video61 has no video file" in " ".join(err.split()) and not submission.exists()
    code, _, err = predict_test(run_dir, *dataset, "--out", submission, "--allow-missing-audio",
                                "--json", tmp_path / "test.json")  # fmt: skip
    assert code == 0, err
    warned = " ".join(err.split())
    assert "video61 has no video file" in warned and "predicted with zero audio" in warned
    result = json.loads((tmp_path / "test.json").read_text())
    assert result["check"]["ok"] and result["videos"] == len(foreign.names(Split.TEST))
    with zipfile.ZipFile(submission / "submission.zip") as archive:
        assert sorted(archive.namelist()) == [f"{name}.txt" for name in foreign.names(Split.TEST)]
    code, out, err = run("submission", "check", submission / "submission.zip", *dataset)
    assert code == 0, err
    assert f"{len(foreign.names(Split.TEST))} videos" in out
    expected = learned_test_counts(foreign)
    assert written_counts(submission / "predictions") == expected
    assert {name: item["count"] for name, item in result["frame_counts"]["entries"].items()} == expected

    # A count file is stronger than the rule; entries it does not list keep the rule's count.
    count_file = tmp_path / "VA_Challenge_video_and_total_number_of_frames.txt"
    count_file.write_text("41-25-640x360.avi\t40\nvideo52 35\n")
    with_file = tmp_path / "submissions" / "with-count-file"
    code, stdout, err = predict_test(run_dir, *dataset, "--out", with_file, "--frame-counts", count_file,
                                        "--allow-missing-audio")  # fmt: skip
    assert code == 0, err
    assert "count file VA_Challenge_video_and_total_number_of_frames.txt: 2 entries" in " ".join(stdout.split())
    assert written_counts(with_file / "predictions") == {**expected, "41-25-640x360": 40, "video52_right": 35}
    code, _, err = run("submission", "check", with_file / "submission.zip", *dataset, "--frame-counts", count_file)
    assert code == 0, err
    code, _, err = run("submission", "check", with_file / "submission.zip", *dataset)
    assert code == 1 and "40 prediction lines, expected 26" in err

    # --frame-count-rule replaces the learned rule: N + 1 counts the AVI's empty packet too.
    with_rule = tmp_path / "submissions" / "with-rule"
    code, _, err = predict_test(run_dir, *dataset, "--out", with_rule, "--frame-count-rule", "N+1",
                                "--allow-missing-audio")  # fmt: skip
    assert code == 0, err
    headers = {
        name: entry.video.header + 1 if entry.video is not None else max(entry.face_frames)
        for name, entry in foreign.entries.items()
        if entry.split is Split.TEST
    }
    assert written_counts(with_rule / "predictions") == headers
    assert headers["41-25-640x360"] == expected["41-25-640x360"] + 1


@pytest.mark.slow
def test_predict_test_refuses_only_a_test_entry_it_cannot_predict(
    foreign_copy: Path, foreign_run: tuple[Path, Path, str], tmp_path: Path
) -> None:
    run_dir, _, _ = foreign_run
    # video61 has no video: without its crops nothing gives its frames or their faces.
    for crop in (foreign_copy / "cropped_aligned" / "video61").iterdir():
        crop.unlink()
    submission = tmp_path / "submission"
    code, _, err = predict_test(run_dir, "--root", foreign_copy, "--out", submission)
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "video61" in err and str(foreign_copy / "names_of_videos_in_each_test_set") in err
    assert not (submission / "submission.zip").exists()
