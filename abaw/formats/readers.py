"""Parsing prediction files in either format: the one parser for reading, checking and sample files.

:func:`read_predictions` raises at the first problem, while
:mod:`abaw.formats.check` drives the same building blocks
(:func:`~abaw.formats.containers.open_submission`, :func:`detect_format`,
:func:`parse_per_video_text`, :func:`parse_single_file_rows`,
:func:`parse_collecting`) to collect every problem of a submission.

Decisions:

* Files that cannot be predictions are ignored and listed in
  :attr:`~abaw.formats.types.PredictionSet.notes`.
* Values outside [-1, 1] are read as they are; scoring clips them and says
  so in a note, the submission checker reports them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from abaw.data.frame_counts import SampleCounts
from abaw.errors import PredictionError
from abaw.formats.containers import SubmissionFile, SubmissionFiles, open_submission
from abaw.formats.types import (
    IMAGE_LOCATION_FORM,
    IMAGE_LOCATION_PATTERN,
    PER_VIDEO_HEADER,
    SINGLE_FILE_HEADER,
    PredictionSet,
    SubmissionFormat,
    VideoPrediction,
)
from abaw.messages import quoted, some
from abaw.progress import ProgressFn, no_progress
from abaw.tables import Table, parse_table, split_lines

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class DetectedFormat:
    """The format of a submission and the files that hold it.

    Attributes:
        format: Per-video or single-file.
        files: The per-video files, or the one single file.
        ignored: ``(name, reason)`` for candidate files left out.
    """

    format: SubmissionFormat
    files: list[SubmissionFile]
    ignored: list[tuple[str, str]] = field(default_factory=list)


def detect_format(listing: SubmissionFiles) -> DetectedFormat:
    """Decide the format from the files' headers.

    A file whose header starts with ``image_location`` is a single-file
    submission; otherwise the ``.txt`` files are per-video files. A lone
    ``.csv`` with another header is taken as a single file, so that its
    header error is reported where the user expects it.

    Raises:
        PredictionError: when the submission holds no prediction file, both
            formats, or more than one single file.
    """
    single, per_video, other_csv = [], [], []
    for file in listing.files:
        try:
            first_cell = file.first_line().split(",")[0].strip().lower()
        except PredictionError:
            first_cell = ""  # unreadable: classified by its extension, its error comes when it is parsed
        if first_cell == SINGLE_FILE_HEADER[0]:
            single.append(file)
        elif file.suffix == ".txt":
            per_video.append(file)
        else:
            other_csv.append(file)
    ignored = [(f.name, "a .csv file without the header 'image_location,valence,arousal'") for f in other_csv]
    if single and per_video:
        raise PredictionError(
            f"holds a single-file submission ({single[0].name}) and per-video files "
            f"({some([f.name for f in per_video])}); keep one format",
            path=listing.source,
        )
    if len(single) > 1:
        raise PredictionError(
            f"holds {len(single)} single-file submissions ({some([f.name for f in single])}); keep one",
            path=listing.source,
        )
    if single:
        return DetectedFormat(SubmissionFormat.SINGLE_FILE, single, ignored)
    if per_video:
        return DetectedFormat(SubmissionFormat.PER_VIDEO, per_video, ignored)
    if len(other_csv) == 1:
        return DetectedFormat(SubmissionFormat.SINGLE_FILE, other_csv)
    raise PredictionError(
        "no prediction files: expected <video>.txt files with the header 'valence,arousal', "
        "or one file with the header 'image_location,valence,arousal'",
        path=listing.source,
    )


# --------------------------------------------------------------------------
# Parsing


def parse_per_video_text(text: str, source: str) -> np.ndarray:
    """Parse a per-video file into ``(lines, 2)`` ``float64`` values.

    Raises:
        PredictionError: naming ``source`` and the line of a bad header or row.

    Example:
        >>> parse_per_video_text("valence,arousal\\n0.5,-0.25\\n", "v.txt").tolist()
        [[0.5, -0.25]]
        >>> parse_per_video_text("valence\\n0.5\\n", "v.txt")
        Traceback (most recent call last):
        ...
        abaw.errors.PredictionError: v.txt:1: header is 'valence', expected 'valence,arousal'
    """
    return parse_table(text, source, PER_VIDEO_HEADER, error=PredictionError).values


@dataclass
class SingleFileRows:
    """The rows of a single-file submission (or sample file), decoded.

    Attributes:
        names: Distinct video names, in order of first appearance.
        codes: Per row, the index of its video in ``names`` (-1 for a bad row).
        frames: Per row, the 1-based frame number (0 for a bad row).
        values: ``(rows, 2)`` values (``(rows, 0)`` for a sample read as text).
        lines: Per row, its 1-based line in the file.
        locations: Per row, its ``image_location`` as written.
        bad: Indices of rows whose ``image_location`` is malformed.
        duplicates: ``(k, 2)`` row indices: a repeated row and the row it repeats.
        order: Indices of the good rows sorted by (video, frame), repeats left out.
    """

    names: list[str]
    codes: np.ndarray
    frames: np.ndarray
    values: np.ndarray
    lines: np.ndarray
    locations: list[str]
    bad: np.ndarray
    duplicates: np.ndarray
    order: np.ndarray

    def raise_first_problem(self, source: str) -> None:
        """Raise :class:`PredictionError` for the first bad or repeated row, if any."""
        errors = [bad_location_error(self.locations[row], source, int(self.lines[row])) for row in self.bad[:1]]
        if len(self.duplicates):
            first = np.argmin(self.lines[self.duplicates[:, 0]])
            row, earlier = self.duplicates[first]
            line, earlier_line = int(self.lines[row]), int(self.lines[earlier])
            errors.append(duplicate_row_error(self.locations[row], source, line, earlier_line))
        if errors:
            raise min(errors, key=lambda error: error.line or 0)

    def videos(self, source: str) -> dict[str, VideoPrediction]:
        """Split the good rows into one :class:`VideoPrediction` per video, by sorted name."""
        codes = self.codes[self.order]
        starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]]) if len(codes) else np.array([], np.int64)
        ends = np.r_[starts[1:], len(codes)]
        videos = {}
        for start, end in zip(starts, ends, strict=True):
            rows = self.order[start:end]
            videos[self.names[codes[start]]] = VideoPrediction(self.frames[rows], self.values[rows], source)
        return dict(sorted(videos.items()))


def bad_location_error(location: str, source: str, line: int) -> PredictionError:
    """The error for an ``image_location`` not of the form ``<video>/<5-digit frame>.jpg``."""
    return PredictionError(f"image_location {quoted(location)} is not {IMAGE_LOCATION_FORM}", path=source, line=line)


def duplicate_row_error(location: str, source: str, line: int, earlier: int) -> PredictionError:
    """The error for a row whose image appeared before."""
    return PredictionError(f"{quoted(location)} appears again (first on line {earlier})", path=source, line=line)


def parse_single_file_rows(
    locations: Sequence[str], values: np.ndarray, lines: np.ndarray | None = None
) -> SingleFileRows:
    """Decode the ``image_location`` column of a single-file submission, vectorised.

    Args:
        locations: The ``image_location`` of each row, stripped.
        values: The rows' numbers, ``(rows, k)``.
        lines: The rows' 1-based lines (default: 2, 3, ... after the header).

    Example:
        >>> rows = parse_single_file_rows(["b/00002.jpg", "a/00001.jpg", "b/00002.jpg", "x.jpg"], np.zeros((4, 2)))
        >>> rows.names, rows.frames.tolist(), rows.bad.tolist(), rows.duplicates.tolist()
        (['b', 'a'], [2, 1, 2, 0], [3], [[2, 0]])
    """
    import pandas as pd  # here, not at the top: pandas takes about 0.5 s to import, and abaw --help needs none

    count = len(locations)
    lines = np.arange(2, count + 2, dtype=np.int64) if lines is None else np.asarray(lines, dtype=np.int64)
    series = pd.Series(list(locations), dtype=str)
    good = series.str.fullmatch(IMAGE_LOCATION_PATTERN).to_numpy(dtype=bool, na_value=False)
    frames = np.zeros(count, dtype=np.int64)
    if good.any():
        frames[good] = _frame_numbers(series[good], locations if good.all() else series[good].tolist())
    good = good & (frames > 0)  # image 00000 does not exist: frames are 1-based
    codes = np.full(count, -1, dtype=np.int64)
    names: list[str] = []
    if good.any():
        good_codes, uniques = pd.factorize(series[good].str.slice(0, -10))
        codes[good] = good_codes
        names = [str(name) for name in uniques]
    rows = np.flatnonzero(good)
    key = codes[rows] * (int(frames.max(initial=0)) + 1) + frames[rows]
    # A stable sort keeps rows of the same image in line order, so the first
    # of a run is the original and the others are its repeats.
    by_key = np.argsort(key, kind="stable")
    sorted_rows, sorted_key = rows[by_key], key[by_key]
    repeat = np.r_[False, sorted_key[1:] == sorted_key[:-1]] if len(sorted_key) else np.zeros(0, bool)
    run_start = np.maximum.accumulate(np.where(~repeat, np.arange(len(repeat)), 0)) if len(repeat) else repeat
    duplicates = np.stack([sorted_rows[repeat], sorted_rows[run_start[repeat]]], axis=1).reshape(-1, 2)
    return SingleFileRows(
        names=names,
        codes=codes,
        frames=frames,
        values=np.asarray(values, dtype=np.float64),
        lines=lines,
        locations=list(locations),
        bad=np.flatnonzero(~good),
        duplicates=duplicates,
        order=sorted_rows[~repeat],
    )


def _frame_numbers(locations: pd.Series, as_list: Sequence[str]) -> np.ndarray:
    """The 5-digit frame numbers of well-formed locations (``.../00012.jpg``), also given as a list."""
    joined = "".join(as_list).encode("utf-8")
    ends = np.cumsum(locations.str.len().to_numpy(dtype=np.int64))
    if len(joined) != ends[-1]:  # non-ASCII names: byte and character offsets differ
        return locations.str.slice(-9, -4).astype(np.int64).to_numpy()
    # Reading the digits straight from one buffer is ten times faster than
    # converting millions of small strings to integers.
    digits = np.frombuffer(joined, dtype=np.uint8)[ends[:, None] - 9 + np.arange(5)].astype(np.int64) - ord("0")
    return digits @ np.array([10_000, 1_000, 100, 10, 1], dtype=np.int64)


def parse_single_file_text(text: str, source: str) -> SingleFileRows:
    """Parse a whole single-file submission, raising at its first problem.

    Raises:
        PredictionError: naming ``source`` and the line of a bad header, a
            row that is not a location and two numbers, a malformed
            location, or a repeated image (with the line it repeats).

    Example:
        >>> text = "image_location,valence,arousal\\nv/00002.jpg,0.1,0.2\\nv/00001.jpg,0.3,0.4\\n"
        >>> parse_single_file_text(text, "s.csv").videos("s.csv")["v"].frames.tolist()
        [1, 2]
        >>> parse_single_file_text(text + "v/00001.jpg,0,0\\n", "s.csv")
        Traceback (most recent call last):
        ...
        abaw.errors.PredictionError: s.csv:4: 'v/00001.jpg' appears again (first on line 3)
    """
    table = parse_table(text, source, SINGLE_FILE_HEADER, key_columns=1, error=PredictionError)
    rows = parse_single_file_rows(table.keys[0], table.values)
    rows.raise_first_problem(source)
    return rows


def read_sample_file(path: str | os.PathLike) -> SingleFileRows:
    """Read the organisers' sample single file: only its ``image_location`` column matters.

    The value columns may hold any text, or none (``video/00001.jpg,,``).

    Raises:
        PredictionError: naming the file and line of a bad header, row,
            location, or repeated image.
    """
    source = str(path)
    if not Path(path).is_file():
        raise PredictionError("does not exist", path=source)
    text = SubmissionFile.from_path(path).text()
    try:
        table = parse_table(text, source, SINGLE_FILE_HEADER, key_columns=1, error=PredictionError)
    except PredictionError as error:
        if error.line in (None, 1):
            raise
        # Not numbers: read the values as text, which is twice as slow.
        table = parse_table(text, source, SINGLE_FILE_HEADER, key_columns=3, error=PredictionError, required_keys=1)
    rows = parse_single_file_rows(table.keys[0], np.zeros((len(table), 0)))
    rows.raise_first_problem(source)
    if not len(table):
        raise PredictionError("no rows after the header", path=source, line=1)
    return rows


def sample_frame_counts(sample: SingleFileRows) -> dict[str, int]:
    """Rows of each video in the organisers' sample file: its frame count."""
    counts = np.bincount(sample.codes[sample.codes >= 0], minlength=len(sample.names))
    return {name: int(count) for name, count in zip(sample.names, counts, strict=True)}


