"""What both trainers open before their first epoch: the run folder and the dataset, the same way on every rank.

:func:`open_run_folder` is :func:`abaw.outputs.staged_output` for a run
folder (a new run in place, a replacing one in ``RUN.partial``, ``--resume``
continuing the one with a finished epoch), held by rank 0 and told to the
other ranks. :func:`open_run_dataset` lets rank 0 build the index cache
before the others read it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

from abaw.data.index import DatasetIndex, open_dataset
from abaw.data.source import DatasetSource
from abaw.outputs import OutputKind, Staging, refuse_dataset_overlap, staged_output
from abaw.progress import ProgressFn, no_progress
from abaw.runtime.devices import Distributed
from abaw.runtime.rundir import RunDir


@dataclass(frozen=True)
class RunFolder:
    """The run folder a training writes, as every rank sees it.

    Attributes:
        work: Where this attempt writes: the run folder, or ``RUN.partial`` while it replaces an earlier run.
        final: The run folder the caller named.
        resumed: Whether ``work`` continues an interrupted run (its ``last.pt`` files).
    """

    work: RunDir
    final: RunDir
    resumed: bool


@contextlib.contextmanager
def open_run_folder(
    path: str | os.PathLike, dataset: DatasetSource, dist: Distributed, *, resume: bool, force: bool
) -> Iterator[RunFolder]:
    """Open a run folder for the duration of a training; rank 0 moves a replacement into place at the end.

    Raises:
        UnsafeOutputError: ``path`` is in the dataset, or a folder abaw did not write.
        OutputExistsError: ``path`` holds a run and neither ``force`` nor ``resume`` is given.
        OutputBusyError: another process writes ``path``.
        CheckpointError: ``resume`` and no finished epoch to continue.
    """
    final = refuse_dataset_overlap(path, dataset.read_paths())
    with contextlib.ExitStack() as stack:
        shared = None
        if dist.is_main:
            stage = stack.enter_context(
                staged_output(
                    final,
                    OutputKind.TRAIN_RUN,
                    staging=Staging.RUN,
                    force=force,
                    resume=resume,
                    protect=dataset.read_paths(),
                    has_progress=RunDir.has_progress,
                    what="run",
                )
            )
            shared = (str(stage.path), stage.resumed)
        work, resumed = dist.broadcast(shared)
        yield RunFolder(RunDir(work), RunDir(final), resumed)
        dist.barrier()  # every rank is done with the folder before rank 0 moves it
    dist.barrier()


def open_run_dataset(source: DatasetSource, dist: Distributed, progress: ProgressFn = no_progress) -> DatasetIndex:
    """Open the dataset of a run; rank 0 builds the index cache first, the other ranks then read it."""
    if dist.is_main:
        index = open_dataset(source, progress=progress)
    dist.barrier()
    if not dist.is_main:
        index = open_dataset(source)
    return index


__all__ = ["RunFolder", "open_run_dataset", "open_run_folder"]
