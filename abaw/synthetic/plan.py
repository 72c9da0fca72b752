"""Planning a dataset: videos, persons, splits, label trajectories and the quirks of the real data."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from abaw.data.layout import FRAME_FOLDER_PREFIX, Edition, Split
from abaw.data.names import Person
from abaw.synthetic.config import NEW_FRAMES_FOLDER, GeneratorConfig
from abaw.synthetic.degradations import Degradation, DegradationRecord

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
_NAME_SIZES = ((1280, 720), (1920, 1080), (640, 360), (480, 360), (640, 480))
_TRAIN_PAIR = "video10_1"  # _left and _right entries
_HALF_PAIR = "video2"  # entries video2_left and video2 (the right person, unsuffixed)
_TEST_PAIR = "video45_2"


@dataclass(frozen=True)
class Look:
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
    glasses: tuple[int, int, int] | None = None  # rim colour
    beard: bool = False
    backdrop: tuple[int, int, int] | None = None  # colour of vertical bands behind the person
    backdrop_width: float = 0.2  # band width, as a fraction of the crop
    backdrop_offset: float = 0.0  # phase of the bands, 0-1


@dataclass(frozen=True)
class DegradedRun:
    """A run of frames of one person degraded the same way (see :mod:`abaw.synthetic.wild`).

    Attributes:
        kinds: What degrades these frames (one kind, sometimes two that go together).
        start: First frame, 0-based.
        stop: One past the last frame.
        strength: How strong, 0-1.
        seed: The run's own random stream (its blur direction, occluder, per-frame noise).
    """

    kinds: frozenset[Degradation]
    start: int
    stop: int
    strength: float
    seed: int


@dataclass
class PersonPlan:
    """One entry to write: its labels, quirks and look."""

    name: str
    split: Split
    index: int  # position among all entries: drives which quirks it gets
    frames_folder: str
    look: Look
    valence: np.ndarray
    arousal: np.ndarray
    missing_images: frozenset[int]
    unlabelled: np.ndarray  # (rows, 2) bool: rows/values written as -5
    extra_image: bool
    degraded_runs: tuple[DegradedRun, ...] = ()

    @property
    def rows(self) -> int:
        """Label lines of the entry."""
        return len(self.valence)

    def runs_at(self, frame: int) -> list[DegradedRun]:
        """The degraded runs covering 0-based ``frame``."""
        return [run for run in self.degraded_runs if run.start <= frame < run.stop]

    def degradation_record(self) -> DegradationRecord:
        """What degrades each label row's frame (rows past the decoded frames are clean)."""
        rows: list[set[Degradation]] = [set() for _ in range(self.rows)]
        for run in self.degraded_runs:
            for frame in range(run.start, run.stop):
                rows[frame] |= run.kinds
        return DegradationRecord.from_rows(rows)


@dataclass
class VideoPlan:
    """One video to write: its container, frame count and the persons in it."""

    stem: str
    folder: str
    extension: str
    fps: int
    frames: int
    size: tuple[int, int]
    audio_rate: int
    audio_channels: int
    persons: list[PersonPlan]
    empty_packets: int = 0  # zero-size packets muxed after the last frame: AVI headers count them

    @property
    def path(self) -> str:
        """The video file, relative to the dataset root."""
        return f"{self.folder}/{self.stem}{self.extension}"


def seeded_rng(seed: int, *keys: int) -> np.random.Generator:
    """The random stream of one (seed, video, purpose)."""
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
    """The fixed names, then the Aff-Wild2 styles ``NNN``, ``videoNNN`` and ``NNN-FPS-WxH``, numbers unique."""
    names = list(_SINGLE_NAMES)
    number = 300
    while len(names) < count:
        style = number % 3
        if style == 0:
            names.append(str(number))
        elif style == 1:
            names.append(f"video{number}")
        else:
            width, height = _NAME_SIZES[number % len(_NAME_SIZES)]
            names.append(f"{number}-{25 if number % 4 == 1 else 30}-{width}x{height}")
        number += 1
    return names


