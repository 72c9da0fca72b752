"""Checkpoints: one file holding everything needed to predict with, reproduce or resume a run.

A checkpoint is a plain dict of tensors and primitive values, so it loads
with ``torch.load(..., weights_only=True)`` (no pickled code runs). Keys:

* ``format``, ``version``: the checkpoint format and the package version that wrote it;
* ``kind``: the :class:`~abaw.model.ModelFamily` of the model, ``frame`` or
  ``temporal`` (checkpoints without one are per-frame);
* ``config``: the resolved training settings (``TrainConfig.to_dict()`` or ``TemporalConfig.to_dict()``);
* ``model_config``: the config the model was built from (:class:`~abaw.model.ModelConfig`,
  :class:`~abaw.model.TemporalModelConfig`);
* ``model``: the model's state dict;
* ``optimizers``: the optimiser states (for resuming);
* ``class_weights``: the ``(2, 21)`` affect-loss weights of the trained frames;
* per-frame: ``audio``: ``None``, or the audio feature config with the normalisation
  statistics the model was trained with (prediction reuses them);
* temporal: ``normalisation`` (of its inputs) and ``features`` (their names and sizes);
* ``epoch``, ``iteration``: epochs and iterations completed;
* ``best``: the best validation epoch so far (val protocol), ``metrics`` the last epoch's.

Files are written atomically, so a run killed while saving keeps its previous checkpoint.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from abaw import __version__
from abaw.errors import CheckpointError
from abaw.fileio import atomic_write_bytes
from abaw.messages import shown_value
from abaw.model import AffectModel, ModelConfig, ModelFamily, create_model
from abaw.model.transfer import UnreadableWeights, read_weights_file, state_tensors

CHECKPOINT_FORMAT = 1
REQUIRED_KEYS = ("format", "config", "model_config", "model")


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any], also: Iterable[str | os.PathLike] = ()) -> Path:
    """Write ``payload`` (with format and version added) to ``path``, and to each of ``also``, atomically.

    The payload is serialised once, however many files receive it.
    """
    buffer = io.BytesIO()
    torch.save({"format": CHECKPOINT_FORMAT, "version": __version__, **payload}, buffer)
    data = buffer.getvalue()
    for copy in also:
        atomic_write_bytes(copy, data, force=True)
    return atomic_write_bytes(path, data, force=True)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True`` onto the CPU.

    Raises:
        CheckpointError: naming the file when it is missing, truncated, not a
            checkpoint of this toolkit, or of a newer format.
    """
    path = Path(path)
    checkpoint = _read(path)
    if not isinstance(checkpoint, dict) or any(key not in checkpoint for key in REQUIRED_KEYS):
        raise CheckpointError("not an abaw checkpoint (no config and model inside)", path=path)
    if isinstance(checkpoint["format"], bool) or not isinstance(checkpoint["format"], int):
        shown = shown_value(checkpoint["format"])
        raise CheckpointError(f"not an abaw checkpoint (its format is {shown}, not a number)", path=path)
    if checkpoint["format"] > CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"written by a newer abaw ({checkpoint.get('version')}, format {checkpoint['format']}); upgrade to read it",
            path=path,
        )
    return checkpoint


def checkpoint_family(checkpoint: dict[str, Any], path: str | os.PathLike) -> ModelFamily:
    """Which family of model a loaded checkpoint holds (one without a ``kind`` is a per-frame one).

    Raises:
        CheckpointError: naming ``path`` for a kind this abaw does not know.

    Example:
        >>> checkpoint_family({"kind": "temporal"}, "run/best.pt"), checkpoint_family({}, "run/best.pt")
        (<ModelFamily.TEMPORAL: 'temporal'>, <ModelFamily.FRAME: 'frame'>)
    """
    kind = checkpoint.get("kind", ModelFamily.FRAME.value)
    try:
        return ModelFamily(kind)
    except ValueError:
        raise CheckpointError(f"holds a model of unknown kind {shown_value(kind)}", path=path) from None


def require_family(checkpoint: dict[str, Any], path: str | os.PathLike, family: ModelFamily, use: str) -> None:
    """Refuse a checkpoint of another family, naming what it holds and the command that takes it.

    Raises:
        CheckpointError: e.g. "a temporal model of abaw temporal train; abaw features embed takes a
            per-frame checkpoint of abaw train".
    """
    found = checkpoint_family(checkpoint, path)
    if found is not family:
        raise CheckpointError(f"holds a {_family_words(found)}; {use} takes a {_family_words(family)}", path=path)


def _family_words(family: ModelFamily) -> str:
    what = "per-frame model" if family is ModelFamily.FRAME else "temporal model"
    return f"{what} of {family.trained_by}"


