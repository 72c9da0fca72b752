"""Per-entry input sequences: one row per frame, from the named feature sources, and their normalisation.

An entry's sequence has one row per label line (its frame count when it has
no labels), as the audio features do: row ``i`` is 1-based frame ``i + 1``.
The columns are the visual sources (embedding caches) first, then audio.
Frames without a face carry no visual features; the model replaces them with
a learned "missing" vector and sees a mask channel (``has_face``).

Normalisation statistics come from the training entries only: visual
columns over the frames with a face, audio columns over every frame.

Every source has a fingerprint of what made it (an embedding cache: the
SHA-256 of the checkpoint it was extracted with; the audio features: their
configuration and cache format). A temporal checkpoint records them, so a
model is never fed, nor resumed over, features other than those it was
trained on (:func:`feature_keys`, :func:`require_same_features`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from abaw.data.audio import AudioFeatureConfig, AudioFeatures, load_audio_features
from abaw.data.audio.cache import AUDIO_FEATURES_FORMAT, fit_rows
from abaw.data.embeddings import Embeddings, EmbeddingsNotReady, load_embeddings
from abaw.data.embeddings.cache import read_trained_on
from abaw.data.entries import Entry, SkippedEntry
from abaw.data.index import DatasetIndex
from abaw.data.layout import DatasetLayout, Split
from abaw.errors import ConfigError, DataError
from abaw.progress import ProgressFn, no_progress

AUDIO = "audio"
"""The feature name of the toolkit's audio features (default configuration)."""

STD_FLOOR = 1e-4
"""Smallest standard deviation divided by, so a constant column stays finite."""


class FeatureSource(Protocol):
    """Per-frame features of the entries of a dataset (an embedding cache, the audio features).

    Attributes:
        name: The feature name given to ``--features``.
        dim: Values per frame.
        visual: Whether the features come from face images (missing where there is no face).
        fingerprint: What made them (the embeddings' checkpoint SHA-256, the audio configuration).
        made_from: The same in words: the checkpoint file, or the audio configuration.
        trained_on: The splits whose entries the model behind the features was trained on (their features
            are in-sample); ``None`` when not known.
    """

    name: str
    dim: int
    visual: bool
    fingerprint: str
    made_from: str
    trained_on: tuple[Split, ...] | None

    def for_entry(self, entry: Entry) -> tuple[np.ndarray, np.ndarray | None]:
        """``(rows, dim)`` float32 features, and ``(rows,)`` has-face flags (``None``: every row is valid)."""
        ...


@dataclass
class AudioSource:
    """The audio features of the toolkit (``abaw features audio``), unnormalised: the sequences normalise."""

    name: str
    dim: int
    visual: bool
    fingerprint: str
    made_from: str
    _features: AudioFeatures
    trained_on: tuple[Split, ...] | None = ()

    @classmethod
    def open(cls, index: DatasetIndex, names: Sequence[str]) -> AudioSource:
        """The audio features of entries ``names``.

        Raises:
            DataError: when they are missing or out of date (``abaw features audio`` makes them).
        """
        config = AudioFeatureConfig()
        features = load_audio_features(index, config, names=names, normalise=False)
        made_from = f"audio features {config.key}"
        return cls(AUDIO, config.dim, False, f"{config.key} format {AUDIO_FEATURES_FORMAT}", made_from, features)

    def for_entry(self, entry: Entry) -> tuple[np.ndarray, np.ndarray | None]:
        """The entry's audio rows; audio has no face, so every row is valid."""
        return self._features.for_entry(entry.name), None


@dataclass
class EmbeddingSource:
    """A cache of ``abaw features embed``, seen through its reader (``load_embeddings``)."""

    name: str
    dim: int
    visual: bool
    fingerprint: str
    made_from: str
    _reader: Embeddings
    trained_on: tuple[Split, ...] | None = None

    @classmethod
    def open(cls, index: DatasetIndex, name: str, entries: Sequence[str]) -> EmbeddingSource:
        """The embedding cache ``name`` of ``index``, for entries ``entries``.

        Raises:
            DataError: when the cache is missing or out of date (:class:`~abaw.data.embeddings.EmbeddingsNotReady`).
        """
        reader = load_embeddings(index, name, names=entries)
        manifest = reader.manifest
        fingerprint, made_from = manifest.fingerprint, str(manifest.checkpoint)
        return cls(name, int(reader.dim), True, fingerprint, made_from, reader, read_trained_on(reader.folder))

    def for_entry(self, entry: Entry) -> tuple[np.ndarray, np.ndarray | None]:
        """The entry's embeddings and which rows have a face."""
        features, has_face = self._reader.for_entry(entry.name)
        return features, has_face


