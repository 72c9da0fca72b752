"""Training the ALN model: the noise model, the losses, the class-balanced weights, the solver and the trainer.

* :mod:`abaw.training.noise` degrades clean faces into the auto-encoder
  generator's input (downsampling, blur, Gaussian noise, brightness, and the
  optional grayscale and occlusion), batched on the images' device.
* :mod:`abaw.training.losses` holds the affect loss (weighted RMSE minus PCC
  minus CCC per dimension) and the WGAN-GP terms: critic and generator
  adversarial losses, gradient penalty and cycle loss.
* :mod:`abaw.training.class_weights` turns the training labels into the 21-bin
  class-balanced weights of the affect loss and looks them up per sample.
* :mod:`abaw.training.solver` runs one D and G step (with DDP under ``torchrun``).
* :mod:`abaw.training.prepare` builds a run's state before its first epoch
  (run folder, data, weights, audio, model, loader); :mod:`abaw.training.trainer`
  runs the epochs: train, evaluate, save.

Checkpoints, devices and evaluation live below, in :mod:`abaw.runtime`.

The submodules import :mod:`torch`; this package module does not, so that
importing :mod:`abaw` stays light.
"""
