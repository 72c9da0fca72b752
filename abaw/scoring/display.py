"""Score tables for the terminal: our scores beside the published rows."""

from __future__ import annotations

import math

from rich.table import Table

from abaw.scoring.metrics import AffectScores
from abaw.scoring.references import PublishedResult

_COLUMNS = ("CCC V", "CCC A", "CCC mean", "PCC V", "PCC A", "MSE V", "MSE A", "frames")


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return "nan" if math.isnan(value) else f"{value:.4f}"


def _score_cells(scores: AffectScores) -> list[str]:
    values = [
        scores.ccc_valence,
        scores.ccc_arousal,
        scores.ccc_mean,
        scores.pcc_valence,
        scores.pcc_arousal,
        scores.mse_valence,
        scores.mse_arousal,
    ]
    return [_number(value) for value in values] + [f"{scores.frames:,}"]


def scores_table(name: str, split: str, scores: AffectScores, published: list[PublishedResult]) -> Table:
    """One row for ``scores``, then the published rows of the same split (CCC only where that is all they gave).

    Example:
        >>> s = AffectScores(0.5, 0.6, 0.7, 0.8, 0.1, 0.2, 0.3, 0.4, 10)
        >>> scores_table("run", "val", s, []).row_count
        1
    """
    table = Table(title=f"Scores on {split} (CCC: all frames concatenated, -5 excluded)", title_justify="left")
    table.add_column("method")
    for column in _COLUMNS:
        table.add_column(column, justify="right")
    table.add_row(f"[bold]{name}[/bold]", *_score_cells(scores))
    for row in published:
        table.add_row(
            f"[dim]{row.name} (published)[/dim]",
            _number(row.ccc_valence),
            _number(row.ccc_arousal),
            _number(row.ccc_mean),
            *(["-"] * 5),
        )
    return table


def per_video_table(per_video: dict[str, AffectScores]) -> Table:
    """One row per video, for finding where a model fails (not the challenge score)."""
    table = Table(title="Per video (analysis only: the challenge score is over all frames)", title_justify="left")
    table.add_column("video")
    for column in _COLUMNS:
        table.add_column(column, justify="right")
    for name, scores in per_video.items():
        table.add_row(name, *_score_cells(scores))
    return table
