"""The ALN affect models (Aspandi et al., FG 2020) and a timm baseline, built by name.

>>> from abaw.model import create_model
>>> model = create_model("aeg-cd-sz", audio_dim=46)
>>> model.adversarial, model.uses_audio
(True, True)

- :mod:`abaw.model.config`: :class:`ModelConfig`, what to build.
- :mod:`abaw.model.aeg`, :mod:`abaw.model.cd`: the generator and discriminator of the paper.
- :mod:`abaw.model.backbone`, :mod:`abaw.model.regressor`: timm networks in their place.
- :mod:`abaw.model.registry`, :mod:`abaw.model.variants`: models by name.
- :mod:`abaw.model.transfer`: start a stage from the previous stage's weights.
"""

from __future__ import annotations

from abaw.model import variants  # noqa: F401  (registers the models)
from abaw.model.affect import AffectModel
from abaw.model.config import LatentInjection, ModelConfig, VaHead
from abaw.model.registry import create_model, list_models, model_config, register_model
from abaw.model.transfer import TransferReport, load_matching_state

__all__ = [
    "AffectModel",
    "LatentInjection",
    "ModelConfig",
    "TransferReport",
    "VaHead",
    "create_model",
    "list_models",
    "load_matching_state",
    "model_config",
    "register_model",
]
