"""Embedding extraction (``abaw features embed``): every face frame through a model, one cached file per entry.

The model is a per-frame model of ``abaw train`` (:func:`extract_embeddings`)
or a frozen pretrained encoder read from a local weights file
(:func:`extract_encoder_embeddings`, :mod:`abaw.prediction.encoders`). The
cache and its reader are :mod:`abaw.data.embeddings`; extraction needs a
model, so it sits here, above the data layer.

Frames are read and fed as ``abaw predict`` feeds them
(:func:`~abaw.prediction.members.inference_dataset` and
:func:`~abaw.runtime.evaluation.batched_outputs`), in entry order, so an
entry's file is written as soon as its last frame is embedded and the whole
dataset never sits in memory. Entries whose file is up to date are skipped.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from abaw.data.audio.cache import entry_rows, read_meta
from abaw.data.embeddings.cache import (
    ENCODER_RECORD,
    MANIFEST_NAME,
    REPORT_NAME,
    FeatureKind,
    Manifest,
    check_name,
    checkpoint_fingerprint,
    embeddings_folder,
    entry_keys,
    stale_reason,
)
from abaw.data.entries import Entry
from abaw.data.index import DatasetIndex
from abaw.data.layout import Split
from abaw.data.samples import Batch, FaceFrameDataset
from abaw.fileio import atomic_output_file, atomic_write_json
from abaw.outputs import output_lock
from abaw.prediction.encoders import EncoderSettings, open_encoder
from abaw.prediction.ensemble import trained_splits
from abaw.prediction.members import audio_rows, inference_dataset
from abaw.prediction.open import open_frame_model
from abaw.progress import ProgressFn, no_progress
from abaw.runtime.devices import resolve_device
from abaw.runtime.evaluation import batched_outputs
from abaw.runtime.rundir import RunDir


@dataclass
class EmbeddingReport:
    """What :func:`extract_embeddings` did.

    Attributes:
        name: The embeddings' name.
        folder: Where the per-entry files are.
        checkpoint: The checkpoint file they come from.
        fingerprint: Its SHA-256.
        variant: The model variant.
        kinds: The feature blocks, in column order.
        device: Where the model ran.
        entries: Entries asked for (every split's by default).
        written: Entries extracted in this run.
        skipped: Entries whose file was up to date.
        stale: Why each entry extracted again was out of date (what changed since), by entry.
        frames: Face frames embedded in this run.
        rows: Rows written in this run (frames without a face are zero rows).
        seconds: Wall-clock seconds of the run (loading the model included).
        embed_seconds: Seconds spent reading and embedding frames.
        report_path: This report as JSON.
        encoder: A pretrained encoder's record (weights file and its SHA-256, input size, normalisation), else ``None``.
        trained_on: The splits of this dataset whose entries the model was trained on (none for a pretrained
            encoder, nor for a model trained on another dataset): their embeddings are in-sample.
    """

    name: str
    folder: Path
    checkpoint: Path
    fingerprint: str
    variant: str
    kinds: tuple[FeatureKind, ...]
    device: str
    entries: int = 0
    written: int = 0
    skipped: int = 0
    stale: dict[str, str] = field(default_factory=dict)
    frames: int = 0
    rows: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0
    report_path: Path | None = None
    encoder: dict[str, Any] | None = None
    trained_on: tuple[Split, ...] = ()

    @property
    def dim(self) -> int:
        """Values per frame."""
        return sum(kind.dim for kind in self.kinds)

    @property
    def frames_per_second(self) -> float:
        """Face frames embedded per second of embedding (0 when none were)."""
        return self.frames / self.embed_seconds if self.frames and self.embed_seconds > 0 else 0.0

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready copy."""
        return {
            "name": self.name,
            "folder": str(self.folder),
            "checkpoint": str(self.checkpoint),
            "fingerprint": self.fingerprint,
            "variant": self.variant,
            "dim": self.dim,
            "kinds": [kind.to_dict() for kind in self.kinds],
            "device": self.device,
            "entries": self.entries,
            "written": self.written,
            "skipped": self.skipped,
            "stale": dict(self.stale),
            "frames": self.frames,
            "rows": self.rows,
            "seconds": round(self.seconds, 3),
            "embed_seconds": round(self.embed_seconds, 3),
            "frames_per_second": round(self.frames_per_second, 1),
            "report": None if self.report_path is None else str(self.report_path),
            "encoder": self.encoder,
            "trained_on": [split.value for split in self.trained_on],
        }


def default_embeddings_name(checkpoint: str | os.PathLike) -> str:
    """The name embeddings of ``checkpoint`` get by default: the run folder's name, else the file's stem.

    A run folder, or its ``best.pt``/``last.pt``, gives the folder's name;
    other files their stem. Characters a name cannot hold become ``-``.

    Example:
        >>> default_embeddings_name("runs/aeg-cd-sz/best.pt"), default_embeddings_name("ckpt/sz seed 2.pt")
        ('aeg-cd-sz', 'sz-seed-2')
    """
    path = Path(checkpoint)
    if path.name in (RunDir.BEST, RunDir.LAST):
        path = path.absolute().parent
    base = path.absolute().name if path.is_dir() or not path.suffix else path.stem
    return re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("-._") or "embeddings"


def _write_entry(path: Path, features: np.ndarray, has_face: np.ndarray, meta: dict[str, Any]) -> None:
    with atomic_output_file(path, force=True) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, features=features, has_face=has_face, meta=np.array(json.dumps(meta)))


