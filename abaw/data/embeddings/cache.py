"""The cache of embeddings: where the files are, what they are keyed on, and when they are stale.

Under ``CACHE/embeddings/<name>/``: ``embeddings.json`` (the manifest: the
checkpoint, its SHA-256 fingerprint, the variant, the width and the feature
kinds) and one ``<entry name>.npz`` per entry (``features``, ``has_face`` and
a JSON ``meta``, the entry's key).

An entry's key is everything its rows depend on: the cache format, the
checkpoint's fingerprint, the feature blocks, the entry's rows and which of
them have a face, the content of its face crops (:func:`crops_digest`: the
bytes of every image, so crops replaced under the same names, or another
dataset's entry of the same name sharing the cache, make it stale) and, for
a model that takes audio, the audio rows it was fed (:func:`audio_digest`).
``abaw features embed`` compares the whole key; readers compare all but the
crops and the audio, which cost a read of every image
(:func:`stale_reason` says what changed).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from abaw.data.audio.cache import entry_rows
from abaw.data.digest import files_digest
from abaw.data.entries import Entry
from abaw.data.index import DatasetIndex
from abaw.data.layout import DatasetLayout, Split
from abaw.errors import DataError

EMBEDDINGS_FORMAT = 2
"""Version of the cache files; a change makes every cached file stale."""
EMBEDDINGS_FOLDER = "embeddings"
"""Folder of the embeddings under the dataset's cache folder."""
MANIFEST_NAME = "embeddings.json"
REPORT_NAME = "report.json"
ENCODER_RECORD = "encoder.json"
"""A pretrained encoder's settings beside the manifest (``abaw features embed --encoder``)."""
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
DIGEST_THREADS = 4
"""Entries whose crops are read at once for their digests: the work waits on the disk."""


class EmbeddingsNotReady(DataError):
    """Embeddings are missing, out of date or unreadable: they must be extracted (again) first.

    The command line adds the command that extracts them; the library does
    not know the command line.

    Attributes:
        name: The embeddings' name.
        layout: The dataset whose embeddings are missing.
        checkpoint: The checkpoint they were (or are to be) made from, when known.
    """

    def __init__(
        self,
        message: str,
        name: str,
        layout: DatasetLayout,
        checkpoint: Path | None = None,
        path: Path | None = None,
    ):
        self.name = name
        self.layout = layout
        self.checkpoint = checkpoint
        super().__init__(message, path=path)

    def __reduce__(self):
        # Exception pickling replays ``args`` (the rendered line) into __init__, which needs more.
        return type(self), (self.message, self.name, self.layout, self.checkpoint, self.path)


