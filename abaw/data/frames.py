"""Face-crop folders: ``cropped_aligned/<name>/00001.jpg``, one image per detected face.

Image ``%05d.jpg`` % ``i`` is video frame ``i`` (1-based), the face of
annotation row ``i - 1``. A missing image means no face was found in that
frame; the frame still exists in the video and in the annotation file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from abaw.errors import DataError

IMAGE_SUFFIX = ".jpg"
FRAME_DIGITS = 5
CROP_SIZE = (112, 112)


def frame_image_name(frame: int) -> str:
    """The file name of 1-based ``frame``.

    Example:
        >>> frame_image_name(7)
        '00007.jpg'
    """
    return f"{frame:0{FRAME_DIGITS}d}{IMAGE_SUFFIX}"


def list_face_frames(folder: str | os.PathLike) -> np.ndarray:
    """Return the sorted 1-based frame numbers that have a face image in ``folder``.

    Files that are not ``NNNNN.jpg`` are ignored, so a stray
    ``Thumbs.db`` or a hidden file does not count as a frame.

    Raises:
        DataError: naming the folder when it cannot be listed.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> for name in ("00002.jpg", "00001.jpg", "notes.txt"):
        ...     _ = (d / name).write_bytes(b"")
        >>> list_face_frames(d).tolist()
        [1, 2]
    """
    try:
        names = os.listdir(folder)
    except OSError as error:
        raise DataError(error.strerror or "cannot be listed", path=folder) from None
    numbers = [
        int(name[:FRAME_DIGITS])
        for name in names
        if len(name) == FRAME_DIGITS + 4
        and name[FRAME_DIGITS:].lower() == IMAGE_SUFFIX
        and name[:FRAME_DIGITS].isdigit()
    ]
    frames = np.array(numbers, dtype=np.int64)
    frames.sort()
    return frames[frames > 0]


def image_location(name: str, frame: int) -> str:
    """The ``image_location`` of a frame in single-file submissions: ``<name>/00001.jpg``.

    Example:
        >>> image_location("video10_1_left", 12)
        'video10_1_left/00012.jpg'
    """
    return f"{name}/{frame_image_name(frame)}"


def frame_image_path(folder: Path, frame: int) -> Path:
    """Path of the face image of 1-based ``frame`` in ``folder`` (it may not exist)."""
    return folder / frame_image_name(frame)


@dataclass(frozen=True)
class ImageFault:
    """What is wrong with one face image.

    Attributes:
        message: One line naming the file.
        unreadable: True when the file does not decode at all; otherwise it
            decodes but is not a 112x112 RGB crop.
    """

    message: str
    unreadable: bool


def face_image_fault(path: str | os.PathLike) -> ImageFault | None:
    """Why the face image at ``path`` cannot be used as given, or ``None`` when it can.

    The image is fully decoded, so a truncated file is caught too.

    Example:
        >>> import tempfile, pathlib
        >>> bad = pathlib.Path(tempfile.mkdtemp()) / "00001.jpg"
        >>> _ = bad.write_bytes(b"not a jpeg")
        >>> face_image_fault(bad).unreadable
        True
    """
    try:
        with Image.open(path) as image:
            image.load()
            size, mode = image.size, image.mode
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return ImageFault(f"{path}: cannot be decoded as an image", unreadable=True)
    if mode not in ("RGB", "L"):
        return ImageFault(f"{path}: colour mode {mode}, expected RGB", unreadable=False)
    if size != CROP_SIZE:
        message = f"{path}: {size[0]}x{size[1]} pixels, the organisers' crops are {CROP_SIZE[0]}x{CROP_SIZE[1]}"
        return ImageFault(message, unreadable=False)
    return None
