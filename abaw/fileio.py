"""Atomic outputs: everything the toolkit writes goes to a temporary name first.

A crash or a Ctrl-C therefore never leaves a half-written file under the
final name, and an existing output is only replaced when the caller passes
``force=True`` (the command line's ``--force``). Output folders follow the
policy of :mod:`abaw.outputs`. Files and folders get the mode of the user's
umask, not the private one of :mod:`tempfile`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from abaw.errors import OutputExistsError


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
    refuse_overwrite(path, force)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        tmp.chmod(umask_mode(directory=False))
        yield tmp
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
