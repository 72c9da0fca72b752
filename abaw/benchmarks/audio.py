"""Benchmark: per-frame audio features from one openSMILE pass per track vs one call per frame window.

Writes a synthetic voice track (harmonic speech in syllables whose loudness
and pitch follow a slow arousal-like curve; 60 s by default) as AAC in an
MP4, then times, for a video of ``--fps`` frames per second:

* decoding and resampling the track to 16 kHz mono (PyAV);
* one openSMILE pass over the track plus slicing and pooling per frame
  (what ``abaw features audio`` does);
* one openSMILE call per frame window (the paper's way), on ``--sample``
  windows spread over the track, extrapolated to every frame.

The real-time factor (RTF) is compute seconds per second of audio: below 1
is faster than real time. One thread. :func:`main` returns the figures;
``abaw benchmark`` (or ``python -m abaw.cli.run_benchmark audio``) draws them.

Run: ``python -m abaw.cli.run_benchmark audio [--seconds 60] [--fps 30] [--sample 200]``
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np

from abaw.benchmarks import SCRIPT
from abaw.data.audio import (
    AudioFeatureConfig,
    compute_llds,
    frame_windows,
    lld_ranges,
    pool_llds,
    video_audio_features,
)
from abaw.data.audio.decode import AUDIO_RATE, read_audio
from abaw.progress import ProgressFn, no_progress


def synthetic_voice(seconds: float, rate: int = 44_100, seed: int = 0) -> np.ndarray:
    """A mono float32 voice: syllables of a harmonic tone whose loudness and pitch rise with a slow curve."""
    rng = np.random.default_rng(seed)
    times = np.arange(round(seconds * rate)) / rate
    arousal = 0.6 * np.sin(2 * np.pi * times / 17.0) + 0.3 * np.sin(2 * np.pi * times / 5.3 + 1.0)
    f0 = 110.0 + 60.0 * (arousal + 1) / 2
    phase = 2 * np.pi * np.cumsum(f0) / rate
    wave = sum(np.sin(k * phase) / k**1.5 for k in range(1, 11))
    syllable = 0.5 + 0.5 * np.sin(2 * np.pi * times * 4.0 + rng.uniform(0, 2 * np.pi)) ** 2
    gain = 10 ** ((-30.0 + 20.0 * (arousal + 1) / 2) / 20)
    voice = wave * syllable * gain + rng.normal(0.0, 1e-3, len(times))
    return np.clip(voice, -1.0, 1.0).astype(np.float32)


def write_track(path: Path, samples: np.ndarray, rate: int = 44_100) -> Path:
    """Write ``samples`` as the AAC track of an MP4 without video."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=rate)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="fltp", layout="mono")
        frame.sample_rate = rate
        frame.pts = 0
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def per_window_seconds(samples: np.ndarray, fps: float, frames: int, sample: int, config: AudioFeatureConfig) -> float:
    """Seconds per frame of running openSMILE on each frame window, averaged over ``sample`` windows."""
    starts, ends = frame_windows(frames, fps, len(samples) / AUDIO_RATE)
    chosen = np.unique(np.linspace(0, frames - 1, min(sample, frames)).round().astype(int))
    began = time.perf_counter()
    for row in chosen:
        window = samples[round(starts[row] * AUDIO_RATE) : round(ends[row] * AUDIO_RATE)]
        lld_starts, llds = compute_llds(window, AUDIO_RATE, config.feature_set)
        lo, hi = lld_ranges(lld_starts, np.zeros(1), np.full(1, len(window) / AUDIO_RATE))
        pool_llds(llds, lo, hi, config.pooling)
    return (time.perf_counter() - began) / len(chosen)


@dataclass(frozen=True)
class AudioBenchmark:
    """The figures of one run (seconds of one thread).

    Attributes:
        options: The options the benchmark ran with.
        config_key: The feature configuration, e.g. ``'eGeMAPSv02-first2'``.
        audio_seconds: Length of the decoded track.
        fps: Frame rate of the video the track belongs to.
        frames: Frames of that video.
        decode: Decoding and resampling the track.
        one_pass: One openSMILE pass over the track.
        slicing: Slicing and pooling every frame window.
        per_call: One openSMILE call on one frame window, averaged.
        sampled: Frame windows timed for ``per_call``.
    """

    options: dict[str, Any]
    config_key: str
    audio_seconds: float
    fps: float
    frames: int
    decode: float
    one_pass: float
    slicing: float
    per_call: float
    sampled: int

    @property
    def per_window(self) -> float:
        """One openSMILE call per frame, extrapolated to every frame."""
        return self.per_call * self.frames

    @property
    def one_pass_total(self) -> float:
        """One pass plus slicing: what ``abaw features audio`` costs after decoding."""
        return self.one_pass + self.slicing


def parse_options(argv: list[str] | None = None) -> argparse.Namespace:
    """The benchmark's options."""
    parser = argparse.ArgumentParser(prog=f"{SCRIPT} audio", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="Length of the audio track.")
    parser.add_argument("--fps", type=float, default=30.0, help="Frame rate of the video the track belongs to.")
    parser.add_argument("--sample", type=int, default=200, help="Frame windows timed for the per-window way.")
    parser.add_argument("--feature-set", default="eGeMAPSv02")
    parser.add_argument("--pooling", default="first2")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, progress: ProgressFn = no_progress) -> AudioBenchmark:
    """Run the benchmark with the options ``argv``; its figures. ``progress`` wraps the slow per-window timing."""
    args = parse_options(argv)
    config = AudioFeatureConfig(args.feature_set, args.pooling)
    frames = math.floor(args.seconds * args.fps)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_track(Path(tmp) / "track.mp4", synthetic_voice(args.seconds))
        began = time.perf_counter()
        track = read_audio(path)
        decode = time.perf_counter() - began
    compute_llds(track.samples[:AUDIO_RATE], AUDIO_RATE, config.feature_set)  # load openSMILE before timing
    began = time.perf_counter()
    lld_starts, llds = compute_llds(track.samples, track.rate, config.feature_set)
    one_pass = time.perf_counter() - began
    began = time.perf_counter()
    starts, ends = frame_windows(frames, args.fps, track.duration)
    lo, hi = lld_ranges(lld_starts, starts, ends)
    features = pool_llds(llds, lo, hi, config.pooling)
    slicing = time.perf_counter() - began
    assert features.shape == (frames, config.dim)
    assert np.array_equal(features, video_audio_features(track.samples, track.rate, args.fps, frames, config))
    sampled = min(args.sample, frames)
    for _ in progress([None], f"timing {sampled} openSMILE calls, one per frame window", 1):
        per_call = per_window_seconds(track.samples, args.fps, frames, args.sample, config)
    return AudioBenchmark(
        options=vars(args),
        config_key=config.key,
        audio_seconds=track.duration,
        fps=args.fps,
        frames=frames,
        decode=decode,
        one_pass=one_pass,
        slicing=slicing,
        per_call=per_call,
        sampled=sampled,
    )
