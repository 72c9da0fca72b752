"""The scoring benchmark: figures from the library, drawn by the command line."""

from __future__ import annotations

import dataclasses

from rich.console import Console

from abaw.benchmarks.scoring import main, measure
from abaw.cli.render_benchmarks import print_figures


def test_measure_times_every_stage_and_every_check_passes() -> None:
    seen = []

    def progress(items, description="", total=None):
        seen.append(description)
        return items

    figures = measure(videos=3, lines=60, seed=1, progress=progress)
    assert seen == ["generating the synthetic split"]
    assert len(figures.stages) == 12 and all(row.seconds >= 0 for row in figures.stages)
    assert figures.stages[0].lines == 60  # every label line read
    # Video 0 has one prediction line less than its labels: every later stage handles 59 lines.
    assert {row.lines for row in figures.stages[1:]} == {59}
    assert figures.report.videos == 3
    assert figures.failed_checks == []


def test_benchmark_table_names_sizes_stages_and_failures() -> None:
    figures = measure(videos=2, lines=40)
    console = Console(record=True, width=200)
    failed = dataclasses.replace(figures, failed_checks=["check failed for x.zip: ['bad']"])
    print_figures(console, "scoring", failed)
    text = console.export_text()
    assert "abaw scoring benchmark: 2 videos, 40 label lines" in text
    assert "write single file in sample order" in text
    assert f"CCC mean {figures.report.scores.ccc_mean:.4f}" in text
    assert "check failed for x.zip: ['bad']" in text
    assert (figures.status, failed.status) == (0, 1)
    assert failed.to_dict()["failed_checks"] == ["check failed for x.zip: ['bad']"]


def test_main_returns_the_figures_of_its_options() -> None:
    figures = main(["--videos", "2", "--lines", "40"])
    assert (figures.videos, figures.lines, figures.status) == (2, 40, 0)
