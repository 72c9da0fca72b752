"""Where abaw may write, and what it may replace: one policy for every command.

* An output is never a dataset folder, inside one, or above one (symlinks
  resolved). Only the cache, ``ROOT/.abaw-cache``, lives inside a dataset root.
* Every output folder abaw creates holds a marker, ``.abaw-output.json``
  (a generated dataset: its ``generated.json``), naming what it is. ``--force``
  replaces a folder only when it holds the marker of the same kind; a folder
  without one is never deleted or replaced. An existing empty folder counts
  as absent: the new output takes its place.
* A new output is built in a staging folder beside the target and moved onto
  it only once complete, so a failed or interrupted run leaves the old output
  as it was.
* While a process writes an output it holds an OS lock (``flock``) on
  ``.NAME.lock`` beside it; a second writer gets a one-line error. The OS
  releases the lock when the process ends, however it ends.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import json
import os
import shutil
from collections.abc import Iterable, Iterator, Mapping
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from abaw import __version__
from abaw.errors import AbawError, DataError, OutputError, OutputExistsError
from abaw.fileio import atomic_write_json, make_temp_dir, move_dir_onto

if TYPE_CHECKING:
    from abaw.data.layout import DatasetLayout

try:
    import fcntl
except ImportError:  # Windows: no flock; outputs are then written unlocked.
    fcntl = None  # type: ignore[assignment]

MARKER_NAME = ".abaw-output.json"
DATASET_MANIFEST_NAME = "generated.json"
GENERATOR_NAME = "abaw.data.generate"
"""The ``generator`` field of the manifest of a dataset that ``abaw data generate`` wrote."""


class OutputKind(str, Enum):
    """What an output folder holds (the ``kind`` of its marker)."""

    TRAIN_RUN = "train-run"
    PREDICTIONS = "predictions"
    SUBMISSION = "submission"
    FIGURES = "figures"
    DEMO = "demo"
    TRAIN_STAGES = "train-stages"
    EXPERIMENT = "experiment"
    DATASET = "generated-dataset"


class UnsafeOutputError(AbawError):
    """An output would be written into, onto or above a dataset, or over a folder abaw did not write."""


class OutputBusyError(AbawError):
    """Another process is writing the same output."""


# --------------------------------------------------------------------------- datasets


def _resolved(path: str | os.PathLike) -> Path:
    return Path(path).expanduser().resolve()


def layout_sources(layout: DatasetLayout) -> list[Path]:
    """The folders and files of an opened dataset: its root and every part found or given outside it."""
    sources = [layout.root, *layout.annotation_dirs.values(), *layout.frame_dirs]
    sources.extend({path.parent for path in layout.videos.values()})
    if layout.test_list is not None:
        sources.append(layout.test_list)
    return [_resolved(path) for path in sources]


def refuse_dataset_overlap(path: str | os.PathLike, sources: Iterable[Path], option: str = "--out") -> Path:
    """Refuse an output that is a dataset folder or file, lies inside one, or holds one; return it resolved.

    Raises:
        UnsafeOutputError: naming the option, the output and the dataset part.

    Example:
        >>> refuse_dataset_overlap("/data/affwild2/preds", [Path("/data/affwild2")])
        Traceback (most recent call last):
        ...
        abaw.outputs.UnsafeOutputError: /data/affwild2/preds: --out is inside the dataset folder /data/affwild2; \
abaw never writes into a dataset: choose a place outside it
    """
    target = _resolved(path)
    for source in sources:
        if target == source:
            where = f"is the dataset's {'folder' if source.is_dir() else 'file'} {source}"
        elif target.is_relative_to(source):
            where = f"is inside the dataset folder {source}"
        elif source.is_relative_to(target):
            where = f"holds the dataset folder {source}"
        else:
            continue
        raise UnsafeOutputError(f"{option} {where}; abaw never writes into a dataset: choose a place outside it", path)
    return target


def check_cache_location(cache: str | os.PathLike, sources: Iterable[Path], default: Path) -> None:
    """Refuse a cache folder in a dataset part (``sources``), unless it lies in the ``default`` ``ROOT/.abaw-cache``.

    Raises:
        UnsafeOutputError: naming the cache folder.
    """
    if not _resolved(cache).is_relative_to(_resolved(default)):
        refuse_dataset_overlap(cache, sources, option="--cache")


# --------------------------------------------------------------------------- markers


def read_marker(folder: str | os.PathLike) -> dict[str, Any] | None:
    """abaw's record of what ``folder`` holds, or ``None`` when abaw did not write it.

    The record is ``.abaw-output.json``, or for a generated dataset its
    ``generated.json`` (whose ``kind`` is then :attr:`OutputKind.DATASET`).

    Raises:
        DataError: when the marker is there but unreadable.
    """
    folder = Path(folder)
    for name in (MARKER_NAME, DATASET_MANIFEST_NAME):
        path = folder / name
        if not path.is_file():
            continue
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise DataError(f"unreadable ({error})", path=path) from None
        if not isinstance(record, dict):
            continue
        if name == DATASET_MANIFEST_NAME:
            if record.get("generator") != GENERATOR_NAME:
                continue
            record = {**record, "kind": OutputKind.DATASET.value}
        return record
    return None


def write_marker(folder: Path, kind: OutputKind) -> Path:
    """Mark ``folder`` as an output of ``kind`` written by this abaw."""
    created = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    record = {"abaw": __version__, "kind": kind.value, "created": created}
    return atomic_write_json(folder / MARKER_NAME, record, force=True)


def _is_empty_dir(path: Path) -> bool:
    """Whether ``path`` is a folder holding nothing, or nothing but abaw's marker (an output that wrote nothing)."""
    return path.is_dir() and all(entry.name == MARKER_NAME for entry in path.iterdir())


