"""Reading prediction files in either submission format, and scoring them.

Two formats exist (see ``ABAW-FORMATS.md``):

* per-video (2020-2022): a folder of ``<name>.txt`` files, header
  ``valence,arousal``, line ``i`` after the header is frame ``i`` (1-based);
* single-file (2023 on): one file, header ``image_location,valence,arousal``,
  rows ``<name>/00001.jpg,v,a`` in any order.

Either may come as a folder, a file, or a ``.zip`` of them. This module holds
the one parser for both formats: :func:`read_predictions` raises at the first
problem, while :mod:`abaw.submission.check` drives the same building blocks
(:func:`open_submission`, :func:`detect_format`, :func:`parse_per_video_text`,
:func:`parse_single_file_rows`) to collect every problem of a submission.

Decisions:

* Files that cannot be predictions (other extensions, deeper folders) are
  ignored and listed in :attr:`PredictionSet.notes`; dotfiles and
  ``__MACOSX/`` are skipped silently. Prediction files must all sit in one
  folder: the root, or a single top-level folder (as unzipping often yields).
* Predictions for videos that have no labels are not an error: scoring a
  split with predictions for more videos than it holds is common. They are
  ignored and named in a note.
* Values outside [-1, 1] are read as they are; scoring clips them and says
  so in a note, the submission checker reports them.
* Reads are bounded: a file larger than any prediction file can need (more
  than every frame of the dataset, a few dozen bytes each), or a submission
  whose files add up to more, is refused before it is read, so a zip bomb
  costs nothing; :mod:`abaw.submission.check`, which knows each video's
  frame count, holds each file to its own video. Formats are told from a
  file's first 4 KiB. Archive member names with backslashes are refused,
  as unzipping on Linux gives one file named ``a\\b.txt``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import stat
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import numpy as np
import pandas as pd

from abaw.data.annotations import valid_rows
from abaw.data.frames import image_location
from abaw.errors import DataError, PredictionError
from abaw.messages import quoted, some
from abaw.progress import ProgressFn, no_progress
from abaw.scoring.metrics import AffectScores, score_frames
from abaw.tables import Table, parse_table, split_lines

PER_VIDEO_HEADER = ("valence", "arousal")
SINGLE_FILE_HEADER = ("image_location", "valence", "arousal")
# RE2 and Python's re agree on this pattern; [0-9] rather than \d so that
# non-ASCII digits are refused whichever string backend pandas uses.
IMAGE_LOCATION_PATTERN = r"[^/\\]+/[0-9]{5}\.jpg"
IMAGE_LOCATION_FORM = "<video>/<5-digit frame>.jpg"
PREDICTION_SUFFIXES = (".txt", ".csv")


class SubmissionFormat(str, Enum):
    """The two layouts of a challenge submission."""

    PER_VIDEO = "per-video"
    SINGLE_FILE = "single-file"


@dataclass
class VideoPrediction:
    """Predicted valence and arousal for some frames of one video.

    Attributes:
        frames: ``int64`` 1-based frame numbers, strictly increasing.
        values: ``float64`` array ``(len(frames), 2)``: valence, arousal.
        source: Where the values were read from, for messages.

    Raises:
        ValueError: when the arrays break the rules above.

    Example:
        >>> p = VideoPrediction([1, 2, 5], [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]])
        >>> p.frames.tolist(), len(p)
        ([1, 2, 5], 3)
    """

    frames: np.ndarray
    values: np.ndarray
    source: str = ""

    def __post_init__(self) -> None:
        frames = np.asarray(self.frames)
        if frames.size == 0:
            frames = frames.astype(np.int64)
        if frames.ndim != 1 or frames.dtype.kind not in "iu":
            raise ValueError(f"frames must be a 1-D integer array, got {frames.dtype} of shape {frames.shape}")
        values = np.asarray(self.values, dtype=np.float64)
        if values.size == 0:
            values = values.reshape(0, 2)
        if values.shape != (len(frames), 2):
            raise ValueError(f"values must have shape ({len(frames)}, 2), got {values.shape}")
        self.frames = frames.astype(np.int64, copy=False)
        self.values = values
        if len(frames) and (self.frames[0] < 1 or (np.diff(self.frames) <= 0).any()):
            raise ValueError("frames must be 1-based and strictly increasing")

    @classmethod
    def consecutive(cls, values: np.ndarray, source: str = "") -> VideoPrediction:
        """Predictions for frames ``1..len(values)``, as a per-video file holds them.

        Example:
            >>> VideoPrediction.consecutive([[0.0, 0.1], [0.2, 0.3]]).frames.tolist()
            [1, 2]
        """
        values = np.asarray(values, dtype=np.float64)
        return cls(np.arange(1, len(values) + 1, dtype=np.int64), values, source)

    def __len__(self) -> int:
        return len(self.frames)


@dataclass
class PredictionSet:
    """Everything read from one submission.

    Attributes:
        format: Which layout it had.
        source: The folder, file or archive read.
        videos: Predictions by video name (suffix kept), in sorted name order.
        notes: Things the reader skipped or noticed, one line each.
    """

    format: SubmissionFormat
    source: str
    videos: dict[str, VideoPrediction]
    notes: list[str] = field(default_factory=list)

    @property
    def lines(self) -> int:
        """Prediction lines (rows) read, over all videos."""
        return sum(len(video) for video in self.videos.values())


# --------------------------------------------------------------------------
# Finding the files of a submission (folder, zip or single file)


@dataclass
class SubmissionFile:
    """A candidate prediction file inside a submission.

    Attributes:
        name: Its path relative to the submission root, ``/``-separated.
        source: How messages name it (``dir/x.txt`` or ``sub.zip:x.txt``).
    """

    name: str
    source: str
    size: int
    _open: Callable[[], BinaryIO] = field(repr=False)
    _text: str | None = field(default=None, repr=False)

    @classmethod
    def from_path(cls, path: str | os.PathLike) -> SubmissionFile:
        """A file on disk, named by its file name."""
        path = Path(path)
        return cls(path.name, str(path), path.stat().st_size, functools.partial(path.open, "rb"))

    @property
    def stem(self) -> str:
        """The file name without folder and extension: the video name of a per-video file."""
        return PurePosixPath(self.name).stem

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.name).suffix.lower()

    def text(self, limit: ReadLimit | None = None) -> str:
        """The file's text (read once), refused unread when larger than ``limit`` allows.

        Args:
            limit: The most bytes a file of this kind can need (default:
                :data:`ANY_PREDICTION_FILE`).

        Raises:
            PredictionError: if it is too large, cannot be read or is not UTF-8.
        """
        if self._text is None:
            limit = limit or ANY_PREDICTION_FILE
            if self.size > limit.bytes:
                raise limit.error(self.size, self.source)
            data = self._read_bytes(limit.bytes + 1)
            if len(data) > limit.bytes:  # grew since it was listed
                raise limit.error(len(data), self.source)
            self._text = _decode(data, self.source)
        return self._text

    def first_line(self) -> str:
        """The header line, without a byte-order mark or surrounding blanks (only its first bytes are read)."""
        if self._text is not None:
            head = self._text[:HEADER_BYTES]
        else:
            raw = self._read_bytes(HEADER_BYTES)
            head = _decode(raw[: raw.find(b"\n")] if b"\n" in raw else raw, self.source)
        newline = head.find("\n")
        return head[: newline if newline >= 0 else len(head)].lstrip("\ufeff").strip()

    def _read_bytes(self, count: int) -> bytes:
        """At most ``count`` bytes from the start."""
        try:
            with self._open() as stream:
                # read(n) allocates n bytes at once: ask for the listed size (and one byte more, to see growth).
                parts = [stream.read(min(count, self.size + 1))]
                done = len(parts[0])
                while self.size < done < count:  # grew since it was listed
                    part = stream.read(min(count - done, 1 << 20))
                    if not part:
                        break
                    parts.append(part)
                    done += len(part)
                return b"".join(parts)
        except (OSError, zipfile.BadZipFile, zlib.error, NotImplementedError, EOFError) as error:
            raise PredictionError(f"cannot be read ({error})", path=self.source) from None


def _decode(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise PredictionError(f"not UTF-8 text ({error.reason})", path=source) from None


HEADER_BYTES = 4096
"""Bytes read to tell a file's format from its header."""

