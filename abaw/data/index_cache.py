"""The index cache: one ``.npz`` file under the layout's cache folder, reused until a source changes.

The cache has two keys (see :mod:`abaw.data.index_build`): a quick one,
the sizes and modification times of the annotation files, the face-crop
folders, the videos and the test list; and the content key, what a copy of
the dataset keeps (the annotation files and test list byte for byte, each
video's content key, the names in each crop folder). The cache is used when
the quick key matches, or else when the content key does (and is then
written again with the new quick key): a dataset copied without its
timestamps is not indexed again. Face frames, the folder each comes from
and labels are stored as arrays, everything else as one JSON document.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from abaw.data.entries import Effect, Entry, IndexContents, Problem, Severity
from abaw.data.frame_counts import LearnedRule
from abaw.data.layout import Split
from abaw.fileio import atomic_output_file

INDEX_FORMAT = 6
"""Version of the cache file; a cache of another version is rebuilt."""


_PLAIN_FIELDS = ("name", "label_rows", "header_frames", "packet_frames", "decoded_frames", "fps", "has_audio")
_PATH_FIELDS = ("annotation", "frames_dir", "video")


def _entry_record(entry: Entry) -> dict[str, object]:
    """An entry as JSON, without its face frames (those go in one array)."""
    record: dict[str, object] = {key: getattr(entry, key) for key in _PLAIN_FIELDS}
    record.update({key: None if getattr(entry, key) is None else str(getattr(entry, key)) for key in _PATH_FIELDS})
    record["split"] = entry.split.value
    record["crop_sources"] = [[str(folder), suffix] for folder, suffix in entry.crop_sources]
    return record


def _entry_from_record(record: dict, face_frames: np.ndarray, face_sources: np.ndarray) -> Entry:
    crop_sources = tuple((Path(folder), str(suffix)) for folder, suffix in record["crop_sources"])
    return Entry(
        **{key: record[key] for key in _PLAIN_FIELDS},
        **{key: None if record[key] is None else Path(record[key]) for key in _PATH_FIELDS},
        split=Split(record["split"]),
        face_frames=face_frames,
        crop_sources=crop_sources,
        face_sources=face_sources if crop_sources else None,
    )


def _problem_from_record(record: dict) -> Problem:
    split = None if record["split"] is None else Split(record["split"])
    return Problem(Severity(record["severity"]), record["message"], record["entry"], split, Effect(record["effect"]))


def read_cache(path: Path, fingerprint: str, content: Callable[[], str] | None = None) -> IndexContents | None:
    """The contents cached in ``path``, or ``None`` when it is missing, unreadable or of other sources.

    Args:
        path: The cache file.
        fingerprint: The quick key of the sources now.
        content: Computes the content key of the sources now; asked only
            when the quick key differs (the cache is then used if it matches).
    """
    try:
        with np.load(path, allow_pickle=False) as archive:
            meta = json.loads(str(archive["meta"]))
            if meta.get("format") != INDEX_FORMAT:
                return None
            if meta.get("fingerprint") != fingerprint and (content is None or meta.get("content") != content()):
                return None
            values = archive["labels"]
            faces = archive["faces"].astype(np.int64)
            face_sources = archive["face_sources"]
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        return None
    entries: dict[str, Entry] = {}
    label_offsets: dict[str, tuple[int, int]] = {}
    for record in meta["entries"]:
        start, stop = record["faces"]
        entries[record["name"]] = _entry_from_record(record, faces[start:stop], face_sources[start:stop])
        label_offsets[record["name"]] = tuple(record["labels"])
    problems = [_problem_from_record(record) for record in meta["problems"]]
    learned = LearnedRule.from_dict(meta["frame_count_rule"]) if meta.get("frame_count_rule") else None
    return IndexContents(entries, problems, values, label_offsets, learned)


def write_cache(path: Path, fingerprint: str, index: IndexContents, content: str | None = None) -> None:
    """Write ``index`` to ``path`` atomically, with the quick key and the content key of its sources."""
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
        "content": content,
        "entries": records,
        "problems": [problem.to_dict() for problem in index.problems],
        "frame_count_rule": index.learned_rule.to_dict() if index.learned_rule else None,
    }
    arrays = [entry.face_frames.astype(np.int32) for entry in index.entries.values()]
    faces = np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int32)
    sources = [
        np.zeros(len(entry.face_frames), np.uint8) if entry.face_sources is None else entry.face_sources
        for entry in index.entries.values()
    ]
    face_sources = np.concatenate(sources).astype(np.uint8) if sources else np.zeros(0, dtype=np.uint8)
    with atomic_output_file(path, force=True) as tmp, open(tmp, "wb") as handle:
        np.savez(
            handle, meta=np.array(json.dumps(meta)), labels=index.label_values, faces=faces, face_sources=face_sources
        )
