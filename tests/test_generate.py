"""The synthetic Aff-Wild2 generator: layout, file formats, quirks, determinism, learnability."""

from __future__ import annotations

import json
import re
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from abaw.data.annotations import MISSING_LABEL, read_annotation, read_test_list
from abaw.data.layout import FRAME_FOLDER_PREFIX, Edition, Split, discover_layout
from abaw.data.names import video_stem
from abaw.data.video import probe_video
from abaw.errors import AbawError, DataError, OutputExistsError
from abaw.outputs import UnsafeOutputError
from abaw.synthetic import GeneratedDataset, GeneratorConfig, generate_dataset
from abaw.synthetic.config import CROP_SIZE, NEW_FRAMES_FOLDER

# Where the generator draws the mouth and the eyes in a crop, whatever the identity jitter
# (face centre at 0.52 +- 0.04 of the crop, face scale 0.80-0.92): (rows, columns).
MOUTH_BOX = (slice(68, 90), slice(36, 76))
EYES_BOX = (slice(38, 54), slice(26, 86))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> GeneratedDataset:
    return generate_dataset(tmp_path_factory.mktemp("gen") / "affwild2", GeneratorConfig(videos=6, frames=60))


def _videos(dataset: GeneratedDataset) -> dict[Path, list[str]]:
    by_video: dict[Path, list[str]] = {}
    for name, entry in dataset.entries.items():
        by_video.setdefault(entry.video, []).append(name)
    return by_video