@dataclass
class _EntryWriter:
    """Gathers embedded frames in sample order and writes each entry's file once its frames are in."""

    manifest: Manifest
    folder: Path
    pending: list[tuple[Entry, np.ndarray]]
    keys: dict[str, dict[str, Any]]
    _buffer: list[np.ndarray] = field(default_factory=list)
    _buffered: int = 0
    written: int = 0
    rows: int = 0

    def add(self, values: np.ndarray) -> None:
        self._buffer.append(values)
        self._buffered += len(values)
        self._flush()

    def _flush(self) -> None:
        while self.written < len(self.pending) and len(self.pending[self.written][1]) <= self._buffered:
            entry, frames = self.pending[self.written]
            stacked = np.concatenate(self._buffer) if self._buffer else np.zeros((0, self.manifest.dim), np.float32)
            mine, rest = stacked[: len(frames)], stacked[len(frames) :]
            self._buffer, self._buffered = [rest], len(rest)
            rows = entry_rows(entry)
            features = np.zeros((rows, self.manifest.dim), dtype=np.float32)
            has_face = np.zeros(rows, dtype=bool)
            features[frames - 1] = mine
            has_face[frames - 1] = True
            meta = self.keys[entry.name]
            if meta["faces"] != len(frames):
                raise AssertionError(f"{entry.name}: {len(frames)} frames embedded for {meta['faces']} face rows")
            _write_entry(self.folder / f"{entry.name}.npz", features, has_face, meta)
            self.written += 1
            self.rows += rows


def extract_embeddings(
    index: DatasetIndex,
    checkpoint: str | os.PathLike,
    name: str | None = None,
    *,
    splits: Sequence[Split] | None = None,
    device: str = "auto",
    batch_size: int = 256,
    workers: int = 2,
    force: bool = False,
    progress: ProgressFn = no_progress,
    recorded_as: Path | None = None,
) -> EmbeddingReport:
    """Embed every face frame of every entry of ``index`` (all splits) with a trained model and cache it.

    Args:
        index: The dataset.
        checkpoint: A checkpoint of ``abaw train``, or its run folder (its best, else last).
        name: The embeddings' name; default :func:`default_embeddings_name` of ``checkpoint``.
        splits: Only the entries of these splits (default every split), e.g. the demo's
            Train and Validation: the entries of other splits are left as they are.
        device: ``auto`` (CUDA when present), ``cpu``, ``cuda`` or ``cuda:N``.
        batch_size: Frames per forward pass.
        workers: DataLoader worker processes reading the images.
        force: Extract every entry again, up to date or not.
        progress: Wraps the batch loop.
        recorded_as: The checkpoint's path the cache records, when it is read
            from elsewhere now (a recipe's checkpoint still in its staging folder).

    Returns:
        Counts, speed and where everything was written.

    Raises:
        CheckpointError: a missing or broken checkpoint.
        DataError: a bad name, a face image that cannot be read, audio
            features the model needs missing.
        OutputBusyError: another abaw process is writing the embeddings of that name.
    """
    name = check_name(name if name is not None else default_embeddings_name(checkpoint))
    # One writer per cache, as per output: two extractions under one name would mix two models.
    with output_lock(embeddings_folder(index, name)):
        began = time.perf_counter()
        work, report = _trained_model_extraction(index, checkpoint, name, device, recorded_as)
        options = _RunOptions(splits, batch_size, workers, force, progress)
        return _extract(index, work, report, options, began)


