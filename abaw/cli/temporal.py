"""``abaw temporal train``: a temporal model over per-frame features (embedding caches, audio)."""

from __future__ import annotations

from pathlib import Path

import click

from abaw.cli.context import EXIT_INTERRUPTED, CliContext, pass_cli_context
from abaw.cli.options import (
    comma_separated,
    json_option,
    output_path,
    refuse_json_overwrite,
    with_dataset_source,
    write_json,
)
from abaw.cli.render_temporal import temporal_table
from abaw.data.source import DatasetSource
from abaw.fileio import check_output_path


@click.group(name="temporal")
def temporal() -> None:
    """Temporal models over per-frame features (the ABAW winners' recipe on top of the ALN)."""


@temporal.command(name="train")
@with_dataset_source
@click.option(
    "--features",
    help="Comma-separated feature sources: an 'abaw features embed' cache name and/or audio [default: audio].",
)
@click.option(
    "--model",
    type=click.Choice(["tcn", "gru", "transformer", "ridge"]),
    help="Temporal model; ridge: a ridge regression over each frame's features and their windowed means, "
    "fitted in one step, the floor to beat [default: tcn].",
)
@click.option(
    "--protocol",
    type=click.Choice(["val", "final", "kfold", "heldout"]),
    help="val: train on Train, keep the best Validation epoch; final: Train+Validation, fixed epochs; "
    "kfold: --folds models by video over Train+Validation; heldout: the same over Validation alone, for "
    "embeddings of a model trained on Train [default: val].",
)
@click.option(
    "--folds",
    type=click.IntRange(min=2),
    help="Folds of --protocol kfold, and the folds by video the ridge chooses its alphas with [default: 5].",
)
@click.option("--window", type=click.IntRange(min=1), help="Frames per window [default: 256].")
@click.option("--stride", type=click.IntRange(min=1), help="Frames between training windows [default: window/2].")
@click.option("--epochs", type=click.IntRange(min=1), help="Epochs per model [default: 30].")
@click.option("--batch-size", type=click.IntRange(min=1), help="Windows per step [default: 16].")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), help="AdamW learning rate [default: 1e-3].")
@click.option("--weight-decay", type=click.FloatRange(min=0), help="AdamW weight decay [default: 0.01].")
@click.option(
    "--loss",
    type=click.Choice(["affect", "ccc"]),
    help="affect: class-balanced RMSE - PCC - CCC (the ALN's); ccc: 1 - CCC per dimension [default: affect].",
)
@click.option("--hidden", type=click.IntRange(min=1), help="Width of the model [default: 128].")
@click.option("--layers", type=click.IntRange(min=1), help="Blocks or layers of the model [default: 4].")
@click.option("--dropout", type=click.FloatRange(min=0, max=1, max_open=True), help="Dropout [default: 0.1].")
@click.option("--heads", type=click.IntRange(min=1), help="Attention heads (transformer) [default: 4].")
@click.option(
    "--fusion",
    type=click.Choice(["joint", "sources"]),
    help="joint: one projection of every feature column; sources: each source projected and normalised on "
    "its own, the projections averaged [default: joint].",
)
@click.option(
    "--source-dropout",
    type=click.FloatRange(min=0, max=1, max_open=True),
    help="--fusion sources: the chance a source is left out of a training window [default: 0].",
)
@click.option("--causal/--no-causal", default=None, help="TCN: see only past frames [default: no].")
@click.option(
    "--spans",
    callback=comma_separated(int, "integers", "7,31"),
    help="ridge: half-widths of the windows averaged around each frame [default: 7].",
)
@click.option(
    "--alphas",
    callback=comma_separated(float, "numbers", "10,100,1000"),
    help="ridge: regularisations tried for each feature source, chosen by --folds folds over the training "
    "videos [default: 1,10,100,1000,10000,100000].",
)
@click.option(
    "--max-rows",
    type=click.IntRange(min=1),
    help="ridge: frames fitted on at most, every k-th annotated frame beyond [default: 200000].",
)
@click.option("--seed", type=int, help="Random seed [default: 0].")
@click.option("--device", help="auto, cpu or cuda [default: auto].")
@click.option("--out", "run_dir", required=True, type=output_path, help="Run folder to create (kfold: RUN/fold-k/).")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last.pt files (same settings).")
@json_option
@pass_cli_context
def train_command(
    cli: CliContext,
    dataset_source: DatasetSource | None,
    features: str | None,
    run_dir: Path,
    resume: bool,
    json_path: Path | None,
    force: bool,
    **flags: object,
) -> None:
    """Train a temporal model over per-frame features; report validation, or K-fold scores and their spread.

    Every entry of Train (and Validation) becomes one input row per label
    line; windows of --window frames train the model, overlapping windows
    averaged predict every frame. Frames without a face get a learned input;
    -5 labels count in no loss. A kfold run folder, or any of its checkpoints,
    predicts with abaw predict --checkpoint (a kfold folder is the ensemble of its folds).
    """
    from abaw.cli.render_training import RichReporter
    from abaw.data.sequences import parse_feature_names
    from abaw.temporal.config import TemporalConfig
    from abaw.temporal.trainer import resume_temporal_config, train_temporal

    check_output_path(run_dir, folder=True)
    refuse_json_overwrite(json_path, force)
    if features is not None:
        flags["features"] = parse_feature_names(features)
    if resume:
        config = resume_temporal_config(run_dir, dataset=dataset_source, **flags)
    else:
        if dataset_source is None:
            raise click.UsageError("--root is required (unless --resume)")
        given = {key: value for key, value in flags.items() if value is not None}
        config = TemporalConfig.from_dict({**given, "dataset": dataset_source}, source="command line")
    refuse_json_overwrite(json_path, force, config.dataset)
    reporter = RichReporter(cli.errors, show_progress=not cli.quiet)
    try:
        result = train_temporal(config, run_dir, resume=resume, force=force, reporter=reporter, progress=cli.progress)
    except KeyboardInterrupt:
        click.echo("interrupted; the same command with --resume continues from the last finished epoch", err=True)
        raise SystemExit(EXIT_INTERRUPTED) from None
    cli.console.print(temporal_table(result))
    write_json(json_path, result.to_dict(), force)
