"""Annotation files and test lists as the organisers distribute them.

An annotation file is the header ``valence,arousal`` then one ``v,a`` line per
video frame, values in [-1, 1]; ``-5`` marks a frame without annotation.
Row ``i`` (0-based, after the header) belongs to image ``i + 1``.
"""

from __future__ import annotations

import os

import numpy as np

from abaw.data.names import VIDEO_EXTENSIONS
from abaw.errors import DataError
from abaw.tables import parse_table, refuse_stray_line_breaks, split_lines

ANNOTATION_HEADER = ("valence", "arousal")
MISSING_LABEL = -5.0


def parse_annotation(text: str, source: str) -> np.ndarray:
    """Parse an annotation file's text into a ``float32`` array of shape ``(frames, 2)``.

    Args:
        text: The whole file.
        source: The file's name, used in errors.

    Raises:
        DataError: naming ``source`` and the line of a bad header, a line
            that is not two numbers, or a value outside [-1, 1] other than -5.

    Example:
        >>> parse_annotation("valence,arousal\\n0.5,-0.1\\n-5,-5\\n", "v.txt").tolist()
        [[0.5, -0.10000000149011612], [-5.0, -5.0]]
    """
    values = parse_table(text, source, ANNOTATION_HEADER, error=DataError).values
    if len(values) == 0:
        raise DataError("no label lines after the header", path=source, line=1)
    in_range = (np.abs(values) <= 1.0) | (values == MISSING_LABEL)
    if not in_range.all():
        row, column = np.argwhere(~in_range)[0]
        raise DataError(
            f"{ANNOTATION_HEADER[column]} {values[row, column]:g} is outside [-1, 1] and is not -5",
            path=source,
            line=int(row) + 2,
        )
    return values.astype(np.float32)


def read_annotation(path: str | os.PathLike) -> np.ndarray:
    """Read and parse one annotation file (see :func:`parse_annotation`)."""
    return parse_annotation(_read_text(path), str(path))


def valid_rows(labels: np.ndarray) -> np.ndarray:
    """Boolean mask of rows whose valence and arousal are both annotated.

    Example:
        >>> valid_rows(np.array([[0.1, 0.2], [-5, 0.3], [-5, -5]])).tolist()
        [True, False, False]
    """
    return (labels != MISSING_LABEL).all(axis=1)


def read_test_list(path: str | os.PathLike) -> list[str]:
    """Read the names of the test videos, one per line (suffixes kept).

    Blank lines are skipped and a trailing ``.mp4``/``.avi`` is dropped.

    Raises:
        DataError: naming the line of a name with a path separator or a
            space, or of a repeated name.
    """
    names: list[str] = []
    seen: dict[str, int] = {}
    text = _read_text(path)
    refuse_stray_line_breaks(text, str(path), DataError)
    for number, raw in enumerate(split_lines(text), start=1):
        name = raw.strip()
        if not name:
            continue
        stem, ext = os.path.splitext(name)
        if ext.lower() in VIDEO_EXTENSIONS:
            name = stem
        if any(char in name for char in "/\\ \t,"):
            raise DataError(f"'{name}' is not a video name", path=path, line=number)
        if name in seen:
            raise DataError(f"'{name}' is listed again (first on line {seen[name]})", path=path, line=number)
        seen[name] = number
        names.append(name)
    if not names:
        raise DataError("lists no test video", path=path)
    return names


def _read_text(path: str | os.PathLike) -> str:
    # newline="": no translation, so that a lone carriage return reaches refuse_stray_line_breaks
    # (read as a line end, it would shift every later label by one frame).
    try:
        with open(path, encoding="utf-8", newline="") as file:
            return file.read()
    except UnicodeDecodeError as error:
        raise DataError(f"not UTF-8 text ({error.reason})", path=path) from None
    except OSError as error:
        raise DataError(error.strerror or "cannot be read", path=path) from None