BYTES_PER_VALUES = 64
"""Most bytes one row's two values can need: two full-precision floats and ``\\r\\n`` take 45."""

MAX_FRAMES = 4_000_000
"""More frames than the whole of Aff-Wild2 (about 3 million): the most rows any prediction file can need."""


@dataclass(frozen=True)
class ReadLimit:
    """The most bytes a prediction file can need, and for what, for the message when it is larger.

    Example:
        >>> ReadLimit.for_frames(10).bytes
        4736
        >>> print(ReadLimit.for_frames(10).error(10**9, "v.txt"))
        v.txt: 1,000,000,000 bytes unpacked, more than the 4,736 a prediction file of 10 frames can need; not read
    """

    bytes: int
    purpose: str

    @classmethod
    def for_frames(cls, frames: int) -> ReadLimit:
        """A per-video file of ``frames`` rows."""
        return cls(HEADER_BYTES + frames * BYTES_PER_VALUES, f"a prediction file of {frames:,} frames")

    @classmethod
    def for_single_file(cls, frames: Mapping[str, int]) -> ReadLimit:
        """A single file of rows ``<name>/00001.jpg,v,a`` for ``frames[name]`` frames of each video."""
        total = sum(frames.values())
        size = HEADER_BYTES + sum(
            count * (BYTES_PER_VALUES + len(image_location(name, 1).encode("utf-8"))) for name, count in frames.items()
        )
        return cls(size, f"a single file of {total:,} frames")

    def error(self, size: int, source: str) -> PredictionError:
        return PredictionError(
            f"{size:,} bytes unpacked, more than the {self.bytes:,} {self.purpose} can need; not read", path=source
        )


