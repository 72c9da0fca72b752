"""Building a dataset index from the files: annotation files, face-crop folders and videos.

Building reads every annotation file, lists every face-crop folder and
probes every video once; the dataset's own files are never written to.
Every problem found is recorded, with what it does to the work, rather
than raised.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from abaw.data.annotations import read_annotation, read_test_list, valid_rows
from abaw.data.digest import file_key, text_digest
from abaw.data.entries import (
    FRAME_COUNT_TOLERANCE,
    Effect,
    Entry,
    IndexContents,
    Problem,
    Severity,
    unusable_video,
)
from abaw.data.frames import IMAGE_SUFFIX, FaceFolder, face_image_fault, scan_face_folder
from abaw.data.index_cache import INDEX_FORMAT
from abaw.data.layout import DatasetLayout, Split
from abaw.data.names import find_video
from abaw.data.video import VideoInfo, probe_video
from abaw.errors import DataError
from abaw.messages import some
from abaw.progress import ProgressFn, no_progress

if TYPE_CHECKING:
    from abaw.data.index import DatasetIndex

IO_THREADS = 4
"""Threads reading files at once: the work waits on the disk, not the CPU."""


@dataclass
class IndexSources:
    """What the index is built from, and the fingerprint of it."""

    entries: list[tuple[str, Split, Path | None]]
    frames_dirs: dict[str, list[Path]]
    videos: dict[str, Path | None]
    problems: list[Problem]
    stats: list[str]
    files: list[Path] = field(default_factory=list)
    """The annotation files and the test list, digested whole in the content key."""

    def fingerprint(self, layout: DatasetLayout) -> str:
        """The quick key: a digest of the layout and of the size and modification time of every source."""
        return self._digest(layout, self.stats)

    def content_fingerprint(self, layout: DatasetLayout) -> str:
        """The content key, what a copy keeps: every annotation file and the test list byte for byte,
        each video's content key (:mod:`abaw.data.digest`) and the names in each crop folder."""
        lines = [f"{path} {file_key(path, whole=True)}" for path in self.files]
        lines.extend(f"{path} {file_key(path)}" for path in sorted({v for v in self.videos.values() if v}, key=str))
        for name in sorted(self.frames_dirs):
            for folder in self.frames_dirs[name]:
                try:
                    listing = sorted(os.listdir(folder))
                except OSError:
                    listing = ["(unreadable)"]
                lines.append(f"{folder} {text_digest(chr(10).join(listing))}")
        return self._digest(layout, lines)

    @staticmethod
    def _digest(layout: DatasetLayout, lines: list[str]) -> str:
        digest = hashlib.sha256()
        digest.update(f"format {INDEX_FORMAT}\n".encode())
        digest.update(json.dumps(layout.describe(), sort_keys=True).encode())
        for line in lines:
            digest.update(line.encode("utf-8", "surrogateescape") + b"\n")
        return digest.hexdigest()


def _stat_line(path: Path) -> str:
    try:
        info = path.stat()
    except OSError:
        return f"{path} missing"
    return f"{path} {info.st_size} {info.st_mtime_ns}"


def collect_sources(layout: DatasetLayout) -> IndexSources:
    """List what the index of ``layout`` is built from, with the problems found on the way; read no label yet."""
    problems: list[Problem] = []
    entries: list[tuple[str, Split, Path | None]] = []
    seen: dict[str, Split] = {}
    stats: list[str] = []
    files: list[Path] = []

    for split, folder in sorted(layout.annotation_dirs.items(), key=lambda item: item[0].value):
        for file_name in sorted(os.listdir(folder)):
            path = folder / file_name
            if not file_name.endswith(".txt") or file_name.startswith("."):
                continue
            if not path.is_file():
                what = "a folder" if path.is_dir() else "not a regular file"
                problems.append(Problem(Severity.WARNING, f"{path}: {what}, not an annotation file; skipped"))
                continue
            name = file_name[: -len(".txt")]
            if name in seen:
                problems.append(
                    Problem(
                        Severity.ERROR,
                        f"{path}: {name} is annotated in both {seen[name].value} and {split.value}",
                        name,
                    )
                )
                continue
            seen[name] = split
            entries.append((name, split, path))
            stats.append(_stat_line(path))
            files.append(path)

    if layout.test_list is not None:
        stats.append(_stat_line(layout.test_list))
        files.append(layout.test_list)
        try:
            test_names = read_test_list(layout.test_list)
        except DataError as error:
            problems.append(Problem(Severity.ERROR, str(error), split=Split.TEST))
            test_names = []
        for name in test_names:
            if name in seen:
                problems.append(
                    Problem(
                        Severity.ERROR,
                        f"{layout.test_list}: test video {name} also has {seen[name].value} annotations",
                        name,
                        Split.TEST,
                    )
                )
                continue
            seen[name] = Split.TEST
            entries.append((name, Split.TEST, None))
    else:
        problems.append(
            Problem(
                Severity.WARNING,
                f"{layout.root}: no test list found; pass --test-list to predict the test set",
                split=Split.TEST,
                effect=Effect.BLOCKS,
            )
        )

    # An entry's crops may be split over two crop roots (cropped_aligned and cropped_aligned_new_50_vids):
    # every folder of its name is kept, in the layout's order, and merged when indexed.
    frames_dirs: dict[str, list[Path]] = {}
    for frame_root in layout.frame_dirs:
        strays = []
        with os.scandir(frame_root) as listing:
            for item in listing:
                if item.name.startswith(".") or not item.is_dir():
                    continue
                if item.name in seen:
                    frames_dirs.setdefault(item.name, []).append(Path(item.path))
                else:
                    strays.append(item.name)
        if strays:
            problems.append(Problem(Severity.WARNING, _stray_folders_message(frame_root, sorted(strays), layout)))
    for name in sorted(frames_dirs):
        stats.extend(_stat_line(folder) for folder in frames_dirs[name])
    videos = {name: find_video(name, layout.videos) for name in seen}
    for path in sorted({video for video in videos.values() if video is not None}, key=str):
        stats.append(_stat_line(path))
    return IndexSources(entries, frames_dirs, videos, problems, stats, files)


