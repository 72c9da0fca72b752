"""``abaw plot``: PNG figures of a trained run (affect over time per video, face reconstruction)."""

from __future__ import annotations

from pathlib import Path

import click

from abaw.cli.context import CliContext, pass_cli_context
from abaw.cli.options import any_path, json_option, output_path, refuse_json_overwrite, with_dataset, write_json
from abaw.data.index import DatasetIndex
from abaw.data.layout import Split


@click.command(name="plot")
@click.argument("run_or_checkpoint", metavar="RUN_OR_CHECKPOINT", type=any_path)
@with_dataset
@click.option(
    "--out",
    required=True,
    type=output_path,
    help="Folder for the PNG files, created (--force replaces one abaw wrote).",
)
@click.option(
    "--split",
    type=click.Choice([Split.VALIDATION.value, Split.TRAIN.value]),
    default=Split.VALIDATION.value,
    show_default=True,
    help="A labelled split.",
)
@click.option(
    "--predictions",
    "predictions_path",
    type=any_path,
    help="Prediction files of abaw predict (folder, file or zip) instead of predicting with the checkpoint.",
)
# Not "videos": with_dataset's --videos (the video folder) already takes that parameter name.
@click.option(
    "--video", "video_names", multiple=True, help="Entry to plot (repeatable) [default: the split's first ones]."
)
@click.option("--max-videos", default=6, show_default=True, type=click.IntRange(min=1), help="Cap without --video.")
@click.option("--faces", default=4, show_default=True, type=click.IntRange(min=1), help="Rows of the reconstruction.")
@click.option(
    "--latent-channels",
    default=4,
    show_default=True,
    type=click.IntRange(min=0),
    help="Latent channels shown (those varying most).",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Chooses the faces and their noise.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda.")
@json_option
@pass_cli_context
def plot_command(
    cli: CliContext,
    run_or_checkpoint: Path,
    dataset: DatasetIndex,
    out: Path,
    split: str,
    predictions_path: Path | None,
    video_names: tuple[str, ...],
    max_videos: int,
    faces: int,
    latent_channels: int,
    seed: int,
    device: str,
    json_path: Path | None,
    force: bool,
) -> None:
    """Draw a run's figures: valence and arousal over time per video, and clean/noisy/cleaned faces.

    RUN_OR_CHECKPOINT is what abaw predict --checkpoint takes: a best.pt or
    last.pt of abaw train or abaw temporal train, a run folder (best.pt if
    present, else last.pt) or a kfold run folder (its folds averaged). Writes
    affect_<video>.png per video and, for a per-frame model with a generator,
    reconstruction.png.
    """
    from abaw.cli.render_prediction import figures_table
    from abaw.formats.readers import read_predictions
    from abaw.plots.run import plot_run

    refuse_json_overwrite(json_path, force)
    predictions = None
    if predictions_path is not None:
        read = read_predictions(predictions_path, progress=cli.progress)
        for note in read.notes:
            cli.warn(note)
        predictions = read.videos
    report = plot_run(
        run_or_checkpoint,
        dataset,
        out,
        split=Split(split),
        predictions=predictions,
        videos=list(video_names) or None,
        max_videos=max_videos,
        faces=faces,
        latent_channels=latent_channels,
        seed=seed,
        device=device,
        force=force,
        progress=cli.progress,
    )
    for note in report.notes:
        cli.warn(note)
    cli.console.print(figures_table(report, f"figures of {report.variant} ({report.checkpoint})"))
    write_json(json_path, report.to_dict(), force)
