"""Figures of a trained model, as PNG files (``abaw plot``).

- :mod:`abaw.plots.affect`: valence and arousal of one video over time,
  labels against predictions (the paper's Fig. 3).
- :mod:`abaw.plots.reconstruction`: clean, noisy and cleaned faces with the
  generator's latent map (the paper's Fig. 2).
- :mod:`abaw.plots.run`: :func:`plot_run`, both for a checkpoint and a split.
"""

from __future__ import annotations

from abaw.plots.affect import AffectSeries, affect_series, plot_affect_over_time
from abaw.plots.reconstruction import FaceSample, Reconstruction, plot_reconstruction, reconstruct_faces, sample_faces
from abaw.plots.run import PlotReport, PlottedFigure, plot_run

__all__ = [
    "AffectSeries",
    "FaceSample",
    "PlotReport",
    "PlottedFigure",
    "Reconstruction",
    "affect_series",
    "plot_affect_over_time",
    "plot_reconstruction",
    "plot_run",
    "reconstruct_faces",
    "sample_faces",
]
