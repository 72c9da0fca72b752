"""Progress reporting that library code can use without knowing about terminals.

Library functions take a ``progress`` argument, a callable that wraps an
iterable with a description; the command line passes a ``rich`` bar
(:func:`abaw.cli.progress.rich_progress`), tests and scripts get
:func:`no_progress` by default.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")
ProgressFn = Callable[[Iterable[T], str, "int | None"], Iterable[T]]


def no_progress(items: Iterable[T], description: str = "", total: int | None = None) -> Iterable[T]:
    """Return ``items`` unchanged.

    Example:
        >>> list(no_progress([1, 2], "counting"))
        [1, 2]
    """
    return items
