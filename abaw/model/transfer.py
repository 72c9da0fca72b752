"""Start one model from another's weights: progressive training and backbone checkpoints.

Weight files are read here too, for every caller (``--init``, ``--backbone-weights``, checkpoints):
:func:`read_weights_file` loads with ``weights_only=True`` so no pickled code runs, and
:func:`state_tensors` finds the state dict inside what was saved.

The paper trains Disc, then AEG-CD, then AEG-CD-SZ, each stage starting from
the previous one. Tensors with the same name and shape are copied. A
convolution whose only difference is extra *input* channels (the SZ stage's
first CD layer takes the audio map as a 4th channel; ``concat`` injection
widens layer 3 for the latent) gets the shared channels copied and the extra
ones zeroed, so the new input starts with no effect and the stage begins
exactly where the previous one ended.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from abaw.messages import some


class UnreadableWeights(Exception):
    """A weights file that ``torch.load`` cannot read; the message is the reason, in one line."""


def read_weights_file(path: str | os.PathLike) -> Any:
    """``torch.load(path, map_location="cpu", weights_only=True)``, any damage turned into one exception.

    Raises:
        UnreadableWeights: with ``"<error type>: <first line of its message>"``.
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a damaged file surfaces as any of a dozen types inside torch.load
        text = str(error)
        if "weights only load failed" in text.lower():
            # torch's text goes on to suggest weights_only=False, which would run the file's code.
            found = re.search(r"GLOBAL ([\w.]+)", text)
            what = f" ({found.group(1)})" if found else ""
            raise UnreadableWeights(
                f"not a weights-only checkpoint: it holds pickled Python objects{what}, "
                "which abaw does not load because loading them can run code"
            ) from error
        detail = (text.strip().splitlines() or [""])[0][:200]
        raise UnreadableWeights(f"{type(error).__name__}: {detail}") from error


def state_tensors(saved: Any) -> dict[str, Tensor]:
    """The tensors of a saved state: a bare state dict, or one under ``"state_dict"`` or ``"model"``.

    A ``module.`` prefix that ``DataParallel`` left on every name is removed.
    Anything that is not a tensor is dropped; nothing found gives ``{}``.

    Example:
        >>> state_tensors({"model": {"module.w": torch.zeros(1), "step": 3}})
        {'w': tensor([0.])}
    """
    if isinstance(saved, Mapping):
        for key in ("state_dict", "model"):
            if isinstance(saved.get(key), Mapping):
                saved = saved[key]
                break
    if not isinstance(saved, Mapping):
        return {}
    tensors = {str(name): value for name, value in saved.items() if isinstance(value, Tensor)}
    if tensors and all(name.startswith("module.") for name in tensors):
        tensors = {name.removeprefix("module."): value for name, value in tensors.items()}
    return tensors


@dataclass
class TransferReport:
    """What :func:`load_matching_state` did, tensor by tensor.

    Attributes:
        loaded: Model tensors copied unchanged.
        adapted: Convolution weights copied into a wider input, extra input channels zeroed.
        skipped: Source tensors not used, with why.
        missing: Model tensors the source did not provide (left as initialised).

    Example:
        >>> TransferReport(loaded=["a", "b"], missing=["c"]).summary()
        'loaded 2 tensors, adapted 0, skipped 0 from the source, left 1 as initialised (c)'
    """

    loaded: list[str] = field(default_factory=list)
    adapted: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON values."""
        return {
            "loaded": list(self.loaded),
            "adapted": list(self.adapted),
            "skipped": dict(self.skipped),
            "missing": list(self.missing),
        }

    def summary(self) -> str:
        """One line for a log: counts, with the first few names where they matter."""
        adapted = f" ({some(self.adapted, 3)})" if self.adapted else ""
        skipped = f" ({some(list(self.skipped), 3)})" if self.skipped else ""
        missing = f" ({some(self.missing, 3)})" if self.missing else ""
        return (
            f"loaded {len(self.loaded)} tensors, adapted {len(self.adapted)}{adapted}, "
            f"skipped {len(self.skipped)} from the source{skipped}, left {len(self.missing)} as initialised{missing}"
        )


def load_matching_state(model: nn.Module, state: Mapping[str, Tensor]) -> TransferReport:
    """Copy into ``model`` every tensor of ``state`` that fits, and report the rest.

    Args:
        model: The model to fill in place (parameters and buffers).
        state: A state dict, e.g. the previous stage's ``model.state_dict()``.

    Returns:
        What was loaded, adapted, skipped and left missing.

    Raises:
        ValueError: No tensor of ``state`` fits ``model`` unchanged (most likely
            the wrong file, or a model of another size).

    Example:
        >>> small, large = nn.Conv2d(3, 2, 1), nn.Conv2d(4, 2, 1)
        >>> report = load_matching_state(large, small.state_dict())
        >>> report.loaded, report.adapted, large.weight[:, 3].abs().sum().item()
        (['bias'], ['weight'], 0.0)
    """
    target = model.state_dict()
    modules = dict(model.named_modules())
    report = TransferReport()
    with torch.no_grad():
        for name, source in state.items():
            if not isinstance(source, Tensor):
                report.skipped[name] = f"not a tensor ({type(source).__name__})"
                continue
            if name not in target:
                report.skipped[name] = "not in the model"
                continue
            dest = target[name]
            if dest.shape == source.shape:
                dest.copy_(source)
                report.loaded.append(name)
            elif _widens_conv_input(modules.get(name.rpartition(".")[0]), name, source, dest):
                dest.zero_()
                dest[:, : source.shape[1]].copy_(source)
                report.adapted.append(name)
            else:
                report.skipped[name] = f"shape {tuple(source.shape)} in the source, {tuple(dest.shape)} in the model"
    used = set(report.loaded) | set(report.adapted)
    report.missing = [name for name in target if name not in used]
    if not report.loaded:
        # Widened inputs alone are no transfer: a model of another size has
        # heads whose input width differs, and nothing else in common.
        example = f" (e.g. {next(iter(state))!r})" if state else ""
        raise ValueError(
            f"no tensor of the {len(state)} in the source matches the model unchanged{example}; "
            f"{len(report.adapted)} would only fit widened and {len(report.skipped)} not at all: "
            "is it a model of another size?"
        )
    return report


def _widens_conv_input(module: nn.Module | None, name: str, source: Tensor, dest: Tensor) -> bool:
    # Only a Conv2d's dim 1 is its input; a ConvTranspose2d's dim 1 is its output.
    return (
        isinstance(module, nn.Conv2d)
        and name.rpartition(".")[2] == "weight"
        and source.dim() == dest.dim() == 4
        and source.shape[0] == dest.shape[0]
        and source.shape[2:] == dest.shape[2:]
        and source.shape[1] < dest.shape[1]
    )
