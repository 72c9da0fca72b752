"""Rich tables of ``abaw predict-test`` and ``abaw plot``: the library returns dataclasses, they are drawn here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

if TYPE_CHECKING:  # both import torch; drawing their results should not
    from abaw.plots.run import PlotReport
    from abaw.prediction.ensemble import MemberRecord
    from abaw.prediction.predict import TestSubmission


def members_table(members: list[MemberRecord]) -> Table:
    """The models that predicted: one row each, with kind, weight, protocol, epoch and fingerprint."""
    table = Table(title=f"Models ({len(members)})", title_justify="left")
    for column in ("checkpoint", "kind", "variant", "weight", "protocol", "epoch", "SHA-256"):
        table.add_column(column, overflow="fold", justify="right" if column in ("weight", "epoch") else "left")
    for member in members:
        protocol = member.protocol or "-"
        if member.fold is not None:
            protocol = f"{protocol} (fold {member.fold})"
        table.add_row(
            str(member.checkpoint),
            member.kind,
            member.variant,
            f"{member.weight:.3f}",
            protocol,
            str(member.epoch),
            member.sha256[:12],
        )
    return table


def submission_table(result: TestSubmission, title: str) -> Table:
    """What ``abaw predict-test`` wrote and whether the check passed, one row per fact."""
    table = Table(title=title, show_header=False)
    table.add_column("")
    table.add_column("")
    check = "[green]passed[/green]" if result.report.ok else f"[red]{result.report.problem_count} problems[/red]"
    counts = result.frame_counts
    for label, value in (
        ("format", result.format.value),
        ("videos", str(result.videos)),
        ("frames predicted (rest filled)", str(result.frames)),
        ("prediction lines", str(result.report.lines)),
        *((("frame-count rule", counts.rule_description), ("counts from", counts.summary())) if counts else ()),
        ("files", str(result.files)),
        ("zip", str(result.zip_path)),
        ("check", check),
        *([("written", "[red]no: the previous submission is kept[/red]")] if result.kept_previous else []),
    ):
        table.add_row(label, value)
    return table


def figures_table(report: PlotReport, title: str) -> Table:
    """One row per file ``abaw plot`` wrote: figure kind, file, what it shows."""
    table = Table(title=title)
    table.add_column("figure")
    table.add_column("file", overflow="fold")
    table.add_column("shows")
    for figure in report.figures:
        table.add_row(figure.kind, str(figure.path), figure.shows)
    return table
