"""Rich rendering of training: the progress of a run, its epochs, the stages of a progressive chain."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from abaw.fitting.records import Reporter
from abaw.training.progressive import StagesResult

if TYPE_CHECKING:
    from abaw.training.trainer import TrainResult

# "loss" is the temporal model's single loss; the others are the adversarial solver's terms.
LIVE_KEYS = ("D/loss", "G/loss", "D/affect", "D/gp", "G/warmup/loss", "loss")


class RichReporter(Reporter):
    """A ``rich`` progress bar with live losses per epoch, and one line per finished epoch."""

    def __init__(self, console: Console, show_progress: bool = True):
        self.console = console
        self.show_progress = show_progress
        self.progress: Progress | None = None
        self.task = None
        self.running: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def start_epoch(self, epoch: int, epochs: int, steps: int) -> None:
        self.running, self.counts = {}, {}
        if not self.show_progress:
            return
        if self.progress is None:
            self.progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[losses]}"),
                console=self.console,
                transient=True,
            )
            self.progress.start()
        if self.task is not None:
            self.progress.remove_task(self.task)
        self.task = self.progress.add_task(f"epoch {epoch}/{epochs}", total=steps, losses="")

    def step(self, losses: Mapping[str, float]) -> None:
        # G terms come once every n_critic steps, so each key keeps its own count.
        for key, value in losses.items():
            self.counts[key] = self.counts.get(key, 0) + 1
            self.running[key] = self.running.get(key, 0.0) + (value - self.running.get(key, 0.0)) / self.counts[key]
        if self.progress is not None and self.task is not None:
            shown = "  ".join(f"{key} {self.running[key]:.3f}" for key in LIVE_KEYS if key in self.running)
            self.progress.update(self.task, advance=1, losses=shown)

    def end_epoch(self, row: Mapping[str, object]) -> None:
        parts = [f"epoch {row['epoch']}"]
        for key in ("D/loss", "G/loss", "G/warmup/loss", "loss", "val/ccc_valence", "val/ccc_arousal", "val/ccc_mean"):
            if isinstance(row.get(key), float):
                parts.append(f"{key} {row[key]:.4f}")
        if row.get("best"):
            parts.append("(best)")
        parts.append(f"{row['seconds']:.0f} s")
        self.console.print("  ".join(parts), highlight=False)

    def note(self, message: str) -> None:
        # One line however long, so that a note naming a file can be grepped from a log.
        self.console.print(message, markup=False, highlight=False, soft_wrap=True)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
        # A reporter may serve several runs in a row (the demo's stages): the next one starts a fresh bar.
        self.task = None


def epochs_table(result: TrainResult) -> Table:
    """One row per epoch: losses and validation scores."""
    table = Table(title=f"{result.run_dir}")
    columns = ["epoch", "D/loss", "G/loss", "val/ccc_valence", "val/ccc_arousal", "val/ccc_mean", "seconds"]
    present = [column for column in columns if any(column in row for row in result.rows)]
    for column in present:
        table.add_column(column, justify="right")
    for row in result.rows:
        cells = []
        for column in present:
            value = row.get(column)
            cells.append("" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value))
        if row.get("best"):
            cells[0] += " *"
        table.add_row(*cells)
    if result.best_epoch is not None:
        table.caption = f"* best epoch {result.best_epoch}: {result.best}"
    else:
        table.caption = f"last: {result.last}"
    return table


def stages_table(result: StagesResult) -> Table:
    """One row per stage of a chain: its run folder, epochs, best epoch and score, training time."""
    table = Table(title=f"abaw train --stages: {result.out_dir}", title_justify="left")
    for column in ("stage", "run folder", "epochs", "best epoch", "best val/ccc_mean", "seconds"):
        table.add_column(column, justify="left" if column in ("stage", "run folder") else "right")
    for run in result.stages:
        best_ccc = "" if run.best_ccc is None else f"{run.best_ccc:.4f}"
        best_epoch = "" if run.best_epoch is None else str(run.best_epoch)
        table.add_row(
            run.stage.paper_name,
            str(result.path(run.run_dir)),
            str(run.epochs),
            best_epoch,
            best_ccc,
            f"{run.train_seconds:.0f}",
        )
    table.caption = "each stage starts from the previous stage's best.pt (last.pt without validation)"
    return table
