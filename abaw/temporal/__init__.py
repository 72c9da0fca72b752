"""Temporal models over per-frame features: ``abaw temporal train`` and its checkpoints.

Modules, in the order the data flows: :mod:`~abaw.temporal.sequences` (one
input row per frame of an entry, from embedding caches and audio features,
and the training normalisation), :mod:`~abaw.temporal.windows` (windows for
training, overlapping windows averaged at inference), :mod:`~abaw.temporal.models`
(TCN, GRU, Transformer by name), :mod:`~abaw.temporal.config` (the run's
settings), :mod:`~abaw.temporal.folds` (K folds by video),
:mod:`~abaw.temporal.trainer` (the loop and the protocols) and
:mod:`~abaw.temporal.predict` (a checkpoint, or a K-fold run, as an ensemble member).
"""
