"""Peak signal-to-noise ratio (PSNR) of face images against reference faces.

Faces are float arrays in [-1, 1] (pixel ``p`` in [0, 255] is ``p / 127.5 - 1``),
so the peak-to-peak range is 2 and ``PSNR = 10 log10(2^2 / MSE)``: the same
number as on [0, 255] pixels with ``255^2``. Each face gets its own PSNR and
a set of faces reports their mean. Two identical faces have an infinite
PSNR; it is capped at :data:`PSNR_CAP` so that a mean stays a number.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PSNR_CAP", "psnr"]

PSNR_CAP = 100.0
"""dB given to a face equal (to within ``4e-10`` mean squared error) to its reference."""

_PEAK_TO_PEAK = 2.0


def psnr(images: np.ndarray, references: np.ndarray) -> np.ndarray:
    """PSNR in dB of each image against its reference, both ``(n, C, H, W)`` (or one ``(C, H, W)``) in [-1, 1].

    Returns:
        One value per image (a 0-d array for one image), at most :data:`PSNR_CAP`.

    Raises:
        ValueError: when the shapes differ.

    Example:
        >>> clean = np.zeros((2, 3, 4, 4))
        >>> psnr(clean + np.array([0.02, 0.2]).reshape(2, 1, 1, 1), clean).round(3).tolist()
        [40.0, 20.0]
        >>> float(psnr(clean[0], clean[0]))
        100.0
    """
    images = np.asarray(images, dtype=np.float64)
    references = np.asarray(references, dtype=np.float64)
    if images.shape != references.shape:
        raise ValueError(f"images {images.shape} and references {references.shape} differ in shape")
    single = images.ndim == 3
    if single:
        images, references = images[None], references[None]
    error = ((images - references) ** 2).reshape(len(images), -1).mean(axis=1)
    floor = _PEAK_TO_PEAK**2 / 10.0 ** (PSNR_CAP / 10.0)
    values = 10.0 * np.log10(_PEAK_TO_PEAK**2 / np.maximum(error, floor))
    return values[0] if single else values
