"""Benchmark: index a full-size dataset tree (about 600 videos, 3 million label lines).

Builds a tree laid out like Aff-Wild2 in a temporary folder (annotation files
and empty face images; no video files), then times the first index build,
a cached load, and the probe of one generated video container.
:func:`main` returns the figures; ``abaw benchmark`` (or
``python -m abaw.cli.run_benchmark index``) draws them.

Run: ``python -m abaw.cli.run_benchmark index [--videos 600] [--lines 3000000]``
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from abaw.benchmarks import SCRIPT
from abaw.data.frames import frame_image_path
from abaw.data.index import open_dataset
from abaw.data.layout import Edition
from abaw.data.video import probe_video
from abaw.progress import ProgressFn, no_progress
from abaw.synthetic import GeneratorConfig, generate_dataset


def build_tree(root: Path, videos: int, lines: int, seed: int = 0) -> int:
    """Write ``videos`` annotation files sharing ``lines`` label lines, and their face images."""
    rng = np.random.default_rng(seed)
    edition = Edition.ABAW2022
    per_video = lines // videos
    written = 0
    for number in range(videos):
        split = edition.train_folder if number % 5 else edition.validation_folder
        folder = root / edition.annotation_parent / split
        folder.mkdir(parents=True, exist_ok=True)
        values = np.round(rng.uniform(-1, 1, size=(per_video, 2)), 3)
        values[rng.random(per_video) < 0.02] = -5
        text = "valence,arousal\n" + "\n".join(f"{v:g},{a:g}" for v, a in values) + "\n"
        (folder / f"video{number}.txt").write_text(text)
        faces = root / "cropped_aligned" / f"video{number}"
        faces.mkdir(parents=True)
        for frame in np.flatnonzero(rng.random(per_video) > 0.03) + 1:
            os.close(os.open(frame_image_path(faces, int(frame)), os.O_CREAT | os.O_WRONLY, 0o644))
        written += per_video
    return written


def probe_seconds(folder: Path) -> float:
    """Seconds to probe one generated video's container."""
    dataset = generate_dataset(folder, GeneratorConfig(videos=6, frames=300))
    video = next(iter(dataset.entries.values())).video
    start = time.perf_counter()
    for _ in range(20):
        probe_video(video)
    return (time.perf_counter() - start) / 20


@dataclass(frozen=True)
class IndexBenchmark:
    """The figures of one run (seconds, one process).

    Attributes:
        options: The options the benchmark ran with.
        videos: Videos in the tree.
        lines: Label lines in the tree.
        build_tree: Writing the tree.
        first_build: The first index build (parse the labels, list the faces).
        cached_load: Loading the index from its cache.
        probe: Probing one video container.
    """

    options: dict[str, Any]
    videos: int
    lines: int
    build_tree: float
    first_build: float
    cached_load: float
    probe: float


def parse_options(argv: list[str] | None = None) -> argparse.Namespace:
    """The benchmark's options."""
    parser = argparse.ArgumentParser(prog=f"{SCRIPT} index", description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=600)
    parser.add_argument("--lines", type=int, default=3_000_000)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, progress: ProgressFn = no_progress) -> IndexBenchmark:
    """Run the benchmark with the options ``argv``; its figures. ``progress`` wraps the building of the tree."""
    args = parse_options(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        for _ in progress([None], f"building a tree of {args.videos} videos", 1):
            start = time.perf_counter()
            lines = build_tree(root, args.videos, args.lines)
            built = time.perf_counter() - start
        start = time.perf_counter()
        index = open_dataset(root)
        first = time.perf_counter() - start
        start = time.perf_counter()
        cached = open_dataset(root)
        again = time.perf_counter() - start
        assert cached.from_cache and not index.from_cache
        probe = probe_seconds(Path(tmp) / "generated")
    return IndexBenchmark(vars(args), args.videos, lines, built, first, again, probe)
