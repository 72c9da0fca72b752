"""Extraction: decode every video's audio, run openSMILE once per track, pool per frame, cache.

Videos run in threads (openSMILE and the decoder release the GIL); a video
whose cached file is up to date is skipped. After the videos, the train
split's normalisation statistics and ``report.json`` are written.
"""

from __future__ import annotations

import json
import math
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from abaw.data.audio.cache import (
    AUDIO_FEATURES_FORMAT,
    REPORT_NAME,
    STATS_NAME,
    entry_rows,
    features_folder,
    read_meta,
    stale_reason,
    video_key,
)
from abaw.data.audio.config import DEFAULT_AUDIO_CONFIG, AudioFeatureConfig
from abaw.data.audio.decode import AUDIO_RATE, read_audio
from abaw.data.audio.normalise import write_stats
from abaw.data.audio.opensmile import LLD_WINDOW, video_audio_features
from abaw.data.index import DatasetIndex
from abaw.errors import DataError
from abaw.fileio import atomic_output_file, atomic_write_json
from abaw.outputs import output_lock
from abaw.progress import ProgressFn, no_progress


@dataclass
class AudioFeatureReport:
    """What :func:`extract_audio_features` did.

    Attributes:
        config: The configuration extracted.
        folder: Where the per-video files are.
        videos: Distinct videos of the dataset.
        extracted: Videos whose features were computed in this run, with audio.
        skipped: Videos whose cached features were up to date.
        failed: Videos given zero features in this run (no or unreadable audio).
        without_audio: Every video (stem) with zero features, this run or cached.
        truncated: Videos (stems) whose audio ends before the video does.
        entries_without_video: Entries with no video file (zero features).
        warnings: One line per problem, naming the file.
        train_rows: Train rows the normalisation statistics come from.
        audio_seconds: Seconds of audio decoded in this run.
        seconds: Wall-clock seconds of the run.
        stats_path: The normalisation statistics.
        report_path: This report as JSON.
    """

    config: AudioFeatureConfig
    folder: Path
    videos: int = 0
    extracted: int = 0
    skipped: int = 0
    failed: int = 0
    without_audio: list[str] = field(default_factory=list)
    truncated: list[str] = field(default_factory=list)
    entries_without_video: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    train_rows: int = 0
    audio_seconds: float = 0.0
    seconds: float = 0.0
    stats_path: Path | None = None
    report_path: Path | None = None

    @property
    def dim(self) -> int:
        """Values per frame."""
        return self.config.dim

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready copy."""
        return {
            "config": self.config.to_dict(),
            "key": self.config.key,
            "dim": self.dim,
            "folder": str(self.folder),
            "videos": self.videos,
            "extracted": self.extracted,
            "skipped": self.skipped,
            "failed": self.failed,
            "without_audio": list(self.without_audio),
            "truncated": list(self.truncated),
            "entries_without_video": list(self.entries_without_video),
            "warnings": list(self.warnings),
            "train_rows": self.train_rows,
            "audio_seconds": round(self.audio_seconds, 3),
            "seconds": round(self.seconds, 3),
            "stats": None if self.stats_path is None else str(self.stats_path),
            "report": None if self.report_path is None else str(self.report_path),
        }


@dataclass(frozen=True)
class _Job:
    """One video to extract: every entry of the dataset that comes from it."""

    video: Path
    fps: float | None
    frames: int | None
    rows: int


@dataclass(frozen=True)
class _Outcome:
    stem: str
    extracted: bool
    has_audio: bool
    truncated: bool
    warnings: tuple[str, ...]
    audio_seconds: float


def _extract_one(job: _Job, config: AudioFeatureConfig, target: Path) -> _Outcome:
    """Decode, run openSMILE, pool and write one video's features; never raises a DataError."""
    stem = job.video.stem
    key = video_key(job.video)
    notes: list[str] = []
    features: np.ndarray | None = None
    duration = 0.0
    truncated = False
    try:
        track = read_audio(job.video)
        if job.fps is None:
            raise DataError("the frame rate is unknown (the video cannot be probed)", path=job.video)
        duration = track.duration
        if duration < LLD_WINDOW:
            raise DataError(f"the audio track is shorter than {LLD_WINDOW * 1000:.0f} ms", path=job.video)
        # Enough rows that every row past the stored ones lies past the end of the audio: padding
        # an entry by repeating the last stored row is then exact.
        rows = max(job.rows, math.ceil(duration * job.fps) + 2)
        try:
            features = video_audio_features(track.samples, track.rate, job.fps, rows, config)
        except (RuntimeError, ValueError) as error:
            raise DataError(f"openSMILE failed on the audio ({error})", path=job.video) from None
        missing = math.floor(((job.frames or 0) / job.fps - duration) * job.fps + 1e-6)
        if missing >= 1:
            truncated = True
            notes.append(
                f"{job.video}: the audio ends at {duration:.2f} s, {missing} of {job.frames} frames before the "
                "end of the video; their audio features repeat the last LLD frame"
            )
    except DataError as error:
        notes.append(f"{error}; its audio features are zeros")
    has_audio = features is not None
    if features is None:
        features = np.zeros((job.rows, config.dim), dtype=np.float32)
    meta = {
        "format": AUDIO_FEATURES_FORMAT,
        "config": config.to_dict(),
        "video": str(job.video),
        "video_key": key,
        "fps": job.fps,
        "rate": AUDIO_RATE,
        "duration": duration,
        "rows": len(features),
        "has_audio": has_audio,
        "truncated": truncated,
        "warnings": notes,
    }
    with atomic_output_file(target, force=True) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, features=features, meta=np.array(json.dumps(meta)))
    return _Outcome(stem, True, has_audio, truncated, tuple(notes), duration)


