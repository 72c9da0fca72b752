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
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from abaw import __version__
from abaw.errors import AbawError, CheckpointError, DataError, OutputError, OutputExistsError
from abaw.fileio import atomic_write_json, make_temp_dir, move_dir_onto
from abaw.messages import first_difference

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
    """Every check of :func:`staged_output`, for a command to run before any work; ``path`` resolved."""
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
    """Where a resumable output (a demo, a chain, a replacing run) is built until complete: ``NAME.partial``."""
    return target.with_name(f"{target.name}.partial")


def remove_output_dir(path: Path, kind: OutputKind) -> None:
    """Delete ``path`` if it is abaw's output of ``kind`` (or empty); refuse anything else.

    Raises:
        UnsafeOutputError: ``path`` is not abaw's output of ``kind``.
    """
    if check_replaceable(path, kind, force=True, option="folder") or path.is_dir():
        shutil.rmtree(path)


RECIPE_NAME = "recipe.json"


class Staging(str, Enum):
    """Where an output is built until it is complete, and what a failure leaves.

    ``hidden``: a hidden folder beside the target, deleted on failure
    (predictions, submissions, figures, datasets). ``resumable``:
    ``NAME.partial`` holding ``recipe.json``, kept on failure so that
    ``--resume`` continues it with the same recipe (the demo, a chain of
    stages, an experiment). ``run``: a training run folder: a new run is
    written in place (its files can be watched as it trains), a run replacing
    an earlier one in ``NAME.partial``; on failure a folder with no progress
    to resume is removed, and ``--resume`` continues the one that has it.
    """

    HIDDEN = "hidden"
    RESUMABLE = "resumable"
    RUN = "run"


@dataclass(frozen=True)
class Stage:
    """The folder a staged output is being built in.

    Attributes:
        path: Where to write now.
        target: Where it will be once complete.
        resumed: Whether ``path`` continues an interrupted output.

    Example:
        >>> stage = Stage(Path("out.partial"), Path("out"))
        >>> str(stage.final(Path("out.partial/runs/disc/best.pt"))), str(stage.final(Path("data/x")))
        ('out/runs/disc/best.pt', 'data/x')
    """

    path: Path
    target: Path
    resumed: bool = False

    def final(self, path: str | os.PathLike) -> Path:
        """Where ``path`` will be once the output is complete (``path`` itself if outside the stage).

        For what an output records about itself (a stage's ``--init``, an
        embedding's checkpoint): a record never names the staging folder.
        """
        path = Path(path)
        try:
            return self.target / path.relative_to(self.path)
        except ValueError:
            return path


