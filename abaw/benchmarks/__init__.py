"""Benchmarks of the toolkit at the full size of the challenge.

Each is a module with a ``main(argv, progress)`` that returns its figures as a
dataclass and prints nothing; the command line draws them
(``abaw.cli.render_benchmarks``), and nothing here imports ``abaw.cli``.
``abaw benchmark`` runs them all in turn (or those named),
``python -m abaw.cli.run_benchmark NAME [OPTIONS]`` runs one with its own
options. Speed targets live here, never in timed unit tests.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from abaw.progress import ProgressFn, no_progress

SCRIPT = "python -m abaw.cli.run_benchmark"
"""How to run one benchmark alone: this, its name, then its own options."""


@dataclass(frozen=True)
class BenchmarkRun:
    """How one benchmark script ended.

    Attributes:
        name: The benchmark.
        status: Its exit status (0: every check it makes passed; the
            figures' ``status`` where they have one).
        seconds: Wall time of the script.
        figures: What it measured: the dataclass its ``main`` returned.
    """

    name: str
    status: int
    seconds: float
    figures: Any = None


@dataclass(frozen=True)
class Benchmark:
    """One benchmark script.

    Attributes:
        name: Short name, the module's under ``abaw.benchmarks``.
        about: What it measures.
        quick_args: Options of a seconds-long smoke run (small sizes; the
            figures are then not the documented ones).
    """

    name: str
    about: str
    quick_args: tuple[str, ...] = ()

    @property
    def module(self) -> str:
        """The module holding the benchmark's ``main``.

        Example:
            >>> BENCHMARKS[0].module
            'abaw.benchmarks.index'
        """
        return f"abaw.benchmarks.{self.name}"

    @property
    def command(self) -> str:
        """The command that runs it alone, with its own options.

        Example:
            >>> BENCHMARKS[0].command
            'python -m abaw.cli.run_benchmark index'
        """
        return f"{SCRIPT} {self.name}"

    def run(
        self, quick: bool = False, argv: Sequence[str] | None = None, progress: ProgressFn = no_progress
    ) -> BenchmarkRun:
        """Run the benchmark in this process: with ``argv``, else :attr:`quick_args` when ``quick``, else defaults.

        Imports its module only now (several import torch).
        """
        main = importlib.import_module(self.module).main
        options = list(argv) if argv is not None else list(self.quick_args) if quick else []
        began = time.perf_counter()
        figures = main(options, progress=progress)
        seconds = time.perf_counter() - began
        return BenchmarkRun(self.name, int(getattr(figures, "status", 0)), seconds, figures=figures)


BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark(
        "index", "index 600 videos / 3 M label lines, first build and cached", ("--videos", "20", "--lines", "20000")
    ),
    Benchmark(
        "scoring",
        "read, score, write, zip and check a full-size split",
        ("--videos", "20", "--lines", "20000"),
    ),
    Benchmark(
        "audio",
        "audio features: one openSMILE pass vs one call per frame",
        ("--seconds", "4", "--sample", "10"),
    ),
    Benchmark(
        "training",
        "frames/s per variant: loader, training, inference",
        ("--variants", "disc-tiny,aeg-cd-sz-tiny", "--steps", "2", "--warmup", "1", "--workers", "0"),
    ),
    Benchmark(
        "embed",
        "embedding extraction frames/s per variant, CPU and CUDA",
        ("--videos", "6", "--frames", "20", "--variants", "disc-tiny,aeg-cd-tiny", "--workers", "0"),
    ),
    Benchmark(
        "temporal",
        "temporal model training and inference windows/s per model, CPU and CUDA",
        (
            "--sequences",
            "2",
            "--frames",
            "96",
            "--embedding-dim",
            "16",
            "--window",
            "32",
            "--hidden",
            "16",
            "--layers",
            "1",
            "--steps",
            "2",
        ),
    ),
)


def find_benchmarks(names: list[str] | tuple[str, ...]) -> list[Benchmark]:
    """The benchmarks named (all when none are), in the documented order.

    Raises:
        ValueError: naming the known benchmarks when a name is not one.

    Example:
        >>> [bench.name for bench in find_benchmarks(["audio"])]
        ['audio']
    """
    known = {bench.name: bench for bench in BENCHMARKS}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return [bench for bench in BENCHMARKS if not names or bench.name in names]
