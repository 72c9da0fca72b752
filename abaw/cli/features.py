"""``abaw features``: compute per-frame features from the dataset's videos."""

from __future__ import annotations

import os
from pathlib import Path

import click

from abaw.cli.context import CliContext, pass_cli_context
from abaw.cli.options import existing_path, json_option, refuse_json_overwrite, with_dataset, write_json
from abaw.cli.render_audio import audio_report_table
from abaw.cli.render_embed import embed_report_table
from abaw.data.audio import AudioFeatureConfig, FeatureSet, Pooling, extract_audio_features
from abaw.data.index import DatasetIndex


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
    # Stated rather than shown: the number differs from machine to machine, and docs/commands.md must not.
    help="Videos processed at once [default: the CPU cores, at most 8].",
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
    refuse_json_overwrite(json_path, force)  # before minutes of extraction, not after
    config = AudioFeatureConfig(FeatureSet(feature_set), Pooling(pooling))
    report = extract_audio_features(dataset, config, jobs=jobs, force=force, progress=cli.progress)
    for line in report.warnings:
        cli.warn(line)
    cli.console.print(audio_report_table(report))
    write_json(json_path, report.to_dict(), force)


@features.command()
@click.option(
    "--checkpoint",
    required=True,
    type=existing_path,
    help="A per-frame best.pt or last.pt of abaw train, or its run folder (best.pt, else last.pt).",
)
@with_dataset
@click.option(
    "--name",
    help="Name of the embeddings (their cache folder; what --features takes) [default: the run folder's name, "
    "else the checkpoint file's stem].",
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda.")
@click.option("--batch-size", default=256, show_default=True, type=click.IntRange(min=1))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(min=0), help="Loader processes.")
@json_option
@pass_cli_context
def embed(
    cli: CliContext,
    checkpoint: Path,
    dataset: DatasetIndex,
    name: str | None,
    device: str,
    batch_size: int,
    workers: int,
    json_path: Path | None,
    force: bool,
) -> None:
    """Embed every face frame of every split with a trained model, for temporal models.

    One vector per annotation line: the discriminator's features before its
    heads, then with a generator its latent averaged over space; frames
    without a face image are zeros, flagged in a mask. Cached per entry under
    CACHE/embeddings/NAME, keyed on the checkpoint's SHA-256: up-to-date
    entries are skipped; --force extracts every entry again (and replaces the
    --json file).
    """
    from abaw.prediction.embed import extract_embeddings  # torch loads only for this command

    refuse_json_overwrite(json_path, force)  # before minutes of extraction, not after
    report = extract_embeddings(
        dataset,
        checkpoint,
        name,
        device=device,
        batch_size=batch_size,
        workers=workers,
        force=force,
        progress=cli.progress,
    )
    cli.console.print(embed_report_table(report))
    write_json(json_path, report.to_dict(), force)