@dataclass(frozen=True)
class FeatureKind:
    """One block of an embedding's columns.

    Attributes:
        kind: ``discriminator`` (the trunk's pooled features before the heads)
            or ``generator_latent`` (the generator's latent map, average-pooled).
        dim: Its columns.
    """

    kind: str
    dim: int

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready copy."""
        return {"kind": self.kind, "dim": self.dim}


@dataclass(frozen=True)
class Manifest:
    """What every entry of an embeddings folder was made from.

    Attributes:
        name: The embeddings' name (their folder).
        checkpoint: The checkpoint file they were extracted from.
        fingerprint: SHA-256 of that file when they were extracted.
        variant: The model variant.
        kinds: The feature blocks, in column order.
        audio: The audio feature configuration key the model took, or ``None``.
    """

    name: str
    checkpoint: Path
    fingerprint: str
    variant: str
    kinds: tuple[FeatureKind, ...]
    audio: str | None = None

    @property
    def dim(self) -> int:
        """Values per frame."""
        return sum(kind.dim for kind in self.kinds)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (what ``embeddings.json`` holds)."""
        return {
            "format": EMBEDDINGS_FORMAT,
            "name": self.name,
            "checkpoint": str(self.checkpoint),
            "fingerprint": self.fingerprint,
            "variant": self.variant,
            "dim": self.dim,
            "kinds": [kind.to_dict() for kind in self.kinds],
            "audio": self.audio,
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Manifest:
        """The manifest of :meth:`to_dict` (``KeyError``/``TypeError``/``ValueError`` when it is not one)."""
        kinds = tuple(FeatureKind(str(kind["kind"]), int(kind["dim"])) for kind in values["kinds"])
        return cls(
            name=str(values["name"]),
            checkpoint=Path(values["checkpoint"]),
            fingerprint=str(values["fingerprint"]),
            variant=str(values["variant"]),
            kinds=kinds,
            audio=values.get("audio"),
        )


def check_name(name: str) -> str:
    """``name`` when it can name an embeddings folder (letters, digits, ``.``, ``_``, ``-``).

    Raises:
        DataError: for an empty name, a path or other characters.

    Example:
        >>> check_name("aeg-cd-sz_seed1")
        'aeg-cd-sz_seed1'
    """
    if not NAME_PATTERN.match(name):
        raise DataError(
            f"embeddings name {name!r} must start with a letter or digit and hold only letters, digits, '.', '_', '-'"
        )
    return name


def embeddings_folder(index: DatasetIndex, name: str) -> Path:
    """``CACHE/embeddings/<name>``: where the embeddings called ``name`` are kept."""
    return index.layout.cache_dir / EMBEDDINGS_FOLDER / check_name(name)


_fingerprints: dict[tuple[str, int, int, int], str] = {}


def checkpoint_fingerprint(path: Path) -> str:
    """SHA-256 of a checkpoint file's bytes: the part of the cache key that says which weights made the embeddings.

    Remembered in the process for the same file, size, modification time and
    inode (abaw replaces a checkpoint by renaming a new file over it), so a
    command that checks a file in several places reads it once.
    """
    info = os.stat(path)
    seen = (str(Path(path).absolute()), info.st_size, info.st_mtime_ns, info.st_ino)
    if seen not in _fingerprints:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        _fingerprints[seen] = digest.hexdigest()
    return _fingerprints[seen]


def read_manifest(folder: Path) -> Manifest | None:
    """The manifest of an embeddings folder; ``None`` when it is missing or unreadable."""
    try:
        values = json.loads((folder / MANIFEST_NAME).read_text())
        if values.get("format") != EMBEDDINGS_FORMAT:
            return None
        return Manifest.from_dict(values)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def read_encoder_record(folder: Path) -> dict[str, Any] | None:
    """The encoder a cache was extracted with (``encoder.json``); ``None`` for another cache or a bad file."""
    try:
        record = json.loads((folder / ENCODER_RECORD).read_text(encoding="utf-8"))
        return record if all(key in record for key in ("encoder", "weights", "input_size", "mean", "std")) else None
    except (OSError, ValueError, TypeError):
        return None


def read_trained_on(folder: Path) -> tuple[Split, ...] | None:
    """The splits the model of an embedding cache trained on, as its extraction reported them; ``None``: unknown."""
    try:
        values = json.loads((folder / REPORT_NAME).read_text(encoding="utf-8"))["trained_on"]
        return tuple(Split(value) for value in values)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def face_rows(entry: Entry) -> np.ndarray:
    """0-based rows of an entry's embeddings that have a face image (frames past its rows left out)."""
    frames = np.asarray(entry.face_frames, dtype=np.int64)
    return frames[(frames >= 1) & (frames <= entry_rows(entry))] - 1


def faces_digest(rows: np.ndarray) -> str:
    """A short digest of the face rows an entry's file was made for."""
    return hashlib.sha256(np.ascontiguousarray(rows, dtype=np.int64).tobytes()).hexdigest()[:16]


def crops_digest(entry: Entry) -> str:
    """A digest of the face images an entry's rows are made from: their frame numbers and bytes.

    Reads every face image of the entry (small files, read whole). The
    folder is not part of it: the same crops elsewhere give the same digest.
    """
    paths = [entry.image_path(int(frame) + 1) for frame in face_rows(entry)]
    return files_digest(paths, names=[str(int(frame) + 1) for frame in face_rows(entry)])


def audio_digest(rows: np.ndarray | None) -> str | None:
    """A digest of the audio rows a model took for an entry (``None``: the model takes no audio)."""
    if rows is None:
        return None
    return hashlib.sha256(np.ascontiguousarray(rows, dtype=np.float32).tobytes()).hexdigest()[:16]


def entry_meta(
    manifest: Manifest, entry: Entry, *, crops: str | None = None, audio: str | None = None
) -> dict[str, Any]:
    """An entry's key made now from ``manifest``'s checkpoint: what its file holds, and what a fresh one must hold.

    Args:
        manifest: The embeddings' manifest.
        entry: The entry.
        crops: Its :func:`crops_digest`, when known (the writer knows it; readers leave it out).
        audio: Its :func:`audio_digest`, for a model that takes audio.
    """
    rows = face_rows(entry)
    meta = {
        "format": EMBEDDINGS_FORMAT,
        "entry": entry.name,
        "fingerprint": manifest.fingerprint,
        "variant": manifest.variant,
        "dim": manifest.dim,
        "kinds": [kind.to_dict() for kind in manifest.kinds],
        "rows": entry_rows(entry),
        "faces": len(rows),
        "faces_digest": faces_digest(rows),
    }
    if crops is not None:
        meta["crops"] = crops
    if audio is not None:
        meta["audio"] = audio
    return meta


def entry_keys(
    manifest: Manifest, entries: Sequence[Entry], audio: Mapping[str, np.ndarray] | None = None
) -> dict[str, dict[str, Any]]:
    """The whole key (:func:`entry_meta` with the crops' digest, and the audio's) of each of ``entries``, by name.

    Args:
        manifest: The embeddings' manifest.
        entries: The entries.
        audio: The audio rows the model takes for each entry, ``None`` for a model without audio.
    """
    with ThreadPoolExecutor(max_workers=DIGEST_THREADS) as pool:
        digests = list(pool.map(crops_digest, entries))
    return {
        entry.name: entry_meta(
            manifest, entry, crops=crops, audio=None if audio is None else audio_digest(audio[entry.name])
        )
        for entry, crops in zip(entries, digests, strict=True)
    }


def stale_reason(meta: dict[str, Any], wanted: dict[str, Any]) -> str | None:
    """What changed since a cached entry (its ``meta``) was made, compared with ``wanted`` (:func:`entry_meta`).

    ``None`` when it is up to date. Only the keys ``wanted`` holds are
    compared: a reader that did not digest the crops does not compare them.

    Example:
        >>> made = {"format": EMBEDDINGS_FORMAT, "fingerprint": "a", "dim": 4, "kinds": [], "rows": 9,
        ...         "faces": 3, "faces_digest": "f", "crops": "c1"}
        >>> stale_reason(made, {**made, "crops": "c2"})
        'its face crops changed since (same frames, other images)'
        >>> stale_reason(made, {k: v for k, v in made.items() if k != "crops"}) is None
        True
    """
    if meta.get("format") != wanted["format"]:
        return f"written in cache format {meta.get('format')}, this abaw writes {EMBEDDINGS_FORMAT}"
    if meta.get("fingerprint") != wanted["fingerprint"]:
        return "made from another checkpoint"
    if meta.get("dim") != wanted["dim"] or meta.get("kinds") != wanted["kinds"]:
        return "made by a model with other feature blocks"
    if meta.get("rows") != wanted["rows"]:
        return f"made for {meta.get('rows')} rows, the entry has {wanted['rows']} now"
    if meta.get("faces_digest") != wanted["faces_digest"]:
        return f"made for other face frames ({meta.get('faces')} then, {wanted['faces']} now)"
    if "crops" in wanted and meta.get("crops") != wanted["crops"]:
        return "its face crops changed since (same frames, other images)"
    if "audio" in wanted and meta.get("audio") != wanted["audio"]:
        return "the audio features the model takes changed since"
    return None
