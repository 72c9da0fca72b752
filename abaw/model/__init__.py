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
- :mod:`abaw.model.temporal`: the registered temporal models (TCN, GRU, Transformer).
- :mod:`abaw.model.transfer`: start a stage from the previous stage's weights.
"""

from __future__ import annotations

from abaw.model import temporal, variants  # noqa: F401  (registers the models)
from abaw.model.affect import AffectModel
from abaw.model.config import LatentInjection, ModelConfig, VaHead
from abaw.model.registry import ModelFamily, create_model, list_models, model_config, model_family, register_model
from abaw.model.temporal import TemporalModel, TemporalModelConfig
from abaw.model.transfer import TransferReport, load_matching_state

__all__ = [
    "AffectModel",
    "LatentInjection",
    "ModelConfig",
    "ModelFamily",
    "TemporalModel",
    "TemporalModelConfig",
    "TransferReport",
    "VaHead",
    "create_model",
    "list_models",
    "load_matching_state",
    "model_config",
    "model_family",
    "register_model",
]
