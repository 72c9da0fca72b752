"""Annotation files and test lists: parsing, and every kind of bad line named by file:line."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from abaw.data.annotations import parse_annotation, read_annotation, read_test_list, valid_rows
from abaw.data.bins import N_AFFECT_BINS, affect_bins, bin_counts
from abaw.errors import DataError


def test_parses_values_and_missing_marks() -> None:
    labels = parse_annotation("valence,arousal\n0.5,-0.25\n-5,-5\n-5,0.1\n", "x.txt")
    assert labels.shape == (3, 2)
    assert valid_rows(labels).tolist() == [True, False, False]


def test_header_case_spaces_bom_and_trailing_blank_lines_are_accepted() -> None:
    labels = parse_annotation("\ufeffValence, Arousal\r\n0.1,0.2\r\n\r\n", "x.txt")
    assert labels.shape == (1, 2)
    assert labels[0].tolist() == pytest.approx([0.1, 0.2])


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("arousal,valence\n0.1,0.2\n", 1, "header"),
        ("", 1, "empty file"),
        ("valence,arousal\n", 1, "no label lines"),
        ("valence,arousal\n0.1,0.2\n0.3\n", 3, "expected 2"),
        ("valence,arousal\n0.1,0.2\n0.3,0.4,0.5\n", 3, "expected 2"),
        ("valence,arousal\n0.1,abc\n", 2, "'abc' is not a number"),
        ("valence,arousal\n0.1,0.2\n\n0.3,0.4\n", 3, "empty line"),
        ("valence,arousal\n0.1,nan\n", 2, "not a finite number"),
        ("valence,arousal\n0.1,0.2\n1.5,0.2\n", 3, "outside [-1, 1]"),
        ("valence,arousal\n0.1,-4\n", 2, "outside [-1, 1]"),
    ],
)
def test_bad_files_name_file_and_line(text: str, line: int, words: str) -> None:
    with pytest.raises(DataError) as caught:
        parse_annotation(text, "ann/v.txt")
    assert str(caught.value).startswith(f"ann/v.txt:{line}: ")
    assert words in str(caught.value)


def test_unreadable_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"missing\.txt"):
        read_annotation(tmp_path / "missing.txt")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"valence,arousal\n\xff\xfe,0\n")
    with pytest.raises(DataError, match="not UTF-8"):
        read_annotation(bad)


def test_large_file_parses_quickly_and_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    values = np.round(rng.uniform(-1, 1, size=(50_000, 2)), 3)
    values[::97] = -5
    path = tmp_path / "big.txt"
    path.write_text("valence,arousal\n" + "\n".join(f"{v},{a}" for v, a in values) + "\n")
    assert np.array_equal(read_annotation(path), values.astype(np.float32))


@pytest.mark.parametrize(
    ("separator", "name"),
    [
        ("\f", "form feed"),
        ("\x0b", "vertical tab"),
        ("\x1c", "file separator"),
        ("\x1e", "record separator"),
        ("\x85", "next-line character"),
        ("\u2028", "line separator"),
        ("\u2029", "paragraph separator"),
        ("\r", "carriage return without a line feed"),
    ],
)
def test_line_separators_other_than_lf_and_crlf_are_errors_not_line_ends(separator: str, name: str) -> None:
    # str.splitlines() would split line 3 in two and shift every later label by one frame.
    text = "valence,arousal\r\n0.1,0.2\r\n0.3,0.4" + separator + "0.5,0.6\r\n0.7,0.8\r\n"
    with pytest.raises(DataError) as caught:
        parse_annotation(text, "ann/v.txt")
    assert str(caught.value).startswith(f"ann/v.txt:3: {name} (U+")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("cell", "words"),
    [
        ("0.1_0", "'0.1_0' is not a plain decimal number"),
        ("\uff11.0", "'\uff11.0' is not a plain decimal number"),
        ("\u0661", "'\u0661' is not a plain decimal number"),
        ("nan", "'nan' is not a finite number"),
        ("-inf", "'-inf' is not a finite number"),
        ("1e999", "not a finite number"),
    ],
)
def test_only_plain_ascii_decimals_are_numbers(cell: str, words: str) -> None:
    with pytest.raises(DataError) as caught:
        parse_annotation(f"valence,arousal\n0.5,0.5\n0.25,{cell}\n", "v.txt")
    assert str(caught.value).startswith("v.txt:3: ") and words in str(caught.value)


def test_plain_decimals_in_every_notation_are_accepted() -> None:
    labels = parse_annotation("valence,arousal\n+.5, -1.\n1e-1,\t-2.5E-1\n", "v.txt")
    assert labels.ravel().tolist() == pytest.approx([0.5, -1.0, 0.1, -0.25])


def test_a_bad_last_line_of_a_big_file_costs_little_time_and_memory() -> None:
    """The error path stays vectorised: a bad line does not turn a million lines into Python objects."""
    lines = 1_000_000
    text = "valence,arousal\n" + "0.125,-0.5\n" * lines + "0.1,x\n"
    tracemalloc.start()
    try:
        with pytest.raises(DataError) as caught:
            parse_annotation(text, "v.txt")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(caught.value) == f"v.txt:{lines + 2}: 'x' is not a number"
    # The line-by-line walk of the whole file peaked at 31x the text.
    assert peak < 8 * len(text)


def test_a_huge_bad_line_is_quoted_cut_short() -> None:
    with pytest.raises(DataError) as caught:
        parse_annotation("valence,arousal\n0.1," + "7" * 5_000_000 + ",0\n", "v.txt")
    message = str(caught.value)
    assert message.startswith("v.txt:2: expected 2 comma-separated values, found 3: '0.1,777")
    assert message.endswith("...'") and len(message) < 200


def test_test_list(tmp_path: Path) -> None:
    path = tmp_path / "test.txt"
    path.write_text("video1\n\n2-30-640x360.mp4\nvideo10_1_left\n")
    assert read_test_list(path) == ["video1", "2-30-640x360", "video10_1_left"]
    path.write_text("video1\nvideo1\n")
    with pytest.raises(DataError, match=r"test.txt:2: 'video1' is listed again \(first on line 1\)"):
        read_test_list(path)
    path.write_text("a b\n")
    with pytest.raises(DataError, match=r"test\.txt:1: 'a b' is not a video name"):
        read_test_list(path)
    path.write_text("\n")
    with pytest.raises(DataError, match="lists no test video"):
        read_test_list(path)
    path.write_bytes(b"video1\r\nvideo2\x0cvideo3\r\n")
    with pytest.raises(DataError, match=r"test\.txt:2: form feed \(U\+000C\) inside a line"):
        read_test_list(path)


def test_bins_follow_round_half_away_from_zero() -> None:
    assert affect_bins(np.array([-1.0, -0.95, -0.05, 0.0, 0.05, 0.95, 1.0])).tolist() == [0, 1, 10, 10, 11, 20, 20]
    counts = bin_counts(np.linspace(-1, 1, 2001))
    assert len(counts) == N_AFFECT_BINS and counts.sum() == 2001
