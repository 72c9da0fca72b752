"""``python -m abaw``: the same command line as ``abaw`` (``torchrun -m abaw train ...`` uses it)."""

from abaw.cli import main

if __name__ == "__main__":
    main()
