"""What a video container says about its frames, read with PyAV (no ffmpeg binary)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import av

from abaw.errors import DataError


@dataclass(frozen=True)
class VideoInfo:
    """Frame count, frame rate and audio presence of one video file.

    Attributes:
        frames: Number of video frames the container reports; counted from
            the packets when the container does not say.
        fps: Average frame rate.
        has_audio: Whether the file has an audio stream.
    """

    frames: int
    fps: float
    has_audio: bool


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Read frame count and rate of ``path`` from its container.

    Raises:
        DataError: naming the file when it cannot be opened or has no video stream.
    """
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise DataError("has no video stream", path=path)
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            if not rate:
                raise DataError("the container gives no frame rate", path=path)
            frames = stream.frames or sum(1 for packet in container.demux(stream) if packet.size)
            return VideoInfo(frames=int(frames), fps=float(rate), has_audio=bool(container.streams.audio))
    except av.FFmpegError as error:
        raise DataError(f"cannot read the video ({error.strerror or error})", path=path) from None
    except OSError as error:
        raise DataError(error.strerror or "cannot be read", path=path) from None
