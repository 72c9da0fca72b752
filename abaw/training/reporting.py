"""How a training run shows itself: a live progress bar with losses, a line per epoch, metric files.

The trainer calls a :class:`Reporter`; the command line passes a
:class:`RichReporter`, tests and other ranks the silent :class:`Reporter`.
Epoch metrics always go to ``metrics.jsonl`` and ``metrics.csv`` in the run
folder (appended atomically, rewritten whole), and to TensorBoard when asked.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from abaw.errors import AbawError
from abaw.fileio import atomic_write_text
from abaw.runtime.rundir import RunDir

if TYPE_CHECKING:
    from abaw.training.trainer import TrainResult

LIVE_KEYS = ("D/loss", "G/loss", "D/affect", "D/gp")


class Reporter:
    """Silent reporter: the interface the trainer calls."""

    def start_epoch(self, epoch: int, epochs: int, steps: int) -> None:
        """An epoch (1-based) of ``steps`` iterations begins."""

    def step(self, losses: Mapping[str, float]) -> None:
        """One iteration ended with ``losses``."""

    def end_epoch(self, row: Mapping[str, object]) -> None:
        """An epoch ended; ``row`` is its metrics line."""

    def note(self, message: str) -> None:
        """Something worth telling the user."""

    def close(self) -> None:
        """The run ended (or failed)."""


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
        for key in ("D/loss", "G/loss", "val/ccc_valence", "val/ccc_arousal", "val/ccc_mean"):
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


class MetricsLog:
    """Per-epoch metrics as JSON lines and CSV in the run folder, kept across resumes.

    Both files are rewritten whole and atomically after each epoch; rows of
    epochs past the one a run resumes from are dropped (they belong to the
    interrupted attempt).
    """

    def __init__(self, run_dir: Path, resume_epoch: int = 0):
        self.jsonl = RunDir(run_dir).metrics_jsonl
        self.csv = RunDir(run_dir).metrics_csv
        self.rows: list[dict[str, object]] = []
        if resume_epoch and self.jsonl.is_file():
            for line in self.jsonl.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    row = json.loads(line)
                    if int(row.get("epoch", 0)) <= resume_epoch:
                        self.rows.append(row)

    def append(self, row: dict[str, object]) -> None:
        """Add an epoch's row and rewrite both files."""
        self.rows.append(row)
        atomic_write_text(self.jsonl, "".join(json.dumps(item) + "\n" for item in self.rows), force=True)
        columns = list(dict.fromkeys(key for item in self.rows for key in item))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_text(self.csv, buffer.getvalue(), force=True)


class TensorBoardLog:
    """Scalars to TensorBoard (``RUN_DIR/tensorboard``), when the ``tensorboard`` package is installed."""

    def __init__(self, run_dir: Path):
        self.writer = self.summary_writer_class()(str(run_dir / "tensorboard"))

    @staticmethod
    def summary_writer_class() -> type:
        """torch's ``SummaryWriter``, or a one-line error saying how to install TensorBoard.

        Raises:
            AbawError: when the ``tensorboard`` package is missing.
        """
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as error:
            raise AbawError(f"--tensorboard needs TensorBoard ({error}); pip install 'abaw[tensorboard]'") from None
        return SummaryWriter

    def log(self, row: Mapping[str, object], epoch: int) -> None:
        """Every numeric value of ``row`` at step ``epoch``."""
        for key, value in row.items():
            if isinstance(value, int | float) and not isinstance(value, bool) and key != "epoch":
                self.writer.add_scalar(key, value, epoch)
        self.writer.flush()

    def close(self) -> None:
        """Flush and close the event file."""
        self.writer.close()


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
