"""One index over a dataset root: every video entry, its labels, faces and container facts.

Building the index reads every annotation file, lists every face-crop folder
and probes every video once. The result is cached under the layout's cache
folder and reused until a source changes: the cache key is a fingerprint of
the sizes and modification times of the annotation files, the face-crop
folders, the videos and the test list. The dataset's own files are never
written to.

Problems are collected rather than raised, so that ``abaw data check`` can
list all of them at once. Each problem says what it does to the work
(:class:`Effect`): training skips an entry with an error in one of its files
or without a usable frame (:meth:`DatasetIndex.usable_entries`), a command
refuses only what makes it impossible (:meth:`DatasetIndex.require_split`),
and :meth:`DatasetIndex.require_usable` refuses any error (``--strict``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path

import numpy as np

from abaw.data.annotations import read_annotation, read_test_list, valid_rows
from abaw.data.frame_counts import (
    FrameCountFile,
    FrameCountRule,
    FrameCounts,
    FrameFacts,
    LearnedRule,
    learn_frame_count_rule,
    read_frame_count_file,
    resolve_frame_counts,
    sample_frame_counts,
)
from abaw.data.frames import face_image_fault, frame_image_path, scan_face_folder
from abaw.data.layout import DatasetLayout, Split, discover_layout
from abaw.data.names import find_video
from abaw.data.video import VideoInfo, count_decoded_frames, probe_video
from abaw.errors import DataError, OutputError
from abaw.fileio import atomic_output_file
from abaw.progress import ProgressFn, no_progress

INDEX_FORMAT = 5
FRAME_COUNT_TOLERANCE = 2
"""Annotation files may hold up to this many label lines more than the video has frames."""

_IO_THREADS = 4


class Severity(str, Enum):
    """How bad a problem is: errors make a dataset unusable, warnings do not.

    Example:
        >>> Severity("warning") is Severity.WARNING
        True
    """

    ERROR = "error"
    WARNING = "warning"


class Effect(str, Enum):
    """What a problem does to the work: it blocks a command, makes training skip its entry, or only warns.

    Example:
        >>> Effect("skipped").description
        'skipped by training'
    """

    BLOCKS = "blocks"
    SKIPPED = "skipped"
    WARNING = "warning"

    @property
    def description(self) -> str:
        """How ``abaw data check`` words the effect."""
        return {
            Effect.BLOCKS: "blocks",
            Effect.SKIPPED: "skipped by training",
            Effect.WARNING: "warning only",
        }[self]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the dataset, phrased as a one-line message naming the file.

    Attributes:
        severity: Error (a file is corrupt or unreadable) or warning (odd but consistent data).
        message: ``path[:line]: what is wrong``.
        entry: The entry concerned, if one.
        split: The split concerned; ``None`` when the whole dataset is.
        effect: What it does to the work; by default an error blocks and a warning only warns.
    """

    severity: Severity
    message: str
    entry: str | None = None
    split: Split | None = None
    effect: Effect | None = None

    def __post_init__(self) -> None:
        if self.effect is None:
            default = Effect.BLOCKS if self.severity is Severity.ERROR else Effect.WARNING
            object.__setattr__(self, "effect", default)

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready form (also how the index cache stores it)."""
        return {
            "severity": self.severity.value,
            "effect": self.effect.value,
            "message": self.message,
            "entry": self.entry,
            "split": None if self.split is None else self.split.value,
        }


@dataclass(frozen=True)
class SkippedEntry:
    """An entry that training (or scoring) leaves out, and why.

    Attributes:
        name: The entry.
        split: Its split.
        reason: The one-line problem that makes it unusable, naming the file.
    """

    name: str
    split: Split
    reason: str

    def to_dict(self) -> dict[str, str]:
        """A JSON-ready form."""
        return {"name": self.name, "split": self.split.value, "reason": self.reason}


@dataclass(frozen=True)
class EntrySelection:
    """The entries of some splits that can be used, and those left out.

    Attributes:
        entries: Usable entries, split then name order.
        skipped: Entries left out, with the reason for each.
    """

    entries: list[Entry]
    skipped: list[SkippedEntry]

    @property
    def names(self) -> list[str]:
        """Names of the usable entries."""
        return [entry.name for entry in self.entries]


@dataclass(frozen=True)
class Entry:
    """One annotated person (or test entry) and where its data is.

    Attributes:
        name: The annotation or test-list name, ``_left``/``_right`` kept.
        split: Train, validation or test.
        annotation: The annotation file (``None`` for test entries).
        frames_dir: The entry's face-crop folder, if found.
        video: The video file the entry comes from, if found.
        label_rows: Label lines after the header (0 for test entries).
        face_frames: Sorted 1-based frame numbers that have a face image.
        header_frames: The video container's own frame count N, if it gives one.
        packet_frames: Non-empty video packets P, if the video was read.
        decoded_frames: Frames the video decodes to D, once counted (``data check --decode-frames``).
        fps: The video's frame rate, if known.
        has_audio: Whether the video has an audio track, if known.
    """

    name: str
    split: Split
    annotation: Path | None
    frames_dir: Path | None
    video: Path | None
    label_rows: int
    face_frames: np.ndarray = field(repr=False, compare=False)
    header_frames: int | None = None
    packet_frames: int | None = None
    decoded_frames: int | None = None
    fps: float | None = None
    has_audio: bool | None = None

    @property
    def video_frames(self) -> int | None:
        """Frames the video decodes to: D when counted, else P (equal for the codecs of Aff-Wild2)."""
        return self.packet_frames if self.decoded_frames is None else self.decoded_frames

    @property
    def counts_disagree(self) -> bool:
        """Whether the video's header, packet and (when counted) decoded counts differ."""
        known = {count for count in (self.header_frames, self.packet_frames, self.decoded_frames) if count is not None}
        return len(known) > 1

    @property
    def facts(self) -> FrameFacts:
        """What the entry's own files say about its frames, for the frame-count rules."""
        last_crop = int(self.face_frames[-1]) if len(self.face_frames) else None
        return FrameFacts(self.header_frames, self.packet_frames, self.decoded_frames, last_crop)

    @property
    def frame_count(self) -> int:
        """Frames the entry spans by its own files: what its samples and audio features cover.

        The label lines; for an entry without labels, the frames its video
        decodes to, or its last face image. The line count of its prediction
        file is :meth:`DatasetIndex.frame_counts`, which may be larger.
        """
        if self.label_rows:
            return self.label_rows
        if self.video_frames is not None:
            return self.video_frames
        return int(self.face_frames[-1]) if len(self.face_frames) else 0

    @property
    def label_count_fits_video(self) -> bool:
        """False when the label lines cannot belong to the video: not ``frames`` to ``frames + 2``."""
        if self.annotation is None or not self.label_rows or self.video_frames is None:
            return True
        return 0 <= self.label_rows - self.video_frames <= FRAME_COUNT_TOLERANCE

    def has_face(self, frames: np.ndarray) -> np.ndarray:
        """Boolean mask: which of the 1-based ``frames`` have a face image."""
        if not len(self.face_frames):
            return np.zeros(len(frames), dtype=bool)
        position = np.minimum(np.searchsorted(self.face_frames, frames), len(self.face_frames) - 1)
        return self.face_frames[position] == frames


