"""Peak signal-to-noise ratio of face images, and of the generator's cleaned faces against the clean ones.

Faces are float arrays in [-1, 1] (pixel ``p`` in [0, 255] is ``p / 127.5 - 1``),
so the peak-to-peak range is 2 and ``PSNR = 10 log10(2^2 / MSE)``: the same
number as on [0, 255] pixels with ``255^2``. Each face gets its own PSNR and
a set of faces reports their mean. Two identical faces have an infinite
PSNR; it is capped at :data:`PSNR_CAP` so that a mean stays a number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["PSNR_CAP", "FacePsnr", "measure_generator_psnr", "psnr"]

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


@dataclass(frozen=True)
class FacePsnr:
    """How close the generator brings degraded faces to the clean ones.

    Attributes:
        output: Mean PSNR (dB) of the generator's output ``G(noisy)`` against the clean face.
        noisy: Mean PSNR (dB) of its noisy input against the clean face.
        faces: How many faces were measured.
    """

    output: float
    noisy: float
    faces: int

    @property
    def gain(self) -> float:
        """``output - noisy``: positive when the generator cleans, negative when it damages."""
        return self.output - self.noisy

    def to_dict(self) -> dict[str, float | int]:
        """A JSON-ready dictionary."""
        return {"output": self.output, "noisy": self.noisy, "gain": self.gain, "faces": self.faces}


def measure_generator_psnr(
    trained, faces: Sequence[np.ndarray] | np.ndarray, *, seed: int = 0, batch_size: int = 64
) -> FacePsnr:
    """Degrade ``faces`` with the run's training noise (every face, seeded) and measure PSNR before and after cleaning.

    The noise is the one the run trained with (:func:`abaw.plots.run.run_noise`:
    its artifacts, none left clean), drawn as the reconstruction figure draws
    it, so the same seed and faces give every model the same noisy inputs.

    Args:
        trained: A :class:`~abaw.prediction.predict.TrainedModel` with a generator.
        faces: ``uint8`` ``(n, 3, H, W)`` clean faces (n >= 1).
        seed: Seeds the noise; batch ``k`` uses ``seed + k``.
        batch_size: Faces per generator pass.

    Raises:
        ValueError: when the model has no generator or there is no face.
    """
    from abaw.plots.reconstruction import reconstruct_faces
    from abaw.plots.run import run_noise

    faces = np.asarray(faces)
    if not len(faces):
        raise ValueError("no face to measure the generator's PSNR on")
    noise = run_noise(trained)
    output, noisy = [], []
    for number, start in enumerate(range(0, len(faces), batch_size)):
        result = reconstruct_faces(trained, faces[start : start + batch_size], noise, seed + number)
        output.append(psnr(result.cleaned, result.clean))
        noisy.append(psnr(result.noisy, result.clean))
    return FacePsnr(float(np.concatenate(output).mean()), float(np.concatenate(noisy).mean()), len(faces))
