"""Every model by name, per-frame and temporal alike: ``create_model("aeg-cd-sz", audio_dim=46)``.

As in timm, each registered function returns the config dataclass of one
model with keyword overrides applied (:class:`~abaw.model.config.ModelConfig`
for the per-frame ALN models, :class:`~abaw.model.temporal.TemporalModelConfig`
for the temporal ones), and :func:`create_model` builds it. A run saves
``config.to_dict()``, so a model can be rebuilt later even if a registered
model's defaults change. Each name belongs to a :class:`ModelFamily`: what
the model reads, and which command trains it.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

ConfigFactory = Callable[..., Any]


class ModelFamily(str, Enum):
    """What a model reads, and which command trains it.

    ``frame``: the faces (and audio) of one frame (``abaw train``).
    ``temporal``: a sequence of per-frame features (``abaw temporal train``).

    Example:
        >>> [family.value for family in ModelFamily]
        ['frame', 'temporal']
    """

    FRAME = "frame"
    TEMPORAL = "temporal"

    @property
    def trained_by(self) -> str:
        """The command that trains models of this family.

        Example:
            >>> ModelFamily.TEMPORAL.trained_by
            'abaw temporal train'
        """
        return "abaw train" if self is ModelFamily.FRAME else "abaw temporal train"


@dataclass(frozen=True)
class RegisteredModel:
    """One registered name: its family and the function returning its config."""

    name: str
    family: ModelFamily
    config: ConfigFactory


_REGISTRY: dict[str, RegisteredModel] = {}
_NETWORKS: dict[type, Callable[[Any], nn.Module]] = {}
_REGISTERING_MODULES = ("abaw.model.variants", "abaw.model.temporal")


def _registered() -> dict[str, RegisteredModel]:
    """The registry, with the modules that register abaw's own models imported (they load torch)."""
    for module in _REGISTERING_MODULES:
        importlib.import_module(module)
    return _REGISTRY


def register_network(config_type: type, network: Callable[[Any], nn.Module]) -> None:
    """Build the models whose configs are of ``config_type`` with ``network(config)``.

    Example:
        >>> from abaw.model.config import ModelConfig
        >>> _registered()["disc"].family.value, _NETWORKS[ModelConfig].__name__
        ('frame', 'AffectModel')
    """
    _NETWORKS[config_type] = network


def register_model(name: str, family: ModelFamily = ModelFamily.FRAME) -> Callable[[ConfigFactory], ConfigFactory]:
    """Decorator: register ``fn(**overrides) -> config`` under ``name``.

    Example:
        >>> from abaw.model.config import ModelConfig
        >>> @register_model("doc-example")
        ... def doc_example(**overrides):
        ...     return ModelConfig(variant="doc-example", use_generator=False, use_latent=False, **overrides)
        >>> model_config("doc-example", audio_dim=4).audio_dim
        4
        >>> _ = _REGISTRY.pop("doc-example")
    """

    def register(fn: ConfigFactory) -> ConfigFactory:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        _REGISTRY[name] = RegisteredModel(name, ModelFamily(family), fn)
        return fn

    return register


def list_models(pattern: str | None = None, family: ModelFamily | None = None) -> list[str]:
    """Registered model names, sorted, optionally filtered by a shell pattern and a family.

    Example:
        >>> list_models("aeg-cd*")
        ['aeg-cd', 'aeg-cd-sz', 'aeg-cd-sz-tiny', 'aeg-cd-tiny']
        >>> list_models(family=ModelFamily.TEMPORAL)
        ['gru', 'ridge', 'tcn', 'transformer']
    """
    names = sorted(name for name, entry in _registered().items() if family is None or entry.family is family)
    return names if pattern is None else [name for name in names if fnmatch.fnmatchcase(name, pattern)]


def model_family(name: str) -> ModelFamily:
    """The family of registered model ``name``.

    Raises:
        ValueError: ``name`` is not registered.

    Example:
        >>> model_family("tcn"), model_family("disc")
        (<ModelFamily.TEMPORAL: 'temporal'>, <ModelFamily.FRAME: 'frame'>)
    """
    return _entry(name).family


def model_config(name: str, **overrides: Any) -> Any:
    """The config of registered model ``name`` with ``overrides`` applied.

    Raises:
        ValueError: ``name`` is not registered, an override is not a config
            field (or is ``variant``), or the result is not a valid config.

    Example:
        >>> model_config("disc").use_generator
        False
        >>> model_config("disk")
        Traceback (most recent call last):
        ...
        ValueError: unknown model 'disk'; known models: aeg-cd, aeg-cd-sz, aeg-cd-sz-tiny, aeg-cd-tiny, disc, disc-tiny, gru, ridge, tcn, timm-regressor, timm-regressor-tiny, transformer
    """  # noqa: E501
    entry = _entry(name)
    _check_overrides(overrides, _field_names(entry.config()), f"model {name!r}")
    config = entry.config(**overrides)
    if config.variant != name:
        raise ValueError(f"registered model {name!r} returned a config for {config.variant!r}")
    return config


def create_model(name_or_config: Any, **overrides: Any) -> nn.Module:
    """Build the model of a registered name or of a config (a saved run's).

    Example:
        >>> model = create_model("aeg-cd-sz-tiny", audio_dim=46)
        >>> model.adversarial, model.uses_audio, model.config.audio_dim
        (True, True, 46)
        >>> create_model("gru", input_dim=12, hidden=8).config.hidden
        8
    """
    _registered()
    if isinstance(name_or_config, str):
        config = model_config(name_or_config, **overrides)
    elif type(name_or_config) in _NETWORKS:
        _check_overrides(overrides, _field_names(name_or_config), f"model {name_or_config.variant!r}")
        config = dataclasses.replace(name_or_config, **overrides)
    else:
        raise TypeError(f"create_model takes a model name or a model config, got {type(name_or_config).__name__}")
    return _NETWORKS[type(config)](config)


def _entry(name: str) -> RegisteredModel:
    if name not in _registered():
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    return _REGISTRY[name]


def _field_names(config: Any) -> list[str]:
    return [item.name for item in dataclasses.fields(config)]


def _check_overrides(overrides: dict[str, Any], fields: list[str], where: str) -> None:
    allowed = [name for name in fields if name != "variant"]
    unknown = sorted(set(overrides) - set(allowed))
    if unknown:
        raise ValueError(
            f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} for {where}; "
            f"options: {', '.join(allowed)}"
        )
