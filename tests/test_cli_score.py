"""``abaw score`` and ``abaw submission check`` end to end on a generated dataset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from abaw.cli import cli
from abaw.data.index import DatasetIndex, open_dataset
from abaw.data.layout import Split
from abaw.formats.types import VideoPrediction
from abaw.formats.writers import write_per_video, write_single_file, zip_submission
from abaw.scoring.metrics import score_frames
from abaw.synthetic import GeneratedDataset


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["-q", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def index(generated: GeneratedDataset) -> DatasetIndex:
    return open_dataset(generated.root)


def noisy_predictions(index: DatasetIndex, split: Split, seed: int = 0) -> dict[str, VideoPrediction]:
    """Labels plus noise (0 where a label is -5), one value per label row."""
    rng = np.random.default_rng(seed)
    predictions = {}
    for name, labels in index.split_labels(split).items():
        values = np.where(labels == -5, 0.0, labels) + rng.normal(0, 0.3, labels.shape)
        predictions[name] = VideoPrediction.consecutive(values)
    return predictions


def expected_scores(index: DatasetIndex, predictions: dict[str, VideoPrediction]) -> dict[str, float]:
    names = sorted(predictions)
    pred = np.concatenate([np.round(np.clip(predictions[name].values, -1, 1), 6) for name in names])
    labels = np.concatenate([index.labels(name) for name in names])
    return score_frames(pred, labels).to_dict()


def test_score_per_video_folder_matches_the_metric(index: DatasetIndex, tmp_path: Path) -> None:
    predictions = noisy_predictions(index, Split.VALIDATION)
    folder = write_per_video(tmp_path / "pred", predictions, {n: len(p) for n, p in predictions.items()})
    report = tmp_path / "scores.json"
    code, out, err = run("score", str(folder), "--root", str(index.layout.root), "--json", str(report), "--per-video")
    assert code == 0, err
    payload = json.loads(report.read_text())
    expected = expected_scores(index, predictions)
    for key in ("ccc_valence", "ccc_arousal", "ccc_mean", "pcc_valence", "mse_arousal", "frames"):
        assert payload[key] == pytest.approx(expected[key], abs=1e-9), key
    assert set(payload["per_video"]) == set(predictions)
    assert "ALN AEG-CD-SZ (published)" in out and "Per video" in out
    assert any(row["name"] == "ABAW 2020 baseline" for row in payload["published"])


def test_score_single_file_zip_gives_the_same_numbers(index: DatasetIndex, tmp_path: Path) -> None:
    predictions = noisy_predictions(index, Split.VALIDATION, seed=1)
    counts = {n: len(p) for n, p in predictions.items()}
    single = write_single_file(tmp_path / "pred.csv", predictions, counts)
    archive = zip_submission(single, tmp_path / "pred.zip")
    outputs = []
    for path in (single, archive):
        code, _, err = run("score", str(path), "--root", str(index.layout.root), "--json", "-")
        assert code == 0, err
    for path in (single, archive):
        result = CliRunner().invoke(cli, ["-q", "score", str(path), "--root", str(index.layout.root), "--json", "-"])
        outputs.append(json.loads(result.stdout))
    assert (
        outputs[0]["ccc_mean"]
        == outputs[1]["ccc_mean"]
        == pytest.approx(expected_scores(index, predictions)["ccc_mean"])
    )


def test_perfect_predictions_score_one(index: DatasetIndex, tmp_path: Path) -> None:
    predictions = {
        name: VideoPrediction.consecutive(np.where(labels == -5, 0.0, labels))
        for name, labels in index.split_labels(Split.TRAIN).items()
    }
    folder = write_per_video(tmp_path / "p", predictions, {n: len(p) for n, p in predictions.items()})
    result = CliRunner().invoke(
        cli, ["-q", "score", str(folder), "--root", str(index.layout.root), "--split", "train", "--json", "-"]
    )
    payload = json.loads(result.stdout)
    assert payload["ccc_valence"] == pytest.approx(1.0)
    assert payload["ccc_arousal"] == pytest.approx(1.0)


def test_score_errors_name_the_file(index: DatasetIndex, tmp_path: Path) -> None:
    predictions = noisy_predictions(index, Split.VALIDATION)
    folder = write_per_video(tmp_path / "pred", predictions, {n: len(p) for n, p in predictions.items()})
    victim = sorted(folder.glob("*.txt"))[0]
    lines = victim.read_text().splitlines()
    victim.write_text("\n".join([*lines[:3], "0.1,zero", *lines[4:]]) + "\n")
    code, _, err = run("score", str(folder), "--root", str(index.layout.root))
    assert code == 2 and f"{victim}:4: 'zero' is not a number" in err and "Traceback" not in err
    victim.write_text("\n".join(lines[:-3]) + "\n")
    code, _, err = run("score", str(folder), "--root", str(index.layout.root))
    assert code == 2 and str(victim) in err and "prediction lines, expected" in err
    victim.unlink()
    code, _, err = run("score", str(folder), "--root", str(index.layout.root))
    assert code == 2 and f"no predictions for 1 of the {len(predictions)} labelled videos" in err


def test_submission_check_accepts_a_written_submission(index: DatasetIndex, tmp_path: Path) -> None:
    counts = index.frame_counts(Split.TEST)
    rng = np.random.default_rng(2)
    predictions = {}
    for entry in index.split(Split.TEST):
        frames = entry.face_frames[entry.face_frames <= counts[entry.name]]
        predictions[entry.name] = VideoPrediction(frames, rng.uniform(-1, 1, (len(frames), 2)))
    folder = write_per_video(tmp_path / "sub", predictions, counts)
    archive = zip_submission(folder, tmp_path / "sub.zip")
    for path in (folder, archive):
        code, out, err = run("submission", "check", str(path), "--root", str(index.layout.root))
        assert code == 0, err
        assert f"{len(counts)} videos" in out
    single = write_single_file(tmp_path / "sub.csv", predictions, counts)
    assert run("submission", "check", str(single), "--root", str(index.layout.root))[0] == 0

    files = sorted(folder.glob("*.txt"))
    files[0].unlink()
    text = files[1].read_text().splitlines()
    text[2] = "1.5,0.0"
    files[1].write_text("\n".join(text) + "\n")
    (folder / "stray.txt").write_text("valence,arousal\n0,0\n")
    report = tmp_path / "check.json"
    code, _, err = run("submission", "check", str(folder), "--root", str(index.layout.root), "--json", str(report))
    assert code == 1
    assert files[0].stem in err and f"{files[1]}:3" in err and "stray" in err
    assert json.loads(report.read_text())["ok"] is False


def test_json_to_stdout_is_only_json(index: DatasetIndex, tmp_path: Path) -> None:
    predictions = noisy_predictions(index, Split.VALIDATION, seed=3)
    folder = write_per_video(tmp_path / "pred", predictions, {n: len(p) for n, p in predictions.items()})
    counts = index.frame_counts(Split.TEST)
    test = {name: VideoPrediction.consecutive(np.zeros((count, 2))) for name, count in counts.items()}
    submission = write_per_video(tmp_path / "sub", test, counts)
    for args, table in (
        (["score", str(folder)], "ALN AEG-CD-SZ (published)"),
        (["submission", "check", str(submission)], "valid per-video submission"),
    ):
        result = CliRunner().invoke(cli, ["-q", *args, "--root", str(index.layout.root), "--json", "-"])
        assert result.exit_code == 0, result.stderr
        json.loads(result.stdout)  # the whole of stdout: no table before or after
        assert table in result.stderr


def test_json_report_that_is_a_folder_or_under_a_file_is_one_line(index: DatasetIndex, tmp_path: Path) -> None:
    predictions = noisy_predictions(index, Split.VALIDATION, seed=4)
    folder = write_per_video(tmp_path / "pred", predictions, {n: len(p) for n, p in predictions.items()})
    target = tmp_path / "reports"
    (target / "kept").mkdir(parents=True)
    score = ["score", str(folder), "--root", str(index.layout.root)]
    code, _, err = run(*score, "--json", str(target), "--force")
    assert (code, err.strip()) == (2, f"error: {target}: is a folder: give a file name")
    assert (target / "kept").is_dir()
    taken = tmp_path / "taken.txt"
    taken.write_text("keep me")
    code, _, err = run(*score, "--json", str(taken / "scores.json"))
    assert (code, err.strip()) == (
        2,
        f"error: {taken / 'scores.json'}: cannot be created: {taken} is a file, not a folder",
    )
    assert taken.read_text() == "keep me"


def test_score_warns_about_clipped_predictions(index: DatasetIndex, tmp_path: Path) -> None:
    predictions = noisy_predictions(index, Split.VALIDATION, seed=5)
    folder = write_per_video(tmp_path / "pred", predictions, {n: len(p) for n, p in predictions.items()})
    name = sorted(predictions)[0]
    lines = (folder / f"{name}.txt").read_text().splitlines()
    (folder / f"{name}.txt").write_text("\n".join([lines[0], *["3,-3"] * (len(lines) - 1)]) + "\n")
    code, _, err = run("score", str(folder), "--root", str(index.layout.root))
    assert code == 0, err
    assert "warning: " in err and "outside [-1, 1] (largest 3) were clipped to [-1, 1] before scoring" in err
    assert f"in 1 video(s): {name}" in err


def test_a_json_report_on_a_full_disk_is_one_line(index: DatasetIndex, tmp_path: Path, full_disk: Path) -> None:
    predictions = noisy_predictions(index, Split.VALIDATION, seed=6)
    folder = write_per_video(tmp_path / "pred", predictions, {n: len(p) for n, p in predictions.items()})
    report = full_disk / "scores.json"
    code, _, err = run("score", str(folder), "--root", str(index.layout.root), "--json", str(report))
    assert (code, err.strip()) == (2, f"error: {report}: cannot be written: No space left on device")
    assert sorted(path.name for path in full_disk.iterdir()) == ["filler"]
