"""A training reporter for tests that interrupt a chain of training runs (the demo's, ``abaw train --stages``)."""

from __future__ import annotations

from abaw.fitting.records import Reporter


class StopAfter(Reporter):
    """Interrupts the ``n``-th training run after its first epoch, as a Ctrl-C would; keeps the notes it was given."""

    def __init__(self, n: int):
        self.runs, self.n = 0, n
        self.notes: list[str] = []

    def start_epoch(self, epoch: int, epochs: int, steps: int) -> None:
        if epoch == 1:
            self.runs += 1

    def end_epoch(self, row) -> None:
        if self.runs == self.n:
            raise KeyboardInterrupt

    def note(self, message: str) -> None:
        self.notes.append(message)
