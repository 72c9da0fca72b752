"""``abaw experiment``: measured comparisons over several training seeds."""

from __future__ import annotations

from pathlib import Path

import click

from abaw.cli.context import EXIT_INTERRUPTED, CliContext, pass_cli_context
from abaw.cli.options import comma_separated, existing_dir, json_option, output_path, refuse_json_overwrite, write_json
from abaw.cli.train import adversarial_options, epoch_counts
from abaw.data.source import DatasetSource

seed_list = comma_separated(int, "integers", "0,1,2")


@click.group(name="experiment")
def experiment_group() -> None:
    """Measured comparisons: the same recipe over several training seeds, on one dataset."""


@experiment_group.command(name="progressive")
@click.option("--out", required=True, type=output_path, help="The experiment's folder (one chain per seed).")
@click.option("--root", type=existing_dir, help="Use this dataset instead of generating the demo data.")
@click.option("--data", type=output_path, help="Demo dataset folder, reused when present [default: demo-data].")
@click.option("--quick", is_flag=True, help="Smoke run: tiny variants and dataset (data: demo-data-quick).")
@click.option("--seeds", callback=seed_list, help="Training seeds, comma-separated [default: 0,1,2].")
@click.option("--data-seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the demo data.")
@click.option("--epochs", callback=epoch_counts, help="Epochs of Disc, AEG-CD, AEG-CD-SZ [default: the demo's 3,1,1].")
@click.option(
    "--lrs",
    "learning_rates",
    callback=comma_separated(float, "numbers", "3e-4,1e-4,1e-4"),
    help="Adam learning rates of Disc, AEG-CD, AEG-CD-SZ (the control takes AEG-CD's) [default: the demo's].",
)
@click.option("--batch-size", type=click.IntRange(min=1), help="Frames per iteration [default: the demo's 32].")
@adversarial_options
@click.option(
    "--generators",
    callback=comma_separated(str, "generators", "paper,residual"),
    help="Generators whose AEG-CD and AEG-CD-SZ are trained: paper and/or residual [default: paper,residual].",
)
@click.option(
    "--datasets",
    callback=comma_separated(str, "datasets", "demo,hard"),
    help="Generated datasets: demo (the demo's data) and/or hard (the same made harder, generated in DATA-hard) "
    "[default: demo].",
)
@click.option(
    "--psnr-faces",
    type=click.IntRange(min=1),
    help="Validation faces the PSNR is measured on [default: 256; --quick: 16].",
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda.")
@click.option("--workers", type=click.IntRange(min=0), default=2, show_default=True, help="Loader processes.")
@click.option("--resume", is_flag=True, help="Continue an interrupted experiment (OUT.partial), same options.")
@json_option
@pass_cli_context
def progressive_command(
    cli: CliContext,
    out: Path,
    root: Path | None,
    data: Path | None,
    quick: bool,
    seeds: list[int] | None,
    data_seed: int,
    epochs: list[int] | None,
    learning_rates: list[float] | None,
    batch_size: int | None,
    psnr_faces: int | None,
    generators: list[str] | None,
    datasets: list[str] | None,
    device: str,
    workers: int,
    resume: bool,
    json_path: Path | None,
    force: bool,
    **knobs: object,
) -> None:
    """Train the Disc, its noise control and each generator's AEG-CD and AEG-CD-SZ per seed; print mean ± std.

    Per training seed and dataset: the Disc; from its best.pt the Disc
    trained on the generator's noise model for as many iterations as the
    adversarial stages get (the fair control); and for each generator AEG-CD
    from the Disc, then AEG-CD-SZ from that AEG-CD. Measures, per arm,
    validation CCC on all frames and on the degraded frames, and the PSNR of
    the generator's output next to its noisy input. Each seed and dataset
    costs about two demos' training with both generators; --quick takes about
    a minute per seed.
    """
    from abaw.cli.render_experiment import experiment_table, seeds_table
    from abaw.recipes.progressive import ExperimentSettings, run_experiment
    from abaw.recipes.settings import default_folders

    if root is not None and data is not None:
        raise click.UsageError("give --root (a dataset to use) or --data (where to generate one), not both")
    data_dir = data if data is not None else default_folders(quick)[0]
    refuse_json_overwrite(json_path, force, DatasetSource(root if root is not None else data_dir))
    given = {"seeds": seeds, "generators": generators, "datasets": datasets}
    settings = ExperimentSettings.create(
        quick=quick,
        data_seed=data_seed,
        epochs=epochs,
        learning_rates=learning_rates,
        batch_size=batch_size,
        psnr_faces=psnr_faces,
        **{name: values for name, values in given.items() if values is not None},  # else the library's defaults
        **knobs,
    )
    try:
        result = run_experiment(
            settings,
            out,
            root=root,
            data_dir=data_dir,
            force=force,
            resume=resume,
            runtime=cli.recipe_runtime(device, workers, "experiment"),
        )
    except KeyboardInterrupt:
        click.echo("interrupted; the same command with --resume continues where it stopped", err=True)
        raise SystemExit(EXIT_INTERRUPTED) from None
    for note in result.notes:
        cli.warn(note)
    cli.console.print(experiment_table(result))
    cli.console.print(seeds_table(result))
    write_json(json_path, result.to_dict(), force)
