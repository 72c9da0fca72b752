"""Published results kept in ``baselines/published_results.json``, shown beside our scores."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from abaw.errors import AbawError

RESULTS_FILE = "published_results.json"


@dataclass(frozen=True)
class PublishedResult:
    """One published row: a method's CCC on a split, and where it was published.

    Attributes:
        name: The method, e.g. ``"ALN AEG-CD-SZ"``.
        split: ``"val"`` or ``"test"``.
        ccc_valence: Published valence CCC.
        ccc_arousal: Published arousal CCC.
        source: Paper and table.
    """

    name: str
    split: str
    ccc_valence: float
    ccc_arousal: float
    source: str

    @property
    def ccc_mean(self) -> float:
        """The challenge score: the mean of the two CCCs.

        Example:
            >>> PublishedResult("x", "val", 0.1, 0.3, "paper").ccc_mean
            0.2
        """
        return (self.ccc_valence + self.ccc_arousal) / 2


def default_results_path() -> Path:
    """The results file of a source checkout, else the copy installed under ``share/abaw``."""
    checkout = Path(__file__).resolve().parents[2] / "baselines" / RESULTS_FILE
    if checkout.is_file():
        return checkout
    return Path(sys.prefix) / "share" / "abaw" / "baselines" / RESULTS_FILE


def published_results(split: str | None = None, path: str | os.PathLike | None = None) -> list[PublishedResult]:
    """Read the published rows, optionally of one split only.

    Raises:
        AbawError: naming the file when it is missing or malformed.

    Example:
        >>> any(row.name == "ALN AEG-CD-SZ" for row in published_results("val"))
        True
    """
    path = Path(path) if path is not None else default_results_path()
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))["results"]
        results = [
            PublishedResult(
                name=str(row["name"]),
                split=str(row["split"]),
                ccc_valence=float(row["ccc_valence"]),
                ccc_arousal=float(row["ccc_arousal"]),
                source=str(row["source"]),
            )
            for row in rows
        ]
    except OSError as error:
        raise AbawError(error.strerror or "cannot be read", path=path) from None
    except (ValueError, KeyError, TypeError) as error:
        raise AbawError(f"not a published-results file ({error})", path=path) from None
    return [row for row in results if split is None or row.split == split]