def plan_videos(config: GeneratorConfig) -> list[VideoPlan]:
    """Every video of the dataset ``config`` describes, with its persons, in generation order."""
    folders = ["batch1", "batch2", "new_vids"] if config.edition is Edition.ABAW2022 else ["batch1", "batch2"]
    videos: list[VideoPlan] = []
    entry_index = 0
    extra_images = 0
    padded_avi = plus_two = False
    for number, (split, stem, names) in enumerate(_video_groups(config.videos)):
        rng = seeded_rng(config.seed, number, 0)
        frames = max(10, round(config.frames * rng.uniform(0.8, 1.2)))
        folder = folders[number % len(folders)]
        two_faces = len(names) == 2
        avi = number % 5 == 3
        video = VideoPlan(
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
        background = seeded_rng(config.seed, number, 9).integers(30, 226, 3)
        for slot, name in enumerate(names):
            person_rng = seeded_rng(config.seed, number, 1 + slot)
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
) -> PersonPlan:
    # Skin from pale to dark: one brightness factor on a warm base colour.
    tone = rng.uniform(0.35, 1.0)
    look = Look(
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
        **_accessories(seeded_rng(config.seed, index, 100), background),
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
    return PersonPlan(
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
        degraded_runs=_degraded_runs(seeded_rng(config.seed, index, 101), frames, config.degraded_share),
    )


def _accessories(rng: np.random.Generator, background: np.ndarray) -> dict[str, object]:
    """What else makes a person look like themself: glasses, a beard, the scene behind them."""
    # Their own stream: adding a look feature leaves the labels of a seed unchanged.
    shade = rng.uniform(0.3, 1.7)
    return {
        "glasses": _rgb(rng.integers(10, 120, 3)) if rng.random() < 0.3 else None,
        "beard": bool(rng.random() < 0.2),
        "backdrop": _rgb(np.clip(background * shade, 0, 255)) if rng.random() < 0.5 else None,
        "backdrop_width": float(rng.uniform(0.08, 0.3)),
        "backdrop_offset": float(rng.random()),
    }


# Kinds that often come together in real footage: a dark scene is noisy, a small face is also compressed.
_COMPANIONS = {
    Degradation.UNDEREXPOSURE: Degradation.SENSOR_NOISE,
    Degradation.LOW_RESOLUTION: Degradation.JPEG,
    Degradation.MOTION_BLUR: Degradation.JPEG,
}
_IMAGE_KINDS = [kind for kind in Degradation if not kind.hides_face]
_FACE_KINDS = [kind for kind in Degradation if kind.hides_face]


def _degraded_runs(rng: np.random.Generator, frames: int, share: float) -> tuple[DegradedRun, ...]:
    """Runs of 5-40 frames covering about ``share`` of ``frames``; in about half the persons one run hides the face."""
    target = round(share * frames)
    if target == 0:
        return ()
    runs: list[DegradedRun] = []
    covered: set[int] = set()
    hides_face = rng.random() < 0.5
    for _ in range(200):  # overlapping runs cover less than their length: a bound instead of a proof
        if len(covered) >= target:
            break
        length = min(frames, int(rng.integers(5, 41)), max(5, target - len(covered)))
        start = int(rng.integers(0, frames - length + 1))
        if hides_face:
            kinds = {_FACE_KINDS[int(rng.integers(len(_FACE_KINDS)))]}
            hides_face = False
        else:
            kind = _IMAGE_KINDS[int(rng.integers(len(_IMAGE_KINDS)))]
            kinds = {kind}
            if kind in _COMPANIONS and rng.random() < 0.3:
                kinds.add(_COMPANIONS[kind])
        runs.append(
            DegradedRun(
                kinds=frozenset(kinds),
                start=start,
                stop=start + length,
                strength=float(rng.uniform(0.25, 1.0)),
                seed=int(rng.integers(2**31)),
            )
        )
        covered.update(range(start, start + length))
    return tuple(runs)


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
