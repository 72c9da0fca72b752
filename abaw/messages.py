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


QUOTE_LIMIT = 80
"""Characters of a user's text quoted in a message; a multi-megabyte line stays one readable line."""


def quoted(text: str, limit: int = QUOTE_LIMIT) -> str:
    """``text`` in single quotes, cut after ``limit`` characters (then ``...`` follows).

    Example:
        >>> quoted("0.5,x"), quoted("1234567890", limit=4)
        ("'0.5,x'", "'1234...'")
    """
    return f"'{text}'" if len(text) <= limit else f"'{text[:limit]}...'"


def shown_value(value: object, limit: int = QUOTE_LIMIT) -> str:
    """A value read from a user's file, for a message: text quoted, anything else as Python writes it; cut short.

    Example:
        >>> shown_value("ten"), shown_value(3), shown_value([1.5] * 40, limit=10)
        ("'ten'", '3', '[1.5, 1.5,...')
    """
    if isinstance(value, str):
        return quoted(value, limit)
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}..."
