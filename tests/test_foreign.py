"""The foreign dataset really has the oddities it claims (checked with PyAV and PIL, not the toolkit)."""

from __future__ import annotations

import itertools

import av
from PIL import Image

from abaw.data.layout import Split
from tests.foreign import CROP_SIZE, ForeignDataset


def _counts(path) -> tuple[int, int, int, list[int], bool]:
    """Header count, non-empty packets, decoded frames, packet pts in file order, audio present."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        header = stream.frames
        has_audio = bool(container.streams.audio)
        packets = [packet for packet in container.demux(stream) if packet.size]
        pts = [packet.pts for packet in packets]
    with av.open(str(path)) as container:
        decoded = sum(1 for _ in container.decode(video=0))
    return header, len(packets), decoded, pts, has_audio


def test_videos_have_the_counts_written(foreign: ForeignDataset) -> None:
    for entry in foreign.entries.values():
        if entry.video is None:
            continue
        header, packets, decoded, _, has_audio = _counts(foreign.root / entry.video.path)
        assert (header, packets, decoded) == (entry.video.header, entry.video.decoded, entry.video.decoded), entry.name
        assert has_audio is (entry.video.audio is not None), entry.name


def test_avi_header_counts_empty_packets(foreign: ForeignDataset) -> None:
    avi = foreign.entries["5-60-1920x1080"].video
    header, packets, decoded, _, _ = _counts(foreign.root / avi.path)
    assert header == decoded + 2 and packets == decoded


def test_b_frames_reorder_packets_and_frame_rate_varies(foreign: ForeignDataset) -> None:
    _, _, _, pts, _ = _counts(foreign.root / foreign.entries["video7"].video.path)
    assert pts != sorted(pts)
    _, _, _, pts, _ = _counts(foreign.root / foreign.entries["vfr-12"].video.path)
    assert len({later - earlier for earlier, later in itertools.pairwise(pts)}) > 1


def test_label_files_are_written_by_hand(foreign: ForeignDataset) -> None:
    crlf = foreign.entries["5-60-1920x1080"].annotation.read_bytes()
    assert crlf.startswith(b"valence,arousal\r\n") and crlf.count(b"\r\n") == 31 + 1
    bom = foreign.entries["video7"].annotation.read_bytes()
    assert bom.startswith(b"\xef\xbb\xbf") and bom.endswith(b"\n\n\n")
    assert foreign.entries["video7"].label_lines == foreign.entries["video7"].video.decoded + 2
    lines = bom.decode("utf-8-sig").splitlines()
    assert "-5,-5" in lines and any(line.startswith("-5,") and line != "-5,-5" for line in lines)


def test_crops_and_splits(foreign: ForeignDataset) -> None:
    left = foreign.entries["video20_1_left"]
    assert min(left.face_frames) == 6
    beyond = foreign.entries["video7"]
    assert max(beyond.face_frames) > beyond.label_lines
    with Image.open(left.frames_dir / "00006.jpg") as image:
        assert image.size == CROP_SIZE and image.format == "JPEG"
    assert foreign.test_list.read_bytes().split(b"\r\n") == [name.encode() for name in foreign.names(Split.TEST)]
    assert foreign.entries["video61"].video is None and foreign.entries["video61"].frames_dir.is_dir()
    assert all(foreign.names(split) for split in Split)
