"""Content keys of the dataset's files: what the caches are keyed on instead of modification times.

A copy (``cp -r``, a download, a restore from a backup) gives every file a
new modification time but keeps its bytes, so the caches derived from the
data are keyed on content: a large file (a video) on its size and a digest
of three small parts of it (start, middle, end), a small one (an annotation
file, a face crop) on a digest of all its bytes. A file replaced by one of
another size, or edited where the digest reads, makes its key differ.

Within one process a large file's key is remembered for as long as its
size, modification time and inode stay the same, so a command that checks
the same video twice reads it once (small files, millions of face crops,
are read again rather than held in memory).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PART_BYTES = 64 * 1024
"""Bytes read at each of the three places of a large file; a file up to three times this is read whole."""

_remembered: dict[tuple[str, int, int, int, bool], FileKey] = {}


@dataclass(frozen=True)
class FileKey:
    """What a cache remembers of a file: its size and a digest of its content.

    Attributes:
        size: Bytes.
        digest: BLAKE2b of the whole file (up to ``3 * PART_BYTES``), else of its start, middle and end.

    Example:
        >>> FileKey(10, "ab").change_from(FileKey(12, "cd"))
        'its size changed (12 -> 10 bytes)'
        >>> FileKey(10, "ab").change_from(FileKey(10, "cd"))
        'its content changed (same size)'
    """

    size: int
    digest: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, as the caches store it."""
        return {"size": self.size, "digest": self.digest}

    @classmethod
    def from_dict(cls, values: object) -> FileKey | None:
        """The key stored by :meth:`to_dict`, or ``None`` for anything else (a cache of an older format)."""
        if not isinstance(values, dict) or not isinstance(values.get("size"), int):
            return None
        return cls(values["size"], str(values.get("digest")))

    def change_from(self, before: FileKey | None) -> str:
        """What changed since ``before``, in a few words for a staleness message."""
        if before is None:
            return "it was cached by an older abaw (without a content key)"
        if before.size != self.size:
            return f"its size changed ({before.size} -> {self.size} bytes)"
        return "its content changed (same size)"


def file_key(path: str | os.PathLike, whole: bool = False) -> FileKey | None:
    """The :class:`FileKey` of ``path`` now, ``None`` when it cannot be read.

    Args:
        path: The file.
        whole: Digest every byte whatever the size (a label file, where one
            changed value anywhere matters), not three parts of a large file.

    Example:
        >>> import tempfile, pathlib
        >>> a = pathlib.Path(tempfile.mkdtemp()) / "a.bin"
        >>> _ = a.write_bytes(b"x" * 10)
        >>> key = file_key(a)
        >>> key.size, key == file_key(a)
        (10, True)
    """
    try:
        info = os.stat(path)
    except OSError:
        return None
    remembered = (str(path), info.st_size, info.st_mtime_ns, info.st_ino, whole)
    if remembered in _remembered:
        return _remembered[remembered]
    digest = hashlib.blake2b(digest_size=16)
    try:
        with open(path, "rb") as handle:
            if whole or info.st_size <= 3 * PART_BYTES:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            else:
                for offset in (0, (info.st_size - PART_BYTES) // 2, info.st_size - PART_BYTES):
                    handle.seek(offset)
                    digest.update(handle.read(PART_BYTES))
    except OSError:
        return None
    key = FileKey(info.st_size, digest.hexdigest())
    if info.st_size > 3 * PART_BYTES:
        _remembered[remembered] = key
    return key


def files_digest(paths: Iterable[str | os.PathLike], names: Iterable[str] | None = None) -> str:
    """One digest of several files' names and content keys (a missing file counts as missing).

    Args:
        paths: The files, in a fixed order.
        names: What to call each file in the digest (default its name), so
            that the same files in another folder give the same digest.
    """
    paths = [Path(path) for path in paths]
    labels = [path.name for path in paths] if names is None else list(names)
    digest = hashlib.blake2b(digest_size=16)
    for label, path in zip(labels, paths, strict=True):
        key = file_key(path)
        digest.update(f"{label} {None if key is None else (key.size, key.digest)}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def text_digest(text: str) -> str:
    """A short digest of ``text`` (a listing, a record), for keys stored beside a cache.

    Example:
        >>> text_digest("a") == text_digest("a") != text_digest("b")
        True
    """
    return hashlib.blake2b(text.encode("utf-8", "surrogateescape"), digest_size=16).hexdigest()
