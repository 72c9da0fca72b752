"""The registered models: the paper's three variants, tiny copies for tests, a timm baseline.

| name | generator | latent | audio | notes |
|---|---|---|---|---|
| ``disc`` | no | no | no | CD alone, affect loss only |
| ``aeg-cd`` | yes | no | no | AEG + CD, adversarial |
| ``aeg-cd-sz`` | yes | yes | yes | ``audio_dim`` 50 (eGeMAPSv02 x 2); override with the real size |
| ``timm-regressor`` | no | no | no | ResNet-18 regressor, a baseline |

The ``-tiny`` copies use widths 4 (generator) and 8 (discriminator) so tests
run quickly on a CPU; their latent (16 channels) still matches layer 2.
"""

from __future__ import annotations

from typing import Any

from abaw.model.affect import AffectModel
from abaw.model.config import ModelConfig
from abaw.model.registry import register_model, register_network

register_network(ModelConfig, AffectModel)

# The paper concatenates two eGeMAPSv02 LLD frames (2 x 25); eGeMAPSv01 gives 46.
DEFAULT_AUDIO_DIM = 50
TINY = {"generator_width": 4, "discriminator_width": 8}


def _config(variant: str, defaults: dict[str, Any], overrides: dict[str, Any]) -> ModelConfig:
    return ModelConfig(variant=variant, **{**defaults, **overrides})


DISC = {"use_generator": False, "use_latent": False}
AEG_CD = {"use_generator": True, "use_latent": False}
AEG_CD_SZ = {"use_generator": True, "use_latent": True, "audio_dim": DEFAULT_AUDIO_DIM}
REGRESSOR = {"use_generator": False, "use_latent": False, "regressor": True}


@register_model("disc")
def disc(**overrides: Any) -> ModelConfig:
    """Disc: the conditional discriminator alone on clean faces (paper, Table II)."""
    return _config("disc", DISC, overrides)


@register_model("aeg-cd")
def aeg_cd(**overrides: Any) -> ModelConfig:
    """AEG-CD: the generator cleans noisy faces for the discriminator; trained adversarially."""
    return _config("aeg-cd", AEG_CD, overrides)


@register_model("aeg-cd-sz")
def aeg_cd_sz(**overrides: Any) -> ModelConfig:
    """AEG-CD-SZ: AEG-CD plus the latent z and the audio map into the discriminator."""
    return _config("aeg-cd-sz", AEG_CD_SZ, overrides)


@register_model("disc-tiny")
def disc_tiny(**overrides: Any) -> ModelConfig:
    """``disc`` at test size."""
    return _config("disc-tiny", {**DISC, **TINY}, overrides)


@register_model("aeg-cd-tiny")
def aeg_cd_tiny(**overrides: Any) -> ModelConfig:
    """``aeg-cd`` at test size."""
    return _config("aeg-cd-tiny", {**AEG_CD, **TINY}, overrides)


@register_model("aeg-cd-sz-tiny")
def aeg_cd_sz_tiny(**overrides: Any) -> ModelConfig:
    """``aeg-cd-sz`` at test size."""
    return _config("aeg-cd-sz-tiny", {**AEG_CD_SZ, **TINY}, overrides)


@register_model("timm-regressor")
def timm_regressor(**overrides: Any) -> ModelConfig:
    """A timm ResNet-18 regressing (valence, arousal) directly: the non-adversarial baseline."""
    return _config("timm-regressor", {**REGRESSOR, "backbone": "resnet18"}, overrides)


@register_model("timm-regressor-tiny")
def timm_regressor_tiny(**overrides: Any) -> ModelConfig:
    """``timm-regressor`` on timm's ``test_resnet`` (0.4 M parameters), for tests."""
    return _config("timm-regressor-tiny", {**REGRESSOR, "backbone": "test_resnet"}, overrides)
