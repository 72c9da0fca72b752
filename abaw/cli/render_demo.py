"""Rich rendering of ``abaw demo``: the validation scores shaped like the paper's Table II, and where it wrote."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.table import Table

from abaw.cli.render_scoring import comparison_table
from abaw.data.layout import Split
from abaw.recipes.demo import RESULTS_NAME, DemoResult
from abaw.scoring.metrics import AffectScores
from abaw.scoring.references import published_results

if TYPE_CHECKING:
    from abaw.prediction.smoothing import SmoothingPlan


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
        run_dir, temporal = result.path(result.temporal.run_dir), result.temporal
        how = f"best epoch {temporal.best_epoch}"
        if temporal.best_epoch is None:
            how = f"{temporal.protocol}: by video folds, scored out of fold"
        table.add_row("Temporal run", f"{run_dir} ({how})")
        table.add_row("Temporal validation", str(result.path(result.temporal.predictions)))
    check = "[green]check passed[/green]" if result.submission_ok else "[red]check failed[/red]"
    submission = "none" if result.submission is None else result.path(result.submission)
    chosen = "" if result.submitted is None else f", from {result.submitted.name}"
    table.add_row("test submission", f"{submission} ({check}{chosen})")
    table.add_row("figures", f"{len(result.plots)} PNG files in {result.out_dir / 'plots'}")
    table.add_row("results", str(result.out_dir / RESULTS_NAME))
    table.add_row("device", result.device)
    if result.speed is not None:
        table.add_row("training speed", result.speed.summary().removeprefix("training speed: "))
    table.add_row("time", result.time_summary())
    return table


def stages_table(result: DemoResult) -> Table | None:
    """Beyond the paper: every stage, per frame and temporal, against the best stage before it, and what was submitted.

    ``None`` before any stage was scored.
    """
    if not result.stages:
        return None
    table = Table(
        title="Each stage against the best before it (validation, this run)",
        caption="Smoothing: the best filter per dimension. The smoothing and the submitted model are chosen on "
        "Validation itself, so their scores are an upper bound of what they give on unseen videos.",
    )
    columns = ("model", "CCC valence", "CCC arousal", "CCC mean", "against the best before", "smoothed", "filters")
    numbers = ("CCC valence", "CCC arousal", "CCC mean", "smoothed")
    for column in columns:
        table.add_column(column, justify="right" if column in numbers else "left")
    rows: list[tuple[str, AffectScores, SmoothingPlan | None]] = [
        (f"{stage.stage.paper_name} (per frame)", stage.scores, stage.smoothing) for stage in result.stages
    ]
    if result.temporal is not None:
        features = " + ".join(result.temporal.features)
        rows.append((f"Temporal over {features}", result.temporal.scores, result.temporal.smoothing))
    best: tuple[str, float] | None = None
    for name, scores, plan in rows:
        against = "" if best is None else f"{scores.ccc_mean - best[1]:+.3f} ({best[0]})"
        smoothed = "" if plan is None else f"{plan.ccc_after:.3f} ({plan.gain:+.3f})"
        filters = "" if plan is None else ", ".join(f"{dim.filter.value} {dim.window}" for dim in plan.dimensions)
        table.add_row(
            name,
            f"{scores.ccc_valence:.3f}",
            f"{scores.ccc_arousal:.3f}",
            f"{scores.ccc_mean:.3f}",
            against,
            smoothed,
            filters,
        )
        if best is None or scores.ccc_mean > best[1]:
            best = (name.removesuffix(" (per frame)"), scores.ccc_mean)
    ensemble = next((candidate for candidate in result.candidates if len(candidate.checkpoints) > 1), None)
    if ensemble is not None and best is not None:
        against = f"{ensemble.ccc_mean - best[1]:+.3f} ({best[0]})"
        table.add_row(f"{ensemble.name} (averaged)", "", "", f"{ensemble.ccc_mean:.3f}", against, "", "")
    if result.submitted is not None:
        table.add_row(f"submitted: {result.submitted.name}", "", "", f"{result.submitted.ccc_mean:.3f}", "", "", "")
    return table
