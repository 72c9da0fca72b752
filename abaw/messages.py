"""Wording shared by error messages and reports."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence


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


def first_difference(before: Mapping[str, object], now: Mapping[str, object], prefix: str = "") -> str:
    """The first setting (in name order) that differs between two mappings of settings, with both values.

    Example:
        >>> first_difference({"seed": 0, "data": {"videos": 6}}, {"seed": 0, "data": {"videos": 8}})
        'data.videos was 6, now 8'
        >>> first_difference({"lr": 0.001}, {"lr": 0.001})
        'the settings differ'
    """
    for key in sorted(set(before) | set(now)):
        old, new = before.get(key), now.get(key)
        if old == new:
            continue
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            return first_difference(old, new, f"{prefix}{key}.")
        return f"{prefix}{key} was {json.dumps(old, default=str)}, now {json.dumps(new, default=str)}"
    return "the settings differ"
