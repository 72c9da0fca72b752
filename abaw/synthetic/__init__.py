"""A small synthetic dataset laid out exactly like the licensed Aff-Wild2.

Not a reader of the real data: it writes a dataset for the readers under
:mod:`abaw.data` to read. Modules: :mod:`~abaw.synthetic.config` (what to
generate and what was), :mod:`~abaw.synthetic.plan` (persons, labels,
quirks), :mod:`~abaw.synthetic.faces` (drawing), :mod:`~abaw.synthetic.wild`
(in-the-wild degradations of the crops), :mod:`~abaw.synthetic.degradations`
(their per-entry record and its reader), :mod:`~abaw.synthetic.audio` (the
voice), :mod:`~abaw.synthetic.video` (one video and its face crops) and
:mod:`~abaw.synthetic.layout` (the folder tree, the annotation files and the
manifest).

The real data cannot be downloaded here, so tests and the demo run on a
generated root that :func:`abaw.data.layout.discover_layout` reads with no
options, for every :class:`~abaw.data.layout.Edition`: videos with an audio
track in ``batch1/``, ``batch2/`` (and ``new_vids/``), 112x112 face crops in
``cropped_aligned*/<name>/%05d.jpg``, one annotation file per labelled entry
and the test list, with the quirks of the real data (one label line more than
the video has frames, and two more in one validation entry; one AVI whose
header counts two zero-size packets, so it says two frames more than it
decodes to; ``-5`` runs, frames without a detected face, two-person videos
with ``_left``/``_right`` entries).

The content is learnable on purpose: valence drives the mouth (curvature,
lip colour, teeth of a smile), arousal drives the eyes (opening) and brows
(height), and the audio is a voice whose loudness and pitch rise with
arousal. Identity (skin, face size and position, hair, glasses, beard,
background) varies per person, so a model has to read the expression, not
the person; :meth:`GeneratorConfig.many_identities` makes many short clips
rather than a few long ones. About 30 % of every person's frames, in runs,
are degraded as real crops are (motion blur, low resolution, JPEG blocks,
bad exposure, sensor noise, a hand over the face, the head turned away),
and :func:`~abaw.synthetic.degradations.read_degradations` says which.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> from abaw.data.layout import Split, discover_layout
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     dataset = generate_dataset(Path(folder) / "affwild2", GeneratorConfig(videos=6, frames=12))
    ...     layout = discover_layout(dataset.root)
    >>> sorted(layout.videos) == sorted({entry.video.stem for entry in dataset.entries.values()})
    True
    >>> dataset.names(Split.TRAIN)
    ['video10_1_left', 'video10_1_right']
"""

from abaw.synthetic.config import GeneratedDataset, GeneratedEntry, GeneratorConfig
from abaw.synthetic.layout import generate_dataset

__all__ = ["GeneratedDataset", "GeneratedEntry", "GeneratorConfig", "generate_dataset"]
