"""The run folder of ``abaw train``: every file name in it, and the rules for starting, resuming and reading one.

A run folder holds::

    RUN/
      .abaw-output.json   the output marker (see abaw.outputs)
      config.yaml         the resolved settings
      class_weights.json  the affect-loss weights of the trained frames
      skipped.json        the entries skipped and why
      last.pt             the checkpoint of the last finished epoch (what --resume continues)
      best.pt             the best validation epoch (val protocol only)
      metrics.jsonl       one row per epoch, and the same rows as metrics.csv

A kfold run of ``abaw temporal train`` holds one such folder per fold, and
the folds' results::

    RUN/
      fold-1/ ... fold-K/   one run folder per fold
      oof/                  the out-of-fold predictions, one official per-video file per entry
      summary.json          each fold's scores, the out-of-fold score, mean and spread
      skipped.json          the entries left out and why

A run that replaces an earlier one with ``--force`` is built in
``RUN.partial`` and moved onto ``RUN`` only when it ends
(:func:`abaw.outputs.staged_output` with :attr:`~abaw.outputs.Staging.RUN`);
``--resume`` continues that unfinished replacement when it has a ``last.pt``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from abaw.errors import CheckpointError
from abaw.outputs import staging_dir


@dataclass(frozen=True)
class RunDir:
    """A run folder (it need not exist yet) and the names of what it holds.

    Attributes:
        path: The folder.

    Example:
        >>> run = RunDir(Path("runs/aeg-cd"))
        >>> str(run.last), str(run.staging.path)
        ('runs/aeg-cd/last.pt', 'runs/aeg-cd.partial')
    """

    LAST: ClassVar[str] = "last.pt"
    BEST: ClassVar[str] = "best.pt"
    CONFIG: ClassVar[str] = "config.yaml"
    CLASS_WEIGHTS: ClassVar[str] = "class_weights.json"
    SKIPPED: ClassVar[str] = "skipped.json"
    METRICS_JSONL: ClassVar[str] = "metrics.jsonl"
    METRICS_CSV: ClassVar[str] = "metrics.csv"
    SUMMARY: ClassVar[str] = "summary.json"
    OOF: ClassVar[str] = "oof"

    path: Path

    def __init__(self, path: str | os.PathLike) -> None:
        object.__setattr__(self, "path", Path(path))

    @property
    def last(self) -> Path:
        """``last.pt``: the last finished epoch, with everything ``--resume`` needs."""
        return self.path / self.LAST

    @property
    def best(self) -> Path:
        """``best.pt``: the best validation epoch so far (val protocol)."""
        return self.path / self.BEST

    @property
    def config(self) -> Path:
        """``config.yaml``: the run's resolved settings."""
        return self.path / self.CONFIG

    @property
    def class_weights(self) -> Path:
        """``class_weights.json``: the affect-loss weights and the number of frames they came from."""
        return self.path / self.CLASS_WEIGHTS

    @property
    def skipped(self) -> Path:
        """``skipped.json``: the entries the run could not train or score on, with the reasons."""
        return self.path / self.SKIPPED

    @property
    def metrics_jsonl(self) -> Path:
        """``metrics.jsonl``: one JSON row per epoch."""
        return self.path / self.METRICS_JSONL

    @property
    def metrics_csv(self) -> Path:
        """``metrics.csv``: the rows of ``metrics.jsonl`` as a table."""
        return self.path / self.METRICS_CSV

    @property
    def summary(self) -> Path:
        """``summary.json``: a kfold run's folds and out-of-fold scores."""
        return self.path / self.SUMMARY

    @property
    def oof(self) -> Path:
        """``oof/``: a kfold run's out-of-fold prediction files."""
        return self.path / self.OOF

    @property
    def staging(self) -> RunDir:
        """``RUN.partial``: where a run replacing this one is built until it ends."""
        return RunDir(staging_dir(self.path))

    def best_or_last(self) -> Path | None:
        """``best.pt`` when there is one, else ``last.pt`` when there is one, else ``None``."""
        for checkpoint in (self.best, self.last):
            if checkpoint.is_file():
                return checkpoint
        return None

    def resumed(self) -> RunDir:
        """The folder ``--resume`` continues: the unfinished replacement ``RUN.partial`` if it has a ``last.pt``."""
        staging = self.staging
        return staging if staging.last.is_file() else self

    def resume_checkpoint(self) -> Path:
        """The ``last.pt`` that ``--resume`` continues from (see :meth:`resumed`).

        Raises:
            CheckpointError: "nothing to resume", naming this folder, when there is none.
        """
        last = self.resumed().last
        if not last.is_file():
            raise CheckpointError(f"nothing to resume: no {self.LAST} here", path=self.path)
        return last

    def folds(self) -> list[RunDir]:
        """The fold folders ``fold-1`` ... ``fold-K`` of a kfold run, in fold order (none for another run)."""
        found = [RunDir(path) for path in self.path.glob("fold-*") if path.is_dir() and path.name[5:].isdigit()]
        return sorted(found, key=lambda fold: fold.fold_number)

    @property
    def fold_number(self) -> int:
        """``k`` of a fold's folder ``fold-k``.

        Example:
            >>> RunDir("runs/temporal/fold-3").fold_number
            3
        """
        return int(self.path.name.removeprefix("fold-"))

    def fold(self, number: int) -> RunDir:
        """``RUN/fold-k``: the run folder of fold ``k`` (from 1) of a kfold run."""
        return RunDir(self.path / f"fold-{number}")

    @staticmethod
    def has_progress(folder: Path) -> bool:
        """Whether ``folder`` holds a finished epoch to resume: its ``last.pt``, or a fold's."""
        run = RunDir(folder)
        return run.last.is_file() or any(fold.last.is_file() for fold in run.folds())


def resolve_checkpoint(path: str | os.PathLike) -> Path:
    """The checkpoint file itself, or in a run folder its ``best.pt``, else its ``last.pt``.

    Raises:
        CheckpointError: when nothing is there to load.
    """
    path = Path(path)
    if path.is_dir():
        found = RunDir(path).best_or_last()
        if found is None:
            stages = sorted(child.name for child in path.iterdir() if child.is_dir() and RunDir(child).best_or_last())
            if stages:
                raise CheckpointError(
                    f"no {RunDir.BEST} or {RunDir.LAST} in this folder, but in its run folders {', '.join(stages)} "
                    f"(a chain of abaw train --stages?): give one of them, e.g. {path / stages[-1]}",
                    path=path,
                )
            raise CheckpointError(f"no {RunDir.BEST} or {RunDir.LAST} in this run folder", path=path)
        return found
    if not path.is_file():
        raise CheckpointError("checkpoint not found", path=path)
    return path
