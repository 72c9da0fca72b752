"""Fitting the ``ridge`` floor: scikit-learn's ridge regression, each source's regularisation chosen by video folds.

The model (:class:`~abaw.model.temporal.LinearTemporalModel`) computes its
columns itself (each frame's features and their windowed means), so the
design matrix is built by running it over every whole training sequence,
exactly as it will see them at inference.

Each feature source (an embedding cache, the audio) gets its own
regularisation: a wide source must not drown a narrow one, and a source
that does not carry over to unseen videos can be all but switched off. The
columns of a source with regularisation ``alpha`` are divided by
``sqrt(alpha)`` before a ridge regression with ``alpha = 1`` (the same fit as
penalising that source's coefficients ``alpha`` times). The alphas are chosen
by the challenge metric (mean CCC of the clipped out-of-fold predictions,
all frames together) on grouped folds (:func:`~abaw.temporal.folds.grouped_folds`:
every entry of a video in one fold): first one alpha for every source, then
each source's in turn, every other held, until no change helps. The chosen
alphas are refitted on every row and the coefficients, scaled back to the
model's columns, copied into its tensors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import torch
from sklearn.linear_model import Ridge
from sklearn.model_selection import cross_val_predict
from threadpoolctl import threadpool_limits

from abaw.data.names import video_stem
from abaw.data.sequences import EntrySequence
from abaw.errors import DataError
from abaw.model.temporal import LinearTemporalModel
from abaw.scoring.metrics import ccc
from abaw.temporal.folds import grouped_folds

SEARCH_ROUNDS = 3
"""Passes over the sources, each trying every alpha for one source with the others held."""


@dataclass
class RidgeSolution:
    """What the fit chose.

    Attributes:
        alphas: The regularisation of each source, by name.
        cv_ccc: Their mean CCC over the out-of-fold predictions of the training frames.
        rows: Frames fitted on.
        folds: Folds the alphas were chosen with.
    """

    alphas: dict[str, float]
    cv_ccc: float
    rows: int
    folds: int

    def to_row(self) -> dict[str, float]:
        """The terms of the epoch row (``metrics.jsonl``)."""
        row = {f"alpha/{name}": alpha for name, alpha in self.alphas.items()}
        return {**row, "cv/ccc_mean": self.cv_ccc, "rows": float(self.rows), "folds": float(self.folds)}


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


def column_sources(widths: Sequence[int], spans: int) -> np.ndarray:
    """The source of each of the model's columns (the face flag's columns go with the first source).

    Example:
        >>> column_sources([2, 1], spans=1).tolist()  # frame: 2 + 1 + face, then the same averaged
        [0, 0, 1, 0, 0, 0, 1, 0]
    """
    frame = np.concatenate([np.repeat(np.arange(len(widths)), widths), [0]])
    return np.tile(frame, 1 + spans)


class _SourceSearch:
    """Out-of-fold scores of per-source alphas, each tried once.

    A ridge with ``alpha = 1`` on columns scaled by ``1 / sqrt(alpha_s)``.
    With fewer rows than columns (a few videos of wide embeddings) it is
    solved in its dual form, whose kernel is ``sum_s G_s / alpha_s`` with
    ``G_s`` the rows' Gram matrix over source ``s``'s columns, computed once:
    each try then costs a few solves the size of a fold's rows. With more
    rows than columns those matrices would outgrow the columns' (rows
    squared), so each fold is fitted by scikit-learn's ``Ridge`` itself.
    Either way the predictions are those of ``Ridge(alpha=1.0)`` (intercept
    included) on the scaled columns, which the tests check.
    """

    def __init__(self, features: np.ndarray, targets: np.ndarray, owners: np.ndarray, splits: list):
        self.features, self.targets, self.owners, self.splits = features, targets, owners, splits
        self.grams = None
        if len(features) <= features.shape[1]:
            self.grams = []
            for source in np.unique(owners):
                columns = features[:, owners == source]
                self.grams.append(columns @ columns.T)
        self.scores: dict[tuple[float, ...], float] = {}

    def predict(self, alphas: tuple[float, ...]) -> np.ndarray:
        """The out-of-fold predictions of every row under ``alphas``."""
        if self.grams is None:
            scaled = self.features / np.sqrt(np.asarray(alphas)[self.owners])
            return cross_val_predict(Ridge(alpha=1.0), scaled, self.targets, cv=self.splits)
        kernel = sum(gram / alpha for gram, alpha in zip(self.grams, alphas, strict=True))
        predicted = np.empty_like(self.targets)
        for train, test in self.splits:
            predicted[test] = _dual_ridge(kernel, self.targets, train, test)
        return predicted

    def score(self, alphas: tuple[float, ...]) -> float:
        if alphas not in self.scores:
            self.scores[alphas] = mean_ccc(self.targets, self.predict(alphas))
        return self.scores[alphas]

    def best(self, candidates: list[tuple[float, ...]]) -> tuple[float, ...]:
        """The first of the best-scoring ``candidates``."""
        return max(candidates, key=self.score)


def _dual_ridge(kernel: np.ndarray, targets: np.ndarray, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """A ridge (``alpha = 1``, with intercept) fitted on the ``train`` rows, predicting the ``test`` rows.

    ``kernel`` holds the dot products of every pair of rows; centring it on the
    training rows' mean is the intercept.
    """
    row_means = kernel[:, train].mean(axis=1)
    total = row_means[train].mean()
    centred_train = kernel[np.ix_(train, train)] - row_means[train, None] - row_means[None, train] + total
    centred_test = kernel[np.ix_(test, train)] - row_means[test, None] - row_means[None, train] + total
    target_mean = targets[train].mean(axis=0)
    dual = scipy.linalg.solve(
        centred_train + np.eye(len(train)), targets[train] - target_mean, assume_a="pos", check_finite=False
    )
    return centred_test @ dual + target_mean


def fit_ridge(
    model: LinearTemporalModel,
    sequences: Sequence[EntrySequence],
    sources: Sequence[tuple[str, int]],
    alphas: Sequence[float],
    folds: int,
    max_rows: int,
) -> RidgeSolution:
    """Fit ``model``'s coefficients on normalised ``sequences``; each source's alpha chosen by grouped folds.

    Args:
        model: The ridge to fill.
        sequences: The training entries, normalised.
        sources: Name and width of each source, in column order.
        alphas: The regularisations tried for each source.
        folds: Folds by video the alphas are chosen with.
        max_rows: Frames fitted on at most.

    Raises:
        DataError: with no annotated frame, or fewer than 2 videos to fold.
    """
    features, targets, groups = design_matrix(model, sequences, max_rows)
    if len(np.unique(groups)) < 2:
        raise DataError(
            "the ridge chooses its alphas by folds over videos, and its training frames come from one video"
        )
    splits = grouped_folds(groups, folds)
    owners = column_sources([width for _, width in sources], len(model.config.spans))
    count, grid = len(sources), [float(alpha) for alpha in alphas]
    # The solves are small: BLAS threads would only fight torch's for the cores (ten times slower measured).
    with threadpool_limits(1, user_api="blas"):
        search = _SourceSearch(features, targets, owners, splits)
        chosen = search.best([(alpha,) * count for alpha in grid])
        for _ in range(SEARCH_ROUNDS if count > 1 else 0):
            before = chosen
            for source in range(count):
                chosen = search.best([(*chosen[:source], alpha, *chosen[source + 1 :]) for alpha in grid])
            if chosen == before:
                break
    scale = 1.0 / np.sqrt(np.asarray(chosen)[owners])
    fitted = Ridge(alpha=1.0).fit(features * scale, targets)
    with torch.no_grad():
        model.weight.copy_(torch.as_tensor(fitted.coef_ * scale, dtype=torch.float32))
        model.bias.copy_(torch.as_tensor(fitted.intercept_, dtype=torch.float32))
    named = {name: alpha for (name, _), alpha in zip(sources, chosen, strict=True)}
    return RidgeSolution(named, search.score(chosen), len(features), len(splits))
