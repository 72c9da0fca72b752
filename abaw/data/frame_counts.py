"""How many lines a prediction file of each entry must have: one place that decides, and says why.

A labelled entry's count is always its label lines. A test entry's count
comes from, strongest first:

1. the organisers' sample file (single-file format, 2023 on), which lists
   every row;
2. an organiser count file (``--frame-counts FILE``, found by name in the
   root, e.g. ``VA_Challenge_video_and_total_number_of_frames.txt``);
3. ``--frame-count-rule NAME``;
4. the rule learned from the labelled data: every candidate
   :class:`FrameCountRule` (the header count N, the packet count P and the
   decoded count D, each + 0, + 1 or + 2, the highest face-crop number, and
   the larger of a count and the highest crop number) is compared with the
   label lines of every train and validation entry, and the one that
   reproduces the most entries wins. The organisers made the test entries
   the same way, so the same rule gives their counts.

A test entry no source can give a count for (no video, no face crops, no
line in a count file) is a problem for that entry only.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from abaw.data.annotations import _read_text
from abaw.data.names import VIDEO_EXTENSIONS, video_stem
from abaw.errors import DataError
from abaw.messages import some

if TYPE_CHECKING:
    from abaw.data.entries import Entry
    from abaw.data.layout import Split

COUNT_FILE_PATTERN = re.compile(r"total_number_of_frames", re.IGNORECASE)
"""Names of organiser count files found below the root (``VA_Challenge_video_and_total_number_of_frames.txt``)."""

LABEL_LINES = "label lines"
_SEPARATORS = re.compile(r"[,\s]+")


@dataclass(frozen=True)
class FrameFacts:
    """What one entry's own files say about its frames.

    Attributes:
        header: The container's count N (``None``: no video, or the header gives none).
        packets: Non-empty video packets P (``None``: no readable video).
        decoded: Decoded frames D (``None``: not counted; ``abaw data check --decode-frames``).
        last_crop: The highest face-crop number (``None``: no face image).
    """

    header: int | None = None
    packets: int | None = None
    decoded: int | None = None
    last_crop: int | None = None


class FrameCountRule(str, Enum):
    """A way to compute an entry's frame count from its :class:`FrameFacts`.

    ``N``, ``P`` and ``D`` are the header, packet and decoded counts; ``crops``
    is the highest face-crop number; ``max(P+1,crops)`` the larger of the two.
    Members are listed in order of preference when two agree equally well.

    Example:
        >>> rule = FrameCountRule("max(N+1,crops)")
        >>> rule.label, rule.count(FrameFacts(header=10, last_crop=12))
        ('max(N + 1, crops)', 12)
    """

    P = "P"
    P_PLUS_1 = "P+1"
    P_PLUS_2 = "P+2"
    D = "D"
    D_PLUS_1 = "D+1"
    D_PLUS_2 = "D+2"
    N = "N"
    N_PLUS_1 = "N+1"
    N_PLUS_2 = "N+2"
    CROPS = "crops"
    MAX_P_CROPS = "max(P,crops)"
    MAX_P_PLUS_1_CROPS = "max(P+1,crops)"
    MAX_P_PLUS_2_CROPS = "max(P+2,crops)"
    MAX_D_CROPS = "max(D,crops)"
    MAX_D_PLUS_1_CROPS = "max(D+1,crops)"
    MAX_D_PLUS_2_CROPS = "max(D+2,crops)"
    MAX_N_CROPS = "max(N,crops)"
    MAX_N_PLUS_1_CROPS = "max(N+1,crops)"
    MAX_N_PLUS_2_CROPS = "max(N+2,crops)"

    @property
    def _parts(self) -> tuple[str | None, int, bool]:
        """(count letter or ``None`` for crops alone, offset, whether the highest crop number also bounds it)."""
        if self is FrameCountRule.CROPS:
            return None, 0, True
        with_crops = self.value.startswith("max(")
        inner = self.value[len("max(") : -len(",crops)")] if with_crops else self.value
        letter, _, offset = inner.partition("+")
        return letter, int(offset or 0), with_crops

    @property
    def label(self) -> str:
        """How reports write the rule, e.g. ``P + 1``."""
        return self.value.replace("+", " + ").replace(",", ", ")

    def count(self, facts: FrameFacts) -> int | None:
        """The frame count this rule gives, ``None`` when a fact it needs is unknown."""
        letter, offset, with_crops = self._parts
        if letter is None:
            return facts.last_crop
        base = {"N": facts.header, "P": facts.packets, "D": facts.decoded}[letter]
        if base is None:
            return None
        return max(base + offset, facts.last_crop or 0) if with_crops else base + offset


DEFAULT_RULE = FrameCountRule.P_PLUS_1
"""Used when no labelled entry agrees with any rule: the organisers' label files usually hold D + 1 lines."""


