"""``abaw demo``: the whole workflow on the generated demo dataset (the main job of a fresh clone)."""

from __future__ import annotations

from pathlib import Path

import click

from abaw.cli.context import EXIT_CHECK_FAILED, EXIT_INTERRUPTED, CliContext, pass_cli_context
from abaw.cli.options import json_option, output_path, refuse_json_overwrite, submission_format_option, write_json
from abaw.cli.train import epoch_counts
from abaw.data.source import DatasetSource
from abaw.formats.types import SubmissionFormat


@click.command(name="demo")
@click.option("--data", type=output_path, help="Demo dataset folder, reused when present [default: demo-data].")
@click.option("--out", type=output_path, help="Output folder [default: submissions/demo].")
@click.option(
    "--quick",
    is_flag=True,
    help="Smoke run of every step in under a minute: tiny variants and dataset "
    "(defaults: demo-data-quick, submissions/demo-quick).",
)
@click.option(
    "--epochs",
    callback=epoch_counts,
    help="Epochs of the Disc, AEG-CD and AEG-CD-SZ stages (18 iterations each), comma-separated [default: 3,1,1].",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the dataset and the training runs.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda.")
@click.option("--workers", type=click.IntRange(min=0), default=2, show_default=True, help="Loader processes.")
@submission_format_option
@click.option("--resume", is_flag=True, help="Continue an interrupted demo (OUT.partial) where it stopped.")
@json_option
@pass_cli_context
def demo_command(
    cli: CliContext,
    data: Path | None,
    out: Path | None,
    quick: bool,
    epochs: list[int] | None,
    seed: int,
    device: str,
    workers: int,
    submission_format: str,
    resume: bool,
    json_path: Path | None,
    force: bool,
) -> None:
    """Generate the demo dataset, train Disc -> AEG-CD -> AEG-CD-SZ and a temporal model, submit the best, draw figures.

    About 4 minutes on a 2-core CPU, under 10 on a slow one (the --quick smoke run: under a minute).
    Starts by timing a few training steps and printing the estimated time.
    Prints the validation scores shaped like the paper's Table II beside the
    published rows; exits 1 if the test submission fails its check.
    """
    from abaw.cli.render_demo import demo_outputs_table, demo_table, stages_table
    from abaw.recipes.demo import run_demo
    from abaw.recipes.settings import DemoRecipe, default_folders

    default_data, default_out = default_folders(quick)
    refuse_json_overwrite(json_path, force, DatasetSource(data if data is not None else default_data))
    recipe = (DemoRecipe.quick() if quick else DemoRecipe()).with_seed(seed)
    if epochs is not None:
        recipe = recipe.with_epochs(epochs)
    try:
        result = run_demo(
            recipe,
            data if data is not None else default_data,
            out if out is not None else default_out,
            force=force,
            resume=resume,
            submission_format=SubmissionFormat(submission_format),
            runtime=cli.recipe_runtime(device, workers, "demo"),
        )
    except KeyboardInterrupt:
        click.echo("interrupted; `abaw demo --resume` (with the same options) continues where it stopped", err=True)
        raise SystemExit(EXIT_INTERRUPTED) from None
    for note in result.notes:
        cli.warn(note)
    cli.console.print(demo_table(result))
    stages = stages_table(result)
    if stages is not None:
        cli.console.print(stages)
    cli.console.print(demo_outputs_table(result))
    write_json(json_path, result.to_dict(), force)
    if not result.submission_ok:
        raise SystemExit(EXIT_CHECK_FAILED)