@dataclass
class DatasetIndex:
    """Every entry of a dataset root, with labels held in one array.

    Attributes:
        layout: Where the parts of the dataset were found.
        entries: Entries by name, sorted by name.
        problems: Everything found wrong, errors and warnings.
        from_cache: Whether the index was read from the cache.
        learned_rule: The frame-count rule learned from the labelled entries (cached with the index).
        count_file: The organiser count file found or given, if any.
        frame_count_rule: The rule given with ``--frame-count-rule``, if any.
    """

    layout: DatasetLayout
    entries: dict[str, Entry]
    problems: list[Problem]
    label_values: np.ndarray = field(repr=False)
    label_offsets: dict[str, tuple[int, int]] = field(repr=False)
    from_cache: bool = False
    learned_rule: LearnedRule | None = None
    count_file: FrameCountFile | None = None
    frame_count_rule: FrameCountRule | None = None
    cache_key: tuple[Path, str] | None = field(default=None, repr=False)
    _resolved: dict[Split, FrameCounts] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.learned_rule is None:
            self.learned_rule = _learn_rule(self.entries.values())

    def labels(self, name: str) -> np.ndarray:
        """The ``(label_rows, 2)`` valence/arousal array of an entry, ``-5`` where missing."""
        start, stop = self.label_offsets.get(name, (0, 0))
        return self.label_values[start:stop]

    def split(self, split: Split) -> list[Entry]:
        """The entries of ``split``, sorted by name."""
        return [entry for entry in self.entries.values() if entry.split is split]

    def split_labels(self, split: Split) -> dict[str, np.ndarray]:
        """Labels of every entry of a labelled split, by name."""
        return {entry.name: self.labels(entry.name) for entry in self.split(split)}

    def frame_counts(self, split: Split, *, sample_file: str | os.PathLike | None = None) -> FrameCounts:
        """How many lines each entry of ``split`` must have in a prediction file, and where each count comes from.

        The one place every writer, checker and scorer takes counts from: label
        lines for labelled entries; for the others the sample file (when
        given), the count file, ``--frame-count-rule``, or the rule learned
        from the labelled entries (see :mod:`abaw.data.frame_counts`).

        Raises:
            PredictionError: for a bad ``sample_file``.
        """
        if sample_file is None and split in self._resolved:
            return self._resolved[split]
        sample_counts = None
        if sample_file is not None:
            from abaw.formats.readers import read_sample_file

            sample_counts = sample_frame_counts(read_sample_file(sample_file))
        assert self.learned_rule is not None
        resolved = resolve_frame_counts(
            split,
            self.split(split),
            self.learned_rule,
            sample_counts=sample_counts,
            sample_file=sample_file,
            count_file=self.count_file,
            rule=self.frame_count_rule,
            where=self.layout.test_list if split is Split.TEST else None,
        )
        if sample_file is None:
            self._resolved[split] = resolved
        return resolved

    @property
    def errors(self) -> list[Problem]:
        """Problems that make the dataset unusable."""
        return [problem for problem in self.problems if problem.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Problem]:
        """Problems worth knowing that do not stop work."""
        return [problem for problem in self.problems if problem.severity is Severity.WARNING]

    def require_split(self, split: Split) -> None:
        """Raise when ``split`` cannot be used at all, whatever its entries hold.

        That is: the split has no entries, or an error concerns the split or
        the dataset as a whole (an unreadable test list, a name annotated in
        two splits) rather than one entry of the split. An entry's own
        problems never raise here; see :meth:`usable_entries`.

        Raises:
            DataError: with the first such problem and how many more there are.
        """
        own = {entry.name for entry in self.split(split)}
        relevant = [
            problem
            for problem in self.errors
            if problem.split is None or (problem.split is split and problem.entry not in own)
        ]
        if not own:
            relevant.append(Problem(Severity.ERROR, _empty_split_message(self.layout, split), split=split))
        _raise_first(relevant)

    def usable_entries(self, splits: Iterable[Split], *, strict: bool = False) -> EntrySelection:
        """The entries of ``splits`` that training can use, and those it skips with the reason.

        An entry is skipped when one of its own problems has the effect
        :attr:`Effect.SKIPPED`: an error in one of its files (label file,
        video, crop folder), or no frame with both labels and a face image.

        Args:
            splits: The splits to select from.
            strict: Refuse any error of ``splits`` instead of skipping its entry.

        Raises:
            DataError: see :meth:`require_split`; with ``strict``, also for the
                first error of any entry (see :meth:`require_usable`).
        """
        wanted = list(dict.fromkeys(splits))
        if strict:
            self.require_usable(wanted)
        for split in wanted:
            self.require_split(split)
        reasons: dict[str, str] = {}
        for problem in self.problems:
            if problem.effect is Effect.SKIPPED and problem.entry is not None:
                reasons.setdefault(problem.entry, problem.message)
        return _select(self, wanted, reasons)

    def scorable_entries(self, split: Split) -> EntrySelection:
        """The entries of labelled ``split`` whose label file could be read: what a score is computed over.

        Faces do not matter here: a submission predicts every frame, with or
        without a face image.

        Raises:
            DataError: see :meth:`require_split`.
        """
        self.require_split(split)
        reasons = {}
        for entry in self.split(split):
            if not entry.label_rows:
                errors = [problem.message for problem in self.errors if problem.entry == entry.name]
                reasons[entry.name] = errors[0] if errors else f"{entry.annotation}: no label lines"
        return _select(self, [split], reasons)

    def require_writable(self, split: Split, counts: Mapping[str, int] | None, *, need_faces: bool = False) -> None:
        """Raise for the first entry of ``split`` whose prediction file cannot be written.

        Args:
            split: The split whose entries are written (the test split).
            counts: The frame count of each entry (:meth:`frame_counts`, whose
                message for an entry without a count is used); ``None`` when
                they come from elsewhere.
            need_faces: Also refuse an entry without any face image, whose
                frames cannot be predicted at all.

        Raises:
            DataError: naming the entry and what is missing.
        """
        where = self.layout.test_list if split is Split.TEST and self.layout.test_list else self.layout.root
        for entry in self.split(split):
            if counts is not None and not counts.get(entry.name):
                if isinstance(counts, FrameCounts) and entry.name in counts.unknown:
                    raise DataError(counts.unknown[entry.name])
                raise DataError(f"no frame count for {entry.name}: no video, no face crops and no count", path=where)
            if need_faces and not len(entry.face_frames):
                folder = entry.frames_dir or "no face-crop folder"
                raise DataError(f"no face image to predict {entry.name} from ({folder})", path=where)

    def require_usable(self, splits: Iterable[Split]) -> None:
        """Raise the first error concerning ``splits`` (or the whole dataset) as a :class:`DataError`.

        Raises:
            DataError: with the first problem's message and how many more there are.
        """
        wanted = set(splits)
        relevant = [problem for problem in self.errors if problem.split is None or problem.split in wanted]
        for split in wanted:
            if not self.split(split):
                relevant.append(Problem(Severity.ERROR, _empty_split_message(self.layout, split), split=split))
        _raise_first(relevant)


