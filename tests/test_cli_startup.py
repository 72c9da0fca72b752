"""A command line that answers at once: the cheap commands import neither torch, timm nor the benchmarks.

Each check runs in a fresh interpreter (what a test process has imported
already would hide an import), with the ``abaw`` package these tests import.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import abaw
from abaw.cli import COMMANDS, cli
from abaw.cli.lazy import LazyGroup
from abaw.data.layout import Edition

HEAVY = ("torch", "timm", "abaw.benchmarks")
"""Modules (and their submodules) that ``--help``, ``score``, ``submission check`` and ``data check`` must not load."""

STEPS = r"""
import json, sys

HEAVY = tuple(json.loads(sys.argv[1]))
steps = json.loads(sys.argv[2])


def heavy():
    return sorted(name for name in sys.modules if any(name == h or name.startswith(h + ".") for h in HEAVY))


import abaw.cli

results = [{"args": ["import abaw.cli"], "code": 0, "heavy": heavy()}]
for args in steps:
    try:
        code = abaw.cli.cli.main(args, prog_name="abaw", standalone_mode=False)
    except SystemExit as stop:
        code = stop.code
    results.append({"args": args, "code": code or 0, "heavy": heavy()})
sys.stdout.flush()
print("\n" + json.dumps(results))
"""


def package_env() -> dict[str, str]:
    """The environment of a child interpreter that imports the same ``abaw`` as this process."""
    env = dict(os.environ)
    root = str(Path(abaw.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    env["COLUMNS"] = "160"
    return env


def run_steps(*steps: list[str]) -> list[dict]:
    """In one fresh interpreter: ``import abaw.cli``, then each command line in turn through click.

    Returns:
        One row per step (the import first): its exit status and the heavy
        modules loaded so far. A module any step loads shows from that step on.
    """
    process = subprocess.run(
        [sys.executable, "-c", STEPS, json.dumps(HEAVY), json.dumps(list(steps))],
        capture_output=True,
        text=True,
        env=package_env(),
        timeout=300,
        check=False,
    )
    assert process.returncode == 0, process.stderr
    return json.loads(process.stdout.splitlines()[-1])


def write_tiny_dataset(root: Path) -> Path:
    """A dataset without videos: a train and a validation entry of 6 labelled frames, one test entry of 6 crops."""
    edition = Edition.ABAW2022
    for name, split in (("video1", edition.train_folder), ("102", edition.validation_folder)):
        folder = root / edition.annotation_parent / split
        folder.mkdir(parents=True)
        lines = [f"{(i % 5) / 5 - 0.4},{0.3 - (i % 3) / 5}" for i in range(6)]
        lines[1] = "-5,-5"
        (folder / f"{name}.txt").write_text("valence,arousal\n" + "\n".join(lines) + "\n")
    for name in ("video1", "102", "200"):
        faces = root / "cropped_aligned" / name
        faces.mkdir(parents=True)
        for frame in range(1, 7):
            (faces / f"{frame:05d}.jpg").write_bytes(b"")
    (root / "test_set_VA_Challenge.txt").write_text("200\n")
    return root


def write_predictions(folder: Path, name: str, rows: list[str]) -> Path:
    folder.mkdir(parents=True)
    (folder / f"{name}.txt").write_text("valence,arousal\n" + "\n".join(rows) + "\n")
    return folder


def test_import_then_score_help_loads_no_torch() -> None:
    """The issue's check: ``import abaw.cli``, then ``abaw score --help``."""
    imported, helped = run_steps(["score", "--help"])
    assert imported["heavy"] == [] and "torch" not in imported["heavy"]
    assert helped["code"] == 0 and helped["heavy"] == []


