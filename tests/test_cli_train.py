"""``abaw train``, ``abaw predict`` and ``abaw predict-test`` through click's runner."""

from __future__ import annotations

import errno
import json
import os
import zipfile
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from abaw.cli import cli
from abaw.data.layout import Split
from abaw.model import create_model
from abaw.runtime.checkpoint import load_checkpoint
from abaw.synthetic import GeneratedDataset
from abaw.training.config import TrainConfig
from abaw.training.prepare import variant_config
from abaw.training.progressive import Stage, parse_stages, stage_config
from tests.reporters import StopAfter

QUICK = ["--variant", "disc-tiny", "--steps-per-epoch", "2", "--batch-size", "8", "--workers", "0", "--epochs", "1"]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["-q", *map(str, args)], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def trained(generated: GeneratedDataset, tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("cli") / "run"
    code, out, err = run("train", "--root", generated.root, "--out", run_dir, *QUICK)
    assert code == 0, err
    assert "val/ccc_mean" in out
    return run_dir


def test_train_refuses_an_existing_run_then_resumes_it(generated, trained, tmp_path):
    code, _, err = run("train", "--root", generated.root, "--out", trained, *QUICK)
    assert code == 2 and "--resume" in err and "Traceback" not in err
    copy = tmp_path / "run"
    copy.mkdir()
    (copy / "last.pt").write_bytes((trained / "last.pt").read_bytes())
    code, _, err = run("train", "--resume", "--out", copy, "--epochs", "2", "--workers", "0")
    assert code == 0, err
    assert load_checkpoint(copy / "last.pt")["epoch"] == 2


def test_config_file_then_flags(generated, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("variant: disc-tiny\nepochs: 1\nbatch-size: 8\nsteps_per_epoch: 1\nworkers: 0\nseed: 4\n")
    code, _, err = run("train", "--root", generated.root, "--out", tmp_path / "run", "--config", config, "--seed", 5)
    assert code == 0, err
    stored = load_checkpoint(tmp_path / "run" / "last.pt")["config"]
    assert stored["seed"] == 5 and stored["batch_size"] == 8 and stored["variant"] == "disc-tiny"
    assert stored["dataset"]["root"] == str(generated.root)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("epochs: [1\n", "run.yaml:2:"),
        ("epoch: 3\n", "unknown setting(s) epoch"),
        ("epochs: 0\n", "epochs must be at least 1"),
        ("- 1\n", "must be a mapping"),
        # A bad value names its setting.
        ("epochs: ten\n", "run.yaml: epochs: expected a whole number, got 'ten'"),
        ("lr: fast\n", "run.yaml: lr: expected a number, got 'fast'"),
        ("betas: [a, b]\n", "run.yaml: betas: could not convert string to float: 'a'"),
        ("workers: 1.5\n", "run.yaml: workers: expected a whole number, got 1.5"),
    ],
)
def test_bad_config_file_is_one_line(generated, tmp_path, text, message):
    config = tmp_path / "run.yaml"
    config.write_text(text)
    code, _, err = run("train", "--root", generated.root, "--out", tmp_path / "run", "--config", config)
    assert message in one_line_error(code, err)
    assert not (tmp_path / "run").exists()


def test_train_needs_a_root(tmp_path):
    code, _, err = run("train", "--out", tmp_path / "run")
    assert code == 2 and "--root" in err


