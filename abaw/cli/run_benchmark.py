"""One benchmark alone, with its own options: ``python -m abaw.cli.run_benchmark NAME [OPTIONS]``.

The benchmarks (:mod:`abaw.benchmarks`) measure and return their figures;
this script runs one, draws its figures on standard output (a progress bar on
standard error) and exits with its status: 0, or 1 when a check it makes
failed. ``NAME --help`` lists the benchmark's options; ``.ci/gpu-check`` runs
``python -m abaw.cli.run_benchmark training --device cuda ...`` this way.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from abaw.benchmarks import BENCHMARKS, SCRIPT, find_benchmarks

EXIT_USAGE = 2


def usage() -> str:
    """How to call the script, and the benchmarks it knows.

    Example:
        >>> print(usage().splitlines()[0])
        usage: python -m abaw.cli.run_benchmark NAME [OPTIONS]
    """
    names = "\n".join(f"  {bench.name:<10} {bench.about}" for bench in BENCHMARKS)
    return f"usage: {SCRIPT} NAME [OPTIONS]\n\nRun one benchmark alone; NAME --help lists its options.\n\n{names}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark ``argv[0]`` with the options that follow; the exit status."""
    # Imported here: the usage needs neither rich nor the renderers.
    from rich.console import Console

    from abaw.cli.progress import rich_progress
    from abaw.cli.render_benchmarks import print_figures

    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(usage(), file=sys.stdout if args else sys.stderr)
        return 0 if args else EXIT_USAGE
    name, *options = args
    try:
        (bench,) = find_benchmarks([name])
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    run = bench.run(argv=options, progress=rich_progress(Console(stderr=True)))
    print_figures(Console(), bench.name, run.figures)
    return run.status


if __name__ == "__main__":
    raise SystemExit(main())
