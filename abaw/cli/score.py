"""``abaw score``: the challenge metric on a labelled split, beside the published results."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click

from abaw.cli.context import CliContext, pass_cli_context
from abaw.cli.options import (
    existing_path,
    json_option,
    labelled_split_option,
    refuse_json_overwrite,
    with_dataset,
    write_json,
)
from abaw.cli.render_scoring import per_video_table, scores_table
from abaw.data.frame_counts import FrameCounts
from abaw.data.index import DatasetIndex
from abaw.data.layout import Split
from abaw.formats.readers import read_predictions
from abaw.formats.types import PredictionSet
from abaw.scoring.references import published_results
from abaw.scoring.report import score_predictions


def read_scored_predictions(
    cli: CliContext, pred: Path, dataset: DatasetIndex, split: Split
) -> tuple[list[str], PredictionSet, FrameCounts]:
    """The entries of ``split`` that can be scored (a warning for each other), PRED read, the split's frame counts.

    Prints where the counts came from.
    """
    scored = dataset.scorable_entries(split)
    for skipped in scored.skipped:
        cli.warn(f"not scored: {skipped.reason}")
    predictions = read_predictions(pred, progress=cli.progress)
    counts = dataset.frame_counts(split)
    cli.console.print(f"frame counts from {counts.summary()}", markup=False, highlight=False)
    return list(scored.names), predictions, counts


@click.command()
@click.argument("pred", type=existing_path)
@with_dataset
@labelled_split_option("Labelled split to score against.")
@click.option("--per-video", is_flag=True, help="Also print each video's scores.")
@json_option
@pass_cli_context
def score(
    cli: CliContext,
    pred: Path,
    dataset: DatasetIndex,
    split: str,
    per_video: bool,
    json_path: Path | None,
    force: bool,
) -> None:
    """Score PRED (per-video folder, single file, or zip of either) against a labelled split."""
    refuse_json_overwrite(json_path, force)
    chosen = Split(split)
    names, predictions, counts = read_scored_predictions(cli, pred, dataset, chosen)
    report = score_predictions(
        predictions,
        {name: dataset.labels(name) for name in names},
        {name: counts[name] for name in names if name in counts},
        per_video=per_video,
    )
    for note in report.notes:
        cli.warn(note)
    published = published_results(chosen.value)
    cli.console.print(scores_table(pred.name, chosen.value, report.scores, published))
    if report.per_video is not None:
        cli.console.print(per_video_table(report.per_video))
    payload = {"predictions": str(pred), "split": chosen.value, **report.to_dict(), "frame_counts": counts.summary()}
    payload["published"] = [asdict(row) for row in published]
    write_json(json_path, payload, force)
