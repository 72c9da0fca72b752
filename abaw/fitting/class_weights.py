"""Class-balanced weights of the affect loss's RMSE term (the paper's eq. 6).

Each dimension (valence, arousal) is binned into 21 classes with
:func:`abaw.data.bins.affect_bins`. From the labels actually trained on,
count ``n_i`` per bin starting from zero, add 1 to every bin so none is empty,
and take ``p_i = n_i / N`` (``N`` the smoothed total). Weights are
proportional to ``1 / p_i``, scaled so that their mean over the training
samples is 1: ``sum_i (m_i / M) w_i = 1`` where ``m_i`` are the raw counts and
``M`` the number of samples. A weighted RMSE therefore stays on the scale of
the unweighted one.

A sample's valence weight is looked up with its valence bin, its arousal
weight with its arousal bin. The authors' code started the counts at 0..20,
used the valence bin for both, and mixed ``round`` and ``int``: bugs not
copied here.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from abaw.data.bins import N_AFFECT_BINS, bin_counts

__all__ = ["class_balanced_weights", "sample_weights"]


def class_balanced_weights(labels: np.ndarray) -> np.ndarray:
    """Per-bin weights of valence and arousal from the training labels.

    Args:
        labels: ``(N, 2)`` valence and arousal of the frames trained on, all
            annotated (no -5), every value in [-1, 1].

    Returns:
        ``float32`` array ``(2, 21)``: row 0 valence, row 1 arousal. The mean
        weight of a row over the given samples is 1.

    Raises:
        ValueError: for a wrong shape, no rows, or a value outside [-1, 1]
            (which includes the -5 of unannotated frames and NaN).

    Example:
        >>> w = class_balanced_weights(np.array([[0.0, 0.5], [0.0, 0.5], [1.0, 0.5]]))
        >>> w.shape, w.dtype
        ((2, 21), dtype('float32'))
        >>> (7 * w[0, [10, 20, 0]]).round(4).tolist()  # valence bins with 2, 1 and 0 samples
        [6.0, 9.0, 18.0]
        >>> w[1, [15, 0]].tolist()  # every arousal in bin 15
        [1.0, 4.0]
    """
    values = np.asarray(labels, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != 2:
        raise ValueError(f"expected labels of shape (N, 2), got {values.shape}")
    if len(values) == 0:
        raise ValueError("no labels to compute class weights from")
    # Written as a negated range test so that NaN fails it too.
    outside = ~((values >= -1.0) & (values <= 1.0))
    if outside.any():
        row = int(np.argwhere(outside)[0][0])
        raise ValueError(f"labels must be in [-1, 1] (pass annotated frames only); row {row} is {values[row].tolist()}")
    weights = np.empty((2, N_AFFECT_BINS), dtype=np.float64)
    for dimension in range(2):
        raw = bin_counts(values[:, dimension]).astype(np.float64)
        smoothed = raw + 1.0
        inverse = smoothed.sum() / smoothed
        weights[dimension] = inverse / (raw @ inverse / raw.sum())
    return weights.astype(np.float32)


def _bins(values: Tensor) -> Tensor:
    """Torch twin of :func:`abaw.data.bins.affect_bins`, in float64 so the bins are identical."""
    scaled = 10.0 * values.to(torch.float64) + 10.0
    # 10 v + 10 >= 0 on [-1, 1], so floor(x + 0.5) rounds halves away from zero.
    return torch.floor(scaled + 0.5).clamp_(0, N_AFFECT_BINS - 1).long()


def sample_weights(targets: Tensor, class_weights: Tensor) -> Tensor:
    """Look up each sample's valence and arousal weight.

    Args:
        targets: ``(B, 2)`` valence and arousal labels. Values outside
            [-1, 1] fall in the end bins, as with ``affect_bins``.
        class_weights: ``(2, 21)`` weights from :func:`class_balanced_weights`
            (as a tensor); moved to the targets' device if needed.

    Returns:
        ``(B, 2)`` weights on the targets' device, in ``class_weights``'s dtype:
        column 0 from the valence bin, column 1 from the arousal bin.

    Raises:
        ValueError: for wrong shapes.

    Note:
        Bins are computed in float64 from the targets' values. A label exactly
        halfway between bins (0.05, -0.15, ...) stored as float32 is a hair
        off the half and may land in the other bin than its float64 original:
        compute the class weights from the labels in the dtype trained on if
        that matters.

    Example:
        >>> weights = torch.arange(42, dtype=torch.float32).reshape(2, 21)
        >>> sample_weights(torch.tensor([[-1.0, 1.0], [0.05, -0.05]], dtype=torch.float64), weights).tolist()
        [[0.0, 41.0], [11.0, 31.0]]
    """
    if targets.ndim != 2 or targets.shape[1] != 2:
        raise ValueError(f"expected targets of shape (B, 2), got {tuple(targets.shape)}")
    if tuple(class_weights.shape) != (2, N_AFFECT_BINS):
        raise ValueError(f"expected class weights of shape (2, {N_AFFECT_BINS}), got {tuple(class_weights.shape)}")
    table = class_weights.to(targets.device)
    dimension = torch.arange(2, device=targets.device).unsqueeze(0)
    return table[dimension, _bins(targets)]
