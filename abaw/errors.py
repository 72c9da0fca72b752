"""Errors a user can act on.

Every error raised for bad input derives from :class:`AbawError`. The command
line prints it as one line (no traceback) and exits non-zero, so the message
must name the file, and the line where there is one.
"""

from __future__ import annotations

from os import PathLike


class AbawError(Exception):
    """A problem with the user's input or environment, reported in one line.

    Args:
        message: What is wrong, phrased for the user.
        path: The file or folder at fault, if any.
        line: The 1-based line in ``path`` at fault, if any.

    Example:
        >>> str(AbawError("not two numbers", path="a/b.txt", line=7))
        'a/b.txt:7: not two numbers'
    """

    def __init__(self, message: str, path: str | PathLike | None = None, line: int | None = None):
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        super().__init__(self._render())

    def _render(self) -> str:
        if self.path is None:
            return self.message
        if self.line is None:
            return f"{self.path}: {self.message}"
        return f"{self.path}:{self.line}: {self.message}"


class DataError(AbawError):
    """The dataset (layout, annotations, videos, frames) cannot be used as given."""


class ConfigError(AbawError, ValueError):
    """A setting, option or configuration file is wrong: an unknown key, a value of the wrong type or out of range.

    Also a ``ValueError``, the error of a bad value, so that validation written
    with ``ValueError`` (dataclass checks) catches it like its own.
    """


class PredictionError(AbawError):
    """A prediction or submission file is missing or malformed."""


class OutputExistsError(AbawError):
    """An output would overwrite an existing file or folder without ``--force``."""


class OutputError(AbawError):
    """An output cannot be written where asked: a folder or file in the way, a full or read-only disk."""


class CheckpointError(AbawError):
    """A checkpoint is missing, unreadable, or does not belong to this toolkit or model."""
