"""A small synthetic dataset laid out exactly like the licensed Aff-Wild2.

The real data cannot be downloaded here, so tests and the demo run on a
generated root that :func:`abaw.data.layout.discover_layout` reads with no
options, for every :class:`~abaw.data.layout.Edition`: videos with an audio
track in ``batch1/``, ``batch2/`` (and ``new_vids/``), 112x112 face crops in
``cropped_aligned*/<name>/%05d.jpg``, one annotation file per labelled entry
and the test list, with the quirks of the real data (one label line more than
the video has frames, and two more in one validation entry; one AVI whose
header counts two zero-size packets, so it says two frames more than it
decodes to; ``-5`` runs, frames without a detected face, two-person videos
with ``_left``/``_right`` entries).

The content is learnable on purpose: valence drives the mouth (curvature,
lip colour, teeth of a smile), arousal drives the eyes (opening) and brows
(height), and the audio is a voice whose loudness and pitch rise with
arousal. Identity (skin, face size and position, hair, background) varies
per person, so a model has to read the expression, not the person.

Example:
    >>> import tempfile
    >>> from abaw.data.layout import discover_layout
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     dataset = generate_dataset(Path(folder) / "affwild2", GeneratorConfig(videos=6, frames=12))
    ...     layout = discover_layout(dataset.root)
    >>> sorted(layout.videos) == sorted({entry.video.stem for entry in dataset.entries.values()})
    True
    >>> dataset.names(Split.TRAIN)
    ['video10_1_left', 'video10_1_right']
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw

from abaw.data.annotations import ANNOTATION_HEADER, MISSING_LABEL
from abaw.data.frames import frame_image_path
from abaw.data.layout import FRAME_FOLDER_PREFIX, TEST_LIST_NAMES, Edition, Split
from abaw.data.names import Person
from abaw.errors import DataError
from abaw.outputs import DATASET_MANIFEST_NAME, GENERATOR_NAME, OutputKind, staged_output_dir
from abaw.progress import ProgressFn, no_progress

__all__ = ["GeneratedDataset", "GeneratedEntry", "GeneratorConfig", "generate_dataset"]

CROP_SIZE = 112
"""Side of the aligned face crops, as in Aff-Wild2."""
MANIFEST_NAME = DATASET_MANIFEST_NAME
HIDDEN_FOLDER = ".generator"
"""Dot folder for what the real data does not have (layout discovery skips dot folders)."""
TEST_LABELS_FOLDER = f"{HIDDEN_FOLDER}/test_labels"
NEW_FRAMES_FOLDER = f"{FRAME_FOLDER_PREFIX}_new_50_vids"

_SUPERSAMPLE = 2  # faces are drawn at twice the size and reduced: cheap anti-aliasing
_SINGLE_NAMES = (
    "1-30-1280x720",
    "102",
    "video59",
    "13-30-1920x1080",
    "video73",
    "118-30-640x480",
    "201",
    "video94",
    "24-30-1920x1080",
    "46-30-484x360",
    "video8",
    "135",
    "82-30-1280x720",
    "video66",
)
_TRAIN_PAIR = "video10_1"  # _left and _right entries
_HALF_PAIR = "video2"  # entries video2_left and video2 (the right person, unsuffixed)
_TEST_PAIR = "video45_2"


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

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "edition", Edition(self.edition))
        except ValueError:
            choices = ", ".join(edition.value for edition in Edition)
            raise DataError(f"edition must be one of {choices}, got {self.edition!r}") from None
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


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class _Look:
    """Identity of one person: what must NOT predict the labels."""

    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    background: tuple[int, int, int]
    scale: float
    dx: float
    dy: float
    sway: tuple[float, float, float, float]  # periods (frames) and phases of the head motion
    voice_f0: float
    voice_gain_db: float


@dataclass
class _PersonPlan:
    name: str
    split: Split
    index: int  # position among all entries: drives which quirks it gets
    frames_folder: str
    look: _Look
    valence: np.ndarray
    arousal: np.ndarray
    missing_images: frozenset[int]
    unlabelled: np.ndarray  # (rows, 2) bool: rows/values written as -5
    extra_image: bool

    @property
    def rows(self) -> int:
        return len(self.valence)


@dataclass
class _VideoPlan:
    stem: str
    folder: str
    extension: str
    fps: int
    frames: int
    size: tuple[int, int]
    audio_rate: int
    audio_channels: int
    persons: list[_PersonPlan]
    empty_packets: int = 0  # zero-size packets muxed after the last frame: AVI headers count them

    @property
    def path(self) -> str:
        return f"{self.folder}/{self.stem}{self.extension}"


def _rng(seed: int, *keys: int) -> np.random.Generator:
    # One independent stream per (seed, video, purpose): adding a video never changes the others.
    return np.random.default_rng([seed, *keys])


def _split_sizes(count: int) -> dict[Split, int]:
    validation = max(2, round(count / 4))
    test = max(2, round(count / 4))
    return {Split.TRAIN: count - validation - test, Split.VALIDATION: validation, Split.TEST: test}


def _video_groups(count: int) -> list[tuple[Split, str, list[str]]]:
    """(split, video stem, entry names) for every video, in generation order."""
    sizes = _split_sizes(count)
    singles = iter(_single_names(count))
    groups: list[tuple[Split, str, list[str]]] = []
    for split, size in sizes.items():
        left = size
        if split is Split.TRAIN:
            groups.append((split, _TRAIN_PAIR, [_TRAIN_PAIR + Person.LEFT.suffix, _TRAIN_PAIR + Person.RIGHT.suffix]))
            left -= 2
            if left >= 2:
                # Persons are listed left to right: their order picks the face's place in the frame.
                groups.append((split, _HALF_PAIR, [_HALF_PAIR + Person.LEFT.suffix, _HALF_PAIR]))
                left -= 2
        elif split is Split.TEST and left >= 3:
            groups.append((split, _TEST_PAIR, [_TEST_PAIR + Person.LEFT.suffix, _TEST_PAIR + Person.RIGHT.suffix]))
            left -= 2
        for _ in range(left):
            name = next(singles)
            groups.append((split, name, [name]))
    return groups


def _single_names(count: int) -> list[str]:
    names = list(_SINGLE_NAMES)
    number = 300
    while len(names) < count:
        names.append(f"video{number}" if number % 2 else f"{number}-30-1280x720")
        number += 1
    return names


def _plan(config: GeneratorConfig) -> list[_VideoPlan]:
    folders = ["batch1", "batch2", "new_vids"] if config.edition is Edition.ABAW2022 else ["batch1", "batch2"]
    videos: list[_VideoPlan] = []
    entry_index = 0
    extra_images = 0
    padded_avi = plus_two = False
    for number, (split, stem, names) in enumerate(_video_groups(config.videos)):
        rng = _rng(config.seed, number, 0)
        frames = max(10, round(config.frames * rng.uniform(0.8, 1.2)))
        folder = folders[number % len(folders)]
        two_faces = len(names) == 2
        avi = number % 5 == 3
        video = _VideoPlan(
            stem=stem,
            folder=folder,
            extension=".avi" if avi else ".mp4",
            fps=25 if number % 4 == 1 else 30,
            frames=frames,
            size=(256, 144) if two_faces else ((192, 144) if number % 2 else (160, 120)),
            # AAC pads its last 1024-sample block and MP4 readers decode the padding: at 44.1 kHz that
            # stays under one video frame, so 16 kHz goes to the (exact) PCM tracks of the AVIs.
            audio_rate=16000 if avi and number % 2 else 44100,
            audio_channels=2 if number % 3 == 1 else 1,
            persons=[],
            # The real AVIs' headers count dropped frames: one video says two frames more than it decodes to.
            empty_packets=2 if avi and not padded_avi else 0,
        )
        padded_avi = padded_avi or avi
        frames_folder = NEW_FRAMES_FOLDER if folder == "new_vids" else FRAME_FOLDER_PREFIX
        background = _rng(config.seed, number, 9).integers(30, 226, 3)
        for slot, name in enumerate(names):
            person_rng = _rng(config.seed, number, 1 + slot)
            # The real data sometimes keeps the image of the extra label row: do it for one or two entries.
            extra = split.is_labelled and extra_images < (2 if config.videos >= 10 else 1) and slot == 0
            extra_images += extra
            # The organisers' label files hold D + 1 lines, sometimes D + 2: one validation entry has two more.
            rows = frames + 2 if split is Split.VALIDATION and not two_faces and not plus_two else frames + 1
            plus_two = plus_two or rows == frames + 2
            video.persons.append(
                _plan_person(
                    config, person_rng, name, split, entry_index, frames, rows, frames_folder, extra, background
                )
            )
            entry_index += 1
        videos.append(video)
    return videos


def _plan_person(
    config: GeneratorConfig,
    rng: np.random.Generator,
    name: str,
    split: Split,
    index: int,
    frames: int,
    rows: int,
    frames_folder: str,
    extra_image: bool,
    background: np.ndarray,
) -> _PersonPlan:
    # Skin from pale to dark: one brightness factor on a warm base colour.
    tone = rng.uniform(0.35, 1.0)
    look = _Look(
        skin=_rgb(np.array([250, 208, 178]) * tone),
        hair=_rgb(rng.integers(15, 110, 3)),
        background=_rgb(background),
        scale=float(rng.uniform(0.80, 0.92)),
        dx=float(rng.uniform(-0.03, 0.03)),
        dy=float(rng.uniform(-0.03, 0.03)),
        sway=(
            float(rng.uniform(40, 90)),
            float(rng.uniform(0, 2 * math.pi)),
            float(rng.uniform(40, 90)),
            float(rng.uniform(0, 2 * math.pi)),
        ),
        voice_f0=float(rng.uniform(95, 130)),
        voice_gain_db=float(rng.uniform(-2, 2)),
    )
    valence, arousal = _trajectories(rng, rows)

    missing: set[int] = set()
    if config.no_face_rate > 0 and index % 3 != 2:
        missing |= _runs(rng, frames, config.no_face_rate, first=2)
    unlabelled = np.zeros((rows, 2), dtype=bool)
    if config.unlabelled_rate > 0 and index % 2 == 0:
        for number in _runs(rng, frames, config.unlabelled_rate, first=2):
            unlabelled[number - 1] = True
    if index % 3 == 1:
        # A handful of rows where the annotator gave only one of the two values.
        row = int(rng.integers(1, frames))
        unlabelled[row, index % 2] = True
    return _PersonPlan(
        name=name,
        split=split,
        index=index,
        frames_folder=frames_folder,
        look=look,
        valence=valence,
        arousal=arousal,
        missing_images=frozenset(missing),
        unlabelled=unlabelled,
        extra_image=extra_image,
    )


def _rgb(values: np.ndarray) -> tuple[int, int, int]:
    red, green, blue = (int(value) for value in values)
    return red, green, blue


def _runs(rng: np.random.Generator, frames: int, rate: float, first: int) -> set[int]:
    """1-based frame numbers covered by short runs (2-5 frames), about ``rate * frames * 1.5`` in all."""
    count = max(1, round(rate * frames * 1.5 / 3.5))
    numbers: set[int] = set()
    for _ in range(count):
        length = int(rng.integers(2, 6))
        start = int(rng.integers(first, max(first + 1, frames - length)))
        numbers.update(range(start, min(start + length - 1, frames) + 1))
    return numbers


def _trajectories(rng: np.random.Generator, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Smooth valence and arousal in [-0.95, 0.95], uncorrelated with each other within the video."""
    t = np.arange(rows, dtype=np.float64)
    curves = []
    for _ in range(2):
        curve = np.zeros(rows)
        for _ in range(3):
            # Periods relative to the length, so that short test videos still sweep a range.
            period = rng.uniform(0.3, 1.2) * max(rows, 30)
            curve += rng.uniform(0.4, 1.0) * np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi))
        curves.append(curve - curve.mean())
    valence, arousal = curves
    arousal = arousal - valence * (arousal @ valence) / max(valence @ valence, 1e-12)
    result = []
    for curve in (valence, arousal):
        peak = max(np.abs(curve).max(), 1e-9)
        centre = rng.uniform(-0.35, 0.35)
        half_width = rng.uniform(0.45, 0.6)
        result.append(np.clip(centre + half_width * curve / peak, -0.95, 0.95))
    return result[0], result[1]


