"""What the auto-encoder generator does to noisy faces, and its latent map (the paper's Fig. 2).

One row per face: the clean input, the same face degraded by the training
noise, the generator's cleaned output, and a few channels of the latent map
as grayscale heatmaps. Under the noisy and the cleaned face stands its PSNR
against the clean one (:mod:`abaw.scoring.psnr`), and the title gives
both means, so the figure says whether the generator cleans or damages. The noisy column always shows an artifact (the
training noise model leaves half the faces clean, which would make the
column repeat the first); the artifacts and levels are drawn uniformly as in
training, seeded, and named under each noisy face.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from abaw.data.index import DatasetIndex
from abaw.data.layout import Split
from abaw.data.samples import images_to_float, read_face_image, select_frames
from abaw.errors import DataError
from abaw.plots.affect import new_figure, save_figure
from abaw.prediction.members import TrainedModel
from abaw.scoring.psnr import psnr
from abaw.training.noise import NoiseConfig, apply_artifact

__all__ = [
    "FaceSample",
    "Reconstruction",
    "plot_reconstruction",
    "reconstruct_faces",
    "sample_degraded_faces",
    "sample_faces",
]

PAPER_NOISE = NoiseConfig()
"""The paper's four artifacts; runs store their own (see :func:`abaw.plots.run.run_noise`)."""


@dataclass(frozen=True)
class FaceSample:
    """One face image of a split.

    Attributes:
        entry: The entry's name.
        frame: Its 1-based frame number.
        image: ``uint8`` ``(3, H, W)``.
        note: What the frame carries (e.g. its degradations), or ``""``.
    """

    entry: str
    frame: int
    image: np.ndarray
    note: str = ""

    @property
    def caption(self) -> str:
        """``entry #frame``, and the note on a second line, for row labels."""
        return f"{self.entry} #{self.frame}" + (f"\n{self.note}" if self.note else "")


def sample_faces(index: DatasetIndex, split: Split, count: int, seed: int = 0) -> list[FaceSample]:
    """Draw ``count`` face frames of ``split`` (all of them if fewer), the same ones for the same seed.

    Returned in split order (entry name, then frame).

    Raises:
        DataError: when the split has no face image, or one cannot be read (naming the file).
    """
    samples = select_frames(index, index.split(split), labelled=False)
    if not len(samples):
        raise DataError(f"the {split.value} split has no face image to show", path=index.layout.root)
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(samples), size=min(count, len(samples)), replace=False))
    faces = []
    for row in rows:
        name = samples.names[int(samples.entry_ids[row])]
        frame = int(samples.frames[row])
        path = index.entries[name].image_path(frame)
        faces.append(FaceSample(name, frame, read_face_image(path)))
    return faces


def sample_degraded_faces(index: DatasetIndex, split: Split, count: int, seed: int = 0) -> list[FaceSample]:
    """Draw up to ``count`` face frames of ``split`` that the generated data recorded as degraded, seeded.

    Returns ``[]`` for a dataset without a degradation record (the real data).
    Each face's note names its degradations.

    Raises:
        DataError: when a face image or the record cannot be read (naming the file).
    """
    from abaw.synthetic.degradations import read_degradations

    records = read_degradations(index.layout.root)
    samples = select_frames(index, index.split(split), labelled=False)
    rows = []
    for row in range(len(samples)):
        record = records.get(samples.names[int(samples.entry_ids[row])])
        frame = int(samples.frames[row])
        if record is not None and frame <= len(record) and record.rows[frame - 1]:
            rows.append(row)
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(len(rows), size=min(count, len(rows)), replace=False)) if rows else []
    faces = []
    for pick in chosen:
        row = rows[int(pick)]
        name = samples.names[int(samples.entry_ids[row])]
        frame = int(samples.frames[row])
        kinds = ", ".join(sorted(kind.value for kind in records[name].rows[frame - 1]))
        path = index.entries[name].image_path(frame)
        faces.append(FaceSample(name, frame, read_face_image(path), kinds))
    return faces


