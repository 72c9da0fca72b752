"""Window maths: the audio window of each video frame, the LLD frames inside it, and their pooling.

See :mod:`abaw.data.audio` for the conventions (which LLD frames belong to
a window, and the fallbacks of windows with too few of them).
"""

from __future__ import annotations

import numpy as np

from abaw.data.audio.config import Pooling
from abaw.errors import DataError

LLD_HOP = 0.010
"""Seconds between two LLD frames (eGeMAPS)."""
TIME_EPS = 1e-6
"""Seconds: an LLD frame starting this close before a window start still belongs to it (float rounding)."""
_POOL_CHUNK = 8192  # rows gathered at once when pooling: bounds memory on hour-long tracks


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
    package docstring (:mod:`abaw.data.audio`); a track without LLD frames gives zeros.

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
