"""Frames as training and prediction samples: which frames, and a torch ``Dataset`` that reads them.

A sample is one face image of one entry. Training uses only frames that
have a face image *and* a label on both dimensions (``-5`` lines and frames
without a face never enter the loss); prediction uses every face image of
an entry that lies within its video. Annotation row ``i`` is frame ``i + 1``.

Reading images happens in DataLoader workers, where an exception would come
back to the main process wrapped in a multi-line traceback. So a face image
that cannot be decoded does not raise there: the sample carries the one-line
reason in ``fault`` and the training or prediction loop raises it as a
:class:`~abaw.errors.DataError` (see :func:`raise_first_fault`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from abaw.data.annotations import valid_rows
from abaw.data.entries import Entry
from abaw.data.frames import CROP_SIZE
from abaw.data.index import DatasetIndex
from abaw.data.layout import Split
from abaw.errors import DataError


@dataclass
class FrameSamples:
    """The frames to read, one row per sample.

    Attributes:
        names: Entry names; ``entry_ids`` index into this list.
        entry_ids: ``int32`` entry of each sample.
        frames: ``int64`` 1-based frame number of each sample.
        targets: ``float32`` ``(n, 2)`` valence and arousal, ``-5`` where unknown (test frames).
    """

    names: list[str]
    entry_ids: np.ndarray
    frames: np.ndarray
    targets: np.ndarray

    def __len__(self) -> int:
        return len(self.frames)

    def subset(self, rows: np.ndarray | slice) -> FrameSamples:
        """The samples at ``rows`` (same entry list)."""
        return FrameSamples(self.names, self.entry_ids[rows], self.frames[rows], self.targets[rows])

    def by_entry(self) -> dict[str, np.ndarray]:
        """Sample rows of each entry, in entry order (entries without samples left out)."""
        order = np.argsort(self.entry_ids, kind="stable")
        ids = self.entry_ids[order]
        bounds = np.searchsorted(ids, np.arange(len(self.names) + 1))
        return {
            name: order[bounds[i] : bounds[i + 1]] for i, name in enumerate(self.names) if bounds[i + 1] > bounds[i]
        }


def _usable_frames(entry: Entry, labels: np.ndarray | None) -> np.ndarray:
    frames = entry.face_frames
    if labels is not None:
        frames = frames[frames <= len(labels)]
        return frames[valid_rows(labels[frames - 1])]
    return frames[frames <= entry.frame_count]


def select_frames(index: DatasetIndex, entries: Iterable[Entry], *, labelled: bool) -> FrameSamples:
    """Collect the samples of ``entries``.

    Args:
        index: The dataset index holding the labels.
        entries: The entries to take frames from, in the order wanted.
        labelled: ``True`` for training and validation scoring: frames with a
            face image and both labels (not ``-5``). ``False`` for prediction:
            every face frame within the video, targets ``-5``.

    Example:
        >>> from abaw.synthetic import GeneratorConfig, generate_dataset
        >>> import tempfile
        >>> from abaw.data.index import open_dataset
        >>> root = generate_dataset(tempfile.mkdtemp() + "/d", GeneratorConfig(videos=6, frames=10)).root
        >>> index = open_dataset(root, use_cache=False)
        >>> samples = select_frames(index, index.split(Split.TRAIN), labelled=True)
        >>> bool((samples.targets != -5).all()), len(samples) > 0
        (True, True)
    """
    names: list[str] = []
    ids, frames, targets = [], [], []
    for entry in entries:
        labels = index.labels(entry.name) if labelled else None
        chosen = _usable_frames(entry, labels)
        ids.append(np.full(len(chosen), len(names), dtype=np.int32))
        names.append(entry.name)
        frames.append(chosen.astype(np.int64))
        if labels is not None:
            targets.append(labels[chosen - 1].astype(np.float32))
        else:
            targets.append(np.full((len(chosen), 2), -5.0, dtype=np.float32))
    if not names:
        return FrameSamples([], np.zeros(0, np.int32), np.zeros(0, np.int64), np.zeros((0, 2), np.float32))
    return FrameSamples(names, np.concatenate(ids), np.concatenate(frames), np.concatenate(targets))


def split_frames(index: DatasetIndex, splits: Sequence[Split], *, labelled: bool) -> FrameSamples:
    """:func:`select_frames` over every entry of ``splits``, in split then name order."""
    return select_frames(index, [entry for split in splits for entry in index.split(split)], labelled=labelled)


def read_face_image(path, size: tuple[int, int] = CROP_SIZE) -> np.ndarray:
    """Decode one face crop as ``uint8`` ``(3, H, W)``, resized to ``size`` when it differs.

    Raises:
        DataError: naming the file when it is missing or cannot be decoded.
    """
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            if image.size != size:
                image = image.resize(size, Image.BILINEAR)
            array = np.asarray(image)
    except FileNotFoundError:
        raise DataError("face image not found (the folder changed since it was indexed?)", path=path) from None
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise DataError(f"face image cannot be decoded ({error})", path=path) from None
    return np.ascontiguousarray(array.transpose(2, 0, 1))


class FaceFrameDataset(Dataset):
    """Face crops, targets and audio vectors of :class:`FrameSamples`.

    Items are dicts: ``image`` ``uint8`` ``(3, 112, 112)``, ``target`` ``float32``
    ``(2,)``, ``audio`` ``float32`` ``(audio_dim,)`` (empty without audio),
    ``sample`` (the row in ``samples``) and ``fault`` (``""`` or why the image
    could not be read; the image is then zeros).

    Args:
        index: The dataset index (for face folders).
        samples: The frames to serve.
        audio: Per-entry audio feature rows, ``(rows, dim)``, one per
            annotation line; ``None`` for no audio.
        audio_dim: Width of the audio vectors (needed when ``audio`` is given).
    """

    def __init__(
        self,
        index: DatasetIndex,
        samples: FrameSamples,
        audio: Mapping[str, np.ndarray] | None = None,
        audio_dim: int = 0,
    ):
        self.samples = samples
        self.entries = [index.entries[name] for name in samples.names]
        self.audio_rows = [audio[name] for name in samples.names] if audio is not None else None
        self.audio_dim = audio_dim if audio is not None else 0

    def __len__(self) -> int:
        return len(self.samples)

    def audio_vector(self, entry_id: int, frame: int) -> np.ndarray:
        """The audio row of ``frame`` (the entry's last row past its end; zeros without rows)."""
        if self.audio_rows is None:
            return np.zeros(0, dtype=np.float32)
        rows = self.audio_rows[entry_id]
        if not len(rows):
            return np.zeros(self.audio_dim, dtype=np.float32)
        return rows[min(frame - 1, len(rows) - 1)]

    def __getitem__(self, row: int) -> dict[str, object]:
        entry_id = int(self.samples.entry_ids[row])
        frame = int(self.samples.frames[row])
        entry = self.entries[entry_id]
        fault = ""
        try:
            if entry.frames_dir is None:
                raise DataError("no face-crop folder", path=entry.name)
            image = read_face_image(entry.image_path(frame))
        except DataError as error:
            fault = str(error)
            image = np.zeros((3, *CROP_SIZE), dtype=np.uint8)
        return {
            "image": torch.from_numpy(image),
            "target": torch.from_numpy(self.samples.targets[row]),
            "audio": torch.from_numpy(np.asarray(self.audio_vector(entry_id, frame), dtype=np.float32)),
            "sample": row,
            "fault": fault,
        }


def raise_first_fault(faults: Sequence[str]) -> None:
    """Raise the first non-empty fault of a batch as a :class:`DataError`.

    Example:
        >>> raise_first_fault(["", ""])
        >>> raise_first_fault(["", "a.jpg: face image cannot be decoded"])
        Traceback (most recent call last):
        ...
        abaw.errors.DataError: a.jpg: face image cannot be decoded
    """
    for fault in faults:
        if fault:
            raise DataError(fault)


@dataclass
class Batch:
    """A batch on the compute device, ready for the model.

    Attributes:
        images: Face crops, float in [-1, 1], ``(B, 3, H, W)`` (channels-last on request).
        targets: Valence and arousal, ``(B, 2)`` (``-5`` for test frames).
        audio: Audio vectors ``(B, audio_dim)``, or ``None`` without audio.
    """

    images: torch.Tensor
    targets: torch.Tensor
    audio: torch.Tensor | None


def batch_to_device(batch: Mapping[str, torch.Tensor], device: torch.device, channels_last: bool = False) -> Batch:
    """Move a :class:`FaceFrameDataset` batch to ``device``, images scaled to [-1, 1].

    Example:
        >>> batch = {"image": torch.zeros(2, 3, 4, 4, dtype=torch.uint8), "target": torch.zeros(2, 2),
        ...          "audio": torch.zeros(2, 0)}
        >>> moved = batch_to_device(batch, torch.device("cpu"))
        >>> moved.images.min().item(), moved.audio
        (-1.0, None)
    """
    non_blocking = device.type == "cuda"
    images = images_to_float(batch["image"].to(device, non_blocking=non_blocking))
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    targets = batch["target"].to(device, non_blocking=non_blocking).float()
    audio = batch["audio"]
    audio = audio.to(device, non_blocking=non_blocking).float() if audio.numel() else None
    return Batch(images, targets, audio)


def images_to_float(images: torch.Tensor) -> torch.Tensor:
    """``uint8`` images to float in [-1, 1] (normalise with mean 0.5 and std 0.5, as the paper).

    Example:
        >>> images_to_float(torch.tensor([0, 255], dtype=torch.uint8)).tolist()
        [-1.0, 1.0]
    """
    return images.float().div_(127.5).sub_(1.0)
