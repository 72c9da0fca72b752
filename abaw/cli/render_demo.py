"""Rich rendering of ``abaw demo``: the validation scores shaped like the paper's Table II, and where it wrote."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from abaw.cli.render_scoring import comparison_table
from abaw.data.layout import Split
from abaw.recipes.demo import RESULTS_NAME, DemoResult
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
        run_dir = result.path(trained.run_dir)
        table.add_row(f"{trained.stage.paper_name} run", f"{run_dir} (best epoch {trained.best_epoch})")
        table.add_row(f"{trained.stage.paper_name} validation", str(result.path(trained.predictions)))
    if result.temporal is not None:
        run_dir = result.path(result.temporal.run_dir)
        table.add_row("Temporal run", f"{run_dir} (best epoch {result.temporal.best_epoch})")
        table.add_row("Temporal validation", str(result.path(result.temporal.predictions)))
    check = "[green]check passed[/green]" if result.submission_ok else "[red]check failed[/red]"
    submission = "none" if result.submission is None else result.path(result.submission)
    table.add_row("test submission", f"{submission} ({check})")
    table.add_row("figures", f"{len(result.plots)} PNG files in {result.out_dir / 'plots'}")
    table.add_row("results", str(result.out_dir / RESULTS_NAME))
    table.add_row("device", result.device)
    if result.speed is not None:
        table.add_row("training speed", result.speed.summary().removeprefix("training speed: "))
    table.add_row("time", result.time_summary())
    return table


def temporal_table(result: DemoResult) -> Table | None:
    """The row after Table II: the temporal model over the last stage's embeddings, and the smoothing gains.

    ``None`` when the demo ran without a temporal stage.
    """
    stage = result.temporal
    if stage is None:
        return None
    table = Table(
        title="Beyond the paper: a temporal model over the ALN's embeddings (validation, this run)",
        caption="Smoothing: the best filter per dimension, chosen and scored on Validation itself "
        "(an upper bound of its gain on unseen data).",
    )
    for column in ("model", "CCC valence", "CCC arousal", "CCC mean", "smoothed", "smoothing gain", "filters"):
        table.add_column(column, justify="left" if column in ("model", "filters") else "right")
    features = " + ".join(stage.features)
    rows = [
        (f"{stage.base} (per frame)", stage.base_scores, stage.base_smoothing),
        (f"Temporal over {features}", stage.scores, stage.smoothing),
    ]
    for name, scores, plan in rows:
        filters = ", ".join(f"{dim.filter.value} {dim.window}" for dim in plan.dimensions)
        table.add_row(
            name,
            f"{scores.ccc_valence:.3f}",
            f"{scores.ccc_arousal:.3f}",
            f"{scores.ccc_mean:.3f}",
            f"{plan.ccc_after:.3f}",
            f"{plan.gain:+.3f}",
            filters,
        )
    table.add_row(f"temporal - {stage.base}", "", "", f"{stage.gain:+.3f}", "", "", f"best epoch {stage.best_epoch}")
    return table
