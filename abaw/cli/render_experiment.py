"""Rich rendering of ``abaw experiment progressive``: each arm over the seeds, beside the best row before it."""

from __future__ import annotations

from rich.table import Table

from abaw.data.layout import Split
from abaw.recipes.measures import Spread, StageSummary
from abaw.recipes.progressive import RESULTS_NAME, DatasetResult, ExperimentResult
from abaw.scoring.references import published_results


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


def _delta(value: float | None, reference: float | None) -> str:
    """``value - reference`` with its sign, ``-`` when either is missing.

    Example:
        >>> _delta(0.71, 0.7), _delta(None, 0.7)
        ('+0.010', '-')
    """
    return "-" if value is None or reference is None else f"{value - reference:+.3f}"


def _mean(spreads: dict[str, Spread] | None) -> float | None:
    return None if spreads is None else spreads["mean"].mean


def _best_before(rows: list[StageSummary], number: int) -> StageSummary | None:
    """The row above ``number`` with the highest mean CCC."""
    before = rows[:number]
    return max(before, key=lambda row: row.all_frames["mean"].mean) if before else None


def experiment_table(result: ExperimentResult) -> Table:
    """Per dataset and arm: mean CCC on all and degraded frames with the gain over the Disc and over the best row
    before it, and the generator's PSNR, mean ± std over the seeds; the published rows below."""
    settings = result.settings
    table = Table(
        title=f"Validation over training seeds {', '.join(map(str, settings.seeds))} (mean ± std), "
        f"data seed {settings.recipe.data.seed}",
        caption="CCC mean over all validation frames, then over the degraded ones only; vs Disc and vs best "
        "before: the mean's gain over the Disc and over the best row above (all frames), and over the Disc on "
        "the degraded frames; PSNR (dB) of the generator's output and of its noisy input against the clean face, "
        f"on {settings.psnr_faces} validation faces. Published rows: Aff-Wild2, not comparable.",
        title_justify="left",
        caption_justify="left",
    )
    table.add_column("data")
    table.add_column("arm")
    for column in ("CCC mean", "vs Disc", "vs best before", "degr. mean", "degr. vs Disc", "PSNR out", "PSNR in"):
        table.add_column(column, justify="right")
    for dataset in result.datasets:
        _add_dataset_rows(table, dataset)
    for row in published_results(Split.VALIDATION.value):
        cells = [f"{row.ccc_mean:.3f}", *["-"] * 6]
        table.add_row("", f"[dim]{row.name} (published)[/dim]", *[f"[dim]{cell}[/dim]" for cell in cells])
    return table


def _add_dataset_rows(table: Table, dataset: DatasetResult) -> None:
    rows = dataset.summary
    disc = rows[0]
    frames = "n/a" if dataset.degraded_frames is None else f"{dataset.degraded_frames:,} degr."
    for number, row in enumerate(rows):
        best = _best_before(rows, number)
        mean = _mean(row.all_frames)
        table.add_row(
            f"{dataset.name} ({frames})" if number == 0 else "",
            f"[bold]{row.name}[/bold]",
            spread_text(row.all_frames["mean"]),
            "" if number == 0 else _delta(mean, _mean(disc.all_frames)),
            "" if best is None else _delta(mean, _mean(best.all_frames)),
            spread_text(None if row.degraded is None else row.degraded["mean"]),
            "" if number == 0 else _delta(_mean(row.degraded), _mean(disc.degraded)),
            spread_text(row.psnr_output, 2),
            spread_text(row.psnr_noisy, 2),
        )
    table.add_section()


def seeds_table(result: ExperimentResult) -> Table:
    """Per dataset, seed and arm: mean CCC on all and degraded frames, PSNR of the output, best epoch, time, run."""
    table = Table(title=f"abaw experiment: {result.out_dir}", title_justify="left")
    for column in ("data", "seed", "arm", "CCC mean", "degr. mean", "PSNR out", "best epoch", "train s", "run"):
        table.add_column(column, justify="left" if column in ("data", "arm", "run") else "right")
    for dataset in result.datasets:
        for seed in dataset.seeds:
            for arm in seed.stages:
                table.add_row(
                    dataset.name,
                    str(seed.seed),
                    arm.name,
                    f"{arm.all_frames.ccc_mean:.3f}",
                    "n/a" if arm.degraded is None else f"{arm.degraded.ccc_mean:.3f}",
                    "n/a" if arm.psnr is None else f"{arm.psnr.output:.2f}",
                    str(arm.best_epoch),
                    f"{arm.train_seconds:.0f}",
                    str(result.out_dir / arm.run_dir),
                )
    times = ", ".join(f"{step} {value:.0f} s" for step, value in result.seconds.items())
    table.caption = f"{result.out_dir / RESULTS_NAME}; {result.device}; {times}"
    table.caption_justify = "left"
    return table
