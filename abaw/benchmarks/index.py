"""Benchmark: index a full-size dataset tree (about 600 videos, 3 million label lines).

Builds a tree laid out like Aff-Wild2 in a temporary folder (annotation files
and empty face images; no video files), then times the first index build,
a cached load, and the probe of one generated video container.

Run: ``python -m abaw.benchmarks.index [--videos 600] [--lines 3000000]``
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from abaw.data.frames import frame_image_path
from abaw.data.index import open_dataset
from abaw.data.layout import Edition
from abaw.data.video import probe_video
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=600)
    parser.add_argument("--lines", type=int, default=3_000_000)
    args = parser.parse_args(argv)
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        start = time.perf_counter()
        lines = build_tree(root, args.videos, args.lines)
        console.print(
            f"built a tree of {args.videos} videos, {lines:,} label lines in {time.perf_counter() - start:.1f} s"
        )
        start = time.perf_counter()
        index = open_dataset(root)
        first = time.perf_counter() - start
        start = time.perf_counter()
        cached = open_dataset(root)
        again = time.perf_counter() - start
        assert cached.from_cache and not index.from_cache
        probe = probe_seconds(Path(tmp) / "generated")
    table = Table(title=f"Dataset index, {args.videos} videos, {lines:,} label lines (1 process)")
    table.add_column("step")
    table.add_column("seconds", justify="right")
    table.add_column("label lines/s", justify="right")
    table.add_row("first build (parse + list faces)", f"{first:.2f}", f"{lines / first:,.0f}")
    table.add_row("cached load (stat + read cache)", f"{again:.2f}", f"{lines / again:,.0f}")
    table.add_row("probe one video container", f"{probe:.4f}", "")
    table.add_row(f"estimated probes for {args.videos} videos", f"{probe * args.videos:.1f}", "")
    console.print(table)


if __name__ == "__main__":
    main()