def test_cheap_commands_load_neither_torch_nor_timm_nor_the_benchmarks(tmp_path: Path) -> None:
    root = write_tiny_dataset(tmp_path / "data")
    values = ["0.1,0.2", "0,0", "-0.3,0.1", "0.2,0.2", "0.4,-0.1", "0,0"]
    predictions = write_predictions(tmp_path / "pred", "102", values)
    submission = write_predictions(tmp_path / "sub", "200", values)
    steps = {
        "help": ["--help"],
        "score help": ["score", "--help"],
        "submission check help": ["submission", "check", "--help"],
        "data check help": ["data", "check", "--help"],
        "score": ["-q", "score", str(predictions), "--root", str(root), "--json", str(tmp_path / "scores.json")],
        "submission check": ["-q", "submission", "check", str(submission), "--root", str(root)],
        "data check": ["-q", "data", "check", "--root", str(root)],
        # Decodes every face image: the written ones are empty, so the check fails (exit 1), without torch.
        "data check, images decoded": ["-q", "data", "check", "--root", str(root), "--verify-images"],
    }
    imported, *results = run_steps(*steps.values())
    assert imported["heavy"] == []
    codes = {}
    for (step, args), row in zip(steps.items(), results, strict=True):
        assert row["args"] == args
        assert row["heavy"] == [], step
        codes[step] = row["code"]
    assert codes == {step: 1 if step == "data check, images decoded" else 0 for step in steps}
    assert json.loads((tmp_path / "scores.json").read_text())["frames"] == 5  # the -5 line left out


def test_python_m_abaw_help_lists_every_command_without_torch() -> None:
    """``python -m abaw --help`` (the module ``torchrun -m abaw`` runs), timed import by import."""
    process = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "abaw", "--help"],
        capture_output=True,
        text=True,
        env=package_env(),
        timeout=300,
        check=False,
    )
    assert process.returncode == 0, process.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in process.stderr.splitlines() if "|" in line}
    assert not [name for name in imported if name.split(".")[0] in ("torch", "timm")]
    assert not [name for name in imported if name.startswith("abaw.benchmarks")]
    for name in COMMANDS:
        assert f"  {name} " in process.stdout, name


def test_the_lazy_group_lists_every_command_sorted() -> None:
    assert cli.list_commands(click.Context(cli)) == sorted(COMMANDS)
    assert set(COMMANDS) == {
        *("benchmark", "data", "demo", "experiment", "features", "plot", "predict", "predict-test"),
        *("score", "smooth", "submission", "temporal", "train"),
    }


def _commands(group: click.Group, ctx: click.Context, prefix: tuple[str, ...] = ()):
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, click.Context(command, parent=ctx), (*prefix, name))


def test_every_lazy_command_loads_under_its_name_and_has_help() -> None:
    """A typo in the lazy mapping (module, attribute or name) fails here."""
    ctx = click.Context(cli)
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        assert isinstance(command, click.Command), name
        assert command.name == name
    listed = list(_commands(cli, ctx))
    assert {path for path, _ in listed} >= {("score",), ("submission", "check"), ("data", "check"), ("train",)}
    for path, command in listed:
        assert command.get_short_help_str().strip(), path
        result = CliRunner().invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage: " in result.output and path[-1] in result.output, path


def test_a_wrong_lazy_target_is_an_error_not_a_silent_gap() -> None:
    ctx = click.Context(cli)
    with pytest.raises(ModuleNotFoundError):
        LazyGroup(lazy_subcommands={"x": "abaw.cli.no_such_module:x"}).get_command(ctx, "x")
    with pytest.raises(AttributeError):
        LazyGroup(lazy_subcommands={"x": "abaw.cli.score:no_such_command"}).get_command(ctx, "x")
    with pytest.raises(TypeError, match="not a click command"):
        LazyGroup(lazy_subcommands={"x": "abaw.cli.score:read_scored_predictions"}).get_command(ctx, "x")
    assert LazyGroup(lazy_subcommands={"x": "abaw.cli.score:score"}).get_command(ctx, "y") is None


def test_an_abaw_error_in_a_lazily_loaded_command_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """In a fresh process, the command's module loaded on demand: still one line, no traceback."""
    root = write_tiny_dataset(tmp_path / "data")
    predictions = write_predictions(tmp_path / "pred", "102", ["0.1,0.2", "0.1,zero", *["0,0"] * 4])
    process = subprocess.run(
        [sys.executable, "-m", "abaw", "-q", "score", str(predictions), "--root", str(root)],
        capture_output=True,
        text=True,
        env=package_env(),
        timeout=300,
        check=False,
    )
    assert process.returncode == 2
    assert process.stderr.count("\n") == 1 and "Traceback" not in process.stderr
    assert process.stderr.startswith("error: ")
    assert f"{predictions / '102.txt'}:3: 'zero' is not a number" in process.stderr
