"""Scoring predictions with the challenge metric.

:mod:`abaw.scoring.metrics` holds the statistics (CCC, PCC, MSE);
:mod:`abaw.scoring.predictions` reads prediction files in either submission
format and scores them against labels.
"""

from abaw.scoring.metrics import AffectScores, ccc, mse, pcc, rmse, score_frames
from abaw.scoring.predictions import (
    AlignedFrames,
    PredictionSet,
    ScoreReport,
    SubmissionFormat,
    VideoPrediction,
    align_predictions,
    read_predictions,
    score_predictions,
)

__all__ = [
    "AffectScores",
    "AlignedFrames",
    "PredictionSet",
    "ScoreReport",
    "SubmissionFormat",
    "VideoPrediction",
    "align_predictions",
    "ccc",
    "mse",
    "pcc",
    "read_predictions",
    "rmse",
    "score_frames",
    "score_predictions",
]
