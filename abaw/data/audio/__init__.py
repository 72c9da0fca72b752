"""One audio vector per video frame: openSMILE eGeMAPS low-level descriptors around the frame.

Modules, in the order the data flows: :mod:`~abaw.data.audio.decode` (the
track, 16 kHz mono), :mod:`~abaw.data.audio.config` (feature set and
pooling), :mod:`~abaw.data.audio.windows` (window maths),
:mod:`~abaw.data.audio.opensmile` (the openSMILE wrapper),
:mod:`~abaw.data.audio.cache` (files and freshness),
:mod:`~abaw.data.audio.extract` (the threaded extraction),
:mod:`~abaw.data.audio.normalise` (train statistics) and
:mod:`~abaw.data.audio.load` (features per entry).

The paper's AEG-CD-SZ variant gives its discriminator, for video frame ``t``
(0-based), the audio from the start of frame ``t - 1`` to the end of frame
``t + 1``: the time window ``[(t - 1) / fps, (t + 2) / fps)``, clipped to
``[0, duration]``. openSMILE's low-level descriptors (LLDs) are computed on
60 ms windows every 10 ms; the paper runs openSMILE once per frame window
and keeps its first two LLD frames. Here openSMILE runs ONCE per audio track
and the LLD frames are sliced per window, which gives the same frames at a
small fraction of the cost (``python -m abaw.cli.run_benchmark audio``).

Conventions:

* An LLD frame belongs to a window when its start time (openSMILE's
  ``start`` index, ``k * 10 ms`` on the track's grid) lies in
  ``[window start, window end)``. The first LLD frame of a window therefore
  starts up to 10 ms after the window does when the window start is not on
  the 10 ms grid (frames at 30 fps); at 25 fps every window start is.
* ``first2`` concatenates the window's first two LLD frames. A window with
  one LLD frame repeats it; a window with none (it starts after the last LLD
  frame: the last rows of a track, rows past the end of a truncated track)
  uses the track's last LLD frame twice.
* ``meanstd`` concatenates the mean and the (population) standard deviation
  over the window's LLD frames, with the same fallback (so the standard
  deviation is 0 where a window has one frame).
* A video without a usable audio track (none, undecodable, shorter than one
  60 ms LLD window, or no known frame rate) gets all-zero features, zero
  also after normalisation, and a warning in the report.
* Row ``i`` of an entry's features is 1-based frame ``i + 1``, one row per
  annotation line (``entry.label_rows``; ``entry.frame_count`` for entries
  without labels).

How the one-pass LLDs compare with openSMILE run on each window (the
paper's way), measured on the generated dataset (``tests/test_audio_features.py``):

* Energy and spectral LLDs (loudness, alpha ratio, Hammarberg index, spectral
  slopes, MFCC 1-4; spectral flux from the third frame on) are identical from
  the second LLD frame of a window on. The first frame differs because
  openSMILE's 3-frame smoothing (``_sma3``) has no left neighbour inside a
  short window; the one-pass value is the properly smoothed one.
* Pitch-derived LLDs (F0, HNR, harmonic differences, formants) need more
  context than a 100-120 ms window (60 ms pitch frames, pitch smoothing):
  they agree only inside longer segments (identical in over 99% of the
  values, 2 frames from the start and 10 from the end of 1 s segments).
* Jitter and shimmer depend on the whole preceding pitch-period history and
  agree with no per-segment call.

Extraction writes, under ``CACHE/audio/<config key>/``, one ``<video
stem>.npz`` per video (``_left``/``_right`` entries share it), keyed on the
video's content key (size and a digest of three parts, kept by a copy) and
the configuration; ``stats.json``
with the train split's per-dimension mean and standard deviation; and
``report.json``.
"""

from abaw.data.audio.cache import AudioFeaturesNotReady, features_folder
from abaw.data.audio.config import AudioFeatureConfig, FeatureSet, Pooling
from abaw.data.audio.extract import AudioFeatureReport, extract_audio_features
from abaw.data.audio.load import AudioFeatures, entries_without_audio_source, load_audio_features
from abaw.data.audio.opensmile import compute_llds, video_audio_features
from abaw.data.audio.windows import frame_windows, lld_ranges, pool_llds

__all__ = [
    "AudioFeatureConfig",
    "AudioFeatureReport",
    "AudioFeatures",
    "AudioFeaturesNotReady",
    "FeatureSet",
    "Pooling",
    "compute_llds",
    "entries_without_audio_source",
    "extract_audio_features",
    "features_folder",
    "frame_windows",
    "lld_ranges",
    "load_audio_features",
    "pool_llds",
    "video_audio_features",
]