ANY_PREDICTION_FILE = ReadLimit(HEADER_BYTES + MAX_FRAMES * (BYTES_PER_VALUES + 32), "any prediction file")
"""The cap where the frame count is not known: every frame of the dataset, with 32-byte image locations."""


@dataclass
class SubmissionFiles:
    """What a submission holds, before any file is parsed.

    Attributes:
        source: The path given.
        archive: Whether it is a zip archive.
        files: Candidate prediction files (``.txt``/``.csv``) of the one folder used.
        folder: That folder relative to the root (``""`` for the root itself).
        ignored: ``(name, reason)`` for entries that cannot be predictions.
        hidden: Dotfiles and ``__MACOSX/`` entries, skipped.
        errors: Problems that make the submission unreadable (unsafe archive
            members, prediction files in several folders).
    """

    source: str
    archive: bool
    files: list[SubmissionFile] = field(default_factory=list)
    folder: str = ""
    ignored: list[tuple[str, str]] = field(default_factory=list)
    hidden: list[str] = field(default_factory=list)
    errors: list[PredictionError] = field(default_factory=list)


@contextlib.contextmanager
def open_submission(path: str | os.PathLike) -> Iterator[SubmissionFiles]:
    """List the files of a submission: a folder, a ``.zip``, or one file.

    Archive members are checked for safety (no absolute paths, no ``..``, only
    regular files, no encryption); offending members go to ``errors`` rather
    than raising, so that a checker can list them all.

    Raises:
        PredictionError: if ``path`` does not exist or is not a readable zip.
    """
    path = Path(path)
    if path.is_dir():
        listing = SubmissionFiles(source=str(path), archive=False)
        _sort_entries(listing, _walk_folder(path))
        yield listing
    elif path.is_file() and path.suffix.lower() == ".zip":
        try:
            archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as error:
            raise PredictionError(f"not a readable zip archive ({error})", path=path) from None
        with archive:
            listing = SubmissionFiles(source=str(path), archive=True)
            _sort_entries(listing, _walk_archive(archive, listing))
            yield listing
    elif path.is_file():
        listing = SubmissionFiles(source=str(path), archive=False)
        listing.files.append(SubmissionFile.from_path(path))
        yield listing
    else:
        raise PredictionError("does not exist", path=path)


