"""Rich rendering of ``abaw experiment progressive``: each stage over the seeds, beside the published rows."""

from __future__ import annotations

from rich.table import Table

from abaw.data.layout import Split
from abaw.recipes.measures import Spread
from abaw.recipes.progressive import RESULTS_NAME, ExperimentResult
from abaw.scoring.references import published_results

_CCC = ("valence", "arousal", "mean")


def spread_text(spread: Spread | None, digits: int = 3) -> str:
    """``mean ± std`` (``mean`` alone for one seed, ``n/a`` for nothing measured).

    Example:
        >>> spread_text(Spread.of([0.5, 0.7])), spread_text(Spread.of([20.0]), 1), spread_text(None)
        ('0.600 ± 0.141', '20.0', 'n/a')
    """
    if spread is None:
        return "n/a"
    if spread.std is None:
        return f"{spread.mean:.{digits}f}"
    return f"{spread.mean:.{digits}f} ± {spread.std:.{digits}f}"


def experiment_table(result: ExperimentResult) -> Table:
    """Per stage: CCC on all and on degraded validation frames, and the generator's PSNR, mean ± std over seeds."""
    seeds = ", ".join(map(str, result.settings.seeds))
    degraded = "n/a" if result.degraded_frames is None else f"{result.degraded_frames:,} frames"
    table = Table(
        title=f"Validation over training seeds {seeds} (mean ± std), data seed {result.settings.recipe.data.seed}",
        caption="CCC over all validation frames, then over the degraded ones only "
        f"({degraded}); PSNR (dB) of the generator's output and of its noisy input against the clean face, "
        f"on {result.settings.psnr_faces} validation faces. Published rows: Aff-Wild2, not comparable.",
        title_justify="left",
        caption_justify="left",
    )
    table.add_column("stage")
    for column in ("CCC V", "CCC A", "CCC mean", "degr. V", "degr. A", "degr. mean", "PSNR out", "PSNR noisy"):
        table.add_column(column, justify="right")
    published = {row.name: row for row in published_results(Split.VALIDATION.value)}
    for stage in result.summary:
        degraded_cells = [spread_text(stage.degraded[key] if stage.degraded else None) for key in _CCC]
        table.add_row(
            f"[bold]{stage.stage.paper_name}[/bold]",
            *[spread_text(stage.all_frames[key]) for key in _CCC],
            *degraded_cells,
            spread_text(stage.psnr_output, 2),
            spread_text(stage.psnr_noisy, 2),
        )
    for row in published.values():
        cells = [f"{row.ccc_valence:.3f}", f"{row.ccc_arousal:.3f}", f"{row.ccc_mean:.3f}"] + ["-"] * 5
        table.add_row(f"[dim]{row.name} (published)[/dim]", *[f"[dim]{cell}[/dim]" for cell in cells])
    return table


def seeds_table(result: ExperimentResult) -> Table:
    """Per seed and stage: mean CCC on all and degraded frames, PSNR of the output, best epoch and training time."""
    table = Table(title=f"abaw experiment: {result.out_dir}", title_justify="left")
    for column in ("seed", "stage", "CCC mean", "degr. mean", "PSNR out", "best epoch", "train s", "run"):
        table.add_column(column, justify="left" if column in ("stage", "run") else "right")
    for seed in result.seeds:
        for stage in seed.stages:
            table.add_row(
                str(seed.seed),
                stage.stage.paper_name,
                f"{stage.all_frames.ccc_mean:.3f}",
                "n/a" if stage.degraded is None else f"{stage.degraded.ccc_mean:.3f}",
                "n/a" if stage.psnr is None else f"{stage.psnr.output:.2f}",
                str(stage.best_epoch),
                f"{stage.train_seconds:.0f}",
                str(result.out_dir / stage.run_dir),
            )
    times = ", ".join(f"{step} {value:.0f} s" for step, value in result.seconds.items())
    table.caption = f"{result.out_dir / RESULTS_NAME}; {result.device}; {times}"
    table.caption_justify = "left"
    return table
