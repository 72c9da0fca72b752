"""Training the ALN model: the noise model, the losses and the class-balanced weights.

* :mod:`abaw.training.noise` degrades clean faces into the auto-encoder
  generator's input (downsampling, blur, Gaussian noise, brightness, and the
  optional grayscale and occlusion), batched on the images' device.
* :mod:`abaw.training.losses` holds the affect loss (weighted RMSE minus PCC
  minus CCC per dimension) and the WGAN-GP terms: critic and generator
  adversarial losses, gradient penalty and cycle loss.
* :mod:`abaw.training.class_weights` turns the training labels into the 21-bin
  class-balanced weights of the affect loss and looks them up per sample.

The submodules import :mod:`torch`; this package module does not, so that
importing :mod:`abaw` stays light.
"""