def test_predict_writes_files_that_score_accepts(generated, trained, tmp_path):
    out = tmp_path / "val"
    report = tmp_path / "predict.json"
    code, _, err = run(
        "predict", "--checkpoint", trained / "best.pt", "--root", generated.root, "--out", out, "--workers", "0",
        "--json", report,
    )  # fmt: skip
    assert code == 0, err
    assert "not scored" not in err  # one line per label line: every labelled frame is scored (issue 10)
    for name in generated.names(Split.VALIDATION):
        lines = (out / f"{name}.txt").read_text().splitlines()
        assert len(lines) - 1 == generated.entries[name].label_rows
    payload = json.loads(report.read_text())
    code, _, err = run("score", out, "--root", generated.root, "--json", tmp_path / "score.json")
    assert code == 0, err
    scored = json.loads((tmp_path / "score.json").read_text())
    assert scored["ccc_mean"] == pytest.approx(payload["ccc_mean"], abs=1e-5)
    code, _, err = run("predict", "--checkpoint", trained / "best.pt", "--root", generated.root, "--out", out)
    assert code == 2 and "--force" in err


@pytest.mark.parametrize("submission_format", ["per-video", "single-file"])
def test_predict_test_writes_a_checked_submission(generated, trained, tmp_path, submission_format):
    out = tmp_path / "submissions" / "tiny"
    args = ["predict-test", "--checkpoint", trained / "last.pt", "--root", generated.root, "--out", out]
    args += ["--format", submission_format, "--workers", "0", "--json", tmp_path / "test.json"]
    code, stdout, err = run(*args)
    assert code == 0, err
    assert "frame-count rule" in stdout and "P + 1 (" in stdout
    result = json.loads((tmp_path / "test.json").read_text())
    assert result["check"]["ok"] and result["videos"] == len(generated.names(Split.TEST))
    # The learned rule: P + 1, one line more than the video's frames, as the organisers count.
    assert result["frame_counts"]["rule"] == "P+1"
    expected = {name: generated.entries[name].frames + 1 for name in generated.names(Split.TEST)}
    assert {name: item["count"] for name, item in result["frame_counts"]["entries"].items()} == expected
    if submission_format == "per-video":
        for name, count in expected.items():
            assert len((out / "predictions" / f"{name}.txt").read_text().splitlines()) == count + 1
    with zipfile.ZipFile(out / "submission.zip") as archive:
        assert archive.namelist()
    code, _, err = run(*args[:-2])
    assert code == 2 and "--force" in err
    code, _, err = run(*args[:-2], "--force")
    assert code == 0, err


def test_broken_checkpoint_is_one_line(generated, tmp_path):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"PK\x03\x04 not really a checkpoint")
    for command in ("predict", "predict-test"):
        code, _, err = run(command, "--checkpoint", broken, "--root", generated.root, "--out", tmp_path / command)
        assert code == 2, err
        assert str(broken) in err and "checkpoint" in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1
        assert not (tmp_path / command).exists()


