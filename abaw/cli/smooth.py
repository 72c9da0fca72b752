"""``abaw smooth search``: choose a smoothing filter per dimension on a labelled split."""

from __future__ import annotations

from pathlib import Path

import click

from abaw.cli.context import CliContext, pass_cli_context
from abaw.cli.options import (
    comma_separated,
    existing_path,
    json_option,
    labelled_split_option,
    output_path,
    refuse_json_overwrite,
    with_dataset,
    write_json,
)
from abaw.cli.score import read_scored_predictions
from abaw.data.index import DatasetIndex
from abaw.data.layout import Split
from abaw.outputs import check_output_file, layout_sources


@click.group()
def smooth() -> None:
    """Temporal smoothing of predictions, chosen on a labelled split."""


@smooth.command(name="search")
@click.argument("pred", type=existing_path)
@with_dataset
@labelled_split_option("Labelled split PRED predicts (validation, or out-of-fold predictions of train).")
@click.option("--out", required=True, type=output_path, help="Smoothing file to write (JSON).")
@click.option(
    "--windows",
    callback=comma_separated(int, "integers", "1,5,9"),
    metavar="W1,W2,...",
    help="Odd window lengths in frames to try [default: 1,3,5,7,9,13,17,25,33,49,65,97,129].",
)
@json_option
@pass_cli_context
def search_command(
    cli: CliContext,
    pred: Path,
    dataset: DatasetIndex,
    split: str,
    out: Path,
    windows: list[int] | None,
    json_path: Path | None,
    force: bool,
) -> None:
    """Try median, Gaussian and exponential filters on PRED; store the best per dimension in --out.

    PRED holds predictions of a labelled split (what abaw predict writes).
    Frames without a prediction are filled as in a submission, then each video
    is smoothed along time; the challenge metric scores every choice. Apply
    the file with abaw predict or abaw predict-test --smoothing FILE.
    """
    from abaw.cli.render_smoothing import smoothing_table
    from abaw.prediction.smoothing import DEFAULT_WINDOWS, check_window, save_smoothing, search_smoothing

    for window in windows or ():
        check_window(window)
    check_output_file(out, force, layout_sources(dataset.layout), option="--out")
    refuse_json_overwrite(json_path, force)
    chosen = Split(split)
    names, predictions, counts = read_scored_predictions(cli, pred, dataset, chosen)
    for note in predictions.notes:
        cli.warn(note)
    result = search_smoothing(
        predictions.videos,
        {name: dataset.labels(name) for name in names},
        counts,
        windows=windows or DEFAULT_WINDOWS,
        split=chosen.value,
        source=str(pred),
        progress=cli.progress,
    )
    for note in result.notes:
        cli.warn(note)
    cli.console.print(smoothing_table(result))
    save_smoothing(result.plan, out, force=force)
    cli.console.print(f"wrote {out}")
    write_json(json_path, result.to_dict(), force)
