"""What the steps of a recipe share while it runs: where it writes, the dataset, the device, the reporting."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from abaw.outputs import Stage
from abaw.progress import ProgressFn, no_progress

if TYPE_CHECKING:
    from abaw.data.index import DatasetIndex
    from abaw.fitting.records import Reporter

LogFn = Callable[[str], None]


@dataclass(frozen=True)
class RecipeRuntime:
    """Where a recipe computes and how it reports.

    Attributes:
        device: ``auto``, ``cpu`` or ``cuda``.
        workers: DataLoader worker processes.
        reporter: Shows the training progress.
        progress: Progress bar for the other steps.
        log: Receives one line per step.
    """

    device: str = "auto"
    workers: int = 2
    reporter: Reporter | None = None
    progress: ProgressFn = no_progress
    log: LogFn = lambda message: None


@dataclass
class RecipeContext:
    """One run of a recipe (the demo, an experiment), as its steps see it.

    Attributes:
        output: The recipe's output folder, being built (see :func:`abaw.outputs.staged_output`).
        runtime: Where it computes and how it reports.
        index: The dataset, once opened.
        seconds: Wall time per step, added up by :meth:`timed`.

    Example:
        >>> context = RecipeContext(Stage(Path("out.partial"), Path("out")))
        >>> str(context.path("runs/disc")), context.device
        ('out.partial/runs/disc', 'auto')
        >>> with context.timed("data"):
        ...     pass
        >>> list(context.seconds)
        ['data']
    """

    output: Stage
    runtime: RecipeRuntime = field(default_factory=RecipeRuntime)
    index: DatasetIndex | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def device(self) -> str:
        """Where to compute."""
        return self.runtime.device

    @property
    def workers(self) -> int:
        """DataLoader worker processes."""
        return self.runtime.workers

    @property
    def reporter(self) -> Reporter | None:
        """Shows the training progress."""
        return self.runtime.reporter

    @property
    def progress(self) -> ProgressFn:
        """Progress bar for the other steps."""
        return self.runtime.progress

    def log(self, message: str) -> None:
        """Tell the user one line about a step."""
        self.runtime.log(message)

    def path(self, relative: str | Path) -> Path:
        """Where to write ``relative`` (a path inside the output) now."""
        return self.output.path / relative

    @property
    def dataset(self) -> DatasetIndex:
        """The dataset (opened by an earlier step)."""
        if self.index is None:
            raise RuntimeError("the recipe's dataset is not open yet")
        return self.index

    @contextlib.contextmanager
    def timed(self, step: str) -> Iterator[None]:
        """Add the wall time of the block to ``seconds[step]``."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[step] = self.seconds.get(step, 0.0) + time.perf_counter() - started
