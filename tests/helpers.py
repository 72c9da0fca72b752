"""Small builders of dataset trees for tests that need no video files."""

from __future__ import annotations

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