_Entry = tuple[str, str, "_Opener | None"]  # name, source, opener (None: not a regular file)


@dataclass(frozen=True)
class _Opener:
    """How to open a listed file, and its unpacked size, without reading it."""

    size: int
    open: Callable[[], BinaryIO]


def _walk_folder(root: Path) -> list[_Entry]:
    """Files of ``root`` and of its direct subfolders (deeper ones are listed as folders)."""
    entries: list[_Entry] = []
    for top in sorted(os.scandir(root), key=lambda e: e.name):
        if top.is_dir():
            entries.append((top.name + "/", top.path, None))
            for sub in sorted(os.scandir(top.path), key=lambda e: e.name):
                name = f"{top.name}/{sub.name}"
                entries.append((name + "/", sub.path, None) if sub.is_dir() else _folder_entry(name, sub))
        else:
            entries.append(_folder_entry(top.name, top))
    return entries


def _folder_entry(name: str, entry: os.DirEntry) -> _Entry:
    if not entry.is_file():
        return (name, entry.path, None)
    return (name, entry.path, _Opener(entry.stat().st_size, functools.partial(open, entry.path, "rb")))


def _walk_archive(archive: zipfile.ZipFile, listing: SubmissionFiles) -> list[_Entry]:
    entries: list[_Entry] = []
    for info in archive.infolist():
        source = f"{listing.source}:{info.filename}"
        problem = _unsafe_member(info)
        if problem:
            listing.errors.append(PredictionError(problem, path=source))
            continue
        if "\\" in info.filename:
            # Unzipped on Linux, 'a\b.txt' is one file of that name, not b.txt in a folder a.
            message = "backslash in the member name: zip it with a tool that writes '/' separators"
            listing.errors.append(PredictionError(message, path=source))
            continue
        name = info.filename
        if info.is_dir():
            entries.append((name, source, None))
        else:
            entries.append((name, source, _Opener(info.file_size, functools.partial(archive.open, info))))
    return entries


def _unsafe_member(info: zipfile.ZipInfo) -> str | None:
    """Why an archive member must not be read, or ``None``."""
    name = info.filename.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "absolute path in the archive"
    if ".." in name.split("/"):
        return "'..' in an archive path"
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if kind == stat.S_IFLNK:
        return "symbolic link in the archive"
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        return "not a regular file"
    if info.flag_bits & 0x1:
        return "encrypted archive member"
    return None


def _sort_entries(listing: SubmissionFiles, entries: list[_Entry]) -> None:
    """Split entries into candidates, ignored and hidden, and choose the one folder used."""
    candidates: dict[str, list[tuple[str, str, _Opener]]] = {}
    others: list[tuple[str, str]] = []
    for name, source, opener in entries:
        parts = [part for part in name.split("/") if part]
        if not parts:
            continue
        if parts[0] == "__MACOSX" or any(part.startswith(".") for part in parts):
            listing.hidden.append(name)
            continue
        if opener is None:
            if len(parts) > 1 or not name.endswith("/"):
                others.append((name, "a folder" if name.endswith("/") else "not a regular file"))
            continue
        suffix = PurePosixPath(parts[-1]).suffix.lower()
        if suffix in PREDICTION_SUFFIXES and len(parts) <= 2:
            folder = parts[0] + "/" if len(parts) == 2 else ""
            candidates.setdefault(folder, []).append((name, source, opener))
        elif suffix == ".zip":
            others.append((name, "a zip archive inside the submission"))
        elif suffix in PREDICTION_SUFFIXES:
            others.append((name, "more than one folder deep"))
        else:
            others.append((name, f"not a prediction file ({suffix or 'no extension'})"))
    if "" in candidates:
        chosen = ""
    elif len(candidates) == 1:
        chosen = next(iter(candidates))
    elif candidates:
        folders = ", ".join(sorted(candidates))
        message = f"prediction files in several folders ({folders}); keep one"
        listing.errors.append(PredictionError(message, path=listing.source))
        chosen = None
    else:
        chosen = None
    for folder, files in sorted(candidates.items()):
        for name, source, opener in files:
            if folder == chosen:
                listing.files.append(SubmissionFile(name, source, opener.size, opener.open))
            elif chosen is not None:
                others.append((name, f"outside the folder holding the predictions ('{chosen or '.'}')"))
    listing.folder = chosen or ""
    listing.files.sort(key=lambda f: f.name)
    listing.ignored.extend(sorted(others))
    total = sum(file.size for file in listing.files)
    if len(listing.files) > 1 and total > MAX_TOTAL_BYTES:  # one file gets its own message when read
        listing.errors.append(
            PredictionError(
                f"its {len(listing.files)} prediction files unpack to {total:,} bytes, more than the "
                f"{MAX_TOTAL_BYTES:,} a submission for every frame of the dataset can need; not read",
                path=listing.source,
            )
        )
        listing.files.clear()


