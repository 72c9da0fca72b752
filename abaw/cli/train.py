"""``abaw train``: train a variant under the val or final protocol (alone or under ``torchrun``), or a stage chain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from abaw.cli.context import EXIT_INTERRUPTED, CliContext, pass_cli_context
from abaw.cli.options import (
    add_options,
    comma_separated,
    existing_file,
    existing_path,
    json_option,
    output_path,
    refuse_json_overwrite,
    with_dataset_source,
    write_json,
)
from abaw.cli.render_training import RichReporter, epochs_table, stages_table
from abaw.data.source import DatasetSource
from abaw.fileio import check_output_path
from abaw.model.config import GeneratorKind
from abaw.training.config import (
    DiscriminatorAffect,
    Precision,
    Protocol,
    RealLatent,
    TrainConfig,
    resolve_config,
)
from abaw.training.progressive import Stage, parse_stages, train_stages

VARIANT_HELP = "Model variant: disc, aeg-cd, aeg-cd-sz, timm-regressor (and -tiny versions) [default: aeg-cd-sz]."


def _choice(enum_type) -> click.Choice:
    return click.Choice([member.value for member in enum_type])


# ``--epochs 8,3,3``: one epoch count per stage, or one count.
epoch_counts = comma_separated(int, "integers", "8,3,3")


ADVERSARIAL_OPTIONS = [
    click.option(
        "--lr-d", type=click.FloatRange(min=0, min_open=True), help="The discriminator's learning rate [default: --lr]."
    ),
    click.option(
        "--lr-g", type=click.FloatRange(min=0, min_open=True), help="The generator's learning rate [default: --lr]."
    ),
    click.option(
        "--d-affect",
        type=_choice(DiscriminatorAffect),
        help="Images the D step's affect loss uses: real (eq. 9) or real+fake (the paper's text) [default: real+fake].",
    ),
    click.option(
        "--drift",
        type=click.FloatRange(min=0),
        help="Drift penalty EPS * mean(D(real)^2) in the D step (ProGAN uses 0.001) [default: 0].",
    ),
    click.option(
        "--warmup-steps",
        type=click.IntRange(min=0),
        help="Iterations the generator first trains alone as a denoising auto-encoder (adversarial variants) "
        "[default: 0].",
    ),
    click.option(
        "--latent-gate/--no-latent-gate",
        default=None,
        help="The latent joins the discriminator through a scalar gate learned from 0 [default: with --generator "
        "residual].",
    ),
    click.option(
        "--gate-lr",
        type=click.FloatRange(min=0, min_open=True),
        help="Adam learning rate of the scalars learned from 0 (the residual generator's scale, the latent gate) "
        "[default: their network's].",
    ),
]
"""The options of the adversarial stages, shared with ``abaw experiment progressive``."""


def adversarial_options(command):
    """Add :data:`ADVERSARIAL_OPTIONS` to ``command``."""
    return add_options(command, ADVERSARIAL_OPTIONS)


@click.command(name="train")
@with_dataset_source
@click.option(
    "--out",
    "run_dir",
    required=True,
    type=output_path,
    help="Run folder (checkpoints, metrics, config); with --stages, the folder of the stages' run folders.",
)
@click.option("--variant", help=VARIANT_HELP)
@click.option(
    "--stages",
    help="Progressive training: comma-separated variants such as disc,aeg-cd,aeg-cd-sz, trained in order into "
    "OUT/VARIANT, each from the previous stage's best checkpoint.",
)
@click.option(
    "--protocol",
    type=_choice(Protocol),
    help="val: train on Train, keep the best Validation epoch; "
    "final: train on Train+Validation for fixed epochs [default: val].",
)
@click.option("--config", "config_file", type=existing_file, help="YAML file of settings; flags override it.")
@click.option("--init", type=existing_file, help="Start from this checkpoint's matching layers (progressive training).")
@click.option(
    "--resume",
    is_flag=True,
    help="Continue the run in --out (or its unfinished replacement) from last.pt; with --stages, the interrupted "
    "chain (same options), skipping its finished stages.",
)
@click.option(
    "--epochs",
    callback=epoch_counts,
    help="Epochs to train [default: 10]; with --stages, one count per stage (e.g. 8,3,3) or one for all.",
)
@click.option("--epochs-from", type=existing_path, help="Final protocol: train as many epochs as this val run's best.")
@click.option("--steps-per-epoch", type=click.IntRange(min=1), help="Cap on iterations per epoch (quick runs).")
@click.option("--batch-size", type=click.IntRange(min=1), help="Frames per iteration over all processes [default: 64].")
@click.option(
    "--lr", type=click.FloatRange(min=0, min_open=True), help="Adam learning rate of both networks [default: 1e-4]."
)
@adversarial_options
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
    "--generator",
    type=_choice(GeneratorKind),
    help="residual: the authors' AEG layers and latent, its output x + a * decoder(z) with a learned from 0, so "
    "it starts as the identity; paper: the authors' AEG, rebuilding every face [default: residual].",
)
@click.option(
    "--noise-augment",
    is_flag=True,
    default=None,
    help="Disc and regressor: train on faces degraded by the generator's noise model (half left clean), the "
    "control for the adversarial stages [default: off].",
)
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
    stages: str | None,
    config_file: Path | None,
    resume: bool,
    epochs: list[int] | None,
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

    With --stages, the variants train in order into OUT/VARIANT, each from the
    previous stage's best.pt; the chain is built in OUT.partial and moved onto
    OUT when every stage is trained, and --resume continues it.
    """
    # torch and timm load here, not at import, so the other commands start quickly.
    from abaw.training.trainer import best_epoch_of, resume_config, train

    check_output_path(run_dir, folder=True)
    refuse_json_overwrite(json_path, force)
    if noise_artifacts is not None:
        flags["noise_artifacts"] = [item.strip() for item in noise_artifacts.split(",") if item.strip()]
    for name in ("init", "backbone_weights"):
        if flags.get(name) is not None:
            flags[name] = str(flags[name])
    reporter = RichReporter(cli.errors, show_progress=not cli.quiet)
    if stages is not None:
        base, chain = _chain_settings(stages, epochs, epochs_from, dataset_source, config_file, flags)
        refuse_json_overwrite(json_path, force, base.dataset)
        try:
            chained = train_stages(
                chain,
                run_dir,
                base,
                force=force,
                resume=resume,
                strict=strict,
                reporter=reporter,
                progress=cli.progress,
                log=lambda message: cli.errors.print(f"[bold]train[/bold]: {message}", highlight=False),
            )
        except KeyboardInterrupt:
            click.echo("interrupted; the same command with --resume continues the chain where it stopped", err=True)
            raise SystemExit(EXIT_INTERRUPTED) from None
        cli.console.print(stages_table(chained))
        write_json(json_path, chained.to_dict(), force)
        return
    if epochs is not None:
        if len(epochs) != 1:
            raise click.UsageError("--epochs takes one count (several only with --stages)")
        if epochs[0] < 1:
            raise click.BadParameter(f"must be at least 1, got {epochs[0]}", param_hint="'--epochs'")
        flags["epochs"] = epochs[0]
    if epochs_from is not None:
        flags["epochs"] = best_epoch_of(epochs_from)
        cli.warn(f"training {flags['epochs']} epochs, the best epoch of {epochs_from}")
    if resume:
        config = resume_config(run_dir, dataset=dataset_source, **flags)
    else:
        config = resolve_config(config_file, dataset=_required_source(dataset_source, "(unless --resume)"), **flags)
    refuse_json_overwrite(json_path, force, config.dataset)  # --resume: the stored dataset
    result = train(config, run_dir, resume=resume, force=force, strict=strict, reporter=reporter, progress=cli.progress)
    cli.console.print(epochs_table(result))
    write_json(json_path, result.to_dict(), force)


def _required_source(dataset_source: DatasetSource | None, when: str) -> DatasetSource:
    if dataset_source is None:
        raise click.UsageError(f"--root is required {when}")
    return dataset_source


def _chain_settings(
    stages: str,
    epochs: list[int] | None,
    epochs_from: Path | None,
    dataset_source: DatasetSource | None,
    config_file: Path | None,
    flags: dict[str, Any],
) -> tuple[TrainConfig, tuple[Stage, ...]]:
    """The settings the stages share, and the stages, of ``--stages`` (a resumed chain passes the same options)."""
    for option, value in (("--variant", flags.get("variant")), ("--epochs-from", epochs_from)):
        if value is not None:
            raise click.UsageError(f"{option} cannot be combined with --stages")
    base = resolve_config(config_file, dataset=_required_source(dataset_source, "with --stages"), **flags)
    chain = parse_stages(stages, epochs, base.epochs)
    return base.replace(variant=chain[0].variant), chain
