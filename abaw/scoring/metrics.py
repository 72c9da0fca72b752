"""The challenge metric and the companion statistics the ABAW papers report.

All statistics use population moments (``ddof=0``) in ``float64``, as the
organisers' evaluation does. The challenge score is the mean of the valence
and arousal concordance correlation coefficients (CCC), computed over the
valid frames of all videos of a split concatenated, never averaged per video.

Degenerate inputs, decided once here:

* Empty input, arrays of different lengths, or non-finite values raise
  :class:`ValueError`: a score over nothing, or over NaN, is a bug upstream.
* :func:`pcc` is ``nan`` when either input is constant (the correlation is
  undefined; reporting 0 or 1 would be a made-up number).
* :func:`ccc` follows its formula, which stays defined when one side is
  constant (the covariance is 0, so CCC is 0). The denominator is zero only
  when both sides are the same constant: CCC is then 1.0 (perfect agreement).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from abaw.data.annotations import valid_rows

__all__ = ["AffectScores", "ccc", "mse", "pcc", "rmse", "score_frames"]


def _pair(pred: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return both inputs as finite 1-D ``float64`` arrays of one non-zero length."""
    p = np.asarray(pred, dtype=np.float64)
    t = np.asarray(true, dtype=np.float64)
    if p.ndim != 1 or t.ndim != 1:
        raise ValueError(f"expected 1-D arrays, got shapes {p.shape} and {t.shape}")
    if len(p) != len(t):
        raise ValueError(f"predictions have {len(p)} values, labels {len(t)}")
    if len(p) == 0:
        raise ValueError("no values to score")
    if not (np.isfinite(p).all() and np.isfinite(t).all()):
        raise ValueError("values to score must be finite")
    return p, t


def _moments(p: np.ndarray, t: np.ndarray) -> tuple[float, float, float, float, float]:
    """Means, population variances and covariance, from centred values for accuracy."""
    mean_p, mean_t = float(p.mean()), float(t.mean())
    dp, dt = p - mean_p, t - mean_t
    n = len(p)
    return mean_p, mean_t, float(dp @ dp) / n, float(dt @ dt) / n, float(dp @ dt) / n


def ccc(pred: np.ndarray, true: np.ndarray) -> float:
    """Concordance correlation coefficient, ``2 cov / (var_p + var_t + (mean_p - mean_t)^2)``.

    Args:
        pred: Predicted values, 1-D.
        true: Labels, 1-D, same length.

    Returns:
        A value in [-1, 1]; 1.0 when both inputs are the same constant.

    Raises:
        ValueError: for empty, mismatched or non-finite input.

    Example:
        >>> ccc([0.1, 0.2, 0.3], [0.1, 0.2, 0.3])
        1.0
        >>> round(ccc([0.2, 0.3, 0.4], [0.1, 0.2, 0.3]), 4)
        0.5714
    """
    p, t = _pair(pred, true)
    mean_p, mean_t, var_p, var_t, cov = _moments(p, t)
    denominator = var_p + var_t + (mean_p - mean_t) ** 2
    if denominator == 0.0:
        return 1.0
    return 2.0 * cov / denominator


def pcc(pred: np.ndarray, true: np.ndarray) -> float:
    """Pearson correlation coefficient; ``nan`` when either input is constant.

    Example:
        >>> pcc([1.0, 2.0, 3.0], [2.0, 4.0, 6.0])
        1.0
        >>> pcc([1.0, 1.0], [0.0, 1.0])
        nan
    """
    p, t = _pair(pred, true)
    _, _, var_p, var_t, cov = _moments(p, t)
    if var_p == 0.0 or var_t == 0.0:
        return float("nan")
    # Rounding can push |r| a hair past 1 for perfectly correlated input.
    return float(np.clip(cov / np.sqrt(var_p * var_t), -1.0, 1.0))


def mse(pred: np.ndarray, true: np.ndarray) -> float:
    """Mean squared error.

    Example:
        >>> mse([0.0, 1.0], [0.0, 0.5])
        0.125
    """
    p, t = _pair(pred, true)
    d = p - t
    return float(d @ d) / len(d)


