"""Which generated frames are degraded, and how: the record the generator keeps beside the data.

Real Aff-Wild2 crops are often blurred, small, blocky, badly exposed, noisy,
covered or turned away. The generator degrades a share of its face crops the
same ways and records, per annotation entry, what each label row's frame
carries, under the hidden folder ``ROOT/.generator/degradations/<entry>.txt``:
one line per label row, the comma-separated degradation names of that frame,
an empty line for a clean frame. The real data has no such folder (and layout
discovery skips dot folders), so :func:`read_degradations` returns ``{}`` for
it.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> record = DegradationRecord.from_rows([(), (Degradation.MOTION_BLUR, Degradation.JPEG), ()])
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     _ = write_degradations(Path(folder), "video8", record)
    ...     back = read_degradations(Path(folder))
    >>> back["video8"].mask().tolist(), back["video8"].mask(Degradation.JPEG).tolist()
    ([False, True, False], [False, True, False])
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np

from abaw.choices import parse_enum
from abaw.errors import DataError
from abaw.synthetic.config import HIDDEN_FOLDER

__all__ = [
    "DEGRADATIONS_FOLDER",
    "Degradation",
    "DegradationRecord",
    "degradations_path",
    "read_degradations",
    "write_degradations",
]

DEGRADATIONS_FOLDER = f"{HIDDEN_FOLDER}/degradations"
"""Where, under the dataset root, the per-entry records lie."""


class Degradation(str, Enum):
    """One way an in-the-wild face crop is worse than a clean one (a clean frame has none).

    Example:
        >>> Degradation("motion_blur").hides_face
        False
        >>> Degradation.OCCLUSION.hides_face
        True
    """

    MOTION_BLUR = "motion_blur"
    LOW_RESOLUTION = "low_resolution"
    JPEG = "jpeg"
    UNDEREXPOSURE = "underexposure"
    OVEREXPOSURE = "overexposure"
    SENSOR_NOISE = "sensor_noise"
    OCCLUSION = "occlusion"
    LOOKING_AWAY = "looking_away"

    @property
    def hides_face(self) -> bool:
        """Whether it takes expression features out of view (the voice still carries arousal)."""
        return self in (Degradation.OCCLUSION, Degradation.LOOKING_AWAY)


@dataclass(frozen=True)
class DegradationRecord:
    """What degrades each label row's frame of one entry.

    Attributes:
        rows: Per label row (row ``i`` is frame ``i + 1``), the degradations of its frame; empty when clean.
    """

    rows: tuple[frozenset[Degradation], ...]

    @classmethod
    def from_rows(cls, rows: Iterable[Iterable[Degradation]]) -> DegradationRecord:
        """A record from per-row collections of degradations."""
        return cls(tuple(frozenset(row) for row in rows))

    def __len__(self) -> int:
        return len(self.rows)

    def mask(self, kind: Degradation | None = None) -> np.ndarray:
        """Per label row, True where ``kind`` (any degradation when ``None``) applies."""
        if kind is None:
            return np.array([bool(row) for row in self.rows], dtype=bool)
        return np.array([kind in row for row in self.rows], dtype=bool)

    def share(self, kind: Degradation | None = None) -> float:
        """The share of label rows :meth:`mask` marks (0 for an empty record)."""
        return float(self.mask(kind).mean()) if self.rows else 0.0

    def to_text(self) -> str:
        """The file's text: one line per row, names in the enumeration's order."""
        order = list(Degradation)
        return "".join(",".join(kind.value for kind in sorted(row, key=order.index)) + "\n" for row in self.rows)


def degradations_path(root: Path, name: str) -> Path:
    """The record file of entry ``name`` under dataset ``root``."""
    return root / DEGRADATIONS_FOLDER / f"{name}.txt"


def write_degradations(root: Path, name: str, record: DegradationRecord) -> Path:
    """Write the record of entry ``name`` under ``root`` (a dataset being built) and return its path."""
    path = degradations_path(root, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(record.to_text(), encoding="utf-8")
    return path


def read_degradations(root: Path) -> dict[str, DegradationRecord]:
    """Every entry's record under dataset ``root``, by entry name; ``{}`` when it has none (the real data).

    Raises:
        DataError: a line names an unknown degradation (naming the file and line).
    """
    folder = Path(root) / DEGRADATIONS_FOLDER
    if not folder.is_dir():
        return {}
    records: dict[str, DegradationRecord] = {}
    for path in sorted(folder.glob("*.txt")):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise DataError(f"cannot read the degradation record: {error}", path=path) from None
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            row = set()
            for value in filter(None, (part.strip() for part in line.split(","))):
                try:
                    row.add(parse_enum(Degradation, value, "a degradation", error=DataError))
                except DataError as error:
                    raise DataError(error.message, path=path, line=number) from None
            rows.append(frozenset(row))
        records[path.stem] = DegradationRecord(tuple(rows))
    return records
