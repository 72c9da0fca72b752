"""Temporal smoothing of per-frame predictions, chosen on a labelled split.

Per-frame models predict each frame alone, so their output jitters while
the affect it follows changes slowly. :func:`search_smoothing` tries every
filter of :class:`SmoothingFilter` over a range of window lengths on the
predictions of a labelled split (validation, or out-of-fold), and keeps the
best per dimension by the challenge metric; :func:`apply_smoothing` applies
that choice to new predictions (``abaw predict`` and ``abaw predict-test``
with ``--smoothing FILE``).

Smoothing runs along time over every frame of a video, after frames without
a face were filled as a submission fills them, so what is scored here is
what the written files hold.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from operator import attrgetter
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage, signal

from abaw.data.annotations import valid_rows
from abaw.errors import ConfigError
from abaw.fileio import atomic_write_json
from abaw.formats.types import PredictionSet, SubmissionFormat, VideoPrediction
from abaw.progress import ProgressFn, no_progress
from abaw.runtime.evaluation import complete_predictions
from abaw.scoring.alignment import align_predictions
from abaw.scoring.metrics import score_frames

DIMENSIONS = ("valence", "arousal")
DEFAULT_WINDOWS = (1, 3, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129)
MAX_WINDOW = 9_999
"""The longest window accepted (over 5 minutes at 30 fps): longer ones only flatten, at a cost in memory."""
SMOOTHING_FORMAT = "abaw-smoothing"
SMOOTHING_VERSION = 1


class SmoothingFilter(str, Enum):
    """The filters tried; each is the identity with a window of 1 frame."""

    MEDIAN = "median"
    GAUSSIAN = "gaussian"
    EXPONENTIAL = "exponential"


def smooth_series(values: np.ndarray, kind: SmoothingFilter, window: int) -> np.ndarray:
    """Smooth ``values`` along axis 0 (time), each column on its own; edges repeat the end values.

    Args:
        values: ``(frames,)`` or ``(frames, k)`` values of one video.
        kind: Which filter.
        window: Frames the filter spans (odd): the median's window, the
            Gaussian's kernel (+/- 3 sigma), the exponential's span (its
            weight is ``2 / (window + 1)``, run forward then backward so that
            it does not lag).

    Example:
        >>> smooth_series(np.array([0.0, 0.0, 1.0, 0.0, 0.0]), SmoothingFilter.MEDIAN, 3).tolist()
        [0.0, 0.0, 0.0, 0.0, 0.0]
    """
    check_window(window)
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return values.copy()
    if kind is SmoothingFilter.MEDIAN:
        size = (window,) + (1,) * (values.ndim - 1)
        return ndimage.median_filter(values, size=size, mode="nearest")
    if kind is SmoothingFilter.GAUSSIAN:
        radius = window // 2
        offsets = np.arange(-radius, radius + 1, dtype=np.float64)
        kernel = np.exp(-0.5 * (offsets / (window / 6.0)) ** 2)
        return ndimage.convolve1d(values, kernel / kernel.sum(), axis=0, mode="nearest")
    weight = 2.0 / (window + 1.0)
    forward = _exponential(values, weight)
    return _exponential(forward[::-1], weight)[::-1].copy()


def _exponential(values: np.ndarray, weight: float) -> np.ndarray:
    """``y[t] = weight * x[t] + (1 - weight) * y[t - 1]``, starting from ``y[0] = x[0]``."""
    numerator, denominator = [weight], [1.0, weight - 1.0]
    start = signal.lfilter_zi(numerator, denominator) * values[:1]
    return signal.lfilter(numerator, denominator, values, axis=0, zi=start)[0]


def check_window(window: int) -> None:
    """Refuse a window that is not an odd whole number of frames from 1 to :data:`MAX_WINDOW` (:class:`ConfigError`).

    Example:
        >>> check_window(10**9)
        Traceback (most recent call last):
        ...
        abaw.errors.ConfigError: a smoothing window must be an odd number of frames from 1 to 9999, got 1000000000
    """
    if (
        isinstance(window, bool)
        or not isinstance(window, int | np.integer)
        or not 1 <= window <= MAX_WINDOW
        or window % 2 == 0
    ):
        raise ConfigError(f"a smoothing window must be an odd number of frames from 1 to {MAX_WINDOW}, got {window!r}")


@dataclass(frozen=True)
class DimensionSmoothing:
    """The filter chosen for one dimension and what it did on the split it was chosen on.

    Attributes:
        filter: The filter.
        window: Its window in frames.
        ccc_before: The dimension's CCC of the unsmoothed predictions.
        ccc_after: Its CCC smoothed.
    """

    filter: SmoothingFilter
    window: int
    ccc_before: float
    ccc_after: float

    @property
    def gain(self) -> float:
        """CCC after minus before."""
        return self.ccc_after - self.ccc_before

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return {
            "filter": self.filter.value,
            "window": self.window,
            "ccc_before": self.ccc_before,
            "ccc_after": self.ccc_after,
        }


@dataclass(frozen=True)
class SmoothingPlan:
    """The smoothing of each dimension, as ``abaw smooth search`` stores it.

    Attributes:
        valence: Valence's filter.
        arousal: Arousal's filter.
        split: The split it was chosen on.
        predictions: The predictions it was chosen on.
        path: The file it was read from, if any (named in messages).
    """

    valence: DimensionSmoothing
    arousal: DimensionSmoothing
    split: str = ""
    predictions: str = ""
    path: Path | None = field(default=None, compare=False)

    def require_fits(self, frame_counts: Mapping[str, int]) -> None:
        """Refuse a window longer than every video it would smooth: it would flatten each to about its mean.

        Raises:
            ConfigError: naming the smoothing file, the window and the longest video.
        """
        longest = max(frame_counts.values(), default=0)
        for name, choice in zip(DIMENSIONS, self.dimensions, strict=True):
            if longest and choice.window > longest:
                raise ConfigError(
                    f"the {name} window ({choice.window} frames) is longer than every video to smooth (the longest "
                    f"has {longest} frames): it would flatten the predictions; choose it again with abaw smooth search",
                    path=self.path,
                )

    @property
    def dimensions(self) -> tuple[DimensionSmoothing, DimensionSmoothing]:
        """Valence, arousal."""
        return self.valence, self.arousal

    @property
    def ccc_before(self) -> float:
        """Mean CCC of the predictions it was chosen on, unsmoothed."""
        return (self.valence.ccc_before + self.arousal.ccc_before) / 2.0

    @property
    def ccc_after(self) -> float:
        """Mean CCC of the predictions it was chosen on, smoothed by it."""
        return (self.valence.ccc_after + self.arousal.ccc_after) / 2.0

    @property
    def gain(self) -> float:
        """Mean CCC gained on the predictions it was chosen on."""
        return self.ccc_after - self.ccc_before

    def apply(self, values: np.ndarray) -> np.ndarray:
        """Smooth the ``(frames, 2)`` values of one whole video."""
        values = np.asarray(values, dtype=np.float64)
        smoothed = np.empty_like(values)
        for column, choice in enumerate(self.dimensions):
            smoothed[:, column] = smooth_series(values[:, column], choice.filter, choice.window)
        return smoothed

    def to_dict(self) -> dict[str, Any]:
        """What :func:`save_smoothing` writes."""
        return {
            "format": SMOOTHING_FORMAT,
            "version": SMOOTHING_VERSION,
            "split": self.split,
            "predictions": self.predictions,
            "valence": self.valence.to_dict(),
            "arousal": self.arousal.to_dict(),
        }


def save_smoothing(plan: SmoothingPlan, path: str | os.PathLike, force: bool = False) -> Path:
    """Write ``plan`` as JSON to ``path`` atomically (refused when it exists, unless ``force``)."""
    return atomic_write_json(path, plan.to_dict(), force=force)


def load_smoothing(path: str | os.PathLike) -> SmoothingPlan:
    """Read a file of :func:`save_smoothing`.

    Raises:
        ConfigError: naming the file when it cannot be read or is not a smoothing file.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"cannot read the smoothing file: {error.strerror or error}", path=path) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConfigError(f"not a smoothing file of abaw smooth search (not JSON: {error})", path=path) from None
    if not isinstance(data, dict) or data.get("format") != SMOOTHING_FORMAT:
        raise ConfigError("not a smoothing file of abaw smooth search (no 'format': 'abaw-smoothing')", path=path)
    if data.get("version") != SMOOTHING_VERSION:
        raise ConfigError(f"smoothing file version {data.get('version')!r}, expected {SMOOTHING_VERSION}", path=path)
    return SmoothingPlan(
        *(_dimension_from(data.get(name), name, path) for name in DIMENSIONS),
        split=str(data.get("split", "")),
        predictions=str(data.get("predictions", "")),
        path=path,
    )


