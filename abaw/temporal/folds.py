"""Folds by video, from scikit-learn's ``GroupKFold``: every entry of a video (``_left``/``_right``,
``video2`` and ``video2_left``) in one fold.

:func:`video_folds` splits entries (the kfold protocol); :func:`grouped_folds`
splits frames labelled with their video (the ridge's choice of alpha). Both
balance the folds by frames: ``GroupKFold`` puts the videos, largest first,
each into the fold with the fewest frames so far, so the folds are the same
on every run.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import GroupKFold

from abaw.data.entries import Entry
from abaw.data.names import video_stem
from abaw.errors import DataError


def grouped_folds(groups: np.ndarray, folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(train rows, held-out rows)`` of ``min(folds, videos)`` folds over rows labelled with their video.

    Raises:
        DataError: when the rows come from fewer than 2 videos.

    Example:
        >>> [held_out.tolist() for _, held_out in grouped_folds(np.array(["a", "a", "b", "c"]), 5)]
        [[0, 1], [3], [2]]
    """
    videos = len(np.unique(groups))
    if videos < 2:
        raise DataError(f"folds by video need at least 2 videos; the frames come from {videos}")
    splitter = GroupKFold(n_splits=min(folds, videos))
    return list(splitter.split(np.zeros(len(groups)), groups=groups))


def video_folds(entries: Sequence[Entry], folds: int) -> list[list[str]]:
    """Entry names per fold, folds balanced by labelled frames.

    Raises:
        DataError: when there are fewer videos than folds.

    Example:
        >>> import numpy as np
        >>> from abaw.data.layout import Split
        >>> def entry(name, rows):
        ...     return Entry(name, Split.TRAIN, None, None, None, rows, np.zeros(0, np.int64))
        >>> video_folds([entry("a_left", 5), entry("a_right", 5), entry("b", 4), entry("c", 9)], 2)
        [['a_left', 'a_right'], ['b', 'c']]
    """
    videos = {video_stem(entry.name) for entry in entries}
    if len(videos) < folds:
        raise DataError(f"{folds} folds need at least {folds} videos; Train+Validation has {len(videos)}")
    # One row per frame, so that GroupKFold balances the folds by frames.
    frames = [max(1, entry.frame_count) for entry in entries]
    owners = np.repeat(np.arange(len(entries)), frames)
    _, video_of_entry = np.unique([video_stem(entry.name) for entry in entries], return_inverse=True)
    groups = np.repeat(video_of_entry, frames)
    members = []
    for _, held_out in GroupKFold(n_splits=folds).split(owners, groups=groups):
        members.append(sorted({entries[owner].name for owner in owners[held_out]}))
    return members
