"""Every model abaw trains, built by name: the ALN per-frame models (Aspandi et al., FG 2020), a timm
baseline, and the temporal models over per-frame features.

>>> from abaw.model import create_model
>>> model = create_model("aeg-cd-sz", audio_dim=46)
>>> model.adversarial, model.uses_audio
(True, True)

- :mod:`abaw.model.registry`: one registry for every model, each name in a family (per-frame, temporal).
- :mod:`abaw.model.config`: :class:`ModelConfig`, what per-frame model to build.
- :mod:`abaw.model.aeg`, :mod:`abaw.model.cd`: the generator and discriminator of the paper.
- :mod:`abaw.model.backbone`, :mod:`abaw.model.regressor`: timm networks in their place.
- :mod:`abaw.model.variants`: the registered per-frame models.
- :mod:`abaw.model.temporal`: the registered temporal models (TCN, GRU, Transformer, the ridge floor).
- :mod:`abaw.model.transfer`: start a stage from the previous stage's weights.
"""

from __future__ import annotations

import importlib
from typing import Any

# Loaded on first use: the settings modules (and the command line's help) name these enums without loading torch.
_HOMES = {
    "AffectModel": "abaw.model.affect",
    "GeneratorKind": "abaw.model.config",
    "LatentInjection": "abaw.model.config",
    "ModelConfig": "abaw.model.config",
    "VaHead": "abaw.model.config",
    "ModelFamily": "abaw.model.registry",
    "create_model": "abaw.model.registry",
    "list_models": "abaw.model.registry",
    "model_config": "abaw.model.registry",
    "model_family": "abaw.model.registry",
    "register_model": "abaw.model.registry",
    "TemporalModel": "abaw.model.temporal",
    "TemporalModelConfig": "abaw.model.temporal",
    "TransferReport": "abaw.model.transfer",
    "load_matching_state": "abaw.model.transfer",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'abaw.model' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
