"""The output policy (``abaw/outputs.py``): no command writes into a dataset, ``--force`` replaces only what
abaw wrote and only once the new output is complete, a second writer is refused, modes follow the umask."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from abaw.cli import cli
from abaw.data.layout import DEFAULT_CACHE_NAME, Split
from abaw.errors import OutputExistsError
from abaw.fileio import atomic_write_json
from abaw.formats.types import VideoPrediction
from abaw.formats.writers import write_per_video
from abaw.outputs import (
    MARKER_NAME,
    OutputBusyError,
    OutputKind,
    UnsafeOutputError,
    check_replaceable,
    output_lock,
    staged_output,
    staging_dir,
)
from abaw.runtime.checkpoint import load_checkpoint
from abaw.synthetic import GeneratedDataset
from abaw.training.config import TrainConfig
from abaw.training.trainer import resume_config, train

QUICK = ["--variant", "disc-tiny", "--steps-per-epoch", "2", "--batch-size", "8", "--workers", "0", "--epochs", "1"]


def run(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["-q", *map(str, args)], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def snapshot(folder: Path, skip: str | None = None) -> dict[str, tuple]:
    """Every entry under ``folder`` (but ``skip`` at its top): path -> (size, mtime, hash) or 'dir'."""
    state: dict[str, tuple] = {}
    for current, dirs, files in os.walk(folder):
        here = Path(current)
        if here == folder and skip is not None and skip in dirs:
            dirs.remove(skip)
        for name in dirs:
            state[str((here / name).relative_to(folder))] = ("dir",)
        for name in files:
            path = here / name
            info = path.lstat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else os.readlink(path)
            state[str(path.relative_to(folder))] = (info.st_size, info.st_mtime_ns, digest)
    return state


def dataset_state(root: Path) -> dict[str, tuple]:
    """The dataset root as the user has it: everything but abaw's own cache."""
    return snapshot(root, skip=DEFAULT_CACHE_NAME)


