"""Face-crop folders: ``cropped_aligned/<name>/00001.jpg``, one image per detected face.

Image ``%05d.jpg`` % ``i`` is video frame ``i`` (1-based), the face of
annotation row ``i - 1``. A missing image means no face was found in that
frame; the frame still exists in the video and in the annotation file. The
suffix may be in any letter case (``00001.JPG``, as some copies and
re-encodings write it): the image is read under the name it has.
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


@dataclass(frozen=True)
class FaceFolder:
    """What a face-crop folder holds.

    Attributes:
        frames: Sorted 1-based frame numbers that have a ``NNNNN.jpg`` image.
        misnamed: Image files ignored because their name is not a 5-digit
            frame number from 1 (``1.jpg``, ``00000.jpg``, ``frame_1.png``), sorted.
        suffixes: The suffixes the frame images are written with (``.jpg``, or
            another letter case such as ``.JPG``).
        suffix_ids: Per frame, its suffix in ``suffixes``.
    """

    frames: np.ndarray
    misnamed: list[str]
    suffixes: tuple[str, ...] = (IMAGE_SUFFIX,)
    suffix_ids: np.ndarray | None = None

    def suffix_of(self, position: int) -> str:
        """The suffix of the image of ``frames[position]``."""
        return self.suffixes[0 if self.suffix_ids is None else int(self.suffix_ids[position])]

    def misnamed_note(self) -> str | None:
        """One line naming the ignored images and the names expected, or ``None``.

        Example:
            >>> FaceFolder(np.zeros(0, np.int64), ["1.jpg", "x.png"]).misnamed_note()
            'ignored 2 image(s) not named as 5-digit frame numbers: 1.jpg (expected 00001.jpg), x.png'
        """
        if not self.misnamed:
            return None
        shown = [_with_expected_name(name) for name in self.misnamed[:3]]
        more = f" and {len(self.misnamed) - 3} more" if len(self.misnamed) > 3 else ""
        return f"ignored {len(self.misnamed)} image(s) not named as 5-digit frame numbers: {', '.join(shown)}{more}"


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
"""Suffixes of files that look like face images, to tell the user when they are ignored."""


def _with_expected_name(name: str) -> str:
    stem = os.path.splitext(name)[0]
    if stem.isdigit() and stem.isascii() and int(stem) > 0:
        return f"{name} (expected {frame_image_name(int(stem))})"
    return name


def scan_face_folder(folder: str | os.PathLike) -> FaceFolder:
    """List the face images of ``folder``: the frames, and the image files whose names are not frames.

    Files that are neither (a stray ``Thumbs.db``, hidden files) are ignored.

    Raises:
        DataError: naming the folder when it cannot be listed.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> for name in ("00002.jpg", "00001.jpg", "3.jpg", "notes.txt"):
        ...     _ = (d / name).write_bytes(b"")
        >>> found = scan_face_folder(d)
        >>> found.frames.tolist(), found.misnamed
        ([1, 2], ['3.jpg'])
    """
    try:
        names = os.listdir(folder)
    except OSError as error:
        raise DataError(error.strerror or "cannot be listed", path=folder) from None
    # The exact '.jpg' first: where a frame has two images differing only in case, it wins.
    by_frame: dict[int, str] = {}
    misnamed = []
    for name in sorted(names, key=lambda name: name[FRAME_DIGITS:] != IMAGE_SUFFIX):
        if (
            len(name) == FRAME_DIGITS + 4
            and name[FRAME_DIGITS:].lower() == IMAGE_SUFFIX
            and name[:FRAME_DIGITS].isdigit()
            and name[:FRAME_DIGITS].isascii()
            and int(name[:FRAME_DIGITS]) > 0
        ):
            by_frame.setdefault(int(name[:FRAME_DIGITS]), name[FRAME_DIGITS:])
        elif not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES:
            misnamed.append(name)
    frames = np.array(sorted(by_frame), dtype=np.int64)
    suffixes = tuple(sorted(set(by_frame.values()), key=lambda suffix: suffix != IMAGE_SUFFIX)) or (IMAGE_SUFFIX,)
    if suffixes == (IMAGE_SUFFIX,):
        return FaceFolder(frames, sorted(misnamed))
    ids = np.array([suffixes.index(by_frame[int(frame)]) for frame in frames], dtype=np.uint8)
    return FaceFolder(frames, sorted(misnamed), suffixes, ids)


def list_face_frames(folder: str | os.PathLike) -> np.ndarray:
    """Return the sorted 1-based frame numbers that have a face image in ``folder``.

    Files that are not ``NNNNN.jpg`` are ignored (see :func:`scan_face_folder`
    for the image files among them).

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
    return scan_face_folder(folder).frames


def image_location(name: str, frame: int) -> str:
    """The ``image_location`` of a frame in single-file submissions: ``<name>/00001.jpg``.

    Example:
        >>> image_location("video10_1_left", 12)
        'video10_1_left/00012.jpg'
    """
    return f"{name}/{frame_image_name(frame)}"


def frame_image_path(folder: Path, frame: int, suffix: str = IMAGE_SUFFIX) -> Path:
    """Path of the face image of 1-based ``frame`` in ``folder`` (it may not exist).

    Example:
        >>> frame_image_path(Path("crops/v1"), 3, ".JPG").as_posix()
        'crops/v1/00003.JPG'
    """
    return folder / f"{frame:0{FRAME_DIGITS}d}{suffix}"


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
