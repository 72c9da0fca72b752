"""``abaw features``: compute per-frame features from the dataset's videos."""

from __future__ import annotations

import os
from pathlib import Path

import click
from rich.table import Table

from abaw.cli.context import CliContext, pass_cli_context
from abaw.cli.options import json_option, with_dataset, write_json
from abaw.data.audio_features import AudioFeatureConfig, AudioFeatureReport, FeatureSet, Pooling, extract_audio_features
from abaw.data.index import DatasetIndex
from abaw.fileio import refuse_overwrite


@click.group()
def features() -> None:
    """Compute per-frame features from the dataset."""


@features.command()
@with_dataset
@click.option(
    "--feature-set",
    type=click.Choice([member.value for member in FeatureSet]),
    default=AudioFeatureConfig.feature_set.value,
    show_default=True,
    help="openSMILE feature set whose low-level descriptors are pooled (eGeMAPSv01b: the paper's 46 values).",
)
@click.option(
    "--pooling",
    type=click.Choice([member.value for member in Pooling]),
    default=AudioFeatureConfig.pooling.value,
    show_default=True,
    help="first2: the window's first two LLD frames (the paper); meanstd: mean and std over the window.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=min(8, os.cpu_count() or 1),
    show_default=True,
    help="Videos processed at once.",
)
@json_option
@pass_cli_context
def audio(
    cli: CliContext,
    dataset: DatasetIndex,
    feature_set: str,
    pooling: str,
    jobs: int,
    json_path: Path | None,
    force: bool,
) -> None:
    """Extract openSMILE features from the audio around every video frame, for every video.

    One vector per annotation line: the LLDs of the audio from the start of
    the previous frame to the end of the next one. Up-to-date videos are
    skipped; --force extracts every video again (and replaces the --json file).
    The train split's normalisation statistics are written beside the features.
    """
    if json_path is not None and str(json_path) != "-":
        refuse_overwrite(json_path, force)  # before minutes of extraction, not after
    config = AudioFeatureConfig(FeatureSet(feature_set), Pooling(pooling))
    report = extract_audio_features(dataset, config, jobs=jobs, force=force, progress=cli.progress)
    for line in report.warnings:
        cli.warn(line)
    cli.console.print(_summary_table(report))
    write_json(json_path, report.to_dict(), force)


def _summary_table(report: AudioFeatureReport) -> Table:
    table = Table(title=f"Audio features {report.config.key}: {report.dim} values per frame", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("videos", str(report.videos))
    table.add_row("extracted", str(report.extracted))
    table.add_row("skipped (up to date)", str(report.skipped))
    table.add_row("without audio (zeros)", str(len(report.without_audio)))
    table.add_row("truncated audio", str(len(report.truncated)))
    table.add_row("entries without a video (zeros)", str(len(report.entries_without_video)))
    table.add_row("train rows in the statistics", f"{report.train_rows:,}")
    table.add_row("audio extracted", f"{report.audio_seconds:,.1f} s of audio in {report.seconds:.1f} s")
    table.add_row("written to", str(report.folder))
    return table