@dataclass(frozen=True)
class Reconstruction:
    """The columns of a reconstruction figure, as arrays.

    Attributes:
        clean: ``float32`` ``(n, 3, H, W)`` inputs in [-1, 1].
        noisy: The same faces degraded, ``(n, 3, H, W)``.
        cleaned: The generator's output for ``noisy``, ``(n, 3, H, W)``.
        latent: The generator's latent map for ``noisy``, ``(n, C, h, w)``.
        artifacts: What degraded each face, e.g. ``"blur 3"``.
    """

    clean: np.ndarray
    noisy: np.ndarray
    cleaned: np.ndarray
    latent: np.ndarray
    artifacts: list[str]

    @property
    def noisy_psnr(self) -> np.ndarray:
        """PSNR (dB) of each noisy face against its clean face."""
        return psnr(self.noisy, self.clean)

    @property
    def cleaned_psnr(self) -> np.ndarray:
        """PSNR (dB) of each cleaned face against its clean face."""
        return psnr(self.cleaned, self.clean)

    def busiest_channels(self, count: int) -> list[int]:
        """The ``count`` latent channels that vary most over the shown faces, most varied first.

        Example:
            >>> latent = np.zeros((2, 3, 4, 4), np.float32)
            >>> latent[0, 2] = 1.0
            >>> latent[1, 0, 0, 0] = 1.0
            >>> Reconstruction(latent, latent, latent, latent, ["", ""]).busiest_channels(2)
            [2, 0]
        """
        variance = self.latent.astype(np.float64).transpose(1, 0, 2, 3).reshape(self.latent.shape[1], -1).var(axis=1)
        order = np.argsort(-variance, kind="stable")
        return [int(channel) for channel in order[: max(0, count)]]


def _draw_artifacts(count: int, noise: NoiseConfig, rng: np.random.Generator) -> list[tuple[str, float]]:
    """One (artifact, level) per face, each uniform as :func:`~abaw.training.noise.add_noise` draws them."""
    draws = []
    for _ in range(count):
        artifact = noise.artifacts[int(rng.integers(len(noise.artifacts)))]
        draws.append((artifact.value, float(artifact.levels[int(rng.integers(len(artifact.levels)))])))
    return draws


def reconstruct_faces(
    trained: TrainedModel, images: np.ndarray | torch.Tensor, noise: NoiseConfig = PAPER_NOISE, seed: int = 0
) -> Reconstruction:
    """Degrade ``images`` with the training noise and clean them with the model's generator.

    Args:
        trained: A model with a generator (not ``disc`` or a regressor).
        images: ``uint8`` ``(n, 3, H, W)`` as :func:`~abaw.data.samples.read_face_image`
            returns them, or float in [-1, 1].
        noise: The run's noise model; its artifacts are used, never its clean pass-through.
            Without artifacts the noisy column repeats the clean face.
        seed: Seeds the artifact draws and their randomness (Gaussian noise, occlusion).

    Raises:
        ValueError: when the model has no generator.
    """
    if trained.model.generator is None:
        raise ValueError(f"model {trained.variant!r} has no generator to reconstruct faces with")
    clean = images.detach().cpu() if isinstance(images, torch.Tensor) else torch.from_numpy(np.asarray(images))
    clean = images_to_float(clean) if clean.dtype == torch.uint8 else clean.float()
    generator = torch.Generator().manual_seed(seed)
    draws = _draw_artifacts(len(clean), noise, np.random.default_rng(seed)) if noise.artifacts else []
    noisy = clean.clone()
    for row, (artifact, level) in enumerate(draws):
        noisy[row : row + 1] = apply_artifact(clean[row : row + 1], artifact, level, generator)
    with torch.inference_mode():
        cleaned, latent = trained.model.generate(noisy.to(trained.device))
    return Reconstruction(
        clean=clean.numpy(),
        noisy=noisy.numpy(),
        cleaned=cleaned.float().cpu().numpy(),
        latent=latent.float().cpu().numpy(),
        artifacts=[f"{artifact} {level:g}" for artifact, level in draws] or ["no noise"] * len(clean),
    )


