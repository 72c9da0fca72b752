"""Time reading, scoring, writing and checking at the full size of the challenge.

Generates a synthetic validation split in a temporary folder (annotation
files of about 5000 lines, with -5 rows, and matching per-video prediction
files, some one line shorter as decoded videos often are), then times each
stage (:func:`measure` returns the figures, :mod:`abaw.cli.render_benchmarks`
draws seconds and lines per second)::

    python -m abaw.cli.run_benchmark scoring [--videos 600] [--lines 3000000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from abaw.benchmarks import SCRIPT
from abaw.data.annotations import read_annotation
from abaw.formats.check import check_submission
from abaw.formats.readers import read_predictions
from abaw.formats.writers import format_values, write_per_video, write_single_file, zip_submission
from abaw.progress import ProgressFn, no_progress
from abaw.scoring.report import ScoreReport, score_predictions

T = TypeVar("T")


def generate_split(root: Path, videos: int, lines: int, seed: int = 0) -> tuple[Path, Path, dict[str, int]]:
    """Write annotation and per-video prediction files; return their folders and the frame counts.

    Every third video's predictions have one line less than its labels (one
    per decoded frame), as is common in Aff-Wild2.
    """
    rng = np.random.default_rng(seed)
    labels_dir, predictions_dir = root / "Validation_Set", root / "predictions"
    labels_dir.mkdir(parents=True)
    predictions_dir.mkdir()
    sizes = rng.multinomial(lines - 2 * videos, np.full(videos, 1 / videos)) + 2
    frame_counts = {}
    for k, rows in enumerate(sizes):
        name = f"video{k}" if k % 7 else f"{k}-30-1280x720_left"
        truth = np.clip(np.cumsum(rng.normal(0, 0.02, (rows, 2)), axis=0), -1, 1)
        text = format_values(truth, 3).split(b"\n")
        start = int(rng.integers(0, rows))
        for row in range(start, min(rows, start + int(rng.integers(0, rows // 10 + 1)))):
            text[row] = b"-5,-5"
        (labels_dir / f"{name}.txt").write_bytes(b"valence,arousal\n" + b"\n".join(text))
        frames = int(rows - (k % 3 == 0))
        frame_counts[name] = frames
        guess = truth[:frames] + rng.normal(0, 0.2, (frames, 2))
        (predictions_dir / f"{name}.txt").write_bytes(b"valence,arousal\n" + format_values(guess, 6))
    return labels_dir, predictions_dir, frame_counts


@dataclass(frozen=True)
class StageTime:
    """How long one stage took, over how many lines."""

    stage: str
    seconds: float
    lines: int


@dataclass
class ScoringBenchmark:
    """The figures of one run.

    Attributes:
        videos: Videos in the synthetic split.
        lines: Label lines over all videos.
        stages: Each stage timed, in the order run.
        report: The scores of the predictions (a check that scoring ran through).
        failed_checks: One line per submission check that failed (none expected).
    """

    videos: int
    lines: int
    stages: list[StageTime]
    report: ScoreReport
    failed_checks: list[str]

    @property
    def status(self) -> int:
        """The exit status: 1 when a submission check failed, else 0."""
        return 1 if self.failed_checks else 0

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dictionary."""
        return {
            "videos": self.videos,
            "lines": self.lines,
            "stages": [asdict(stage) for stage in self.stages],
            "report": self.report.to_dict(),
            "failed_checks": list(self.failed_checks),
        }


def _timed(rows: list[StageTime], stage: str, lines: int | Callable[[T], int], run: Callable[[], T]) -> T:
    start = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - start
    rows.append(StageTime(stage, seconds, lines(result) if callable(lines) else lines))
    return result


def measure(videos: int, lines: int, seed: int = 0, progress: ProgressFn = no_progress) -> ScoringBenchmark:
    """Generate the split in a temporary folder and time each stage on it.

    Args:
        videos: Videos in the split.
        lines: Label lines over all videos.
        seed: Seed of the synthetic data.
        progress: Wraps the generation (one step), for a spinner.
    """
    rows: list[StageTime] = []
    with tempfile.TemporaryDirectory(prefix="abaw-bench-") as tmp:
        root = Path(tmp)
        for _ in progress([None], "generating the synthetic split", 1):
            labels_dir, predictions_dir, frame_counts = generate_split(root, videos, lines, seed)
        frame_total = sum(frame_counts.values())
        labels = _timed(
            rows,
            "read + parse labels",
            lambda result: sum(len(v) for v in result.values()),
            lambda: {path.stem: read_annotation(path) for path in sorted(labels_dir.glob("*.txt"))},
        )
        predictions = _timed(
            rows, "read predictions (per-video)", frame_total, lambda: read_predictions(predictions_dir)
        )
        report = _timed(
            rows,
            "score_predictions",
            frame_total,
            lambda: score_predictions(predictions, labels, line_counts=frame_counts, per_video=True),
        )
        per_video = _timed(
            rows,
            "write per-video submission",
            frame_total,
            lambda: write_per_video(root / "submission", predictions.videos, frame_counts),
        )
        single = _timed(
            rows,
            "write single-file submission",
            frame_total,
            lambda: write_single_file(root / "submission.csv", predictions.videos, frame_counts),
        )
        archive = _timed(
            rows, "zip per-video submission", frame_total, lambda: zip_submission(per_video, root / "sub.zip")
        )
        _timed(rows, "read predictions (single file)", frame_total, lambda: read_predictions(single))
        sample_written = _timed(
            rows,
            "write single file in sample order",
            frame_total,
            lambda: write_single_file(root / "again.csv", predictions.videos, sample_file=single),
        )
        checks = [
            _timed(rows, "check per-video folder", frame_total, lambda: check_submission(per_video, frame_counts)),
            _timed(rows, "check per-video zip", frame_total, lambda: check_submission(archive, frame_counts)),
            _timed(rows, "check single file", frame_total, lambda: check_submission(single, frame_counts)),
            _timed(
                rows,
                "check single file against sample",
                frame_total,
                lambda: check_submission(sample_written, None, sample_file=single),
            ),
        ]
    failed = [f"check failed for {check.path}: {check.problems[:3]}" for check in checks if not check.ok]
    return ScoringBenchmark(videos, lines, rows, report, failed)


def main(argv: Sequence[str] | None = None, progress: ProgressFn = no_progress) -> ScoringBenchmark:
    """Run the benchmark with the options ``argv``; its figures (``status`` 1 when a check failed)."""
    parser = argparse.ArgumentParser(prog=f"{SCRIPT} scoring", description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=600, help="videos in the split (default 600)")
    parser.add_argument("--lines", type=int, default=3_000_000, help="label lines over all videos (default 3000000)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.videos < 1 or args.lines < 2 * args.videos:
        parser.error("need at least one video and two lines per video")
    return measure(args.videos, args.lines, args.seed, progress=progress)
