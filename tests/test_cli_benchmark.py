"""``abaw benchmark``: the registry of benchmark scripts and the command that runs them."""

from __future__ import annotations

import ast
import importlib
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from abaw.benchmarks import BENCHMARKS, find_benchmarks
from abaw.cli import cli
from abaw.cli.run_benchmark import main as run_benchmark


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["-q", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_every_benchmark_module_is_registered() -> None:
    modules = sorted(
        path.stem for path in Path(importlib.import_module("abaw.benchmarks").__file__).parent.glob("*.py")
    )
    assert sorted(bench.name for bench in BENCHMARKS) == [name for name in modules if not name.startswith("_")]


@pytest.mark.parametrize("bench", BENCHMARKS, ids=lambda bench: bench.name)
def test_run_passes_its_quick_options_to_main_only_when_quick(bench, monkeypatch) -> None:
    received = []
    monkeypatch.setattr(importlib.import_module(bench.module), "main", lambda argv, progress: received.append(argv))
    bench.run(quick=True)
    bench.run()
    bench.run(argv=["--custom"])
    assert received == [list(bench.quick_args), [], ["--custom"]]


@dataclass
class Figures:
    frames: int = 3


@dataclass
class CheckedFigures:
    status: int = 1


@pytest.mark.parametrize(
    ("returned", "status"),
    [(Figures(), 0), (CheckedFigures(0), 0), (CheckedFigures(1), 1)],
    ids=["figures", "passed-check", "failed-check"],
)
def test_a_run_keeps_the_figures_and_the_status_main_returns(monkeypatch, returned, status) -> None:
    bench = find_benchmarks(["audio"])[0]
    monkeypatch.setattr(importlib.import_module(bench.module), "main", lambda argv, progress: returned)
    run = bench.run(quick=True)
    assert (run.name, run.status, run.figures) == ("audio", status, returned) and run.seconds >= 0


# Each script's own option parser; the scoring script parses in main (its quick sizes reach its title, see below).
PARSERS = {
    "index": "parse_options",
    "audio": "parse_options",
    "training": "parse_args",
    "embed": "parse_options",
    "temporal": "parse_options",
}


@pytest.mark.parametrize("bench", [b for b in BENCHMARKS if b.name != "scoring"], ids=lambda bench: bench.name)
def test_quick_options_parse_and_only_make_the_run_smaller(bench) -> None:
    parse = getattr(importlib.import_module(bench.module), PARSERS[bench.name])
    quick, full = vars(parse(list(bench.quick_args))), vars(parse([]))
    changed = [key for key in full if quick[key] != full[key]]
    assert changed
    for key in changed:
        if key == "variants":  # the tiny versions of the measured variants
            assert {name.removesuffix("-tiny") for name in quick[key].split(",")} <= set(full[key].split(","))
        else:
            assert quick[key] < full[key], key


def test_find_keeps_the_documented_order_and_rejects_unknown_names() -> None:
    assert [bench.name for bench in find_benchmarks(["audio", "index"])] == ["index", "audio"]
    assert find_benchmarks([]) == list(BENCHMARKS)
    with pytest.raises(ValueError, match="known: index, scoring, audio, training"):
        find_benchmarks(["speed"])


def test_list_names_every_benchmark() -> None:
    code, stdout, _ = run("benchmark", "--list")
    assert code == 0
    for bench in BENCHMARKS:
        assert bench.name in stdout and f"python -m abaw.cli.run_benchmark {bench.name}" in stdout


def _options_reached(row: dict) -> None:
    """The options a benchmark reports it ran with are its quick options, not its defaults."""
    bench = find_benchmarks([row["name"]])[0]
    module = importlib.import_module(bench.module)
    quick = vars(module.parse_options(list(bench.quick_args)))
    assert row["figures"]["options"] == quick
    assert quick != vars(module.parse_options([]))


def test_quick_run_prints_figures_and_writes_json(tmp_path: Path) -> None:
    report = tmp_path / "bench.json"
    code, stdout, stderr = run("benchmark", "scoring", "audio", "--quick", "--json", str(report))
    assert code == 0, stderr
    assert "abaw scoring benchmark" in stdout and "faster than one call per frame" in stdout
    payload = json.loads(report.read_text())
    assert payload["quick"] is True
    assert [(row["name"], row["status"]) for row in payload["benchmarks"]] == [("scoring", 0), ("audio", 0)]
    # The quick options reach each script: the scoring benchmark's title names its sizes ...
    assert "20 videos, 20,000 label lines" in stdout
    # ... and the audio benchmark measured a 4 s track, 10 of its 120 frame windows one by one.
    scoring, audio = payload["benchmarks"]
    assert (scoring["figures"]["videos"], scoring["figures"]["failed_checks"]) == (20, [])
    _options_reached(audio)
    assert (audio["figures"]["frames"], audio["figures"]["sampled"]) == (120, 10)
    assert round(audio["figures"]["audio_seconds"]) == 4
    assert "4 s of audio, 120 frames at 30 fps" in stdout and "(10 timed, x12.0)" in stdout


@pytest.mark.slow
def test_quick_options_reach_the_index_and_training_scripts(tmp_path: Path) -> None:
    report = tmp_path / "bench.json"
    code, stdout, stderr = run("benchmark", "index", "training", "--quick", "--json", str(report))
    assert code == 0, stderr
    index, training = json.loads(report.read_text())["benchmarks"]
    _options_reached(index)
    assert (index["figures"]["videos"], index["figures"]["lines"]) == (20, 20_000)
    assert "Dataset index, 20 videos, 20,000 label lines" in stdout
    # The training benchmark prints its own table: one row per variant asked for, on 0 workers.
    assert training["status"] == 0 and "0 workers" in stdout
    rows = [line for line in stdout.splitlines() if line.startswith("variant ")]
    assert [line.split(",")[0] for line in rows] == ["variant disc-tiny", "variant aeg-cd-sz-tiny"]


def test_unknown_benchmark_is_one_line() -> None:
    code, _, stderr = run("benchmark", "speed")
    assert code == 2 and stderr.count("\n") == 1 and "unknown benchmark" in stderr


def test_a_benchmark_run_alone_draws_its_figures(capsys) -> None:
    """``python -m abaw.cli.run_benchmark audio --seconds 1 ...``: its own options, its figures drawn."""
    assert run_benchmark(["audio", "--seconds", "1", "--sample", "2"]) == 0
    assert "1 s of audio, 30 frames at 30 fps" in capsys.readouterr().out


def test_the_script_names_the_benchmarks_and_refuses_unknown_ones(capsys) -> None:
    assert run_benchmark(["--help"]) == 0
    listed = capsys.readouterr().out
    assert all(bench.name in listed for bench in BENCHMARKS)
    assert run_benchmark([]) == 2 and "usage:" in capsys.readouterr().err
    assert run_benchmark(["speed"]) == 2 and "unknown benchmark(s) speed" in capsys.readouterr().err


def test_a_benchmark_options_usage_names_the_script(capsys) -> None:
    with pytest.raises(SystemExit) as raised:
        run_benchmark(["index", "--help"])
    assert raised.value.code == 0
    assert "usage: python -m abaw.cli.run_benchmark index" in capsys.readouterr().out


def test_the_benchmarks_never_import_the_command_line() -> None:
    """The library returns figures and the command line draws them: no import of abaw.cli, even a deferred one."""
    folder = Path(importlib.import_module("abaw.benchmarks").__file__).parent
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(name == "abaw.cli" or name.startswith("abaw.cli.") for name in names), path.name