def _trained_model_extraction(
    index: DatasetIndex, checkpoint: str | os.PathLike, name: str, device: str, recorded_as: Path | None
) -> tuple[_Extraction, EmbeddingReport]:
    """The extraction of a per-frame model of ``abaw train`` and the report it fills."""
    trained = open_frame_model(checkpoint, device, use="abaw features embed")
    path = trained.checkpoint
    kinds = tuple(FeatureKind(kind, dim) for kind, dim in trained.model.embedding_kinds())
    manifest = Manifest(
        name=name,
        checkpoint=(recorded_as if recorded_as is not None else path).absolute(),
        fingerprint=checkpoint_fingerprint(path),
        variant=trained.variant,
        kinds=kinds,
        audio=None if trained.audio_config is None else trained.audio_config.key,
    )
    model = trained.model
    work = _Extraction(
        manifest,
        model,
        trained.device,
        lambda inputs: model.embed(inputs.images, inputs.audio),
        lambda pending, audio: inference_dataset(trained, index, pending, audio),
        lambda names: audio_rows(trained, index, names),
    )
    report = EmbeddingReport(
        name, embeddings_folder(index, name), manifest.checkpoint, manifest.fingerprint, manifest.variant, kinds,
        str(trained.device), trained_on=embedding_model_splits(trained.train_config, index),
    )  # fmt: skip
    return work, report


def extract_encoder_embeddings(
    index: DatasetIndex,
    settings: EncoderSettings,
    name: str | None = None,
    *,
    splits: Sequence[Split] | None = None,
    device: str = "auto",
    batch_size: int = 256,
    workers: int = 2,
    force: bool = False,
    progress: ProgressFn = no_progress,
) -> EmbeddingReport:
    """Embed every face frame of ``index`` with a frozen pretrained encoder read from a local file, and cache it.

    The cache is keyed on the weights file's SHA-256, the architecture, the
    input size and the normalisation (:class:`~abaw.prediction.encoders.FrameEncoder`),
    recorded in ``encoder.json`` beside the manifest; up-to-date entries are skipped.

    Args:
        index: The dataset.
        settings: The encoder (``timm:NAME``), its weights file, input size and normalisation.
        name: The embeddings' name; default: the weights file's stem.
        splits, device, batch_size, workers, force, progress: As for :func:`extract_embeddings`.

    Raises:
        ConfigError: an unknown architecture or bad settings.
        DataError: a weights file that is missing, unreadable, pickled (without
            ``settings.allow_pickle``) or does not fit; a bad name; a face image that cannot be read.
        OutputBusyError: another abaw process is writing the embeddings of that name.
    """
    name = check_name(name if name is not None else default_embeddings_name(settings.weights))
    with output_lock(embeddings_folder(index, name)):  # one writer per cache
        began = time.perf_counter()
        work, report = _encoder_extraction(index, settings, name, device)
        options = _RunOptions(splits, batch_size, workers, force, progress)
        return _extract(index, work, report, options, began)


def _encoder_extraction(
    index: DatasetIndex, settings: EncoderSettings, name: str, device: str
) -> tuple[_Extraction, EmbeddingReport]:
    """The extraction of a frozen pretrained encoder and the report it fills."""
    from abaw.data.samples import FaceFrameDataset, select_frames

    target = resolve_device(device)
    encoder = open_encoder(settings, target)
    kinds = (FeatureKind("encoder", encoder.dim),)
    manifest = Manifest(name, settings.weights.absolute(), encoder.key, encoder.variant, kinds)
    work = _Extraction(
        manifest,
        encoder,
        target,
        lambda inputs: encoder(inputs.images),
        lambda pending, _: FaceFrameDataset(index, select_frames(index, pending, labelled=False), None, 0),
        lambda names: None,
        record=encoder.record(),
    )
    report = EmbeddingReport(
        name, embeddings_folder(index, name), manifest.checkpoint, manifest.fingerprint, manifest.variant, kinds,
        str(target), encoder=encoder.record(),
    )  # fmt: skip
    return work, report