def _raise_first(problems: list[Problem]) -> None:
    if problems:
        more = f" (and {len(problems) - 1} more problems; run 'abaw data check')" if len(problems) > 1 else ""
        raise DataError(f"{problems[0].message}{more}")


def _select(index: DatasetIndex, splits: list[Split], reasons: Mapping[str, str]) -> EntrySelection:
    usable, skipped = [], []
    for split in splits:
        for entry in index.split(split):
            if entry.name in reasons:
                skipped.append(SkippedEntry(entry.name, split, reasons[entry.name]))
            else:
                usable.append(entry)
    return EntrySelection(usable, skipped)


def _empty_split_message(layout: DatasetLayout, split: Split) -> str:
    if split is Split.TEST:
        where = layout.test_list or "no test list found (pass --test-list)"
        return f"{where}: the test split has no videos"
    folder = layout.annotation_dirs.get(split)
    if folder is None:
        return f"{layout.root}: no {split.value} annotation folder found (pass --annotations)"
    return f"{folder}: no annotation files for the {split.value} split"


def _learn_rule(entries: Iterable[Entry]) -> LearnedRule:
    return learn_frame_count_rule(
        (entry.facts, entry.label_rows) for entry in entries if entry.annotation is not None and entry.label_rows
    )


@dataclass
class _Sources:
    """What the index is built from, and the fingerprint of it."""

    entries: list[tuple[str, Split, Path | None]]
    frames_dirs: dict[str, Path]
    videos: dict[str, Path | None]
    problems: list[Problem]
    stats: list[str]

    def fingerprint(self, layout: DatasetLayout) -> str:
        digest = hashlib.sha256()
        digest.update(f"format {INDEX_FORMAT}\n".encode())
        digest.update(json.dumps(layout.describe(), sort_keys=True).encode())
        for line in self.stats:
            digest.update(line.encode("utf-8", "surrogateescape") + b"\n")
        return digest.hexdigest()


