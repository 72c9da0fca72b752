"""Wording shared by error messages and reports."""

from __future__ import annotations

from collections.abc import Sequence


def some(items: Sequence[str], limit: int = 5) -> str:
    """The first ``limit`` items joined, with how many more there are.

    Example:
        >>> some(["a", "b", "c"], limit=2)
        'a, b and 1 more'
    """
    shown = ", ".join(items[:limit])
    return shown if len(items) <= limit else f"{shown} and {len(items) - limit} more"
