"""Per-frame embeddings of a trained model, cached one file per entry for temporal models.

Modules: :mod:`~abaw.data.embeddings.cache` (files, manifest and
freshness) and :mod:`~abaw.data.embeddings.load` (features per entry). The
extraction needs a model, so it lives above the data layer, in
:mod:`abaw.prediction.embed`.

An embedding is, per face frame, the discriminator's pooled features before
its heads (the conditional discriminator's last map averaged over space; a
timm trunk's pooled features, joined by its latent code; a timm regressor's
pre-logits), followed for models with a generator by the generator's latent
map averaged over space. Frames are read and the model fed exactly as in
``abaw predict`` (clean images; the audio the model was trained with,
normalised with its training statistics).

Conventions:

* Row ``i`` of an entry's arrays is 1-based frame ``i + 1``, one row per
  annotation line (``entry.label_rows``; the frame count for test entries).
* Frames without a face image get zeros and ``has_face`` False.
* ``CACHE/embeddings/<name>/embeddings.json`` names the checkpoint and its
  SHA-256; an entry made from another checkpoint (or for other rows or face
  frames) is out of date and extracted again.
"""

from abaw.data.embeddings.cache import (
    EmbeddingsNotReady,
    FeatureKind,
    Manifest,
    checkpoint_fingerprint,
    embeddings_folder,
)
from abaw.data.embeddings.load import Embeddings, load_embeddings

__all__ = [
    "Embeddings",
    "EmbeddingsNotReady",
    "FeatureKind",
    "Manifest",
    "checkpoint_fingerprint",
    "embeddings_folder",
    "load_embeddings",
]