def parse_feature_names(text: str | Iterable[str]) -> tuple[str, ...]:
    """``NAME[,audio]`` as a tuple of distinct names, in the order given.

    Raises:
        ConfigError: for an empty list or a name given twice.

    Example:
        >>> parse_feature_names("aln, audio")
        ('aln', 'audio')
    """
    names = [part.strip() for part in text.split(",")] if isinstance(text, str) else [str(part) for part in text]
    names = [name for name in names if name]
    if not names:
        raise ConfigError("--features needs at least one feature name (an embedding cache, or audio)")
    if len(set(names)) != len(names):
        raise ConfigError(f"--features names a source twice: {','.join(names)}")
    return tuple(names)


def open_sources(index: DatasetIndex, names: Sequence[str], entries: Sequence[str]) -> list[FeatureSource]:
    """The sources named by ``--features``, visual ones first (their column order in the sequences)."""
    sources: list[FeatureSource] = []
    for name in names:
        source = AudioSource.open(index, entries) if name == AUDIO else EmbeddingSource.open(index, name, entries)
        sources.append(source)
    return in_column_order(sources)


def in_column_order(sources: Sequence[FeatureSource]) -> list[FeatureSource]:
    """Visual sources first (the model replaces their columns where there is no face), each group as given."""
    return sorted(sources, key=lambda source: not source.visual)


@dataclass
class EntrySequence:
    """One entry's inputs, frame by frame.

    Attributes:
        name: The entry.
        inputs: ``(rows, features)`` float32, visual columns first; zeros where there is no face.
        has_face: ``(rows,)`` whether the frame's visual features are real.
        labels: ``(rows, 2)`` valence and arousal, -5 where not annotated; ``None`` for unlabelled entries.
    """

    name: str
    inputs: np.ndarray
    has_face: np.ndarray
    labels: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.inputs)


def build_sequence(index: DatasetIndex, entry: Entry, sources: Sequence[FeatureSource]) -> EntrySequence:
    """The entry's sequence: every source fitted to its rows, side by side.

    Frames count as having a face when every visual source says so; without
    a visual source, when the entry has a face image for it (only the mask
    channel then uses it).
    """
    rows = entry.frame_count
    sources = in_column_order(sources)
    columns, has_face = [], np.ones(rows, dtype=bool)
    for source in sources:
        features, faces = source.for_entry(entry)
        columns.append(fit_rows(np.asarray(features, dtype=np.float32), rows))
        if faces is not None:
            has_face &= fit_rows(np.asarray(faces, dtype=bool)[:, None], rows)[:, 0]
    if not any(source.visual for source in sources):
        has_face = entry.has_face(np.arange(1, rows + 1))
    inputs = np.concatenate(columns, axis=1) if columns else np.zeros((rows, 0), np.float32)
    visual = visual_dim(sources)
    inputs[~has_face, :visual] = 0.0
    labels = index.labels(entry.name) if entry.label_rows else None
    return EntrySequence(entry.name, inputs, has_face, None if labels is None else np.asarray(labels, np.float32))


def visual_dim(sources: Sequence[FeatureSource]) -> int:
    """Columns of the visual sources (they come first)."""
    return sum(source.dim for source in sources if source.visual)


@dataclass
class Normalisation:
    """Per-column mean and standard deviation of the training inputs.

    Attributes:
        mean: ``(features,)`` float32.
        std: ``(features,)`` float32, floored at :data:`STD_FLOOR`.
    """

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, sequences: Sequence[EntrySequence], visual: int) -> Normalisation:
        """Statistics of ``sequences``: visual columns over face frames, the others over every frame."""
        width = sequences[0].inputs.shape[1]
        everything = np.concatenate([sequence.inputs for sequence in sequences]).astype(np.float64)
        faces = np.concatenate([sequence.has_face for sequence in sequences])
        mean, std = np.zeros(width), np.ones(width)
        if visual and faces.any():
            mean[:visual] = everything[faces, :visual].mean(axis=0)
            std[:visual] = everything[faces, :visual].std(axis=0)
        mean[visual:] = everything[:, visual:].mean(axis=0)
        std[visual:] = everything[:, visual:].std(axis=0)
        return cls(mean.astype(np.float32), np.maximum(std, STD_FLOOR).astype(np.float32))

    def apply(self, sequence: EntrySequence, visual: int) -> EntrySequence:
        """``sequence`` standardised; frames without a face keep zero visual features (the model replaces them)."""
        inputs = (sequence.inputs - self.mean) / self.std
        inputs[~sequence.has_face, :visual] = 0.0
        return EntrySequence(sequence.name, inputs.astype(np.float32), sequence.has_face, sequence.labels)

    def to_dict(self) -> dict[str, np.ndarray]:
        """For the checkpoint (arrays become tensors there)."""
        return {"mean": self.mean, "std": self.std}


