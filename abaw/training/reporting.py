"""How a training run shows itself: the reporter it calls, and its metric files.

The trainer calls a :class:`Reporter`; the command line passes
:class:`abaw.cli.render_training.RichReporter` (a progress bar with live
losses, a line per epoch), tests and other ranks the silent :class:`Reporter`.
Epoch metrics always go to ``metrics.jsonl`` and ``metrics.csv`` in the run
folder (appended atomically, rewritten whole), and to TensorBoard when asked.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from pathlib import Path

from abaw.errors import AbawError
from abaw.fileio import atomic_write_text
from abaw.runtime.rundir import RunDir


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