def read_sample_counts(path: str | os.PathLike) -> SampleCounts:
    """The frame count of each video in the organisers' sample file, for :meth:`DatasetIndex.frame_counts`.

    Raises:
        PredictionError: see :func:`read_sample_file`.
    """
    return SampleCounts(Path(path), sample_frame_counts(read_sample_file(path)))


def parse_collecting(
    text: str,
    source: str,
    header: Sequence[str],
    key_columns: int,
    report: Callable[[PredictionError], bool],
    block: int = 20_000,
    small_block: int = 1_000,
) -> tuple[Table, np.ndarray] | None:
    """Parse like :func:`~abaw.tables.parse_table` but go on past bad lines.

    Each bad line is passed to ``report``, which returns ``False`` to stop
    (the rest of the file is then not read). A big file is parsed in blocks
    of ``block`` lines, and what follows a bad line in blocks of
    ``small_block``, so that each bad line costs a small reparse only.

    Returns:
        The good rows and their 1-based lines, or ``None`` if the header is bad.
    """
    if text.count("\n", 0, len(text)) < block:
        try:
            table = parse_table(text, source, header, key_columns=key_columns, error=PredictionError)
            return table, np.arange(2, len(table) + 2, dtype=np.int64)
        except PredictionError as error:
            if error.line in (None, 1):
                report(error)
                return None
    all_lines = split_lines(text)
    head = all_lines[0] if all_lines else ""

    def blocks(start: int, end: int, size: int) -> list[tuple[int, int]]:
        """Ranges covering ``start..end``, the earliest last (a stack's top)."""
        return [(first, min(first + size, end)) for first in range(start, end, size)][::-1]

    ranges = blocks(1, len(all_lines), block) or [(1, 1)]
    parsed: list[tuple[int, Table, np.ndarray]] = []
    while ranges:
        start, end = ranges.pop()
        try:
            table = parse_table("\n".join([head, *all_lines[start:end]]), source, header, key_columns, PredictionError)
        except PredictionError as error:
            if error.line in (None, 1):  # the header: nothing else can be read
                report(error)
                return None
            bad = start + error.line - 2  # index in all_lines of the bad line
            ranges.extend(blocks(bad + 1, end, small_block))
            if bad > start:
                ranges.append((start, bad))
            if not report(PredictionError(error.message, path=source, line=bad + 1)):
                break
            continue
        # A block ending in blank lines loses them to the parser's strip;
        # in the whole file they are empty lines, and bad ones.
        for index in range(start + len(table), end):
            if not report(PredictionError("empty line", path=source, line=index + 1)):
                ranges.clear()
                break
        parsed.append((start, table, np.arange(start + 1, start + len(table) + 1, dtype=np.int64)))
    parsed.sort(key=lambda part: part[0])
    width = len(header) - key_columns
    values = np.concatenate([table.values for _, table, _ in parsed]) if parsed else np.zeros((0, width))
    keys = [[key for _, table, _ in parsed for key in table.keys[k]] for k in range(key_columns)]
    lines = np.concatenate([numbers for _, _, numbers in parsed]) if parsed else np.zeros(0, np.int64)
    return Table(keys=keys, values=values), lines


