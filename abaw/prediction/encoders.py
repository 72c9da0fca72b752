"""Pretrained frame encoders from a local weights file: ``abaw features embed --encoder timm:NAME --weights FILE``.

The network is built by timm with ``pretrained=False`` and its classifier
removed (``num_classes=0``: the pooled features), and its weights come only
from the file the user names: a state dict saved with ``torch.save`` (read
with ``weights_only=True``) or a safetensors file. Nothing is downloaded,
ever. A file that holds pickled Python objects (a whole model saved with
``torch.save(model)``) is refused in one line, because unpickling it can run
code, unless the user trusts it (``allow_pickle``). The encoder is frozen:
evaluation mode, no gradients.

Faces are read as for every model (112x112, scaled to [-1, 1]), brought back
to [0, 1], resized to the encoder's input size and normalised with its mean
and standard deviation; both default to timm's configuration of the
architecture and are recorded with the cache (``encoder.json``), and the
cache key (:attr:`FrameEncoder.key`) is the SHA-256 of the weights file
together with them, so changing either makes the cache stale.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from abaw.data.embeddings.cache import checkpoint_fingerprint
from abaw.errors import ConfigError, DataError
from abaw.model.transfer import state_tensors

ENCODER_FAMILIES = ("timm",)
"""The libraries an encoder can come from (``--encoder FAMILY:NAME``)."""


@dataclass(frozen=True)
class EncoderSettings:
    """A pretrained frame encoder as the user names it.

    Attributes:
        encoder: ``timm:NAME``, a timm architecture.
        weights: The local weights file (state dict or safetensors).
        input_size: Side of the square input in pixels; ``None``: timm's default for the architecture.
        mean: Per-channel mean on [0, 1] pixels; ``None``: timm's default.
        std: Per-channel standard deviation; ``None``: timm's default.
        allow_pickle: Load a file holding pickled objects (a whole model): only for a file the user trusts.
    """

    encoder: str
    weights: Path
    input_size: int | None = None
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    allow_pickle: bool = False

    @property
    def architecture(self) -> str:
        """The timm name.

        Raises:
            ConfigError: for another form than ``timm:NAME``.

        Example:
            >>> EncoderSettings("timm:resnet18", Path("w.safetensors")).architecture
            'resnet18'
        """
        family, _, name = self.encoder.partition(":")
        if family not in ENCODER_FAMILIES or not name:
            raise ConfigError(f"--encoder must be timm:NAME (a timm architecture), got {self.encoder!r}")
        return name


class FrameEncoder(nn.Module):
    """A frozen timm network behind the resizing and normalisation it was trained with.

    Attributes:
        settings: What the user asked for.
        input_size: The input side actually used.
        mean, std: The normalisation actually used.
        weights_sha256: SHA-256 of the weights file.
        dim: Values per frame (the network's pooled features).
    """

    def __init__(
        self,
        network: nn.Module,
        settings: EncoderSettings,
        input_size: int,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        weights_sha256: str,
    ):
        super().__init__()
        self.network = network.eval().requires_grad_(False)
        self.settings = settings
        self.input_size = input_size
        self.mean, self.std = tuple(mean), tuple(std)
        self.weights_sha256 = weights_sha256
        self.dim = int(network.num_features)
        self.register_buffer("_mean", torch.tensor(self.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_std", torch.tensor(self.std).view(1, 3, 1, 1), persistent=False)
        self.eval()

    def train(self, mode: bool = True) -> FrameEncoder:
        """Stay in evaluation mode whatever is asked: the encoder is frozen (batch norm statistics included)."""
        return super().train(False)

    @property
    def variant(self) -> str:
        """How caches and tables name it: ``timm:NAME``."""
        return f"timm:{self.settings.architecture}"

    def record(self) -> dict[str, Any]:
        """What the cache records about the encoder (``encoder.json``): everything its key covers."""
        return {
            "encoder": self.variant,
            "weights": str(self.settings.weights.absolute()),
            "weights_sha256": self.weights_sha256,
            "input_size": self.input_size,
            "mean": list(self.mean),
            "std": list(self.std),
        }

    @property
    def key(self) -> str:
        """The cache key: SHA-256 of the weights file's digest, the architecture, input size and normalisation."""
        settings = {key: value for key, value in self.record().items() if key != "weights"}
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()

    def forward(self, images: Tensor) -> Tensor:
        """``(B, dim)`` features of ``(B, 3, H, W)`` faces in [-1, 1]."""
        pixels = images.float() * 0.5 + 0.5
        if pixels.shape[-2:] != (self.input_size, self.input_size):
            size = (self.input_size, self.input_size)
            pixels = nn.functional.interpolate(pixels, size=size, mode="bilinear", align_corners=False)
        return self.network((pixels - self._mean) / self._std).flatten(1)


def read_encoder_weights(path: Path, allow_pickle: bool = False) -> dict[str, Tensor]:
    """The tensors of a weights file: safetensors, or a state dict saved with ``torch.save``.

    Raises:
        DataError: naming the file, in one line: missing, unreadable, holding
            no tensor, or holding pickled objects without ``allow_pickle``.
    """
    if not path.is_file():
        raise DataError("encoder weights file not found", path=path)
    if _is_safetensors(path):
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return dict(load_file(str(path), device="cpu"))
        except (SafetensorError, OSError, ValueError) as error:
            raise DataError(f"not a readable safetensors file ({_first_line(error)})", path=path) from None
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        # torch names the first class the file would import; a file without one is damaged, not pickled.
        found = re.search(r"GLOBAL ([\w.]+)", str(error))
        if found is None:
            raise DataError(
                "not a readable weights file (neither a state dict nor a safetensors file)", path=path
            ) from None
        if not allow_pickle:
            raise DataError(
                f"holds pickled Python objects ({found.group(1)}), which abaw does not load because unpickling can "
                "run code; save model.state_dict() or a safetensors file, or pass --allow-pickle if you trust it",
                path=path,
            ) from None
        saved = torch.load(path, map_location="cpu", weights_only=False)  # the user vouched for this file
    except Exception as error:  # a damaged file surfaces as any of a dozen types inside torch.load
        reason = f"{type(error).__name__}: {_first_line(error)}"
        raise DataError(f"not a readable weights file ({reason})", path=path) from None
    if isinstance(saved, nn.Module):
        saved = saved.state_dict()
    tensors = state_tensors(saved)
    if not tensors:
        raise DataError("holds no tensors (expected a state dict, or a dict with 'state_dict' or 'model')", path=path)
    return tensors


def open_encoder(settings: EncoderSettings, device: torch.device) -> FrameEncoder:
    """Build ``settings.encoder`` with timm (never downloading), load the weights file into it and freeze it.

    Tensors of the file the network without its classifier has no place for
    (the classifier's own) are left out; every tensor of the network must be
    in the file, with its shape.

    Raises:
        ConfigError: an unknown architecture, or a bad input size or normalisation.
        DataError: naming the weights file when it cannot be read or does not fit.
    """
    from abaw.model.backbone import create_timm

    name = settings.architecture
    try:
        network = create_timm(name, num_classes=0)
    except ValueError as error:
        raise ConfigError(f"--encoder {settings.encoder}: {error}") from None
    weights = read_encoder_weights(settings.weights, settings.allow_pickle)
    _load_exactly(network, weights, settings)
    defaults = network.pretrained_cfg
    input_size = settings.input_size or int(defaults.get("input_size", (3, 224, 224))[-1])
    mean = settings.mean or tuple(float(value) for value in defaults.get("mean", (0.485, 0.456, 0.406)))
    std = settings.std or tuple(float(value) for value in defaults.get("std", (0.229, 0.224, 0.225)))
    if input_size < 8:
        raise ConfigError(f"--input-size must be at least 8 pixels, got {input_size}")
    if len(mean) != 3 or len(std) != 3 or any(value <= 0 for value in std):
        raise ConfigError(f"--mean and --std take 3 values each, std positive; got {list(mean)} and {list(std)}")
    digest = checkpoint_fingerprint(settings.weights)
    encoder = FrameEncoder(network, settings, input_size, mean, std, digest)
    try:  # one face now, so that a size the network refuses fails in one line before any extraction
        with torch.inference_mode():
            encoder(torch.zeros(1, 3, input_size, input_size))
    except (AssertionError, RuntimeError, ValueError) as error:
        raise ConfigError(f"{settings.encoder} cannot take {input_size}-pixel inputs ({_first_line(error)})") from None
    return encoder.to(device)


def _load_exactly(network: nn.Module, weights: dict[str, Tensor], settings: EncoderSettings) -> None:
    wanted = network.state_dict()
    missing = [name for name in wanted if name not in weights]
    wrong = [name for name in wanted if name in weights and weights[name].shape != wanted[name].shape]
    if missing or wrong:
        problem = f"lacks {len(missing)} of its tensors (e.g. {missing[0]})" if missing else ""
        if wrong:
            shapes = f"{tuple(weights[wrong[0]].shape)} for {tuple(wanted[wrong[0]].shape)}"
            problem = f"{problem}{'; ' if problem else ''}has {len(wrong)} of another shape (e.g. {wrong[0]}: {shapes})"
        raise DataError(f"does not fit {settings.encoder}: it {problem}", path=settings.weights)
    network.load_state_dict({name: weights[name] for name in wanted})


def _is_safetensors(path: Path) -> bool:
    """A safetensors file: ``.safetensors``, or a little-endian header length then ``{`` (not a zip or pickle)."""
    if path.suffix == ".safetensors":
        return True
    if zipfile.is_zipfile(path):
        return False
    with open(path, "rb") as handle:
        head = handle.read(9)
    return len(head) == 9 and head[8:9] == b"{"


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
