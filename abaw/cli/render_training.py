"""Rich rendering of training: the progress of a run, its epochs, the stages of a progressive chain."""

from __future__ import annotations

from rich.table import Table

from abaw.training.progressive import StagesResult


def stages_table(result: StagesResult) -> Table:
    """One row per stage of a chain: its run folder, epochs, best epoch and score, training time."""
    table = Table(title=f"abaw train --stages: {result.out_dir}", title_justify="left")
    for column in ("stage", "run folder", "epochs", "best epoch", "best val/ccc_mean", "seconds"):
        table.add_column(column, justify="left" if column in ("stage", "run folder") else "right")
    for run in result.stages:
        best_ccc = "" if run.best_ccc is None else f"{run.best_ccc:.4f}"
        best_epoch = "" if run.best_epoch is None else str(run.best_epoch)
        table.add_row(
            run.stage.paper_name, str(run.run_dir), str(run.epochs), best_epoch, best_ccc, f"{run.train_seconds:.0f}"
        )
    table.caption = "each stage starts from the previous stage's best.pt (last.pt without validation)"
    return table
