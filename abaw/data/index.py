"""One index over a dataset root: every video entry, its labels, faces and container facts.

Building the index (:mod:`abaw.data.index_build`) reads every annotation
file, lists every face-crop folder and probes every video once. The result
is cached under the layout's cache folder (:mod:`abaw.data.index_cache`)
and reused until a source changes. The dataset's own files are never
written to. The types of entries and problems are in :mod:`abaw.data.entries`.

Problems are collected rather than raised, so that ``abaw data check`` can
list all of them at once. Each problem says what it does to the work
(:class:`~abaw.data.entries.Effect`): training skips an entry with an error in one of its files
or without a usable frame (:meth:`DatasetIndex.usable_entries`), a command
refuses only what makes it impossible (:meth:`DatasetIndex.require_split`),
and :meth:`DatasetIndex.require_usable` refuses any error (``--strict``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from abaw.choices import parse_enum
from abaw.data.entries import Effect, Entry, EntrySelection, IndexContents, Problem, Severity, SkippedEntry
from abaw.data.frame_counts import (
    FrameCountFile,
    FrameCountRule,
    FrameCounts,
    LearnedRule,
    SampleCounts,
    learn_frame_count_rule,
    read_frame_count_file,
    resolve_frame_counts,
)
from abaw.data.index_build import IO_THREADS, build_contents, collect_sources
from abaw.data.index_cache import INDEX_FORMAT, read_cache, write_cache
from abaw.data.layout import DatasetLayout, Split, discover_layout
from abaw.data.source import DatasetSource
from abaw.data.video import count_decoded_frames
from abaw.errors import AbawError, DataError, OutputError
from abaw.outputs import OutputBusyError, output_lock
from abaw.progress import ProgressFn, no_progress


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
    cache_key: tuple[Path, str, Callable[[], str]] | None = field(default=None, repr=False)
    _resolved: dict[Split, FrameCounts] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.learned_rule is None:
            self.learned_rule = _learn_rule(self.entries.values())

    @classmethod
    def of(cls, layout: DatasetLayout, contents: IndexContents, *, from_cache: bool = False) -> DatasetIndex:
        """The index of ``layout`` holding ``contents``."""
        return cls(
            layout,
            contents.entries,
            contents.problems,
            contents.label_values,
            contents.label_offsets,
            from_cache=from_cache,
            learned_rule=contents.learned_rule,
        )

    @property
    def contents(self) -> IndexContents:
        """What the index holds, as the cache stores it."""
        return IndexContents(self.entries, self.problems, self.label_values, self.label_offsets, self.learned_rule)

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

    def frame_counts(self, split: Split, *, sample: SampleCounts | None = None) -> FrameCounts:
        """How many lines each entry of ``split`` must have in a prediction file, and where each count comes from.

        The one place every writer, checker and scorer takes counts from: label
        lines for labelled entries; for the others the sample file (when
        given), the count file, ``--frame-count-rule``, or the rule learned
        from the labelled entries (see :mod:`abaw.data.frame_counts`).

        Args:
            split: The split.
            sample: The organisers' sample file's rows per video
                (:func:`abaw.formats.readers.read_sample_counts`), the strongest source.
        """
        if sample is None and split in self._resolved:
            return self._resolved[split]
        assert self.learned_rule is not None
        resolved = resolve_frame_counts(
            split,
            self.split(split),
            self.learned_rule,
            sample=sample,
            count_file=self.count_file,
            rule=self.frame_count_rule,
            where=self.layout.test_list if split is Split.TEST else None,
        )
        if sample is None:
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
        DataError: for a bad line of the layout's count file.
        ConfigError: for an unknown rule name.
    """
    rule = _rule_named(frame_count_rule)
    count_file = read_frame_count_file(layout.count_file) if layout.count_file is not None else None
    sources = collect_sources(layout)
    fingerprint = sources.fingerprint(layout)
    content: list[str] = []

    def content_key() -> str:
        if not content:
            content.append(sources.content_fingerprint(layout))
        return content[0]

    cache_file = layout.cache_dir / f"index-v{INDEX_FORMAT}.npz"
    cached = read_cache(cache_file, fingerprint, content_key) if use_cache else None
    if cached is not None:
        index = DatasetIndex.of(layout, cached, from_cache=True)
        if content:  # the files are the same, their times are not (a copy): remember the new times
            _cache_or_warn(index, cache_file, fingerprint, content_key())
    else:
        index = DatasetIndex.of(layout, build_contents(layout, sources, progress))
        if use_cache:
            _cache_or_warn(index, cache_file, fingerprint, content_key())
    index.count_file = count_file
    index.frame_count_rule = rule
    index.cache_key = (cache_file, fingerprint, content_key) if use_cache else None
    return index


def _rule_named(rule: FrameCountRule | str | None) -> FrameCountRule | None:
    return None if rule is None else parse_enum(FrameCountRule, rule, "frame-count rule", loose=True)


def _cache_or_warn(index: DatasetIndex, cache_file: Path, fingerprint: str, content: str) -> None:
    """Write the index cache under the outputs' one-writer lock; another process writing it now writes it for us."""
    try:
        with output_lock(cache_file):
            write_cache(cache_file, fingerprint, index.contents, content)
    except OutputBusyError:
        return
    except (OSError, OutputError, AbawError) as error:
        reason = error.message if isinstance(error, AbawError) else error.strerror
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
    with ThreadPoolExecutor(max_workers=IO_THREADS) as pool:
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
        cache_file, fingerprint, content_key = index.cache_key
        _cache_or_warn(index, cache_file, fingerprint, content_key())
    return index


def open_dataset(
    source: DatasetSource | str | os.PathLike,
    *,
    progress: ProgressFn = no_progress,
    use_cache: bool = True,
    **options: object,
) -> DatasetIndex:
    """Discover the layout of a dataset and index it (see :func:`load_index`).

    Args:
        source: Where the dataset is, or just its root (then ``options`` are
            the other fields of :class:`DatasetSource`: ``annotations``,
            ``frames``, ``videos``, ``test_list``, ``frame_counts``,
            ``frame_count_rule``, ``cache``).
        progress: Wraps the per-video loop, for a progress bar.
        use_cache: Read and write the index cache.
        **options: Only with a root.

    Raises:
        DataError: when the root or a given part does not exist, and see :func:`load_index`.
    """
    if not isinstance(source, DatasetSource):
        source = DatasetSource(Path(source), **options)  # type: ignore[arg-type]
    elif options:
        raise TypeError("options are given with a root, not with a DatasetSource")
    layout = discover_layout(
        source.root,
        annotations=source.annotations,
        frames=source.frames,
        videos=source.videos,
        test_list=source.test_list,
        frame_counts=source.frame_counts,
        cache=source.cache,
    )
    return load_index(layout, progress=progress, use_cache=use_cache, frame_count_rule=source.frame_count_rule)
