"""The command reference: ``docs/commands.md`` is current, complete, and rendered as documented."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from abaw.cli import cli
from abaw.cli.reference import REGENERATE_COMMAND, command_reference, main

REPOSITORY = Path(__file__).resolve().parent.parent
COMMANDS_MD = REPOSITORY / "docs" / "commands.md"


def command_paths(group: click.Group, path: str) -> list[str]:
    """Every visible command path below ``group``, walked here independently of the renderer."""
    ctx = click.Context(group, info_name=path.rsplit(" ", 1)[-1])
    paths = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        paths.append(f"{path} {name}")
        if isinstance(command, click.Group):
            paths += command_paths(command, f"{path} {name}")
    return paths


# --------------------------------------------------------------------------- docs/commands.md


def test_docs_commands_md_is_current():
    committed = COMMANDS_MD.read_text(encoding="utf-8") if COMMANDS_MD.is_file() else ""
    assert committed == command_reference(), f"docs/commands.md is stale: regenerate it with {REGENERATE_COMMAND}"


def test_every_command_path_has_a_section():
    reference = command_reference()
    paths = command_paths(cli, "abaw")
    assert {"abaw train", "abaw temporal train", "abaw data check", "abaw smooth search"} <= set(paths)
    missing = [path for path in ["abaw", *paths] if f"\n## `{path}`\n" not in reference]
    assert not missing


def test_the_reference_ignores_terminal_width_and_directory(monkeypatch, tmp_path):
    expected = command_reference()
    monkeypatch.setenv("COLUMNS", "37")
    monkeypatch.chdir(tmp_path)
    assert command_reference() == expected


@pytest.mark.slow
def test_the_check_passes_on_a_machine_with_other_cpus_and_terminal(tmp_path):
    """A fresh process that reports 64 CPU cores, a narrow terminal and another directory: the file is current."""
    script = (
        "import os, runpy, sys; os.cpu_count = lambda: 64; sys.argv[1:] = ['--check', sys.argv[1]]; "
        "runpy.run_module('abaw.cli.reference', run_name='__main__')"
    )
    env = {**os.environ, "COLUMNS": "37", "PYTHONPATH": str(REPOSITORY)}
    result = subprocess.run(
        [sys.executable, "-c", script, str(COMMANDS_MD)], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


# --------------------------------------------------------------------------- the script


def test_the_script_writes_then_checks(tmp_path, capsys):
    target = tmp_path / "commands.md"
    assert main(["--check", str(target)]) == 1
    assert main([str(target)]) == 0
    assert target.read_text(encoding="utf-8") == command_reference()
    assert main(["--check", str(target)]) == 0

    target.write_text(target.read_text(encoding="utf-8") + "edited by hand\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["--check", str(target)]) == 1
    message = capsys.readouterr().err
    assert message.count("\n") == 1
    assert "stale" in message and f"python -m abaw.cli.reference {target}" in message


# --------------------------------------------------------------------------- the renderer on a small group


@pytest.fixture
def toy() -> click.Group:
    @click.group()
    @click.option("-v", "--verbose", is_flag=True, help="Say more.")
    def toy_cli(verbose):
        """A toy tool."""

    @toy_cli.command(name="fit")
    @click.argument("data", type=click.Path(exists=True, file_okay=False))
    @click.option("--mode", type=click.Choice(["fast", "exact"]), default="fast", show_default=True, help="How.")
    @click.option("--jobs", type=click.IntRange(min=1), default=os.cpu_count(), show_default="the CPU cores")
    @click.option("--rate", type=float, help="Learning rate [default: 1e-3].")
    @click.option("--secret", hidden=True, help="Not for users.")
    @click.option("--out", required=True, help="Output *folder*.")
    def fit(data, mode, jobs, rate, secret, out):
        """Fit a model to DATA.

        It writes OUT/model.pt and
        never touches DATA.
        """

    @toy_cli.group()
    def model():
        """Work with models."""

    @model.command(name="show")
    def show():
        """Show a model."""

    @model.command(name="internal", hidden=True)
    def internal():
        """Not for users."""

    return toy_cli


def section(reference: str, path: str) -> str:
    return reference.split(f"\n## `{path}`\n", 1)[1].split("\n## ", 1)[0]


def test_a_command_section_has_usage_help_and_option_table(toy):
    fit = section(command_reference(toy, prog_name="toy"), "toy fit")
    assert "```text\ntoy fit [OPTIONS] DATA\n```" in fit
    assert "\nFit a model to DATA.\n\nIt writes OUT/model.pt and never touches DATA.\n" in fit
    assert "| name | type | default | description |" in fit
    assert "| `DATA` | existing directory, required |  |  |" in fit
    assert "| `--mode` | `fast`, `exact` | fast | How. |" in fit
    assert "| `--out` | text, required |  | Output \\*folder\\*. |" in fit


def test_defaults_are_shown_as_stated_never_as_computed(toy):
    fit = section(command_reference(toy, prog_name="toy"), "toy fit")
    assert "| `--jobs` | integer, x>=1 | the CPU cores |  |" in fit
    assert "| `--rate` | float | 1e-3 | Learning rate. |" in fit


def test_hidden_options_and_commands_are_left_out(toy):
    reference = command_reference(toy, prog_name="toy")
    assert "--secret" not in reference and "Not for users" not in reference
    assert "toy model internal" not in reference


def test_nested_groups_get_their_own_sections_and_links(toy):
    reference = command_reference(toy, prog_name="toy")
    headings = [line for line in reference.splitlines() if line.startswith("## ")]
    assert headings == ["## `toy`", "## `toy fit`", "## `toy model`", "## `toy model show`"]
    assert "- [`toy model show`](#toy-model-show): Show a model." in reference
    assert "Commands: [`toy model show`](#toy-model-show)." in section(reference, "toy model")
    assert "```text\ntoy model [OPTIONS] COMMAND [ARGS]...\n```" in section(reference, "toy model")
    assert "| `-v`, `--verbose` | flag |  | Say more. |" in section(reference, "toy")
