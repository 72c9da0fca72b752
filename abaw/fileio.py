"""Atomic outputs: everything the toolkit writes goes to a temporary name first.

A crash or a Ctrl-C therefore never leaves a half-written file under the
final name, and an existing output is only replaced when the caller passes
``force=True`` (the command line's ``--force``).
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


@contextlib.contextmanager
def atomic_output_dir(path: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``; move it onto ``path`` on success.

    With ``force`` an existing ``path`` is replaced, but only once the new
    folder is complete: until then the old one stays untouched.
    """
    path = Path(path)
    refuse_overwrite(path, force)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
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
