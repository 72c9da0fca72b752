"""Training the ALN model: the noise model, the adversarial losses, the solver, the trainer and the stages.

* :mod:`abaw.training.config`: the run's settings (:class:`~abaw.training.config.TrainConfig`).
* :mod:`abaw.training.noise` degrades clean faces into the auto-encoder
  generator's input (downsampling, blur, Gaussian noise, brightness, and the
  optional grayscale and occlusion), batched on the images' device.
* :mod:`abaw.training.losses` holds the WGAN-GP terms: critic and generator
  adversarial losses, gradient penalty and cycle loss (the affect loss and its
  class-balanced weights, shared with the temporal trainer, are in :mod:`abaw.fitting`).
* :mod:`abaw.training.solver` runs one D and G step (with DDP under ``torchrun``).
* :mod:`abaw.training.prepare` builds a run's state before its first epoch
  (data, weights, audio, model, loader); :mod:`abaw.training.trainer` runs the
  epochs on :func:`abaw.fitting.loop.run_epochs`; :mod:`abaw.training.progressive`
  trains the paper's chain of stages.

The submodules import :mod:`torch`; this package module does not, so that
importing :mod:`abaw` stays light.
"""