MAX_TOTAL_BYTES = ANY_PREDICTION_FILE.bytes
"""The most bytes read from one submission: per-video files of every frame take no more than one single file."""


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

    The value columns may hold any non-empty text.

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
        table = parse_table(text, source, SINGLE_FILE_HEADER, key_columns=3, error=PredictionError)
    rows = parse_single_file_rows(table.keys[0], np.zeros((len(table), 0)))
    rows.raise_first_problem(source)
    if not len(table):
        raise PredictionError("no rows after the header", path=source, line=1)
    return rows


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


# --------------------------------------------------------------------------
# Aligning with labels and scoring


@dataclass
class AlignedFrames:
    """Predictions and labels of the same frames, all videos concatenated.

    Unpacks like a tuple: ``predictions, labels, slices = align_predictions(...)``.

    Attributes:
        predictions: ``(n, 2)`` ``float64`` predicted values.
        labels: ``(n, 2)`` ``float64`` labels, -5 where not annotated.
        slices: Rows of each video, in sorted name order.
        notes: What was left out and why.
    """

    predictions: np.ndarray
    labels: np.ndarray
    slices: dict[str, slice]
    notes: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator:
        return iter((self.predictions, self.labels, self.slices))


def align_predictions(
    predictions: PredictionSet,
    labels: Mapping[str, np.ndarray],
    line_counts: Mapping[str, int] | None = None,
) -> AlignedFrames:
    """Pair each labelled frame with its prediction, videos in sorted name order.

    Per-video predictions must have one line per label row, or one per
    decoded video frame (``line_counts[name]``, which in Aff-Wild2 is often
    one less than the label rows: the label rows past the last frame are then
    left out and counted in a note). Single-file predictions must cover every
    annotated frame; frames that have no prediction and no annotation are
    left out, and so are, when ``line_counts`` is given, annotated label rows
    past the video's last frame.

    Args:
        predictions: What :func:`read_predictions` returned.
        labels: Label arrays ``(rows, 2)`` by video name, -5 where not annotated.
        line_counts: Decoded frame count by video name, where known.

    Raises:
        PredictionError: naming the videos without predictions, the per-video
            file with the wrong number of lines, or the first annotated image
            a single file has no row for.
        DataError: if ``labels`` is empty.

    Example:
        >>> preds = PredictionSet(SubmissionFormat.PER_VIDEO, "p", {"v": VideoPrediction.consecutive([[0.1, 0.2]] * 2)})
        >>> pred, true, slices = align_predictions(preds, {"v": np.array([[0.1, 0.2], [0.3, 0.4], [-5, -5]])}, {"v": 2})
        >>> pred.shape, slices["v"]
        ((2, 2), slice(0, 2, None))
    """
    if not labels:
        raise DataError("no labelled videos to score")
    names = sorted(labels)
    missing = [name for name in names if name not in predictions.videos]
    if missing:
        raise PredictionError(
            f"no predictions for {len(missing)} of the {len(names)} labelled videos: {some(missing)}",
            path=predictions.source,
        )
    counts = line_counts or {}
    single = predictions.format is SubmissionFormat.SINGLE_FILE
    pred_parts, label_parts, slices = [], [], {}
    cut = _Cut()
    offset = 0
    for name in names:
        truth = np.asarray(labels[name], dtype=np.float64)
        if truth.ndim != 2 or truth.shape[1] != 2:
            raise ValueError(f"labels of '{name}' must have shape (rows, 2), got {truth.shape}")
        video = predictions.videos[name]
        align = _align_single if single else _align_per_video
        pred, truth = align(name, video, truth, counts.get(name), cut)
        pred_parts.append(pred)
        label_parts.append(truth)
        slices[name] = slice(offset, offset + len(pred))
        offset += len(pred)
    notes = cut.notes()
    extra = sorted(set(predictions.videos) - set(labels))
    if extra:
        notes.append(f"ignored predictions for {len(extra)} video(s) without labels: {some(extra)}")
    return AlignedFrames(np.concatenate(pred_parts), np.concatenate(label_parts), slices, notes)


