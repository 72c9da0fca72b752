"""Finding the files of a submission (a folder, a ``.zip``, or one file), safely and with bounded reads.

Decisions:

* Files that cannot be predictions (other extensions, deeper folders) are
  listed as ignored; dotfiles and ``__MACOSX/`` are skipped silently.
  Prediction files must all sit in one folder: the root, or a single
  top-level folder (as unzipping often yields).
* Reads are bounded: a file larger than any prediction file can need (more
  than every frame of the dataset, a few dozen bytes each), or a submission
  whose files add up to more, is refused before it is read, so a zip bomb
  costs nothing; :mod:`abaw.formats.check`, which knows each video's frame
  count, holds each file to its own video (:class:`ReadLimit`). Formats are
  told from a file's first 4 KiB. Archive member names with backslashes are
  refused, as unzipping on Linux gives one file named ``a\\b.txt``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import stat
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from abaw.data.frames import image_location
from abaw.errors import PredictionError
from abaw.formats.types import PREDICTION_SUFFIXES


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
def open_submission(path: str | os.PathLike, shown_as: str | os.PathLike | None = None) -> Iterator[SubmissionFiles]:
    """List the files of a submission: a folder, a ``.zip``, or one file.

    Archive members are checked for safety (no absolute paths, no ``..``, only
    regular files, no encryption); offending members go to ``errors`` rather
    than raising, so that a checker can list them all.

    Args:
        path: The submission.
        shown_as: How messages name it, when not by ``path`` (e.g. a zip
            checked in a staging folder before it is moved to where the user
            will find it).

    Raises:
        PredictionError: if ``path`` does not exist or is not a readable zip.
    """
    path = Path(path)
    shown = str(shown_as if shown_as is not None else path)
    if path.is_dir():
        listing = SubmissionFiles(source=shown, archive=False)
        _sort_entries(listing, _walk_folder(path, Path(shown)))
        yield listing
    elif path.is_file() and path.suffix.lower() == ".zip":
        try:
            archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as error:
            raise PredictionError(f"not a readable zip archive ({error})", path=path) from None
        with archive:
            listing = SubmissionFiles(source=shown, archive=True)
            _sort_entries(listing, _walk_archive(archive, listing))
            yield listing
    elif path.is_file():
        listing = SubmissionFiles(source=shown, archive=False)
        listing.files.append(replace(SubmissionFile.from_path(path), source=shown))
        yield listing
    else:
        raise PredictionError("does not exist", path=path)


_Entry = tuple[str, str, "_Opener | None"]  # name, source, opener (None: not a regular file)


@dataclass(frozen=True)
class _Opener:
    """How to open a listed file, and its unpacked size, without reading it."""

    size: int
    open: Callable[[], BinaryIO]


def _walk_folder(root: Path, shown: Path) -> list[_Entry]:
    """Files of ``root`` and of its direct subfolders (deeper ones are listed as folders), named under ``shown``."""
    entries: list[_Entry] = []
    for top in sorted(os.scandir(root), key=lambda e: e.name):
        if top.is_dir():
            entries.append((top.name + "/", str(shown / top.name), None))
            for sub in sorted(os.scandir(top.path), key=lambda e: e.name):
                name = f"{top.name}/{sub.name}"
                entries.append(
                    (name + "/", str(shown / name), None) if sub.is_dir() else _folder_entry(name, sub, shown)
                )
        else:
            entries.append(_folder_entry(top.name, top, shown))
    return entries


def _folder_entry(name: str, entry: os.DirEntry, shown: Path) -> _Entry:
    if not entry.is_file():
        return (name, str(shown / name), None)
    return (name, str(shown / name), _Opener(entry.stat().st_size, functools.partial(open, entry.path, "rb")))


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


__all__ = [
    "ANY_PREDICTION_FILE",
    "HEADER_BYTES",
    "MAX_TOTAL_BYTES",
    "ReadLimit",
    "SubmissionFile",
    "SubmissionFiles",
    "open_submission",
]
