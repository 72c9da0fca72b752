"""Fitting the ``ridge`` floor: scikit-learn's ridge regression, its alpha chosen by folds over videos.

The model (:class:`~abaw.model.temporal.LinearTemporalModel`) computes its
columns itself (each frame's features and their windowed means), so the
design matrix is built by running it over every whole training sequence,
exactly as it will see them at inference. :class:`~sklearn.linear_model.RidgeCV`
tries each alpha on grouped folds (:func:`~abaw.temporal.folds.grouped_folds`:
every entry of a video in one fold), scores the held-out frames with the
challenge metric (mean CCC of the clipped predictions) and refits the best
alpha on every row; the coefficients are copied into the model's tensors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.linear_model import RidgeCV
from sklearn.metrics import make_scorer

from abaw.data.names import video_stem
from abaw.data.sequences import EntrySequence
from abaw.errors import DataError
from abaw.model.temporal import LinearTemporalModel
from abaw.scoring.metrics import ccc
from abaw.temporal.folds import grouped_folds


@dataclass
class RidgeSolution:
    """What the fit chose.

    Attributes:
        alpha: The regularisation kept.
        cv_ccc: Its mean CCC over the held-out folds (the mean of the folds' scores).
        rows: Frames fitted on.
        folds: Folds the alpha was chosen with.
    """

    alpha: float
    cv_ccc: float
    rows: int
    folds: int

    def to_row(self) -> dict[str, float]:
        """The terms of the epoch row (``metrics.jsonl``)."""
        return {"alpha": self.alpha, "cv/ccc_mean": self.cv_ccc, "rows": float(self.rows), "folds": float(self.folds)}


def mean_ccc(true: np.ndarray, pred: np.ndarray) -> float:
    """Mean CCC of valence and arousal, predictions clipped to [-1, 1] as when they are written.

    Example:
        >>> round(mean_ccc(np.array([[0.1, 0.2], [0.3, 0.1]]), np.array([[0.1, 0.2], [0.3, 0.1]])), 3)
        1.0
    """
    clipped = np.clip(pred, -1.0, 1.0)
    return float(np.mean([ccc(clipped[:, column], true[:, column]) for column in range(2)]))


def design_matrix(
    model: LinearTemporalModel, sequences: Sequence[EntrySequence], max_rows: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(X, y, groups)``: the model's columns, both labels and the video of every fitted frame.

    Frames annotated in both dimensions are fitted; beyond ``max_rows`` every
    k-th of them is kept (neighbouring frames are nearly the same), so the
    matrix stays ``max_rows`` by the model's columns at most.
    """
    labelled = [
        (sequence, np.flatnonzero((np.abs(sequence.labels) <= 1.0).all(axis=1)))
        for sequence in sequences
        if sequence.labels is not None
    ]
    total = sum(len(rows) for _, rows in labelled)
    step = max(1, -(-total // max_rows))
    columns, targets, groups = [], [], []
    with torch.inference_mode():
        for sequence, rows in labelled:
            rows = rows[::step]
            if not len(rows):
                continue
            inputs = torch.from_numpy(sequence.inputs).unsqueeze(0)
            has_face = torch.from_numpy(sequence.has_face).unsqueeze(0)
            features = model.features(inputs, has_face, torch.ones_like(has_face))[0].numpy()
            columns.append(features[rows])
            targets.append(sequence.labels[rows])
            groups.extend([video_stem(sequence.name)] * len(rows))
    if not columns:
        raise DataError("no frame annotated in both dimensions to fit the ridge on")
    return np.concatenate(columns), np.concatenate(targets).astype(np.float64), np.asarray(groups)


def fit_ridge(
    model: LinearTemporalModel,
    sequences: Sequence[EntrySequence],
    alphas: Sequence[float],
    folds: int,
    max_rows: int,
) -> RidgeSolution:
    """Fit ``model``'s coefficients on normalised ``sequences``; the alpha chosen by grouped folds.

    Raises:
        DataError: with no annotated frame, or fewer than 2 videos to fold.
    """
    features, targets, groups = design_matrix(model, sequences, max_rows)
    splits = grouped_folds(groups, folds)
    search = RidgeCV(alphas=list(alphas), cv=splits, scoring=make_scorer(mean_ccc))
    search.fit(features, targets)
    with torch.no_grad():
        model.weight.copy_(torch.as_tensor(search.coef_, dtype=torch.float32))
        model.bias.copy_(torch.as_tensor(search.intercept_, dtype=torch.float32))
    return RidgeSolution(float(search.alpha_), float(search.best_score_), len(features), len(splits))
