"""Where things are in an Aff-Wild2 root, for every ABAW edition.

:func:`discover_layout` walks the root once and finds the annotation folders,
the frame folders, the videos and the test list, whatever edition the user
downloaded; every part can be pointed at explicitly instead. Frame folders
hold millions of images, so the walk never enters them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from abaw.data.frame_counts import COUNT_FILE_PATTERN
from abaw.data.names import VIDEO_EXTENSIONS
from abaw.data.source import DatasetSource
from abaw.errors import DataError
from abaw.outputs import check_cache_location


class Split(str, Enum):
    """A part of the dataset.

    Example:
        >>> Split("val").is_labelled
        True
    """

    TRAIN = "train"
    VALIDATION = "val"
    TEST = "test"

    @property
    def is_labelled(self) -> bool:
        """Whether annotation files exist for this split."""
        return self is not Split.TEST


class Edition(str, Enum):
    """How an ABAW edition names its valence-arousal annotation folders.

    Example:
        >>> Edition.ABAW2020.train_folder
        'Training_Set'
    """

    ABAW2020 = "2020"
    ABAW2021 = "2021"
    ABAW2022 = "2022+"

    @property
    def train_folder(self) -> str:
        """Folder of the training annotations."""
        return "Training_Set" if self is Edition.ABAW2020 else "Train_Set"

    @property
    def validation_folder(self) -> str:
        """Folder of the validation annotations."""
        return "Validation_Set"

    @property
    def annotation_parent(self) -> str:
        """Path, relative to the root, of the folder holding both split folders."""
        if self is Edition.ABAW2022:
            return "6th ABAW Annotations/VA_Estimation_Challenge"
        return "annotations/VA_Set"


DEFAULT_CACHE_NAME = ".abaw-cache"
FRAME_FOLDER_PREFIX = "cropped_aligned"
TEST_LIST_NAMES = (
    "Valence_Arousal_Estimation_Challenge_test_set_release.txt",
    "test_set_VA_Challenge.txt",
    "va_test_set.txt",
)
_VA = r"(?:(?:^|[\W_])va(?:[\W_]|$)|valence)"
_TEST_LIST_PATTERN = re.compile(rf"test.*{_VA}|{_VA}.*test", re.IGNORECASE)
# The organisers' sample/example files name the test entries too, but they are submission templates.
_TEMPLATE_PATTERN = re.compile(r"sample|example", re.IGNORECASE)
_ABAW_NUMBER = re.compile(r"(\d+)\s*(st|nd|rd|th)\b", re.IGNORECASE)


@dataclass(frozen=True)
class DatasetLayout:
    """The resolved places of one dataset root.

    Attributes:
        root: The dataset root.
        edition: The annotation naming found (``None`` if none was found).
        annotation_dirs: The annotation folder of each labelled split found.
        frame_dirs: Folders of per-video face-crop folders, first wins.
        videos: Video files by file stem.
        test_list: The file listing the test videos, if found.
        count_file: The organisers' file of test frame counts, if found or given.
        cache_dir: Where the toolkit keeps what it derives from the data.
        notes: Choices made while resolving (duplicates, several editions).
    """

    root: Path
    edition: Edition | None
    annotation_dirs: dict[Split, Path]
    frame_dirs: tuple[Path, ...]
    videos: dict[str, Path]
    test_list: Path | None
    cache_dir: Path
    count_file: Path | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def found_nothing(self) -> bool:
        """Whether the root holds nothing of Aff-Wild2: no annotations, no face crops, no test list."""
        return not self.annotation_dirs and not self.frame_dirs and self.test_list is None

    def annotations_missing(self) -> str | None:
        """Where the annotations were looked for, when no folder of a labelled split was found; else ``None``.

        Example:
            >>> layout = DatasetLayout(Path("/data"), None, {}, (), {}, None, Path("/data/.abaw-cache"))
            >>> layout.annotations_missing()[:60]
            '/data: no annotations found (looked below it for annotations'
        """
        missing = [split.value for split in (Split.TRAIN, Split.VALIDATION) if split not in self.annotation_dirs]
        if not missing:
            return None
        looked = " or ".join(
            f"{edition.annotation_parent}/{edition.train_folder}" for edition in (Edition.ABAW2020, Edition.ABAW2021)
        )
        what = "annotations" if len(missing) == 2 else f"{' and '.join(missing)} annotations"
        return (
            f"{self.root}: no {what} found (looked below it for {looked}, and "
            f"'<N>th ABAW Annotations/VA_Estimation_Challenge/{Edition.ABAW2022.train_folder}'): point --root at the "
            "folder where Aff-Wild2 was unpacked, or pass --annotations DIR"
        )

    def describe(self) -> dict[str, object]:
        """A JSON-ready summary of the layout."""
        return {
            "root": str(self.root),
            "edition": self.edition.value if self.edition else None,
            "annotation_dirs": {split.value: str(path) for split, path in self.annotation_dirs.items()},
            "frame_dirs": [str(path) for path in self.frame_dirs],
            "video_files": len(self.videos),
            "test_list": str(self.test_list) if self.test_list else None,
            "count_file": str(self.count_file) if self.count_file else None,
            "cache_dir": str(self.cache_dir),
            "notes": list(self.notes),
        }


@dataclass
class _Walk:
    annotation_candidates: list[tuple[Path, Edition]] = field(default_factory=list)
    frame_dirs: list[Path] = field(default_factory=list)
    videos: dict[str, Path] = field(default_factory=dict)
    test_lists: list[Path] = field(default_factory=list)
    count_files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def discover_layout(
    root: str | os.PathLike,
    *,
    annotations: str | os.PathLike | None = None,
    frames: tuple[str | os.PathLike, ...] = (),
    videos: str | os.PathLike | None = None,
    test_list: str | os.PathLike | None = None,
    frame_counts: str | os.PathLike | None = None,
    cache: str | os.PathLike | None = None,
) -> DatasetLayout:
    """Find the parts of the dataset below ``root``.

    Args:
        root: The dataset root as the user has it.
        annotations: Folder holding ``Train_Set``/``Training_Set`` and
            ``Validation_Set``; found automatically when omitted.
        frames: Folders of per-video face-crop folders; by default every
            ``cropped_aligned*`` folder below the root.
        videos: Folder searched for ``.mp4``/``.avi`` files; default the root.
        test_list: File with one test video name per line; found by name
            when omitted.
        frame_counts: The organisers' count file (``name count`` per line);
            found by name (``*total_number_of_frames*.txt``) when omitted.
        cache: Folder for derived data; default ``ROOT/.abaw-cache``.

    Raises:
        DataError: when the root or a given part does not exist.
    """
    root = _existing_dir(root, "dataset root")
    cache_dir = Path(cache).resolve() if cache else root / DEFAULT_CACHE_NAME
    if cache:
        given = DatasetSource(root, annotations=annotations, frames=tuple(frames), videos=videos, test_list=test_list)
        check_cache_location(cache_dir, given.read_paths(), root / DEFAULT_CACHE_NAME)
    walk = _walk(root, cache_dir)
    notes = list(walk.notes)

    if videos is not None:
        video_root = _existing_dir(videos, "videos folder")
        video_walk = _walk(video_root, cache_dir)
        walk.videos = video_walk.videos
        notes.extend(video_walk.notes)

    if annotations is not None:
        ann_dir = _existing_dir(annotations, "annotations folder")
        edition = _edition_of(ann_dir)
        if edition is None:
            raise DataError("holds neither Train_Set nor Training_Set", path=ann_dir)
    else:
        ann_dir, edition = _choose_annotations(walk.annotation_candidates, notes)
    annotation_dirs: dict[Split, Path] = {}
    if ann_dir is not None and edition is not None:
        for split, folder in ((Split.TRAIN, edition.train_folder), (Split.VALIDATION, edition.validation_folder)):
            if (ann_dir / folder).is_dir():
                annotation_dirs[split] = ann_dir / folder

    frame_dirs = tuple(_existing_dir(path, "frames folder") for path in frames) or tuple(
        sorted(walk.frame_dirs, key=lambda path: (path.name != FRAME_FOLDER_PREFIX, str(path)))
    )

    if test_list is not None:
        found_test_list: Path | None = _given_file(test_list, "test list")
    else:
        found_test_list = _choose_file(walk.test_lists, _test_list_rank, "test lists", "--test-list", notes)

    if frame_counts is not None:
        count_file: Path | None = _given_file(frame_counts, "frame count file")
    else:
        count_file = _choose_file(walk.count_files, _count_file_rank, "frame count files", "--frame-counts", notes)

    return DatasetLayout(
        root=root,
        edition=edition,
        annotation_dirs=annotation_dirs,
        frame_dirs=frame_dirs,
        videos=walk.videos,
        test_list=found_test_list,
        cache_dir=cache_dir,
        count_file=count_file,
        notes=tuple(notes),
    )


def _existing_dir(path: str | os.PathLike, what: str) -> Path:
    resolved = Path(path).expanduser().resolve()
    if not resolved.is_dir():
        raise DataError(f"{what} not found (or not a folder)", path=path)
    return resolved


def _walk(root: Path, cache_dir: Path) -> _Walk:
    found = _Walk()
    for current, dirs, files in os.walk(root, followlinks=True):
        here = Path(current)
        kept = []
        for name in sorted(dirs):
            path = here / name
            if name.startswith(".") or path == cache_dir:
                continue
            if name.lower().startswith("cropped"):
                # Face-crop folders hold millions of files: record, never enter.
                if name.startswith(FRAME_FOLDER_PREFIX):
                    found.frame_dirs.append(path)
                continue
            edition = _edition_of(path) if name in ("VA_Set", "VA_Estimation_Challenge") else None
            if edition is not None:
                found.annotation_candidates.append((path, edition))
                continue
            kept.append(name)
        dirs[:] = kept
        for name in sorted(files):
            stem, ext = os.path.splitext(name)
            if ext.lower() in VIDEO_EXTENSIONS:
                previous = found.videos.get(stem)
                if previous is None or (previous.suffix.lower() != ".mp4" and ext.lower() == ".mp4"):
                    found.videos[stem] = here / name
                if previous is not None:
                    found.notes.append(f"two videos named {stem}: using {found.videos[stem]}")
            elif ext.lower() == ".txt" and COUNT_FILE_PATTERN.search(stem):
                found.count_files.append(here / name)
            elif (
                ext.lower() == ".txt"
                and _TEST_LIST_PATTERN.search(stem.replace("-", "_"))
                and not _TEMPLATE_PATTERN.search(stem)
            ):
                found.test_lists.append(here / name)
    return found


def _edition_of(folder: Path) -> Edition | None:
    if (folder / Edition.ABAW2020.train_folder).is_dir():
        return Edition.ABAW2020
    if (folder / Edition.ABAW2021.train_folder).is_dir():
        return Edition.ABAW2022 if folder.name == "VA_Estimation_Challenge" else Edition.ABAW2021
    return None


def _edition_rank(path: Path, edition: Edition) -> tuple[int, int]:
    number = _ABAW_NUMBER.search(path.parent.name) if edition is Edition.ABAW2022 else None
    return (list(Edition).index(edition), int(number.group(1)) if number else 0)


def _choose_annotations(candidates: list[tuple[Path, Edition]], notes: list[str]) -> tuple[Path | None, Edition | None]:
    if not candidates:
        return None, None
    ranked = sorted(candidates, key=lambda item: _edition_rank(*item), reverse=True)
    chosen, edition = ranked[0]
    if len(ranked) > 1:
        others = ", ".join(str(path) for path, _ in ranked[1:])
        notes.append(
            f"several annotation folders; using the newest {chosen} (also found: {others}); choose with --annotations"
        )
    return chosen, edition


def _given_file(path: str | os.PathLike, what: str) -> Path:
    resolved = Path(path).resolve()
    if not resolved.is_file():
        raise DataError(f"{what} not found", path=path)
    return resolved


def _choose_file(
    candidates: list[Path], rank: Callable[[Path], Any], what: str, option: str, notes: list[str]
) -> Path | None:
    """The best-ranked of the files found by name, with a note naming the others."""
    if not candidates:
        return None
    ranked = sorted(candidates, key=rank)
    if len(ranked) > 1:
        others = ", ".join(str(path) for path in ranked[1:])
        notes.append(f"several {what}; using {ranked[0]} (also found: {others}); choose with {option}")
    return ranked[0]


def _test_list_rank(path: Path) -> tuple[bool, bool, str]:
    return path.name not in TEST_LIST_NAMES, "release" not in path.name, str(path)


def _count_file_rank(path: Path) -> tuple[int, str]:
    return len(path.parts), str(path)
