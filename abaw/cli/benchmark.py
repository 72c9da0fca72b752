"""``abaw benchmark``: run every benchmark script (or those named) and print their figures."""

from __future__ import annotations

from pathlib import Path

import click
from rich.rule import Rule
from rich.table import Table

from abaw.benchmarks import BENCHMARKS, find_benchmarks
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
    try:
        chosen = find_benchmarks(names)
    except ValueError as error:
        raise AbawError(str(error)) from None
    if list_only:
        table = Table(title="Benchmarks")
        for column in ("name", "measures", "run alone"):
            table.add_column(column)
        for bench in BENCHMARKS:
            table.add_row(bench.name, bench.about, f"python -m {bench.module}")
        cli.console.print(table)
        return
    refuse_json_overwrite(json_path, force)
    summary = Table(title="Benchmarks run" + (" (--quick: small sizes)" if quick else ""))
    for column in ("name", "seconds", "status"):
        summary.add_column(column, justify="right" if column == "seconds" else "left")
    results = []
    for bench in chosen:
        cli.console.print(Rule(f"{bench.name}: {bench.about}"))
        run = bench.run(quick=quick)
        results.append({"name": run.name, "seconds": round(run.seconds, 1), "status": run.status})
        status = "ok" if run.status == 0 else f"[red]failed ({run.status})[/red]"
        summary.add_row(run.name, f"{run.seconds:.1f}", status)
    cli.console.print(summary)
    write_json(json_path, {"quick": quick, "benchmarks": results}, force)
    if any(result["status"] for result in results):
        raise SystemExit(EXIT_CHECK_FAILED)
