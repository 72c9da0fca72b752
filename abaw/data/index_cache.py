"""The index cache: one ``.npz`` file under the layout's cache folder, reused until a source changes.

The cache key is a fingerprint of the sizes and modification times of the
annotation files, the face-crop folders, the videos and the test list (see
:mod:`abaw.data.index_build`). Face frames and labels are stored as two
arrays, everything else as one JSON document.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from abaw.data.entries import Effect, Entry, IndexContents, Problem, Severity
from abaw.data.frame_counts import LearnedRule
from abaw.data.layout import Split
from abaw.fileio import atomic_output_file

INDEX_FORMAT = 5
"""Version of the cache file; a cache of another version is rebuilt."""


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


def read_cache(path: Path, fingerprint: str) -> IndexContents | None:
    """The contents cached in ``path``, or ``None`` when it is missing, unreadable or of other sources."""
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
    return IndexContents(entries, problems, values, label_offsets, learned)


def write_cache(path: Path, fingerprint: str, index: IndexContents) -> None:
    """Write ``index`` to ``path`` atomically, with the fingerprint of its sources."""
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
