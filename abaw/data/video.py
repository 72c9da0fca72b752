"""What a video container says about its frames, read with PyAV (no ffmpeg binary).

Three counts of "frames" disagree on real files and are kept apart (see
"Frame counts" in the README):

* the header count N, what the container says (``stream.frames``; OpenCV's
  ``CAP_PROP_FRAME_COUNT``). AVI headers count every index entry, zero-size
  packets (dropped or delayed frames) included, so N can exceed what decodes;
* the packet count P, non-empty video packets found by demuxing without
  decoding: cheap, and equal to the decoded count for the codecs of Aff-Wild2.
  An MP4/MOV file's sample table lists every packet with its size, so there
  P is read from the index the demuxer loads when the file opens (about ten
  times faster than reading every packet); other containers are demuxed;
* the decoded count D, frames the decoder returns: the truth, but slow.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from abaw.errors import DataError

if TYPE_CHECKING:
    import av


@dataclass(frozen=True)
class VideoInfo:
    """Frame counts, frame rate and audio presence of one video file.

    Attributes:
        header_frames: The container's own count N (``None`` when it gives none).
        packet_frames: Non-empty video packets P.
        fps: Average frame rate.
        has_audio: Whether the file has an audio stream.
        decoded_frames: Frames the decoder returns D, when counted.
    """

    header_frames: int | None
    packet_frames: int
    fps: float
    has_audio: bool
    decoded_frames: int | None = None

    @property
    def frames(self) -> int:
        """Frames the video decodes to: D when counted, otherwise P (equal for the codecs of Aff-Wild2)."""
        return self.packet_frames if self.decoded_frames is None else self.decoded_frames


def probe_video(path: str | os.PathLike, *, decode: bool = False) -> VideoInfo:
    """Read the frame counts and rate of ``path``: demux every packet, decode only when ``decode`` is set.

    Raises:
        DataError: naming the file when it cannot be opened, has no video
            stream, or (with ``decode``) does not decode.
    """
    import av  # here, not at the top: the commands that never open a video start faster

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise DataError("has no video stream", path=path)
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            if not rate:
                raise DataError("the container gives no frame rate", path=path)
            header = int(stream.frames) or None
            has_audio = bool(container.streams.audio)
            packets = _count_packets(container, stream)
        decoded = count_decoded_frames(path) if decode else None
        return VideoInfo(header, packets, float(rate), has_audio, decoded)
    except av.FFmpegError as error:
        raise DataError(f"cannot read the video ({error.strerror or error})", path=path) from None
    except OSError as error:
        raise DataError(error.strerror or "cannot be read", path=path) from None


_INDEXED_FORMATS = frozenset({"mov", "mp4"})
"""Containers whose demuxer loads the complete packet index (the MP4 sample table) when the file opens."""


def _count_packets(container: av.container.InputContainer, stream: av.VideoStream) -> int:
    """Non-empty video packets: from the sample table of an MP4/MOV, else by demuxing (no decoding)."""
    entries = getattr(stream, "index_entries", None)  # PyAV 14 on
    if entries is not None and len(entries) and _INDEXED_FORMATS & set(container.format.name.split(",")):
        return sum(1 for entry in entries if entry.size)
    return sum(1 for packet in container.demux(stream) if packet.size)


def count_decoded_frames(path: str | os.PathLike) -> int:
    """Decode every video frame of ``path`` and count them (slow: the whole video is decoded).

    Raises:
        DataError: naming the file when it cannot be read or decoded.
    """
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise DataError("has no video stream", path=path)
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            return sum(1 for _ in container.decode(stream))
    except av.FFmpegError as error:
        raise DataError(f"cannot decode the video ({error.strerror or error})", path=path) from None
    except OSError as error:
        raise DataError(error.strerror or "cannot be read", path=path) from None