def _decode_audio(path: Path) -> tuple[np.ndarray, int, float | None]:
    """Mono float samples, sample rate and the container's stated duration (seconds) of the audio track."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        chunks = []
        for frame in container.decode(stream):
            samples = frame.to_ndarray().astype(np.float64)
            if frame.format.is_packed:
                samples = samples.reshape(-1, frame.layout.nb_channels).T
            if frame.format.name.startswith("s16"):
                samples = samples / 32768.0
            chunks.append(samples.mean(axis=0))
        stated = float(stream.duration * stream.time_base) if stream.duration else None
        return np.concatenate(chunks), stream.rate, stated


def _centred_correlation(xs: list[np.ndarray], ys: list[np.ndarray]) -> float:
    # Per-video centring: identity (skin, face position, voice) shifts the statistic per video.
    x = np.concatenate([v - v.mean() for v in xs])
    y = np.concatenate([v - v.mean() for v in ys])
    return float(np.corrcoef(x, y)[0, 1])


# --------------------------------------------------------------------------- layout


def _check_layout(dataset: GeneratedDataset, edition: Edition) -> None:
    root = dataset.root
    layout = discover_layout(root)
    assert layout.edition is edition
    assert layout.notes == ()
    parent = root / edition.annotation_parent
    assert layout.annotation_dirs == {
        Split.TRAIN: parent / edition.train_folder,
        Split.VALIDATION: parent / edition.validation_folder,
    }
    assert layout.frame_dirs[0] == root / FRAME_FOLDER_PREFIX
    assert {entry.frames_dir.parent for entry in dataset.entries.values()} == set(layout.frame_dirs)
    assert layout.videos == {entry.video.stem: entry.video for entry in dataset.entries.values()}
    assert layout.test_list == dataset.test_list
    assert read_test_list(layout.test_list) == dataset.names(Split.TEST)
    for split in (Split.TRAIN, Split.VALIDATION):
        files = sorted(path.stem for path in layout.annotation_dirs[split].glob("*.txt"))
        assert files == sorted(dataset.names(split))
    folders = {entry.video.parent.name for entry in dataset.entries.values()}
    expected = {"batch1", "batch2", "new_vids"} if edition is Edition.ABAW2022 else {"batch1", "batch2"}
    assert folders == expected


def test_layout_2022(dataset: GeneratedDataset) -> None:
    _check_layout(dataset, Edition.ABAW2022)
    assert dataset.test_list == (
        dataset.root / "names_of_videos_in_each_test_set" / "Valence_Arousal_Estimation_Challenge_test_set_release.txt"
    )
    assert (dataset.root / "6th ABAW Annotations" / "VA_Estimation_Challenge" / "Train_Set").is_dir()
    assert {entry.frames_dir.parent.name for entry in dataset.entries.values()} == {
        FRAME_FOLDER_PREFIX,
        NEW_FRAMES_FOLDER,
    }


@pytest.mark.parametrize(("edition", "videos"), [(Edition.ABAW2020, 9), (Edition.ABAW2021, 13)])
def test_layout_older_editions(tmp_path: Path, edition: Edition, videos: int) -> None:
    dataset = generate_dataset(tmp_path / "root", GeneratorConfig(videos=videos, frames=10, edition=edition))
    _check_layout(dataset, edition)
    assert dataset.test_list == dataset.root / "test_set_VA_Challenge.txt"
    assert {entry.frames_dir.parent.name for entry in dataset.entries.values()} == {FRAME_FOLDER_PREFIX}
    # With more entries: the half-suffixed pair (video2 and video2_left) in one split, sharing one video.
    assert dataset.entries["video2"].video == dataset.entries["video2_left"].video
    assert dataset.entries["video2"].split is dataset.entries["video2_left"].split


@pytest.mark.parametrize(("videos", "sizes"), [(6, (2, 2, 2)), (9, (5, 2, 2)), (12, (6, 3, 3)), (20, (10, 5, 5))])
def test_split_sizes(tmp_path: Path, videos: int, sizes: tuple[int, int, int]) -> None:
    dataset = generate_dataset(tmp_path / "root", GeneratorConfig(videos=videos, frames=10))
    assert len(dataset.entries) == videos
    assert tuple(len(dataset.names(split)) for split in Split) == sizes


def test_manifest(dataset: GeneratedDataset) -> None:
    manifest = json.loads(dataset.manifest.read_text())
    assert manifest["config"]["videos"] == 6
    assert manifest["config"]["edition"] == Edition.ABAW2022.value
    assert list(manifest["entries"]) == list(dataset.entries)
    for name, facts in manifest["entries"].items():
        entry = dataset.entries[name]
        assert dataset.root / facts["video"] == entry.video
        assert dataset.root / facts["labels"] == entry.labels_file
        assert facts["frames"] == entry.frames


# --------------------------------------------------------------------------- entries


def test_labelled_entries(dataset: GeneratedDataset) -> None:
    missing_rows = single_missing = 0
    plus_two = [name for name, entry in dataset.entries.items() if entry.label_rows == entry.frames + 2]
    assert len(plus_two) == 1 and dataset.entries[plus_two[0]].split is Split.VALIDATION
    for name in dataset.names(Split.TRAIN) + dataset.names(Split.VALIDATION):
        entry = dataset.entries[name]
        assert entry.annotation is not None and entry.annotation.stem == name
        labels = read_annotation(entry.annotation)
        assert labels.shape == (entry.label_rows, 2)
        assert entry.label_rows - probe_video(entry.video).frames == entry.label_rows - entry.frames in (1, 2)
        is_missing = labels == MISSING_LABEL
        missing_rows += int(is_missing.all(axis=1).sum())
        single_missing += int((is_missing.sum(axis=1) == 1).sum())
        # Written labels are the true trajectory, to the 3 decimals of the file.
        known = ~is_missing
        np.testing.assert_allclose(labels[:, 0][known[:, 0]], entry.valence[known[:, 0]], atol=6e-4)
        np.testing.assert_allclose(labels[:, 1][known[:, 1]], entry.arousal[known[:, 1]], atol=6e-4)
        values = [value for line in entry.annotation.read_text().splitlines()[1:] for value in line.split(",")]
        assert all(re.fullmatch(r"-5|-?[01]\.\d{3}", value) for value in values)
    assert missing_rows > 0
    assert single_missing > 0


def test_face_images(dataset: GeneratedDataset) -> None:
    entries_with_gaps = 0
    extra = []
    for entry in dataset.entries.values():
        files = sorted(path.name for path in entry.frames_dir.iterdir())
        assert files == [f"{number:05d}.jpg" for number in entry.image_numbers]
        assert files[0] == "00001.jpg"
        entries_with_gaps += bool(entry.missing_images)
        if entry.extra_image:
            extra.append(entry.name)
            assert files[-1] == f"{entry.frames + 1:05d}.jpg"
        else:
            assert int(files[-1][:5]) <= entry.frames
        for path in entry.frames_dir.iterdir():
            with Image.open(path) as image:
                assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (CROP_SIZE, CROP_SIZE))
    assert entries_with_gaps >= 2
    assert len(extra) == 1
    total = sum(entry.frames for entry in dataset.entries.values())
    assert 0 < sum(len(entry.missing_images) for entry in dataset.entries.values()) < 0.2 * total


def test_videos_decode(dataset: GeneratedDataset) -> None:
    containers = set()
    overcounting = 0
    for path, names in _videos(dataset).items():
        entry = dataset.entries[names[0]]
        assert all(video_stem(name) == path.stem for name in names)
        info = probe_video(path, decode=True)
        assert (info.frames, info.fps, info.has_audio) == (entry.frames, entry.fps, True)
        assert (info.header_frames, info.packet_frames, info.decoded_frames) == (
            entry.header_frames,
            entry.frames,
            entry.frames,
        )
        overcounting += entry.header_frames == entry.frames + 2 and path.suffix == ".avi"
        with av.open(str(path)) as container:
            video = container.streams.video[0]
            containers.add((path.suffix, video.codec_context.name, container.streams.audio[0].codec_context.name))
            assert float(video.average_rate) == entry.fps
            assert video.width % 2 == 0 and video.height % 2 == 0
            assert sum(1 for _ in container.decode(video)) == entry.frames
        samples, rate, stated = _decode_audio(path)
        assert rate == entry.audio_rate in (16000, 44100)
        duration = entry.frames / entry.fps
        assert abs(len(samples) / rate - duration) < 1 / entry.fps
        if stated is not None:
            assert abs(stated - duration) < 1 / entry.fps
    assert overcounting == 1  # one AVI's header counts two zero-size packets
    assert (".mp4", "h264", "aac") in containers
    assert any(suffix == ".avi" and codec == "mpeg4" for suffix, codec, _ in containers)
    assert {entry.fps for entry in dataset.entries.values()} == {25.0, 30.0}
    assert {entry.audio_channels for entry in dataset.entries.values()} == {1, 2}


def test_two_person_video_and_test_entries(dataset: GeneratedDataset) -> None:
    left, right = dataset.entries["video10_1_left"], dataset.entries["video10_1_right"]
    assert left.video == right.video and left.video.stem == "video10_1"
    assert left.split is right.split is Split.TRAIN
    assert left.frames_dir != right.frames_dir
    assert left.annotation is not None and right.annotation is not None
    assert left.annotation.parent == right.annotation.parent
    assert not np.allclose(left.valence, right.valence)

    test_names = read_test_list(dataset.test_list)
    assert len(test_names) == 2
    layout = discover_layout(dataset.root)
    annotated = {path.stem for folder in layout.annotation_dirs.values() for path in folder.glob("*.txt")}
    for name in test_names:
        entry = dataset.entries[name]
        assert name not in annotated and entry.annotation is None
        assert entry.hidden_labels is not None and ".generator" in entry.hidden_labels.parts
        assert read_annotation(entry.hidden_labels).shape == (entry.frames + 1, 2)
        assert entry.frames_dir.is_dir() and entry.video.is_file()


# --------------------------------------------------------------------------- determinism


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.suffix in (".txt", ".jpg")
    }


def test_same_seed_same_files(tmp_path: Path) -> None:
    config = GeneratorConfig(videos=6, frames=12, seed=3)
    first = _snapshot(generate_dataset(tmp_path / "a", config).root)
    second = _snapshot(generate_dataset(tmp_path / "b", config).root)
    assert first.keys() == second.keys()
    assert any(name.endswith(".jpg") for name in first)
    assert first == second

    other = generate_dataset(tmp_path / "c", GeneratorConfig(videos=6, frames=12, seed=4))
    labels = [name for name in first if name.endswith(".txt") and "test_set" not in name]
    other_files = _snapshot(other.root)
    assert all(first[name] != other_files.get(name) for name in labels)


# --------------------------------------------------------------------------- learnability


def test_faces_show_valence_and_arousal(dataset: GeneratedDataset) -> None:
    mouth, eyes, valence, arousal = [], [], [], []
    for entry in dataset.entries.values():
        # Degraded frames hide or distort the cues on purpose: the clean ones must show them.
        clean = ~entry.degradations.mask()
        numbers = np.array([number for number in entry.image_numbers if clean[number - 1]])
        pixels = np.stack(
            [np.asarray(Image.open(entry.frames_dir / f"{n:05d}.jpg").convert("L"), np.float32) for n in numbers]
        )
        mouth.append(pixels[:, MOUTH_BOX[0], MOUTH_BOX[1]].mean(axis=(1, 2)))
        eyes.append(pixels[:, EYES_BOX[0], EYES_BOX[1]].mean(axis=(1, 2)))
        valence.append(entry.valence[numbers - 1])
        arousal.append(entry.arousal[numbers - 1])
    assert _centred_correlation(mouth, valence) > 0.5
    assert _centred_correlation(eyes, arousal) > 0.5
    # Each cue carries its own dimension only.
    assert abs(_centred_correlation(mouth, arousal)) < 0.4
    assert abs(_centred_correlation(eyes, valence)) < 0.4
    # The two dimensions are not one: both cover a range, and are uncorrelated.
    assert abs(_centred_correlation(valence, arousal)) < 0.3
    every_v, every_a = np.concatenate(valence), np.concatenate(arousal)
    assert every_v.max() - every_v.min() > 0.8 and every_a.max() - every_a.min() > 0.8
    assert np.abs(every_v).max() <= 0.95 and np.abs(every_a).max() <= 0.95


def test_audio_loudness_follows_arousal(dataset: GeneratedDataset) -> None:
    loudness, arousal = [], []
    for path, names in _videos(dataset).items():
        if len(names) > 1:  # two persons take turns: the sound follows whoever speaks
            continue
        entry = dataset.entries[names[0]]
        samples, rate, _ = _decode_audio(path)
        hop = rate / entry.fps
        windows = [samples[round(i * hop) : round((i + 1) * hop)] for i in range(entry.frames)]
        loudness.append(np.array([np.sqrt(np.mean(window**2)) for window in windows]))
        arousal.append(entry.arousal[: entry.frames])
    assert len(loudness) >= 3
    assert _centred_correlation(loudness, arousal) > 0.5


# --------------------------------------------------------------------------- errors


def test_overwrite_needs_force_and_a_generated_dataset(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "keep.txt").write_text("mine")
    for force in (False, True):
        with pytest.raises(UnsafeOutputError, match="not written by abaw") as raised:
            generate_dataset(mine, GeneratorConfig(videos=6, frames=10), force=force)
        assert isinstance(raised.value, AbawError)
    assert [path.name for path in mine.iterdir()] == ["keep.txt"] and (mine / "keep.txt").read_text() == "mine"

    out = tmp_path / "root"
    first = generate_dataset(out, GeneratorConfig(videos=6, frames=10))
    before = first.manifest.read_bytes()
    with pytest.raises(OutputExistsError, match="--force"):
        generate_dataset(out, GeneratorConfig(videos=6, frames=10, seed=3))
    assert first.manifest.read_bytes() == before
    dataset = generate_dataset(out, GeneratorConfig(videos=6, frames=10, seed=3), force=True)
    assert dataset.manifest.read_bytes() != before
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"videos": 5}, "videos must be at least 6"),
        ({"frames": 9}, "frames must be at least 10"),
        ({"edition": "2019"}, "edition must be one of"),
        ({"no_face_rate": 0.5}, "no_face_rate must be between"),
    ],
)
def test_bad_config(options: dict[str, object], message: str) -> None:
    with pytest.raises(DataError, match=message):
        GeneratorConfig(**options)  # type: ignore[arg-type]


def test_progress_wraps_the_video_loop(tmp_path: Path) -> None:
    calls = []

    def progress(items, description, total):
        calls.append((description, total))
        return items

    dataset = generate_dataset(tmp_path / "root", GeneratorConfig(videos=6, frames=10), progress=progress)
    assert calls == [("Generating videos", len(_videos(dataset)))]