@dataclass
class _Cut:
    """Tallies of label rows and predictions left out, for one summary note each."""

    short_videos: int = 0
    short_rows: int = 0
    short_annotated: int = 0
    beyond_videos: int = 0
    beyond_rows: int = 0

    def notes(self) -> list[str]:
        notes = []
        if self.short_videos:
            notes.append(
                f"{self.short_videos} video(s) have predictions for fewer frames than label rows; "
                f"{self.short_rows} label row(s) past their last frame "
                f"({self.short_annotated} annotated) are not scored"
            )
        if self.beyond_videos:
            notes.append(
                f"ignored {self.beyond_rows} prediction(s) past the last label row in {self.beyond_videos} video(s)"
            )
        return notes


def _align_per_video(
    name: str, video: VideoPrediction, truth: np.ndarray, frame_count: int | None, cut: _Cut
) -> tuple[np.ndarray, np.ndarray]:
    lines, rows = len(video), len(truth)
    if lines != rows and lines != frame_count:
        expected = f"{rows}" if frame_count in (None, rows) else f"{rows} or {frame_count}"
        raise PredictionError(
            f"{lines} prediction lines, expected {expected} (one per video frame)",
            path=video.source or f"{name}.txt",
        )
    used = min(lines, rows)
    if used < rows:
        cut.short_videos += 1
        cut.short_rows += rows - used
        cut.short_annotated += int(valid_rows(truth[used:]).sum())
    elif lines > rows:
        cut.beyond_videos += 1
        cut.beyond_rows += lines - rows
    return video.values[:used], truth[:used]


def _align_single(
    name: str, video: VideoPrediction, truth: np.ndarray, frame_count: int | None, cut: _Cut
) -> tuple[np.ndarray, np.ndarray]:
    rows = len(truth)
    inside = video.frames <= rows
    index = video.frames[inside] - 1
    have = np.zeros(rows, dtype=bool)
    have[index] = True
    missing = valid_rows(truth) & ~have
    if frame_count is not None and frame_count < rows:
        past = missing.copy()
        past[:frame_count] = False
        if past.any():
            cut.short_videos += 1
            cut.short_rows += int(past.sum())
            cut.short_annotated += int(past.sum())
        missing[frame_count:] = False
    if missing.any():
        first = int(np.argmax(missing)) + 1
        more = int(missing.sum()) - 1
        raise PredictionError(
            f"video '{name}': no prediction for the annotated image {image_location(name, first)}"
            + (f" (and {more} more)" if more else ""),
            path=video.source or None,
        )
    if not inside.all():
        cut.beyond_videos += 1
        cut.beyond_rows += int((~inside).sum())
    return video.values[inside], truth[index]


