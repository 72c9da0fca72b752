"""An Aff-Wild2-shaped dataset that ``abaw data generate`` did not make.

The toolkit's own generator knows the toolkit's conventions; this builder
writes what other tools produce instead, so that tests meet the oddities of
real downloads:

- videos written with PyAV directly: an MPEG-4 Part 2 AVI whose header counts
  zero-size packets (header frames N > decodable frames D), H.264 MP4s with
  B-frames, a variable-frame-rate MP4, an MPEG-4 Part 2 MP4 without an audio
  track; PCM audio in the AVIs, AAC in the MP4s;
- label files written by hand: CRLF endings, a UTF-8 byte-order mark,
  trailing blank lines, ``D + 1`` and ``D + 2`` lines, ``-5`` lines (both
  values, and only one of them);
- face crops written with PIL (112x112 JPEG, five-digit names): frames with
  no face, crops numbered beyond the label lines, a folder that starts after
  frame 1, a second crop root (``cropped_aligned_new_50_vids``);
- a two-person video (``_left``/``_right``), a training entry with no video,
  a test entry with no video (its count only from its crops), and the 2020
  annotation layout
  (``annotations/VA_Set/Training_Set``) with the 2022 test-list name.

:class:`ForeignEntry` records what was written (N, P, D, label lines, face
frames) so that tests can assert the toolkit's counts against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from abaw.data.layout import Split

FRAME_SIZE = (64, 48)
CROP_SIZE = (112, 112)
AUDIO_RATE = 16_000
ANNOTATIONS = "annotations/VA_Set"
TEST_LIST = "names_of_videos_in_each_test_set/Valence_Arousal_Estimation_Challenge_test_set_release.txt"
NEW_CROPS = "cropped_aligned_new_50_vids"


@dataclass(frozen=True)
class VideoSpec:
    """How one video file is written.

    Attributes:
        path: Relative to the root.
        decoded: Frames that decode (D); also the non-empty packets (P).
        fps: Nominal frame rate.
        codec: Video encoder.
        audio: Audio encoder, ``None`` for a video without audio.
        empty_packets: Zero-size packets muxed after the frames (AVI: each
            adds one to the header count).
        b_frames: B-frames allowed by the encoder (libx264 only).
        variable_rate: Frame durations alternate (variable frame rate).
    """

    path: str
    decoded: int
    fps: int
    codec: str
    audio: str | None
    empty_packets: int = 0
    b_frames: int = 0
    variable_rate: bool = False

    @property
    def header(self) -> int:
        """The frame count the container states (N)."""
        return self.decoded + self.empty_packets


@dataclass(frozen=True)
class ForeignEntry:
    """One entry (person) of the foreign dataset, as written.

    Attributes:
        name: Annotation or test-list name.
        split: Its split.
        video: Its video, ``None`` when the entry has none.
        label_lines: Label lines after the header (``None`` for test entries).
        missing_labels: 1-based label lines where valence or arousal is -5.
        face_frames: 1-based frame numbers that have a crop.
        frames_dir: Its crop folder, ``None`` when it has none.
        text: Notes on what is odd about the entry.
    """

    name: str
    split: Split
    video: VideoSpec | None
    label_lines: int | None
    missing_labels: tuple[int, ...]
    face_frames: tuple[int, ...]
    frames_dir: Path | None
    annotation: Path | None
    text: str

    @property
    def usable_frames(self) -> int:
        """Labelled lines (both values) that have a crop: what trains."""
        if self.label_lines is None:
            return 0
        faces = set(self.face_frames)
        return sum(1 for line in range(1, self.label_lines + 1) if line in faces and line not in self.missing_labels)


@dataclass(frozen=True)
class ForeignDataset:
    """What :func:`build_foreign_dataset` wrote."""

    root: Path
    entries: dict[str, ForeignEntry]
    test_list: Path

    def names(self, split: Split) -> list[str]:
        """Entry names of ``split``, sorted."""
        return sorted(name for name, entry in self.entries.items() if entry.split is split)


_VIDEOS = {
    # AVI, MPEG-4 Part 2 + PCM audio; the header says D + 2 (two empty packets).
    "5-60-1920x1080": VideoSpec("batch1/5-60-1920x1080.avi", 30, 30, "mpeg4", "pcm_s16le", empty_packets=2),
    # H.264 with B-frames, AAC audio.
    "video7": VideoSpec("batch1/video7.mp4", 28, 30, "libx264", "aac", b_frames=2),
    # Two persons, one video (H.264, no B-frames).
    "video20_1": VideoSpec("batch2/video20_1.mp4", 26, 25, "libx264", "aac"),
    # Variable frame rate.
    "vfr-12": VideoSpec("batch2/vfr-12.mp4", 30, 30, "libx264", "aac", variable_rate=True),
    # No audio track.
    "video33": VideoSpec("new_vids/video33.mp4", 24, 30, "mpeg4", None),
    # Test: AVI with one empty packet (the header says D + 1).
    "41-25-640x360": VideoSpec("batch2/41-25-640x360.avi", 25, 25, "mpeg4", "pcm_s16le", empty_packets=1),
    # Test: a two-person video of which only the right person is in the test list.
    "video52": VideoSpec("new_vids/video52.mp4", 27, 30, "libx264", "aac"),
}


@dataclass(frozen=True)
class _Plan:
    name: str
    split: Split
    video: str | None
    label_extra: int | None  # label lines = D + label_extra; None for test entries and entries without video
    rows: int | None  # label lines of a labelled entry without a video
    faces: tuple[int, ...]
    missing_labels: tuple[int, ...]
    crops_root: str | None
    style: str  # "crlf", "bom", "blank", "plain"
    text: str


def _faces(first: int, last: int, without: tuple[int, ...] = ()) -> tuple[int, ...]:
    return tuple(frame for frame in range(first, last + 1) if frame not in without)


_PLANS = (
    _Plan(
        "5-60-1920x1080",
        Split.TRAIN,
        "5-60-1920x1080",
        1,
        None,
        _faces(1, 31, (4, 5, 17)),
        (9, 10),
        "cropped_aligned",
        "crlf",
        "AVI header D + 2; labels D + 1 with CRLF; crop D + 1; no face at 4, 5, 17",
    ),
    _Plan(
        "video7",
        Split.TRAIN,
        "video7",
        2,
        None,
        _faces(1, 33, (12,)),
        (1, 2, 3),
        "cropped_aligned",
        "bom",
        "B-frames; labels D + 2 with a BOM and trailing blank lines; crops to 33, beyond the labels",
    ),
    _Plan(
        "video20_1_left",
        Split.TRAIN,
        "video20_1",
        1,
        None,
        _faces(6, 27),
        (),
        "cropped_aligned",
        "plain",
        "left person; crops start at frame 6",
    ),
    _Plan(
        "video20_1_right",
        Split.TRAIN,
        "video20_1",
        1,
        None,
        _faces(1, 26, (2, 3, 20, 21, 22)),
        (14,),
        NEW_CROPS,
        "blank",
        "right person; crops in the second crop root; one value -5 on line 14",
    ),
    _Plan(
        "video90",
        Split.TRAIN,
        None,
        None,
        22,
        _faces(1, 22, (7,)),
        (),
        "cropped_aligned",
        "plain",
        "annotated entry without a video: labels and crops only",
    ),
    _Plan(
        "vfr-12",
        Split.VALIDATION,
        "vfr-12",
        1,
        None,
        _faces(1, 31, (8,)),
        (20, 21),
        "cropped_aligned",
        "crlf",
        "variable frame rate; labels D + 1 with CRLF",
    ),
    _Plan(
        "video33",
        Split.VALIDATION,
        "video33",
        1,
        None,
        _faces(1, 24, (24,)),
        (),
        NEW_CROPS,
        "plain",
        "no audio track; labels D + 1",
    ),
    _Plan(
        "41-25-640x360",
        Split.TEST,
        "41-25-640x360",
        None,
        None,
        _faces(1, 26, (13,)),
        (),
        "cropped_aligned",
        "plain",
        "test AVI, header D + 1; crop D + 1",
    ),
    _Plan(
        "video52_right",
        Split.TEST,
        "video52",
        None,
        None,
        _faces(3, 28),
        (),
        NEW_CROPS,
        "plain",
        "test right person of a two-person video; crops 3 to D + 1",
    ),
    _Plan(
        "video61",
        Split.TEST,
        None,
        None,
        None,
        _faces(1, 22, (5,)),
        (),
        "cropped_aligned",
        "plain",
        "test entry without a video: its count only from its crops",
    ),
)


def build_foreign_dataset(root: Path) -> ForeignDataset:
    """Write the foreign dataset under ``root`` (created) and return what was written."""
    root.mkdir(parents=True, exist_ok=True)
    for number, spec in enumerate(_VIDEOS.values()):
        _write_video(root / spec.path, spec, seed=number)
    entries: dict[str, ForeignEntry] = {}
    for number, plan in enumerate(_PLANS):
        spec = _VIDEOS[plan.video] if plan.video else None
        frames_dir = root / plan.crops_root / plan.name if plan.crops_root else None
        if frames_dir is not None:
            _write_crops(frames_dir, plan.faces, seed=number)
        annotation = None
        label_lines = None
        if plan.split.is_labelled:
            label_lines = spec.decoded + plan.label_extra if spec is not None and plan.label_extra else plan.rows
            assert label_lines is not None
            folder = "Training_Set" if plan.split is Split.TRAIN else "Validation_Set"
            annotation = root / ANNOTATIONS / folder / f"{plan.name}.txt"
            _write_labels(annotation, label_lines, plan.missing_labels, plan.style, seed=number)
        entries[plan.name] = ForeignEntry(
            name=plan.name,
            split=plan.split,
            video=spec,
            label_lines=label_lines,
            missing_labels=plan.missing_labels,
            face_frames=plan.faces if frames_dir is not None else (),
            frames_dir=frames_dir,
            annotation=annotation,
            text=plan.text,
        )
    test_list = root / TEST_LIST
    test_list.parent.mkdir(parents=True, exist_ok=True)
    # Windows line endings and no final newline, as a hand-edited list can have.
    test_names = sorted(plan.name for plan in _PLANS if plan.split is Split.TEST)
    test_list.write_bytes("\r\n".join(test_names).encode())
    return ForeignDataset(root=root, entries=entries, test_list=test_list)


def _label_values(rows: int, seed: int) -> np.ndarray:
    steps = np.arange(rows)
    valence = 0.8 * np.sin(steps / 5.0 + seed)
    arousal = 0.6 * np.cos(steps / 7.0 + 2 * seed)
    return np.round(np.stack([valence, arousal], axis=1), 3)


def _write_labels(path: Path, rows: int, missing: tuple[int, ...], style: str, seed: int) -> None:
    values = _label_values(rows, seed)
    lines = ["valence,arousal"]
    for line, (valence, arousal) in enumerate(values, start=1):
        if line in missing:
            # Odd lines lose only their valence: a frame is dropped when either value is -5.
            lines.append("-5,-5" if line % 2 == 0 else f"-5,{arousal:.3f}")
        else:
            lines.append(f"{valence:.3f},{arousal:.3f}")
    ending = "\r\n" if style == "crlf" else "\n"
    text = ending.join(lines) + ending
    if style == "bom":
        text = "\ufeff" + text + "\n\n"
    elif style == "blank":
        text += "\n \n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))


def _write_crops(folder: Path, frames: tuple[int, ...], seed: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    base = rng.integers(60, 200, size=3)
    for frame in frames:
        pixels = np.empty((*CROP_SIZE, 3), dtype=np.uint8)
        pixels[:] = (base + 3 * frame) % 256
        pixels[40:72, 30:82] = (255 - base) % 256  # something face-like that moves with the frame
        pixels[40 + frame % 20 : 44 + frame % 20, 50:60] = 20
        Image.fromarray(pixels).save(folder / f"{frame:05d}.jpg", "JPEG", quality=85)


def _write_video(path: Path, spec: VideoSpec, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    variable = spec.variable_rate
    time_base = Fraction(1, 1000) if variable else Fraction(1, spec.fps)
    width, height = FRAME_SIZE
    rng = np.random.default_rng(seed)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(spec.codec, rate=spec.fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.time_base = time_base
        stream.codec_context.time_base = time_base
        if spec.codec == "libx264":
            stream.options = {"preset": "ultrafast" if not spec.b_frames else "veryfast", "bf": str(spec.b_frames)}
        audio = None
        if spec.audio is not None:
            audio = container.add_stream(spec.audio, rate=AUDIO_RATE)
            audio.layout = "mono"
        pts = 0
        for index in range(spec.decoded):
            pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = pts
            frame.time_base = time_base
            # Variable rate: durations alternate between 20 ms and about 47 ms.
            pts += (20 if index % 2 else 47) if variable else 1
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
        for extra in range(spec.empty_packets):
            # A zero-size packet: the AVI muxer indexes it as a (dropped) frame, the decoder returns nothing.
            packet = av.Packet(0)
            packet.stream = stream
            packet.pts = packet.dts = pts + extra
            packet.time_base = time_base
            container.mux(packet)
        if audio is not None:
            seconds = float(pts * time_base)
            _encode_audio(container, audio, seconds, seed)


def _encode_audio(container: av.container.OutputContainer, stream: av.AudioStream, seconds: float, seed: int) -> None:
    rate = stream.rate
    times = np.arange(round(seconds * rate)) / rate
    tone = 0.3 * np.sin(2 * np.pi * (180 + 40 * seed) * times) * (1 + 0.5 * np.sin(2 * np.pi * 3 * times))
    sound = tone.astype(np.float32).reshape(1, -1)
    if stream.codec_context.name == "pcm_s16le":
        frame = av.AudioFrame.from_ndarray(np.round(sound * 32767).astype(np.int16), format="s16", layout="mono")
    else:
        frame = av.AudioFrame.from_ndarray(sound, format="fltp", layout="mono")
    frame.sample_rate = rate
    frame.pts = 0
    for packet in stream.encode(frame):
        container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)
