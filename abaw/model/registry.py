"""Models by name: ``create_model("aeg-cd-sz", audio_dim=46)``.

Each registered function returns the :class:`ModelConfig` of one variant,
with keyword overrides applied. A run saves ``config.to_dict()``, so a model
can be rebuilt later even if a variant's defaults change.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Callable
from typing import Any

from abaw.model.affect import AffectModel
from abaw.model.config import ModelConfig, field_names

ConfigFactory = Callable[..., ModelConfig]

_REGISTRY: dict[str, ConfigFactory] = {}


def register_model(name: str) -> Callable[[ConfigFactory], ConfigFactory]:
    """Decorator: register ``fn(**overrides) -> ModelConfig`` under ``name``.

    Example:
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
        _REGISTRY[name] = fn
        return fn

    return register


def list_models(pattern: str | None = None) -> list[str]:
    """Registered model names, sorted, optionally filtered by a shell pattern.

    Example:
        >>> list_models("aeg-cd*")
        ['aeg-cd', 'aeg-cd-sz', 'aeg-cd-sz-tiny', 'aeg-cd-tiny']
    """
    names = sorted(_REGISTRY)
    return names if pattern is None else [name for name in names if fnmatch.fnmatchcase(name, pattern)]


def model_config(name: str, **overrides: Any) -> ModelConfig:
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
        ValueError: unknown model 'disk'; known models: aeg-cd, aeg-cd-sz, aeg-cd-sz-tiny, aeg-cd-tiny, disc, disc-tiny, timm-regressor, timm-regressor-tiny
    """  # noqa: E501
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    _check_overrides(overrides, f"model {name!r}")
    config = _REGISTRY[name](**overrides)
    if config.variant != name:
        raise ValueError(f"registered model {name!r} returned a config for {config.variant!r}")
    return config


def create_model(name_or_config: str | ModelConfig, **overrides: Any) -> AffectModel:
    """Build the :class:`AffectModel` of a registered name or of a config (a saved run's).

    Example:
        >>> model = create_model("aeg-cd-sz-tiny", audio_dim=46)
        >>> model.adversarial, model.uses_audio, model.config.audio_dim
        (True, True, 46)
    """
    if isinstance(name_or_config, ModelConfig):
        _check_overrides(overrides, f"model {name_or_config.variant!r}")
        config = dataclasses.replace(name_or_config, **overrides)
    elif isinstance(name_or_config, str):
        config = model_config(name_or_config, **overrides)
    else:
        raise TypeError(f"create_model takes a model name or a ModelConfig, got {type(name_or_config).__name__}")
    return AffectModel(config)


def _check_overrides(overrides: dict[str, Any], where: str) -> None:
    allowed = [name for name in field_names() if name != "variant"]
    unknown = sorted(set(overrides) - set(allowed))
    if unknown:
        raise ValueError(
            f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} for {where}; "
            f"options: {', '.join(allowed)}"
        )
