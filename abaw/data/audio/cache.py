"""The cache of audio features: where the files are, what they are keyed on, and when they are stale.

Under ``CACHE/audio/<config key>/``: one ``<video stem>.npz`` per video
(``features`` and a JSON ``meta``), keyed on the video's content key (its
size and a digest of three parts of it, :mod:`abaw.data.digest`: a copy of
the dataset keeps it, a new modification time alone does not make the
features stale), the configuration and :data:`AUDIO_FEATURES_FORMAT`.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from abaw.data.audio.config import AudioFeatureConfig
from abaw.data.digest import FileKey, file_key
from abaw.data.entries import Entry
from abaw.data.index import DatasetIndex
from abaw.data.layout import DatasetLayout
from abaw.errors import DataError

AUDIO_FEATURES_FORMAT = 2
"""Version of the cache files; a change makes every cached file stale."""
AUDIO_FOLDER = "audio"
"""Folder of the audio features under the dataset's cache folder."""
STATS_NAME = "stats.json"
REPORT_NAME = "report.json"


class AudioFeaturesNotReady(DataError):
    """Audio features (or their statistics) are missing or out of date: they must be extracted first.

    The command line adds the command that extracts them; the library does
    not know the command line.

    Attributes:
        config: The configuration needed.
        layout: The dataset whose features are missing.
    """

    def __init__(self, message: str, config: AudioFeatureConfig, layout: DatasetLayout, path: Path | None = None):
        self.config = config
        self.layout = layout
        super().__init__(message, path=path)

    def __reduce__(self):
        # Exception pickling replays ``args`` (the rendered line) into __init__, which needs more.
        return type(self), (self.message, self.config, self.layout, self.path)


def features_folder(index: DatasetIndex, config: AudioFeatureConfig) -> Path:
    """``CACHE/audio/<config key>``: where the features of ``config`` are kept."""
    return index.layout.cache_dir / AUDIO_FOLDER / config.key


def entry_rows(entry: Entry) -> int:
    """Rows of an entry's features: its label lines (its frame count when it has no labels)."""
    return entry.label_rows or entry.frame_count


def video_key(video: Path) -> dict[str, Any] | None:
    """The content key the cached features of ``video`` are keyed on (``None``: unreadable)."""
    key = file_key(video)
    return None if key is None else key.to_dict()


def read_meta(path: Path) -> dict[str, Any] | None:
    """The metadata of a cached features file; ``None`` when it is missing or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return json.loads(str(archive["meta"]))
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        # A truncated archive fails in zipfile, which raises neither OSError nor ValueError.
        return None


def stale_reason(meta: dict[str, Any] | None, video: Path, config: AudioFeatureConfig) -> str | None:
    """Why cached features (their ``meta``) were not made from ``video`` as it is now with ``config``; ``None``: fresh.

    Example:
        >>> stale_reason(None, Path("v.mp4"), AudioFeatureConfig())
        'not extracted yet'
    """
    if meta is None:
        return "not extracted yet"
    if meta.get("format") != AUDIO_FEATURES_FORMAT:
        return f"written in cache format {meta.get('format')}, this abaw writes {AUDIO_FEATURES_FORMAT}"
    if meta.get("config") != config.to_dict():
        return "extracted with other settings"
    now = file_key(video)
    if now is None:
        return f"the video {video} cannot be read"
    if FileKey.from_dict(meta.get("video_key")) != now:
        return f"the video {video} changed since: {now.change_from(FileKey.from_dict(meta.get('video_key')))}"
    return None


def fit_rows(features: np.ndarray, rows: int) -> np.ndarray:
    """Trim, or pad by repeating the last row (exact past the end of the audio), to ``rows``."""
    if len(features) >= rows:
        return features[:rows]
    if not len(features):
        return np.zeros((rows, features.shape[1]), dtype=features.dtype)
    return np.concatenate([features, np.repeat(features[-1:], rows - len(features), axis=0)])