def _stat_line(path: Path) -> str:
    try:
        info = path.stat()
    except OSError:
        return f"{path} missing"
    return f"{path} {info.st_size} {info.st_mtime_ns}"


def _collect_sources(layout: DatasetLayout) -> _Sources:
    problems: list[Problem] = []
    entries: list[tuple[str, Split, Path | None]] = []
    seen: dict[str, Split] = {}
    stats: list[str] = []

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

    if layout.test_list is not None:
        stats.append(_stat_line(layout.test_list))
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

    frames_dirs: dict[str, Path] = {}
    for frame_root in layout.frame_dirs:
        with os.scandir(frame_root) as listing:
            for item in listing:
                if item.name in seen and item.name not in frames_dirs and item.is_dir():
                    frames_dirs[item.name] = Path(item.path)
    for name in sorted(frames_dirs):
        stats.append(_stat_line(frames_dirs[name]))
    videos = {name: find_video(name, layout.videos) for name in seen}
    for path in sorted({video for video in videos.values() if video is not None}, key=str):
        stats.append(_stat_line(path))
    return _Sources(entries=entries, frames_dirs=frames_dirs, videos=videos, problems=problems, stats=stats)


def load_index(
    layout: DatasetLayout,
    *,
    progress: ProgressFn = no_progress,
    use_cache: bool = True,
    frame_count_rule: FrameCountRule | str | None = None,
) -> DatasetIndex:
    """Index the dataset of ``layout``, from the cache when nothing changed.

    Args:
        layout: From :func:`abaw.data.layout.discover_layout`.
        progress: Wraps the per-video loop, for a progress bar.
        use_cache: Read and write the cache under ``layout.cache_dir``.
        frame_count_rule: A :class:`FrameCountRule` (or its name) to use
            instead of the learned one for entries without labels.

    Returns:
        The index; its ``problems`` say what is wrong, nothing is raised for
        a bad annotation file or video.

    Raises:
        DataError: for a bad line of the layout's count file, or an unknown rule name.
    """
    rule = _rule_named(frame_count_rule)
    count_file = read_frame_count_file(layout.count_file) if layout.count_file is not None else None
    sources = _collect_sources(layout)
    fingerprint = sources.fingerprint(layout)
    cache_file = layout.cache_dir / f"index-v{INDEX_FORMAT}.npz"
    index = _read_cache(cache_file, fingerprint, layout) if use_cache else None
    if index is None:
        index = _build(layout, sources, progress)
        if use_cache:
            _cache_or_warn(index, cache_file, fingerprint)
    index.count_file = count_file
    index.frame_count_rule = rule
    index.cache_key = (cache_file, fingerprint) if use_cache else None
    return index


