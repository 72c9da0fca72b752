"""Ensembles (``abaw/prediction/ensemble.py``): ``abaw predict`` and ``predict-test`` with several checkpoints."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from abaw.cli import cli
from abaw.data.index import open_dataset
from abaw.data.layout import Split
from abaw.errors import ConfigError
from abaw.prediction.ensemble import average_predictions, load_ensemble
from abaw.prediction.members import predict_entries
from abaw.synthetic import GeneratedDataset
from tests.helpers import untrained_checkpoint


def run(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["-q", *map(str, args)], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("ensemble")
    return untrained_checkpoint(folder / "a.pt", 0), untrained_checkpoint(folder / "b.pt", 1)


def read_folder(folder: Path) -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted(folder.glob("*.txt"))}


def predict(generated: GeneratedDataset, out: Path, *args: object) -> tuple[int, str, str]:
    return run("predict", "--root", generated.root, "--out", out, "--workers", 0, *args)


def test_an_ensemble_of_two_identical_checkpoints_equals_one(generated, checkpoints, tmp_path):
    first, _ = checkpoints
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copy(first, run_dir / "best.pt")  # a run folder stands for its best.pt
    code, _, err = predict(generated, tmp_path / "one", "--checkpoint", first, "--json", tmp_path / "one.json")
    assert code == 0, err
    code, _, err = predict(
        generated, tmp_path / "two", "--checkpoint", first, "--checkpoint", run_dir, "--json", tmp_path / "two.json"
    )
    assert code == 0, err
    assert read_folder(tmp_path / "two") == read_folder(tmp_path / "one") != {}
    one, two = (json.loads((tmp_path / f"{name}.json").read_text()) for name in ("one", "two"))
    assert two["ccc_mean"] == one["ccc_mean"]
    assert two["checkpoints"] == [str(first), str(run_dir / "best.pt")] and two["weights"] == [1.0, 1.0]


@pytest.mark.slow  # three passes over the split: 3-5 s on 2 busy cores
def test_weights_average_the_members(generated, checkpoints):
    index = open_dataset(generated.root)
    ensemble = load_ensemble(checkpoints, "cpu", weights=[3.0, 1.0])
    assert ensemble.label == "ensemble of 2 (disc-tiny, disc-tiny)"
    averaged = ensemble.predict(index, Split.VALIDATION, workers=0)
    alone = [predict_entries(member, index, Split.VALIDATION, workers=0) for member in ensemble.members]
    for name, video in averaged.items():
        assert not np.array_equal(alone[0][name].values, alone[1][name].values)
        np.testing.assert_allclose(video.values, 0.75 * alone[0][name].values + 0.25 * alone[1][name].values)
    only_first = average_predictions(alone, [1.0, 0.0])
    for name, video in only_first.items():
        np.testing.assert_array_equal(video.values, alone[0][name].values)


@pytest.mark.parametrize(
    ("weights", "message"),
    [("1", "1 weight(s) for 2 checkpoint(s)"), ("1,2,3", "3 weight(s) for 2 checkpoint(s)"), ("1,-1", "non-negative")],
)
def test_weights_that_do_not_fit_the_checkpoints_are_one_line_and_write_nothing(
    generated, checkpoints, tmp_path, weights, message
):
    first, second = checkpoints
    for command in ("predict", "predict-test"):
        out = tmp_path / command
        args = ["--checkpoint", first, "--checkpoint", second, "--weights", weights]
        code, _, err = run(command, "--root", generated.root, "--out", out, *args)
        assert code == 2, err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert "--weights" in err and message in err
        assert not out.exists()


def test_weights_that_are_not_numbers_are_refused(generated, checkpoints, tmp_path):
    code, _, err = predict(generated, tmp_path / "out", "--checkpoint", checkpoints[0], "--weights", "1,x")
    assert code == 2 and "--weights" in err and not (tmp_path / "out").exists()
    with pytest.raises(ConfigError, match="at least one checkpoint"):
        load_ensemble([], "cpu", [])


def test_predict_test_writes_a_checked_submission_of_an_ensemble(generated, checkpoints, tmp_path):
    out, report = tmp_path / "submission", tmp_path / "test.json"
    args = ["--checkpoint", checkpoints[0], "--checkpoint", checkpoints[1], "--workers", 0, "--json", report]
    code, stdout, err = run("predict-test", "--root", generated.root, "--out", out, *args)
    assert code == 0, err
    assert "ensemble of 2" in stdout
    assert json.loads(report.read_text())["check"]["ok"]
    assert (out / "submission.zip").is_file()