def _dimension_from(entry: object, name: str, path: Path) -> DimensionSmoothing:
    if not isinstance(entry, dict):
        raise ConfigError(f"'{name}' must be an object with filter and window", path=path)
    known = ", ".join(item.value for item in SmoothingFilter)
    try:
        kind = SmoothingFilter(entry.get("filter"))
    except ValueError:
        raise ConfigError(f"'{name}': unknown filter {entry.get('filter')!r} (known: {known})", path=path) from None
    window = entry.get("window")
    try:
        check_window(window)  # type: ignore[arg-type]
    except ConfigError as error:
        raise ConfigError(f"'{name}': {error.message}", path=path) from None
    scores = [entry.get(key, math.nan) for key in ("ccc_before", "ccc_after")]
    if not all(isinstance(score, int | float) and not isinstance(score, bool) for score in scores):
        raise ConfigError(f"'{name}': ccc_before and ccc_after must be numbers", path=path)
    return DimensionSmoothing(kind, int(window), float(scores[0]), float(scores[1]))  # type: ignore[arg-type]


@dataclass
class SmoothingCandidate:
    """One filter and window tried, and the CCC of each dimension it gave.

    Attributes:
        filter: The filter.
        window: Its window in frames.
        ccc_valence: Valence's CCC smoothed so.
        ccc_arousal: Arousal's CCC smoothed so.
    """

    filter: SmoothingFilter
    window: int
    ccc_valence: float
    ccc_arousal: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return {
            "filter": self.filter.value,
            "window": self.window,
            "ccc_valence": self.ccc_valence,
            "ccc_arousal": self.ccc_arousal,
        }


