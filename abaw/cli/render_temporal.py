"""Rich rendering of ``abaw temporal train``: the epochs of a val or final run, the folds of a kfold run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

if TYPE_CHECKING:
    from abaw.temporal.trainer import TemporalResult

EPOCH_COLUMNS = (
    "epoch",
    "loss",
    "cv/ccc_mean",
    "val/ccc_valence",
    "val/ccc_arousal",
    "val/ccc_mean",
    "seconds",
)


def _cell(value: object) -> str:
    return "" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def temporal_table(result: TemporalResult) -> Table:
    """Epochs (val, final) or folds with the out-of-fold score and the folds' spread (kfold)."""
    table = Table(
        title=f"abaw temporal train --protocol {result.protocol.value}: {result.run_dir}", title_justify="left"
    )
    if result.folds:
        for column in ("fold", "entries", "best epoch", "ccc_valence", "ccc_arousal", "ccc_mean"):
            table.add_column(column, justify="right")
        for fold in result.folds:
            scores = fold.scores
            table.add_row(
                str(fold.fold),
                str(len(fold.entries)),
                _cell(fold.best_epoch),
                _cell(scores.ccc_valence),
                _cell(scores.ccc_arousal),
                _cell(scores.ccc_mean),
            )
        total = sum(len(fold.entries) for fold in result.folds)
        if result.scores is not None:
            scores = result.scores
            table.add_row(
                "out of fold",
                str(total),
                "",
                _cell(scores.ccc_valence),
                _cell(scores.ccc_arousal),
                _cell(scores.ccc_mean),
            )
        if result.unseen_scores is not None and result.unseen_entries < total:
            scores = result.unseen_scores
            table.add_row(
                "out of fold, unseen",
                str(result.unseen_entries),
                "",
                _cell(scores.ccc_valence),
                _cell(scores.ccc_arousal),
                _cell(scores.ccc_mean),
            )
        mean, std = result.fold_spread() or (0.0, 0.0)
        table.caption = f"folds: mean CCC {mean:.4f} +/- {std:.4f}; out-of-fold predictions in {result.oof_dir}"
        if result.unseen_scores is not None and result.unseen_entries < total:
            table.caption += (
                "; unseen: the entries no feature source's model trained on (the others' features are in-sample, "
                "so their out-of-fold score flatters)"
            )
        return table
    present = [column for column in EPOCH_COLUMNS if any(column in row for row in result.rows)]
    for column in present:
        table.add_column(column, justify="right")
    for row in result.rows:
        cells = [_cell(row.get(column)) for column in present]
        if row.get("best"):
            cells[0] += " *"
        table.add_row(*cells)
    if result.best_epoch is not None:
        table.caption = f"* best epoch {result.best_epoch}: {result.run_dir / 'best.pt'}"
    else:
        table.caption = f"last: {result.run_dir / 'last.pt'}"
    return table
