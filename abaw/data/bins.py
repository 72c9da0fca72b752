"""The 21 affect classes per dimension used for class-balanced loss weights.

A value ``v`` in [-1, 1] falls in bin ``round(10 * v + 10)``, rounding halves
away from zero as the paper's Python 2 code did (NumPy's ``round`` would send
halves to the even neighbour).
"""

from __future__ import annotations

import numpy as np

N_AFFECT_BINS = 21
BIN_CENTRES = np.linspace(-1.0, 1.0, N_AFFECT_BINS)


def affect_bins(values: np.ndarray) -> np.ndarray:
    """Map values in [-1, 1] to bin indices 0..20.

    Example:
        >>> affect_bins(np.array([-1.0, -0.05, 0.05, 0.14, 1.0])).tolist()
        [0, 10, 11, 11, 20]
    """
    scaled = 10.0 * np.asarray(values, dtype=np.float64) + 10.0
    return np.clip(np.floor(scaled + 0.5), 0, N_AFFECT_BINS - 1).astype(np.int64)


def bin_counts(values: np.ndarray) -> np.ndarray:
    """Count values per bin (length 21, starting from zero).

    Example:
        >>> bin_counts(np.array([0.0, 0.01, 1.0]))[[10, 20]].tolist()
        [2, 1]
    """
    return np.bincount(affect_bins(values).ravel(), minlength=N_AFFECT_BINS)