# --------------------------------------------------------------------------- drawing


def _sway(look: _Look, frame: int) -> tuple[float, float]:
    period_x, phase_x, period_y, phase_y = look.sway
    return (
        0.012 * math.sin(2 * math.pi * frame / period_x + phase_x),
        0.010 * math.sin(2 * math.pi * frame / period_y + phase_y),
    )


def _lerp(a: tuple[int, ...], b: tuple[int, ...], w: float) -> tuple[int, ...]:
    return tuple(round(x + (y - x) * w) for x, y in zip(a, b, strict=True))


def _draw_face(look: _Look, valence: float, arousal: float, frame: int = 0) -> Image.Image:
    """Draw one noiseless ``CROP_SIZE`` face crop showing ``valence`` and ``arousal``."""
    size = CROP_SIZE * _SUPERSAMPLE
    image = Image.new("RGB", (size, size), look.background)
    draw = ImageDraw.Draw(image)
    sway_x, sway_y = _sway(look, frame)
    cx = (0.5 + look.dx + sway_x) * size
    cy = (0.52 + look.dy + sway_y) * size
    s = look.scale * size

    draw.ellipse((cx - 0.38 * s, cy - 0.50 * s, cx + 0.38 * s, cy + 0.36 * s), fill=look.hair)
    draw.ellipse((cx - 0.35 * s, cy - 0.42 * s, cx + 0.35 * s, cy + 0.46 * s), fill=look.skin)
    dark = (35, 25, 25)

    # Arousal: eyes open from a closed lash line on a shadowed lid to wide white eyes; brows rise.
    openness = (arousal + 1) / 2
    eye_y = cy - 0.10 * s
    eye_w = 0.085 * s
    eye_h = (0.008 + 0.07 * openness) * s
    brow_y = eye_y - (0.08 + 0.07 * openness) * s
    lid = _lerp(look.skin, (40, 20, 30), 0.35)
    for side in (-1, 1):
        ex = cx + side * 0.15 * s
        draw.ellipse((ex - 1.1 * eye_w, eye_y - 0.085 * s, ex + 1.1 * eye_w, eye_y + 0.085 * s), fill=lid)
        draw.ellipse(
            (ex - eye_w, eye_y - eye_h, ex + eye_w, eye_y + eye_h),
            fill=(246, 246, 240),
            outline=dark,
            width=max(1, round(0.012 * s)),
        )
        pupil = min(0.022 * s, eye_h * 0.7)
        draw.ellipse((ex - pupil, eye_y - pupil, ex + pupil, eye_y + pupil), fill=(30, 20, 20))
        draw.line(
            (ex - side * 0.035 * s, brow_y, ex + side * 0.085 * s, brow_y + 0.012 * s),
            fill=look.hair,
            width=max(1, round(0.028 * s)),
        )

    nose = _lerp(look.skin, (0, 0, 0), 0.25)
    draw.line(
        (cx, eye_y + 0.03 * s, cx - 0.025 * s, cy + 0.10 * s, cx + 0.015 * s, cy + 0.11 * s),
        fill=nose,
        width=max(1, round(0.014 * s)),
    )

    # Valence: the mouth curves up (smile) or down (frown); lips go from dark purple to bright
    # red and a smile shows teeth.
    mouth_y = cy + 0.22 * s
    mouth_w = 0.15 * s
    curve = 0.075 * s * valence
    thickness = 0.025 * s
    opening = 0.05 * s * max(valence, 0.0)
    ts = np.linspace(-1.0, 1.0, 11)
    centre = [(cx + mouth_w * t, mouth_y - curve * t * t) for t in ts]
    upper = [(x, y - thickness) for x, y in centre]
    lower = [(x, y + thickness + opening * (1 - t * t)) for (x, y), t in zip(centre, ts, strict=True)]
    lips = _lerp((80, 25, 60), (228, 62, 70), (valence + 1) / 2)
    draw.polygon(upper + lower[::-1], fill=lips)
    if opening > 0.5:
        teeth_top = [(x, y - 0.2 * thickness) for x, y in centre[1:-1]]
        teeth_bottom = [
            (x, y + 0.2 * thickness + opening * (1 - t * t)) for (x, y), t in zip(centre[1:-1], ts[1:-1], strict=True)
        ]
        draw.polygon(teeth_top + teeth_bottom[::-1], fill=(250, 250, 245))
    return image.reduce(_SUPERSAMPLE)


