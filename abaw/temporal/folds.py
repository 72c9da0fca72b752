"""K folds by video: every entry of a video (``_left``/``_right``, ``video2`` and ``video2_left``) in one fold."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from abaw.data.entries import Entry
from abaw.data.names import video_stem
from abaw.errors import DataError


def video_folds(entries: Sequence[Entry], folds: int, seed: int = 0) -> list[list[str]]:
    """Entry names per fold, folds balanced by labelled frames.

    Videos are shuffled with ``seed``, then taken largest first and each put
    in the fold with the fewest frames so far, so folds differ little in size.

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
    videos: dict[str, list[Entry]] = {}
    for entry in entries:
        videos.setdefault(video_stem(entry.name), []).append(entry)
    if len(videos) < folds:
        raise DataError(f"{folds} folds need at least {folds} videos; Train+Validation has {len(videos)}")
    order = sorted(videos)
    np.random.default_rng(seed).shuffle(order)
    order.sort(key=lambda video: -sum(entry.frame_count for entry in videos[video]))  # stable: ties stay shuffled
    members: list[list[str]] = [[] for _ in range(folds)]
    sizes = [0] * folds
    for video in order:
        target = sizes.index(min(sizes))
        members[target].extend(entry.name for entry in videos[video])
        sizes[target] += sum(entry.frame_count for entry in videos[video])
    return [sorted(names) for names in members]