def _rule_named(rule: FrameCountRule | str | None) -> FrameCountRule | None:
    if rule is None or isinstance(rule, FrameCountRule):
        return rule
    for member in FrameCountRule:
        if member.value.lower() == rule.replace(" ", "").lower():
            return member
    names = ", ".join(member.value for member in FrameCountRule)
    raise DataError(f"unknown frame-count rule '{rule}'; choose one of {names}")


def _cache_or_warn(index: DatasetIndex, cache_file: Path, fingerprint: str) -> None:
    try:
        _write_cache(cache_file, fingerprint, index)
    except (OSError, OutputError) as error:
        reason = error.message if isinstance(error, OutputError) else error.strerror
        index.problems.append(
            Problem(
                Severity.WARNING,
                f"{cache_file}: index not cached ({reason}); pass --cache to a writable folder",
            )
        )


def count_decoded_video_frames(index: DatasetIndex, *, progress: ProgressFn = no_progress) -> DatasetIndex:
    """Decode every video of ``index`` not yet decoded and record its decoded count D (cached with the index).

    The frame-count rule is learned again with D among the candidates. A
    video that does not decode is an error of its entries.

    Returns:
        ``index``, updated in place.
    """
    videos = sorted({entry.video for entry in index.entries.values() if entry.video and entry.decoded_frames is None})
    if not videos:
        return index

    def decode(path: Path) -> int | DataError:
        try:
            return count_decoded_frames(path)
        except DataError as error:
            return error

    decoded: dict[Path, int] = {}
    with ThreadPoolExecutor(max_workers=_IO_THREADS) as pool:
        for path, result in progress(
            zip(videos, pool.map(decode, videos), strict=True), "Decoding videos", len(videos)
        ):
            if isinstance(result, DataError):
                for entry in index.entries.values():
                    known = {problem.message for problem in index.problems}
                    if entry.video == path and str(result) not in known:
                        index.problems.append(Problem(Severity.ERROR, str(result), entry.name, entry.split))
            else:
                decoded[path] = result
    for name, entry in index.entries.items():
        if entry.video in decoded:
            index.entries[name] = replace(entry, decoded_frames=decoded[entry.video])
    index.learned_rule = _learn_rule(index.entries.values())
    index._resolved.clear()
    if index.cache_key is not None:
        _cache_or_warn(index, *index.cache_key)
    return index


