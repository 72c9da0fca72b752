"""Benchmarks of the toolkit at the full size of the challenge.

Each is a module with a ``main(argv)`` that returns its figures as a
dataclass (``abaw.cli.render_benchmarks`` draws them; the scoring and
training benchmarks still print their own and return an exit status).
``abaw benchmark`` runs them all in turn (or those named),
``python -m abaw.benchmarks.NAME`` runs one with its own options. Speed
targets live here, never in timed unit tests.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class BenchmarkRun:
    """How one benchmark script ended.

    Attributes:
        name: The benchmark.
        status: Its exit status (0: every check it makes passed).
        seconds: Wall time of the script.
        figures: What it measured, for a script that returns its figures
            rather than printing them.
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
        """The module to run with ``python -m``.

        Example:
            >>> BENCHMARKS[0].module
            'abaw.benchmarks.index'
        """
        return f"abaw.benchmarks.{self.name}"

    def run(self, quick: bool = False) -> BenchmarkRun:
        """Run the script in this process, with :attr:`quick_args` when ``quick``.

        Returns:
            Its figures, or for a script that prints them itself its exit
            status (0 when it returns nothing).
        """
        main = importlib.import_module(self.module).main
        began = time.perf_counter()
        result = main(list(self.quick_args) if quick else [])
        seconds = time.perf_counter() - began
        if result is None or isinstance(result, int):
            return BenchmarkRun(self.name, int(result or 0), seconds)
        return BenchmarkRun(self.name, 0, seconds, figures=result)


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
