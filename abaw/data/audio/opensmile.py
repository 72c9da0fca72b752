"""The openSMILE wrapper: one extractor per thread, one pass over a whole track, then slicing per frame."""

from __future__ import annotations

import math
import threading
import warnings
from typing import Any

import numpy as np

from abaw.data.audio.config import DEFAULT_AUDIO_CONFIG, AudioFeatureConfig, FeatureSet
from abaw.data.audio.windows import frame_windows, lld_ranges, pool_llds

LLD_WINDOW = 0.060
"""Seconds of audio the longest eGeMAPS LLD (pitch) analyses; openSMILE needs at least this much."""

_smile_lock = threading.Lock()
_local = threading.local()


def smile_extractor(feature_set: FeatureSet) -> Any:
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
    frame = smile_extractor(feature_set).process_signal(np.asarray(samples, dtype=np.float32), rate)
    starts = frame.index.get_level_values("start").total_seconds().to_numpy(dtype=np.float64)
    llds = np.nan_to_num(frame.to_numpy(dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    return starts, llds


def video_audio_features(
    samples: np.ndarray, rate: int, fps: float, rows: int, config: AudioFeatureConfig = DEFAULT_AUDIO_CONFIG
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
