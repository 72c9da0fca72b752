"""Checking a submission before uploading it: every problem, not only the first.

:func:`check_submission` reads a folder, a single file, or a zip of either
with the same parser as reading and scoring (:mod:`abaw.formats.readers`), but where
reading stops at the first problem, checking goes on and collects them all,
each as one line naming the file (``archive.zip:member`` inside a zip) and
the line.

What it checks:

* the archive: no absolute paths, ``..``, backslashes, links or other
  non-regular members, no zip inside the zip, no stray file, prediction
  files at its root (not in a folder);
* sizes: a file larger than its video's frame count can need (a few dozen
  bytes a frame) is refused unread, so a zip bomb costs nothing;
* per-video: one ``<name>.txt`` per test video and no other, header exactly
  ``valence,arousal``, exactly as many lines as the video has frames, every
  line two finite numbers in [-1, 1];
* single-file: header exactly ``image_location,valence,arousal``, one row for
  each image ``<name>/00001.jpg`` ... of each test video (or, with the
  organisers' sample file, the sample's rows in the sample's order), no
  repeated row, values finite and in [-1, 1].

Dotfiles and ``__MACOSX/`` entries are only noted: they are harmless to the
reader. A folder given (rather than a zip) may hold its files in one
subfolder; that is noted too, as zipping the subfolder's content fixes it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from abaw.data.frames import image_location
from abaw.errors import AbawError, PredictionError
from abaw.formats.containers import ReadLimit, SubmissionFile, SubmissionFiles, open_submission
from abaw.formats.readers import (
    SingleFileRows,
    bad_location_error,
    detect_format,
    duplicate_row_error,
    parse_collecting,
    parse_single_file_rows,
    read_sample_file,
    sample_frame_counts,
)
from abaw.formats.types import PER_VIDEO_HEADER, SINGLE_FILE_HEADER, SubmissionFormat
from abaw.progress import ProgressFn, no_progress

__all__ = ["MAX_LISTED_PROBLEMS", "SubmissionReport", "check_submission"]

MAX_LISTED_PROBLEMS = 50


@dataclass
class SubmissionReport:
    """What :func:`check_submission` found.

    Attributes:
        path: The submission checked.
        format: Its format, ``None`` if it could not be told.
        videos: Videos found in the submission.
        lines: Prediction lines (rows) read.
        problems: The first :data:`MAX_LISTED_PROBLEMS` problems, one line
            each, then, if there were more, a line ``... and N more problems``.
        problem_count: All problems found (more than listed when capped).
        stopped_early: Whether some file was not read to its end because
            the list was full (then ``problem_count`` is a lower bound).
        notes: Harmless findings.
    """

    path: str
    format: SubmissionFormat | None = None
    videos: int = 0
    lines: int = 0
    problems: list[str] = field(default_factory=list)
    problem_count: int = 0
    stopped_early: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the submission has no problem."""
        return self.problem_count == 0

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dictionary."""
        return {
            "path": self.path,
            "ok": self.ok,
            "format": None if self.format is None else self.format.value,
            "videos": self.videos,
            "lines": self.lines,
            "problem_count": self.problem_count,
            "problems": list(self.problems),
            "notes": list(self.notes),
        }


class _Problems:
    """Collects problems into a report, formatting only those that will be listed."""

    def __init__(self, report: SubmissionReport, limit: int = MAX_LISTED_PROBLEMS):
        self.report = report
        self.limit = limit

    @property
    def full(self) -> bool:
        return len(self.report.problems) >= self.limit

    def add(self, message: str, path: str | os.PathLike | None = None, line: int | None = None) -> bool:
        """Record a problem; return whether there is room for more."""
        return self.add_error(AbawError(message, path=path, line=line))

    def add_error(self, error: AbawError) -> bool:
        self.report.problem_count += 1
        if not self.full:
            self.report.problems.append(str(error))
        return not self.full

    def add_rows(self, source: str, lines: np.ndarray, message: Callable[[int], str]) -> None:
        """Record one problem per line; ``message(k)`` describes the ``k``-th."""
        order = np.argsort(lines, kind="stable")
        for k in order[: max(self.limit - len(self.report.problems), 0)]:
            self.report.problems.append(str(AbawError(message(int(k)), path=source, line=int(lines[k]))))
        self.report.problem_count += len(lines)

    def finish(self) -> None:
        """Add the line saying how many problems were not listed."""
        more = self.report.problem_count - len(self.report.problems)
        if self.report.stopped_early:
            count = f"at least {more}" if more else "possibly"
            self.report.problems.append(
                f"... and {count} more problems (not every file was read to its end once the list was full)"
            )
        elif more:
            self.report.problems.append(f"... and {more} more problems")

    def add_parse_error(self, error: PredictionError) -> bool:
        """For :func:`parse_collecting`: record a bad line, and stop reading the file once the list is full."""
        if not self.add_error(error):
            self.report.stopped_early = True
            return False
        return True


def check_submission(
    path: str | os.PathLike,
    expected: Mapping[str, int] | None,
    *,
    sample_file: str | os.PathLike | None = None,
    shown_as: str | os.PathLike | None = None,
    progress: ProgressFn = no_progress,
) -> SubmissionReport:
    """Check a submission against the test videos and their frame counts.

    Args:
        path: A folder, a single file, or a ``.zip`` of either.
        expected: Frame count (lines to write) of each test video, by name
            with its suffix. May be ``None`` with ``sample_file``; a
            per-video submission is then held to the sample's row count of
            each video.
        sample_file: The organisers' sample single file: a single-file
            submission must have exactly its rows, in its order.
        shown_as: How the report names the submission, when not by ``path``
            (a zip checked before it is moved to where the user finds it).
        progress: Wraps the loop over per-video files.

    Returns:
        The report; ``report.ok`` tells whether it can be uploaded.

    Raises:
        PredictionError: only for a bad ``sample_file`` (problems of the
            submission itself go into the report).
        ValueError: if neither ``expected`` nor ``sample_file`` is given.

    Example:
        >>> import tempfile, pathlib
        >>> sub = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (sub / "v.txt").write_text("valence,arousal\\n0.1,0.2\\n1.5,0\\n")
        >>> report = check_submission(sub, {"v": 2, "w": 4})
        >>> report.ok, report.problem_count
        (False, 2)
        >>> for line in report.problems:
        ...     print(line.replace(str(sub), "sub"))
        sub/v.txt:3: valence 1.5 is outside [-1, 1]
        sub: no prediction file for the test video 'w' (w.txt, 4 lines)
    """
    if expected is None and sample_file is None:
        raise ValueError("give the expected frame counts or a sample file")
    sample = read_sample_file(sample_file) if sample_file is not None else None
    if expected is not None:
        expected = _checked_counts(expected)
    report = SubmissionReport(path=str(shown_as if shown_as is not None else path))
    problems = _Problems(report)
    try:
        with open_submission(path, shown_as) as listing:
            _check_files(listing, expected, sample, sample_file, report, problems, progress)
    except PredictionError as error:
        problems.add_error(error)
    problems.finish()
    return report


def _check_files(
    listing: SubmissionFiles,
    expected: Mapping[str, int] | None,
    sample: SingleFileRows | None,
    sample_file: str | os.PathLike | None,
    report: SubmissionReport,
    problems: _Problems,
    progress: ProgressFn,
) -> None:
    _check_listing(listing, report, problems)
    if listing.errors and not listing.files:
        return
    try:
        detected = detect_format(listing)
    except PredictionError as error:
        problems.add_error(error)
        return
    report.format = detected.format
    for name, reason in detected.ignored:
        problems.add(f"not part of a submission: {reason}", path=_entry_source(listing, name))
    if detected.format is SubmissionFormat.PER_VIDEO:
        counts = expected if expected is not None else sample_frame_counts(sample)
        _check_per_video(detected.files, counts, listing.source, report, problems, progress)
    else:
        _check_single_file(detected.files[0], expected, sample, sample_file, report, problems)


def _checked_counts(expected: Mapping[str, int]) -> dict[str, int]:
    if not expected:
        raise ValueError("the expected mapping names no video")
    for name, count in expected.items():
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
            raise ValueError(f"expected frame count of '{name}' must be a positive whole number, got {count!r}")
    return {name: int(count) for name, count in expected.items()}


def _entry_source(listing: SubmissionFiles, name: str) -> str:
    return f"{listing.source}:{name}" if listing.archive else str(Path(listing.source) / name)


def _check_listing(listing: SubmissionFiles, report: SubmissionReport, problems: _Problems) -> None:
    for error in listing.errors:
        problems.add_error(error)
    for name, reason in listing.ignored:
        problems.add(f"not part of a submission: {reason}", path=_entry_source(listing, name))
    if listing.hidden:
        report.notes.append(
            f"skipped {len(listing.hidden)} hidden entries (dotfiles, __MACOSX/): "
            + ", ".join(listing.hidden[:5])
            + (" ..." if len(listing.hidden) > 5 else "")
        )
    if listing.folder:
        where = f"the files are inside the folder '{listing.folder}'"
        if listing.archive:
            problems.add(f"{where} of the zip; the organisers' instructions put them at its root", path=listing.source)
        else:
            report.notes.append(f"{where}; zip that folder's content, so that they are at the zip's root")


def _check_header_exact(text: str, header: Sequence[str], source: str, problems: _Problems) -> None:
    """Report a header the reader accepts (any case, spaces, byte-order mark) but that is not exact."""
    newline = text.find("\n")
    first = text[: newline if newline >= 0 else len(text)].rstrip("\r")
    expected = ",".join(header)
    loose = [cell.strip().lower() for cell in first.lstrip("\ufeff").split(",")]
    if loose != list(header):
        return  # the parser reports it
    if first.startswith("\ufeff"):
        problems.add("starts with a byte-order mark: save it as UTF-8 without one", path=source, line=1)
    elif first != expected:
        problems.add(f"header is '{first}', expected exactly '{expected}'", path=source, line=1)


def _body_lines(text: str) -> int:
    """Lines after the header, trailing blank lines not counted (as the parser does)."""
    return text.rstrip().count("\n")


def _check_range(values: np.ndarray, lines: np.ndarray, header: Sequence[str], source: str, problems: _Problems):
    """Report each line holding a value outside [-1, 1]."""
    outside = ~(np.abs(values) <= 1.0)
    rows = np.flatnonzero(outside.any(axis=1))
    if not len(rows):
        return

    def message(k: int) -> str:
        column = int(np.argmax(outside[rows[k]]))
        return f"{header[column]} {values[rows[k], column]:g} is outside [-1, 1]"

    problems.add_rows(source, lines[rows], message)


def _check_per_video(
    files: list[SubmissionFile],
    expected: Mapping[str, int],
    source: str,
    report: SubmissionReport,
    problems: _Problems,
    progress: ProgressFn,
) -> None:
    seen: dict[str, str] = {}
    for file in progress(files, "Checking predictions", len(files)):
        name = file.stem
        if name in seen:
            problems.add(f"a second prediction file for '{name}' (the first is {seen[name]})", path=file.source)
            continue
        seen[name] = file.name
        if name not in expected:
            problems.add(f"'{name}' is not a test video: remove this file", path=file.source)
            continue
        try:
            text = file.text(ReadLimit.for_frames(expected[name]))
        except PredictionError as error:
            problems.add_error(error)
            continue
        report.videos += 1
        _check_header_exact(text, PER_VIDEO_HEADER, file.source, problems)
        parsed = parse_collecting(text, file.source, PER_VIDEO_HEADER, 0, problems.add_parse_error)
        if parsed is None:
            continue
        table, lines = parsed
        count = _body_lines(text)
        report.lines += count
        if count != expected[name]:
            problems.add(f"{count} prediction lines, expected {expected[name]} (one per video frame)", path=file.source)
        _check_range(table.values, lines, PER_VIDEO_HEADER, file.source, problems)
    for name in sorted(set(expected) - set(seen)):
        message = f"no prediction file for the test video '{name}' ({name}.txt, {expected[name]} lines)"
        problems.add(message, path=source)


def _check_single_file(
    file: SubmissionFile,
    expected: Mapping[str, int] | None,
    sample: SingleFileRows | None,
    sample_file: str | os.PathLike | None,
    report: SubmissionReport,
    problems: _Problems,
) -> None:
    try:
        text = file.text(ReadLimit.for_single_file(expected if expected is not None else sample_frame_counts(sample)))
    except PredictionError as error:
        problems.add_error(error)
        return
    _check_header_exact(text, SINGLE_FILE_HEADER, file.source, problems)
    parsed = parse_collecting(text, file.source, SINGLE_FILE_HEADER, 1, problems.add_parse_error)
    if parsed is None:
        return
    table, lines = parsed
    complete = len(table) == _body_lines(text)  # no unreadable line
    rows = parse_single_file_rows(table.keys[0], table.values, lines)
    report.lines = len(rows.codes)
    report.videos = len(rows.names)
    problems.add_rows(
        file.source,
        rows.lines[rows.bad],
        lambda k: bad_location_error(rows.locations[rows.bad[k]], "", 0).message,
    )
    repeats = rows.duplicates
    problems.add_rows(
        file.source,
        rows.lines[repeats[:, 0]],
        lambda k: duplicate_row_error(rows.locations[repeats[k, 0]], "", 0, int(rows.lines[repeats[k, 1]])).message,
    )
    _check_range(rows.values, rows.lines, SINGLE_FILE_HEADER[1:], file.source, problems)
    if not complete or len(rows.bad):
        report.notes.append("rows against the test videos not checked: first fix the unreadable lines")
        return
    reference = _Reference.from_sample(sample, sample_file) if sample is not None else _Reference.from_counts(expected)
    _compare_rows(rows, reference, file.source, problems)


@dataclass
class _Reference:
    """The rows a single file must have: from the expected frame counts or the sample file."""

    names: list[str]
    codes: np.ndarray
    frames: np.ndarray
    lines: np.ndarray | None  # sample lines, None without a sample
    sample_file: str | None

    @classmethod
    def from_counts(cls, expected: Mapping[str, int]) -> _Reference:
        names = sorted(expected)
        counts = np.array([expected[name] for name in names], dtype=np.int64)
        codes = np.repeat(np.arange(len(names), dtype=np.int64), counts)
        starts = np.repeat(np.cumsum(counts) - counts, counts)
        frames = np.arange(len(codes), dtype=np.int64) - starts + 1
        return cls(names, codes, frames, None, None)

    @classmethod
    def from_sample(cls, sample: SingleFileRows, sample_file: str | os.PathLike) -> _Reference:
        return cls(sample.names, sample.codes, sample.frames, sample.lines, str(sample_file))

    def where(self, row: int) -> str:
        return f" (sample line {int(self.lines[row])})" if self.lines is not None else ""


def _compare_rows(rows: SingleFileRows, reference: _Reference, source: str, problems: _Problems) -> None:
    """Report missing images per video, rows that should not be there, and (with a sample) the row order."""
    index = {name: k for k, name in enumerate(reference.names)}
    to_reference = np.array([index.get(name, -1) for name in rows.names], dtype=np.int64)
    row_codes = to_reference[rows.codes]
    span = int(max(rows.frames.max(initial=0), reference.frames.max(initial=0))) + 1
    row_keys = row_codes * span + rows.frames
    reference_keys = reference.codes * span + reference.frames
    missing = np.flatnonzero(~np.isin(reference_keys, row_keys))
    if len(missing):
        videos, first = np.unique(reference.codes[missing], return_index=True)
        per_video = np.bincount(reference.codes[missing], minlength=len(reference.names))
        totals = np.bincount(reference.codes, minlength=len(reference.names))
        for code, k in zip(videos, first, strict=True):
            name, row = reference.names[code], missing[k]
            of = "the sample's" if reference.lines is not None else "its"
            problems.add(
                f"video '{name}': no row for {per_video[code]} of {of} {totals[code]} images, "
                f"first {image_location(name, int(reference.frames[row]))}{reference.where(row)}",
                path=source,
            )
    extra = np.flatnonzero(~np.isin(row_keys, reference_keys))
    unknown = extra[row_codes[extra] < 0]
    beyond = extra[row_codes[extra] >= 0]
    for rows_of_kind, describe in (
        (unknown, _describe_unknown(reference)),
        (beyond, _describe_beyond(reference)),
    ):
        if not len(rows_of_kind):
            continue
        by_line = rows_of_kind[np.argsort(rows.lines[rows_of_kind], kind="stable")]
        codes, first, counts = np.unique(rows.codes[by_line], return_index=True, return_counts=True)
        for code, k, count in zip(codes, first, counts, strict=True):
            row = int(by_line[k])
            problems.add(describe(rows, row, int(code), int(count)), path=source, line=int(rows.lines[row]))
    if reference.lines is not None and not len(missing) and not len(extra) and not len(rows.duplicates):
        # Same rows as the sample: now they must also come in its order.
        differ = np.flatnonzero(row_keys != reference_keys)
        if len(differ):
            row = differ[0]
            at = reference.codes[row], reference.frames[row]
            problems.add(
                f"rows are not in the sample file's order: '{rows.locations[row]}' where the sample has "
                f"'{image_location(reference.names[at[0]], int(at[1]))}' (line {int(reference.lines[row])}); "
                f"{len(differ)} rows are out of place",
                path=source,
                line=int(rows.lines[row]),
            )


def _describe_unknown(reference: _Reference) -> Callable[[SingleFileRows, int, int, int], str]:
    what = "a video the sample file does not list" if reference.lines is not None else "not a test video"

    def describe(rows: SingleFileRows, row: int, code: int, count: int) -> str:
        return f"{count} row(s) for '{rows.names[code]}', {what}"

    return describe


def _describe_beyond(reference: _Reference) -> Callable[[SingleFileRows, int, int, int], str]:
    totals = np.bincount(reference.codes, minlength=len(reference.names))
    index = {name: k for k, name in enumerate(reference.names)}

    def describe(rows: SingleFileRows, row: int, code: int, count: int) -> str:
        more = f" ({count} such rows for this video)" if count > 1 else ""
        if reference.lines is not None:
            return f"'{rows.locations[row]}' is not in the sample file{more}"
        frames = totals[index[rows.names[code]]]
        return f"'{rows.locations[row]}' is past the video's {frames} frames{more}"

    return describe
