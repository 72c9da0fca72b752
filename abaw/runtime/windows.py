"""Windows over sequences: fixed-length pieces for training, and overlapping windows averaged at inference.

A window of ``length`` frames starting at ``start`` holds the sequence's
frames ``start .. start + length - 1``; a window that runs past the end is
padded (``valid`` false there). Window starts go ``0, stride, 2 stride, ...``
and a last window ends on the sequence's last frame, so every frame is in
at least one window.

At inference a model may declare a ``context``: the frames on each side its
output at a frame depends on (the ridge's widest windowed mean). Its windows
then overlap by twice that, and each frame takes its value from a window
where its whole context lies inside (or runs to the sequence's end), so the
values are those of the whole sequence at once; the other models' windows
overlap by half and are averaged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from abaw.data.sequences import EntrySequence
from abaw.formats.types import VideoPrediction

MISSING_LABEL = -5.0


def window_starts(rows: int, window: int, stride: int) -> list[int]:
    """Start rows of the windows covering ``rows`` frames.

    Example:
        >>> window_starts(10, 4, 3), window_starts(3, 4, 2)
        ([0, 3, 6], [0])
    """
    if rows <= window:
        return [0]
    starts = list(range(0, rows - window + 1, stride))
    if starts[-1] + window < rows:
        starts.append(rows - window)
    return starts


@dataclass
class WindowBatch:
    """Windows stacked into tensors.

    Attributes:
        inputs: ``(B, T, F)`` normalised features.
        has_face: ``(B, T)`` whether a frame's visual features are real.
        valid: ``(B, T)`` false on padding.
        targets: ``(B, T, 2)`` labels (-5 where not annotated, 0 on padding).
        labelled: ``(B, T, 2)`` which targets count in the loss: annotated, per dimension, and not padding.
    """

    inputs: Tensor
    has_face: Tensor
    valid: Tensor
    targets: Tensor
    labelled: Tensor

    def to(self, device: torch.device) -> WindowBatch:
        """The batch on ``device``."""
        return WindowBatch(
            *(tensor.to(device) for tensor in (self.inputs, self.has_face, self.valid, self.targets, self.labelled))
        )


def cut_windows(sequences: Sequence[EntrySequence], window: int, stride: int) -> list[tuple[int, int]]:
    """``(sequence number, start)`` of every window of every sequence, in order."""
    return [
        (number, start)
        for number, sequence in enumerate(sequences)
        for start in window_starts(len(sequence), window, stride)
    ]


def stack_windows(sequences: Sequence[EntrySequence], windows: Sequence[tuple[int, int]], window: int) -> WindowBatch:
    """The windows as one padded batch (labels of unlabelled sequences count as missing)."""
    width = sequences[0].inputs.shape[1] if sequences else 0
    count = len(windows)
    inputs = np.zeros((count, window, width), np.float32)
    has_face = np.zeros((count, window), bool)
    valid = np.zeros((count, window), bool)
    targets = np.full((count, window, 2), MISSING_LABEL, np.float32)
    for row, (number, start) in enumerate(windows):
        sequence = sequences[number]
        stop = min(start + window, len(sequence))
        size = stop - start
        inputs[row, :size] = sequence.inputs[start:stop]
        has_face[row, :size] = sequence.has_face[start:stop]
        valid[row, :size] = True
        if sequence.labels is not None:
            targets[row, :size] = sequence.labels[start:stop]
    labelled = (targets != MISSING_LABEL) & valid[..., None]
    targets[~labelled] = 0.0
    return WindowBatch(
        torch.from_numpy(inputs),
        torch.from_numpy(has_face),
        torch.from_numpy(valid),
        torch.from_numpy(targets),
        torch.from_numpy(labelled),
    )


def predict_sequences(
    model: torch.nn.Module,
    sequences: Sequence[EntrySequence],
    window: int,
    *,
    device: torch.device,
    batch_size: int = 32,
) -> list[np.ndarray]:
    """``(rows, 2)`` predictions of every sequence: overlapping windows averaged.

    Every frame is in at least one window; values are clipped to [-1, 1]. A
    model with a ``context`` gets windows of at least ``4 * context + 1``
    frames, ``2 * context`` apart, and each frame its value from the windows
    that hold its whole context (see the module docstring).
    """
    context = int(getattr(model, "context", 0))
    if context:
        window = max(window, 4 * context + 1)
        stride = window - 2 * context
    else:
        stride = max(1, window // 2)
    windows = cut_windows(sequences, window, stride)
    sums = [np.zeros((len(sequence), 2), np.float64) for sequence in sequences]
    counts = [np.zeros((len(sequence), 1), np.float64) for sequence in sequences]
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for first in range(0, len(windows), batch_size):
                part = windows[first : first + batch_size]
                batch = stack_windows(sequences, part, window).to(device)
                output = model(batch.inputs, batch.has_face, batch.valid).float().clamp(-1.0, 1.0).cpu().numpy()
                for row, (number, start) in enumerate(part):
                    rows = len(sequences[number])
                    size = min(window, rows - start)
                    if context:
                        weight = _inside_context(start, size, rows, context)
                        sums[number][start : start + size] += output[row, :size] * weight
                        counts[number][start : start + size] += weight
                    else:
                        sums[number][start : start + size] += output[row, :size]
                        counts[number][start : start + size] += 1.0
    finally:
        model.train(was_training)
    return [total / count for total, count in zip(sums, counts, strict=True)]


def _inside_context(start: int, size: int, rows: int, context: int) -> np.ndarray:
    """``(size, 1)``: 1 for the window's frames whose ``context`` frames on each side are in it (or past the ends).

    Example:
        >>> _inside_context(4, 6, 20, 2)[:, 0].tolist()
        [0.0, 0.0, 1.0, 1.0, 0.0, 0.0]
        >>> _inside_context(0, 6, 6, 2)[:, 0].tolist()
        [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    """
    weight = np.ones((size, 1), np.float64)
    if context:
        if start > 0:
            weight[:context] = 0.0
        if start + size < rows:
            weight[size - context :] = 0.0
    return weight


def as_video_predictions(
    sequences: Sequence[EntrySequence], values: Sequence[np.ndarray]
) -> dict[str, VideoPrediction]:
    """One prediction per frame ``1..rows`` of each sequence."""
    return {
        sequence.name: VideoPrediction.consecutive(value, sequence.name)
        for sequence, value in zip(sequences, values, strict=True)
    }
