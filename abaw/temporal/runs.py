"""The names of a temporal run: the checkpoint kind, and a kfold run's folders and files.

A kfold run folder holds::

    RUN/
      fold-1/ ... fold-K/   one run folder per fold (last.pt, best.pt, config.yaml, metrics)
      oof/                  the out-of-fold predictions, one official per-video file per entry
      summary.json          each fold's scores, the out-of-fold score, mean and spread
      skipped.json          the entries left out and why
"""

from __future__ import annotations

from pathlib import Path

from abaw.runtime.rundir import RunDir

CHECKPOINT_KIND = "temporal"
"""The ``kind`` of a temporal checkpoint (per-frame checkpoints have none)."""

OOF_DIR = "oof"
SUMMARY = "summary.json"


def fold_dir(run: Path, fold: int) -> RunDir:
    """``RUN/fold-k``: the run folder of fold ``k`` (from 1) of a kfold run."""
    return RunDir(Path(run) / f"fold-{fold}")


def fold_dirs(run: Path) -> list[RunDir]:
    """The fold folders of a kfold run, in fold order (none for another run)."""
    found = [path for path in Path(run).glob("fold-*") if path.is_dir() and path.name[5:].isdigit()]
    return [RunDir(path) for path in sorted(found, key=lambda path: int(path.name[5:]))]
