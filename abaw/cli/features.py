"""``abaw features``: compute per-frame features from the dataset's videos."""

from __future__ import annotations

import os
from pathlib import Path

import click

from abaw.cli.context import CliContext, pass_cli_context
from abaw.cli.options import (
    comma_separated,
    existing_path,
    json_option,
    refuse_json_overwrite,
    with_dataset,
    write_json,
)
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
    type=existing_path,
    help="A per-frame best.pt or last.pt of abaw train, or its run folder (best.pt, else last.pt).",
)
@click.option(
    "--encoder",
    help="Instead of --checkpoint: a pretrained timm network, timm:NAME, frozen, its weights from --weights "
    "(nothing is downloaded).",
)
@click.option(
    "--weights",
    type=existing_path,
    help="--encoder: the local weights file, a state dict (torch.save) or a .safetensors file.",
)
@click.option(
    "--input-size",
    type=click.IntRange(min=8),
    help="--encoder: input side in pixels, faces resized to it [default: timm's for the network].",
)
@click.option(
    "--mean",
    callback=comma_separated(float, "numbers", "0.485,0.456,0.406"),
    help="--encoder: per-channel mean of [0, 1] pixels, R,G,B [default: timm's for the network].",
)
@click.option(
    "--std",
    callback=comma_separated(float, "numbers", "0.229,0.224,0.225"),
    help="--encoder: per-channel standard deviation, R,G,B [default: timm's for the network].",
)
@click.option(
    "--allow-pickle",
    is_flag=True,
    help="--encoder: load a weights file holding pickled objects (a whole model); unpickling can run code, "
    "so only for a file you trust.",
)
@with_dataset
@click.option(
    "--name",
    help="Name of the embeddings (their cache folder; what --features takes) [default: the run folder's name, "
    "else the checkpoint or weights file's stem].",
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda.")
@click.option("--batch-size", default=256, show_default=True, type=click.IntRange(min=1))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(min=0), help="Loader processes.")
@json_option
@pass_cli_context
def embed(
    cli: CliContext,
    checkpoint: Path | None,
    encoder: str | None,
    weights: Path | None,
    input_size: int | None,
    mean: list[float] | None,
    std: list[float] | None,
    allow_pickle: bool,
    dataset: DatasetIndex,
    name: str | None,
    device: str,
    batch_size: int,
    workers: int,
    json_path: Path | None,
    force: bool,
) -> None:
    """Embed every face frame of every split with a trained model or a pretrained encoder, for temporal models.

    One vector per annotation line. With --checkpoint: the discriminator's
    features before its heads, then with a generator its latent averaged over
    space. With --encoder timm:NAME --weights FILE: the frozen network's
    pooled features, its weights read from FILE only. Frames without a face
    image are zeros, flagged in a mask. Cached per entry under
    CACHE/embeddings/NAME, keyed on the checkpoint's SHA-256 (an encoder's:
    the weights file's with its input size and normalisation): up-to-date
    entries are skipped; --force extracts every entry again (and replaces
    the --json file).
    """
    from abaw.prediction.embed import extract_embeddings, extract_encoder_embeddings  # torch loads only here
    from abaw.prediction.encoders import EncoderSettings

    if (checkpoint is None) == (encoder is None):
        raise click.UsageError("give either --checkpoint (a model of abaw train) or --encoder with --weights")
    encoder_options = {"--weights": weights, "--input-size": input_size, "--mean": mean, "--std": std}
    if checkpoint is not None:
        given = [option for option, value in encoder_options.items() if value is not None] + (
            ["--allow-pickle"] if allow_pickle else []
        )
        if given:
            raise click.UsageError(f"{', '.join(given)} go with --encoder, not with --checkpoint")
    elif weights is None:
        raise click.UsageError("--encoder needs --weights FILE (nothing is downloaded)")
    refuse_json_overwrite(json_path, force)  # before minutes of extraction, not after
    options = {"device": device, "batch_size": batch_size, "workers": workers, "force": force}
    if encoder is not None:
        settings = EncoderSettings(
            encoder,
            weights,
            input_size,
            None if mean is None else tuple(mean),
            None if std is None else tuple(std),
            allow_pickle,
        )
        report = extract_encoder_embeddings(dataset, settings, name, progress=cli.progress, **options)
    else:
        report = extract_embeddings(dataset, checkpoint, name, progress=cli.progress, **options)
    cli.console.print(embed_report_table(report))
    write_json(json_path, report.to_dict(), force)
