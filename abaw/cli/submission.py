"""``abaw submission``: validate prediction files before uploading them."""

from __future__ import annotations

from pathlib import Path

import click

from abaw.cli.context import EXIT_CHECK_FAILED, CliContext, pass_cli_context
from abaw.cli.options import existing_file, existing_path, json_option, refuse_json_overwrite, with_dataset, write_json
from abaw.data.index import DatasetIndex
from abaw.data.layout import Split
from abaw.formats.check import check_submission
from abaw.formats.readers import read_sample_counts


@click.group()
def submission() -> None:
    """Check submission files."""


@submission.command()
@click.argument("pred", type=existing_path)
@with_dataset
@click.option("--sample-file", type=existing_file, help="Organisers' sample file (single-file format, 2023 on).")
@json_option
@pass_cli_context
def check(
    cli: CliContext,
    pred: Path,
    dataset: DatasetIndex,
    sample_file: Path | None,
    json_path: Path | None,
    force: bool,
) -> None:
    """Check PRED (folder, single file or zip) against the test list and frame counts.

    Exits 0 when the submission is valid, 1 listing every fault when not.
    """
    refuse_json_overwrite(json_path, force)
    dataset.require_split(Split.TEST)
    counts = dataset.frame_counts(Split.TEST, sample=None if sample_file is None else read_sample_counts(sample_file))
    dataset.require_writable(Split.TEST, counts)
    for note in counts.notes:
        cli.warn(note)
    cli.console.print(f"frame counts from {counts.summary()}", markup=False, highlight=False)
    report = check_submission(pred, counts, sample_file=sample_file)
    write_json(json_path, {**report.to_dict(), "frame_counts": counts.to_dict()}, force)
    if not report.ok:
        for problem in report.problems:
            click.echo(f"error: {problem}", err=True)
        raise SystemExit(EXIT_CHECK_FAILED)
    cli.console.print(
        f"[green]valid[/green] {report.format.value} submission: {report.videos} videos, {report.lines:,} lines"
    )
