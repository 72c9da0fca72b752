"""Normalisation: the train split's per-dimension mean and standard deviation of the audio features.

``stats.json`` beside the features holds them with a fingerprint of the
train entries (names, videos, row counts), so that a changed train split
makes them stale.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from abaw.data.audio.cache import (
    AUDIO_FEATURES_FORMAT,
    STATS_NAME,
    AudioFeaturesNotReady,
    entry_rows,
    fit_rows,
    video_key,
)
from abaw.data.audio.config import AudioFeatureConfig
from abaw.data.entries import Entry
from abaw.data.index import DatasetIndex
from abaw.data.layout import Split
from abaw.fileio import atomic_write_json

STD_FLOOR = 1e-3
"""Smallest standard deviation used to normalise: a dimension constant over train stays finite elsewhere."""


def stats_fingerprint(entries: Iterable[Entry]) -> str:
    """What the statistics of ``entries`` depend on: names, videos (their content keys) and row counts."""
    digest = hashlib.sha256()
    for entry in entries:
        key = None if entry.video is None else video_key(entry.video)
        line = f"{entry.name} {entry.video and entry.video.name} {key} {entry_rows(entry)}\n"
        digest.update(line.encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def write_stats(index: DatasetIndex, config: AudioFeatureConfig, folder: Path, warnings: list[str]) -> int:
    """Write the per-dimension mean and standard deviation over the rows of the train entries that have audio.

    Returns:
        The train rows they come from; a warning is added to ``warnings`` when there are none.
    """
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
            values = fit_rows(archive["features"], entry_rows(entry)).astype(np.float64)
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
        warnings.append(f"{folder}: no train video has audio; the audio features are not normalised")
    stats = {
        "format": AUDIO_FEATURES_FORMAT,
        "config": config.to_dict(),
        "fingerprint": stats_fingerprint(train),
        "train_entries": len(train),
        "train_rows": count,
        "std_floor": STD_FLOOR,
        "mean": mean.tolist(),
        "std": std.tolist(),
    }
    atomic_write_json(folder / STATS_NAME, stats, force=True)
    return count


def read_stats(index: DatasetIndex, config: AudioFeatureConfig, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The saved train ``(mean, std)`` of ``config``.

    Raises:
        AudioFeaturesNotReady: when they are missing or out of date.
    """
    try:
        stats = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise AudioFeaturesNotReady(
            f"no normalisation statistics ({config.key})", config, index.layout, path=path
        ) from None
    fresh = (
        stats.get("format") == AUDIO_FEATURES_FORMAT
        and stats.get("config") == config.to_dict()
        and stats.get("fingerprint") == stats_fingerprint(index.split(Split.TRAIN))
    )
    if not fresh:
        raise AudioFeaturesNotReady(
            f"the normalisation statistics ({config.key}) are out of date", config, index.layout, path=path
        )
    return np.asarray(stats["mean"], dtype=np.float64), np.asarray(stats["std"], dtype=np.float64)
