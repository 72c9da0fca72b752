"""The audio track: a voice whose loudness and pitch rise with the arousal of the persons on screen."""

from __future__ import annotations

import math

import numpy as np

from abaw.synthetic.plan import VideoPlan, seeded_rng


def voice_track(video: VideoPlan, seed: int, number: int) -> np.ndarray:
    """The soundtrack, ``(channels, samples)`` float32 in [-1, 1].

    A voiced harmonic signal in syllables: loudness and pitch rise with
    arousal (and syllables come faster), valence flattens the spectral tilt.
    In a two-person video the persons take turns, a phrase at a time.
    """
    rng = seeded_rng(seed, number, 8)
    rate = video.audio_rate
    samples = video.frames * rate // video.fps
    times = np.arange(samples) / rate
    frame_times = np.arange(video.frames + 1) / video.fps
    # Speaker per sample: phrases of 3-6 syllables, alternating between persons.
    speaker = np.zeros(samples, dtype=np.int64)
    gate = np.zeros(samples)
    start, syllables_left, current = 0.0, int(rng.integers(3, 7)), 0
    arousal_of = [np.interp(times, frame_times, p.arousal[: len(frame_times)]) for p in video.persons]
    while start < times[-1]:
        level = arousal_of[current][min(int(start * rate), samples - 1)]
        length = rng.uniform(0.15, 0.30)
        first, last = int(start * rate), min(samples, int((start + length) * rate))
        if last > first:
            ramp = np.minimum(1.0, np.minimum(np.arange(last - first), np.arange(last - first)[::-1]) / (0.015 * rate))
            gate[first:last] = np.maximum(gate[first:last], ramp)
            speaker[first:last] = current
        # Calm speech leaves longer gaps.
        start += length + rng.uniform(0.01, 0.03) + 0.04 * (1 - level) / 2
        syllables_left -= 1
        if syllables_left == 0:
            syllables_left = int(rng.integers(3, 7))
            current = (current + 1) % len(video.persons)
    voice = np.zeros(samples)
    for slot, person in enumerate(video.persons):
        mine = speaker == slot
        if not mine.any():
            continue
        arousal = arousal_of[slot]
        valence = np.interp(times, frame_times, person.valence[: len(frame_times)])
        f0 = person.look.voice_f0 + 100.0 * (arousal + 1) / 2  # about 95-230 Hz
        f0 *= 1 + 0.02 * np.sin(2 * np.pi * 5.0 * times)
        phase = 2 * np.pi * np.cumsum(f0) / rate
        tilt = 1.6 - 0.5 * valence
        wave = np.zeros(samples)
        power = np.zeros(samples)
        for harmonic in range(1, 13):
            if harmonic * f0.max() > 0.45 * rate:
                break
            amplitude = np.exp(-tilt * math.log(harmonic))
            wave += amplitude * np.sin(harmonic * phase)
            power += amplitude**2 / 2
        wave /= np.sqrt(power)  # unit RMS whatever the tilt: loudness is arousal's alone
        gain = 10 ** ((-36.0 + 28.0 * (arousal + 1) / 2 + person.look.voice_gain_db) / 20)
        voice += np.where(mine, wave * gain, 0.0)
    # Voicing never stops completely between syllables (co-articulation), as in running speech.
    signal = voice * (0.3 + 0.7 * gate) + rng.normal(0.0, 10 ** (-55 / 20), samples)
    channels = [signal] if video.audio_channels == 1 else [signal, 0.9 * signal]
    return np.clip(np.stack(channels), -1.0, 1.0).astype(np.float32)