@dataclass(frozen=True)
class RuleAgreement:
    """How many labelled entries one rule reproduces.

    Attributes:
        rule: The candidate.
        agreeing: Entries whose label lines equal the rule's count.
        entries: Labelled entries compared.
        available: Entries the rule gives a count for at all (D needs ``--decode-frames``).
    """

    rule: FrameCountRule
    agreeing: int
    entries: int
    available: int | None = None

    def __str__(self) -> str:
        return f"{self.rule.label}: {self.agreeing} / {self.entries} entries"


@dataclass(frozen=True)
class LearnedRule:
    """Every candidate rule with its agreement on the labelled entries, best first.

    Attributes:
        candidates: One per :class:`FrameCountRule`, most agreeing first
            (ties in the enum's order).
        entries: Labelled entries compared.
    """

    candidates: tuple[RuleAgreement, ...]
    entries: int

    @property
    def best(self) -> FrameCountRule:
        """The rule reproducing the most entries (:data:`DEFAULT_RULE` when none reproduces any)."""
        if not self.candidates or not self.candidates[0].agreeing:
            return DEFAULT_RULE
        return self.candidates[0].rule

    def agreement(self, rule: FrameCountRule) -> RuleAgreement:
        """The agreement of ``rule``."""
        return next(item for item in self.candidates if item.rule is rule)

    def ranked(self, first: FrameCountRule | None = None) -> list[FrameCountRule]:
        """Rules in the order to try them: ``first`` (default :attr:`best`), then by agreement."""
        first = first or self.best
        return [first, *(item.rule for item in self.candidates if item.rule is not first)]

    def describe(self, rule: FrameCountRule) -> str:
        """``P + 1 (431/432 entries)``, or ``P + 1 (default: no labelled entry agrees with any rule)``."""
        if rule is DEFAULT_RULE and (not self.candidates or not self.candidates[0].agreeing):
            return f"{rule.label} (default: no labelled entry agrees with any rule)"
        return f"{rule.label} ({self.agreement(rule).agreeing}/{self.entries} entries)"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (also how the index cache stores it)."""
        return {
            "entries": self.entries,
            "best": self.best.value,
            "candidates": [
                {"rule": item.rule.value, "agreeing": item.agreeing, "available": item.available}
                for item in self.candidates
            ],
        }

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> LearnedRule:
        """Read back what :meth:`to_dict` wrote."""
        entries = int(record["entries"])
        candidates = tuple(
            RuleAgreement(FrameCountRule(item["rule"]), int(item["agreeing"]), entries, item.get("available"))
            for item in record["candidates"]
        )
        return cls(candidates, entries)


def learn_frame_count_rule(examples: Iterable[tuple[FrameFacts, int]]) -> LearnedRule:
    """Compare every rule with the label lines of labelled entries.

    Args:
        examples: ``(facts, label lines)`` of every train and validation entry.

    Example:
        >>> learned = learn_frame_count_rule([(FrameFacts(47, 45), 46), (FrameFacts(30, 30), 31)])
        >>> learned.best.label, str(learned.agreement(FrameCountRule.N_PLUS_1))
        ('P + 1', 'N + 1: 1 / 2 entries')
    """
    examples = list(examples)
    order = list(FrameCountRule)
    given = {rule: [rule.count(facts) for facts, _ in examples] for rule in order}
    agreeing = {
        rule: sum(count == lines for count, (_, lines) in zip(given[rule], examples, strict=True)) for rule in order
    }
    available = {rule: sum(count is not None for count in given[rule]) for rule in order}
    ranked = sorted(order, key=lambda rule: (-agreeing[rule], order.index(rule)))
    return LearnedRule(
        tuple(RuleAgreement(rule, agreeing[rule], len(examples), available[rule]) for rule in ranked), len(examples)
    )


@dataclass(frozen=True)
class FrameCountFile:
    """An organiser count file: the frame count of each test video.

    Attributes:
        path: The file.
        counts: Count by name as written (a ``.mp4``/``.avi`` suffix dropped).
    """

    path: Path
    counts: dict[str, int]

    def count_for(self, name: str, video: Path | None = None) -> int | None:
        """The count of entry ``name``: its own line, else its video's (``_left``/``_right`` stripped)."""
        for key in (name, video_stem(name), None if video is None else video.stem):
            if key is not None and key in self.counts:
                return self.counts[key]
        return None


