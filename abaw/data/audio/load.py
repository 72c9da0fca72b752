"""Loading cached audio features: one normalised array per entry, on demand."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from abaw.data.audio.cache import (
    AUDIO_FEATURES_FORMAT,
    STATS_NAME,
    AudioFeaturesNotReady,
    entry_rows,
    features_folder,
    fit_rows,
    read_meta,
    stale_reason,
)
from abaw.data.audio.config import DEFAULT_AUDIO_CONFIG, AudioFeatureConfig
from abaw.data.audio.normalise import read_stats
from abaw.data.index import DatasetIndex
from abaw.data.names import video_stem
from abaw.errors import DataError


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
        rows = entry_rows(entry)
        if not self._audio[name]:
            return np.zeros((rows, self.dim), dtype=np.float32)
        path = self._files[name]
        if path.stem not in self._arrays:
            with np.load(path, allow_pickle=False) as archive:
                self._arrays[path.stem] = archive["features"]
        values = fit_rows(self._arrays[path.stem], rows)
        if self.normalise:
            values = (values - self.mean) / self.std
        return values.astype(np.float32, copy=False)

    def rows(self, names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
        """:meth:`for_entry` of each of ``names`` (default every entry loaded), by name."""
        return {name: self.for_entry(name) for name in (self.names if names is None else names)}

    def _check(self, name: str) -> None:
        if name not in self._files:
            raise DataError(f"no audio features loaded for entry {name}")


def cached_without_video(folder: Path, name: str, config: AudioFeatureConfig) -> Path | None:
    """The cached features of the video of entry ``name`` (by its video's name), when it has no video file now.

    ``None`` when there are none, or they were made with another configuration or cache format.
    """
    path = folder / f"{video_stem(name)}.npz"
    meta = read_meta(path)
    if meta is None or meta.get("format") != AUDIO_FEATURES_FORMAT or meta.get("config") != config.to_dict():
        return None
    return path


def entries_without_audio_source(index: DatasetIndex, names: Iterable[str], config: AudioFeatureConfig) -> list[str]:
    """Entries of ``names`` that get zero audio features: no video file, and no features cached from one.

    A model that takes audio predicts them without it.
    """
    folder = features_folder(index, config)
    return [
        name
        for name in names
        if index.entries[name].video is None and cached_without_video(folder, name, config) is None
    ]


def load_audio_features(
    index: DatasetIndex,
    config: AudioFeatureConfig = DEFAULT_AUDIO_CONFIG,
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
            out of date (:class:`AudioFeaturesNotReady`).
    """
    folder = features_folder(index, config)
    wanted = list(index.entries) if names is None else list(names)
    files: dict[str, Path] = {}
    audio: dict[str, bool] = {}
    metas: dict[str, dict[str, Any] | None] = {}
    for name in wanted:
        entry = index.entries.get(name)
        if entry is None:
            raise DataError(f"no entry named {name} in the dataset", path=index.layout.root)
        if entry.video is None:
            # No video to check them against, but features extracted from it before (the file since moved
            # or left out of a copy) are still its audio: better than none.
            path = cached_without_video(folder, name, config)
            meta = None if path is None else read_meta(path)
            files[name] = path or folder / f"{name}.npz"
            audio[name] = meta is not None and bool(meta["has_audio"])
            continue
        path = folder / f"{entry.video.stem}.npz"
        if path.stem not in metas:
            metas[path.stem] = read_meta(path)
        meta = metas[path.stem]
        if meta is None:
            raise AudioFeaturesNotReady(
                f"no audio features for video {entry.video.stem} ({config.key})", config, index.layout
            )
        reason = stale_reason(meta, entry.video, config)
        if reason is not None:
            raise AudioFeaturesNotReady(
                f"the audio features of video {entry.video.stem} ({config.key}) are out of date: {reason}",
                config,
                index.layout,
                path=path,
            )
        files[name], audio[name] = path, bool(meta["has_audio"])
    mean, std = np.zeros(config.dim), np.ones(config.dim)
    if normalise and stats is not None:
        mean, std = (np.asarray(values, dtype=np.float64) for values in stats)
    elif normalise:
        mean, std = read_stats(index, config, folder / STATS_NAME)
    return AudioFeatures(config, mean.astype(np.float32), std.astype(np.float32), normalise, index, files, audio)
