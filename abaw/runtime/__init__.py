"""What training and prediction share, below both: checkpoints, devices, the run folder, evaluation.

* :mod:`abaw.runtime.checkpoint`: save, load and check checkpoints; rebuild a model from one.
* :mod:`abaw.runtime.devices`: the device, and the process group under ``torchrun``.
* :mod:`abaw.runtime.rundir`: :class:`RunDir`, the names and rules of a run folder.
* :mod:`abaw.runtime.evaluation`: batched inference, and :func:`~abaw.runtime.evaluation.evaluate`
  (predict a labelled split and score it the way the challenge does).

Imports point one way: data <- model <- runtime <- training, prediction <- demo <- cli.
Only :mod:`abaw.runtime.rundir` is imported here: the other submodules import :mod:`torch`.
"""

from __future__ import annotations

from abaw.runtime.rundir import RunDir, resolve_checkpoint

__all__ = ["RunDir", "resolve_checkpoint"]
