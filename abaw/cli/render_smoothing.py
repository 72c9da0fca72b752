"""The smoothing search as a table: each dimension's best filter, beside the unsmoothed score."""

from __future__ import annotations

from rich.table import Table

from abaw.prediction.smoothing import DIMENSIONS, SmoothingSearch


def smoothing_table(result: SmoothingSearch) -> Table:
    """One row per dimension and one for the mean: filter, window, CCC before and after, and the gain."""
    plan = result.plan
    table = Table(
        title=f"Smoothing chosen on {plan.split or 'a labelled split'} "
        f"({result.videos} videos, {result.frames:,} annotated frames, {len(result.candidates)} filters tried)",
        title_justify="left",
    )
    for column in ("dimension", "filter", "window", "CCC before", "CCC after", "gain"):
        table.add_column(column, justify="left" if column in ("dimension", "filter") else "right")
    for name, choice in zip(DIMENSIONS, plan.dimensions, strict=True):
        table.add_row(
            name,
            choice.filter.value if choice.window > 1 else "none",
            str(choice.window),
            f"{choice.ccc_before:.4f}",
            f"{choice.ccc_after:.4f}",
            f"{choice.gain:+.4f}",
        )
    table.add_row("[bold]mean[/bold]", "", "", f"{plan.ccc_before:.4f}", f"{plan.ccc_after:.4f}", f"{plan.gain:+.4f}")
    return table
