"""Rich rendering of ``abaw demo``: the validation scores shaped like the paper's Table II, and where it wrote."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from abaw.cli.render_scoring import comparison_table
from abaw.data.layout import Split
from abaw.demo import RESULTS_NAME, DemoResult
from abaw.scoring.metrics import AffectScores
from abaw.scoring.references import published_results


def demo_table(result: DemoResult) -> Table:
    """The paper's Table II shape: MSE, PCC and CCC per stage, each beside its published row."""
    published = {row.name: row for row in published_results(Split.VALIDATION.value)}
    rows: list[tuple[str, AffectScores | None, Any]] = []
    for trained in result.stages:
        rows.append((f"{trained.stage.paper_name} (this run)", trained.scores, None))
        reference = published.pop(trained.stage.published_name, None)
        if reference is not None:
            rows.append((f"{reference.name} (published)", None, reference))
    rows.extend((f"{row.name} (published)", None, row) for row in published.values())
    return comparison_table(
        "Validation, shaped like the paper's Table II: this run on the demo data, published rows on Aff-Wild2",
        rows,
        caption="The demo data is synthetic and far easier than Aff-Wild2: its scores show that the pipeline "
        "learns, they are not comparable to the published ones (which give CCC only).",
    )


def demo_outputs_table(result: DemoResult) -> Table:
    """Where everything went and how long each step took."""
    table = Table(title=f"abaw demo: {result.out_dir}", show_header=False, title_justify="left")
    table.add_column("")
    table.add_column("")
    reused = " (reused)" if result.data_reused else ""
    table.add_row("dataset", f"{result.data_dir}{reused}")
    for trained in result.stages:
        table.add_row(f"{trained.stage.paper_name} run", f"{trained.run_dir} (best epoch {trained.best_epoch})")
        table.add_row(f"{trained.stage.paper_name} validation", str(trained.predictions))
    check = "[green]check passed[/green]" if result.submission_ok else "[red]check failed[/red]"
    table.add_row("test submission", f"{result.submission} ({check})")
    table.add_row("figures", f"{len(result.plots)} PNG files in {result.out_dir / 'plots'}")
    table.add_row("results", str(result.out_dir / RESULTS_NAME))
    table.add_row("device", result.device)
    if result.speed is not None:
        table.add_row("training speed", result.speed.summary().removeprefix("training speed: "))
    table.add_row("time", result.time_summary())
    return table
