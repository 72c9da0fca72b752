"""Turning a setting's text into one of an enumeration's members, with one error message for every setting."""

from __future__ import annotations

from enum import Enum
from typing import TypeVar

from abaw.errors import AbawError, ConfigError

EnumT = TypeVar("EnumT", bound=Enum)


def parse_enum(
    kind: type[EnumT], value: object, what: str, *, loose: bool = False, error: type[AbawError] = ConfigError
) -> EnumT:
    """The member of ``kind`` whose value is ``value`` (a member is returned as it is).

    Args:
        kind: The enumeration.
        value: A member or its value, as given by the user.
        what: The setting's name, for the error.
        loose: Also accept text that differs from a value only in letter case and spaces.
        error: The error to raise: a settings mistake by default; a dataset description's own class otherwise.

    Raises:
        ConfigError: (or ``error``) listing the choices, for any other value.

    Example:
        >>> from abaw.data.layout import Split
        >>> parse_enum(Split, "val", "split")
        <Split.VALIDATION: 'val'>
        >>> parse_enum(Split, "dev", "split")
        Traceback (most recent call last):
        ...
        abaw.errors.ConfigError: split must be one of train, val, test, got 'dev'
    """
    if isinstance(value, kind):
        return value
    try:
        return kind(value)
    except ValueError:
        pass
    if loose and isinstance(value, str):
        wanted = value.replace(" ", "").lower()
        for member in kind:
            if str(member.value).lower() == wanted:
                return member
    choices = ", ".join(str(member.value) for member in kind)
    raise error(f"{what} must be one of {choices}, got {value!r}")
