"""``abaw predict`` (a labelled split, for scoring) and ``abaw predict-test`` (the submission)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import click

from abaw.cli.context import EXIT_CHECK_FAILED, CliContext, pass_cli_context
from abaw.cli.options import (
    add_options,
    comma_separated,
    existing_file,
    existing_path,
    json_option,
    output_path,
    refuse_json_overwrite,
    submission_format_option,
    with_dataset,
    write_json,
)
from abaw.cli.render_scoring import scores_table
from abaw.data.index import DatasetIndex
from abaw.data.layout import Split
from abaw.fileio import check_output_path
from abaw.formats.types import SubmissionFormat
from abaw.scoring.references import published_results

if TYPE_CHECKING:
    from abaw.prediction.smoothing import SmoothingPlan


def _smoothing(ctx: click.Context, param: click.Parameter, value: Path | None) -> SmoothingPlan | None:
    """Read ``--smoothing FILE`` before any work, so a bad file fails at once."""
    from abaw.prediction.smoothing import load_smoothing

    return None if value is None else load_smoothing(value)


def _inference_options(command):
    options = [
        click.option(
            "--checkpoint",
            "checkpoints",
            required=True,
            multiple=True,
            type=existing_path,
            help="A best.pt or last.pt of abaw train or abaw temporal train, a run folder (best.pt, else last.pt) "
            "or a kfold run folder (its folds). Repeat it for an ensemble: the predictions are averaged.",
        ),
        click.option(
            "--weights",
            callback=comma_separated(float, "numbers", "1,0.5"),
            metavar="W1,W2,...",
            help="Weight of each --checkpoint in the ensemble's average [default: equal].",
        ),
        click.option(
            "--smoothing",
            type=existing_file,
            callback=_smoothing,
            metavar="FILE",
            help="Smooth each video along time as this file of abaw smooth search says.",
        ),
        click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda."),
        click.option("--batch-size", default=256, show_default=True, type=click.IntRange(min=1)),
        click.option("--workers", default=2, show_default=True, type=click.IntRange(min=0), help="Loader processes."),
    ]
    return add_options(command, options)


@click.command(name="predict")
@_inference_options
@with_dataset
@click.option(
    "--split",
    type=click.Choice([Split.VALIDATION.value, Split.TRAIN.value, Split.TEST.value]),
    default=Split.VALIDATION.value,
    show_default=True,
)
@click.option("--out", required=True, type=output_path, help="Folder of per-video prediction files to create.")
@json_option
@pass_cli_context
def predict_command(
    cli: CliContext,
    checkpoints: tuple[Path, ...],
    weights: list[float] | None,
    smoothing: SmoothingPlan | None,
    device: str,
    batch_size: int,
    workers: int,
    dataset: DatasetIndex,
    split: str,
    out: Path,
    json_path: Path | None,
    force: bool,
) -> None:
    """Predict every frame of a split into per-video files (what abaw score reads); score it when labelled.

    Scores of a split a model trained on (a final or kfold run on val) are
    shown as in-sample, without the published rows.
    """
    from abaw.cli.render_prediction import members_table
    from abaw.prediction.ensemble import load_ensemble
    from abaw.prediction.predict import predict_split

    chosen = Split(split)
    check_output_path(out, folder=True)
    refuse_json_overwrite(json_path, force)
    ensemble = load_ensemble(checkpoints, device, weights)
    result = predict_split(
        ensemble,
        dataset,
        chosen,
        out,
        force=force,
        batch_size=batch_size,
        workers=workers,
        smoothing=smoothing,
        warn=cli.warn,
        progress=cli.progress,
    )
    cli.console.print(members_table(result.members))
    cli.console.print(f"frame counts from {result.frame_counts.summary()}", markup=False, highlight=False)
    payload: dict[str, object] = {
        "members": [member.to_dict() for member in result.members],
        "checkpoints": ensemble.checkpoints,
        "weights": ensemble.weights,
        "in_sample": result.in_sample,
        "smoothing": None if smoothing is None else smoothing.to_dict(),
        "split": chosen.value,
        "out": str(out),
    }
    for skipped in result.not_scored:
        cli.warn(f"not scored: {skipped.reason}")
    if result.report is not None:
        for note in result.report.notes:
            cli.warn(note)
        if result.in_sample is not None:
            cli.warn(f"in-sample scores: {result.in_sample}; score held-out predictions (a val run, kfold oof/)")
        published = published_results(chosen.value)
        table = scores_table(ensemble.label, chosen.value, result.report.scores, published, result.in_sample)
        cli.console.print(table)
        payload.update(result.report.to_dict())
        payload["published"] = [asdict(row) for row in published]
    cli.console.print(f"wrote {result.videos} prediction files to {out}")
    write_json(json_path, payload, force)


@click.command(name="predict-test")
@_inference_options
@with_dataset
@click.option("--out", required=True, type=output_path, help="Submission folder, e.g. submissions/NAME.")
@submission_format_option
@click.option("--sample-file", type=existing_file, help="The organisers' sample single file (rows and order).")
@click.option(
    "--allow-missing-audio",
    is_flag=True,
    help="Predict a test video without a video file or cached audio with zero audio (warned) instead of refusing.",
)
@json_option
@pass_cli_context
def predict_test_command(
    cli: CliContext,
    checkpoints: tuple[Path, ...],
    weights: list[float] | None,
    smoothing: SmoothingPlan | None,
    device: str,
    batch_size: int,
    workers: int,
    dataset: DatasetIndex,
    out: Path,
    submission_format: str,
    sample_file: Path | None,
    allow_missing_audio: bool,
    json_path: Path | None,
    force: bool,
) -> None:
    """Predict every test video, write the official files, zip them and check the zip.

    Exits 1 when the check finds a problem.
    """
    from abaw.cli.render_prediction import members_table, submission_table
    from abaw.prediction.ensemble import load_ensemble
    from abaw.prediction.predict import predict_test

    check_output_path(out, folder=True)
    refuse_json_overwrite(json_path, force)
    ensemble = load_ensemble(checkpoints, device, weights)
    result = predict_test(
        ensemble,
        dataset,
        out,
        submission_format=SubmissionFormat(submission_format),
        sample_file=sample_file,
        force=force,
        batch_size=batch_size,
        workers=workers,
        smoothing=smoothing,
        allow_missing_audio=allow_missing_audio,
        warn=cli.warn,
        progress=cli.progress,
    )
    cli.console.print(members_table(result.members))
    cli.console.print(submission_table(result, f"test submission of {ensemble.label}"))
    write_json(json_path, result.to_dict(), force)
    if not result.report.ok:
        for line in result.report.problems:
            click.echo(f"error: {line}", err=True)
        if result.kept_previous:
            click.echo(f"error: the new submission was not written; {out} keeps the previous one", err=True)
        raise SystemExit(EXIT_CHECK_FAILED)