def _add_noise(image: Image.Image, rng: np.random.Generator, sigma: float) -> Image.Image:
    if sigma <= 0:
        return image
    pixels = np.asarray(image, dtype=np.float32) + rng.normal(0.0, sigma, (CROP_SIZE, CROP_SIZE, 3)).astype(np.float32)
    return Image.fromarray(np.clip(pixels + 0.5, 0, 255).astype(np.uint8))


def _background(video: _VideoPlan) -> Image.Image:
    width, height = video.size
    colour = video.persons[0].look.background
    image = Image.new("RGB", (width, height), colour)
    draw = ImageDraw.Draw(image)
    # A floor and a door frame, so the scene is not one flat colour.
    draw.rectangle((0, int(height * 0.85), width, height), fill=_lerp(colour, (0, 0, 0), 0.35))
    draw.rectangle((2, 6, 12, int(height * 0.8)), outline=_lerp(colour, (255, 255, 255), 0.3), width=2)
    return image


def _face_boxes(video: _VideoPlan) -> list[tuple[int, int, int]]:
    """(x, y, side) of each person's face square in the video frame."""
    width, height = video.size
    side = height - 40
    if len(video.persons) == 1:
        return [((width - side) // 2, 14, side)]
    gap = (width - 2 * side) // 3
    return [(gap, 14, side), (2 * gap + side, 14, side)]


# --------------------------------------------------------------------------- audio


def _audio(video: _VideoPlan, seed: int, number: int) -> np.ndarray:
    """The soundtrack, ``(channels, samples)`` float32 in [-1, 1].

    A voiced harmonic signal in syllables: loudness and pitch rise with
    arousal (and syllables come faster), valence flattens the spectral tilt.
    In a two-person video the persons take turns, a phrase at a time.
    """
    rng = _rng(seed, number, 8)
    rate = video.audio_rate
    samples = video.frames * rate // video.fps
    times = np.arange(samples) / rate
    frame_times = np.arange(video.frames + 1) / video.fps
    # Speaker per sample: phrases of 3-6 syllables, alternating between persons.
    speaker = np.zeros(samples, dtype=np.int64)
    gate = np.zeros(samples)
    start, syllables_left, current = 0.0, int(rng.integers(3, 7)), 0
    arousal_of = [np.interp(times, frame_times, p.arousal[: len(frame_times)]) for p in video.persons]
    while start < times[-1]:
        level = arousal_of[current][min(int(start * rate), samples - 1)]
        length = rng.uniform(0.15, 0.30)
        first, last = int(start * rate), min(samples, int((start + length) * rate))
        if last > first:
            ramp = np.minimum(1.0, np.minimum(np.arange(last - first), np.arange(last - first)[::-1]) / (0.015 * rate))
            gate[first:last] = np.maximum(gate[first:last], ramp)
            speaker[first:last] = current
        # Calm speech leaves longer gaps.
        start += length + rng.uniform(0.01, 0.03) + 0.04 * (1 - level) / 2
        syllables_left -= 1
        if syllables_left == 0:
            syllables_left = int(rng.integers(3, 7))
            current = (current + 1) % len(video.persons)
    voice = np.zeros(samples)
    for slot, person in enumerate(video.persons):
        mine = speaker == slot
        if not mine.any():
            continue
        arousal = arousal_of[slot]
        valence = np.interp(times, frame_times, person.valence[: len(frame_times)])
        f0 = person.look.voice_f0 + 100.0 * (arousal + 1) / 2  # about 95-230 Hz
        f0 *= 1 + 0.02 * np.sin(2 * np.pi * 5.0 * times)
        phase = 2 * np.pi * np.cumsum(f0) / rate
        tilt = 1.6 - 0.5 * valence
        wave = np.zeros(samples)
        power = np.zeros(samples)
        for harmonic in range(1, 13):
            if harmonic * f0.max() > 0.45 * rate:
                break
            amplitude = np.exp(-tilt * math.log(harmonic))
            wave += amplitude * np.sin(harmonic * phase)
            power += amplitude**2 / 2
        wave /= np.sqrt(power)  # unit RMS whatever the tilt: loudness is arousal's alone
        gain = 10 ** ((-36.0 + 28.0 * (arousal + 1) / 2 + person.look.voice_gain_db) / 20)
        voice += np.where(mine, wave * gain, 0.0)
    # Voicing never stops completely between syllables (co-articulation), as in running speech.
    signal = voice * (0.3 + 0.7 * gate) + rng.normal(0.0, 10 ** (-55 / 20), samples)
    channels = [signal] if video.audio_channels == 1 else [signal, 0.9 * signal]
    return np.clip(np.stack(channels), -1.0, 1.0).astype(np.float32)


# --------------------------------------------------------------------------- writing


def _annotation_text(person: _PersonPlan) -> str:
    lines = [",".join(ANNOTATION_HEADER)]
    for (v, a), (v_missing, a_missing) in zip(
        zip(person.valence, person.arousal, strict=True), person.unlabelled, strict=True
    ):
        lines.append(f"{_label(v, v_missing)},{_label(a, a_missing)}")
    return "\n".join(lines) + "\n"


def _label(value: float, missing: bool) -> str:
    if missing:
        return f"{MISSING_LABEL:g}"
    return f"{round(float(value), 3) + 0.0:.3f}"  # + 0.0 turns -0.0 into 0.0


def _write_video(video: _VideoPlan, root: Path, config: GeneratorConfig, number: int) -> None:
    path = root / video.path
    path.parent.mkdir(parents=True, exist_ok=True)
    for person in video.persons:
        (root / person.frames_folder / person.name).mkdir(parents=True, exist_ok=True)
    background = _background(video)
    boxes = _face_boxes(video)
    noise = _rng(config.seed, number, 7)
    rendered = video.frames + (1 if any(p.extra_image for p in video.persons) else 0)
    mp4 = video.extension == ".mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264" if mp4 else "mpeg4", rate=video.fps)
        stream.width, stream.height = video.size
        stream.pix_fmt = "yuv420p"
        # An explicit 1/fps time base: without it AVI headers can report a wrong frame count.
        stream.time_base = Fraction(1, video.fps)
        stream.codec_context.time_base = Fraction(1, video.fps)
        if mp4:
            stream.options = {"preset": "veryfast", "crf": "20"}
        else:
            stream.bit_rate = 1_500_000  # the default (200 kb/s) blurs the faces into blocks
        audio_stream = container.add_stream("aac" if mp4 else "pcm_s16le", rate=video.audio_rate)
        audio_stream.layout = "mono" if video.audio_channels == 1 else "stereo"
        for index in range(rendered):
            frame_image = background.copy() if index < video.frames else None
            for person, (x, y, side) in zip(video.persons, boxes, strict=True):
                face = _add_noise(
                    _draw_face(person.look, float(person.valence[index]), float(person.arousal[index]), index),
                    noise,
                    config.pixel_noise,
                )
                number_1 = index + 1
                has_image = number_1 not in person.missing_images and (index < video.frames or person.extra_image)
                if has_image:
                    face_path = frame_image_path(root / person.frames_folder / person.name, number_1)
                    face.save(face_path, "JPEG", quality=config.jpeg_quality)
                if frame_image is not None:
                    frame_image.paste(face.resize((side, side), Image.Resampling.BILINEAR), (x, y))
                    if number_1 in person.missing_images:
                        # Something covers the face: the detector found none.
                        ImageDraw.Draw(frame_image).rectangle(
                            (x + side // 6, y + side // 4, x + side - side // 6, y + side), fill=(200, 160, 130)
                        )
            if frame_image is None:
                continue
            frame = av.VideoFrame.from_image(frame_image)
            frame.pts = index
            frame.time_base = Fraction(1, video.fps)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
        for offset in range(video.empty_packets):
            empty = av.Packet(b"")
            empty.stream = stream
            empty.pts = empty.dts = video.frames + offset
            empty.time_base = Fraction(1, video.fps)
            container.mux(empty)

        sound = _audio(video, config.seed, number)
        if mp4:
            audio_frame = av.AudioFrame.from_ndarray(sound, format="fltp", layout=audio_stream.layout.name)
        else:
            interleaved = np.round(sound.T * 32767).astype(np.int16).reshape(1, -1)
            audio_frame = av.AudioFrame.from_ndarray(interleaved, format="s16", layout=audio_stream.layout.name)
        audio_frame.sample_rate = video.audio_rate
        audio_frame.pts = 0
        for packet in audio_stream.encode(audio_frame):
            container.mux(packet)
        for packet in audio_stream.encode(None):
            container.mux(packet)


def _relative(path: Path | None, root: Path) -> str | None:
    return None if path is None else path.relative_to(root).as_posix()


def generate_dataset(
    out: str | os.PathLike,
    config: GeneratorConfig = GeneratorConfig(),
    *,
    force: bool = False,
    progress: ProgressFn = no_progress,
) -> GeneratedDataset:
    """Write a synthetic dataset laid out like Aff-Wild2 to ``out``.

    The folder is built beside ``out`` and moved into place only when
    complete. Same ``config`` (seed included), same annotation files, face
    images and test list, byte for byte; the encoded videos may differ in
    their bytes but decode to the same frame count.

    Args:
        out: Folder to create.
        config: What to generate.
        force: Replace ``out`` if it is a dataset generated by abaw (it
            holds ``generated.json``); any other folder is never replaced.
        progress: Wraps the per-video loop.

    Returns:
        Where everything is, with the true valence and arousal of every entry.

    Raises:
        OutputExistsError: ``out`` exists and ``force`` is false.
        UnsafeOutputError: ``out`` is a non-empty folder abaw did not generate, or a file.
        DataError: a bad configuration.
    """
    if not isinstance(config, GeneratorConfig):
        raise DataError(f"config must be a GeneratorConfig, got {type(config).__name__}")
    final_root = Path(out).expanduser().resolve()
    plan = _plan(config)
    edition = config.edition
    annotation_folders = {
        Split.TRAIN: f"{edition.annotation_parent}/{edition.train_folder}",
        Split.VALIDATION: f"{edition.annotation_parent}/{edition.validation_folder}",
    }
    if edition is Edition.ABAW2022:
        test_list_path = f"names_of_videos_in_each_test_set/{TEST_LIST_NAMES[0]}"
    else:
        test_list_path = TEST_LIST_NAMES[1]

    # The manifest, written last, is the marker that lets --force replace this folder later.
    with staged_output_dir(final_root, OutputKind.DATASET, force=force, marker=False) as root:
        for number, video in enumerate(progress(plan, "Generating videos", len(plan))):
            _write_video(video, root, config, number)
            for person in video.persons:
                folder = annotation_folders.get(person.split, TEST_LABELS_FOLDER)
                (root / folder).mkdir(parents=True, exist_ok=True)
                (root / folder / f"{person.name}.txt").write_text(_annotation_text(person), encoding="utf-8")
        test_names = [p.name for video in plan for p in video.persons if p.split is Split.TEST]
        (root / test_list_path).parent.mkdir(parents=True, exist_ok=True)
        (root / test_list_path).write_text("".join(f"{name}\n" for name in test_names), encoding="utf-8")

        entries: dict[str, GeneratedEntry] = {}
        for video in plan:
            for person in video.persons:
                labels = final_root / annotation_folders.get(person.split, TEST_LABELS_FOLDER) / f"{person.name}.txt"
                entries[person.name] = GeneratedEntry(
                    name=person.name,
                    split=person.split,
                    video=final_root / video.path,
                    frames_dir=final_root / person.frames_folder / person.name,
                    frames=video.frames,
                    header_frames=video.frames + video.empty_packets,
                    label_rows=person.rows,
                    fps=float(video.fps),
                    valence=person.valence.astype(np.float32),
                    arousal=person.arousal.astype(np.float32),
                    annotation=labels if person.split.is_labelled else None,
                    hidden_labels=None if person.split.is_labelled else labels,
                    missing_images=tuple(sorted(person.missing_images)),
                    extra_image=person.extra_image,
                    audio_rate=video.audio_rate,
                    audio_channels=video.audio_channels,
                )
        entries = dict(sorted(entries.items(), key=lambda item: list(Split).index(item[1].split)))
        manifest = {
            "generator": GENERATOR_NAME,
            "format": 1,
            "config": config.to_dict(),
            "test_list": test_list_path,
            "entries": {
                name: {
                    "split": entry.split.value,
                    "video": _relative(entry.video, final_root),
                    "frames_dir": _relative(entry.frames_dir, final_root),
                    "labels": _relative(entry.labels_file, final_root),
                    "frames": entry.frames,
                    "header_frames": entry.header_frames,
                    "fps": entry.fps,
                    "label_rows": entry.label_rows,
                    "missing_images": list(entry.missing_images),
                    "extra_image": entry.extra_image,
                    "audio_rate": entry.audio_rate,
                    "audio_channels": entry.audio_channels,
                }
                for name, entry in entries.items()
            },
        }
        (root / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")

    return GeneratedDataset(
        root=final_root,
        config=config,
        entries=entries,
        test_list=final_root / test_list_path,
        manifest=final_root / MANIFEST_NAME,
    )
