"""One audio vector per video frame: openSMILE eGeMAPS low-level descriptors around the frame.

The paper's AEG-CD-SZ variant gives its discriminator, for video frame ``t``
(0-based), the audio from the start of frame ``t - 1`` to the end of frame
``t + 1``: the time window ``[(t - 1) / fps, (t + 2) / fps)``, clipped to
``[0, duration]``. openSMILE's low-level descriptors (LLDs) are computed on
60 ms windows every 10 ms; the paper runs openSMILE once per frame window
and keeps its first two LLD frames. Here openSMILE runs ONCE per audio track
and the LLD frames are sliced per window, which gives the same frames at a
small fraction of the cost (``python -m abaw.benchmarks.audio``).

Conventions:

* An LLD frame belongs to a window when its start time (openSMILE's
  ``start`` index, ``k * 10 ms`` on the track's grid) lies in
  ``[window start, window end)``. The first LLD frame of a window therefore
  starts up to 10 ms after the window does when the window start is not on
  the 10 ms grid (frames at 30 fps); at 25 fps every window start is.
* ``first2`` concatenates the window's first two LLD frames. A window with
  one LLD frame repeats it; a window with none (it starts after the last LLD
  frame: the last rows of a track, rows past the end of a truncated track)
  uses the track's last LLD frame twice.
* ``meanstd`` concatenates the mean and the (population) standard deviation
  over the window's LLD frames, with the same fallback (so the standard
  deviation is 0 where a window has one frame).
* A video without a usable audio track (none, undecodable, shorter than one
  60 ms LLD window, or no known frame rate) gets all-zero features, zero
  also after normalisation, and a warning in the report.
* Row ``i`` of an entry's features is 1-based frame ``i + 1``, one row per
  annotation line (``entry.label_rows``; ``entry.frame_count`` for entries
  without labels).

How the one-pass LLDs compare with openSMILE run on each window (the
paper's way), measured on the generated dataset (``tests/test_audio_features.py``):

* Energy and spectral LLDs (loudness, alpha ratio, Hammarberg index, spectral
  slopes, MFCC 1-4; spectral flux from the third frame on) are identical from
  the second LLD frame of a window on. The first frame differs because
  openSMILE's 3-frame smoothing (``_sma3``) has no left neighbour inside a
  short window; the one-pass value is the properly smoothed one.
* Pitch-derived LLDs (F0, HNR, harmonic differences, formants) need more
  context than a 100-120 ms window (60 ms pitch frames, pitch smoothing):
  they agree only inside longer segments (identical in over 99% of the
  values, 2 frames from the start and 10 from the end of 1 s segments).
* Jitter and shimmer depend on the whole preceding pitch-period history and
  agree with no per-segment call.

Extraction writes, under ``CACHE/audio/<config key>/``, one ``<video
stem>.npz`` per video (``_left``/``_right`` entries share it), keyed on the
video's size and modification time and the configuration; ``stats.json``
with the train split's per-dimension mean and standard deviation; and
``report.json``.
"""

from __future__ import annotations

import hashlib
import json
import math
import shlex
import threading
import time
import warnings
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from abaw.data.audio import AUDIO_RATE, read_audio
from abaw.data.entries import Entry
from abaw.data.index import DatasetIndex
from abaw.data.layout import DEFAULT_CACHE_NAME, Split
from abaw.errors import DataError
from abaw.fileio import atomic_output_file, atomic_write_json
from abaw.progress import ProgressFn, no_progress

__all__ = [
    "AudioFeatureConfig",
    "AudioFeatureReport",
    "AudioFeatures",
    "FeatureSet",
    "Pooling",
    "compute_llds",
    "extract_audio_features",
    "frame_windows",
    "lld_ranges",
    "load_audio_features",
    "pool_llds",
    "video_audio_features",
]

