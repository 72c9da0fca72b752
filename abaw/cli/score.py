"""``abaw score``: the challenge metric on a labelled split, beside the published results."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click

from abaw.cli.context import CliContext, pass_cli_context
from abaw.cli.options import existing_path, json_option, refuse_json_overwrite, with_dataset, write_json
from abaw.data.index import DatasetIndex
from abaw.data.layout import Split
from abaw.scoring.display import per_video_table, scores_table
from abaw.scoring.predictions import read_predictions, score_predictions
from abaw.scoring.references import published_results


@click.command()
@click.argument("pred", type=existing_path)
@with_dataset
@click.option(
    "--split",
    type=click.Choice([Split.VALIDATION.value, Split.TRAIN.value]),
    default=Split.VALIDATION.value,
    show_default=True,
    help="Labelled split to score against.",
)
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
    chosen = Split(split)
    refuse_json_overwrite(json_path, force)
    dataset.require_usable([chosen])
    predictions = read_predictions(pred, progress=cli.progress)
    report = score_predictions(
        predictions, dataset.split_labels(chosen), dataset.frame_counts(chosen), per_video=per_video
    )
    for note in report.notes:
        cli.warn(note)
    published = published_results(chosen.value)
    cli.console.print(scores_table(pred.name, chosen.value, report.scores, published))
    if report.per_video is not None:
        cli.console.print(per_video_table(report.per_video))
    payload = {"predictions": str(pred), "split": chosen.value, **report.to_dict()}
    payload["published"] = [asdict(row) for row in published]
    write_json(json_path, payload, force)
