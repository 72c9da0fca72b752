"""Video names: two-person entries and the video (and audio) they come from.

In Aff-Wild2 a video showing two annotated people has one annotation file
and one frame folder per person, named with a ``_left`` or ``_right`` suffix;
the video itself carries the bare name. Sometimes only one person is
suffixed (``video2`` and ``video2_left`` both exist).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from pathlib import Path


class Person(str, Enum):
    """Which person of a two-person video an entry is."""

    LEFT = "left"
    RIGHT = "right"

    @property
    def suffix(self) -> str:
        """The name suffix, for example ``'_left'``."""
        return f"_{self.value}"


VIDEO_EXTENSIONS = (".mp4", ".avi")


def person_of(name: str) -> Person | None:
    """Return the person a suffixed name refers to, ``None`` for a one-person name.

    Example:
        >>> person_of("video10_1_right")
        <Person.RIGHT: 'right'>
        >>> person_of("video10_1") is None
        True
    """
    for person in Person:
        if name.endswith(person.suffix) and len(name) > len(person.suffix):
            return person
    return None


def video_stem(name: str) -> str:
    """Return the name of the video an entry comes from.

    Example:
        >>> video_stem("10-60-1280x720_left")
        '10-60-1280x720'
        >>> video_stem("video59")
        'video59'
    """
    person = person_of(name)
    return name[: -len(person.suffix)] if person else name


def find_video(name: str, videos: Mapping[str, Path]) -> Path | None:
    """Find the video file of an entry among ``videos`` (keyed by file stem).

    The exact name wins, so that a video really named ``x_left`` is found;
    otherwise the person suffix is stripped.

    Example:
        >>> find_video("v2_left", {"v2": Path("batch1/v2.mp4")})
        PosixPath('batch1/v2.mp4')
    """
    if name in videos:
        return videos[name]
    return videos.get(video_stem(name))