def _cached_outcome(stem: str, meta: dict[str, Any]) -> _Outcome:
    return _Outcome(
        stem, False, bool(meta["has_audio"]), bool(meta.get("truncated")), tuple(meta.get("warnings", ())), 0.0
    )


def _video_jobs(index: DatasetIndex, report: AudioFeatureReport) -> dict[str, _Job]:
    jobs: dict[str, _Job] = {}
    for entry in index.entries.values():
        if entry.video is None:
            where = entry.annotation or index.layout.test_list or index.layout.root
            report.entries_without_video.append(entry.name)
            report.warnings.append(f"{where}: no video file for {entry.name}; its audio features are zeros")
            continue
        stem = entry.video.stem
        previous = jobs.get(stem)
        rows = max(entry_rows(entry), entry.frame_count)
        if previous is not None:
            rows = max(rows, previous.rows)
        jobs[stem] = _Job(video=entry.video, fps=entry.fps, frames=entry.video_frames, rows=rows)
    return dict(sorted(jobs.items()))


def extract_audio_features(
    index: DatasetIndex,
    config: AudioFeatureConfig = DEFAULT_AUDIO_CONFIG,
    *,
    jobs: int = 1,
    force: bool = False,
    progress: ProgressFn = no_progress,
) -> AudioFeatureReport:
    """Extract the per-frame audio features of every video of ``index`` (all splits).

    Videos run in ``jobs`` threads (openSMILE and the decoder release the
    GIL). A video whose cached file is up to date (the same content key,
    :mod:`abaw.data.digest`, and configuration) is skipped unless ``force``.
    Then the train split's normalisation statistics and the report are
    written. The folder is written by one process at a time (the outputs'
    lock, :func:`abaw.outputs.output_lock`).

    Args:
        index: The dataset.
        config: Feature set and pooling.
        jobs: Videos processed at once.
        force: Extract every video again.
        progress: Wraps the per-video loop.

    Returns:
        Counts, warnings and where everything was written.

    Raises:
        OutputBusyError: another abaw process is extracting the same features.
    """
    folder = features_folder(index, config)
    with output_lock(folder):
        return _extract_locked(index, config, folder, jobs=jobs, force=force, progress=progress)


def _extract_locked(
    index: DatasetIndex, config: AudioFeatureConfig, folder: Path, *, jobs: int, force: bool, progress: ProgressFn
) -> AudioFeatureReport:
    began = time.perf_counter()
    report = AudioFeatureReport(config=config, folder=folder)
    video_jobs = _video_jobs(index, report)
    report.videos = len(video_jobs)
    outcomes: dict[str, _Outcome] = {}
    pending: list[tuple[str, _Job]] = []
    for stem, job in video_jobs.items():
        meta = None if force else read_meta(folder / f"{stem}.npz")
        if meta is not None and stale_reason(meta, job.video, config) is None:
            outcomes[stem] = _cached_outcome(stem, meta)
        else:
            pending.append((stem, job))
    folder.mkdir(parents=True, exist_ok=True)
    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    try:
        futures = [pool.submit(_extract_one, job, config, folder / f"{stem}.npz") for stem, job in pending]
        for future in progress(as_completed(futures), "Extracting audio features", len(futures)):
            outcome = future.result()
            outcomes[outcome.stem] = outcome
    finally:
        # On Ctrl-C or an unexpected error, drop the videos not started instead of waiting for them.
        pool.shutdown(wait=True, cancel_futures=True)
    for stem in sorted(outcomes):
        outcome = outcomes[stem]
        report.extracted += outcome.extracted and outcome.has_audio
        report.skipped += not outcome.extracted
        report.failed += outcome.extracted and not outcome.has_audio
        report.audio_seconds += outcome.audio_seconds
        if not outcome.has_audio:
            report.without_audio.append(stem)
        if outcome.truncated:
            report.truncated.append(stem)
        report.warnings.extend(outcome.warnings)
    report.stats_path = folder / STATS_NAME
    report.train_rows = write_stats(index, config, folder, report.warnings)
    report.report_path = folder / REPORT_NAME
    report.seconds = time.perf_counter() - began
    atomic_write_json(report.report_path, report.to_dict(), force=True)
    return report
