"""``abaw.tables``: line splitting, stray line breaks, and comma-separated files parsed with exact error places."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from abaw import tables
from abaw.errors import AbawError, DataError, PredictionError
from abaw.tables import Table, parse_table, refuse_stray_line_breaks, split_lines

VA = ("valence", "arousal")
SINGLE = ("image_location", "valence", "arousal")


def write(folder: Path, content: str | bytes, name: str = "v.txt") -> Path:
    """Write ``content`` byte for byte (no newline translation)."""
    path = folder / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def parse_file(path: Path, header=VA, key_columns: int = 0, error: type[AbawError] = AbawError) -> Table:
    """Parse a file as the readers do: the whole text, the path as the source."""
    return parse_table(path.read_bytes().decode("utf-8"), str(path), header, key_columns, error)


def error_of(path: Path, header=VA, key_columns: int = 0, error: type[AbawError] = AbawError) -> AbawError:
    with pytest.raises(error) as caught:
        parse_file(path, header, key_columns, error)
    return caught.value


# -- split_lines ------------------------------------------------------------------------------------------------


def test_split_lines_ends_lines_at_lf_and_crlf_only():
    assert split_lines("a\nb\r\nc") == ["a", "b", "c"]
    # A carriage return inside a line and the separators str.splitlines() breaks at stay in the line.
    assert split_lines("a\rb\n\x0bc\x1cd\u2028e\n") == ["a\rb", "\x0bc\x1cd\u2028e"]


def test_split_lines_drops_the_byte_order_mark_and_trailing_blank_lines_but_keeps_inner_ones():
    assert split_lines("\ufeffa\n\n \nb\n\n  \r\n\t\n") == ["a", "", " ", "b"]
    assert split_lines("") == [] and split_lines("\n\n") == []


# -- refuse_stray_line_breaks -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stray", "name"),
    [
        ("\x0b", "vertical tab (U+000B)"),
        ("\x0c", "form feed (U+000C)"),
        ("\r", "carriage return without a line feed (U+000D)"),
        ("\x1c", "file separator (U+001C)"),
        ("\x1d", "group separator (U+001D)"),
        ("\x1e", "record separator (U+001E)"),
        ("\x00", "control character (U+0000)"),
        ("\x1b", "control character (U+001B)"),
        ("\x85", "next-line character (U+0085)"),
        ("\u2028", "line separator (U+2028)"),
        ("\u2029", "paragraph separator (U+2029)"),
    ],
)
def test_a_stray_line_break_is_refused_naming_the_character_file_and_line(tmp_path, stray, name):
    path = write(tmp_path, f"valence,arousal\r\n0.1,0.2\n0.3,{stray}0.4\n0.5,0.6\n")
    with pytest.raises(AbawError) as caught:
        refuse_stray_line_breaks(path.read_bytes(), str(path))
    assert str(caught.value) == f"{path}:3: {name} inside a line: lines may end only with \\n or \\r\\n"
    assert (caught.value.path, caught.value.line) == (str(path), 3)
    # parse_table refuses the file for the same reason before reading any value.
    assert str(error_of(path)) == str(caught.value)


def test_lf_crlf_and_tabs_are_not_stray():
    refuse_stray_line_breaks("valence,arousal\r\n0.1,\t0.2\n0.3,0.4\r\n", "v.txt")
    refuse_stray_line_breaks(b"", "v.txt")
    refuse_stray_line_breaks("caf\u00e9,\u00fc\n", "v.txt")  # beyond ASCII but no line break


def test_a_carriage_return_at_the_very_end_is_stray():
    with pytest.raises(AbawError, match=r"^v.txt:2: carriage return without a line feed"):
        refuse_stray_line_breaks("a,b\n0.1,0.2\r", "v.txt")


def test_the_first_stray_character_is_reported_whichever_kind_comes_first():
    # A Unicode separator on line 2 comes before a form feed on line 3 (searched separately).
    with pytest.raises(AbawError, match=r"^v.txt:2: line separator"):
        refuse_stray_line_breaks("a,b\n0.1,\u20280.2\n0.3,\x0c0.4\n", "v.txt")
    with pytest.raises(AbawError, match=r"^v.txt:2: form feed"):
        refuse_stray_line_breaks("a,b\n0.1,\x0c0.2\n0.3,\u20280.4\n", "v.txt")


def test_stray_line_breaks_raise_the_error_class_asked_for():
    with pytest.raises(DataError, match="form feed"):
        refuse_stray_line_breaks("a\x0cb\n", "v.txt", DataError)


# -- parse_table: good files -----------------------------------------------------------------------------------


def test_a_good_file_parses_to_float64_values_in_file_order(tmp_path):
    path = write(tmp_path, "valence,arousal\n0.5,-0.25\n-5,-5\n1e-3,.5\n+0.75, 1.\n")
    table = parse_file(path)
    assert table.values.dtype == np.float64 and table.values.shape == (4, 2) and len(table) == 4
    assert table.values.tolist() == [[0.5, -0.25], [-5.0, -5.0], [0.001, 0.5], [0.75, 1.0]]
    assert table.keys == []


def test_crlf_lines_a_byte_order_mark_and_trailing_blank_lines_are_read_like_plain_lines(tmp_path):
    plain = parse_file(write(tmp_path, "valence,arousal\n0.1,0.2\n0.3,0.4\n", "plain.txt"))
    windows = parse_file(write(tmp_path, "\ufeffValence , AROUSAL\r\n0.1,0.2\r\n0.3,0.4\r\n\r\n \n", "crlf.txt"))
    unended = parse_file(write(tmp_path, "valence,arousal\n0.1,0.2\n0.3,0.4", "unended.txt"))
    assert plain.values.tolist() == windows.values.tolist() == unended.values.tolist() == [[0.1, 0.2], [0.3, 0.4]]


@pytest.mark.parametrize("text", ["valence,arousal", "valence,arousal\n", "valence,arousal\r\n\n\n"])
def test_a_header_alone_is_an_empty_table_of_the_right_width(tmp_path, text):
    table = parse_file(write(tmp_path, text))
    assert len(table) == 0 and table.values.shape == (0, 2) and table.values.dtype == np.float64


def test_key_columns_are_stripped_text_never_numbers_or_missing_values(tmp_path):
    text = "image_location,valence,arousal\n v/00001.jpg ,0.1,0.2\n00012,0.3,0.4\nNA,0.5,0.6\n1e3,-5,-5\n"
    table = parse_file(write(tmp_path, text), SINGLE, key_columns=1)
    assert table.keys == [["v/00001.jpg", "00012", "NA", "1e3"]]
    assert table.values.tolist() == [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6], [-5.0, -5.0]]


def test_several_key_columns_keep_their_order(tmp_path):
    table = parse_file(write(tmp_path, "a,b,c\nx,y,1\nz,w,2\n"), ("a", "b", "c"), key_columns=2)
    assert table.keys == [["x", "z"], ["y", "w"]] and table.values.tolist() == [[1.0], [2.0]]


def test_a_file_that_needs_the_line_by_line_walk_gives_the_same_table_as_the_fast_reader(tmp_path, monkeypatch):
    text = "valence,arousal\r\n" + "".join(f"{i / 100},{-i / 100}\r\n" for i in range(10))
    fast = parse_file(write(tmp_path, text))
    # The fast reader refuses everything: every block is walked line by line.
    monkeypatch.setattr(tables, "_parse_fast", lambda *args: None)
    walked = parse_file(write(tmp_path, text, "walked.txt"))
    assert walked.values.tolist() == fast.values.tolist() and walked.values.shape == (10, 2)


# -- parse_table: malformed lines ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("", 1, "empty file, expected the header 'valence,arousal'"),
        ("\ufeff", 1, "empty file, expected the header 'valence,arousal'"),
        ("valence\n0.1\n", 1, "header is 'valence', expected 'valence,arousal'"),
        ("arousal,valence\n0.1,0.2\n", 1, "header is 'arousal,valence', expected 'valence,arousal'"),
        ("0.1,0.2\n0.3,0.4\n", 1, "header is '0.1,0.2', expected 'valence,arousal'"),
        ("\nvalence,arousal\n0.1,0.2\n", 1, "header is '', expected 'valence,arousal'"),
        ("valence,arousal\n0.1,0.2\n0.3\n", 3, "expected 2 comma-separated values, found 1: '0.3'"),
        ("valence,arousal\n0.1,0.2,0.3\n", 2, "expected 2 comma-separated values, found 3: '0.1,0.2,0.3'"),
        ("valence,arousal\n0.1;0.2\n", 2, "expected 2 comma-separated values, found 1: '0.1;0.2'"),
        ("valence,arousal\r\n0.1,0.2\r\n0.3\r\n", 3, "expected 2 comma-separated values, found 1: '0.3'"),
        ("valence,arousal\n0.1,0.2\n\n0.3,0.4\n", 3, "empty line"),
        ("valence,arousal\n0.1,0.2\n \t\n0.3,0.4\n", 3, "empty line"),
        ("valence,arousal\n0.1,x\n", 2, "'x' is not a number"),
        ("valence,arousal\n0.1,0.2\n0.1,\n", 3, "'' is not a number"),
        ('valence,arousal\n"0.1",0.2\n', 2, "'\"0.1\"' is not a number"),
        ("valence,arousal\n0.1,nan\n", 2, "'nan' is not a finite number"),
        ("valence,arousal\n-inf,0.2\n", 2, "'-inf' is not a finite number"),
        ("valence,arousal\n0.1,1e999\n", 2, "'1e999' is not a finite number"),
        ("valence,arousal\n0.1,1_0\n", 2, "'1_0' is not a plain decimal number"),
        ("valence,arousal\n0.1,\u0661\n", 2, "'\u0661' is not a plain decimal number"),
    ],
)
def test_a_malformed_file_is_refused_naming_the_file_the_line_and_the_problem(tmp_path, text, line, message):
    path = write(tmp_path, text)
    error = error_of(path)
    assert (error.path, error.line) == (str(path), line)
    assert str(error).startswith(f"{path}:{line}: {message}"), str(error)


def test_the_first_bad_line_is_reported_when_there_are_several(tmp_path):
    path = write(tmp_path, "valence,arousal\n0.1,0.2\n0.3,x\n0.5\n,\n")
    assert str(error_of(path)) == f"{path}:3: 'x' is not a number"


def test_an_empty_key_names_its_column(tmp_path):
    path = write(tmp_path, "image_location,valence,arousal\nv/00001.jpg,0.1,0.2\n  ,0.3,0.4\n")
    assert str(error_of(path, SINGLE, key_columns=1)) == f"{path}:3: empty image_location"


def test_a_long_bad_line_is_quoted_cut_short(tmp_path):
    path = write(tmp_path, "valence,arousal\n" + ",".join(["0.1"] * 100) + "\n")
    message = str(error_of(path))
    assert message.startswith(f"{path}:2: expected 2 comma-separated values, found 100: '0.1,0.1")
    assert message.endswith("...'") and len(message) < len(str(path)) + 150


def test_errors_are_raised_as_the_class_asked_for(tmp_path):
    path = write(tmp_path, "valence,arousal\n0.1,x\n")
    assert type(error_of(path, error=PredictionError)) is PredictionError
    assert type(error_of(write(tmp_path, "", "empty.txt"), error=DataError)) is DataError


@pytest.mark.parametrize("bad_line", [tables.BLOCK_LINES + 1, tables.BLOCK_LINES + 2, 2 * tables.BLOCK_LINES + 5])
def test_a_bad_line_in_a_later_block_is_numbered_from_the_start_of_the_file(tmp_path, bad_line):
    # Row i after the header is file line i + 2, in block i // BLOCK_LINES: the first two cases straddle a boundary.
    rows = ["0.1,0.2"] * (2 * tables.BLOCK_LINES + 10)
    rows[bad_line - 2] = "0.1,oops"
    path = write(tmp_path, "valence,arousal\r\n" + "\r\n".join(rows) + "\r\n")
    assert str(error_of(path)) == f"{path}:{bad_line}: 'oops' is not a number"


def test_blocks_after_the_first_keep_their_keys_and_values_in_order(tmp_path, monkeypatch):
    monkeypatch.setattr(tables, "BLOCK_LINES", 3)
    rows = [f"v/{frame:05d}.jpg,{frame / 10},{-frame / 10}" for frame in range(1, 9)]
    rows[4] = "v/00005.jpg,0.5,nan"
    path = write(tmp_path, "image_location,valence,arousal\n" + "\n".join(rows) + "\n")
    # Line 6 holds the NaN: the second block of three lines (5 to 7).
    assert str(error_of(path, SINGLE, key_columns=1)) == f"{path}:6: 'nan' is not a finite number"
    rows[4] = "v/00005.jpg,0.5,-0.5"
    # The fast reader refuses the whole file only for a bad line; force the walk over blocks instead.
    monkeypatch.setattr(tables, "_parse_fast", lambda *args: None)
    table = parse_file(write(tmp_path, "image_location,valence,arousal\n" + "\n".join(rows), "good.txt"), SINGLE, 1)
    assert table.keys == [[f"v/{frame:05d}.jpg" for frame in range(1, 9)]]
    assert table.values[:, 0].tolist() == [frame / 10 for frame in range(1, 9)]