@dataclass
class SmoothingSearch:
    """What :func:`search_smoothing` found.

    Attributes:
        plan: The best filter per dimension.
        candidates: Every filter and window tried, the unsmoothed one (window 1) included.
        videos: Videos scored.
        frames: Annotated frames scored.
        notes: What the scoring left out and why.
    """

    plan: SmoothingPlan
    candidates: list[SmoothingCandidate]
    videos: int
    frames: int
    notes: list[str]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return {
            **self.plan.to_dict(),
            "videos": self.videos,
            "frames": self.frames,
            "candidates": [candidate.to_dict() for candidate in self.candidates],
            "notes": list(self.notes),
        }


def search_smoothing(
    predictions: Mapping[str, VideoPrediction],
    labels: Mapping[str, np.ndarray],
    frame_counts: Mapping[str, int],
    *,
    windows: Sequence[int] = DEFAULT_WINDOWS,
    split: str = "",
    source: str = "",
    progress: ProgressFn = no_progress,
) -> SmoothingSearch:
    """Try every filter with every window on labelled predictions; keep the best per dimension.

    Each dimension's choice is scored with the challenge metric (CCC over all
    annotated frames of all videos concatenated). A window of 1 is the
    unsmoothed predictions, so the choice never scores below them.

    Args:
        predictions: Predictions by video (face frames, or every frame).
        labels: Label arrays by video name, -5 where not annotated: the videos scored.
        frame_counts: Frame count of every labelled video, to fill the frames without a prediction.
        windows: The odd window lengths to try.
        split: Names the split in the plan.
        source: Names the predictions in the plan and in errors.
        progress: Wraps the loop over filters and windows.

    Raises:
        ConfigError: for a window that is not odd and positive.
        PredictionError: for a labelled video without predictions, or with predictions past its frame count.
    """
    for window in windows:
        check_window(window)
    counts = {name: frame_counts.get(name, len(labels[name])) for name in labels}
    # A labelled video without predictions is left out here for the alignment to report.
    present = [name for name in labels if name in predictions]
    complete = complete_predictions(predictions, {name: counts[name] for name in present})
    aligned = align_predictions(PredictionSet(SubmissionFormat.PER_VIDEO, source, complete), labels, counts)
    lengths = {name: rows.stop - rows.start for name, rows in aligned.slices.items()}

    def scored(kind: SmoothingFilter, window: int) -> SmoothingCandidate:
        parts = [smooth_series(complete[name].values, kind, window)[:length] for name, length in lengths.items()]
        scores = score_frames(np.concatenate(parts), aligned.labels)
        return SmoothingCandidate(kind, window, scores.ccc_valence, scores.ccc_arousal)

    # Window 1 is the identity for every filter: the unsmoothed predictions, scored once and first,
    # so that they win a tie (and a shorter window wins over a longer one).
    unsmoothed = scored(SmoothingFilter.MEDIAN, 1)
    tried = [(kind, window) for kind in SmoothingFilter for window in sorted(set(windows) - {1})]
    candidates = [unsmoothed, *(scored(*choice) for choice in progress(tried, "trying filters", total=len(tried)))]
    best = []
    for key in ("ccc_valence", "ccc_arousal"):
        chosen = max(candidates, key=attrgetter(key))
        best.append(DimensionSmoothing(chosen.filter, chosen.window, getattr(unsmoothed, key), getattr(chosen, key)))
    plan = SmoothingPlan(best[0], best[1], split=split, predictions=source)
    frames = int(valid_rows(aligned.labels).sum())
    return SmoothingSearch(plan, candidates, len(lengths), frames, list(aligned.notes))


def apply_smoothing(
    predictions: Mapping[str, VideoPrediction], frame_counts: Mapping[str, int], plan: SmoothingPlan
) -> dict[str, VideoPrediction]:
    """Fill every frame of each predicted video as a submission does, then smooth it with ``plan``.

    Videos without any prediction stay absent, so the writers still fill and report them.
    """
    present = {name: count for name, count in frame_counts.items() if name in predictions and len(predictions[name])}
    complete = complete_predictions(predictions, present)
    return {
        name: VideoPrediction.consecutive(plan.apply(video.values), source=video.source)
        for name, video in complete.items()
    }


__all__ = [
    "DEFAULT_WINDOWS",
    "MAX_WINDOW",
    "DimensionSmoothing",
    "SmoothingCandidate",
    "SmoothingFilter",
    "SmoothingPlan",
    "SmoothingSearch",
    "apply_smoothing",
    "check_window",
    "load_smoothing",
    "save_smoothing",
    "search_smoothing",
    "smooth_series",
]
