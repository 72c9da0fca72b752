"""``abaw smooth search``: choose a smoothing filter per dimension on a labelled split."""

from __future__ import annotations

from pathlib import Path

import click

from abaw.cli.context import CliContext, pass_cli_context
from abaw.cli.options import existing_path, json_option, output_path, refuse_json_overwrite, with_dataset, write_json
from abaw.data.index import DatasetIndex
from abaw.data.layout import Split
from abaw.outputs import check_output_file, layout_sources


def _windows(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, ...] | None:
    """``--windows 1,3,5``: odd frame counts."""
    if value is None:
        return None
    try:
        windows = tuple(int(part) for part in value.split(","))
    except ValueError:
        raise click.BadParameter(f"expected odd whole numbers separated by commas, got {value!r}") from None
    if any(window < 1 or window % 2 == 0 for window in windows):
        raise click.BadParameter(f"every window must be an odd number of frames >= 1, got {value!r}")
    return windows


@click.group()
def smooth() -> None:
    """Temporal smoothing of predictions, chosen on a labelled split."""


@smooth.command(name="search")
@click.argument("pred", type=existing_path)
@with_dataset
@click.option(
    "--split",
    type=click.Choice([Split.VALIDATION.value, Split.TRAIN.value]),
    default=Split.VALIDATION.value,
    show_default=True,
    help="Labelled split PRED predicts (validation, or out-of-fold predictions of train).",
)
@click.option("--out", required=True, type=output_path, help="Smoothing file to write (JSON).")
@click.option(
    "--windows",
    callback=_windows,
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
    windows: tuple[int, ...] | None,
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
    from abaw.formats.readers import read_predictions
    from abaw.prediction.smoothing import DEFAULT_WINDOWS, save_smoothing, search_smoothing

    check_output_file(out, force, layout_sources(dataset.layout), option="--out")
    refuse_json_overwrite(json_path, force)
    chosen = Split(split)
    scored = dataset.scorable_entries(chosen)
    for skipped in scored.skipped:
        cli.warn(f"not scored: {skipped.reason}")
    predictions = read_predictions(pred, progress=cli.progress)
    for note in predictions.notes:
        cli.warn(note)
    result = search_smoothing(
        predictions.videos,
        {name: dataset.labels(name) for name in scored.names},
        dataset.frame_counts(chosen),
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