def _clean_real_frames(
    trained: TrainedModel, frames: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``(frames, G(frames), latent)`` in [-1, 1] for frames degraded in the data, or ``None`` for none."""
    if frames is None or not len(frames):
        return None
    inputs = images_to_float(torch.from_numpy(np.asarray(frames)))
    with torch.inference_mode():
        cleaned, latent = trained.model.generate(inputs.to(trained.device))
    return inputs.numpy(), cleaned.float().cpu().numpy(), latent.float().cpu().numpy()


def _as_picture(image: np.ndarray) -> np.ndarray:
    """``(3, H, W)`` in [-1, 1] to ``(H, W, 3)`` in [0, 1] for ``imshow``."""
    return np.clip((image.transpose(1, 2, 0) + 1.0) / 2.0, 0.0, 1.0)


def plot_reconstruction(
    trained: TrainedModel,
    images: np.ndarray | torch.Tensor,
    path: str | os.PathLike,
    *,
    noise: NoiseConfig = PAPER_NOISE,
    captions: Sequence[str] | None = None,
    latent_channels: int = 4,
    seed: int = 0,
    degraded: np.ndarray | None = None,
    degraded_captions: Sequence[str] | None = None,
    force: bool = False,
) -> tuple[Reconstruction, list[int]]:
    """Draw clean, noisy and cleaned faces with the busiest latent channels, and write the PNG.

    Each latent channel is drawn with one gray scale over all rows (black
    lowest, white highest), so the rows of a column compare. Frames degraded
    in the data itself (``degraded``) get rows of their own below: the frame
    as the dataset has it, and the generator's output for it (no clean face
    exists, so no PSNR).

    Args:
        trained: A model with a generator.
        images: The faces, see :func:`reconstruct_faces`.
        path: The PNG to write (its folder is created).
        noise: The run's noise model.
        captions: One label per row (e.g. ``entry #frame``).
        latent_channels: How many latent channels to show.
        seed: Seeds the noise.
        degraded: ``uint8`` ``(m, 3, H, W)`` frames degraded in the data, or ``None``.
        degraded_captions: One label per degraded frame.
        force: Replace an existing file.

    Returns:
        The arrays drawn and the latent channels shown.

    Raises:
        OutputExistsError: when ``path`` exists and ``force`` is false.
        ValueError: when the model has no generator.

    Example:
        >>> from abaw.model import create_model
        >>> import tempfile, pathlib
        >>> model = create_model("aeg-cd-tiny").eval()
        >>> trained = TrainedModel(model, torch.device("cpu"), pathlib.Path("x.pt"), 0)
        >>> faces = np.zeros((2, 3, 112, 112), np.uint8)
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "reconstruction.png"
        >>> _, channels = plot_reconstruction(trained, faces, out, latent_channels=2)
        >>> out.is_file(), len(channels)
        (True, 2)
    """
    result = reconstruct_faces(trained, images, noise, seed)
    channels = result.busiest_channels(latent_channels)
    real = _clean_real_frames(trained, degraded)
    rows = len(result.clean) + (0 if real is None else len(real[0]))
    noisy_psnr, cleaned_psnr = result.noisy_psnr, result.cleaned_psnr
    titles = ["clean input", "noisy input", "cleaned output", *(f"latent ch {channel}" for channel in channels)]
    figure = new_figure(1.6 * len(titles) + 0.6, 1.75 * rows + 0.5)
    axes = np.asarray(figure.subplots(rows, len(titles), squeeze=False))
    latent = result.latent if real is None else np.concatenate([result.latent, real[2]])
    for column, channel in enumerate(channels, start=3):
        values = latent[:, channel]
        low, high = float(values.min()), float(values.max())
        for row in range(rows):
            axes[row, column].imshow(values[row], cmap="gray", vmin=low, vmax=high if high > low else low + 1.0)
    for row in range(len(result.clean)):
        for column, images_of_column in enumerate((result.clean, result.noisy, result.cleaned)):
            axes[row, column].imshow(_as_picture(images_of_column[row]))
        axes[row, 1].set_xlabel(f"{result.artifacts[row]}: {noisy_psnr[row]:.1f} dB", fontsize="small")
        axes[row, 2].set_xlabel(f"{cleaned_psnr[row]:.1f} dB", fontsize="small")
        if captions is not None:
            axes[row, 0].set_ylabel(captions[row], fontsize="small")
    if real is not None:
        for number, (frame, cleaned) in enumerate(zip(real[0], real[1], strict=True)):
            row = len(result.clean) + number
            axes[row, 0].imshow(_as_picture(frame))
            axes[row, 0].set_xlabel("degraded in the data", fontsize="small")
            axes[row, 1].axis("off")
            axes[row, 2].imshow(_as_picture(cleaned))
            axes[row, 2].set_xlabel("no clean face: no PSNR", fontsize="small")
            if degraded_captions is not None:
                axes[row, 0].set_ylabel(degraded_captions[number], fontsize="small")
    for (row, column), ax in np.ndenumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        if row == 0:
            ax.set_title(titles[column], fontsize="medium")
    figure.suptitle(
        f"{trained.variant}, {trained.model.config.generator.value} generator: its input, output and latent map\n"
        f"PSNR against the clean face: noisy {noisy_psnr.mean():.1f} dB, cleaned {cleaned_psnr.mean():.1f} dB"
    )
    save_figure(figure, path, force=force)
    return result, channels
