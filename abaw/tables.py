"""Reading the challenge's comma-separated text files with exact error places.

Annotation files, per-video prediction files and single-file submissions are
all a header line followed by comma-separated rows. The happy path parses a
whole file with a few vectorised calls (millions of lines per second); only
when that fails is the file walked line by line to name the first bad line.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from abaw.errors import AbawError


@dataclass(frozen=True)
class Table:
    """The rows of a parsed file.

    Attributes:
        keys: The leading text columns, one list per key column (empty when
            the file has none).
        values: ``float64`` array of shape ``(rows, numeric columns)``.
    """

    keys: list[list[str]]
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.values)


def split_lines(text: str) -> list[str]:
    """Split ``text`` into lines, dropping a byte-order mark and trailing blank lines."""
    lines = text.lstrip("\ufeff").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def parse_table(
    text: str,
    source: str,
    header: Sequence[str],
    key_columns: int = 0,
    error: type[AbawError] = AbawError,
) -> Table:
    """Parse ``text`` whose first line must be ``header`` joined by commas.

    Args:
        text: The whole file.
        source: How to name the file in errors (a path, or ``zip:member``).
        header: Expected column names, compared case-insensitively.
        key_columns: How many leading columns are text (the rest are numbers).
        error: The :class:`AbawError` subclass to raise.

    Raises:
        error: naming ``source`` and the 1-based line of the first problem.

    Example:
        >>> t = parse_table("valence,arousal\\n0.5,-0.25\\n", "x.txt", ("valence", "arousal"))
        >>> t.values.tolist()
        [[0.5, -0.25]]
    """
    body_start = _check_header(text, source, header, error)
    body = text[body_start:].rstrip()
    table = _parse_fast(body, len(header), key_columns) if body else None
    if table is None:
        table = _parse_slow(body, len(header), key_columns, source, error)
    for k, column in enumerate(table.keys):
        empty = [number for number, key in enumerate(column, start=2) if not key]
        if empty:
            raise error(f"empty {header[k]}", path=source, line=empty[0])
    return table


def _check_header(text: str, source: str, header: Sequence[str], error: type[AbawError]) -> int:
    """Check the first line against ``header``; return the offset where the rows start."""
    text_start = 1 if text.startswith("\ufeff") else 0
    newline = text.find("\n", text_start)
    first = text[text_start : newline if newline >= 0 else len(text)].strip()
    expected = ",".join(header)
    if not first and newline < 0:
        raise error(f"empty file, expected the header '{expected}'", path=source, line=1)
    if [cell.strip().lower() for cell in first.split(",")] != [name.lower() for name in header]:
        raise error(f"header is '{first}', expected '{expected}'", path=source, line=1)
    return len(text) if newline < 0 else newline + 1


def _parse_fast(body: str, width: int, key_columns: int) -> Table | None:
    """Parse with pandas' C reader; ``None`` when anything looks off."""
    dtypes = {k: (str if k < key_columns else np.float64) for k in range(width)}
    rows = body.count("\n") + 1
    if body.count(",") != rows * (width - 1):
        return None
    try:
        frame = pd.read_csv(
            io.BytesIO(body.encode("utf-8")),
            header=None,
            names=list(range(width)),
            index_col=False,
            dtype=dtypes,
            skip_blank_lines=False,
            keep_default_na=False,
            engine="c",
            quoting=csv.QUOTE_NONE,
        )
    except (ValueError, pd.errors.ParserError):
        return None
    values = frame.iloc[:, key_columns:].to_numpy(dtype=np.float64)
    if len(frame) != rows or not np.isfinite(values).all():
        return None
    keys = [frame[k].str.strip().tolist() for k in range(key_columns)]
    return Table(keys=keys, values=values)


def _parse_slow(body: str, width: int, key_columns: int, source: str, error: type[AbawError]) -> Table:
    """Parse line by line, raising at the first bad line."""
    rows = [line.split(",") for line in body.splitlines()] if body else []
    values = np.empty((len(rows), width - key_columns), dtype=np.float64)
    for number, row in enumerate(rows, start=2):
        if len(row) != width:
            _raise_width(row, number, width, source, error)
        for column, cell in enumerate(row[key_columns:]):
            values[number - 2, column] = _to_number(cell, number, source, error)
    keys = [[row[k].strip() for row in rows] for k in range(key_columns)]
    return Table(keys=keys, values=values)


def _to_number(cell: str, number: int, source: str, error: type[AbawError]) -> float:
    try:
        value = float(cell)
    except ValueError:
        raise error(f"'{cell.strip()}' is not a number", path=source, line=number) from None
    if not np.isfinite(value):
        raise error(f"'{cell.strip()}' is not a finite number", path=source, line=number)
    return value


def _raise_width(row: list[str], number: int, width: int, source: str, error: type[AbawError]) -> None:
    if len(row) == 1 and not row[0].strip():
        raise error("empty line", path=source, line=number)
    raise error(
        f"expected {width} comma-separated values, found {len(row)}: '{','.join(row).strip()}'",
        path=source,
        line=number,
    )
