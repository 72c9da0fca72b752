"""Atomic outputs: everything the toolkit writes goes to a temporary name first.

A crash or a Ctrl-C therefore never leaves a half-written file under the
final name, and an existing output is only replaced when the caller passes
``force=True`` (the command line's ``--force``).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from abaw.errors import OutputError, OutputExistsError


def refuse_overwrite(path: Path, force: bool) -> None:
    """Raise :class:`OutputExistsError` if ``path`` exists and ``force`` is false."""
    if path.exists() and not force:
        raise OutputExistsError("already exists; pass --force to replace it", path=path)


def check_output_path(path: str | os.PathLike, folder: bool = False) -> None:
    """Raise :class:`OutputError` when ``path`` cannot become a file (or, with ``folder``, a folder).

    Called before any work, so that a wrong ``--out`` or ``--json`` costs
    nothing: a folder where a file goes, a file where a folder goes, or a
    file among the folders above it.

    Example:
        >>> import tempfile, pathlib
        >>> taken = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
        >>> _ = taken.write_text("x")
        >>> check_output_path(taken / "b.json")
        Traceback (most recent call last):
        ...
        abaw.errors.OutputError: .../a.txt/b.json: cannot be created: .../a.txt is a file, not a folder
    """
    path = Path(path)
    if folder and path.exists() and not path.is_dir():
        raise OutputError("is a file, not a folder: give a folder to write into", path=path)
    if not folder and path.is_dir():
        raise OutputError("is a folder: give a file name", path=path)
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputError(f"cannot be created: {parent} is a file, not a folder", path=path)
            return


_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
_CANNOT_CREATE = _DISK_FULL | {errno.EROFS, errno.EACCES, errno.EPERM}


@contextlib.contextmanager
def _failures_named(path: Path, errnos: frozenset[int] = _CANNOT_CREATE) -> Iterator[None]:
    """Turn a failed write (disk full, read-only, no permission) into one :class:`OutputError` naming ``path``.

    A real ``ENOSPC`` names no file, and the temporary file is not the name the user gave.
    """
    try:
        yield
    except OSError as error:
        if error.errno not in errnos:
            raise
        raise OutputError(f"cannot be written: {error.strerror or error}", path=path) from None


@contextlib.contextmanager
def atomic_output_file(path: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    Example:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
        >>> with atomic_output_file(out) as tmp:
        ...     _ = tmp.write_text("hello")
        >>> out.read_text()
        'hello'
    """
    path = Path(path)
    check_output_path(path)
    refuse_overwrite(path, force)
    with _failures_named(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        # Only a full disk is the output's fault here: the caller may also read inputs.
        with _failures_named(path, _DISK_FULL):
            yield tmp
        with _failures_named(path):
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, force: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    path = Path(path)
    with atomic_output_file(path, force=force) as tmp:
        tmp.write_bytes(data)
    return path


def atomic_write_text(path: str | os.PathLike, text: str, force: bool = False) -> Path:
    """Write ``text`` (UTF-8, ``\\n`` line ends) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"), force=force)


def atomic_write_json(path: str | os.PathLike, obj: Any, force: bool = False) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n", force=force)


@contextlib.contextmanager
def atomic_output_dir(path: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``; move it onto ``path`` on success.

    With ``force`` an existing ``path`` is replaced, but only once the new
    folder is complete: until then the old one stays untouched.
    """
    path = Path(path)
    check_output_path(path, folder=True)
    refuse_overwrite(path, force)
    with _failures_named(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        with _failures_named(path, _DISK_FULL):
            yield tmp
        with _failures_named(path):
            move_dir_onto(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def move_dir_onto(source: Path, target: Path) -> None:
    """Move the finished folder ``source`` onto ``target``, replacing it.

    The old ``target`` is moved aside before the new one takes its name and
    deleted only after, so at no moment is there no complete folder.
    """
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
        os.replace(target, old / "previous")
        os.replace(source, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(source, target)
