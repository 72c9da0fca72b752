"""Training temporal models over per-frame features: ``abaw temporal train``.

The models are registered in :mod:`abaw.model.temporal`, their input
sequences built by :mod:`abaw.data.sequences`, their windows cut and
predicted by :mod:`abaw.runtime.windows`; this package trains them, on the
kit of :mod:`abaw.fitting`: :mod:`~abaw.temporal.config` (the run's
settings), :mod:`~abaw.temporal.losses` (the loss over windows),
:mod:`~abaw.temporal.folds` (K folds by video, scikit-learn's ``GroupKFold``),
:mod:`~abaw.temporal.ridge` (the ridge floor's fit, scikit-learn),
:mod:`~abaw.temporal.epochs` (one model's fit in the epoch loop) and
:mod:`~abaw.temporal.trainer` (the protocols val, final, kfold and heldout).
A trained checkpoint predicts through :mod:`abaw.prediction`.
"""
