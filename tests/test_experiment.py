"""``abaw experiment progressive``: seeds, arms, mean ± std, degraded-frame scores, PSNR, output policy."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from abaw.cli import cli
from abaw.data.index import open_dataset
from abaw.data.layout import Split
from abaw.errors import DataError
from abaw.formats.types import VideoPrediction
from abaw.recipes.measures import Spread, degraded_rows
from abaw.recipes.progressive import RESULTS_NAME, SEED_RESULT_NAME, ExperimentSettings
from abaw.runtime.checkpoint import load_checkpoint
from abaw.runtime.evaluation import score_split
from abaw.scoring.metrics import score_frames
from abaw.scoring.psnr import PSNR_CAP, psnr
from abaw.synthetic.degradations import Degradation, DegradationRecord, write_degradations

ARMS = [
    "Disc-tiny",
    "Disc-tiny + noise",
    "AEG-CD-tiny (paper)",
    "AEG-CD-SZ-tiny (paper)",
    "AEG-CD-tiny (residual)",
    "AEG-CD-SZ-tiny (residual)",
]
KEYS = ["disc", "disc-noise", "aeg-cd-paper", "aeg-cd-sz-paper", "aeg-cd-residual", "aeg-cd-sz-residual"]
SEEDS = [0, 1]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["-q", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def quick_args(folder: Path, *more: str) -> list[str]:
    return ["experiment", "progressive", "--quick", "--data", str(folder / "data"), "--psnr-faces", "6", *more]


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, str]:
    """One quick experiment over two seeds: its folder, its JSON and its printed tables."""
    folder = tmp_path_factory.mktemp("experiment")
    report = folder / "experiment.json"
    args = quick_args(folder, "--seeds", "0,1", "--out", str(folder / "out"), "--json", str(report))
    code, stdout, stderr = run(*args)
    assert code == 0, stderr
    return folder, json.loads(report.read_text()), stdout


# --------------------------------------------------------------------------- PSNR


def test_psnr_of_identical_faces_is_the_cap() -> None:
    faces = np.random.default_rng(0).uniform(-1, 1, (3, 3, 8, 8))
    assert psnr(faces, faces).tolist() == [PSNR_CAP] * 3


def test_psnr_of_a_known_error_matches_a_hand_computation() -> None:
    clean = np.zeros((2, 3, 8, 8))
    # An error of 0.02 on the [-1, 1] scale: MSE 4e-4, peak-to-peak 2, so 10 log10(4 / 4e-4) = 40 dB.
    assert psnr(clean + 0.02, clean)[0] == pytest.approx(40.0)
    # The same in [0, 255] pixels: 5 grey levels off everywhere is 20 log10(255 / 5) dB.
    pixels = np.full((1, 3, 8, 8), 100.0)
    as_unit = lambda p: p / 127.5 - 1.0  # noqa: E731
    assert psnr(as_unit(pixels + 5), as_unit(pixels))[0] == pytest.approx(20 * math.log10(255 / 5))
    # Gaussian noise of std 0.1 on [-1, 1]: about 10 log10(4 / 0.01) = 26.02 dB.
    noise = np.random.default_rng(1).normal(0.0, 0.1, (4, 3, 64, 64))
    assert psnr(noise, np.zeros_like(noise)).mean() == pytest.approx(26.02, abs=0.05)
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(clean, clean[:1])


# --------------------------------------------------------------------------- degraded frames


def test_degraded_scores_use_only_the_recorded_rows(dataset_copy: Path) -> None:
    index = open_dataset(dataset_copy, use_cache=False)
    names = [entry.name for entry in index.split(Split.VALIDATION)]
    rng = np.random.default_rng(0)
    labels = {name: index.labels(name) for name in names}
    masks = {}
    for name in names:
        # A hand-made record: every third label row degraded.
        rows = [(Degradation.JPEG,) if row % 3 == 0 else () for row in range(len(labels[name]))]
        write_degradations(dataset_copy, name, DegradationRecord.from_rows(rows))
        masks[name] = np.arange(len(labels[name])) % 3 == 0
    read = degraded_rows(dataset_copy, names)
    assert read is not None and all(np.array_equal(read[name], masks[name]) for name in names)

    values = {name: rng.uniform(-1, 1, (len(labels[name]), 2)) for name in names}
    predictions = {name: VideoPrediction.consecutive(values[name], name) for name in names}
    degraded = score_split(predictions, index, Split.VALIDATION, rows=read).scores
    expected = score_frames(
        np.concatenate([values[name][masks[name]] for name in names]),
        np.concatenate([labels[name][masks[name]] for name in names]),
    )
    assert degraded == expected
    assert degraded.frames < score_split(predictions, index, Split.VALIDATION).scores.frames

    # Predictions on the clean rows do not count.
    for name in names:
        values[name][~masks[name]] = 0.99
    changed = {name: VideoPrediction.consecutive(values[name], name) for name in names}
    assert score_split(changed, index, Split.VALIDATION, rows=read).scores == degraded


def test_a_dataset_without_a_record_has_no_degraded_rows(tmp_path: Path) -> None:
    assert degraded_rows(tmp_path, ["video1"]) is None


# --------------------------------------------------------------------------- settings


def test_settings_refuse_repeated_seeds_and_unknown_knobs() -> None:
    with pytest.raises(DataError, match="given twice"):
        ExperimentSettings(seeds=(0, 0))
    with pytest.raises(DataError, match=r"generator\(s\) paper given twice"):
        ExperimentSettings.create(generators=["paper", "paper"])
    with pytest.raises(DataError, match="'gan' is not a valid GeneratorKind"):
        ExperimentSettings.create(generators=["gan"])
    with pytest.raises(DataError, match="'easy' is not a valid DataPreset"):
        ExperimentSettings.create(datasets=["easy"])
    with pytest.raises(DataError, match="unknown experiment setting"):
        ExperimentSettings(knobs={"lambda_gp": 1.0})
    settings = ExperimentSettings.create(seeds=[2], data_seed=5, epochs=[1, 2, 3], warmup_steps=7, d_affect=None)
    assert settings.recipe.data.seed == 5 and [s.epochs for s in settings.recipe.stages] == [1, 2, 3]
    base = settings.base_config(Path("/data"), "cpu", 0)
    assert base.warmup_steps == 7 and base.d_affect.value == "real+fake"


def test_spread_is_mean_and_sample_std() -> None:
    spread = Spread.of([1.0, 2.0, 4.0])
    assert spread.mean == pytest.approx(7 / 3) and spread.std == pytest.approx(np.std([1, 2, 4], ddof=1))


# --------------------------------------------------------------------------- the command


def test_an_experiment_on_a_given_dataset_records_no_generator_settings() -> None:
    settings = ExperimentSettings.create(quick=True)
    assert settings.to_dict()["recipe"]["data"] == settings.recipe.data.to_dict()
    given = settings.to_dict(generated=False)
    assert given["recipe"]["data"] is None and given["datasets"] is None


def test_arms_start_from_the_disc_and_the_control_gets_the_adversarial_iterations() -> None:
    settings = ExperimentSettings.create(generators=["residual"], epochs=[3, 2, 1])
    arms = {arm.key: arm for arm in settings.arms}
    assert list(arms) == ["disc", "disc-noise", "aeg-cd-residual", "aeg-cd-sz-residual"]
    assert arms["disc-noise"].stage.epochs == 3 and arms["disc-noise"].stage.variant == "disc"
    assert arms["disc-noise"].stage.lr == arms["aeg-cd-residual"].stage.lr
    assert dict(arms["disc-noise"].settings) == {"noise_augment": True}
    assert (arms["aeg-cd-residual"].start, arms["aeg-cd-sz-residual"].start) == ("disc", "aeg-cd-residual")
    assert dict(arms["aeg-cd-sz-residual"].settings) == {"generator": "residual"}


@pytest.mark.slow
def test_table_and_json_have_every_arm_and_seed(finished: tuple[Path, dict, str]) -> None:
    folder, report, stdout = finished
    (dataset,) = report["datasets"]
    assert dataset["name"] == "demo"
    assert [arm["name"] for arm in dataset["summary"]] == ARMS
    assert [seed["seed"] for seed in dataset["seeds"]] == SEEDS
    for seed in dataset["seeds"]:
        assert [arm["name"] for arm in seed["stages"]] == ARMS
        for arm, key in zip(seed["stages"], KEYS, strict=True):
            # Paths in the results are relative to the experiment's folder.
            assert arm["run_dir"] == f"demo/seed-{seed['seed']}/runs/{key}"
            assert (folder / "out" / arm["run_dir"] / "best.pt").is_file()
        assert (folder / "out" / "demo" / f"seed-{seed['seed']}" / SEED_RESULT_NAME).is_file()
    assert json.loads((folder / "out" / RESULTS_NAME).read_text())["datasets"] == report["datasets"]
    for name in [*ARMS, "ALN AEG-CD-SZ", "PSNR out", "degr. mean", "vs best"]:
        assert name in stdout
    assert stdout.count("AEG-CD-SZ-tiny (residual)") >= 1 + len(SEEDS)


@pytest.mark.slow
def test_each_arm_trains_from_its_start_with_its_settings(finished: tuple[Path, dict, str]) -> None:
    folder, _, _ = finished
    runs = folder / "out" / "demo" / "seed-1" / "runs"
    config = {key: load_checkpoint(runs / key / "last.pt")["config"] for key in KEYS}
    assert config["disc"]["init"] is None
    # Each records where its start's checkpoint is once the experiment is complete, never the staging folder.
    for key, start in (("disc-noise", "disc"), ("aeg-cd-residual", "disc"), ("aeg-cd-sz-residual", "aeg-cd-residual")):
        assert config[key]["init"] == str(runs / start / "best.pt"), key
    assert config["disc-noise"]["noise_augment"] and config["disc-noise"]["epochs"] == 2
    assert config["aeg-cd-sz-residual"]["generator"] == "residual" and config["aeg-cd-sz-paper"]["generator"] == "paper"
    model = load_checkpoint(runs / "aeg-cd-sz-residual" / "last.pt")["model_config"]
    assert model["generator"] == "residual" and model["latent_gate"] is True
    assert load_checkpoint(runs / "aeg-cd-sz-paper" / "last.pt")["model_config"]["latent_gate"] is False


@pytest.mark.slow
def test_mean_and_std_agree_with_the_seeds(finished: tuple[Path, dict, str]) -> None:
    _, report, _ = finished
    (dataset,) = report["datasets"]
    for number, arm in enumerate(dataset["summary"]):
        per_seed = [seed["stages"][number] for seed in dataset["seeds"]]
        for key in ("valence", "arousal", "mean"):
            values = [item["val"][f"ccc_{key}"] for item in per_seed]
            assert arm["ccc"][key]["values"] == values
            assert arm["ccc"][key]["mean"] == pytest.approx(np.mean(values))
            assert arm["ccc"][key]["std"] == pytest.approx(np.std(values, ddof=1))
            degraded = [item["val_degraded"][f"ccc_{key}"] for item in per_seed]
            assert arm["ccc_degraded"][key]["mean"] == pytest.approx(np.mean(degraded))
        assert all(item["val_degraded"]["frames"] < item["val"]["frames"] for item in per_seed)


@pytest.mark.slow
def test_psnr_is_measured_for_the_generator_arms_only(finished: tuple[Path, dict, str]) -> None:
    _, report, _ = finished
    (dataset,) = report["datasets"]
    disc, control, *adversarial = dataset["summary"]
    assert disc["psnr_output"] is None and control["psnr_output"] is None and disc["psnr_noisy"] is None
    for arm in adversarial:
        noisy = arm["psnr_noisy"]["values"]
        # Every model gets the same noisy faces, so their PSNR does not depend on the seed.
        assert noisy[0] == noisy[1] and 5.0 < noisy[0] < 60.0
        assert arm["psnr_output"]["mean"] == pytest.approx(np.mean(arm["psnr_output"]["values"]))
    faces = {item["psnr"]["faces"] for seed in dataset["seeds"] for item in seed["stages"] if item["psnr"]}
    assert faces == {6}


@pytest.mark.slow
def test_rerun_is_refused_without_force_and_resume_reuses_measured_seeds(
    finished: tuple[Path, dict, str], tmp_path: Path
) -> None:
    folder, report, _ = finished
    code, _, stderr = run(*quick_args(folder, "--seeds", "0,1", "--out", str(folder / "out")))
    assert code == 2 and "--force" in stderr and stderr.count("\n") == 1

    # An interrupted experiment: both seeds measured, the final JSON not yet written.
    out = tmp_path / "out"
    shutil.copytree(folder / "out", tmp_path / "out.partial")
    (tmp_path / "out.partial" / RESULTS_NAME).unlink()
    for seed in (tmp_path / "out.partial").glob("demo/seed-*"):
        shutil.rmtree(seed / "runs")  # were they retrained, the runs would come back
    code, _, stderr = run(*quick_args(folder, "--seeds", "0,0", "--out", str(out), "--resume"))
    assert code == 2 and "given twice" in stderr
    code, _, stderr = run(*quick_args(folder, "--seeds", "0,1", "--out", str(out), "--resume", "--drift", "0.1"))
    assert code == 2 and "other settings" in stderr
    code, _, stderr = run(*quick_args(folder, "--seeds", "0,1", "--out", str(out), "--resume"))
    assert code == 0, stderr
    resumed = json.loads((out / RESULTS_NAME).read_text())
    assert resumed["datasets"][0]["summary"] == report["datasets"][0]["summary"]
    assert not (out / "demo" / "seed-0" / "runs").exists() and not (tmp_path / "out.partial").exists()


@pytest.mark.slow
def test_force_replaces_an_experiment(finished: tuple[Path, dict, str], tmp_path: Path) -> None:
    folder, _, _ = finished
    out = Path(shutil.copytree(folder / "out", tmp_path / "out"))
    code, _, stderr = run(*quick_args(folder, "--seeds", "4", "--epochs", "1,1,1", "--out", str(out), "--force"))
    assert code == 0, stderr
    (replaced,) = json.loads((out / RESULTS_NAME).read_text())["datasets"]
    assert [seed["seed"] for seed in replaced["seeds"]] == [4]
    assert replaced["summary"][0]["ccc"]["mean"]["std"] is None  # one seed: no spread
    assert not (out / "demo" / "seed-0").exists() and (out / "demo" / "seed-4" / SEED_RESULT_NAME).is_file()


def test_refuses_outputs_in_the_dataset_and_folders_abaw_did_not_write(generated, tmp_path: Path) -> None:
    code, _, stderr = run(
        "experiment", "progressive", "--quick", "--root", str(generated.root), "--out", str(generated.root / "x")
    )
    assert code == 2 and "abaw never writes into a dataset" in stderr and "Traceback" not in stderr
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    code, _, stderr = run(*quick_args(tmp_path, "--out", str(foreign), "--force"))
    assert code == 2 and "not written by abaw" in stderr and (foreign / "notes.txt").is_file()
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seeds", "0,x"], "comma-separated integers"),
        (["--epochs", "1,1"], "3 epoch counts"),
        (["--resume"], "nothing to resume"),
        (["--seeds", "1,1"], "given twice"),
    ],
)
def test_bad_options_fail_in_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    code, _, stderr = run(*quick_args(tmp_path, "--out", str(tmp_path / "o"), *args))
    assert code == 2 and message in stderr and "Traceback" not in stderr
    assert not (tmp_path / "o").exists()
