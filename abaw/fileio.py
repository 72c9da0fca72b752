"""Atomic outputs: everything the toolkit writes goes to a temporary name first.

A crash or a Ctrl-C therefore never leaves a half-written file under the
final name, and an existing output is only replaced when the caller passes
``force=True`` (the command line's ``--force``). Output folders follow the
policy of :mod:`abaw.outputs`. Files and folders get the mode of the user's
umask, not the private one of :mod:`tempfile`.
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


def umask_mode(directory: bool) -> int:
    """The permissions the user's umask gives a new folder (``directory``) or file.

    ``tempfile`` creates its files 0600 and folders 0700 whatever the umask;
    outputs renamed from them get this mode instead, like any file the user creates.

    Example:
        >>> old = os.umask(0o022)
        >>> oct(umask_mode(directory=True)), oct(umask_mode(directory=False))
        ('0o755', '0o644')
        >>> _ = os.umask(old)
    """
    # The umask can only be read by setting it; set it straight back.
    current = os.umask(0o077)
    os.umask(current)
    return (0o777 if directory else 0o666) & ~current


def make_temp_dir(target: Path, suffix: str) -> Path:
    """A new empty folder beside ``target`` (hidden, unique name) with the mode of the user's umask."""
    target.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent))
    folder.chmod(umask_mode(directory=True))
    return folder


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
        tmp.chmod(umask_mode(directory=False))
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


def move_dir_onto(source: Path, target: Path) -> None:
    """Move the finished folder ``source`` onto ``target``, replacing it.

    The old ``target`` is moved aside before the new one takes its name and
    deleted only after, so at no moment is there no complete folder.
    """
    if target.exists():
        old = make_temp_dir(target, ".old")
        os.replace(target, old / "previous")
        os.replace(source, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(source, target)
