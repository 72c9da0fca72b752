"""The table of ``python -m abaw.benchmarks.training``: the library measures, the command line draws."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from abaw.benchmarks.training import COLUMNS, VariantSpeed


def training_speed_table(results: Sequence[VariantSpeed], title: str, peaks: bool) -> Table:
    """One row per variant: frames/s, then peak memory when ``peaks`` (measured on CUDA only)."""
    table = Table(title=title)
    for column in COLUMNS if peaks else COLUMNS[:-2]:
        table.add_column(column, justify="right")
    for speed in results:
        table.add_row(*speed.cells(peaks))
    return table
