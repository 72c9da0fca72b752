"""The run folder type (``abaw/runtime/rundir.py``): its names, "best else last", resume and replacement rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from abaw.errors import CheckpointError, OutputExistsError
from abaw.outputs import MARKER_NAME, OutputKind, UnsafeOutputError, read_marker, write_marker
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


def test_create_writes_in_place_or_beside_an_earlier_run(tmp_path):
    fresh = RunDir(tmp_path / "fresh").create(force=False)
    assert fresh.path == tmp_path / "fresh"
    assert read_marker(fresh.path)["kind"] == OutputKind.TRAIN_RUN.value

    earlier = make_run(tmp_path / "run", "last.pt")
    with pytest.raises(OutputExistsError, match="pass --resume to continue it or --force"):
        earlier.create(force=False)
    stale = make_run(earlier.staging.path, "last.pt")
    work = earlier.create(force=True)
    assert work == earlier.staging
    assert not stale.last.exists(), "a stale RUN.partial is replaced"
    assert earlier.last.read_bytes() == b"x", "the earlier run is untouched until the new one ends"
    assert (work.path / MARKER_NAME).is_file()


def test_create_never_replaces_a_folder_abaw_did_not_write(tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    with pytest.raises(UnsafeOutputError):
        RunDir(foreign).create(force=True)
    assert (foreign / "notes.txt").read_text() == "keep"


def test_discard_unstarted_staging_keeps_one_with_a_checkpoint(tmp_path):
    run = RunDir(tmp_path / "run")
    unstarted = make_run(run.staging.path, "config.yaml")
    run.discard_unstarted_staging()
    assert not unstarted.path.exists()
    started = make_run(run.staging.path, "last.pt")
    run.discard_unstarted_staging()
    assert started.last.is_file()
    foreign = run.staging.path
    (foreign / MARKER_NAME).unlink()
    (foreign / "last.pt").unlink()
    (foreign / "notes.txt").write_text("keep")
    run.discard_unstarted_staging()
    assert (foreign / "notes.txt").is_file(), "a folder abaw did not write is left alone"
