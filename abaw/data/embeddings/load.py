"""Loading cached embeddings: one ``(features, has_face)`` pair per entry, on demand."""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from abaw.data.audio.cache import entry_rows, read_meta
from abaw.data.embeddings.cache import (
    EmbeddingsNotReady,
    FeatureKind,
    Manifest,
    checkpoint_fingerprint,
    embeddings_folder,
    entry_meta,
    read_manifest,
    stale_reason,
)
from abaw.data.index import DatasetIndex
from abaw.errors import DataError


@dataclass
class Embeddings:
    """Cached per-frame embeddings of a dataset, one array per entry on demand.

    Built by :func:`load_embeddings`, which checks that every needed file is
    up to date; an entry's arrays are read on first use and kept.

    Attributes:
        manifest: What they were made from (checkpoint, fingerprint, variant, kinds).
        folder: Where the files are.
    """

    manifest: Manifest
    folder: Path
    _index: DatasetIndex = field(repr=False)
    _files: dict[str, Path] = field(repr=False)
    _arrays: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        """The embeddings' name."""
        return self.manifest.name

    @property
    def dim(self) -> int:
        """Values per frame."""
        return self.manifest.dim

    @property
    def kinds(self) -> tuple[FeatureKind, ...]:
        """The feature blocks, in column order."""
        return self.manifest.kinds

    @property
    def names(self) -> list[str]:
        """The entries available."""
        return list(self._files)

    def for_entry(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(features, has_face)`` of an entry: ``(rows, dim)`` float32 and ``(rows,)`` bool.

        Row ``i`` is 1-based frame ``i + 1``; ``rows`` is the entry's label
        lines (its frame count when it has no labels). Frames without a face
        image have zeros and ``has_face`` False.

        Raises:
            DataError: for a name that was not loaded, or a file whose arrays cannot be read.
        """
        if name not in self._files:
            raise DataError(f"no embeddings {self.name} loaded for entry {name}")
        if name not in self._arrays:
            self._arrays[name] = self._read(name)
        return self._arrays[name]

    def _read(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        path = self._files[name]
        rows = entry_rows(self._index.entries[name])
        try:
            with np.load(path, allow_pickle=False) as archive:
                features = np.asarray(archive["features"], dtype=np.float32)
                has_face = np.asarray(archive["has_face"], dtype=bool)
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as error:
            reason = next(iter(str(error).splitlines()), type(error).__name__)
            message = f"embeddings file cannot be read ({reason}); extract again with --force"
            raise DataError(message, path=path) from None
        if features.shape != (rows, self.dim) or has_face.shape != (rows,):
            raise DataError(
                f"embeddings file holds features {features.shape} and mask {has_face.shape}, expected "
                f"({rows}, {self.dim}) and ({rows},); extract again with --force",
                path=path,
            )
        return features, has_face


def load_embeddings(
    index: DatasetIndex, name: str, names: Sequence[str] | None = None, checkpoint: Path | None = None
) -> Embeddings:
    """Open the cached embeddings called ``name`` of ``names`` (default every entry) for :meth:`Embeddings.for_entry`.

    Args:
        index: The dataset.
        name: The embeddings' name (``abaw features embed --name``).
        names: Entries needed; default all.
        checkpoint: When given, the embeddings must have been made from this
            checkpoint file as it is now (same SHA-256).

    Raises:
        EmbeddingsNotReady: embeddings (or an entry's file) missing, unreadable
            or out of date, naming the file.
        DataError: an unknown entry.
    """
    folder = embeddings_folder(index, name)
    manifest = read_manifest(folder)
    if manifest is None:
        raise EmbeddingsNotReady(
            f"no embeddings named {name} for this dataset", name, index.layout, checkpoint, path=folder
        )
    if checkpoint is not None and checkpoint_fingerprint(checkpoint) != manifest.fingerprint:
        raise EmbeddingsNotReady(
            f"the embeddings {name} were made from another checkpoint than {checkpoint}",
            name,
            index.layout,
            checkpoint,
            path=folder,
        )
    files: dict[str, Path] = {}
    for entry_name in list(index.entries) if names is None else list(names):
        entry = index.entries.get(entry_name)
        if entry is None:
            raise DataError(f"no entry named {entry_name} in the dataset", path=index.layout.root)
        path = folder / f"{entry_name}.npz"
        meta = read_meta(path)
        if meta is None:
            problem = "cannot be read (damaged?)" if path.exists() else "is missing"
            raise EmbeddingsNotReady(
                f"the embeddings file of entry {entry_name} {problem}",
                name,
                index.layout,
                manifest.checkpoint,
                path=path,
            )
        reason = stale_reason(meta, entry_meta(manifest, entry))
        if reason is not None:
            raise EmbeddingsNotReady(
                f"the embeddings of entry {entry_name} are out of date ({reason})",
                name,
                index.layout,
                manifest.checkpoint,
                path=path,
            )
        files[entry_name] = path
    return Embeddings(manifest, folder, index, files)
