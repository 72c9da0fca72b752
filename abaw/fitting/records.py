"""What a training run records and shows: epoch rows, the best epoch, metric files, skipped entries, the reporter.

Both trainers (:mod:`abaw.training`, :mod:`abaw.temporal`) call a
:class:`Reporter`; the command line passes
:class:`abaw.cli.render_training.RichReporter` (a progress bar with live
losses, a line per epoch), tests and other ranks the silent :class:`Reporter`.
Epoch metrics always go to ``metrics.jsonl`` and ``metrics.csv`` in the run
folder (appended atomically, rewritten whole), and to TensorBoard when asked;
the entries a run left out go to ``skipped.json``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from abaw.data.entries import SkippedEntry
from abaw.errors import AbawError
from abaw.fileio import atomic_write_json, atomic_write_text
from abaw.runtime.rundir import RunDir
from abaw.scoring.metrics import AffectScores


@dataclass
class EpochRow:
    """One epoch's metrics: a line of ``metrics.jsonl`` once :meth:`to_dict` is applied.

    Attributes:
        epoch: The epoch (from 1).
        iteration: Iterations completed after it.
        losses: Each loss term averaged over the epoch's steps and the ranks.
        validation: The validation scores (when the run scores a held-out split), written ``val/NAME``.
        best: Whether this epoch became ``best.pt``.
        seconds: Wall time of the epoch, validation included.

    Example:
        >>> EpochRow(2, 36, {"loss": 0.5}, {"ccc_mean": 0.4}, best=True, seconds=3.0).to_dict()
        {'epoch': 2, 'iteration': 36, 'loss': 0.5, 'val/ccc_mean': 0.4, 'best': True, 'seconds': 3.0}
    """

    epoch: int
    iteration: int
    losses: dict[str, float]
    validation: dict[str, float] = field(default_factory=dict)
    best: bool = False
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The row as written: epoch, iteration, losses, ``val/...``, ``best`` (only when true), seconds."""
        row: dict[str, Any] = {"epoch": self.epoch, "iteration": self.iteration, **self.losses}
        row.update({f"val/{key}": value for key, value in self.validation.items()})
        if self.best:
            row["best"] = True
        row["seconds"] = self.seconds
        return row


def scores_of_row(row: Mapping[str, Any]) -> AffectScores:
    """The validation scores a metrics row holds as ``val/NAME``.

    Example:
        >>> scores = AffectScores(0.6, 0.4, 0.7, 0.5, 0.1, 0.2, 0.3, 0.4, 10)
        >>> scores_of_row(EpochRow(1, 1, {}, scores.to_dict()).to_dict()) == scores
        True
    """
    return AffectScores(**{name: row[f"val/{name}"] for name in AffectScores.__dataclass_fields__})


@dataclass
class BestScore:
    """The best validation epoch so far; stored in every checkpoint as ``best``.

    Attributes:
        epoch: The epoch of ``best.pt``, ``None`` before the first scored epoch.
        ccc_mean: Its mean CCC.

    Example:
        >>> best = BestScore()
        >>> best.update(1, 0.3), best.update(2, 0.2), best.update(3, 0.5), best.epoch
        (True, False, True, 3)
    """

    epoch: int | None = None
    ccc_mean: float | None = None

    def update(self, epoch: int, ccc_mean: float) -> bool:
        """Take ``epoch`` as the best if it scores higher (or is the first scored); whether it did."""
        if self.ccc_mean is not None and not ccc_mean > self.ccc_mean:
            return False
        self.epoch, self.ccc_mean = epoch, float(ccc_mean)
        return True

    def to_dict(self) -> dict[str, Any]:
        """The checkpoint's ``best`` entry."""
        return {"epoch": self.epoch, "ccc_mean": self.ccc_mean}

    @classmethod
    def from_dict(cls, stored: dict[str, Any] | None) -> BestScore:
        """Read a checkpoint's ``best`` entry (absent: nothing scored yet)."""
        stored = stored or {}
        return cls(stored.get("epoch"), stored.get("ccc_mean"))


def write_skipped(run_dir: Path, skipped: Sequence[SkippedEntry]) -> None:
    """List the skipped entries and their reasons in ``run_dir/skipped.json`` (atomically)."""
    payload = {"skipped": [entry.to_dict() for entry in skipped]}
    atomic_write_json(RunDir(run_dir).skipped, payload, force=True)


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