@pytest.mark.slow
def test_paper_sz_variant_trains_on_cached_audio_features(dataset_copy, tmp_path):
    """Issue 4's end point: the full-size AEG-CD-SZ trains on features made by ``abaw features audio``."""
    args = ["train", "--root", dataset_copy, "--out", tmp_path / "sz", "--variant", "aeg-cd-sz"]
    args += ["--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "4", "--workers", "0"]
    code, _, err = run(*args)
    assert code == 2 and "abaw features audio --root" in err and "Traceback" not in err
    code, _, err = run("features", "audio", "--root", dataset_copy, "--jobs", "1")
    assert code == 0, err
    code, _, err = run(*args, "--force")
    assert code == 0, err
    checkpoint = load_checkpoint(tmp_path / "sz" / "last.pt")
    assert checkpoint["model_config"]["audio_dim"] == 50
    assert checkpoint["audio"]["config"] == {"feature_set": "eGeMAPSv02", "pooling": "first2"}


@pytest.mark.slow
def test_timm_regressor_baseline_config_trains(generated, tmp_path):
    config = Path(__file__).parents[1] / "baselines" / "timm-regressor.yaml"
    args = ["train", "--root", generated.root, "--out", tmp_path / "timm", "--config", config]
    code, _, err = run(*args, "--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "4", "--workers", "0")
    assert code == 0, err
    checkpoint = load_checkpoint(tmp_path / "timm" / "last.pt")
    assert checkpoint["model_config"]["regressor"] and checkpoint["model_config"]["backbone"] == "resnet18"


@pytest.mark.slow
def test_timm_backbone_replaces_the_discriminator_trunk(generated, tmp_path):
    args = ["train", "--root", generated.root, "--out", tmp_path / "bb", "--variant", "aeg-cd-tiny"]
    args += ["--backbone", "test_resnet", "--epochs", "1", "--steps-per-epoch", "2", "--n-critic", "2"]
    code, _, err = run(*args, "--batch-size", "4", "--workers", "0")
    assert code == 0, err
    assert load_checkpoint(tmp_path / "bb" / "last.pt")["model_config"]["backbone"] == "test_resnet"


def test_unusable_model_settings_are_one_line(generated, tmp_path):
    code, _, err = run("train", "--root", generated.root, "--out", tmp_path / "a", *QUICK, "--backbone", "no_such_net")
    assert code == 2 and "unknown timm model 'no_such_net'" in err and "Traceback" not in err
    unrelated = tmp_path / "unrelated.pt"
    torch.save({"other.weight": torch.zeros(3)}, unrelated)
    code, _, err = run("train", "--root", generated.root, "--out", tmp_path / "b", *QUICK, "--init", unrelated)
    assert code == 2 and f"{unrelated}: cannot start disc-tiny from it" in err and "Traceback" not in err
    # A model of another size shares no tensor unchanged, only heads whose input would be "widened".
    smaller = tmp_path / "smaller.pt"
    torch.save(create_model(variant_config("disc-tiny")).state_dict(), smaller)
    args = ["--variant", "disc", *QUICK[2:], "--init", smaller]
    code, _, err = run("train", "--root", generated.root, "--out", tmp_path / "c", *args)
    assert code == 2 and "Traceback" not in err
    assert err.startswith(f"error: {smaller}: cannot start disc from it: no tensor of the 14")
    assert "is it a model of another size?" in err and len(err.strip().splitlines()) == 1


def test_unknown_variant_lists_the_known_ones_and_writes_nothing(generated, tmp_path):
    code, _, err = run("train", "--root", generated.root, "--out", tmp_path / "run", "--variant", "dsic")
    assert code == 2 and "unknown model 'dsic'" in err and "aeg-cd-sz" in err
    assert not (tmp_path / "run").exists()


def test_final_protocol_takes_the_epochs_of_a_val_run(generated, trained, tmp_path):
    best = load_checkpoint(trained / "best.pt")["best"]["epoch"]
    args = ["train", "--root", generated.root, "--out", tmp_path / "final", "--protocol", "final"]
    code, _, err = run(*args, *QUICK[:-2], "--epochs-from", trained)
    assert code == 0, err
    checkpoint = load_checkpoint(tmp_path / "final" / "last.pt")
    assert checkpoint["epoch"] == best and checkpoint["config"]["protocol"] == "final"
    assert not (tmp_path / "final" / "best.pt").exists()


def test_existing_json_report_is_refused_before_training(generated, tmp_path):
    report = tmp_path / "report.json"
    report.write_text("{}")
    code, _, err = run("train", "--root", generated.root, "--out", tmp_path / "run", *QUICK, "--json", report)
    assert code == 2 and "--force" in err
    assert not (tmp_path / "run").exists() and report.read_text() == "{}"


# --------------------------------------------------------------------------
# Every failure below is one line and exit status 2, never a traceback


def one_line_error(code: int, err: str) -> str:
    """The single error line of a failed command."""
    assert code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err.strip()


def test_a_file_given_as_the_output_folder_is_refused_untouched(generated, trained, tmp_path):
    taken = tmp_path / "notes.txt"
    taken.write_text("keep me")
    code, _, err = run("train", "--root", generated.root, "--out", taken, *QUICK)
    assert one_line_error(code, err) == f"error: {taken}: is a file, not a folder: give a folder to write into"
    for command in ("predict", "predict-test"):
        code, _, err = run(command, "--checkpoint", trained / "last.pt", "--root", generated.root, "--out", taken)
        assert one_line_error(code, err) == f"error: {taken}: is a file, not a folder: give a folder to write into"
    assert taken.read_text() == "keep me"


def test_a_json_report_under_a_file_is_refused_before_training(generated, tmp_path):
    taken = tmp_path / "notes.txt"
    taken.write_text("keep me")
    report = taken / "report.json"
    code, _, err = run("train", "--root", generated.root, "--out", tmp_path / "run", *QUICK, "--json", report)
    assert one_line_error(code, err) == f"error: {report}: cannot be created: {taken} is a file, not a folder"
    assert not (tmp_path / "run").exists() and taken.read_text() == "keep me"


def disk_full(monkeypatch) -> None:
    """Every ``Path.write_bytes`` (how checkpoints, configs and prediction files are written) fails as on a full disk.

    A real ``ENOSPC`` from ``write()`` names no file, so neither does this one.
    """

    def write_bytes(self: Path, data: bytes) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Path, "write_bytes", write_bytes)


def test_a_full_disk_during_training_is_one_line_naming_the_file(generated, tmp_path, monkeypatch):
    disk_full(monkeypatch)
    run_dir = tmp_path / "run"
    code, _, err = run("train", "--root", generated.root, "--out", run_dir, *QUICK)
    line = one_line_error(code, err)
    assert line.startswith(f"error: {run_dir}/") and line.endswith(": cannot be written: No space left on device")
    assert not [path for path in run_dir.rglob("*") if path.name.endswith(".tmp")]


def test_training_on_a_really_full_disk_is_one_line(generated, full_disk):
    run_dir = full_disk / "run"
    code, _, err = run("train", "--root", generated.root, "--out", run_dir, *QUICK)
    line = one_line_error(code, err)
    assert line.startswith(f"error: {run_dir}/") and line.endswith(": cannot be written: No space left on device")


def test_a_full_disk_during_predict_test_is_one_line_naming_the_file(generated, trained, tmp_path, monkeypatch):
    disk_full(monkeypatch)
    out = tmp_path / "submission"
    args = ["predict-test", "--checkpoint", trained / "last.pt", "--root", generated.root, "--out", out]
    code, _, err = run(*args, "--workers", "0")
    assert one_line_error(code, err) == f"error: {out}: cannot be written: No space left on device"
    assert not (out / "predictions").exists() and not (out / "submission.zip").exists()


def test_a_checkpoint_whose_format_is_text_is_one_line(generated, trained, tmp_path):
    checkpoint = torch.load(trained / "last.pt", weights_only=True)
    checkpoint["format"] = "1"
    odd = tmp_path / "odd.pt"
    torch.save(checkpoint, odd)
    code, _, err = run("predict", "--checkpoint", odd, "--root", generated.root, "--out", tmp_path / "pred")
    assert one_line_error(code, err) == f"error: {odd}: not an abaw checkpoint (its format is '1', not a number)"


def test_resuming_a_checkpoint_without_class_weights_is_one_line(trained, tmp_path):
    checkpoint = torch.load(trained / "last.pt", weights_only=True)
    del checkpoint["class_weights"]
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    torch.save(checkpoint, run_dir / "last.pt")
    code, _, err = run("train", "--resume", "--out", run_dir, "--epochs", "2", "--workers", "0")
    assert one_line_error(code, err) == (
        f"error: {run_dir / 'last.pt'}: cannot be resumed: no class_weights inside "
        "(only a last.pt of abaw train can be)"
    )


class Hostile:
    def __reduce__(self):
        return (os.getcwd, ())


def test_a_hostile_checkpoint_is_not_advised_to_be_loaded_unsafely(generated, tmp_path):
    hostile = tmp_path / "hostile.pt"
    torch.save({"format": 1, "config": {}, "model_config": {}, "model": Hostile()}, hostile)
    code, _, err = run("predict", "--checkpoint", hostile, "--root", generated.root, "--out", tmp_path / "pred")
    line = one_line_error(code, err)
    assert line.startswith(f"error: {hostile}: not a readable checkpoint (not a weights-only checkpoint: ")
    assert "getcwd" in line and "weights_only" not in line


# --------------------------------------------------------------------------
# Progressive training: abaw train --stages

CHAIN = ["--stages", "disc-tiny,aeg-cd-tiny", "--steps-per-epoch", "2", "--batch-size", "8", "--n-critic", "1"]
CHAIN += ["--workers", "0"]


@pytest.mark.slow
def test_stages_chain_is_interrupted_resumed_and_each_stage_starts_from_the_previous_best(
    generated, tmp_path, monkeypatch
):
    runs, report = tmp_path / "runs", tmp_path / "stages.json"
    partial = tmp_path / "runs.partial"
    args = ["train", "--root", generated.root, "--out", runs, *CHAIN]
    stopper = StopAfter(2)
    monkeypatch.setattr("abaw.cli.train.RichReporter", lambda *a, **k: stopper)
    code, _, err = run(*args, "--epochs", "1,2")
    assert code == 130 and "--resume" in err and "Traceback" not in err
    # The second stage started from the first stage's best checkpoint.
    assert any(note.startswith(f"--init {partial / 'disc-tiny' / 'best.pt'}: loaded") for note in stopper.notes)
    assert not runs.exists() and load_checkpoint(partial / "aeg-cd-tiny" / "last.pt")["epoch"] == 1
    monkeypatch.undo()

    code, _, err = run(*args, "--epochs", "1,2")
    assert "--resume to continue it" in one_line_error(code, err)
    code, _, err = run(*args, "--epochs", "1,3", "--resume")
    assert "the interrupted chain of stages used other settings" in one_line_error(code, err)

    code, stdout, err = run(*args, "--epochs", "1,2", "--resume", "--json", report)
    assert code == 0, err
    assert "AEG-CD-tiny" in stdout and not partial.exists()
    stages = json.loads(report.read_text())["stages"]
    assert [stage["variant"] for stage in stages] == ["disc-tiny", "aeg-cd-tiny"]
    # A stage found trained reports the time its metrics log recorded, not the time of this call.
    logged = [json.loads(line)["seconds"] for line in (runs / "disc-tiny" / "metrics.jsonl").read_text().splitlines()]
    assert stages[0]["train_seconds"] == pytest.approx(sum(logged), abs=0.05) and stages[1]["train_seconds"] > 0
    assert [stage["checkpoint"] for stage in stages] == [f"{name}/best.pt" for name in CHAIN[1].split(",")]
    rows = [json.loads(line) for line in (runs / "aeg-cd-tiny" / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1, 2]
    second = load_checkpoint(runs / "aeg-cd-tiny" / "last.pt")
    # It read the first stage's weights in the staging folder and records where they are once the chain is complete.
    assert second["epoch"] == 2 and second["config"]["init"] == str(runs / "disc-tiny" / "best.pt")
    assert second["config"]["variant"] == "aeg-cd-tiny" and second["config"]["n_critic"] == 1
    best = load_checkpoint(runs / "disc-tiny" / "best.pt")["best"]
    assert stages[0]["best_epoch"] == best["epoch"] and stages[0]["best_ccc_mean"] == pytest.approx(best["ccc_mean"])

    code, _, err = run(*args, "--epochs", "1,2", "--resume")
    assert "nothing to resume: no interrupted chain of stages" in one_line_error(code, err)
    code, _, err = run(*args, "--epochs", "1,2")
    assert "--force" in one_line_error(code, err)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--stages", "disc-tiny,nope"], "--stages: unknown model 'nope'; known models: aeg-cd"),
        (["--stages", "disc-tiny,,aeg-cd-tiny"], "--stages: expected comma-separated variants"),
        (["--stages", "disc-tiny,disc-tiny"], "--stages: disc-tiny given twice"),
        (["--stages", "disc-tiny,aeg-cd-tiny", "--epochs", "1,1,1"], "give 2 epoch counts of at least 1"),
        (["--stages", "disc-tiny,aeg-cd-tiny", "--epochs", "1,0"], "give 2 epoch counts of at least 1"),
        (["--stages", "disc-tiny", "--epochs", "1,x"], "comma-separated integers such as 8,3,3"),
        (["--stages", "disc-tiny", "--variant", "disc"], "--variant cannot be combined with --stages"),
        (["--variant", "disc-tiny", "--epochs", "1,2"], "--epochs takes one count (several only with --stages)"),
        (["--variant", "disc-tiny", "--epochs", "0"], "must be at least 1, got 0"),
        (["--stages", "disc-tiny", "--resume"], "nothing to resume: no interrupted chain of stages"),
    ],
)
def test_bad_stages_are_one_line_and_write_nothing(generated, tmp_path, args, message):
    code, _, err = run("train", "--root", generated.root, "--out", tmp_path / "runs", *args)
    assert message in err and code == 2 and "Traceback" not in err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "runs.partial").exists()