AUDIO_FEATURES_FORMAT = 1
"""Version of the cache files; a change makes every cached file stale."""
AUDIO_FOLDER = "audio"
"""Folder of the audio features under the dataset's cache folder."""
STATS_NAME = "stats.json"
REPORT_NAME = "report.json"
LLD_HOP = 0.010
"""Seconds between two LLD frames (eGeMAPS)."""
LLD_WINDOW = 0.060
"""Seconds of audio the longest eGeMAPS LLD (pitch) analyses; openSMILE needs at least this much."""
STD_FLOOR = 1e-3
"""Smallest standard deviation used to normalise: a dimension constant over train stays finite elsewhere."""
TIME_EPS = 1e-6
"""Seconds: an LLD frame starting this close before a window start still belongs to it (float rounding)."""
_POOL_CHUNK = 8192  # rows gathered at once when pooling: bounds memory on hour-long tracks


class FeatureSet(str, Enum):
    """openSMILE feature sets whose low-level descriptors can be pooled per frame.

    Example:
        >>> FeatureSet("eGeMAPSv01b").lld_count
        23
        >>> FeatureSet.EGEMAPS_V02.lld_count
        25
    """

    GEMAPS_V01B = "GeMAPSv01b"
    EGEMAPS_V01A = "eGeMAPSv01a"
    EGEMAPS_V01B = "eGeMAPSv01b"
    EGEMAPS_V02 = "eGeMAPSv02"

    @property
    def lld_count(self) -> int:
        """LLDs per LLD frame (openSMILE's ``feature_names`` at the LLD level)."""
        return {"GeMAPSv01b": 18, "eGeMAPSv01a": 23, "eGeMAPSv01b": 23, "eGeMAPSv02": 25}[self.value]

    @property
    def opensmile_name(self) -> str:
        """The member name in ``opensmile.FeatureSet``."""
        return {"eGeMAPSv01a": "eGeMAPS"}.get(self.value, self.value)

    def lld_names(self) -> list[str]:
        """openSMILE's names of the LLDs, in column order (loads openSMILE)."""
        return list(_smile(self).feature_names)


class Pooling(str, Enum):
    """How the LLD frames of a frame window become one vector (both give ``2 x lld_count`` values).

    Example:
        >>> Pooling("first2") is Pooling.FIRST2
        True
    """

    FIRST2 = "first2"
    MEANSTD = "meanstd"


