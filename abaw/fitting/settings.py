"""Run settings as dataclasses: plain values for YAML, JSON and checkpoints, read back with every value checked.

Both trainers' settings (:class:`~abaw.training.config.TrainConfig`,
:class:`~abaw.temporal.config.TemporalConfig`) derive from :class:`RunSettings`:
``to_dict`` gives plain values (enums by value, tuples as lists, the dataset
as a mapping), ``from_dict`` rebuilds them naming the source and the setting
at fault, and ``replace`` applies changes. :func:`read_config_file` reads a
``--config`` YAML file.
"""

from __future__ import annotations

import dataclasses
import os
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

import yaml

from abaw.data.source import DatasetSource, absolute_path
from abaw.errors import ConfigError
from abaw.messages import shown_value

SettingsT = TypeVar("SettingsT", bound="RunSettings")


class RunSettings:
    """Plain-value round trips for a settings dataclass (mixed into it)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain types only (for YAML, JSON and ``torch.load(weights_only=True)``)."""
        return plain_settings(self)

    @classmethod
    def from_dict(cls: type[SettingsT], values: dict[str, Any], source: str = "config") -> SettingsT:
        """Build from plain values, naming ``source`` for unknown keys or bad values.

        Raises:
            ConfigError: for an unknown key, a value of another type, or a value the settings reject.
        """
        annotations = {item.name: str(item.type) for item in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(annotations))
        if unknown:
            known = ", ".join(sorted(annotations))
            raise ConfigError(f"unknown setting(s) {', '.join(unknown)}; known: {known}", path=source)
        values = {name: _checked_value(name, annotations[name], value, source) for name, value in values.items()}
        try:
            return cls(**values)
        except ConfigError as error:  # already names the setting
            raise ConfigError(error.message, path=source) from None
        except (TypeError, ValueError) as error:
            name = next((name for name in values if not _accepted(cls, name, values[name])), None)
            message = str(error) if name is None or str(error).startswith(name) else f"{name}: {error}"
            raise ConfigError(message, path=source) from None

    def replace(self: SettingsT, **changes: Any) -> SettingsT:
        """A copy with ``changes`` applied and validated (``None`` values are ignored)."""
        values = self.to_dict()
        values.update({key: value for key, value in changes.items() if value is not None})
        return type(self).from_dict(values)

    def require_dataset(self) -> DatasetSource:
        """The dataset the run trains on.

        Raises:
            ConfigError: when the settings name none.
        """
        dataset = getattr(self, "dataset", None)
        if dataset is None:
            raise ConfigError("no dataset root given (pass --root)")
        return dataset


def plain_settings(settings: Any) -> dict[str, Any]:
    """A settings dataclass as plain values: enums by value, tuples as lists, the dataset as a mapping."""
    result = {}
    for item in dataclasses.fields(settings):
        value = getattr(settings, item.name)
        if isinstance(value, Enum):
            value = value.value
        elif isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, DatasetSource):
            value = value.to_dict()
        result[item.name] = value
    return result


_PLAIN_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "str": (str,),
    "bool": (bool,),
    "tuple": (list, tuple),
    "dict": (dict,),
    "DatasetSource": (dict, DatasetSource),
}
_TYPE_WORDS = {
    "int": "a whole number",
    "float": "a number",
    "str": "text",
    "bool": "true or false",
    "tuple": "a list",
    "dict": "a mapping",
    "DatasetSource": "a mapping",
}


def _checked_value(name: str, annotation: str, value: Any, source: str) -> Any:
    """``value`` if it has the setting's type (a number written as text is read for a float setting).

    Raises:
        ConfigError: naming ``source`` and the setting, for a value of another type.
    """
    base, _, rest = annotation.partition(" | ")
    base = base.split("[")[0]
    if value is None and rest == "None":
        return None
    kinds = _PLAIN_TYPES.get(base)
    if kinds is None:  # an enum: its own check names the setting's type
        return value
    if isinstance(value, kinds) and (base == "bool" or not isinstance(value, bool)):
        return float(value) if base == "float" else value
    if base == "float" and isinstance(value, str):
        # YAML 1.1 reads 1e-4 (no '.') as text.
        try:
            return float(value)
        except ValueError:
            pass
    raise ConfigError(f"{name}: expected {_TYPE_WORDS[base]}, got {shown_value(value)}", path=source)


def _accepted(cls: type, name: str, value: Any) -> bool:
    """Whether ``value`` alone, the other settings default, makes valid settings (to name the faulty setting)."""
    try:
        cls(**{name: value})
    except (TypeError, ValueError, ConfigError):
        return False
    return True


def absolute_setting(path: Any) -> Any:
    """A path setting made absolute, so that ``--resume`` and ``--config`` work from any directory.

    ``None``, empty and non-path values are returned unchanged.

    Example:
        >>> absolute_setting(None), Path(absolute_setting("w.pt")).is_absolute()
        (None, True)
    """
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        return path
    return str(absolute_path(path))


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML mapping of settings (validated when merged into the settings).

    Raises:
        ConfigError: naming the file (and line, for a YAML syntax error).
    """
    path = Path(path)
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(error.strerror or "cannot be read", path=path) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or "not valid YAML"
        raise ConfigError(problem, path=path, line=mark.line + 1 if mark else None) from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError("must be a mapping of setting: value", path=path)
    return {str(key).replace("-", "_"): value for key, value in values.items()}