def test_stages_need_a_root(tmp_path):
    code, _, err = run("train", "--stages", "disc-tiny", "--out", tmp_path / "runs")
    assert code == 2 and "--root is required with --stages" in err


def test_stage_settings_keep_the_chains_unless_the_stage_overrides_them():
    base = TrainConfig(variant="disc", lr=1e-3, n_critic=2, init="/models/start.pt")
    first = stage_config(base, Stage("disc", 4), None)
    assert (first.variant, first.epochs, first.lr, first.n_critic) == ("disc", 4, 1e-3, 2)
    assert first.init == "/models/start.pt"
    second = stage_config(base, Stage("aeg-cd", 2, lr=1e-4, n_critic=5), Path("/runs/disc/best.pt"))
    assert (second.variant, second.epochs, second.lr, second.n_critic) == ("aeg-cd", 2, 1e-4, 5)
    assert second.init == "/runs/disc/best.pt"
    assert [stage.epochs for stage in parse_stages("disc,aeg-cd,aeg-cd-sz", [3], 10)] == [3, 3, 3]
    assert [stage.epochs for stage in parse_stages("disc,aeg-cd", None, 7)] == [7, 7]


def test_stages_refuse_to_run_under_torchrun(generated, tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    code, _, err = run("train", "--root", generated.root, "--out", tmp_path / "runs", "--stages", "disc-tiny")
    assert "--stages runs in one process" in one_line_error(code, err)
    assert not (tmp_path / "runs").exists()


def test_final_protocol_chain_starts_each_stage_from_the_previous_last(generated, tmp_path):
    runs, report = tmp_path / "runs", tmp_path / "stages.json"
    args = ["train", "--root", generated.root, "--out", runs, *CHAIN, "--protocol", "final", "--epochs", "1"]
    code, _, err = run(*args, "--json", report)
    assert code == 0, err
    stages = json.loads(report.read_text())["stages"]
    # Paths in the result are relative to the chain's folder.
    assert [stage["checkpoint"] for stage in stages] == [f"{name}/last.pt" for name in CHAIN[1].split(",")]
    assert [stage["best_epoch"] for stage in stages] == [None, None]
    second = load_checkpoint(runs / "aeg-cd-tiny" / "last.pt")["config"]
    # The second stage records where the first one's checkpoint is once the chain is complete, never its staging.
    assert second["protocol"] == "final" and second["init"] == str(runs / "disc-tiny" / "last.pt")
    assert not list(runs.glob("*/best.pt"))
