"""``abaw train``: train a variant under the val or final protocol (alone, or under ``torchrun``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from abaw.cli.context import CliContext, pass_cli_context
from abaw.cli.options import (
    existing_file,
    existing_path,
    json_option,
    output_path,
    refuse_json_overwrite,
    with_dataset_source,
    write_json,
)
from abaw.data.source import DatasetSource
from abaw.fileio import check_output_path
from abaw.training.config import Precision, Protocol, RealLatent, resolve_config
from abaw.training.reporting import RichReporter, epochs_table

VARIANT_HELP = "Model variant: disc, aeg-cd, aeg-cd-sz, timm-regressor (and -tiny versions) [default: aeg-cd-sz]."


def _choice(enum_type) -> click.Choice:
    return click.Choice([member.value for member in enum_type])


@click.command(name="train")
@with_dataset_source
@click.option("--out", "run_dir", required=True, type=output_path, help="Run folder (checkpoints, metrics, config).")
@click.option("--variant", help=VARIANT_HELP)
@click.option(
    "--protocol",
    type=_choice(Protocol),
    help="val: train on Train, keep the best Validation epoch; "
    "final: train on Train+Validation for fixed epochs [default: val].",
)
@click.option("--config", "config_file", type=existing_file, help="YAML file of settings; flags override it.")
@click.option("--init", type=existing_file, help="Start from this checkpoint's matching layers (progressive training).")
@click.option("--resume", is_flag=True, help="Continue the run in --out (or its unfinished replacement) from last.pt.")
@click.option("--epochs", type=click.IntRange(min=1), help="Epochs to train [default: 10].")
@click.option("--epochs-from", type=existing_path, help="Final protocol: train as many epochs as this val run's best.")
@click.option("--steps-per-epoch", type=click.IntRange(min=1), help="Cap on iterations per epoch (quick runs).")
@click.option("--batch-size", type=click.IntRange(min=1), help="Frames per iteration over all processes [default: 64].")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), help="Adam learning rate [default: 1e-4].")
@click.option("--n-critic", type=click.IntRange(min=1), help="D iterations per G iteration [default: 5].")
@click.option("--device", help="auto, cpu or cuda [default: auto].")
@click.option("--precision", type=_choice(Precision), help="auto: bf16 on CUDA, fp32 on CPU [default: auto].")
@click.option("--workers", type=click.IntRange(min=0), help="DataLoader worker processes [default: 2].")
@click.option("--seed", type=int, help="Random seed [default: 0].")
@click.option("--backbone", help="timm model name replacing the discriminator's trunk.")
@click.option("--backbone-weights", type=existing_file, help="Local weights file for --backbone.")
@click.option("--latent-injection", type=click.Choice(["add", "concat"]), help="How z joins the CD [default: add].")
@click.option("--va-head", type=click.Choice(["linear", "tanh"]), help="VA output head [default: linear].")
@click.option("--real-latent", type=_choice(RealLatent), help="Latent given with real images [default: generator].")
@click.option(
    "--noise-artifacts",
    help="Comma-separated artifacts (downsample,blur,gaussian-noise,brightness,grayscale,occlusion).",
)
@click.option("--audio-feature-set", help="openSMILE feature set of the audio features [default: eGeMAPSv02].")
@click.option("--audio-pooling", type=click.Choice(["first2", "meanstd"]), help="Audio pooling [default: first2].")
@click.option("--tensorboard", is_flag=True, default=None, help="Also log to RUN_DIR/tensorboard.")
@click.option(
    "--strict",
    is_flag=True,
    help="Refuse to start when any entry has an error, instead of skipping it (skipped entries: RUN_DIR/skipped.json).",
)
@json_option
@pass_cli_context
def train_command(
    cli: CliContext,
    dataset_source: DatasetSource | None,
    run_dir: Path,
    config_file: Path | None,
    resume: bool,
    epochs_from: Path | None,
    json_path: Path | None,
    force: bool,
    noise_artifacts: str | None,
    strict: bool,
    **flags: Any,
) -> None:
    """Train the ALN (or a baseline) and keep checkpoints, metrics and the resolved config in --out.

    Entries with an error in one of their files, or without a frame that has
    both labels and a face image, are skipped with a warning and listed in
    RUN_DIR/skipped.json; training refuses only when no usable frame is left.
    """
    # torch and timm load here, not at import, so the other commands start quickly.
    from abaw.training.trainer import best_epoch_of, resume_config, train

    check_output_path(run_dir, folder=True)
    refuse_json_overwrite(json_path, force)
    if noise_artifacts is not None:
        flags["noise_artifacts"] = [item.strip() for item in noise_artifacts.split(",") if item.strip()]
    if epochs_from is not None:
        flags["epochs"] = best_epoch_of(epochs_from)
        cli.warn(f"training {flags['epochs']} epochs, the best epoch of {epochs_from}")
    for name in ("init", "backbone_weights"):
        if flags.get(name) is not None:
            flags[name] = str(flags[name])
    if resume:
        config = resume_config(run_dir, dataset=dataset_source, **flags)
    else:
        if dataset_source is None:
            raise click.UsageError("--root is required (unless --resume)")
        config = resolve_config(config_file, dataset=dataset_source, **flags)
    refuse_json_overwrite(json_path, force, config.dataset)  # --resume: the stored dataset
    reporter = RichReporter(cli.errors, show_progress=not cli.quiet)
    result = train(config, run_dir, resume=resume, force=force, strict=strict, reporter=reporter, progress=cli.progress)
    cli.console.print(epochs_table(result))
    write_json(json_path, result.to_dict(), force)
