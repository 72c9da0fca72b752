"""abaw: an end-to-end toolkit for the ABAW valence-arousal challenge on Aff-Wild2.

The pipeline reads the dataset as distributed (:mod:`abaw.data`), scores
predictions with the challenge metric (:mod:`abaw.scoring`) and writes the
official prediction files (:mod:`abaw.formats`).
"""

__version__ = "0.1.0.dev0"
