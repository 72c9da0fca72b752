"""``abaw demo`` end to end with the quick recipe: every step, its outputs, reruns, resuming, bad input."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from PIL import Image
from rich.console import Console

from abaw.cli import cli
from abaw.cli.render_demo import demo_table
from abaw.data.index import open_dataset
from abaw.data.layout import Split
from abaw.errors import AbawError, DataError, OutputExistsError
from abaw.formats.check import check_submission
from abaw.outputs import staging_dir
from abaw.recipes.data import prepare_dataset
from abaw.recipes.demo import DemoResult, run_demo
from abaw.recipes.settings import DemoRecipe, base_train_config, check_speed
from abaw.recipes.state import RecipeRuntime
from abaw.synthetic import GeneratorConfig
from abaw.training.config import TrainConfig
from abaw.training.progressive import Stage
from tests.reporters import StopAfter

VARIANTS = ["disc-tiny", "aeg-cd-tiny", "aeg-cd-sz-tiny"]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["-q", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    """One quick demo, shared by the tests that only read its outputs."""
    folder = tmp_path_factory.mktemp("demo")
    return run_demo(DemoRecipe.quick(), folder / "data", folder / "out")


@pytest.mark.slow
def test_writes_every_output_in_place(finished: DemoResult) -> None:
    out = finished.out_dir
    assert not staging_dir(out).exists()
    assert [result.stage.variant for result in finished.stages] == VARIANTS
    index = open_dataset(finished.data_dir)
    validation = sorted(entry.name for entry in index.split(Split.VALIDATION))
    for result in finished.stages:
        # Paths in the result are relative to the demo's folder.
        assert result.run_dir == Path("runs") / result.stage.variant
        run_dir = finished.path(result.run_dir)
        assert (run_dir / "best.pt").is_file() and (run_dir / "config.yaml").is_file()
        assert sorted(path.stem for path in finished.path(result.predictions).glob("*.txt")) == validation
        assert result.scores.frames > 0
    # Each stage starts from the previous stage's best checkpoint, where it is once the demo is complete.
    second = yaml.safe_load(finished.path(finished.stages[1].run_dir / "config.yaml").read_text(encoding="utf-8"))
    assert second["init"] == str(out / "runs" / "disc-tiny" / "best.pt")
    assert finished.submission == Path("submission.zip")
    assert finished.submission_ok
    assert check_submission(out / "submission.zip", index.frame_counts(Split.TEST)).ok
    assert finished.plots and all(path.parent == Path("plots") for path in finished.plots)
    for path in finished.plots:
        with Image.open(out / path) as image:
            assert image.format == "PNG" and min(image.size) > 100
    assert set(finished.seconds) >= {"data", "audio", "predict", "plots", "total"}


@pytest.mark.slow
def test_results_json_matches_what_abaw_score_reads(finished: DemoResult) -> None:
    stored = json.loads((finished.out_dir / "results.json").read_text(encoding="utf-8"))
    assert [stage["variant"] for stage in stored["stages"]] == VARIANTS
    assert stored["submission_ok"] is True
    for stage in stored["stages"]:
        predictions = str(finished.out_dir / stage["predictions"])
        code, stdout, _ = run("score", predictions, "--root", str(finished.data_dir), "--json", "-")
        assert code == 0
        scored = json.loads(stdout)  # stdout holds the JSON alone
        assert scored["ccc_mean"] == pytest.approx(stage["val"]["ccc_mean"], abs=1e-5)
        assert scored["mse_valence"] == pytest.approx(stage["val"]["mse_valence"], abs=1e-5)


@pytest.mark.slow
def test_stage_scores_equal_the_trainers_best_epoch(finished: DemoResult) -> None:
    for result in finished.stages:
        metrics = finished.path(result.run_dir / "metrics.jsonl")
        rows = [json.loads(line) for line in metrics.read_text().splitlines()]
        best = next(row for row in rows if row["epoch"] == result.best_epoch)
        assert best["val/ccc_mean"] == pytest.approx(result.scores.ccc_mean, abs=1e-6)


@pytest.mark.slow
def test_table_has_each_stage_beside_its_published_row(finished: DemoResult) -> None:
    console = Console(width=200, record=True)
    console.print(demo_table(finished))
    lines = [line for line in console.export_text().splitlines() if "(this run)" in line or "(published)" in line]
    labels = [line.split("│")[1].strip() for line in lines]
    assert labels[:6] == [
        "Disc-tiny (this run)",
        "ALN Disc (published)",
        "AEG-CD-tiny (this run)",
        "ALN AEG-CD (published)",
        "AEG-CD-SZ-tiny (this run)",
        "ALN AEG-CD-SZ (published)",
    ]
    assert "ABAW 2020 baseline (published)" in labels
    # Each of this run's rows shows its scores: its mean CCC, as the result holds it.
    for result, line in zip(finished.stages, lines[0:6:2], strict=True):
        assert f"{result.scores.ccc_mean:.4f}" in line
    assert "training" in finished.time_summary()


@pytest.mark.slow
def test_rerun_is_refused_before_any_work_then_replaced_with_force(finished: DemoResult, tmp_path: Path) -> None:
    data = Path(shutil.copytree(finished.data_dir, tmp_path / "data", symlinks=True))
    out = Path(shutil.copytree(finished.out_dir, tmp_path / "out"))
    before = (out / "results.json").read_bytes()
    with pytest.raises(OutputExistsError, match="--force"):
        run_demo(DemoRecipe.quick(), data, out)
    assert (out / "results.json").read_bytes() == before
    assert not staging_dir(out).exists()

    again = run_demo(DemoRecipe.quick(), data, out, force=True)
    assert again.data_reused
    assert not staging_dir(out).exists()
    assert json.loads((out / "results.json").read_text())["data_reused"] is True


@pytest.mark.slow
def test_interrupted_demo_resumes_where_it_stopped(tmp_path: Path) -> None:
    recipe = DemoRecipe.quick().with_epochs([1, 2, 1])
    data, out = tmp_path / "data", tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run_demo(recipe, data, out, runtime=RecipeRuntime(reporter=StopAfter(2)))
    partial = staging_dir(out)
    assert not out.exists() and (partial / "runs" / "aeg-cd-tiny" / "last.pt").is_file()
    with pytest.raises(OutputExistsError, match="--resume"):
        run_demo(recipe, data, out)
    with pytest.raises(DataError, match="other settings"):
        run_demo(recipe.with_epochs([1, 3, 1]), data, out, resume=True)

    result = run_demo(recipe, data, out, resume=True)
    disc_rows = (out / "runs" / "disc-tiny" / "metrics.jsonl").read_text().splitlines()
    assert result.stages[0].train_seconds == pytest.approx(sum(json.loads(row)["seconds"] for row in disc_rows))
    rows = (out / "runs" / "aeg-cd-tiny" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(row)["epoch"] for row in rows] == [1, 2]
    assert result.submission_ok and not partial.exists()

    with pytest.raises(AbawError, match="nothing to resume"):
        run_demo(recipe, data, out, resume=True)


def test_a_dataset_generated_with_other_settings_names_the_setting_and_both_values(tmp_path: Path) -> None:
    config = GeneratorConfig(videos=6, frames=20, seed=1)
    data = tmp_path / "data"
    data.mkdir()
    manifest = {"generator": "abaw.data.generate", "config": config.to_dict()}
    (data / "generated.json").write_text(json.dumps(manifest))
    with pytest.raises(OutputExistsError) as raised:
        prepare_dataset(data, replace(config, seed=2), False)
    assert (
        str(raised.value)
        == f"{data}: was generated with other settings (seed was 1, now 2); pass --force to regenerate it"
    )


@pytest.mark.slow
def test_dataset_is_reused_only_when_generated_with_the_same_settings(finished: DemoResult, tmp_path: Path) -> None:
    config = DemoRecipe.quick().data
    messages: list[str] = []
    root, reused = prepare_dataset(finished.data_dir, config, False, lambda items, *a, **k: items, messages.append)
    assert reused and root == finished.data_dir and "reusing" in messages[0]

    other = replace(config, seed=7)
    with pytest.raises(OutputExistsError, match="other settings"):
        prepare_dataset(finished.data_dir, other, False, lambda items, *a, **k: items, messages.append)

    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(DataError, match="not a dataset made by abaw"):
        prepare_dataset(foreign, config, True, lambda items, *a, **k: items, messages.append)
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_recipe_epochs_and_names() -> None:
    assert [stage.epochs for stage in DemoRecipe().stages] == [3, 1, 1]
    assert [stage.paper_name for stage in DemoRecipe().stages] == ["Disc", "AEG-CD", "AEG-CD-SZ"]
    assert Stage("timm-regressor", 1).paper_name == "timm-regressor"
    with pytest.raises(DataError, match="3 epoch counts"):
        DemoRecipe().with_epochs([1, 1])
    with pytest.raises(DataError):
        DemoRecipe().with_epochs([1, 0, 1])
    assert DemoRecipe.quick().data == GeneratorConfig(videos=6, frames=24)
    assert DemoRecipe().to_dict()["stages"][2]["variant"] == "aeg-cd-sz"


def test_recipe_is_sized_in_iterations_whatever_the_data() -> None:
    recipe = DemoRecipe()
    bigger = replace(recipe, data=replace(recipe.data, videos=recipe.data.videos * 4))
    assert bigger.planned_iterations() == recipe.planned_iterations()
    assert recipe.planned_iterations() == [stage.epochs * recipe.steps_per_epoch for stage in recipe.stages]
    assert recipe.estimated_seconds(2 * 39.0) == pytest.approx(recipe.estimated_seconds(39.0) / 2)
    assert replace(recipe, steps_per_epoch=None).estimated_seconds(39.0) is None
    # A slow 2-core EPYC (its Disc at 39 frames/s, 57 with the matrix-product last layer): under 10 minutes,
    # with a fifth left for a later stage; under 10 minutes even without the speed-up.
    assert recipe.estimated_seconds(57.0) < 0.8 * 600
    assert recipe.estimated_seconds(39.0) < 600


def test_recipe_passes_its_training_settings_to_every_stage(tmp_path: Path) -> None:
    knobs = {"warmup_steps": 7, "d_affect": "real+fake", "drift": 0.001, "lr_d": 2e-4, "lr_g": 5e-5}
    recipe = DemoRecipe(train_settings=knobs)
    config = base_train_config(recipe, tmp_path, "cpu", 0)
    assert config.warmup_steps == 7 and config.d_affect.value == "real+fake"
    assert (config.drift, config.lr_d, config.lr_g) == (0.001, 2e-4, 5e-5)
    assert config.steps_per_epoch == recipe.steps_per_epoch and config.batch_size == recipe.batch_size
    assert recipe.to_dict()["train_settings"] == knobs
    assert base_train_config(DemoRecipe(), tmp_path, "cpu", 0).warmup_steps == TrainConfig().warmup_steps


def test_speed_check_times_the_first_stage() -> None:
    speed = check_speed(DemoRecipe.quick(), "cpu")
    assert speed.variant == "disc-tiny" and speed.frames_per_second > 0 and speed.cpu
    assert speed.estimated_seconds == pytest.approx(DemoRecipe.quick().estimated_seconds(speed.frames_per_second))
    assert speed.summary().startswith(f"training speed: {speed.frames_per_second:.0f} frames/s (disc-tiny, cpu")


@pytest.mark.slow
def test_cli_quick_demo(tmp_path: Path) -> None:
    data, out, report = tmp_path / "data", tmp_path / "out", tmp_path / "demo.json"
    code, stdout, stderr = run("demo", "--quick", "--data", str(data), "--out", str(out), "--json", str(report))
    assert code == 0, stderr
    assert "Table II" in stdout and "ALN AEG-CD-SZ (published)" in stdout
    assert "submission.zip" in stdout and "check passed" in stdout
    payload = json.loads(report.read_text())
    assert payload["stages"][0]["name"] == "Disc-tiny"
    assert payload["speed"]["frames_per_second"] > 0 and payload["speed"]["variant"] == "disc-tiny"
    assert "training speed" in stdout
    assert json.loads((out / "results.json").read_text())["speed"] == payload["speed"]

    code, _, stderr = run("demo", "--quick", "--data", str(data), "--out", str(out))
    assert code == 2 and stderr.count("\n") == 1 and "--force" in stderr and "Traceback" not in stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--epochs", "1,x,1"], "comma-separated integers"),
        (["--epochs", "1,1"], "3 epoch counts"),
        (["--resume"], "nothing to resume"),
    ],
)
def test_cli_bad_options_fail_in_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    code, _, stderr = run("demo", "--quick", "--data", str(tmp_path / "d"), "--out", str(tmp_path / "o"), *args)
    assert code == 2 and message in stderr and "Traceback" not in stderr
    assert not (tmp_path / "d").exists()


def test_cli_ctrl_c_says_how_to_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("abaw.recipes.demo.run_demo", interrupted)
    code, _, stderr = run("demo", "--quick", "--data", str(tmp_path / "d"), "--out", str(tmp_path / "o"))
    assert code == 130 and "abaw demo --resume" in stderr and "Traceback" not in stderr
