"""How close the generator brings degraded faces to the clean ones: PSNR before and after cleaning."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from abaw.scoring.psnr import psnr

__all__ = ["FacePsnr", "measure_generator_psnr"]


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
