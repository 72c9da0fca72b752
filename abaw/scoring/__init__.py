"""Scoring predictions with the challenge metric.

:mod:`abaw.scoring.metrics` holds the statistics (CCC, PCC, MSE);
:mod:`abaw.scoring.alignment` pairs each labelled frame with its prediction;
:mod:`abaw.scoring.report` scores them (:func:`score_predictions`);
:mod:`abaw.scoring.references` holds the published results. Prediction
files are read by :mod:`abaw.formats`.
"""

from abaw.scoring.alignment import AlignedFrames, align_predictions
from abaw.scoring.metrics import AffectScores, ccc, mse, pcc, rmse, score_frames
from abaw.scoring.report import ScoreReport, score_predictions

__all__ = [
    "AffectScores",
    "AlignedFrames",
    "ScoreReport",
    "align_predictions",
    "ccc",
    "mse",
    "pcc",
    "rmse",
    "score_frames",
    "score_predictions",
]
