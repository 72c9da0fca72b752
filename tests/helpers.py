"""Small builders of dataset trees for tests that need no video files."""

from __future__ import annotations

import zipfile
from pathlib import Path

from abaw.data.layout import Edition


def write_annotation(path: Path, rows: list[tuple[float, float]] | str) -> Path:
    """Write an annotation file: header then ``v,a`` lines (or raw text)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(rows, str):
        path.write_text(rows)
    else:
        path.write_text("valence,arousal\n" + "".join(f"{v},{a}\n" for v, a in rows))
    return path


def write_faces(folder: Path, frames: list[int]) -> Path:
    """Create empty face images for the 1-based ``frames``."""
    folder.mkdir(parents=True, exist_ok=True)
    for frame in frames:
        (folder / f"{frame:05d}.jpg").write_bytes(b"")
    return folder


def write_jpeg_faces(folder: Path, frames: list[int], seed: int = 0, suffix: str = ".jpg") -> Path:
    """Write decodable 112x112 JPEG crops (seeded noise) for the 1-based ``frames``, named ``NNNNN`` + ``suffix``."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for frame in frames:
        pixels = rng.integers(0, 256, size=(112, 112, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{frame:05d}{suffix}", format="JPEG", quality=80)
    return folder


def jpeg_dataset(root: Path, rows: int = 6, edition: Edition = Edition.ABAW2022) -> Path:
    """:func:`tiny_dataset` with decodable crops: models can predict it (no videos, so no audio)."""
    tiny_dataset(root, edition, rows)
    for number, folder in enumerate(sorted((root / "cropped_aligned").iterdir())):
        frames = [int(path.stem) for path in folder.glob("*.jpg")]
        write_jpeg_faces(folder, frames, seed=number)
    return root


def annotation_dir(root: Path, edition: Edition, train: bool = True) -> Path:
    """The train or validation annotation folder of ``edition`` under ``root``."""
    return root / edition.annotation_parent / (edition.train_folder if train else edition.validation_folder)


def tiny_dataset(root: Path, edition: Edition = Edition.ABAW2022, rows: int = 6) -> Path:
    """A dataset without videos: two train entries (one two-person), one val entry, one test entry."""
    for name, train in (("video1", True), ("video10_1_left", True), ("102", False)):
        labels = [((i % 5) / 5 - 0.4, 0.3 - (i % 3) / 5) for i in range(rows)]
        labels[1] = (-5, -5)
        write_annotation(annotation_dir(root, edition, train) / f"{name}.txt", labels)
        write_faces(root / "cropped_aligned" / name, [f for f in range(1, rows + 1) if f != 3])
    write_faces(root / "cropped_aligned" / "200", list(range(1, rows + 1)))
    (root / "test_set_VA_Challenge.txt").write_text("200\n")
    return root


def write_zip_bomb(path: Path, members: dict[str, int]) -> Path:
    """A zip whose members unpack to the given sizes of ``0.1,0.2`` lines after a per-video header.

    The lines stream through deflate 1 MiB at a time, so writing a member of
    hundreds of megabytes holds 1 MiB and leaves a file of a few hundred KiB.
    """
    header = b"valence,arousal\n"
    chunk = b"0.1,0.2\n" * (1 << 17)
    with zipfile.ZipFile(path, "w") as archive:
        for name, size in members.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            info._compresslevel = 1  # the fastest: the point is the size unpacked, not the ratio
            with archive.open(info, "w", force_zip64=True) as member:
                member.write(header)
                for start in range(len(header), size, len(chunk)):
                    member.write(chunk[: size - start])
    return path


def untrained_checkpoint(path: Path, seed: int = 0) -> Path:
    """A disc-tiny with random weights saved as ``abaw train`` saves it: varied predictions, no training time."""
    import torch

    from abaw.model import create_model
    from abaw.runtime.checkpoint import save_checkpoint
    from abaw.training.config import TrainConfig

    torch.manual_seed(seed)
    model = create_model("disc-tiny").eval()
    payload = {
        "config": TrainConfig(variant="disc-tiny").to_dict(),
        "model_config": model.config.to_dict(),
        "model": model.state_dict(),
        "audio": None,
        "epoch": 1,
    }
    return save_checkpoint(path, payload)
