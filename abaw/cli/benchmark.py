"""``abaw benchmark``: run every benchmark (or those named) and print their figures.

Each benchmark's module (several import torch) is imported only when it runs.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
from rich.rule import Rule

from abaw.cli.context import EXIT_CHECK_FAILED, CliContext, pass_cli_context
from abaw.cli.options import json_option, refuse_json_overwrite, write_json
from abaw.errors import AbawError


@click.command(name="benchmark")
@click.argument("names", nargs=-1)
@click.option("--quick", is_flag=True, help="Small sizes: checks the scripts run in seconds (figures not comparable).")
@click.option("--list", "list_only", is_flag=True, help="List the benchmarks and exit.")
@json_option
@pass_cli_context
def benchmark_command(
    cli: CliContext, names: tuple[str, ...], quick: bool, list_only: bool, json_path: Path | None, force: bool
) -> None:
    """Run the benchmark scripts (all, or NAMES) one after the other and print their figures.

    Full size takes several minutes on a 2-core CPU. Exits 1 when a script
    reports a failed check.
    """
    # Imported here: abaw --help lists this command without loading the benchmarks.
    from abaw.benchmarks import BENCHMARKS, find_benchmarks
    from abaw.cli.render_benchmarks import benchmark_list_table, benchmark_summary_table, print_figures

    try:
        chosen = find_benchmarks(names)
    except ValueError as error:
        raise AbawError(str(error)) from None
    if list_only:
        cli.console.print(benchmark_list_table(BENCHMARKS))
        return
    refuse_json_overwrite(json_path, force)
    runs = []
    for bench in chosen:
        cli.console.print(Rule(f"{bench.name}: {bench.about}"))
        run = bench.run(quick=quick, progress=cli.progress)
        print_figures(cli.console, run.name, run.figures)
        runs.append(run)
    cli.console.print(benchmark_summary_table(runs, quick))
    results = [
        {
            "name": run.name,
            "seconds": round(run.seconds, 1),
            "status": run.status,
            "figures": figures_json(run.figures),
        }
        for run in runs
    ]
    write_json(json_path, {"quick": quick, "benchmarks": results}, force)
    if any(run.status for run in runs):
        raise SystemExit(EXIT_CHECK_FAILED)


def figures_json(figures: Any) -> dict[str, Any]:
    """A benchmark's figures as JSON: their ``to_dict()`` where they have one, else every field."""
    return figures.to_dict() if hasattr(figures, "to_dict") else asdict(figures)
