"""The cache of embeddings: where the files are, what they are keyed on, and when they are stale.

Under ``CACHE/embeddings/<name>/``: ``embeddings.json`` (the manifest: the
checkpoint, its SHA-256 fingerprint, the variant, the width and the feature
kinds) and one ``<entry name>.npz`` per entry (``features``, ``has_face`` and
a JSON ``meta``). An entry's file is up to date when its format, checkpoint
fingerprint, row count and face frames are those of the manifest and the
dataset now: a different checkpoint extracted under the same name makes
every entry stale.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from abaw.data.audio.cache import entry_rows
from abaw.data.entries import Entry
from abaw.data.index import DatasetIndex
from abaw.data.layout import DatasetLayout
from abaw.errors import DataError

EMBEDDINGS_FORMAT = 1
"""Version of the cache files; a change makes every cached file stale."""
EMBEDDINGS_FOLDER = "embeddings"
"""Folder of the embeddings under the dataset's cache folder."""
MANIFEST_NAME = "embeddings.json"
REPORT_NAME = "report.json"
ENCODER_RECORD = "encoder.json"
"""A pretrained encoder's settings beside the manifest (``abaw features embed --encoder``)."""
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


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


def checkpoint_fingerprint(path: Path) -> str:
    """SHA-256 of a checkpoint file's bytes: the part of the cache key that says which weights made the embeddings."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(folder: Path) -> Manifest | None:
    """The manifest of an embeddings folder; ``None`` when it is missing or unreadable."""
    try:
        values = json.loads((folder / MANIFEST_NAME).read_text())
        if values.get("format") != EMBEDDINGS_FORMAT:
            return None
        return Manifest.from_dict(values)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def face_rows(entry: Entry) -> np.ndarray:
    """0-based rows of an entry's embeddings that have a face image (frames past its rows left out)."""
    frames = np.asarray(entry.face_frames, dtype=np.int64)
    return frames[(frames >= 1) & (frames <= entry_rows(entry))] - 1


def faces_digest(rows: np.ndarray) -> str:
    """A short digest of the face rows an entry's file was made for."""
    return hashlib.sha256(np.ascontiguousarray(rows, dtype=np.int64).tobytes()).hexdigest()[:16]


def entry_meta(manifest: Manifest, entry: Entry) -> dict[str, Any]:
    """The ``meta`` of an entry's file made now from ``manifest``'s checkpoint: also what a fresh file must hold."""
    rows = face_rows(entry)
    return {
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


STALE_KEYS = ("format", "fingerprint", "dim", "kinds", "rows", "faces_digest")
"""The ``meta`` values an entry's file must share with :func:`entry_meta` to be up to date."""


def stale_reason(meta: dict[str, Any], manifest: Manifest, entry: Entry) -> str | None:
    """Why a cached entry (its ``meta``) is out of date, or ``None`` when it is up to date."""
    wanted = entry_meta(manifest, entry)
    if meta.get("format") != wanted["format"]:
        return f"written in cache format {meta.get('format')}, not {EMBEDDINGS_FORMAT}"
    if meta.get("fingerprint") != wanted["fingerprint"]:
        return "made from another checkpoint"
    if meta.get("rows") != wanted["rows"]:
        return f"made for {meta.get('rows')} rows, the entry has {wanted['rows']} now"
    if any(meta.get(key) != wanted[key] for key in STALE_KEYS):
        return "made for other face frames or another model"
    return None