@pytest.fixture(scope="module")
def checkpoint(generated: GeneratedDataset, tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("outputs") / "run"
    code, _, err = run("train", "--root", generated.root, "--out", run_dir, *QUICK)
    assert code == 0, err
    return run_dir / "last.pt"


# --------------------------------------------------------------------------- never in a dataset


@pytest.mark.parametrize("where", ["root", "video", "above", "cache"])
def test_predict_into_the_dataset_is_refused_with_force(dataset_copy, checkpoint, tmp_path, where):
    root = dataset_copy
    video = next(path for path in (root / "cropped_aligned").iterdir() if path.is_dir())
    out = {"root": root, "video": video, "above": root.parent, "cache": root / DEFAULT_CACHE_NAME / "preds"}[where]
    before = dataset_state(root)
    code, _, err = run("predict", "--checkpoint", checkpoint, "--root", root, "--out", out, "--force", "--workers", 0)
    assert code == 2 and err.count("\n") == 1 and "never writes into a dataset" in err, err
    assert dataset_state(root) == before
    assert not (root / DEFAULT_CACHE_NAME / "preds").exists()


def test_symlink_into_the_dataset_and_json_inside_it_are_refused(dataset_copy, checkpoint, tmp_path):
    root = dataset_copy
    link = tmp_path / "link"
    link.symlink_to(root / "cropped_aligned")
    before = dataset_state(root)
    code, _, err = run("predict", "--checkpoint", checkpoint, "--root", root, "--out", link, "--force")
    assert code == 2 and "never writes into a dataset" in err
    code, _, err = run("data", "check", "--root", root, "--json", root / "report.json")
    assert code == 2 and err.count("\n") == 1 and "--json is inside the dataset folder" in err
    assert dataset_state(root) == before and link.is_symlink()


def test_train_run_folder_inside_the_dataset_is_refused(dataset_copy, tmp_path):
    before = dataset_state(dataset_copy)
    code, _, err = run("train", "--root", dataset_copy, "--out", dataset_copy / "runs" / "a", *QUICK)
    assert code == 2 and err.count("\n") == 1 and "never writes into a dataset" in err
    assert dataset_state(dataset_copy) == before


# --------------------------------------------------------------------------- --force replaces only abaw's outputs


def test_generate_force_never_replaces_a_folder_abaw_did_not_write(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    code, _, err = run("data", "generate", "--out", mine, "--videos", 6, "--frames", 10, "--force")
    assert code == 2 and err.count("\n") == 1 and "not written by abaw" in err
    assert [path.name for path in mine.iterdir()] == ["thesis.tex"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run("data", "generate", "--out", empty, "--videos", 6, "--frames", 10)[0] == 0
    assert (empty / "generated.json").is_file()


def test_force_replaces_only_the_same_kind(tmp_path):
    predictions = {"a": VideoPrediction.consecutive([[0.1, 0.2]] * 2)}
    out = write_per_video(tmp_path / "preds", predictions, {"a": 2})
    assert json.loads((out / MARKER_NAME).read_text())["kind"] == OutputKind.PREDICTIONS.value
    with pytest.raises(OutputExistsError, match="--force"):
        write_per_video(out, predictions, {"a": 2})
    write_per_video(out, predictions, {"a": 2}, force=True)
    with pytest.raises(UnsafeOutputError, match="holds abaw's predictions output, not train-run"):
        check_replaceable(out, OutputKind.TRAIN_RUN, force=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(UnsafeOutputError, match="is a file"):
        write_per_video(tmp_path / "file", predictions, {"a": 2}, force=True)
    assert (tmp_path / "file").read_text() == "x"


def test_a_failing_output_leaves_the_old_one_and_no_staging(tmp_path):
    target = tmp_path / "figures"
    with staged_output(target, OutputKind.FIGURES) as stage:
        (stage.path / "a.png").write_bytes(b"old")
    before = snapshot(target)
    with pytest.raises(RuntimeError), staged_output(target, OutputKind.FIGURES, force=True) as stage:
        (stage.path / "a.png").write_bytes(b"new")
        raise RuntimeError("drawing failed")
    assert snapshot(target) == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["figures"]  # no staging or lock file left


def test_train_force_whose_new_run_fails_leaves_the_old_run(generated, checkpoint, tmp_path):
    old = Path(shutil.copytree(checkpoint.parent, tmp_path / "run"))
    before = snapshot(old)
    nothing = tmp_path / "no-data"
    nothing.mkdir()
    code, _, err = run("train", "--root", nothing, "--out", old, *QUICK, "--force")
    assert code == 2 and err.count("\n") == 1, err
    assert snapshot(old) == before
    assert not staging_dir(old).exists()


def test_train_force_interrupted_keeps_the_old_run_and_resumes_the_new_one(generated, checkpoint, tmp_path):
    old = Path(shutil.copytree(checkpoint.parent, tmp_path / "run"))
    before = snapshot(old)
    config = resume_config(old).replace(epochs=2, seed=9)

    def interrupt(epoch, row):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config, old, force=True, on_epoch_end=interrupt)
    assert snapshot(old) == before
    partial = staging_dir(old)
    assert load_checkpoint(partial / "last.pt")["epoch"] == 1

    resumed = resume_config(old)
    assert resumed.seed == 9
    result = train(resumed, old, resume=True)
    assert result.run_dir == old and not partial.exists()
    assert load_checkpoint(old / "last.pt")["epoch"] == 2 and load_checkpoint(old / "last.pt")["config"]["seed"] == 9
    assert yaml.safe_load((old / "config.yaml").read_text())["seed"] == 9


def test_predict_test_replaces_its_folder_whole_and_only_when_complete(generated, checkpoint, tmp_path):
    out = tmp_path / "submission"
    common = ["predict-test", "--checkpoint", checkpoint, "--root", generated.root, "--out", out, "--workers", 0]
    assert run(*common)[0] == 0
    before = snapshot(out)
    # Fails after predicting, while writing the new file (a sample file with a repeated row).
    sample = tmp_path / "sample.txt"
    name = generated.names(Split.TEST)[0]
    sample.write_text(f"image_location,valence,arousal\n{name}/00001.jpg,0,0\n{name}/00001.jpg,0,0\n")
    code, _, err = run(*common, "--format", "single-file", "--sample-file", sample, "--force")
    assert code == 2 and err.count("\n") == 1 and "appears again" in err, err
    assert snapshot(out) == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["sample.txt", "submission"]

    # A new format replaces the whole folder: no per-video folder left beside the single file.
    assert run(*common, "--format", "single-file", "--force")[0] == 0
    assert sorted(path.name for path in out.iterdir()) == [MARKER_NAME, "predictions.txt", "submission.zip"]
    with zipfile.ZipFile(out / "submission.zip") as archive:
        assert archive.namelist() == ["predictions.txt"]


# --------------------------------------------------------------------------- one writer at a time


HOLD_LOCK = """
import sys, time
from abaw.outputs import output_lock
with output_lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(120)
"""


def test_lock_refuses_a_second_process_and_dies_with_its_holder(tmp_path):
    target = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(target)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(OutputBusyError, match="another abaw process is writing it"), output_lock(target):
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    with output_lock(target):  # the OS released the dead holder's lock
        pass
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_two_trainers_on_one_new_run_folder(generated, tmp_path):
    """The second starts while the first trains; it stops at once with one line; the run is one seed's."""
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    command = [sys.executable, "-m", "abaw", "-q", "train", "--root", str(generated.root), "--out", str(out)]
    command += ["--variant", "disc-tiny", "--epochs", "3", "--steps-per-epoch", "4", "--batch-size", "8"]
    command += ["--workers", "0", "--device", "cpu"]

    def start(seed: int) -> subprocess.Popen:
        return subprocess.Popen(
            [*command, "--seed", str(seed)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )

    first = start(1)
    lock = out.parent / f".{out.name}.lock"
    deadline = time.monotonic() + 120
    while not lock.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    # Held from here until the first trainer ends; stop it from ending before the second one asks.
    first.send_signal(signal.SIGSTOP)
    second = start(2)
    try:
        second_code = second.wait(timeout=600)
    finally:
        first.send_signal(signal.SIGCONT)
    results = [(first.wait(timeout=600), first.stderr.read()), (second_code, second.stderr.read())]
    assert sorted(code for code, _ in results) == [0, 2], results
    error = next(stderr for code, stderr in results if code == 2)
    assert error.count("\n") == 1 and error.startswith("error: ") and "Traceback" not in error
    # Refused by the lock while the other trains (not by finding a finished run).
    assert "another abaw process is writing it" in error, error
    seeds = {
        load_checkpoint(out / "last.pt")["config"]["seed"],
        load_checkpoint(out / "best.pt")["config"]["seed"],
        yaml.safe_load((out / "config.yaml").read_text())["seed"],
    }
    assert len(seeds) == 1
    assert [json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3]


# --------------------------------------------------------------------------- modes and stored paths


@pytest.mark.parametrize(("umask", "folder", "file"), [(0o022, 0o755, 0o644), (0o027, 0o750, 0o640)])
def test_outputs_get_the_mode_of_the_umask(tmp_path, umask, folder, file):
    old = os.umask(umask)
    try:
        out = write_per_video(tmp_path / "preds", {"a": VideoPrediction.consecutive([[0.1, 0.2]])}, {"a": 1})
        report = atomic_write_json(tmp_path / "report.json", {"ok": True})
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == folder
    for path in (out / "a.txt", out / MARKER_NAME, report):
        assert path.stat().st_mode & 0o777 == file, path


def test_resume_and_config_from_another_directory(generated, tmp_path, monkeypatch):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    monkeypatch.chdir(first)
    root = os.path.relpath(generated.root, first)
    assert run("train", "--root", root, "--out", "run", *QUICK)[0] == 0
    stored = yaml.safe_load((first / "run" / "config.yaml").read_text())
    assert stored["dataset"]["root"] == str(generated.root)

    monkeypatch.chdir(second)
    code, _, err = run("train", "--resume", "--out", first / "run", "--epochs", 2, "--workers", 0)
    assert code == 0, err
    assert load_checkpoint(first / "run" / "last.pt")["epoch"] == 2
    config = TrainConfig.from_dict(yaml.safe_load((first / "run" / "config.yaml").read_text()))
    assert Path(config.dataset.root) == generated.root


# --------------------------------------------------------------------------- the README workflow


@pytest.mark.slow
def test_no_command_of_the_readme_workflow_changes_the_dataset(dataset_copy, tmp_path):
    """Every step of "From the dataset to a submission", tiny models: the root (but its cache) stays identical."""
    root, runs, submission = dataset_copy, tmp_path / "runs", tmp_path / "submissions" / "aln"
    tiny = ["--variant", "aeg-cd-sz-tiny", "--steps-per-epoch", "2", "--batch-size", "8", "--workers", "0"]
    steps = [
        ("data", "check", "--root", root, "--json", tmp_path / "check.json"),
        ("features", "audio", "--root", root, "--jobs", 1),
        ("train", "--root", root, *tiny, "--protocol", "val", "--out", runs / "val", "--epochs", 1),
        ("train", "--root", root, *tiny, "--protocol", "final", "--out", runs / "final", "--epochs-from", runs / "val"),
        ("predict", "--checkpoint", runs / "val" / "best.pt", "--root", root, "--out", runs / "val" / "val"),
        ("score", runs / "val" / "val", "--root", root, "--per-video", "--json", tmp_path / "score.json"),
        ("plot", runs / "val", "--root", root, "--out", runs / "val" / "plots", "--max-videos", 1, "--faces", 1),
        ("predict-test", "--checkpoint", runs / "final" / "last.pt", "--root", root, "--out", submission),
        ("submission", "check", submission / "submission.zip", "--root", root, "--json", tmp_path / "sub.json"),
    ]
    for step in steps:
        before = dataset_state(root)
        code, _, err = run(*step)
        assert code == 0, (step[:2], err)
        assert dataset_state(root) == before, step[:2]
    assert (root / DEFAULT_CACHE_NAME).is_dir()
