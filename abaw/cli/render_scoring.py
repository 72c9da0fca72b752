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


def scores_table(
    name: str, split: str, scores: AffectScores, published: list[PublishedResult], in_sample: str | None = None
) -> Table:
    """One row for ``scores``, then the published rows of the same split (CCC only where that is all they gave).

    In-sample scores (``in_sample`` says why: a model trained on the split)
    are titled so and shown without the published rows, which are held-out.

    Example:
        >>> s = AffectScores(0.5, 0.6, 0.7, 0.8, 0.1, 0.2, 0.3, 0.4, 10)
        >>> scores_table("run", "val", s, []).row_count
        1
        >>> scores_table("run", "val", s, [], in_sample="1 of 1 members trained on val").title.split(":")[0]
        'IN-SAMPLE scores on val'
    """
    title = f"Scores on {split} (CCC: all frames concatenated, -5 excluded)"
    if in_sample is not None:
        title = f"IN-SAMPLE scores on {split}: {in_sample}; not comparable with held-out or published scores"
        published = []
    table = Table(title=title, title_justify="left")
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


ComparisonRow = tuple[str, AffectScores | None, PublishedResult | None]

_PAPER_COLUMNS = ("MSE V", "MSE A", "PCC V", "PCC A", "CCC V", "CCC A", "CCC mean")


def comparison_table(title: str, rows: list[ComparisonRow], caption: str | None = None) -> Table:
    """Several methods in the paper's Table II shape: MSE, PCC and CCC of valence and arousal.

    Each row is ``(label, scores, published)`` with one of the two given:
    measured scores fill every column, a published row its CCC only (what
    the sources give), shown dimmed.

    Example:
        >>> s = AffectScores(0.5, 0.6, 0.7, 0.8, 0.1, 0.2, 0.3, 0.4, 10)
        >>> paper = PublishedResult("p", "val", 0.1, 0.2, "x")
        >>> comparison_table("t", [("run", s, None), ("paper", None, paper)]).row_count
        2
    """
    table = Table(title=title, caption=caption, title_justify="left", caption_justify="left")
    table.add_column("method")
    for column in _PAPER_COLUMNS:
        table.add_column(column, justify="right")
    for label, scores, published in rows:
        if scores is not None:
            values = [
                scores.mse_valence,
                scores.mse_arousal,
                scores.pcc_valence,
                scores.pcc_arousal,
                scores.ccc_valence,
                scores.ccc_arousal,
                scores.ccc_mean,
            ]
            table.add_row(f"[bold]{label}[/bold]", *[_number(value) for value in values])
        elif published is not None:
            cells = ["-"] * 4 + [
                _number(published.ccc_valence),
                _number(published.ccc_arousal),
                _number(published.ccc_mean),
            ]
            table.add_row(f"[dim]{label}[/dim]", *[f"[dim]{cell}[/dim]" for cell in cells])
    return table