RESUME_KEYS = ("optimizers", "class_weights", "epoch", "iteration")
"""What ``--resume`` needs besides the weights: a checkpoint of a finished epoch of ``abaw train`` has them all."""


def require_resumable(checkpoint: dict[str, Any], path: str | os.PathLike) -> None:
    """Check that a checkpoint holds a training state to continue from.

    Raises:
        CheckpointError: naming ``path`` and what is missing or malformed.
    """
    missing = [key for key in RESUME_KEYS if key not in checkpoint]
    if missing:
        raise CheckpointError(
            f"cannot be resumed: no {', '.join(missing)} inside (only a last.pt of abaw train can be)", path=path
        )
    weights = checkpoint["class_weights"]
    if not isinstance(weights, torch.Tensor) or weights.dim() != 2 or weights.shape[0] != 2:
        shape = tuple(weights.shape) if isinstance(weights, torch.Tensor) else type(weights).__name__
        raise CheckpointError(f"cannot be resumed: class_weights is {shape}, expected a (2, bins) tensor", path=path)
    for key in ("epoch", "iteration"):
        if isinstance(checkpoint[key], bool) or not isinstance(checkpoint[key], int) or checkpoint[key] < 0:
            raise CheckpointError(f"cannot be resumed: {key} is {shown_value(checkpoint[key])}", path=path)


def load_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The model weights of an abaw checkpoint or of a bare state dict (for ``--init``).

    Raises:
        CheckpointError: naming the file when it cannot be read or holds no tensor.
    """
    path = Path(path)
    saved = _read(path)
    if isinstance(saved, dict) and "model_config" in saved:
        require_family(saved, path, ModelFamily.FRAME, "--init")
    weights = state_tensors(saved)
    if not weights:
        raise CheckpointError("holds no model weights", path=path)
    return weights


def _read(path: Path) -> Any:
    if not path.is_file():
        raise CheckpointError("checkpoint not found", path=path)
    text = _text_kind(path)
    if text is not None:
        raise CheckpointError(f"is {text}, not a checkpoint: {_text_instead(path)}", path=path)
    try:
        return read_weights_file(path)
    except UnreadableWeights as error:
        raise CheckpointError(f"not a readable checkpoint ({error})", path=path) from None


CHECKPOINT_MAGIC = (b"PK\x03\x04", b"\x80")
"""How the files ``torch.save`` writes begin: a zip archive, or (older ones) a pickle."""
TEXT_SUFFIXES = (".yaml", ".yml", ".json", ".jsonl", ".csv", ".txt")
"""The run folder's text files, and their like."""


def _text_instead(path: Path) -> str:
    """What to give instead of the text file ``path``: its run folder for a run's ``config.yaml``."""
    if path.name == "config.yaml":
        return f"give the run folder {path.parent}, or its best.pt or last.pt"
    return "give a best.pt or last.pt of abaw train or abaw temporal train, or its run folder"


def _text_kind(path: Path) -> str | None:
    """What a text file given as a checkpoint is (``"a text file"``, a run's settings), or ``None`` for a binary one."""
    with open(path, "rb") as handle:
        start = handle.read(4096)
    # Lines of text, or a text file's name: a few stray bytes are left to torch's own message.
    if (
        start.startswith(CHECKPOINT_MAGIC)
        or b"\0" in start
        or (b"\n" not in start and path.suffix not in TEXT_SUFFIXES)
    ):
        return None
    try:
        start.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(start) - 4:  # not merely a character cut at the end of the block
            return None
    if path.name == "config.yaml":
        return "the run's settings (a YAML text file)"
    return "a text file"


def load_model_state(model: AffectModel, checkpoint: dict[str, Any], path: Path) -> None:
    """Load a checkpoint's weights into ``model``, exactly (every tensor, every shape).

    Raises:
        CheckpointError: naming ``path`` when the weights do not fit.
    """
    try:
        model.load_state_dict(checkpoint["model"])
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0]
        raise CheckpointError(f"weights do not fit the model ({first[:200]})", path=path) from None


def model_from_checkpoint(checkpoint: dict[str, Any], path: Path) -> AffectModel:
    """Rebuild the model stored in a checkpoint (without reading backbone weight files again)."""
    try:
        config = ModelConfig.from_dict({**checkpoint["model_config"], "backbone_weights": None})
        model = create_model(config)
    except (ValueError, TypeError) as error:
        raise CheckpointError(f"model settings cannot be rebuilt ({error})", path=path) from None
    load_model_state(model, checkpoint, path)
    return model
