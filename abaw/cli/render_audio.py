"""Drawing the audio features' results, and the command that makes missing features."""

from __future__ import annotations

import shlex

from rich.table import Table

from abaw.data.audio import AudioFeatureConfig, AudioFeatureReport
from abaw.data.layout import DEFAULT_CACHE_NAME, DatasetLayout


def dataset_words(layout: DatasetLayout) -> str:
    """``--root ROOT``, and ``--cache DIR`` when the cache is not the default one: the options that find ``layout``."""
    words = f"--root {shlex.quote(str(layout.root))}"
    if layout.cache_dir != layout.root / DEFAULT_CACHE_NAME:
        words += f" --cache {shlex.quote(str(layout.cache_dir))}"
    return words


def audio_features_command(layout: DatasetLayout, config: AudioFeatureConfig) -> str:
    """The ``abaw features audio`` command line that extracts ``config`` for the dataset of ``layout``."""
    return (
        f"abaw features audio {dataset_words(layout)} "
        f"--feature-set {config.feature_set.value} --pooling {config.pooling.value}"
    )


def audio_report_table(report: AudioFeatureReport) -> Table:
    """The report of ``abaw features audio`` as a ``rich`` table, one count per row."""
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