def rmse(pred: np.ndarray, true: np.ndarray) -> float:
    """Root mean squared error.

    Example:
        >>> rmse([0.0, 1.0], [0.0, 0.0])
        0.7071067811865476
    """
    return float(np.sqrt(mse(pred, true)))


@dataclass(frozen=True)
class AffectScores:
    """Valence and arousal scores over one set of frames.

    Attributes:
        ccc_valence: Concordance correlation of valence.
        ccc_arousal: Concordance correlation of arousal.
        pcc_valence: Pearson correlation of valence (``nan`` if constant).
        pcc_arousal: Pearson correlation of arousal (``nan`` if constant).
        mse_valence: Mean squared error of valence.
        mse_arousal: Mean squared error of arousal.
        rmse_valence: Root mean squared error of valence.
        rmse_arousal: Root mean squared error of arousal.
        frames: How many frames were scored (annotated frames only).
    """

    ccc_valence: float
    ccc_arousal: float
    pcc_valence: float
    pcc_arousal: float
    mse_valence: float
    mse_arousal: float
    rmse_valence: float
    rmse_arousal: float
    frames: int

    @property
    def ccc_mean(self) -> float:
        """The challenge score: the mean of the valence and arousal CCC."""
        return (self.ccc_valence + self.ccc_arousal) / 2.0

    def to_dict(self) -> dict[str, float | int]:
        """All fields and ``ccc_mean``, for JSON reports.

        Example:
            >>> s = score_frames(np.array([[0.1, 0.2], [0.3, 0.1]]), np.array([[0.1, 0.2], [0.3, 0.1]]))
            >>> s.to_dict()["ccc_mean"], s.to_dict()["frames"]
            (1.0, 2)
        """
        return {"ccc_mean": self.ccc_mean, **asdict(self)}


def score_frames(pred: np.ndarray, labels: np.ndarray) -> AffectScores:
    """Score frame-aligned predictions against labels, the challenge's way.

    Rows where either label is -5 (not annotated) are dropped, predictions
    are clipped to [-1, 1] (as the submission rules require), and every
    statistic is computed over all remaining rows at once. To score a split,
    concatenate its videos first; averaging per-video scores gives a
    different (wrong) number.

    Args:
        pred: ``(n, 2)`` predicted valence and arousal.
        labels: ``(n, 2)`` labels, -5 for a frame without annotation.

    Raises:
        ValueError: if the shapes differ or are not ``(n, 2)``, if no row is
            annotated, or if a value is not finite.

    Example:
        >>> labels = np.array([[0.5, 0.1], [-5, 0.2], [0.1, 0.3], [-0.2, -0.4]])
        >>> pred = np.array([[0.5, 0.1], [0.9, 0.9], [0.1, 0.3], [-0.2, -0.4]])
        >>> s = score_frames(pred, labels)
        >>> s.frames, s.ccc_mean
        (3, 1.0)
    """
    p = np.asarray(pred, dtype=np.float64)
    t = np.asarray(labels, dtype=np.float64)
    if p.ndim != 2 or p.shape[1:] != (2,) or p.shape != t.shape:
        raise ValueError(f"expected two (n, 2) arrays, got shapes {p.shape} and {t.shape}")
    keep = valid_rows(t)
    if not keep.any():
        raise ValueError("no annotated frame to score (every row has a -5 label)")
    p = np.clip(p[keep], -1.0, 1.0)
    t = t[keep]
    columns = [(p[:, k], t[:, k]) for k in range(2)]
    errors = [mse(*column) for column in columns]
    return AffectScores(
        ccc_valence=ccc(*columns[0]),
        ccc_arousal=ccc(*columns[1]),
        pcc_valence=pcc(*columns[0]),
        pcc_arousal=pcc(*columns[1]),
        mse_valence=errors[0],
        mse_arousal=errors[1],
        rmse_valence=float(np.sqrt(errors[0])),
        rmse_arousal=float(np.sqrt(errors[1])),
        frames=int(keep.sum()),
    )
