"""The run folder type (``abaw/runtime/rundir.py``): its names, "best else last", resume and replacement rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from abaw.errors import CheckpointError, OutputExistsError
from abaw.outputs import MARKER_NAME, OutputKind, Staging, UnsafeOutputError, read_marker, staged_output, write_marker
from abaw.runtime.rundir import RunDir, resolve_checkpoint


def make_run(path: Path, *files: str) -> RunDir:
    """A run folder abaw wrote, holding ``files`` (empty placeholders)."""
    path.mkdir(parents=True)
    write_marker(path, OutputKind.TRAIN_RUN)
    for name in files:
        (path / name).write_bytes(b"x")
    return RunDir(path)


def test_names_of_a_run_folder(tmp_path):
    run = RunDir(tmp_path / "run")
    assert [path.name for path in (run.last, run.best, run.config, run.class_weights, run.skipped)] == [
        "last.pt",
        "best.pt",
        "config.yaml",
        "class_weights.json",
        "skipped.json",
    ]
    assert (run.metrics_jsonl.name, run.metrics_csv.name) == ("metrics.jsonl", "metrics.csv")
    assert {path.parent for path in (run.last, run.metrics_csv)} == {tmp_path / "run"}
    assert run.staging.path == tmp_path / "run.partial"
    assert RunDir(str(tmp_path / "run")) == run


def test_best_else_last(tmp_path):
    assert RunDir(tmp_path / "none").best_or_last() is None
    only_last = make_run(tmp_path / "a", "last.pt")
    assert only_last.best_or_last() == only_last.last
    both = make_run(tmp_path / "b", "last.pt", "best.pt")
    assert both.best_or_last() == both.best
    assert resolve_checkpoint(both.path) == both.best
    assert resolve_checkpoint(only_last.last) == only_last.last
    with pytest.raises(CheckpointError, match=r"no best\.pt or last\.pt in this run folder"):
        resolve_checkpoint(make_run(tmp_path / "c").path)
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        resolve_checkpoint(tmp_path / "missing.pt")


def test_resume_continues_the_unfinished_replacement_when_it_has_a_checkpoint(tmp_path):
    run = make_run(tmp_path / "run", "last.pt")
    assert run.resumed() == run
    assert run.resume_checkpoint() == run.last
    make_run(run.staging.path)  # a replacement that never finished an epoch
    assert run.resumed() == run
    (run.staging.last).write_bytes(b"x")
    assert run.resumed() == run.staging
    assert run.resume_checkpoint() == run.staging.last


def test_nothing_to_resume_names_the_folder(tmp_path):
    with pytest.raises(CheckpointError, match=r"nothing to resume: no last\.pt here") as caught:
        RunDir(tmp_path / "run").resume_checkpoint()
    assert str(tmp_path / "run") in str(caught.value)


def open_run(path: Path, *, force: bool = False, resume: bool = False):
    """The run-folder transaction the trainers open (rank 0's part of ``open_run_folder``)."""
    return staged_output(
        path, OutputKind.TRAIN_RUN, staging=Staging.RUN, force=force, resume=resume, has_progress=RunDir.has_progress
    )


def test_a_new_run_is_written_in_place_a_replacement_beside_the_earlier_run(tmp_path):
    with open_run(tmp_path / "fresh") as stage:
        assert stage.path == tmp_path / "fresh" and not stage.resumed
        assert read_marker(stage.path)["kind"] == OutputKind.TRAIN_RUN.value
        (stage.path / "last.pt").write_bytes(b"new")

    earlier = make_run(tmp_path / "run", "last.pt")
    with pytest.raises(OutputExistsError, match="pass --resume to continue it or --force"), open_run(earlier.path):
        pass
    stale = make_run(earlier.staging.path, "last.pt")
    with open_run(earlier.path, force=True) as stage:
        assert stage.path == earlier.staging.path
        assert not stale.last.exists(), "a stale RUN.partial is replaced"
        assert earlier.last.read_bytes() == b"x", "the earlier run is untouched until the new one ends"
        assert (stage.path / MARKER_NAME).is_file()
        (stage.path / "last.pt").write_bytes(b"new")
    assert earlier.last.read_bytes() == b"new" and not earlier.staging.path.exists()


def test_a_run_never_replaces_a_folder_abaw_did_not_write(tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    with pytest.raises(UnsafeOutputError), open_run(foreign, force=True):
        pass
    assert (foreign / "notes.txt").read_text() == "keep"


def test_a_failed_run_leaves_only_what_resume_can_continue(tmp_path):
    # A new run that fails before its first epoch leaves no folder that would need --force.
    with pytest.raises(RuntimeError), open_run(tmp_path / "new"):
        raise RuntimeError("no usable frame")
    assert not (tmp_path / "new").exists()
    # A replacement that fails before its first epoch leaves the earlier run and no RUN.partial.
    run = make_run(tmp_path / "run", "last.pt")
    with pytest.raises(RuntimeError), open_run(run.path, force=True):
        raise RuntimeError("no usable frame")
    assert run.last.is_file() and not run.staging.path.exists()
    # One that finished an epoch is kept, and --resume continues it.
    with pytest.raises(KeyboardInterrupt), open_run(run.path, force=True) as stage:
        (stage.path / "last.pt").write_bytes(b"epoch 1")
        raise KeyboardInterrupt
    assert run.staging.last.read_bytes() == b"epoch 1"
    with open_run(run.path, resume=True) as stage:
        assert stage.path == run.staging.path and stage.resumed
    assert run.last.read_bytes() == b"epoch 1" and not run.staging.path.exists()


def test_resume_with_nothing_finished_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match="nothing to resume"), open_run(tmp_path / "run", resume=True):
        pass


def test_a_kfold_run_has_progress_when_a_fold_finished_an_epoch(tmp_path):
    run = make_run(tmp_path / "run")
    assert not RunDir.has_progress(run.path) and run.folds() == []
    make_run(run.fold(2).path, "last.pt")
    make_run(run.fold(10).path)
    assert [fold.path.name for fold in run.folds()] == ["fold-2", "fold-10"]
    assert RunDir.has_progress(run.path)