@contextlib.contextmanager
def staged_output(
    path: str | os.PathLike,
    kind: OutputKind,
    *,
    staging: Staging = Staging.HIDDEN,
    force: bool = False,
    resume: bool = False,
    protect: Iterable[Path] = (),
    option: str = "--out",
    recipe: Mapping[str, Any] | None = None,
    has_progress: Callable[[Path], bool] | None = None,
    what: str = "output",
    marker: bool = True,
) -> Iterator[Stage]:
    """Build the output ``path`` in a staging folder and move it onto ``path`` once the block ends without error.

    The one transaction every folder abaw writes goes through. In order: the
    output may not be in, on or above a dataset part (``protect``); one
    process writes it at a time (:func:`output_lock`); an existing output is
    replaced only when abaw wrote it as ``kind`` and ``force`` (or ``resume``)
    is given, and only once the new one is complete; the staging folder gets
    the marker of ``kind`` (unless ``marker`` is false: a part of a larger
    output, or one that writes its own marker); a failure leaves the previous
    output as it was (see :class:`Staging` for what it leaves of the new one).

    Args:
        path: The output folder.
        kind: What it holds.
        staging: Where it is built, and what a failure leaves.
        force: Replace an earlier output (once the new one is complete), or
            start an interrupted one over.
        resume: Continue the interrupted output (``resumable``, ``run``).
        protect: The dataset's folders and files.
        option: The option that named ``path``, for messages.
        recipe: ``resumable``: everything that decides the content; a resume
            must bring the same.
        has_progress: ``run``: whether a folder holds something to resume
            (e.g. a finished epoch's ``last.pt``).
        what: The output's name in messages, e.g. ``demo``.
        marker: Write the output marker into the staging folder.

    Raises:
        UnsafeOutputError: ``path`` is in a dataset, or not abaw's output of ``kind``.
        OutputExistsError: an earlier or interrupted output without ``force``.
        OutputBusyError: another process writes ``path``.
        AbawError: ``resume`` with nothing to resume; DataError: a resume with another recipe.
    """
    target = refuse_dataset_overlap(path, protect, option)
    with output_lock(target):
        if staging is Staging.HIDDEN:
            stage = _open_hidden(target, kind, force, option)
        elif staging is Staging.RESUMABLE:
            stage = _open_resumable(target, kind, dict(recipe or {}), force, resume, what)
        else:
            stage = _open_run(target, kind, force, resume, has_progress or (lambda folder: False))
        try:
            if staging is Staging.HIDDEN and marker:
                write_marker(stage.path, kind)
            yield stage
        except OutputError as error:
            _discard_failed(stage, staging, kind, has_progress)
            # The staging folder is a name the user never gave: a write that fails in it fails the output.
            if error.path is None or not Path(error.path).is_relative_to(stage.path) or stage.path == target:
                raise
            raise OutputError(error.message, path=target) from None
        except BaseException:
            _discard_failed(stage, staging, kind, has_progress)
            raise
        if stage.path != target:
            move_dir_onto(stage.path, target)


def _open_hidden(target: Path, kind: OutputKind, force: bool, option: str) -> Stage:
    check_replaceable(target, kind, force, option)
    return Stage(make_temp_dir(target, ".partial"), target)


def _open_resumable(
    target: Path, kind: OutputKind, recipe: dict[str, Any], force: bool, resume: bool, what: str
) -> Stage:
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
            raise DataError(
                f"the interrupted {what} used other settings; {first_difference(stored, recipe)}; "
                "resume with the same options",
                path=recipe_path,
            )
        return Stage(staging, target, resumed=True)
    if staging.exists():
        if not force:
            message = f"holds an interrupted {what}; pass --resume to continue it or --force to start over"
            raise OutputExistsError(message, staging)
        remove_output_dir(staging, kind)
    staging.mkdir(parents=True)
    write_marker(staging, kind)
    atomic_write_json(recipe_path, recipe)
    return Stage(staging, target)


def _open_run(target: Path, kind: OutputKind, force: bool, resume: bool, has_progress: Callable[[Path], bool]) -> Stage:
    staging = staging_dir(target)
    if resume:
        for folder in (staging, target):
            if has_progress(folder):
                if folder != target:  # the resumed replacement ends by replacing TARGET: it must be abaw's
                    check_replaceable(target, kind, force=True)
                return Stage(folder, target, resumed=True)
        raise CheckpointError("nothing to resume: no finished epoch here", path=target)
    if check_replaceable(target, kind, force=True):
        if not force:
            message = "run folder exists; pass --resume to continue it or --force to replace it once the new run ends"
            raise OutputExistsError(message, target)
        if staging.exists():
            remove_output_dir(staging, kind)
        work = staging
    else:
        work = target
    work.mkdir(parents=True, exist_ok=True)
    write_marker(work, kind)
    return Stage(work, target)


def _discard_failed(
    stage: Stage, staging: Staging, kind: OutputKind, has_progress: Callable[[Path], bool] | None
) -> None:
    """Remove what a failed output leaves that nothing can resume; keep what ``--resume`` continues."""
    if staging is Staging.RESUMABLE:
        return
    if staging is Staging.RUN and (stage.resumed or (has_progress is not None and has_progress(stage.path))):
        return
    with contextlib.suppress(AbawError, OSError):  # the first error stays the one shown
        if staging is Staging.HIDDEN:
            shutil.rmtree(stage.path, ignore_errors=True)
        else:
            remove_output_dir(stage.path, kind)