def _probe(path: Path | None) -> VideoInfo | DataError | None:
    if path is None:
        return None
    try:
        return probe_video(path)
    except DataError as error:
        return error


def _build(layout: DatasetLayout, sources: _Sources, progress: ProgressFn) -> DatasetIndex:
    problems = list(sources.problems)
    entries: dict[str, Entry] = {}
    label_arrays: list[np.ndarray] = []
    label_offsets: dict[str, tuple[int, int]] = {}
    cursor = 0
    videos = [sources.videos[name] for name, _, _ in sources.entries]
    with ThreadPoolExecutor(max_workers=_IO_THREADS) as pool:
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
            frames_dir = sources.frames_dirs.get(name)
            faces = np.zeros(0, dtype=np.int64)
            if frames_dir is not None:
                try:
                    face_folder = scan_face_folder(frames_dir)
                except DataError as error:
                    problems.append(Problem(Severity.ERROR, str(error), name, split, unusable))
                else:
                    faces = face_folder.frames
                    misnamed = face_folder.misnamed_note()
                    if misnamed:
                        problems.append(Problem(Severity.WARNING, f"{frames_dir}: {misnamed}", name, split))
            info = probe if isinstance(probe, VideoInfo) else None
            if isinstance(probe, DataError):
                # A test entry without a readable video still has a count from its crops.
                problems.append(Problem(Severity.ERROR, str(probe), name, split, unusable_video(split)))
            entry = Entry(
                name=name,
                split=split,
                annotation=annotation,
                frames_dir=frames_dir,
                video=video,
                label_rows=len(labels),
                face_frames=faces,
                header_frames=info.header_frames if info else None,
                packet_frames=info.packet_frames if info else None,
                fps=info.fps if info else None,
                has_audio=info.has_audio if info else None,
            )
            problems.extend(_entry_problems(entry, layout, labels))
            entries[name] = entry
            label_arrays.append(labels)
            label_offsets[name] = (cursor, cursor + len(labels))
            cursor += len(labels)
    values = np.concatenate(label_arrays) if label_arrays else np.zeros((0, 2), dtype=np.float32)
    return DatasetIndex(
        layout=layout,
        entries=dict(sorted(entries.items())),
        problems=problems,
        label_values=values,
        label_offsets=label_offsets,
    )


def unusable_video(split: Split) -> Effect:
    """The effect of an unreadable video: its labelled entry is skipped; a test entry is counted from its crops."""
    return Effect.SKIPPED if split.is_labelled else Effect.WARNING


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


_PLAIN_FIELDS = ("name", "label_rows", "header_frames", "packet_frames", "decoded_frames", "fps", "has_audio")
_PATH_FIELDS = ("annotation", "frames_dir", "video")


def _entry_record(entry: Entry) -> dict[str, object]:
    """An entry as JSON, without its face frames (those go in one array)."""
    record: dict[str, object] = {key: getattr(entry, key) for key in _PLAIN_FIELDS}
    record.update({key: None if getattr(entry, key) is None else str(getattr(entry, key)) for key in _PATH_FIELDS})
    record["split"] = entry.split.value
    return record


def _entry_from_record(record: dict, face_frames: np.ndarray) -> Entry:
    return Entry(
        **{key: record[key] for key in _PLAIN_FIELDS},
        **{key: None if record[key] is None else Path(record[key]) for key in _PATH_FIELDS},
        split=Split(record["split"]),
        face_frames=face_frames,
    )


def _problem_from_record(record: dict) -> Problem:
    split = None if record["split"] is None else Split(record["split"])
    return Problem(Severity(record["severity"]), record["message"], record["entry"], split, Effect(record["effect"]))