def sequences_for(
    index: DatasetIndex, entries: Sequence[Entry], sources: Sequence[FeatureSource]
) -> list[EntrySequence]:
    """Raw sequences of ``entries`` (for prediction, labelled or not)."""
    return [build_sequence(index, entry, sources) for entry in entries]


@dataclass
class SequenceData:
    """Every usable entry's raw sequence, built once per run.

    Attributes:
        index: The dataset.
        sources: Feature names and widths, in column order.
        visual_dim: Columns of the visual sources (first).
        sequences: Raw (unnormalised) sequences by entry name.
        skipped: Entries left out, with the reasons.
        keys: What made each source (:func:`feature_keys`), for the checkpoint.
        in_sample: The splits whose entries some source's model was trained on; ``None`` when a source
            does not say (an embedding cache extracted before abaw recorded it).
    """

    index: DatasetIndex
    sources: list[tuple[str, int]]
    visual_dim: int
    sequences: dict[str, EntrySequence]
    skipped: list[SkippedEntry]
    keys: dict[str, dict[str, str]] = field(default_factory=dict)
    in_sample: frozenset[Split] | None = field(default_factory=frozenset)

    def of(self, names: Sequence[str]) -> list[EntrySequence]:
        """The sequences of ``names``, in that order."""
        return [self.sequences[name] for name in names]

    def unseen(self, names: Sequence[str]) -> list[str] | None:
        """Those of ``names`` no source's model was trained on (``None`` when that is not known)."""
        if self.in_sample is None:
            return None
        return [name for name in names if self.index.entries[name].split not in self.in_sample]


def load_sequence_data(
    index: DatasetIndex, features: Sequence[str], splits: Sequence[Split], progress: ProgressFn = no_progress
) -> SequenceData:
    """Open the feature sources and build the sequence of every usable labelled entry of ``splits``.

    Raises:
        DataError: when a source is missing or out of date, or no entry is usable.
    """
    selection = index.usable_entries(splits)
    entries = [entry for entry in selection.entries if entry.label_rows]
    if not entries:
        raise DataError(f"{index.layout.root}: no usable labelled entry to train on; run 'abaw data check'")
    sources = open_sources(index, features, [entry.name for entry in entries])
    sequences = {
        entry.name: build_sequence(index, entry, sources)
        for entry in progress(entries, "building sequences", total=len(entries))
    }
    described = [(source.name, source.dim) for source in sources]
    known = [source.trained_on for source in sources]
    in_sample = None if None in known else frozenset(split for splits in known for split in splits)
    skipped = list(selection.skipped)
    return SequenceData(index, described, visual_dim(sources), sequences, skipped, feature_keys(sources), in_sample)


def feature_keys(sources: Sequence[FeatureSource]) -> dict[str, dict[str, str]]:
    """What made each source, as a temporal checkpoint records it beside the feature names.

    Example:
        >>> class Source:
        ...     name, fingerprint, made_from = "aln", "9f2c", "runs/disc/best.pt"
        >>> feature_keys([Source()])
        {'fingerprints': {'aln': '9f2c'}, 'made_from': {'aln': 'runs/disc/best.pt'}}
    """
    return {
        "fingerprints": {source.name: source.fingerprint for source in sources},
        "made_from": {source.name: source.made_from for source in sources},
    }


def require_same_features(
    recorded: Mapping[str, Any], current: Mapping[str, Mapping[str, str]], path: Path, layout: DatasetLayout
) -> None:
    """Refuse feature sources other than those a temporal checkpoint (at ``path``) was trained on.

    A checkpoint from before fingerprints were recorded cannot tell, and passes.

    Args:
        recorded: The checkpoint's ``features`` (names, dims and :func:`feature_keys`).
        current: :func:`feature_keys` of the sources opened now.
        path: The checkpoint, named in the message.
        layout: The dataset, for the command that remakes embeddings.

    Raises:
        DataError: in one line naming ``path``, the source and both origins;
            for embeddings, :class:`~abaw.data.embeddings.EmbeddingsNotReady`
            (the command line adds the ``abaw features embed`` that remakes them).
    """
    fingerprints, made_from = recorded.get("fingerprints") or {}, recorded.get("made_from") or {}
    for name, now in current["fingerprints"].items():
        then = fingerprints.get(name)
        if then is None or then == now:
            continue
        before = made_from.get(name) or f"fingerprint {str(then)[:12]}"
        message = (
            f"the model was trained on '{name}' made from {before}; '{name}' is now made from "
            f"{current['made_from'][name]}: remake it as it was, or train the model again on the new one"
        )
        if name == AUDIO:
            raise DataError(message, path=path)
        original = made_from.get(name)
        raise EmbeddingsNotReady(message, name, layout, None if original is None else Path(original), path=path)
