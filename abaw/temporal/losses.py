"""The temporal losses over windows: the toolkit's affect loss or 1 - CCC, per dimension over its labelled frames.

A frame counts for a dimension when that dimension is annotated (not -5)
and the frame is not padding, so valence and arousal may use different
frames. The statistics (CCC, PCC, RMSE) are taken over every counted frame
of the batch, all windows together.
"""

from __future__ import annotations

import torch
from torch import Tensor

from abaw.fitting.affect_loss import DIMENSIONS, affect_loss, batch_ccc
from abaw.fitting.class_weights import sample_weights
from abaw.temporal.config import TemporalLoss


def _as_pair(values: Tensor) -> Tensor:
    """One dimension as the ``(N, 2)`` the toolkit's losses take (both columns equal: each term counts twice)."""
    return torch.stack([values, values], dim=1)


def window_loss(
    pred: Tensor, targets: Tensor, labelled: Tensor, kind: TemporalLoss, class_weights: Tensor | None = None
) -> tuple[Tensor, dict[str, float]]:
    """The loss of ``(B, T, 2)`` predictions, and its terms for the logs.

    Args:
        pred: Predicted valence and arousal.
        targets: Labels (any value where not ``labelled``).
        labelled: ``(B, T, 2)`` which targets count.
        kind: affect (class-balanced RMSE - PCC - CCC) or ccc (1 - CCC).
        class_weights: ``(2, bins)`` weights of the affect loss; ``None``: unweighted.

    Returns:
        The scalar loss summed over the dimensions that have at least two
        counted frames (zero with a gradient when none has), and its terms.
    """
    flat_pred, flat_targets, flat_labelled = pred.reshape(-1, 2), targets.reshape(-1, 2), labelled.reshape(-1, 2)
    weights = None
    if kind is TemporalLoss.AFFECT and class_weights is not None:
        weights = sample_weights(flat_targets, class_weights)
    total = pred.sum() * 0.0
    terms: dict[str, float] = {}
    for column, name in enumerate(DIMENSIONS):
        rows = flat_labelled[:, column]
        if int(rows.sum()) < 2:
            continue
        p, t = _as_pair(flat_pred[rows, column]), _as_pair(flat_targets[rows, column])
        if kind is TemporalLoss.CCC:
            ccc = batch_ccc(p, t)[0]
            total = total + (1.0 - ccc)
            terms[f"ccc/{name}"] = float(ccc.detach())
            continue
        w = None if weights is None else _as_pair(weights[rows, column])
        loss, parts = affect_loss(p, t, w)
        total = total + loss / 2.0  # the pair counts the dimension twice
        for term in ("rmse", "pcc", "ccc"):
            terms[f"{term}/{name}"] = float(parts[f"{term}/valence"])
    terms["loss"] = float(total.detach())
    return total, terms
