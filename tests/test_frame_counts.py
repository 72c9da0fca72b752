"""Frame counts: N/P/D of real videos, the rule learned from label files, count files and overrides."""

from __future__ import annotations

import json
import shutil
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner

from abaw.cli import cli
from abaw.data.frame_counts import (
    DEFAULT_RULE,
    FrameCountRule,
    FrameFacts,
    learn_frame_count_rule,
    read_frame_count_file,
)
from abaw.data.index import count_decoded_video_frames, open_dataset
from abaw.data.layout import Edition, Split
from abaw.data.video import count_decoded_frames, probe_video
from abaw.errors import ConfigError, DataError
from abaw.formats.readers import read_sample_counts
from abaw.formats.types import SINGLE_FILE_HEADER
from abaw.synthetic import GeneratedDataset
from tests.foreign import ForeignDataset
from tests.helpers import annotation_dir, tiny_dataset, write_annotation


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["-q", *args])
    return result.exit_code, result.stdout, result.stderr


def write_avi_with_empty_packets(path: Path, frames: int, empty_after: tuple[int, ...]) -> Path:
    """An MPEG-4 AVI of ``frames`` frames with a zero-size packet after each frame index of ``empty_after``."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 25)
        pts = 0
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), index * 4 % 256, np.uint8), format="rgb24")
            frame.pts, frame.time_base = pts, Fraction(1, 25)
            for packet in stream.encode(frame):
                container.mux(packet)
            pts += 1
            if index in empty_after:
                empty = av.Packet(b"")
                empty.stream, empty.pts, empty.dts, empty.time_base = stream, pts, pts, Fraction(1, 25)
                container.mux(empty)
                pts += 1
        for packet in stream.encode(None):
            container.mux(packet)
    return path


# --------------------------------------------------------------------------- video facts


def test_avi_header_counts_zero_size_packets(tmp_path: Path) -> None:
    path = write_avi_with_empty_packets(tmp_path / "clip.avi", 45, (10, 30))
    info = probe_video(path)
    assert (info.header_frames, info.packet_frames, info.decoded_frames) == (47, 45, None)
    assert info.frames == 45
    decoded = probe_video(path, decode=True)
    assert (decoded.decoded_frames, decoded.frames) == (45, 45)
    assert count_decoded_frames(path) == 45


def test_decoding_a_broken_video_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.avi"
    path.write_bytes(b"RIFF not a video")
    with pytest.raises(DataError, match=r"broken\.avi: cannot"):
        count_decoded_frames(path)


# --------------------------------------------------------------------------- rules


def test_every_rule_counts_from_its_facts() -> None:
    facts = FrameFacts(header=47, packets=45, decoded=44, last_crop=46)
    letters = {"N": 47, "P": 45, "D": 44}
    for rule in FrameCountRule:
        value = rule.value
        if rule is FrameCountRule.CROPS:
            expected = 46
        else:
            inner = value[4:-7] if value.startswith("max(") else value
            letter, _, offset = inner.partition("+")
            expected = letters[letter] + int(offset or 0)
            if value.startswith("max("):
                expected = max(expected, 46)
        assert rule.count(facts) == expected, rule
        assert FrameCountRule(rule.value) is rule
        assert "+" not in rule.label or " + " in rule.label
    assert len(FrameCountRule) == 19


def test_rules_without_their_fact_give_nothing() -> None:
    bare = FrameFacts(header=None, packets=None, decoded=None, last_crop=None)
    assert all(rule.count(bare) is None for rule in FrameCountRule)
    crops_only = FrameFacts(last_crop=12)
    assert {rule for rule in FrameCountRule if rule.count(crops_only) is not None} == {FrameCountRule.CROPS}


def test_the_rule_reproducing_most_label_files_wins() -> None:
    # Organisers' label files: D + 1 lines, one at D + 2; one AVI header overcounts by 2.
    examples = [(FrameFacts(header=d, packets=d, last_crop=d), d + 1) for d in (30, 41, 52, 63)]
    examples.append((FrameFacts(header=47, packets=45, last_crop=45), 46))
    examples.append((FrameFacts(header=20, packets=20, last_crop=20), 22))
    learned = learn_frame_count_rule(examples)
    assert learned.best is FrameCountRule.P_PLUS_1
    assert str(learned.agreement(FrameCountRule.P_PLUS_1)) == "P + 1: 5 / 6 entries"
    assert learned.agreement(FrameCountRule.N_PLUS_1).agreeing == 4
    assert learned.agreement(FrameCountRule.D_PLUS_1).available == 0
    assert learned.describe(learned.best) == "P + 1 (5/6 entries)"
    assert [item.agreeing for item in learned.candidates] == sorted(
        (item.agreeing for item in learned.candidates), reverse=True
    )
    assert type(learned).from_dict(json.loads(json.dumps(learned.to_dict()))) == learned


def test_crops_beyond_the_count_make_the_max_rule_win() -> None:
    # The NISL convention: N + 1, or N + 2 when the crop folder holds one image more.
    examples = [
        (FrameFacts(header=40, packets=40, last_crop=40), 41),
        (FrameFacts(header=50, packets=50, last_crop=52), 52),
    ]
    learned = learn_frame_count_rule(examples)
    assert learned.best is FrameCountRule.MAX_P_PLUS_1_CROPS
    assert learned.agreement(FrameCountRule.P_PLUS_1).agreeing == 1


def test_nothing_to_learn_from_falls_back_to_the_default() -> None:
    learned = learn_frame_count_rule([])
    assert learned.best is DEFAULT_RULE
    assert "default" in learned.describe(learned.best)


# --------------------------------------------------------------------------- count files


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("video1 120\nvideo2,30\n", {"video1": 120, "video2": 30}),
        ("name\tframes\nvideo1.mp4\t120\n\n  video2.avi ,  30  \n", {"video1": 120, "video2": 30}),
        ("\ufeffvideo10_1_left, 7\r\nvideo10_1_right, 7\r\n", {"video10_1_left": 7, "video10_1_right": 7}),
    ],
)
def test_count_file_separators_and_header(tmp_path: Path, text: str, expected: dict[str, int]) -> None:
    path = tmp_path / "VA_Challenge_video_and_total_number_of_frames.txt"
    path.write_text(text, encoding="utf-8")
    assert read_frame_count_file(path).counts == expected


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("video1 120\nvideo2\n", 2, "expected 'name count'"),
        ("video1 120\nvideo2 3 4\n", 2, "expected 'name count'"),
        ("video1 120\nvideo2 many\n", 2, "frame count 'many' is not a positive whole number"),
        ("video1 0\n", 1, "frame count '0' is not a positive whole number"),
        ("video1 -3\n", 1, "frame count '-3' is not a positive whole number"),
        ("video1 12\nvideo1.mp4 13\n", 2, "'video1' is listed again (first on line 1)"),
    ],
)
def test_count_file_bad_line_names_file_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = tmp_path / "counts.txt"
    path.write_text(text)
    with pytest.raises(DataError) as caught:
        read_frame_count_file(path)
    assert str(caught.value).startswith(f"{path}:{line}: {message}")


def test_empty_count_file(tmp_path: Path) -> None:
    path = tmp_path / "counts.txt"
    path.write_text("name frames\n\n")
    with pytest.raises(DataError, match="lists no frame count"):
        read_frame_count_file(path)


def test_count_file_entry_falls_back_to_its_video(tmp_path: Path) -> None:
    path = tmp_path / "counts.txt"
    path.write_text("video45_2 300\n")
    counts = read_frame_count_file(path)
    assert counts.count_for("video45_2_left") == 300
    assert counts.count_for("other", Path("batch1/video45_2.mp4")) == 300
    assert counts.count_for("other") is None


# --------------------------------------------------------------------------- the index


def _tiny_with_labels_one_past_crops(root: Path) -> Path:
    """Train/val label files one line past their last crop; test entry 200 has crops 1..6 and no video."""
    root = tiny_dataset(root)
    for name, train in (("video1", True), ("video10_1_left", True), ("102", False)):
        write_annotation(annotation_dir(root, Edition.ABAW2022, train) / f"{name}.txt", [(0.1, 0.2)] * 7)
    return root


def test_index_resolves_counts_and_says_where_they_came_from(tmp_path: Path) -> None:
    root = _tiny_with_labels_one_past_crops(tmp_path / "data")
    index = open_dataset(root)
    test = index.frame_counts(Split.TEST)
    # Without videos only the crops rules give a value; crops + 0 never reproduces the label lines.
    assert test.learned.best is DEFAULT_RULE and test.rule is DEFAULT_RULE
    assert dict(test) == {"200": 6}
    assert test.sources["200"].startswith("rule crops (0/3 entries), as P + 1 has no value")
    val = index.frame_counts(Split.VALIDATION)
    assert dict(val) == {"102": 7} and val.sources == {"102": "label lines"}

    count_file = root / "VA_Challenge_video_and_total_number_of_frames.txt"
    count_file.write_text("200 9\n")
    index = open_dataset(root)
    assert index.layout.count_file == count_file
    test = index.frame_counts(Split.TEST)
    assert dict(test) == {"200": 9} and test.sources["200"] == f"count file {count_file.name}"
    # A labelled entry is always its label lines, whatever the count file says.
    count_file.write_text("200 9\n102 99\n")
    assert dict(open_dataset(root).frame_counts(Split.VALIDATION)) == {"102": 7}

    count_file.write_text("200 9\n102 x\n")
    with pytest.raises(DataError, match=f"{count_file}:2: frame count 'x'"):
        open_dataset(root)


def test_rule_option_and_sample_file_override(tmp_path: Path) -> None:
    root = _tiny_with_labels_one_past_crops(tmp_path / "data")
    index = open_dataset(root, frame_count_rule="max(p+2,crops)")
    counts = index.frame_counts(Split.TEST)
    assert counts.forced and counts.rule is FrameCountRule.MAX_P_PLUS_2_CROPS
    # No video: the given rule has no value, the best rule that has one is used and named.
    assert dict(counts) == {"200": 6}
    assert counts.sources["200"] == "rule crops (0/3 entries), as max(P + 2, crops) has no value"
    counts = open_dataset(root, frame_count_rule="CROPS").frame_counts(Split.TEST)
    assert dict(counts) == {"200": 6} and counts.sources["200"] == "rule crops (--frame-count-rule)"
    with pytest.raises(ConfigError, match=r"frame-count rule must be one of P, P\+1, .*, got 'Q\+1'"):
        open_dataset(root, frame_count_rule="Q+1")

    sample = tmp_path / "sample.txt"
    rows = "".join(f"200/{frame:05d}.jpg,0,0\n" for frame in range(1, 12))
    sample.write_text(",".join(SINGLE_FILE_HEADER) + "\n" + rows)
    (root / "counts_total_number_of_frames.txt").write_text("200 9\n")
    counts = open_dataset(root).frame_counts(Split.TEST, sample=read_sample_counts(sample))
    assert dict(counts) == {"200": 11} and counts.sources["200"] == "sample file sample.txt"
    # The sample wins, and says it: the count file disagrees.
    assert counts.notes == [
        f"{sample}: 1 video(s) have another frame count in the count file "
        f"{root / 'counts_total_number_of_frames.txt'} (200 11 rows, 9 in the count file); the sample file's rows "
        "are used, as the organisers' submission template"
    ]


def test_test_entry_without_any_source_is_a_problem_of_that_entry(tmp_path: Path) -> None:
    root = tiny_dataset(tmp_path / "data")
    (root / "test_set_VA_Challenge.txt").write_text("200\n300\n")
    index = open_dataset(root)
    counts = index.frame_counts(Split.TEST)
    assert dict(counts) == {"200": 6} and list(counts.unknown) == ["300"]
    with pytest.raises(DataError, match=r"no frame count for 300 .*pass --frame-counts FILE"):
        index.require_writable(Split.TEST, counts)
    code, _, err = run("data", "check", "--root", str(root))
    assert code == 1 and "no frame count for 300" in err


def test_decoded_counts_are_cached_and_learned(generated: GeneratedDataset, tmp_path: Path) -> None:
    root = Path(shutil.copytree(generated.root, tmp_path / "data"))
    index = open_dataset(root)
    assert all(entry.decoded_frames is None for entry in index.entries.values())
    assert index.learned_rule.agreement(FrameCountRule.D_PLUS_1).agreeing == 0
    count_decoded_video_frames(index)
    for name, entry in index.entries.items():
        assert entry.decoded_frames == generated.entries[name].frames
    again = open_dataset(root)
    assert again.from_cache
    assert {name: entry.decoded_frames for name, entry in again.entries.items()} == {
        name: entry.frames for name, entry in generated.entries.items()
    }
    labelled = [entry for entry in generated.entries.values() if entry.split.is_labelled]
    plus_one = sum(entry.label_rows == entry.frames + 1 for entry in labelled)
    assert again.learned_rule.agreement(FrameCountRule.D_PLUS_1).agreeing == plus_one == len(labelled) - 1


def test_generated_data_learns_p_plus_one(generated: GeneratedDataset, tmp_path: Path) -> None:
    index = open_dataset(generated.root, cache=tmp_path / "cache")
    counts = index.frame_counts(Split.TEST)
    labelled = [entry for entry in generated.entries.values() if entry.split.is_labelled]
    assert counts.rule is FrameCountRule.P_PLUS_1
    assert counts.learned.agreement(FrameCountRule.P_PLUS_1).agreeing == len(labelled) - 1
    assert dict(counts) == {name: entry.frames + 1 for name, entry in generated.entries.items() if name in counts}
    assert set(counts) == set(generated.names(Split.TEST))
    overcounting = [entry for entry in index.entries.values() if entry.counts_disagree]
    assert overcounting and all(entry.header_frames == entry.packet_frames + 2 for entry in overcounting)
    mismatches = [problem for problem in index.problems if "label lines for a video of" in problem.message]
    assert not mismatches  # D + 2 is within the tolerance


# --------------------------------------------------------------------------- the command line


def test_data_check_prints_rules_and_disagreeing_videos(generated: GeneratedDataset, tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    args = ["data", "check", "--root", str(generated.root), "--cache", str(tmp_path / "c"), "--per-video"]
    code, out, err = run(*args, "--json", str(report))
    assert code == 0, err
    labelled = sum(entry.split.is_labelled for entry in generated.entries.values())
    assert f"{labelled - 1} / {labelled}" in out
    assert f"frame-count rule for test entries: P + 1 ({labelled - 1}/{labelled} entries)" in out
    assert "video frame counts: 1 of" in out and "disagree" in out
    payload = json.loads(report.read_text())
    assert payload["frame_counts"]["rule"] == "P+1"
    assert payload["videos_disagreeing"]["videos"] == 1
    avi = next(entry for entry in payload["entries"] if entry["counts_disagree"])
    assert avi["header_frames"] == avi["packet_frames"] + 2
    assert "N " in out and " / P " in out

    code, out, _ = run(*args, "--decode-frames", "--frame-count-rule", "N+1")
    assert code == 0
    assert "frame-count rule for test entries: N + 1 (--frame-count-rule" in out
    assert "chosen (--frame-count-rule)" in out


def test_every_dataset_command_has_the_frame_count_options() -> None:
    for command in (["data", "check"], ["predict-test"], ["submission", "check"], ["score"], ["train"], ["predict"]):
        code, out, _ = run(*command, "--help")
        assert code == 0 and "--frame-counts" in out and "--frame-count-rule" in out, command


def test_bad_count_file_is_one_line_exit_2(tmp_path: Path) -> None:
    root = tiny_dataset(tmp_path / "data")
    counts = tmp_path / "counts.txt"
    counts.write_text("200 12\n200 13\n")
    code, _, err = run("data", "check", "--root", str(root), "--frame-counts", str(counts))
    assert code == 2
    assert err.strip() == f"error: {counts}:2: '200' is listed again (first on line 1)"


def test_submission_check_uses_the_count_file(tmp_path: Path) -> None:
    root = _tiny_with_labels_one_past_crops(tmp_path / "data")
    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / "200.txt").write_text("valence,arousal\n" + "0.1,0.1\n" * 9)
    code, _, err = run("submission", "check", str(folder), "--root", str(root))
    assert code == 1 and "9 prediction lines, expected 6" in err
    counts = tmp_path / "counts.txt"
    counts.write_text("200,9\n")
    code, out, err = run("submission", "check", str(folder), "--root", str(root), "--frame-counts", str(counts))
    assert code == 0, err
    assert "frame counts from count file counts.txt: 1 entry" in out


def test_packet_count_of_every_foreign_video(foreign: ForeignDataset) -> None:
    """MP4s (B-frames, variable rate) read P from their sample table, AVIs by demuxing: both equal D."""
    specs = {entry.video for entry in foreign.entries.values() if entry.video is not None}
    assert {Path(spec.path).suffix for spec in specs} == {".avi", ".mp4"}
    for spec in specs:
        path = foreign.root / spec.path
        info = probe_video(path, decode=True)
        assert (info.header_frames, info.packet_frames, info.decoded_frames) == (
            spec.header,
            spec.decoded,
            spec.decoded,
        ), spec.path
        with av.open(str(path)) as container:
            demuxed = sum(1 for packet in container.demux(container.streams.video[0]) if packet.size)
        assert demuxed == info.packet_frames, spec.path


def test_unknown_rule_name_is_one_line_exit_2(tmp_path: Path) -> None:
    root = tiny_dataset(tmp_path / "data")
    code, _, err = run("data", "check", "--root", str(root), "--frame-count-rule", "Q+1")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith("error: frame-count rule must be one of P, P+1,") and err.strip().endswith("got 'Q+1'")
    code, out, err = run("data", "check", "--root", str(root), "--frame-count-rule", "max(p + 1, CROPS)")
    assert code == 0, err
    assert "frame-count rule for test entries: max(P + 1, crops) (--frame-count-rule" in out
