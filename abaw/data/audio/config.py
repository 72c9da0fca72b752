"""Which audio features: the openSMILE feature set and the pooling over a frame window."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from abaw.choices import parse_enum
from abaw.errors import DataError


class FeatureSet(str, Enum):
    """openSMILE feature sets whose low-level descriptors can be pooled per frame.

    Example:
        >>> FeatureSet("eGeMAPSv01b").lld_count
        23
        >>> FeatureSet.EGEMAPS_V02.lld_count
        25
    """

    GEMAPS_V01B = "GeMAPSv01b"
    EGEMAPS_V01A = "eGeMAPSv01a"
    EGEMAPS_V01B = "eGeMAPSv01b"
    EGEMAPS_V02 = "eGeMAPSv02"

    @property
    def lld_count(self) -> int:
        """LLDs per LLD frame (openSMILE's ``feature_names`` at the LLD level)."""
        return {"GeMAPSv01b": 18, "eGeMAPSv01a": 23, "eGeMAPSv01b": 23, "eGeMAPSv02": 25}[self.value]

    @property
    def opensmile_name(self) -> str:
        """The member name in ``opensmile.FeatureSet``."""
        return {"eGeMAPSv01a": "eGeMAPS"}.get(self.value, self.value)

    def lld_names(self) -> list[str]:
        """openSMILE's names of the LLDs, in column order (loads openSMILE)."""
        from abaw.data.audio.opensmile import smile_extractor  # the wrapper needs this module first

        return list(smile_extractor(self).feature_names)


class Pooling(str, Enum):
    """How the LLD frames of a frame window become one vector (both give ``2 x lld_count`` values).

    Example:
        >>> Pooling("first2") is Pooling.FIRST2
        True
    """

    FIRST2 = "first2"
    MEANSTD = "meanstd"


@dataclass(frozen=True)
class AudioFeatureConfig:
    """Which audio features: openSMILE feature set and pooling over the frame window.

    Strings are accepted for both fields.

    Example:
        >>> config = AudioFeatureConfig("eGeMAPSv01b", "first2")
        >>> config.key, config.dim
        ('eGeMAPSv01b-first2', 46)
        >>> AudioFeatureConfig.from_dict(config.to_dict()) == config
        True
    """

    feature_set: FeatureSet = FeatureSet.EGEMAPS_V02
    pooling: Pooling = Pooling.FIRST2

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "feature_set", parse_enum(FeatureSet, self.feature_set, "feature set", error=DataError)
        )
        object.__setattr__(self, "pooling", parse_enum(Pooling, self.pooling, "pooling", error=DataError))

    @property
    def dim(self) -> int:
        """Values per frame: two LLD frames, or the mean and the standard deviation of each LLD."""
        return 2 * self.feature_set.lld_count

    @property
    def key(self) -> str:
        """A folder-safe name of the configuration, for example ``'eGeMAPSv02-first2'``."""
        return f"{self.feature_set.value}-{self.pooling.value}"

    def feature_names(self) -> list[str]:
        """A name per value: ``<lld>@1``/``<lld>@2`` (first2) or ``<lld>@mean``/``<lld>@std`` (meanstd)."""
        first, second = ("1", "2") if self.pooling is Pooling.FIRST2 else ("mean", "std")
        names = self.feature_set.lld_names()
        return [f"{name}@{first}" for name in names] + [f"{name}@{second}" for name in names]

    def to_dict(self) -> dict[str, str]:
        """A JSON-ready copy."""
        return {"feature_set": self.feature_set.value, "pooling": self.pooling.value}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> AudioFeatureConfig:
        """The configuration :meth:`to_dict` describes."""
        return cls(feature_set=values["feature_set"], pooling=values["pooling"])


DEFAULT_AUDIO_CONFIG = AudioFeatureConfig()
"""eGeMAPSv02 LLDs, first two LLD frames of each window."""
