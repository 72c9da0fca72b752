"""``abaw data``: check a dataset root, or generate one laid out like Aff-Wild2."""

from __future__ import annotations

from pathlib import Path

import click

from abaw.cli.context import EXIT_CHECK_FAILED, CliContext, pass_cli_context
from abaw.cli.options import json_option, output_path, refuse_json_overwrite, with_dataset, write_json
from abaw.cli.render_data import (
    entries_table,
    frame_count_rule_table,
    histogram_table,
    problem_lines,
    problems_table,
    summary_table,
)
from abaw.data.index import DatasetIndex
from abaw.data.layout import Edition
from abaw.data.report import check_dataset
from abaw.synthetic import GeneratorConfig, generate_dataset


@click.group()
def data() -> None:
    """Inspect or generate datasets."""


@data.command()
@with_dataset
@click.option("--per-video", is_flag=True, help="Also print one row per video entry.")
@click.option("--verify-images", is_flag=True, help="Decode every face image (slow on the full dataset).")
@click.option(
    "--decode-frames",
    is_flag=True,
    help="Decode every video to count its frames D (slow; cached), a candidate of the frame-count rule.",
)
@json_option
@pass_cli_context
def check(
    cli: CliContext,
    dataset: DatasetIndex,
    per_video: bool,
    verify_images: bool,
    decode_frames: bool,
    json_path: Path | None,
    force: bool,
) -> None:
    """Check that a dataset root is usable and summarise it per split.

    Also learns the frame-count rule of the test entries from the label
    files and prints every candidate rule with its agreement.

    Each problem is shown with its effect: it blocks a command, training
    skips its entry, or it is only a warning. Exits 1 when a file is corrupt
    or unreadable (an error) or nothing can be trained on, with the reasons;
    0 with warnings only.
    """
    refuse_json_overwrite(json_path, force)
    report = check_dataset(dataset, verify_images=verify_images, decode_frames=decode_frames, progress=cli.progress)
    for note in dataset.layout.notes:
        cli.warn(note)
    cli.console.print(summary_table(report))
    cli.console.print(histogram_table(report))
    rules = frame_count_rule_table(report)
    if rules is not None:
        cli.console.print(rules)
    for line in report.frame_count_lines():
        cli.console.print(line, markup=False, highlight=False)
    if per_video:
        cli.console.print(entries_table(report))
    if report.problems:
        cli.console.print(problems_table(report.problems))
    write_json(json_path, report.to_dict(), force)
    if not report.usable:
        for line in problem_lines(report.errors):
            click.echo(f"error: {line}", err=True)
        if not report.errors:
            missing = dataset.layout.annotations_missing()
            reason = missing or "train and validation need usable frames (a label and a face image)"
            click.echo(f"error: {reason}", err=True)
        raise SystemExit(EXIT_CHECK_FAILED)
    cli.console.print(f"[green]usable[/green]: {dataset.layout.root}")


@data.command()
@click.option("--out", required=True, type=output_path, help="Folder to create.")
@click.option("--seed", default=GeneratorConfig.seed, show_default=True, help="Random seed: same seed, same dataset.")
@click.option("--videos", default=GeneratorConfig.videos, show_default=True, help="Entries (persons) in all splits.")
@click.option("--frames", default=GeneratorConfig.frames, show_default=True, help="Frames per video (varies +-20%).")
@click.option(
    "--edition",
    type=click.Choice([edition.value for edition in Edition]),
    default=Edition.ABAW2022.value,
    show_default=True,
    help="Whose annotation folder names to use.",
)
@click.option(
    "--degraded-share",
    type=click.FloatRange(0.0, 0.8),
    default=GeneratorConfig.degraded_share,
    show_default=True,
    help="Share of every person's frames degraded as in-the-wild footage (0: none).",
)
@click.option("--force", is_flag=True, help="Replace a dataset abaw generated there (no other folder).")
@pass_cli_context
def generate(
    cli: CliContext, out: Path, seed: int, videos: int, frames: int, edition: str, degraded_share: float, force: bool
) -> None:
    """Generate a small dataset laid out exactly like Aff-Wild2, for tests and the demo."""
    config = GeneratorConfig(
        seed=seed, videos=videos, frames=frames, edition=Edition(edition), degraded_share=degraded_share
    )
    dataset = generate_dataset(out, config, force=force, progress=cli.progress)
    cli.console.print(f"wrote {len(dataset.entries)} entries to {dataset.root}")