def _member(enum: type[Enum], value: object, what: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        choices = ", ".join(str(member.value) for member in enum)
        raise DataError(f"{what} must be one of {choices}, got {value!r}") from None


@dataclass(frozen=True)
class AudioFeatureConfig:
    """Which audio features: openSMILE feature set and pooling over the frame window.

    Strings are accepted for both fields.

    Example:
        >>> config = AudioFeatureConfig("eGeMAPSv01b", "first2")
        >>> config.key, config.dim
        ('eGeMAPSv01b-first2', 46)
        >>> AudioFeatureConfig.from_dict(config.to_dict()) == config
        True
    """

    feature_set: FeatureSet = FeatureSet.EGEMAPS_V02
    pooling: Pooling = Pooling.FIRST2

    def __post_init__(self) -> None:
        object.__setattr__(self, "feature_set", _member(FeatureSet, self.feature_set, "feature set"))
        object.__setattr__(self, "pooling", _member(Pooling, self.pooling, "pooling"))

    @property
    def dim(self) -> int:
        """Values per frame: two LLD frames, or the mean and the standard deviation of each LLD."""
        return 2 * self.feature_set.lld_count

    @property
    def key(self) -> str:
        """A folder-safe name of the configuration, for example ``'eGeMAPSv02-first2'``."""
        return f"{self.feature_set.value}-{self.pooling.value}"

    @property
    def cli_options(self) -> str:
        """The ``abaw features audio`` options that select this configuration."""
        return f"--feature-set {self.feature_set.value} --pooling {self.pooling.value}"

    def feature_names(self) -> list[str]:
        """A name per value: ``<lld>@1``/``<lld>@2`` (first2) or ``<lld>@mean``/``<lld>@std`` (meanstd)."""
        first, second = ("1", "2") if self.pooling is Pooling.FIRST2 else ("mean", "std")
        names = self.feature_set.lld_names()
        return [f"{name}@{first}" for name in names] + [f"{name}@{second}" for name in names]

    def to_dict(self) -> dict[str, str]:
        """A JSON-ready copy."""
        return {"feature_set": self.feature_set.value, "pooling": self.pooling.value}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> AudioFeatureConfig:
        """The configuration :meth:`to_dict` describes."""
        return cls(feature_set=values["feature_set"], pooling=values["pooling"])


# --------------------------------------------------------------------------- windows and pooling


def frame_windows(rows: int, fps: float, duration: float) -> tuple[np.ndarray, np.ndarray]:
    """Start and end seconds of the audio window of each 0-based frame ``t < rows``.

    The window runs from the start of frame ``t - 1`` to the end of frame
    ``t + 1``, clipped to ``[0, duration]``; rows past the end of the audio
    get an empty window at ``duration``.

    Example:
        >>> starts, ends = frame_windows(4, 25.0, 0.1)
        >>> starts.round(3).tolist(), ends.round(3).tolist()
        ([0.0, 0.0, 0.04, 0.08], [0.08, 0.1, 0.1, 0.1])
    """
    if fps <= 0:
        raise DataError(f"frame rate must be positive, got {fps}")
    frames = np.arange(rows, dtype=np.float64)
    starts = np.clip((frames - 1) / fps, 0.0, duration)
    ends = np.clip((frames + 2) / fps, 0.0, duration)
    return starts, ends


def lld_ranges(lld_starts: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Half-open index ranges ``[lo, hi)`` of the LLD frames whose start lies in each window.

    Args:
        lld_starts: Start seconds of the track's LLD frames, increasing.
        starts: Window starts (from :func:`frame_windows`).
        ends: Window ends.

    Example:
        >>> lo, hi = lld_ranges(np.arange(10) * 0.01, np.array([0.0, 0.04]), np.array([0.08, 0.12]))
        >>> lo.tolist(), hi.tolist()
        ([0, 4], [8, 10])
    """
    lo = np.searchsorted(lld_starts, starts - TIME_EPS, side="left")
    hi = np.searchsorted(lld_starts, ends - TIME_EPS, side="left")
    return lo.astype(np.int64), np.maximum(hi, lo).astype(np.int64)


def pool_llds(llds: np.ndarray, lo: np.ndarray, hi: np.ndarray, pooling: Pooling) -> np.ndarray:
    """Pool the LLD frames ``llds[lo[i]:hi[i]]`` of every window into one row.

    Windows with fewer LLD frames than needed fall back as described in the
    module docstring; a track without LLD frames gives zeros.

    Args:
        llds: ``(frames, lld_count)`` LLDs of one track.
        lo: First LLD frame of each window.
        hi: One past the last LLD frame of each window.
        pooling: ``first2`` or ``meanstd``.

    Returns:
        ``(len(lo), 2 * lld_count)`` float32.

    Example:
        >>> llds = np.arange(8, dtype=np.float32).reshape(4, 2)
        >>> pool_llds(llds, np.array([0, 3, 4]), np.array([3, 4, 4]), Pooling.FIRST2).tolist()
        [[0.0, 1.0, 2.0, 3.0], [6.0, 7.0, 6.0, 7.0], [6.0, 7.0, 6.0, 7.0]]
        >>> pool_llds(llds, np.array([0]), np.array([2]), Pooling.MEANSTD).tolist()
        [[1.0, 2.0, 1.0, 1.0]]
    """
    count, width = llds.shape
    rows = len(lo)
    if count == 0:
        return np.zeros((rows, 2 * width), dtype=np.float32)
    # Empty windows (past the last LLD frame) fall back to the last frame of the track.
    first = np.minimum(lo, count - 1)
    stop = np.clip(np.maximum(hi, first + 1), 1, count)
    pooling = Pooling(pooling)
    if pooling is Pooling.FIRST2:
        second = np.minimum(first + 1, stop - 1)
        return np.concatenate([llds[first], llds[second]], axis=1).astype(np.float32, copy=False)
    out = np.empty((rows, 2 * width), dtype=np.float32)
    offsets = np.arange(int((stop - first).max()) if rows else 0)
    for begin in range(0, rows, _POOL_CHUNK):
        part = slice(begin, begin + _POOL_CHUNK)
        index = first[part, None] + offsets
        mask = index < stop[part, None]
        values = llds[np.minimum(index, count - 1)].astype(np.float64)
        weights = mask[..., None] / mask.sum(axis=1)[:, None, None]
        mean = (values * weights).sum(axis=1)
        variance = (((values - mean[:, None, :]) ** 2) * weights).sum(axis=1)
        out[part, :width] = mean
        out[part, width:] = np.sqrt(variance)
    return out


# --------------------------------------------------------------------------- openSMILE

_smile_lock = threading.Lock()
_local = threading.local()


def _smile(feature_set: FeatureSet) -> Any:
    """One openSMILE extractor per thread and feature set (a ``Smile`` is cheap but not shared between threads)."""
    cache: dict[FeatureSet, Any] = getattr(_local, "smiles", None) or {}
    _local.smiles = cache
    if feature_set not in cache:
        import opensmile  # pandas and openSMILE cost 0.3 s: only commands that extract pay it

        with _smile_lock, warnings.catch_warnings():
            # eGeMAPSv01a/b are deprecated upstream, but v01b is what the paper's network expects.
            warnings.filterwarnings("ignore", message=r"Feature set .* is deprecated", category=UserWarning)
            cache[feature_set] = opensmile.Smile(
                feature_set=getattr(opensmile.FeatureSet, feature_set.opensmile_name),
                feature_level=opensmile.FeatureLevel.LowLevelDescriptors,
            )
    return cache[feature_set]


def compute_llds(samples: np.ndarray, rate: int, feature_set: FeatureSet) -> tuple[np.ndarray, np.ndarray]:
    """Run openSMILE once on a whole signal.

    Args:
        samples: Mono float32 samples.
        rate: Their sample rate.
        feature_set: Which LLDs.

    Returns:
        ``(lld_starts, llds)``: start seconds of each LLD frame, and the
        ``(frames, lld_count)`` float32 LLDs; no frames when the signal is
        shorter than one 60 ms LLD window. openSMILE's NaNs become 0.
    """
    feature_set = FeatureSet(feature_set)
    if len(samples) < math.ceil(LLD_WINDOW * rate):
        return np.zeros(0), np.zeros((0, feature_set.lld_count), dtype=np.float32)
    frame = _smile(feature_set).process_signal(np.asarray(samples, dtype=np.float32), rate)
    starts = frame.index.get_level_values("start").total_seconds().to_numpy(dtype=np.float64)
    llds = np.nan_to_num(frame.to_numpy(dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    return starts, llds


def video_audio_features(
    samples: np.ndarray, rate: int, fps: float, rows: int, config: AudioFeatureConfig = AudioFeatureConfig()
) -> np.ndarray:
    """Per-frame features of one audio track: one openSMILE pass, then slicing.

    Args:
        samples: Mono samples, time 0 at the video's start.
        rate: Sample rate.
        fps: The video's frame rate.
        rows: Frames to produce (row ``t`` is 0-based frame ``t``).
        config: Feature set and pooling.

    Returns:
        ``(rows, config.dim)`` float32.
    """
    lld_starts, llds = compute_llds(samples, rate, config.feature_set)
    starts, ends = frame_windows(rows, fps, len(samples) / rate)
    lo, hi = lld_ranges(lld_starts, starts, ends)
    return pool_llds(llds, lo, hi, config.pooling)


# --------------------------------------------------------------------------- extraction


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

    def table(self) -> Table:
        """The report as a ``rich`` table, one count per row."""
        table = Table(title=f"Audio features {self.config.key}: {self.dim} values per frame", show_header=False)
        table.add_column("what")
        table.add_column("count", justify="right")
        table.add_row("videos", str(self.videos))
        table.add_row("extracted", str(self.extracted))
        table.add_row("skipped (up to date)", str(self.skipped))
        table.add_row("without audio (zeros)", str(len(self.without_audio)))
        table.add_row("truncated audio", str(len(self.truncated)))
        table.add_row("entries without a video (zeros)", str(len(self.entries_without_video)))
        table.add_row("train rows in the statistics", f"{self.train_rows:,}")
        table.add_row("audio extracted", f"{self.audio_seconds:,.1f} s of audio in {self.seconds:.1f} s")
        table.add_row("written to", str(self.folder))
        return table


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


def features_folder(index: DatasetIndex, config: AudioFeatureConfig) -> Path:
    """``CACHE/audio/<config key>``: where the features of ``config`` are kept."""
    return index.layout.cache_dir / AUDIO_FOLDER / config.key


def _entry_rows(entry: Entry) -> int:
    return entry.label_rows or entry.frame_count


def _video_stat(video: Path) -> dict[str, int] | None:
    try:
        info = video.stat()
    except OSError:
        return None
    return {"size": info.st_size, "mtime_ns": info.st_mtime_ns}


def _read_meta(path: Path) -> dict[str, Any] | None:
    try:
        with np.load(path, allow_pickle=False) as archive:
            return json.loads(str(archive["meta"]))
    except (OSError, KeyError, ValueError):
        return None


def _is_fresh(meta: dict[str, Any] | None, video: Path, config: AudioFeatureConfig) -> bool:
    return (
        meta is not None
        and meta.get("format") == AUDIO_FEATURES_FORMAT
        and meta.get("config") == config.to_dict()
        and meta.get("video_stat") == _video_stat(video)
    )


def _extract_one(job: _Job, config: AudioFeatureConfig, target: Path) -> _Outcome:
    """Decode, run openSMILE, pool and write one video's features; never raises a DataError."""
    stem = job.video.stem
    stat = _video_stat(job.video)
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
        "video_stat": stat,
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
        rows = max(_entry_rows(entry), entry.frame_count)
        if previous is not None:
            rows = max(rows, previous.rows)
        jobs[stem] = _Job(video=entry.video, fps=entry.fps, frames=entry.video_frames, rows=rows)
    return dict(sorted(jobs.items()))


def extract_audio_features(
    index: DatasetIndex,
    config: AudioFeatureConfig = AudioFeatureConfig(),
    *,
    jobs: int = 1,
    force: bool = False,
    progress: ProgressFn = no_progress,
) -> AudioFeatureReport:
    """Extract the per-frame audio features of every video of ``index`` (all splits).

    Videos run in ``jobs`` threads (openSMILE and the decoder release the
    GIL). A video whose cached file is up to date (same size, modification
    time and configuration) is skipped unless ``force``. Then the train
    split's normalisation statistics and the report are written.

    Args:
        index: The dataset.
        config: Feature set and pooling.
        jobs: Videos processed at once.
        force: Extract every video again.
        progress: Wraps the per-video loop.

    Returns:
        Counts, warnings and where everything was written.
    """
    began = time.perf_counter()
    folder = features_folder(index, config)
    report = AudioFeatureReport(config=config, folder=folder)
    video_jobs = _video_jobs(index, report)
    report.videos = len(video_jobs)
    outcomes: dict[str, _Outcome] = {}
    pending: list[tuple[str, _Job]] = []
    for stem, job in video_jobs.items():
        meta = None if force else _read_meta(folder / f"{stem}.npz")
        if meta is not None and _is_fresh(meta, job.video, config):
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
    report.train_rows = _write_stats(index, config, folder, report)
    report.report_path = folder / REPORT_NAME
    report.seconds = time.perf_counter() - began
    atomic_write_json(report.report_path, report.to_dict(), force=True)
    return report


# --------------------------------------------------------------------------- statistics


def _fit_rows(features: np.ndarray, rows: int) -> np.ndarray:
    """Trim, or pad by repeating the last row (exact past the end of the audio), to ``rows``."""
    if len(features) >= rows:
        return features[:rows]
    if not len(features):
        return np.zeros((rows, features.shape[1]), dtype=features.dtype)
    return np.concatenate([features, np.repeat(features[-1:], rows - len(features), axis=0)])


def _stats_fingerprint(index: DatasetIndex, entries: Iterable[Entry]) -> str:
    digest = hashlib.sha256()
    for entry in entries:
        stat = None if entry.video is None else _video_stat(entry.video)
        digest.update(f"{entry.name} {entry.video} {stat} {_entry_rows(entry)}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def _write_stats(index: DatasetIndex, config: AudioFeatureConfig, folder: Path, report: AudioFeatureReport) -> int:
    """Per-dimension mean and standard deviation over the rows of the train entries that have audio."""
    train = index.split(Split.TRAIN)
    count = 0
    mean = np.zeros(config.dim)
    squares = np.zeros(config.dim)  # sum of squared deviations from the running mean (Chan et al.)
    for entry in train:
        if entry.video is None:
            continue
        with np.load(folder / f"{entry.video.stem}.npz", allow_pickle=False) as archive:
            if not json.loads(str(archive["meta"]))["has_audio"]:
                continue
            values = _fit_rows(archive["features"], _entry_rows(entry)).astype(np.float64)
        if not len(values):
            continue
        part_mean = values.mean(axis=0)
        part_squares = ((values - part_mean) ** 2).sum(axis=0)
        delta = part_mean - mean
        total = count + len(values)
        mean += delta * len(values) / total
        squares += part_squares + delta**2 * count * len(values) / total
        count = total
    if count:
        std = np.maximum(np.sqrt(squares / count), STD_FLOOR)
    else:
        std = np.ones(config.dim)
        report.warnings.append(f"{folder}: no train video has audio; the audio features are not normalised")
    stats = {
        "format": AUDIO_FEATURES_FORMAT,
        "config": config.to_dict(),
        "fingerprint": _stats_fingerprint(index, train),
        "train_entries": len(train),
        "train_rows": count,
        "std_floor": STD_FLOOR,
        "mean": mean.tolist(),
        "std": std.tolist(),
    }
    atomic_write_json(folder / STATS_NAME, stats, force=True)
    return count


# --------------------------------------------------------------------------- loading


def _command(index: DatasetIndex, config: AudioFeatureConfig) -> str:
    layout = index.layout
    words = f"abaw features audio --root {shlex.quote(str(layout.root))}"
    if layout.cache_dir != layout.root / DEFAULT_CACHE_NAME:
        words += f" --cache {shlex.quote(str(layout.cache_dir))}"
    return f"{words} {config.cli_options}"


@dataclass
class AudioFeatures:
    """Cached per-frame audio features of a dataset, one array per entry on demand.

    Built by :func:`load_audio_features`, which checks that every needed file
    is up to date; a video's array is read on first use and kept.

    Attributes:
        config: The configuration.
        mean: Per-dimension train mean (zeros when not normalising).
        std: Per-dimension train standard deviation, floored (ones when not normalising).
        normalise: Whether :meth:`for_entry` normalises.
    """

    config: AudioFeatureConfig
    mean: np.ndarray
    std: np.ndarray
    normalise: bool
    _index: DatasetIndex = field(repr=False)
    _files: dict[str, Path] = field(repr=False)
    _audio: dict[str, bool] = field(repr=False)
    _arrays: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def dim(self) -> int:
        """Values per frame."""
        return self.config.dim

    @property
    def names(self) -> list[str]:
        """The entries available."""
        return list(self._files)

    def has_audio(self, name: str) -> bool:
        """Whether the entry's features come from audio (``False``: all zeros)."""
        self._check(name)
        return self._audio[name]

    def for_entry(self, name: str) -> np.ndarray:
        """The ``(rows, dim)`` float32 features of an entry; row ``i`` is 1-based frame ``i + 1``.

        ``rows`` is the entry's label lines (its frame count when it has no
        labels). Entries without audio get zeros, also after normalisation.

        Raises:
            DataError: for a name that was not loaded.
        """
        self._check(name)
        entry = self._index.entries[name]
        rows = _entry_rows(entry)
        if not self._audio[name]:
            return np.zeros((rows, self.dim), dtype=np.float32)
        path = self._files[name]
        if path.stem not in self._arrays:
            with np.load(path, allow_pickle=False) as archive:
                self._arrays[path.stem] = archive["features"]
        values = _fit_rows(self._arrays[path.stem], rows)
        if self.normalise:
            values = (values - self.mean) / self.std
        return values.astype(np.float32, copy=False)

    def rows(self, names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
        """:meth:`for_entry` of each of ``names`` (default every entry loaded), by name."""
        return {name: self.for_entry(name) for name in (self.names if names is None else names)}

    def _check(self, name: str) -> None:
        if name not in self._files:
            raise DataError(f"no audio features loaded for entry {name}")


def load_audio_features(
    index: DatasetIndex,
    config: AudioFeatureConfig = AudioFeatureConfig(),
    names: Sequence[str] | None = None,
    normalise: bool = True,
    stats: tuple[np.ndarray, np.ndarray] | None = None,
) -> AudioFeatures:
    """Open the cached audio features of ``names`` (default every entry) for :meth:`AudioFeatures.for_entry`.

    Args:
        index: The dataset.
        config: Which features.
        names: Entries needed; default all.
        normalise: Standardise with the train split's statistics.
        stats: ``(mean, std)`` to standardise with instead of the saved train
            statistics: a trained model's, so that it sees its features
            scaled as in training whatever dataset it predicts.

    Raises:
        DataError: an unknown entry, or features (or statistics) missing or
            out of date; the message gives the command that makes them.
    """
    folder = features_folder(index, config)
    command = _command(index, config)
    wanted = list(index.entries) if names is None else list(names)
    files: dict[str, Path] = {}
    audio: dict[str, bool] = {}
    metas: dict[str, dict[str, Any] | None] = {}
    for name in wanted:
        entry = index.entries.get(name)
        if entry is None:
            raise DataError(f"no entry named {name} in the dataset", path=index.layout.root)
        if entry.video is None:
            files[name], audio[name] = folder / f"{name}.npz", False
            continue
        path = folder / f"{entry.video.stem}.npz"
        if path.stem not in metas:
            metas[path.stem] = _read_meta(path)
        meta = metas[path.stem]
        if meta is None:
            raise DataError(f"no audio features for video {entry.video.stem} ({config.key}); run '{command}'")
        if not _is_fresh(meta, entry.video, config):
            raise DataError(
                f"the audio features of video {entry.video.stem} ({config.key}) are out of date; run '{command}'",
                path=path,
            )
        files[name], audio[name] = path, bool(meta["has_audio"])
    mean, std = np.zeros(config.dim), np.ones(config.dim)
    if normalise and stats is not None:
        mean, std = (np.asarray(values, dtype=np.float64) for values in stats)
    elif normalise:
        mean, std = _read_stats(index, config, folder / STATS_NAME, command)
    return AudioFeatures(config, mean.astype(np.float32), std.astype(np.float32), normalise, index, files, audio)


def _read_stats(index: DatasetIndex, config: AudioFeatureConfig, path: Path, command: str) -> tuple[np.ndarray, ...]:
    try:
        stats = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise DataError(f"no normalisation statistics ({config.key}); run '{command}'", path=path) from None
    fresh = (
        stats.get("format") == AUDIO_FEATURES_FORMAT
        and stats.get("config") == config.to_dict()
        and stats.get("fingerprint") == _stats_fingerprint(index, index.split(Split.TRAIN))
    )
    if not fresh:
        raise DataError(f"the normalisation statistics ({config.key}) are out of date; run '{command}'", path=path)
    return np.asarray(stats["mean"], dtype=np.float64), np.asarray(stats["std"], dtype=np.float64)