def read_frame_count_file(path: str | os.PathLike) -> FrameCountFile:
    """Read an organiser count file: one ``name count`` pair per line.

    Name and count are separated by a comma, spaces or a tab; blank lines
    are skipped, a ``.mp4``/``.avi`` suffix is dropped, and a first line
    whose count is not a number is taken as a header.

    Raises:
        DataError: naming the file and line of a line that is not a pair, a
            count that is not a positive whole number, or a repeated name.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "VA_total_number_of_frames.txt"
        >>> _ = path.write_text("video,frames\\n2-30-640x360.mp4, 7501\\nvideo93\\t120\\n")
        >>> read_frame_count_file(path).counts
        {'2-30-640x360': 7501, 'video93': 120}
    """
    counts: dict[str, int] = {}
    first_line: dict[str, int] = {}
    for number, raw in enumerate(_read_text(path).lstrip("\ufeff").splitlines(), start=1):
        text = raw.strip()
        if not text:
            continue
        fields = _SEPARATORS.split(text)
        if len(fields) != 2:
            raise DataError(
                f"expected 'name count' (comma, space or tab separated), got '{text}'", path=path, line=number
            )
        name, count = fields
        if not count.isdigit() or int(count) < 1:
            if number == 1 and not count.lstrip("+-").isdigit():
                continue  # a header line
            raise DataError(f"frame count '{count}' is not a positive whole number", path=path, line=number)
        stem, ext = os.path.splitext(name)
        if ext.lower() in VIDEO_EXTENSIONS:
            name = stem
        if name in counts:
            raise DataError(f"'{name}' is listed again (first on line {first_line[name]})", path=path, line=number)
        counts[name] = int(count)
        first_line[name] = number
    if not counts:
        raise DataError("lists no frame count", path=path)
    return FrameCountFile(Path(path), counts)