def check_replaceable(path: str | os.PathLike, kind: OutputKind, force: bool, option: str = "--out") -> bool:
    """Whether ``path`` holds an output to replace (``False``: absent or an empty folder); raise if not allowed.

    Raises:
        UnsafeOutputError: ``path`` is a file, or a folder abaw did not
            write or wrote as another kind (even with ``force``).
        OutputExistsError: ``path`` is an output of ``kind`` and ``force`` is false.
    """
    path = Path(path)
    if not os.path.lexists(path) or _is_empty_dir(path):
        return False
    if not path.is_dir():
        raise UnsafeOutputError(f"{option} is a file, not a folder; choose another {option}", path)
    record = read_marker(path)
    if record is None:
        raise UnsafeOutputError(
            f"{option} exists and was not written by abaw (no {MARKER_NAME}); abaw never replaces it, "
            f"even with --force: choose another {option} or empty it yourself",
            path,
        )
    if record.get("kind") != kind.value:
        raise UnsafeOutputError(
            f"{option} holds abaw's {record.get('kind')} output, not {kind.value}; choose another {option}", path
        )
    if not force:
        raise OutputExistsError("already exists; pass --force to replace it (once the new one is complete)", path)
    return True


def check_output_dir(
    path: str | os.PathLike,
    kind: OutputKind,
    force: bool,
    protect: Iterable[Path] = (),
    option: str = "--out",
) -> Path:
    """Every check of :func:`staged_output_dir`, for a command to run before any work; ``path`` resolved."""
    target = refuse_dataset_overlap(path, protect, option)
    check_replaceable(target, kind, force, option)
    return target


def check_output_file(
    path: str | os.PathLike, force: bool, protect: Iterable[Path] = (), option: str = "--json"
) -> Path:
    """Refuse an output file that would land in a dataset, replace a folder, or replace a file without ``force``.

    Raises:
        UnsafeOutputError: inside a dataset, or ``path`` is a folder.
        OutputExistsError: ``path`` exists and ``force`` is false.
    """
    target = refuse_dataset_overlap(path, protect, option)
    if target.is_dir():
        raise UnsafeOutputError(f"{option} is a folder, not a file; choose a file name", path)
    if target.exists() and not force:
        raise OutputExistsError("already exists; pass --force to replace it", path)
    return target


# --------------------------------------------------------------------------- locks and staging


def lock_path(target: Path) -> Path:
    """The lock file of the output ``target``: ``.NAME.lock`` beside it."""
    return target.parent / f".{target.name}.lock"