# --------------------------------------------------------------------------
# Reading


def read_predictions(path: str | os.PathLike, *, progress: ProgressFn = no_progress) -> PredictionSet:
    """Read predictions from a folder, a single file, or a ``.zip`` of either.

    The format is detected from the files' headers (see :func:`detect_format`).
    Per-video files give frames ``1..lines``; a single file gives the frames
    it lists.

    Args:
        path: The folder, file or archive.
        progress: Wraps the loop over per-video files (for a progress bar).

    Raises:
        PredictionError: naming the file (``archive.zip:member`` inside an
            archive) and the line of the first problem: no prediction file,
            an unsafe archive member, a bad header, a row that is not
            numbers, a malformed or repeated ``image_location``.
    """
    with open_submission(path) as listing:
        if listing.errors:
            raise listing.errors[0]
        detected = detect_format(listing)
        notes = _listing_notes(listing, detected)
        if detected.format is SubmissionFormat.SINGLE_FILE:
            file = detected.files[0]
            videos = parse_single_file_text(file.text(), file.source).videos(file.source)
        else:
            videos = {}
            for file in progress(detected.files, "Reading predictions", len(detected.files)):
                if file.stem in videos:
                    raise PredictionError(f"'{file.stem}' has a second prediction file", path=file.source)
                values = parse_per_video_text(file.text(), file.source)
                videos[file.stem] = VideoPrediction.consecutive(values, file.source)
        return PredictionSet(detected.format, str(path), dict(sorted(videos.items())), notes)


def _listing_notes(listing: SubmissionFiles, detected: DetectedFormat) -> list[str]:
    notes = []
    if listing.folder:
        notes.append(f"predictions read from the folder '{listing.folder}' inside {listing.source}")
    ignored = sorted(listing.ignored + detected.ignored)
    if ignored:
        described = [f"{name} ({reason})" for name, reason in ignored]
        notes.append(f"ignored {len(ignored)} file(s) that are not predictions: {some(described)}")
    return notes


__all__ = [
    "DetectedFormat",
    "SingleFileRows",
    "bad_location_error",
    "detect_format",
    "duplicate_row_error",
    "parse_collecting",
    "parse_per_video_text",
    "parse_single_file_rows",
    "parse_single_file_text",
    "read_predictions",
    "read_sample_file",
]
