"""``abaw plot`` through click's runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from abaw.cli import cli
from abaw.data.layout import Split
from abaw.synthetic import GeneratedDataset
from abaw.training.config import TrainConfig
from abaw.training.trainer import train


def run(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["-q", *map(str, args)], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def run_dir(generated: GeneratedDataset, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cli-plot") / "run"
    config = TrainConfig(
        variant="aeg-cd-tiny",
        epochs=1,
        steps_per_epoch=2,
        batch_size=8,
        workers=0,
        device="cpu",
        dataset={"root": str(generated.root)},
    )
    train(config, folder)
    return folder


@pytest.mark.slow
def test_plot_writes_figures_table_and_json(generated, run_dir, tmp_path):
    out, report = tmp_path / "figures", tmp_path / "plot.json"
    args = ("plot", run_dir, "--root", generated.root, "--out", out, "--device", "cpu", "--json", report)
    code, stdout, stderr = run(*args, "--video", "video59", "--faces", 2, "--latent-channels", 3)
    assert code == 0, stderr
    assert sorted(path.name for path in out.glob("*.png")) == ["affect_video59.png", "reconstruction.png"]
    for path in out.glob("*.png"):
        with Image.open(path) as image:
            assert image.format == "PNG" and image.size[0] > 200
    assert "video59: valence and arousal" in stdout and "reconstruction" in stdout and "aeg-cd-tiny" in stdout
    payload = json.loads(report.read_text())
    assert payload["checkpoint"] == str(run_dir / "best.pt") and payload["split"] == "val"
    assert payload["files"] == [str(out / "affect_video59.png"), str(out / "reconstruction.png")]
    assert len(payload["figures"][1]["faces"]) == 2 and len(payload["figures"][1]["latent_channels"]) == 3

    # Everything is refused before any work without --force, the JSON file first.
    code, _, stderr = run(*args)
    assert code == 2 and stderr.count("\n") == 1 and "plot.json: already exists" in stderr
    code, _, stderr = run(*args[:-2])
    assert code == 2 and stderr.count("\n") == 1 and "--force" in stderr and "Traceback" not in stderr
    code, _, stderr = run(*args, "--video", "video59", "--force")
    assert code == 0, stderr


@pytest.mark.slow
def test_plot_reads_the_files_of_abaw_predict(generated, run_dir, tmp_path):
    predictions = tmp_path / "predictions"
    common = ("--root", generated.root, "--device", "cpu")
    code, _, stderr = run(
        "predict",
        "--checkpoint",
        run_dir / "last.pt",
        *common,
        "--split",
        "train",
        "--out",
        predictions,
        "--workers",
        0,
    )
    assert code == 0, stderr
    out = tmp_path / "figures"
    code, _, stderr = run(
        "plot",
        run_dir / "last.pt",
        *common,
        "--split",
        "train",
        "--predictions",
        predictions,
        "--out",
        out,
        "--max-videos",
        2,
    )
    assert code == 0, stderr
    assert len(list(out.glob("affect_*.png"))) == 2 and (out / "reconstruction.png").is_file()
    assert "first 2 of" in stderr


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--video", "nope"), "no video named 'nope'"),
        (("--video", "102"), "pass --split train"),
        (("--predictions", "missing"), "missing: does not exist"),
    ],
)
def test_bad_input_is_one_line(generated, run_dir, tmp_path, extra, message):
    code, _, stderr = run("plot", run_dir, "--root", generated.root, "--out", tmp_path / "o", *extra)
    assert code == 2 and message in stderr and stderr.count("\n") == 1, stderr
    assert not (tmp_path / "o").exists()


def test_missing_checkpoint_is_one_line(generated, tmp_path):
    code, _, stderr = run("plot", tmp_path / "none.pt", "--root", generated.root, "--out", tmp_path / "o")
    assert code == 2 and stderr == f"error: {tmp_path / 'none.pt'}: checkpoint not found\n"


def test_split_option_chooses_the_split_the_named_videos_are_looked_up_in(generated, run_dir, tmp_path):
    args = ("plot", run_dir, "--root", generated.root, "--out", tmp_path / "o", "--video", "video59")
    code, _, stderr = run(*args, "--split", Split.TRAIN.value)
    assert code == 2
    assert stderr == f"error: {generated.root}: video 'video59' is in the val split, not train; pass --split val\n"
    assert not (tmp_path / "o").exists()