@contextlib.contextmanager
def output_lock(target: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``target``'s lock file, or fail at once if another process holds it.

    The lock file is removed on release. A waiter could then hold a lock on
    the removed file, so the lock counts only once the name still points at
    the locked file.

    Raises:
        OutputBusyError: another process writes ``target``.
        AbawError: the folder of ``target`` cannot be created or written.
    """
    target = Path(target)
    path = lock_path(target)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise AbawError(f"cannot create the output's folder ({error.strerror})", path=path.parent) from None
    if fcntl is None:
        yield
        return
    while True:
        try:
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as error:
            raise AbawError(f"cannot write beside the output ({error.strerror})", path=path) from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(descriptor)
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise OutputBusyError(
                    f"another abaw process is writing it (it holds {path.name}); wait until it ends", target
                ) from None
            # A filesystem without flock (some network mounts): write unlocked rather than not at all.
            yield
            return
        try:
            same = os.path.samestat(os.fstat(descriptor), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(descriptor)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
        os.close(descriptor)


def staging_dir(target: Path) -> Path:
    """Where a resumable output (a demo, a replacing training run) is built until complete: ``NAME.partial``."""
    return target.with_name(f"{target.name}.partial")


def remove_output_dir(path: Path, kind: OutputKind) -> None:
    """Delete ``path`` if it is abaw's output of ``kind`` (or empty); refuse anything else.

    Raises:
        UnsafeOutputError: ``path`` is not abaw's output of ``kind``.
    """
    if check_replaceable(path, kind, force=True, option="folder") or path.is_dir():
        shutil.rmtree(path)


@contextlib.contextmanager
def staged_output_dir(
    path: str | os.PathLike,
    kind: OutputKind,
    *,
    force: bool = False,
    protect: Iterable[Path] = (),
    option: str = "--out",
    marker: bool = True,
) -> Iterator[Path]:
    """Yield an empty staging folder beside ``path``; move it onto ``path`` once the block ends without error.

    The checks of :func:`check_output_dir` run again under the lock. The
    staging folder gets the marker of ``kind`` first (unless ``marker`` is
    false: the folder is part of a larger output, or writes its own marker),
    and is deleted if the block raises, leaving ``path`` untouched.

    Raises:
        UnsafeOutputError, OutputExistsError: see :func:`check_output_dir`.
        OutputBusyError: another process writes ``path``.
    """
    target = refuse_dataset_overlap(path, protect, option)
    with output_lock(target):
        check_replaceable(target, kind, force, option)
        stage = make_temp_dir(target, ".partial")
        try:
            if marker:
                write_marker(stage, kind)
            yield stage
            move_dir_onto(stage, target)
        except OutputError as error:
            # The staging folder is a hidden name the user never gave: a write that fails in it fails the output.
            if error.path is None or not Path(error.path).is_relative_to(stage):
                raise
            raise OutputError(error.message, path=target) from None
        finally:
            if stage.exists():
                shutil.rmtree(stage, ignore_errors=True)


RECIPE_NAME = "recipe.json"


def prepare_resumable_output(
    target: Path, kind: OutputKind, recipe: Mapping[str, Any], *, force: bool, resume: bool, what: str
) -> Path:
    """Ready ``target``'s staging folder for a resumable output, before any work; returns it.

    A fresh output starts an empty staging folder holding the marker of
    ``kind`` and ``recipe.json``; ``resume`` continues the interrupted one,
    accepted only when its recipe equals ``recipe``. The caller holds
    :func:`output_lock` and moves the staging folder onto ``target`` when done.

    Args:
        target: The output folder.
        kind: What it holds.
        recipe: Everything that decides its content (JSON-ready).
        force: Replace an earlier output (once the new one is complete) or interrupted one.
        resume: Continue the interrupted output.
        what: The output's name in messages, e.g. ``demo``.

    Raises:
        AbawError: ``resume`` and nothing to resume.
        DataError: the interrupted output used another recipe, or its recipe is unreadable.
        OutputExistsError: an earlier or interrupted output without ``force``.
        UnsafeOutputError: ``target`` is not abaw's output of ``kind``.
    """
    staging = staging_dir(target)
    recipe_path = staging / RECIPE_NAME
    # A resumed output replaces TARGET when done, as the interrupted one would have; never a folder abaw did not write.
    check_replaceable(target, kind, force or resume)
    if resume:
        if not recipe_path.is_file():
            raise AbawError(f"nothing to resume: no interrupted {what} in {staging}")
        try:
            stored = json.loads(recipe_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise DataError(f"unreadable ({error}); start over with --force", path=recipe_path) from None
        if stored != recipe:
            message = f"the interrupted {what} used other settings; resume with the same options"
            raise DataError(message, path=recipe_path)
        return staging
    if staging.exists():
        if not force:
            message = f"holds an interrupted {what}; pass --resume to continue it or --force to start over"
            raise OutputExistsError(message, staging)
        remove_output_dir(staging, kind)
    staging.mkdir(parents=True)
    write_marker(staging, kind)
    atomic_write_json(recipe_path, dict(recipe))
    return staging


def relocated(path: Path, staging: Path, target: Path) -> Path:
    """Where ``path`` will be once ``staging`` is moved onto ``target`` (``path`` itself if outside ``staging``).

    Example:
        >>> str(relocated(Path("out.partial/runs/a"), Path("out.partial"), Path("out")))
        'out/runs/a'
    """
    try:
        return target / path.relative_to(staging)
    except ValueError:
        return path
