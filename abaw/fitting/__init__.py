"""What both trainers stand on: the ALN's (:mod:`abaw.training`) and the temporal models' (:mod:`abaw.temporal`).

* :mod:`abaw.fitting.loop`: the epoch loop (train, validate, keep the best,
  save, log, report) and the seeding that makes a resumed run bit-identical;
* :mod:`abaw.fitting.run`: the run folder and the dataset, opened alike on every rank;
* :mod:`abaw.fitting.records`: epoch rows, the best epoch, the metric files,
  ``skipped.json`` and the :class:`~abaw.fitting.records.Reporter` interface;
* :mod:`abaw.fitting.affect_loss` and :mod:`abaw.fitting.class_weights`:
  the affect loss with its class-balanced weights;
* :mod:`abaw.fitting.settings`: settings dataclasses as plain values, read back checked.

The two trainers import this package and never each other.
"""
