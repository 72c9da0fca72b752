"""Reading the challenge's comma-separated text files with exact error places.

Annotation files, per-video prediction files and single-file submissions are
all a header line followed by comma-separated rows. The happy path parses a
whole file with a few vectorised calls (millions of lines per second); only
when that fails is the file parsed again in blocks, and the one block that
fails walked line by line to name the first bad line.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from abaw.errors import AbawError
from abaw.messages import quoted


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
    """Split ``text`` at ``\\n`` and ``\\r\\n`` only, dropping a byte-order mark and trailing blank lines.

    Unlike :meth:`str.splitlines`, a form feed or a Unicode line separator
    does not end a line (:func:`refuse_stray_line_breaks` reports them).

    Example:
        >>> split_lines("\\ufeffa\\r\\nb\\fc\\n\\n")
        ['a', 'b\\x0cc']
    """
    lines = [line.removesuffix("\r") for line in text.lstrip("\ufeff").split("\n")]
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


_BREAK_NAMES = {
    0x0B: "vertical tab",
    0x0C: "form feed",
    0x0D: "carriage return without a line feed",
    0x1C: "file separator",
    0x1D: "group separator",
    0x1E: "record separator",
    0x85: "next-line character",
    0x2028: "line separator",
    0x2029: "paragraph separator",
}
# UTF-8 forms of the characters beyond ASCII that str.splitlines() breaks at.
_UNICODE_BREAKS = ("\x85", "\u2028", "\u2029")


def refuse_stray_line_breaks(text: str | bytes, source: str, error: type[AbawError] = AbawError) -> None:
    """Raise unless every line of ``text`` ends with ``\\n`` or ``\\r\\n`` and holds no other control character.

    A form feed or a Unicode line separator inside a line would split it in
    readers that use :meth:`str.splitlines`, shifting every later frame by
    one, so it is an error rather than a line end. Tabs are allowed.

    Args:
        text: The text, or its UTF-8 bytes.
        source: How to name the file in errors.
        error: The :class:`AbawError` subclass to raise.

    Raises:
        error: naming ``source`` and the line of the first such character.

    Example:
        >>> refuse_stray_line_breaks("a,b\\r\\n0.1,0.2\\f\\n", "v.txt")
        Traceback (most recent call last):
        ...
        abaw.errors.AbawError: v.txt:2: form feed (U+000C) inside a line: lines may end only with \\n or \\r\\n
    """
    data = text.encode("utf-8") if isinstance(text, str) else text
    codes = np.frombuffer(data, dtype=np.uint8)
    found = []
    controls = codes < 0x20
    # Counting first keeps a clean file (only line feeds) from listing millions of positions.
    if np.count_nonzero(controls) != np.count_nonzero(codes == 0x0A):
        others = np.flatnonzero(controls & (codes != 0x0A) & (codes != 0x09))
        following = np.append(codes, 0)[others + 1]
        stray = others[(codes[others] != 0x0D) | (following != 0x0A)]
        if len(stray):
            found.append((int(stray[0]), int(codes[stray[0]])))
    if not data.isascii():
        for char in _UNICODE_BREAKS:
            position = data.find(char.encode("utf-8"))
            if position >= 0:
                found.append((position, ord(char)))
    if not found:
        return
    position, code = min(found)
    name = _BREAK_NAMES.get(code, "control character")
    raise error(
        f"{name} (U+{code:04X}) inside a line: lines may end only with \\n or \\r\\n",
        path=source,
        line=1 + data.count(b"\n", 0, position),
    )


def parse_table(
    text: str,
    source: str,
    header: Sequence[str],
    key_columns: int = 0,
    error: type[AbawError] = AbawError,
    required_keys: int | None = None,
) -> Table:
    """Parse ``text`` whose first line must be ``header`` joined by commas.

    Lines end with ``\\n`` or ``\\r\\n`` and nothing else; numbers are plain
    ASCII decimals (``-0.25``, ``1e-3``), as the organisers' pandas reader
    takes them. A file with a bad line costs about twice a good one: it is
    parsed again in blocks, and only the block holding the bad line is
    walked line by line.

    Args:
        text: The whole file.
        source: How to name the file in errors (a path, or ``zip:member``).
        header: Expected column names, compared case-insensitively.
        key_columns: How many leading columns are text (the rest are numbers).
        error: The :class:`AbawError` subclass to raise.
        required_keys: How many leading text columns may not be empty (default all of them).

    Raises:
        error: naming ``source`` and the 1-based line of the first problem.

    Example:
        >>> t = parse_table("valence,arousal\\n0.5,-0.25\\n", "x.txt", ("valence", "arousal"))
        >>> t.values.tolist()
        [[0.5, -0.25]]
    """
    data = text.encode("utf-8")
    refuse_stray_line_breaks(data, source, error)
    body_start = _check_header(text, source, header, error)
    body = data[len(text[:body_start].encode("utf-8")) :].rstrip()
    table = _parse_fast(body, len(header), key_columns) if body else None
    if table is None:
        table = _parse_in_blocks(body, len(header), key_columns, source, error)
    for k, column in enumerate(table.keys[:required_keys]):
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
        raise error(f"header is {quoted(first)}, expected '{expected}'", path=source, line=1)
    return len(text) if newline < 0 else newline + 1


def _parse_fast(body: bytes, width: int, key_columns: int) -> Table | None:
    """Parse with pandas' C reader; ``None`` when anything looks off."""
    import pandas as pd  # here, not at the top: pandas takes about 0.5 s to import, and abaw --help needs none

    dtypes = {k: (str if k < key_columns else np.float64) for k in range(width)}
    rows = body.count(b"\n") + 1
    if body.count(b",") != rows * (width - 1):
        return None
    try:
        frame = pd.read_csv(
            io.BytesIO(body),
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


BLOCK_LINES = 50_000
"""Lines parsed at once after the whole file failed: small enough to walk one block line by line."""


def _parse_in_blocks(body: bytes, width: int, key_columns: int, source: str, error: type[AbawError]) -> Table:
    """Parse ``body`` block by block; walk line by line only a block the fast reader refuses.

    Memory stays a small multiple of the file, whatever the line count:
    no Python object is made per line outside the one block walked.
    """
    newlines = np.flatnonzero(np.frombuffer(body, dtype=np.uint8) == ord("\n")) if body else np.zeros(0, np.int64)
    line_count = len(newlines) + 1 if body else 0
    values: list[np.ndarray] = []
    keys: list[list[str]] = [[] for _ in range(key_columns)]
    for first in range(0, line_count, BLOCK_LINES):
        start = 0 if first == 0 else int(newlines[first - 1]) + 1
        after = first + BLOCK_LINES
        end = int(newlines[after - 1]) if after - 1 < len(newlines) else len(body)
        block = body[start:end].removesuffix(b"\r")
        table = _parse_fast(block, width, key_columns)
        if table is None:
            table = _parse_lines(block.decode("utf-8"), width, key_columns, first + 2, source, error)
        values.append(table.values)
        for column, block_keys in zip(keys, table.keys, strict=True):
            column.extend(block_keys)
    merged = np.concatenate(values) if values else np.empty((0, width - key_columns), dtype=np.float64)
    return Table(keys=keys, values=merged)


def _parse_lines(text: str, width: int, key_columns: int, first_number: int, source: str, error: type[AbawError]):
    """Parse line by line, raising at the first bad line (numbered from ``first_number``)."""
    rows = [line.removesuffix("\r").split(",") for line in text.split("\n")] if text else []
    values = np.empty((len(rows), width - key_columns), dtype=np.float64)
    for index, row in enumerate(rows):
        number = first_number + index
        if len(row) != width:
            _raise_width(row, number, width, source, error)
        for column, cell in enumerate(row[key_columns:]):
            values[index, column] = _to_number(cell, number, source, error)
    keys = [[row[k].strip() for row in rows] for k in range(key_columns)]
    return Table(keys=keys, values=values)


# What pandas' C reader (the organisers' reader) takes as a float: ASCII
# digits, one '.', an optional exponent; blanks around it. Python's float()
# also takes '1_0', non-ASCII digits, 'nan' and 'inf', which it refuses.
_DECIMAL = re.compile(r"[ \t]*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[ \t]*")


def _to_number(cell: str, number: int, source: str, error: type[AbawError]) -> float:
    shown = quoted(cell.strip())
    try:
        value = float(cell)
    except ValueError:
        raise error(f"{shown} is not a number", path=source, line=number) from None
    if not np.isfinite(value):
        raise error(f"{shown} is not a finite number", path=source, line=number)
    if not _DECIMAL.fullmatch(cell):
        raise error(
            f"{shown} is not a plain decimal number (ASCII digits, '.', optional exponent)", path=source, line=number
        )
    return value


def _raise_width(row: list[str], number: int, width: int, source: str, error: type[AbawError]) -> None:
    if len(row) == 1 and not row[0].strip():
        raise error("empty line", path=source, line=number)
    raise error(
        f"expected {width} comma-separated values, found {len(row)}: {quoted(','.join(row).strip())}",
        path=source,
        line=number,
    )
