"""What to generate (:class:`GeneratorConfig`) and what was generated (:class:`GeneratedDataset`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from abaw.choices import parse_enum
from abaw.data.layout import FRAME_FOLDER_PREFIX, Edition, Split
from abaw.errors import DataError
from abaw.outputs import DATASET_MANIFEST_NAME

if TYPE_CHECKING:  # the record's module names its folder from here
    from abaw.synthetic.degradations import DegradationRecord

CROP_SIZE = 112
"""Side of the aligned face crops, as in Aff-Wild2."""
MANIFEST_NAME = DATASET_MANIFEST_NAME
HIDDEN_FOLDER = ".generator"
"""Dot folder for what the real data does not have (layout discovery skips dot folders)."""
TEST_LABELS_FOLDER = f"{HIDDEN_FOLDER}/test_labels"
NEW_FRAMES_FOLDER = f"{FRAME_FOLDER_PREFIX}_new_50_vids"


@dataclass(frozen=True)
class GeneratorConfig:
    """What to generate.

    Attributes:
        seed: Random seed; the same seed gives the same labels and images.
        videos: Annotation entries (persons) over train, validation and test
            together, at least 6; about half train, a quarter each
            validation and test.
        frames: Decoded frames per video, varied by +-20% per video.
        edition: Whose folder names to use.
        no_face_rate: Share of frames without a face image, in short runs,
            in about two entries of three.
        unlabelled_rate: Share of label rows written as ``-5,-5``, in runs,
            in every other entry.
        pixel_noise: Standard deviation of the per-frame pixel noise (0-255 scale).
        jpeg_quality: Quality of the face-crop JPEGs.
        degraded_share: Share of every person's frames degraded as in-the-wild
            footage is (see :mod:`abaw.synthetic.wild`), in runs of 5-40
            frames; 0 keeps every face clean. Recorded per entry under
            ``ROOT/.generator/degradations/``.

    Example:
        >>> GeneratorConfig(videos=3)
        Traceback (most recent call last):
        ...
        abaw.errors.DataError: videos must be at least 6 (2 train, 2 validation, 2 test), got 3
    """

    seed: int = 0
    videos: int = 12
    frames: int = 150
    edition: Edition = Edition.ABAW2022
    no_face_rate: float = 0.03
    unlabelled_rate: float = 0.03
    pixel_noise: float = 4.0
    jpeg_quality: int = 90
    degraded_share: float = 0.3

    def __post_init__(self) -> None:
        object.__setattr__(self, "edition", parse_enum(Edition, self.edition, "edition", error=DataError))
        if not isinstance(self.seed, int) or self.seed < 0:
            raise DataError(f"seed must be a non-negative integer, got {self.seed!r}")
        if self.videos < 6:
            raise DataError(f"videos must be at least 6 (2 train, 2 validation, 2 test), got {self.videos}")
        if self.frames < 10:
            raise DataError(f"frames must be at least 10, got {self.frames}")
        for name in ("no_face_rate", "unlabelled_rate"):
            if not 0.0 <= getattr(self, name) <= 0.2:
                raise DataError(f"{name} must be between 0 and 0.2, got {getattr(self, name)}")
        if self.pixel_noise < 0:
            raise DataError(f"pixel_noise must not be negative, got {self.pixel_noise}")
        if not 1 <= self.jpeg_quality <= 95:
            raise DataError(f"jpeg_quality must be between 1 and 95, got {self.jpeg_quality}")
        if not 0.0 <= self.degraded_share <= 0.8:
            raise DataError(f"degraded_share must be between 0 and 0.8, got {self.degraded_share}")

    @classmethod
    def many_identities(cls, seed: int = 0) -> GeneratorConfig:
        """Many short clips (40 persons, about 45 frames each) instead of a few long ones, about 1800 frames in all.

        With a dozen training persons an auto-encoder learns those faces, not
        faces; many persons make it generalise to validation identities.
        """
        return cls(seed=seed, videos=40, frames=45)

    def harder(self) -> GeneratorConfig:
        """This dataset made harder: half as many persons again, 60 % of their frames degraded, three times the
        pixel noise, JPEG quality 60. Fixed before any model was tuned on it (``abaw experiment --datasets``).

        Example:
            >>> hard = GeneratorConfig.many_identities().harder()
            >>> hard.videos, hard.degraded_share, hard.pixel_noise, hard.jpeg_quality
            (60, 0.6, 12.0, 60)
        """
        return replace(
            self,
            videos=self.videos + self.videos // 2,
            degraded_share=0.6,
            pixel_noise=3 * self.pixel_noise,
            jpeg_quality=60,
        )

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready copy."""
        values = asdict(self)
        values["edition"] = self.edition.value
        return values


@dataclass(frozen=True, eq=False)
class GeneratedEntry:
    """One generated annotation entry (one person of one video).

    Attributes:
        name: Entry name as in the annotation folder or test list (suffix kept).
        split: Its split.
        video: The video file (shared by the two persons of a two-person video).
        frames_dir: Its face-crop folder.
        frames: Frames the video decodes to (D, and its packet count P).
        header_frames: Frames the video's header says (N): ``frames + 2``
            for the AVI with zero-size packets, else ``frames``.
        label_rows: Label lines: ``frames + 1``, as the organisers', or
            ``frames + 2`` for one validation entry.
        fps: Frame rate of the video.
        valence: True valence per label row, ``label_rows`` values; defined
            also where the written label is -5, and for test entries.
        arousal: True arousal, like ``valence``.
        annotation: The annotation file, ``None`` for test entries.
        hidden_labels: For test entries, their labels in annotation format
            under ``ROOT/.generator/test_labels/``; ``None`` otherwise.
        missing_images: 1-based frame numbers with no face image.
        extra_image: Whether the folder also holds image ``frames + 1``.
        audio_rate: Sample rate of the video's audio track.
        audio_channels: Channels of the video's audio track.
        degradations: What degrades each label row's frame (as written under
            ``ROOT/.generator/degradations/``).
    """

    name: str
    split: Split
    video: Path
    frames_dir: Path
    frames: int
    header_frames: int
    label_rows: int
    fps: float
    valence: np.ndarray
    arousal: np.ndarray
    annotation: Path | None
    hidden_labels: Path | None
    missing_images: tuple[int, ...]
    extra_image: bool
    audio_rate: int
    audio_channels: int
    degradations: DegradationRecord

    @property
    def labels_file(self) -> Path:
        """The annotation-format file with this entry's labels (hidden for test entries)."""
        path = self.annotation or self.hidden_labels
        assert path is not None
        return path

    @property
    def image_numbers(self) -> list[int]:
        """The 1-based frame numbers that have a face image."""
        missing = set(self.missing_images)
        last = self.frames + 1 if self.extra_image else self.frames
        return [number for number in range(1, last + 1) if number not in missing]


@dataclass(frozen=True)
class GeneratedDataset:
    """What :func:`generate_dataset` wrote.

    Attributes:
        root: The dataset root.
        config: The configuration used.
        entries: Every entry by name, train first, then validation, then test.
        test_list: The test list file.
        manifest: ``ROOT/generated.json``.
    """

    root: Path
    config: GeneratorConfig
    entries: dict[str, GeneratedEntry]
    test_list: Path
    manifest: Path

    def names(self, split: Split) -> list[str]:
        """Names of the entries of ``split``, in generation order."""
        return [name for name, entry in self.entries.items() if entry.split is split]
