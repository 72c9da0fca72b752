"""Where a dataset is: its root and every part pointed at explicitly, one typed value from the CLI to the index.

A :class:`DatasetSource` is built by the command line's dataset options,
stored in a training run's config (``config.yaml`` and every checkpoint, as
plain values with absolute paths) and opened by
:func:`abaw.data.index.open_dataset`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from abaw.errors import ConfigError
from abaw.messages import shown_value

_PATH_FIELDS = ("root", "annotations", "videos", "test_list", "frame_counts", "cache")


def absolute_path(path: str | os.PathLike) -> Path:
    """``path`` made absolute from the current directory, ``~`` expanded and symbolic links kept.

    Links are kept so that a stored path names what the user named, not where it points today.

    Example:
        >>> absolute_path("data") == Path.cwd() / "data"
        True
    """
    return Path(os.path.abspath(os.path.expanduser(path)))


@dataclass(frozen=True)
class DatasetSource:
    """The dataset options of a command: the root and the parts given instead of those found in it.

    Every path is made absolute on construction, so that ``--resume`` and
    ``--config`` work from any directory.

    Attributes:
        root: The dataset root as distributed.
        annotations: Folder holding ``Train_Set``/``Validation_Set`` (found when ``None``).
        frames: Face-crop folders, first wins (every ``cropped_aligned*`` folder when empty).
        videos: Folder searched for videos (the root when ``None``).
        test_list: File naming the test videos (found by name when ``None``).
        frame_counts: The organisers' count file of test frame counts (found by name when ``None``).
        frame_count_rule: Name of the rule for test entries without a count line (learned when ``None``).
        cache: Folder for derived data (``ROOT/.abaw-cache`` when ``None``).

    Example:
        >>> source = DatasetSource("/data/affwild2", cache="/tmp/c")
        >>> source.to_dict()
        {'root': '/data/affwild2', 'cache': '/tmp/c'}
        >>> [str(path) for path in source.read_paths()]
        ['/data/affwild2']
    """

    root: Path
    annotations: Path | None = None
    frames: tuple[Path, ...] = ()
    videos: Path | None = None
    test_list: Path | None = None
    frame_counts: Path | None = None
    frame_count_rule: str | None = None
    cache: Path | None = None

    def __post_init__(self) -> None:
        for name in _PATH_FIELDS:
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, absolute_path(value))
        object.__setattr__(self, "frames", tuple(absolute_path(path) for path in self.frames))

    def read_paths(self) -> list[Path]:
        """The folders and files the dataset is read from (not the cache), resolved: what no output may touch."""
        given = [self.root, self.annotations, self.videos, self.test_list, *self.frames]
        return [path.resolve() for path in given if path is not None]

    def to_dict(self) -> dict[str, Any]:
        """The options given, as plain values (paths as text, lists for tuples); those not given are left out."""
        result: dict[str, Any] = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if value is None or value == ():
                continue
            if isinstance(value, tuple):
                result[item.name] = [str(path) for path in value]
            else:
                result[item.name] = str(value)
        return result

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], source: str = "config") -> DatasetSource:
        """Build from plain values (as :meth:`to_dict` writes them), naming ``source`` in errors.

        Raises:
            ConfigError: for an unknown key, a missing root, or a value that is not text (a list for ``frames``).

        Example:
            >>> DatasetSource.from_dict({"root": "/d", "frames": ["/d/a"]}).frames
            (PosixPath('/d/a'),)
        """
        known = [item.name for item in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(f"dataset: unknown setting(s) {', '.join(unknown)}; known: {', '.join(known)}", source)
        if not values.get("root"):
            raise ConfigError("no dataset root given (pass --root)", source)
        for name, value in values.items():
            wanted = (list, tuple) if name == "frames" else (str, os.PathLike)
            if value is not None and not isinstance(value, wanted):
                kind = "a list of folders" if name == "frames" else "a path"
                raise ConfigError(f"dataset: {name}: expected {kind}, got {shown_value(value)}", source)
        return cls(**{name: value for name, value in values.items() if value is not None})