def embedding_model_splits(train_config: dict[str, Any], index: DatasetIndex) -> tuple[Split, ...]:
    """The splits of ``index`` a per-frame model trained on, from its stored settings.

    A model trained on another dataset (another root) saw none of its entries.

    Example:
        >>> from types import SimpleNamespace
        >>> here = SimpleNamespace(layout=SimpleNamespace(root=Path("/data")))
        >>> embedding_model_splits({"protocol": "final", "dataset": {"root": "/data"}}, here)
        (<Split.TRAIN: 'train'>, <Split.VALIDATION: 'val'>)
        >>> embedding_model_splits({"protocol": "val", "dataset": {"root": "/elsewhere"}}, here)
        ()
    """
    root = (train_config.get("dataset") or {}).get("root")
    if root is None or Path(root).resolve() != Path(index.layout.root).resolve():
        return ()
    return trained_splits(train_config.get("protocol"))


@dataclass
class _Extraction:
    """What makes one cache: its manifest, the network and its device, its features of a batch, the frames read."""

    manifest: Manifest
    model: torch.nn.Module
    device: torch.device
    compute: Callable[[Batch], torch.Tensor]
    dataset: Callable[[list[Entry], dict[str, np.ndarray] | None], FaceFrameDataset]
    audio: Callable[[list[str]], dict[str, np.ndarray] | None]
    record: dict[str, Any] | None = None


@dataclass
class _RunOptions:
    """Which entries, how many frames at once, and whether up-to-date entries are extracted again."""

    splits: Sequence[Split] | None
    batch_size: int
    workers: int
    force: bool
    progress: ProgressFn


def _extract(
    index: DatasetIndex, work: _Extraction, report: EmbeddingReport, options: _RunOptions, began: float
) -> EmbeddingReport:
    """Embed the entries whose file is out of date (all with ``force``), writing each as its frames are in."""
    manifest, folder = work.manifest, report.folder
    splits = options.splits
    wanted = list(index.entries.values()) if splits is None else [e for split in splits for e in index.split(split)]
    report.entries = len(wanted)
    audio = work.audio([entry.name for entry in wanted])  # read once: for the keys and for the frames
    keys = entry_keys(manifest, wanted, audio)
    pending = []
    for entry in wanted:
        meta = None if options.force else read_meta(folder / f"{entry.name}.npz")
        reason = "no readable file yet" if meta is None else stale_reason(meta, keys[entry.name])
        if reason is None:
            report.skipped += 1
        else:
            pending.append(entry)
            report.stale[entry.name] = "--force" if options.force else reason
    folder.mkdir(parents=True, exist_ok=True)
    # The manifest goes first: entries written under it are then judged against the right checkpoint.
    atomic_write_json(folder / MANIFEST_NAME, manifest.to_dict(), force=True)
    if work.record is not None:
        atomic_write_json(folder / ENCODER_RECORD, work.record, force=True)
    dataset = work.dataset(pending, audio)
    by_entry = dataset.samples.by_entry()
    frames = [dataset.samples.frames[by_entry.get(entry.name, np.zeros(0, np.int64))] for entry in pending]
    writer = _EntryWriter(manifest, folder, list(zip(pending, frames, strict=True)), keys)
    embedding_began = time.perf_counter()
    for values in batched_outputs(
        work.compute,
        work.model,
        dataset,
        device=work.device,
        batch_size=options.batch_size,
        workers=options.workers if len(dataset) else 0,
        bf16=work.device.type == "cuda",
        progress=options.progress,
        description="Extracting embeddings",
    ):
        writer.add(values)
    writer.add(np.zeros((0, manifest.dim), dtype=np.float32))  # entries with no face frame at the end
    if writer.written != len(pending):
        raise AssertionError(f"{writer.written} of {len(pending)} entries written")
    report.embed_seconds = time.perf_counter() - embedding_began
    report.written, report.rows, report.frames = writer.written, writer.rows, len(dataset)
    report.report_path = folder / REPORT_NAME
    report.seconds = time.perf_counter() - began
    atomic_write_json(report.report_path, report.to_dict(), force=True)
    return report
