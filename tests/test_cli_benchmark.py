"""``abaw benchmark``: the registry of benchmark scripts and the command that runs them."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from abaw.benchmarks import BENCHMARKS, find_benchmarks
from abaw.cli import cli


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["-q", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_every_benchmark_module_is_registered() -> None:
    modules = sorted(
        path.stem for path in Path(importlib.import_module("abaw.benchmarks").__file__).parent.glob("*.py")
    )
    assert sorted(bench.name for bench in BENCHMARKS) == [name for name in modules if not name.startswith("_")]


@pytest.mark.parametrize("bench", BENCHMARKS, ids=lambda bench: bench.name)
def test_each_benchmark_has_a_main_taking_its_quick_options(bench) -> None:
    main = importlib.import_module(bench.module).main
    assert callable(main) and bench.quick_args and bench.about


def test_find_keeps_the_documented_order_and_rejects_unknown_names() -> None:
    assert [bench.name for bench in find_benchmarks(["audio", "index"])] == ["index", "audio"]
    assert find_benchmarks([]) == list(BENCHMARKS)
    with pytest.raises(ValueError, match="known: index, scoring, audio, training"):
        find_benchmarks(["speed"])


def test_list_names_every_benchmark() -> None:
    code, stdout, _ = run("benchmark", "--list")
    assert code == 0
    for bench in BENCHMARKS:
        assert bench.name in stdout and f"python -m {bench.module}" in stdout


def test_quick_run_prints_figures_and_writes_json(tmp_path: Path) -> None:
    report = tmp_path / "bench.json"
    code, stdout, stderr = run("benchmark", "scoring", "audio", "--quick", "--json", str(report))
    assert code == 0, stderr
    assert "abaw scoring benchmark" in stdout and "faster than one call per frame" in stdout
    payload = json.loads(report.read_text())
    assert payload["quick"] is True
    assert [(row["name"], row["status"]) for row in payload["benchmarks"]] == [("scoring", 0), ("audio", 0)]


def test_unknown_benchmark_is_one_line() -> None:
    code, _, stderr = run("benchmark", "speed")
    assert code == 2 and stderr.count("\n") == 1 and "unknown benchmark" in stderr
