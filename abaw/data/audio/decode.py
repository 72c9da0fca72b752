"""The audio track of a video, decoded with PyAV (no ffmpeg binary) to 16 kHz mono.

openSMILE's eGeMAPS configurations are tuned for speech at 16 kHz, and one
rate for every video makes the LLD frames of all videos comparable, so every
track is downmixed and resampled on decoding.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import av
import numpy as np

from abaw.errors import DataError

AUDIO_RATE = 16_000
"""Sample rate every audio track is resampled to."""


@dataclass(frozen=True)
class AudioTrack:
    """A decoded audio track.

    Attributes:
        samples: Mono float32 samples in [-1, 1], time 0 being the start of the video.
        rate: Samples per second.

    Example:
        >>> AudioTrack(np.zeros(8000, dtype=np.float32), 16000).duration
        0.5
    """

    samples: np.ndarray
    rate: int

    @property
    def duration(self) -> float:
        """Length of the track in seconds."""
        return len(self.samples) / self.rate


def read_audio(path: str | os.PathLike, rate: int = AUDIO_RATE) -> AudioTrack:
    """Decode the first audio stream of ``path``, downmixed to mono and resampled to ``rate``.

    The samples are shifted so that time 0 is the start of the video stream:
    a track that starts late is preceded by silence, one that starts early
    loses its head. Video frame ``t`` (0-based) then spans
    ``[t / fps, (t + 1) / fps)`` of the track.

    Args:
        path: A video (or audio) file.
        rate: Output sample rate.

    Raises:
        DataError: naming the file when it has no audio stream or the audio does not decode.
    """
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise DataError("has no audio track", path=path)
            stream = container.streams.audio[0]
            video_start = _stream_start(container.streams.video[0]) if container.streams.video else 0.0
            resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
            chunks: list[np.ndarray] = []
            first_time: float | None = None
            for frame in container.decode(stream):
                if first_time is None:
                    first_time = 0.0 if frame.time is None else float(frame.time)
                chunks.extend(resampled.to_ndarray().reshape(-1) for resampled in resampler.resample(frame))
            chunks.extend(resampled.to_ndarray().reshape(-1) for resampled in resampler.resample(None))
    except av.FFmpegError as error:
        raise DataError(f"cannot read the audio ({error.strerror or error})", path=path) from None
    except OSError as error:
        raise DataError(error.strerror or "cannot be read", path=path) from None
    samples = np.concatenate(chunks).astype(np.float32, copy=False) if chunks else np.zeros(0, dtype=np.float32)
    if not len(samples):
        raise DataError("the audio track decodes to no samples", path=path)
    shift = round(((first_time or 0.0) - video_start) * rate)
    if shift > 0:
        samples = np.concatenate([np.zeros(shift, dtype=np.float32), samples])
    elif shift < 0:
        samples = samples[-shift:]
    return AudioTrack(samples=np.ascontiguousarray(samples), rate=rate)


def _stream_start(stream: av.stream.Stream) -> float:
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    return float(stream.start_time * stream.time_base)