def _stray_folders_message(frame_root: Path, strays: list[str], layout: DatasetLayout) -> str:
    """The warning for crop folders that no annotation file or test-list line names (a typo in the test list?)."""
    listed = f" nor in the test list {layout.test_list}" if layout.test_list is not None else ""
    return (
        f"{frame_root}: {len(strays)} face-crop folder(s) named by no annotation file{listed}: {some(strays, 5)} "
        "(a video of another challenge, or a misspelt name?)"
    )


@dataclass(frozen=True)
class _Crops:
    """An entry's face images, merged from every crop folder of its name."""

    frames: np.ndarray
    frames_dir: Path | None
    sources: tuple[tuple[Path, str], ...] = ()
    source_ids: np.ndarray | None = None


def _merge_crops(folders: list[Path], name: str, split: Split, problems: list[Problem], unusable: Effect) -> _Crops:
    """Scan each of an entry's crop folders; take every frame from the first folder (in layout order) that has it."""
    scanned = []
    for folder in folders:
        try:
            found = scan_face_folder(folder)
        except DataError as error:
            problems.append(Problem(Severity.ERROR, str(error), name, split, unusable))
            continue
        misnamed = found.misnamed_note()
        if misnamed:
            problems.append(Problem(Severity.WARNING, f"{folder}: {misnamed}", name, split))
        scanned.append((folder, found))
    if not scanned:
        return _Crops(np.zeros(0, dtype=np.int64), folders[0] if folders else None)
    if len(scanned) == 1 and scanned[0][1].suffix_ids is None:  # the usual case: one folder of NNNNN.jpg
        return _Crops(scanned[0][1].frames, scanned[0][0])
    sources: list[tuple[Path, str]] = []
    by_frame: dict[int, int] = {}
    for folder, found in scanned:
        for position, frame in enumerate(found.frames.tolist()):
            if frame in by_frame:
                continue
            source = (folder, found.suffix_of(position))
            if source not in sources:
                sources.append(source)
            by_frame[frame] = sources.index(source)
    holding = [folder for folder, found in scanned if len(found.frames)]
    frames_dir = holding[0] if holding else scanned[0][0]
    if len(scanned) > 1:
        problems.append(Problem(Severity.WARNING, _split_crops_message(name, scanned, len(by_frame)), name, split))
    frames = np.array(sorted(by_frame), dtype=np.int64)
    if sources in ([], [(frames_dir, IMAGE_SUFFIX)]):
        return _Crops(frames, frames_dir)
    ids = np.array([by_frame[frame] for frame in frames.tolist()], dtype=np.uint8)
    return _Crops(frames, frames_dir, tuple(sources), ids)


def _split_crops_message(name: str, scanned: list[tuple[Path, FaceFolder]], total: int) -> str:
    """The warning for an entry whose crops lie in several crop roots: where they are, and what is used."""
    parts = ", ".join(f"{folder} ({len(found.frames)} images)" for folder, found in scanned)
    both = sum(len(found.frames) for _, found in scanned) - total
    overlap = f"; {both} frames are in more than one, taken from the first" if both else ""
    return (
        f"{scanned[0][0]}: the face crops of {name} lie in {len(scanned)} folders: {parts}; "
        f"all {total} frames are used{overlap}"
    )


def _probe(path: Path | None) -> VideoInfo | DataError | None:
    if path is None:
        return None
    try:
        return probe_video(path)
    except DataError as error:
        return error