def _read_cache(path: Path, fingerprint: str, layout: DatasetLayout) -> DatasetIndex | None:
    try:
        with np.load(path, allow_pickle=False) as archive:
            meta = json.loads(str(archive["meta"]))
            if meta.get("fingerprint") != fingerprint:
                return None
            values = archive["labels"]
            faces = archive["faces"].astype(np.int64)
    except (OSError, KeyError, ValueError):
        return None
    entries: dict[str, Entry] = {}
    label_offsets: dict[str, tuple[int, int]] = {}
    for record in meta["entries"]:
        start, stop = record["faces"]
        entries[record["name"]] = _entry_from_record(record, faces[start:stop])
        label_offsets[record["name"]] = tuple(record["labels"])
    problems = [_problem_from_record(record) for record in meta["problems"]]
    learned = LearnedRule.from_dict(meta["frame_count_rule"]) if meta.get("frame_count_rule") else None
    return DatasetIndex(layout, entries, problems, values, label_offsets, from_cache=True, learned_rule=learned)


def _write_cache(path: Path, fingerprint: str, index: DatasetIndex) -> None:
    records = []
    cursor = 0
    for entry in index.entries.values():
        record = _entry_record(entry)
        record["labels"] = list(index.label_offsets[entry.name])
        record["faces"] = [cursor, cursor + len(entry.face_frames)]
        records.append(record)
        cursor += len(entry.face_frames)
    meta = {
        "format": INDEX_FORMAT,
        "fingerprint": fingerprint,
        "entries": records,
        "problems": [problem.to_dict() for problem in index.problems],
        "frame_count_rule": index.learned_rule.to_dict() if index.learned_rule else None,
    }
    arrays = [entry.face_frames.astype(np.int32) for entry in index.entries.values()]
    faces = np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int32)
    with atomic_output_file(path, force=True) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, meta=np.array(json.dumps(meta)), labels=index.label_values, faces=faces)


def open_dataset(
    root: str | os.PathLike,
    *,
    progress: ProgressFn = no_progress,
    use_cache: bool = True,
    frame_count_rule: FrameCountRule | str | None = None,
    **layout_options: object,
) -> DatasetIndex:
    """Discover the layout of ``root`` and index it (see :func:`load_index`).

    Keyword arguments other than ``progress``, ``use_cache`` and
    ``frame_count_rule`` go to :func:`abaw.data.layout.discover_layout`
    (``annotations``, ``frames``, ``videos``, ``test_list``, ``frame_counts``, ``cache``).
    """
    layout = discover_layout(root, **layout_options)  # type: ignore[arg-type]
    return load_index(layout, progress=progress, use_cache=use_cache, frame_count_rule=frame_count_rule)


def verify_face_images(index: DatasetIndex, *, progress: ProgressFn = no_progress) -> list[Problem]:
    """Decode every face image of ``index`` and return a problem for each one that is unusable.

    A file that does not decode is an error that blocks (training and
    prediction stop at it); a size or colour mode other than the organisers'
    112x112 RGB is a warning (training resizes it).
    """
    paths = [
        (entry, frame_image_path(entry.frames_dir, int(frame)))
        for entry in index.entries.values()
        if entry.frames_dir is not None
        for frame in entry.face_frames
    ]
    problems = []
    with ThreadPoolExecutor(max_workers=_IO_THREADS) as pool:
        faults = pool.map(face_image_fault, [path for _, path in paths], chunksize=256)
        for (entry, _), fault in progress(zip(paths, faults, strict=True), "Decoding face images", len(paths)):
            if fault is not None:
                severity = Severity.ERROR if fault.unreadable else Severity.WARNING
                problems.append(Problem(severity, fault.message, entry.name, entry.split))
    return problems


def open_dataset_from(
    settings: Mapping[str, object], *, progress: ProgressFn = no_progress, use_cache: bool = True
) -> DatasetIndex:
    """Open the dataset a settings mapping names: ``root`` and the layout options, as a run's config stores them.

    Raises:
        DataError: when ``root`` is missing, and see :func:`open_dataset`.
    """
    options = dict(settings)
    root = options.pop("root", None)
    if root is None:
        raise DataError("no dataset root given (pass --root)")
    options["frames"] = tuple(options.get("frames") or ())  # type: ignore[arg-type]
    return open_dataset(root, progress=progress, use_cache=use_cache, **options)