@dataclass(eq=False)
class FrameCounts(Mapping[str, int]):
    """The frame count of every entry of a split, and where each one came from.

    Reads as a mapping from entry name to count (entries without a count left out).

    Attributes:
        split: The split.
        counts: Lines of each entry's prediction file.
        sources: Where each count came from: ``label lines``,
            ``sample file X``, ``count file X``, ``rule P + 1 (431/432 entries)``.
        unknown: Entries no source gives a count for, with a one-line message each.
        learned: The rule learned from the labelled data, with every candidate's agreement.
        rule: The rule used for entries without labels, count file or sample line.
        forced: Whether ``rule`` was given (``--frame-count-rule``) rather than learned.
        notes: Where two sources disagree (the sample file and the count file), one line each.
    """

    split: Split
    counts: dict[str, int]
    sources: dict[str, str]
    learned: LearnedRule
    rule: FrameCountRule
    forced: bool = False
    unknown: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def __getitem__(self, name: str) -> int:
        return self.counts[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.counts)

    def __len__(self) -> int:
        return len(self.counts)

    @property
    def rule_description(self) -> str:
        """The rule for entries without a better source, with its agreement on the labelled entries."""
        if self.forced:
            agreement = self.learned.agreement(self.rule)
            return (
                f"{self.rule.label} (--frame-count-rule; it reproduces "
                f"{agreement.agreeing}/{self.learned.entries} labelled entries)"
            )
        return self.learned.describe(self.rule)

    def summary(self) -> str:
        """One line: each source and how many entries it gave a count (``rule P + 1 (43/44 entries): 12 entries``)."""
        tally = Counter(self.sources.values())
        parts = [f"{source}: {count} {'entry' if count == 1 else 'entries'}" for source, count in tally.most_common()]
        if self.unknown:
            parts.append(f"no count: {len(self.unknown)}")
        return "; ".join(parts) or "no entries"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form: the rule, its agreement, and every entry's count and source."""
        return {
            "split": self.split.value,
            "rule": self.rule.value,
            "rule_forced": self.forced,
            "rule_description": self.rule_description,
            "learned": self.learned.to_dict(),
            "summary": self.summary(),
            "entries": {name: {"count": count, "source": self.sources[name]} for name, count in self.counts.items()},
            "unknown": dict(self.unknown),
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class SampleCounts:
    """The rows of each video in the organisers' sample single file: the strongest source of frame counts.

    Read by :func:`abaw.formats.readers.read_sample_counts`; the data layer only uses the counts.

    Attributes:
        path: The sample file, named as the source.
        counts: Rows per video name.
    """

    path: Path
    counts: Mapping[str, int]


def resolve_frame_counts(
    split: Split,
    entries: Sequence[Entry],
    learned: LearnedRule,
    *,
    sample: SampleCounts | None = None,
    count_file: FrameCountFile | None = None,
    rule: FrameCountRule | None = None,
    where: str | os.PathLike | None = None,
) -> FrameCounts:
    """The frame count of every entry of ``split``, from the strongest source that has one.

    Args:
        split: The split of ``entries``.
        entries: Its entries.
        learned: The rule learned from the labelled entries.
        sample: The rows per video of the organisers' sample file, if given.
        count_file: An organiser count file, if found or given.
        rule: A rule to use instead of the learned one (``--frame-count-rule``).
        where: What to name in the message of an entry without a count
            (the test list); default the entry's own files.
    """
    chosen = rule or learned.best
    ranked = learned.ranked(chosen)
    counts: dict[str, int] = {}
    sources: dict[str, str] = {}
    unknown: dict[str, str] = {}
    disagree: list[str] = []
    for entry in entries:
        if entry.annotation is not None and entry.label_rows:
            counts[entry.name], sources[entry.name] = entry.label_rows, LABEL_LINES
            continue
        listed = count_file.count_for(entry.name, entry.video) if count_file is not None else None
        if sample is not None and entry.name in sample.counts:
            counts[entry.name] = sample.counts[entry.name]
            sources[entry.name] = f"sample file {sample.path.name}"
            if listed is not None and listed != counts[entry.name]:
                disagree.append(f"{entry.name} {counts[entry.name]} rows, {listed} in the count file")
            continue
        if listed is not None:
            assert count_file is not None
            counts[entry.name], sources[entry.name] = listed, f"count file {count_file.path.name}"
            continue
        facts = entry.facts
        for candidate in ranked:
            value = candidate.count(facts)
            if value:
                counts[entry.name] = value
                sources[entry.name] = _rule_source(candidate, chosen, learned, forced=rule is not None)
                break
        else:
            place = where or entry.annotation or entry.frames_dir or entry.name
            unknown[entry.name] = (
                f"{place}: no frame count for {entry.name} (no video, no face crops, no line in a count file); "
                "pass --frame-counts FILE"
            )
    notes = []
    if disagree:
        assert sample is not None and count_file is not None
        notes.append(
            f"{sample.path}: {len(disagree)} video(s) have another frame count in the count file {count_file.path} "
            f"({some(disagree, 3)}); the sample file's rows are used, as the organisers' submission template"
        )
    return FrameCounts(split, counts, sources, learned, chosen, rule is not None, unknown, notes)


def _rule_source(candidate: FrameCountRule, chosen: FrameCountRule, learned: LearnedRule, *, forced: bool) -> str:
    if candidate is chosen:
        return f"rule {chosen.label} (--frame-count-rule)" if forced else f"rule {learned.describe(chosen)}"
    return f"rule {learned.describe(candidate)}, as {chosen.label} has no value"