def build_contents(layout: DatasetLayout, sources: IndexSources, progress: ProgressFn) -> IndexContents:
    """Read every annotation file, list every face-crop folder and probe every video of ``sources``."""
    problems = list(sources.problems)
    entries: dict[str, Entry] = {}
    label_arrays: list[np.ndarray] = []
    label_offsets: dict[str, tuple[int, int]] = {}
    cursor = 0
    videos = [sources.videos[name] for name, _, _ in sources.entries]
    with ThreadPoolExecutor(max_workers=IO_THREADS) as pool:
        probes = pool.map(_probe, videos)
        work = zip(sources.entries, videos, probes, strict=True)
        for (name, split, annotation), video, probe in progress(work, "Indexing videos", len(sources.entries)):
            # Without its labels or crops the entry cannot train (or, in the test split, be predicted).
            unusable = Effect.SKIPPED if split.is_labelled else Effect.BLOCKS
            labels = np.zeros((0, 2), dtype=np.float32)
            if annotation is not None:
                try:
                    labels = read_annotation(annotation)
                except DataError as error:
                    problems.append(Problem(Severity.ERROR, str(error), name, split, Effect.SKIPPED))
            crops = _merge_crops(sources.frames_dirs.get(name, []), name, split, problems, unusable)
            info = probe if isinstance(probe, VideoInfo) else None
            if isinstance(probe, DataError):
                # A test entry without a readable video still has a count from its crops.
                problems.append(Problem(Severity.ERROR, str(probe), name, split, unusable_video(split)))
            entry = Entry(
                name=name,
                split=split,
                annotation=annotation,
                frames_dir=crops.frames_dir,
                video=video,
                label_rows=len(labels),
                face_frames=crops.frames,
                header_frames=info.header_frames if info else None,
                packet_frames=info.packet_frames if info else None,
                fps=info.fps if info else None,
                has_audio=info.has_audio if info else None,
                crop_sources=crops.sources,
                face_sources=crops.source_ids,
            )
            problems.extend(_entry_problems(entry, layout, labels))
            entries[name] = entry
            label_arrays.append(labels)
            label_offsets[name] = (cursor, cursor + len(labels))
            cursor += len(labels)
    values = np.concatenate(label_arrays) if label_arrays else np.zeros((0, 2), dtype=np.float32)
    return IndexContents(
        entries=dict(sorted(entries.items())),
        problems=problems,
        label_values=values,
        label_offsets=label_offsets,
    )


def _entry_problems(entry: Entry, layout: DatasetLayout, labels: np.ndarray) -> list[Problem]:
    found: list[Problem] = []
    no_frames = Effect.SKIPPED if entry.split.is_labelled else Effect.BLOCKS

    def add(severity: Severity, message: str, effect: Effect = Effect.WARNING) -> None:
        found.append(Problem(severity, message, entry.name, entry.split, effect))

    where = entry.annotation or layout.test_list or layout.root
    if entry.frames_dir is None:
        folders = ", ".join(path.name for path in layout.frame_dirs) or "no cropped_aligned* folder found"
        add(Severity.WARNING, f"{where}: no face-crop folder {entry.name}/ in {folders}", no_frames)
    elif not len(entry.face_frames):
        add(Severity.WARNING, f"{entry.frames_dir}: no face images (NNNNN.jpg)", no_frames)
    if entry.video is None:
        purpose = "audio features and the exact frame count" if entry.split is Split.TEST else "audio features"
        add(Severity.WARNING, f"{where}: no video file for {entry.name} (needed for {purpose})")
    elif entry.has_audio is False:
        add(Severity.WARNING, f"{entry.video}: the video has no audio track")
    if not entry.label_count_fits_video:
        # Odd but consistent: the label lines define the entry's frames for training and scoring.
        add(
            Severity.WARNING,
            f"{entry.annotation}: {entry.label_rows} label lines for a video of "
            f"{entry.video_frames} frames ({entry.video.name}); expected {entry.video_frames} to "
            f"{entry.video_frames + FRAME_COUNT_TOLERANCE}; the label lines are used",
        )
    limit = entry.label_rows if entry.annotation is not None else entry.frame_count + FRAME_COUNT_TOLERANCE
    if entry.label_rows or entry.annotation is None:
        beyond = int((entry.face_frames > limit).sum())
        if beyond and entry.frames_dir is not None:
            add(Severity.WARNING, f"{entry.frames_dir}: {beyond} face images beyond frame {limit}")
    if entry.annotation is not None and entry.label_rows:
        usable = valid_rows(labels) & entry.has_face(np.arange(1, entry.label_rows + 1))
        if not usable.any() and len(entry.face_frames):
            add(Severity.WARNING, f"{entry.annotation}: no frame has both a label and a face image", Effect.SKIPPED)
    return found


def verify_face_images(index: DatasetIndex, *, progress: ProgressFn = no_progress) -> list[Problem]:
    """Decode every face image of ``index`` and return a problem for each one that is unusable.

    A file that does not decode is an error that blocks (training and
    prediction stop at it); a size or colour mode other than the organisers'
    112x112 RGB is a warning (training resizes it).
    """
    paths = [
        (entry, entry.image_path(int(frame)))
        for entry in index.entries.values()
        if entry.frames_dir is not None
        for frame in entry.face_frames
    ]
    problems = []
    with ThreadPoolExecutor(max_workers=IO_THREADS) as pool:
        faults = pool.map(face_image_fault, [path for _, path in paths], chunksize=256)
        for (entry, _), fault in progress(zip(paths, faults, strict=True), "Decoding face images", len(paths)):
            if fault is not None:
                severity = Severity.ERROR if fault.unreadable else Severity.WARNING
                problems.append(Problem(severity, fault.message, entry.name, entry.split))
    return problems
