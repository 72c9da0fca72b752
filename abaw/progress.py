"""Progress reporting that library code can use without knowing about terminals.

Library functions take a ``progress`` argument, a callable that wraps an
iterable with a description; the command line passes :func:`rich_progress`,
tests and scripts get :func:`no_progress` by default.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")
ProgressFn = Callable[[Iterable[T], str, "int | None"], Iterable[T]]


def no_progress(items: Iterable[T], description: str = "", total: int | None = None) -> Iterable[T]:
    """Return ``items`` unchanged.

    Example:
        >>> list(no_progress([1, 2], "counting"))
        [1, 2]
    """
    return items


def rich_progress(console: Console) -> ProgressFn:
    """Return a progress function drawing a ``rich`` bar on ``console``."""

    def track(items: Iterable[T], description: str = "", total: int | None = None) -> Iterator[T]:
        if total is None and hasattr(items, "__len__"):
            total = len(items)  # type: ignore[arg-type]
        columns = [
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        ]
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task(description, total=total)
            for item in items:
                yield item
                bar.advance(task)

    return track