def _clipped_note(aligned: AlignedFrames) -> str | None:
    """Say how many scored predictions lie outside [-1, 1] (the metric clips them), or ``None``."""
    if not len(aligned.predictions) or -1.0 <= aligned.predictions.min() <= aligned.predictions.max() <= 1.0:
        return None  # the usual case, found with two reductions
    outside = (np.abs(aligned.predictions) > 1.0) & valid_rows(aligned.labels)[:, None]
    if not outside.any():
        return None
    videos = [name for name, rows in aligned.slices.items() if outside[rows].any()]
    largest = np.abs(aligned.predictions[outside]).max()
    return (
        f"{int(outside.sum())} predicted value(s) outside [-1, 1] (largest {largest:g})"
        f" were clipped to [-1, 1] before scoring, in {len(videos)} video(s): {some(videos)}"
    )


@dataclass
class ScoreReport:
    """The result of :func:`score_predictions`.

    Attributes:
        scores: Over all annotated frames of all labelled videos, concatenated.
        per_video: Scores of each video (``None`` unless asked for). Videos
            without any annotated frame are left out (see ``notes``).
        notes: What was left out and why.
        videos: How many labelled videos were scored.
    """

    scores: AffectScores
    per_video: dict[str, AffectScores] | None
    notes: list[str]
    videos: int

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dictionary."""
        result: dict[str, object] = {"videos": self.videos, **self.scores.to_dict(), "notes": list(self.notes)}
        if self.per_video is not None:
            result["per_video"] = {name: scores.to_dict() for name, scores in self.per_video.items()}
        return result


def score_predictions(
    predictions: PredictionSet | str | os.PathLike,
    labels: Mapping[str, np.ndarray],
    line_counts: Mapping[str, int] | None = None,
    per_video: bool = False,
) -> ScoreReport:
    """Score predictions against labels with the challenge metric.

    Args:
        predictions: A :class:`PredictionSet`, or a path to read one from.
        labels: Label arrays ``(rows, 2)`` by video name, -5 where not annotated.
        line_counts: Decoded frame count by video name (see :func:`align_predictions`).
        per_video: Also score each video on its own (for analysis only: the
            challenge score is over all frames concatenated).

    Raises:
        PredictionError: see :func:`read_predictions` and :func:`align_predictions`.
        DataError: if no labelled frame is annotated.

    Example:
        >>> video = VideoPrediction.consecutive([[0.1, 0.2], [0.3, 0.1]])
        >>> preds = PredictionSet(SubmissionFormat.PER_VIDEO, "p", {"v": video})
        >>> score_predictions(preds, {"v": video.values}).scores.ccc_mean
        1.0
    """
    if not isinstance(predictions, PredictionSet):
        predictions = read_predictions(predictions)
    aligned = align_predictions(predictions, labels, line_counts)
    notes = [*predictions.notes, *aligned.notes]
    if not valid_rows(aligned.labels).any():
        raise DataError("no labelled frame is annotated (every label is -5)")
    clipped = _clipped_note(aligned)
    if clipped:
        notes.append(clipped)
    scores = score_frames(aligned.predictions, aligned.labels)
    videos = None
    if per_video:
        videos = {}
        unannotated = []
        for name, rows in aligned.slices.items():
            if valid_rows(aligned.labels[rows]).any():
                videos[name] = score_frames(aligned.predictions[rows], aligned.labels[rows])
            else:
                unannotated.append(name)
        if unannotated:
            notes.append(
                f"{len(unannotated)} video(s) have no annotated frame and no score of their own: {some(unannotated)}"
            )
    return ScoreReport(scores=scores, per_video=videos, notes=notes, videos=len(aligned.slices))


__all__ = [
    "ANY_PREDICTION_FILE",
    "IMAGE_LOCATION_PATTERN",
    "PER_VIDEO_HEADER",
    "SINGLE_FILE_HEADER",
    "AlignedFrames",
    "DetectedFormat",
    "PredictionSet",
    "ReadLimit",
    "ScoreReport",
    "SingleFileRows",
    "SubmissionFile",
    "SubmissionFiles",
    "SubmissionFormat",
    "VideoPrediction",
    "align_predictions",
    "detect_format",
    "open_submission",
    "parse_collecting",
    "parse_per_video_text",
    "parse_single_file_rows",
    "parse_single_file_text",
    "read_predictions",
    "read_sample_file",
    "score_predictions",
]
