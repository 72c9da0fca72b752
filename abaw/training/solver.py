"""One optimisation step of the ALN: the discriminator (D) step and the generator (G) step, kept apart.

Adversarial variants (AEG-CD, AEG-CD-SZ), WGAN-GP as in StarGAN:

* **D step**, every iteration. The generator cleans the noisy images
  without gradient; the conditional discriminator scores clean real images
  against those fakes, regresses valence and arousal on the real images,
  and is held to unit gradient norm between the two::

      L_D = -mean(D_src(x_r)) + mean(D_src(G(x_n))) + l_afc * L_afc(D_va(x_r), y) + l_gp * GP

  Two settings change it. ``d_affect=real+fake`` (the default) replaces the
  affect term by the mean of ``L_afc(D_va(x_r), y)`` and
  ``L_afc(D_va(G(x_n)), y)`` (the paper's text, eqs. 3-4: the VA head also
  learns the cleaned faces it reads at inference; ``d_affect=real`` is the
  equation above, the authors' code), and ``drift=eps`` (off by default) adds ProGAN's ``eps * mean(D_src(x_r)^2)``
  (logged unweighted as ``D/drift``) so the real/fake scores cannot run away.
  ``lr_d`` and ``lr_g`` give the two networks their own Adam rates (two
  time scales).

* **G step**, once every ``n_critic`` iterations (counted in iterations,
  not epochs as the authors' code did). The discriminator is frozen; the
  generator must fool it, survive being applied twice (cycle loss) and let
  it read the affect from the cleaned image::

      L_G = -mean(D_src(G(x_n))) + l_rec * mean|x_r - G(G(x_n))| + l_afc * L_afc(D_va(G(x_n)), y)

* **Warm-up**, the first ``warmup_steps`` iterations of an adversarial run
  (0 by default, the paper's schedule). The generator trains alone as a
  denoising auto-encoder and the discriminator (from ``--init``, e.g. Disc)
  is left as it is, so the GAN starts from a generator that already passes
  a face through instead of one the critic beats at once::

      L_warmup = mean|x_r - G(x_n)| + mean|x_r - G(G(x_n))|

  The steps are counted in the solver's iterations, which checkpoints store,
  so a run resumed in the middle of its warm-up continues it exactly.

The Disc variant and the timm regressor baseline have no generator: their
step is the affect loss on clean images alone, logged under ``D/``.

Every loss term lands in one dict keyed ``D/...`` and ``G/...``.

**Synced and raw modules under DistributedDataParallel.** The solver holds
each network twice: ``synced_discriminator`` / ``synced_generator`` are the
DDP wrappers (alone, without ``torchrun``, the plain modules), and
``raw_discriminator`` / ``raw_generator`` the modules themselves. DDP
expects one forward through the wrapper per backward: that forward
prepares the gradient all-reduce. So each step sends exactly one pass per
network through its wrapper and every other pass bypasses it:

* D step: the critic on real and on fake images is synced (one pass over
  both stacked on CPU, see ``_critic_real_and_fake``); the generator
  runs raw under ``no_grad`` (nothing to sync), and so does the real
  latent; the gradient penalty's critic pass runs raw.
* G step: the first generator pass is synced; the cycle pass (the
  generator applied again) and the frozen critic run raw.

A raw pass that needs gradients uses the same parameters as the synced one,
so autograd sums both into each parameter's gradient before DDP's hook
all-reduces it: the bypass loses nothing, it only avoids a second prepare.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from abaw.data.samples import Batch
from abaw.fitting.affect_loss import affect_loss
from abaw.fitting.class_weights import sample_weights
from abaw.model import AffectModel
from abaw.runtime.devices import Distributed
from abaw.training.config import DiscriminatorAffect, Precision, RealLatent, TrainConfig
from abaw.training.losses import (
    critic_loss,
    cycle_loss,
    drift_penalty,
    generator_adversarial_loss,
    gradient_penalty,
)
from abaw.training.noise import NoiseConfig, add_noise


def uses_bf16(precision: Precision, device: torch.device) -> bool:
    """bf16 autocast on CUDA for ``auto`` and ``bf16``; CPU runs fp32 unless ``bf16`` is asked for."""
    if precision is Precision.FP32:
        return False
    return precision is Precision.BF16 or device.type == "cuda"


def has_batch_norm(module: nn.Module) -> bool:
    """Whether ``module`` holds a batch-norm layer (its output for one sample then depends on the others)."""
    return any(isinstance(layer, nn.modules.batchnorm._BatchNorm) for layer in module.modules())


def set_requires_grad(module: nn.Module, flag: bool) -> None:
    """Freeze or unfreeze every parameter of ``module``."""
    for parameter in module.parameters():
        parameter.requires_grad_(flag)


SCALARS_FROM_ZERO = ("residual_scale", "latent_gate")
"""The parameters that start at 0 and open a path (the residual generator's scale, the latent gate)."""


def parameter_groups(module: nn.Module, lr: float, config: TrainConfig) -> list[dict]:
    """Adam's parameter groups of ``module``: its weights at ``lr``, and its scalars learned from 0 at ``gate_lr``.

    A scalar moves by about the learning rate per Adam step whatever its
    gradient, so at the weights' rate a gate opened from 0 stays nearly shut
    for a short stage; ``gate_lr`` lets it open (the default keeps ``lr``).
    """
    named = list(module.named_parameters())
    scalars = [param for name, param in named if name.rsplit(".", 1)[-1] in SCALARS_FROM_ZERO]
    weights = [param for name, param in named if name.rsplit(".", 1)[-1] not in SCALARS_FROM_ZERO]
    groups = [{"params": weights, "lr": lr}]
    if scalars:
        groups.append({"params": scalars, "lr": config.gate_lr if config.gate_lr is not None else lr})
    return groups


class Solver:
    """Holds the model, its optimisers and the loss settings; :meth:`step` runs one iteration.

    Args:
        model: The model to train (already on ``dist.device``).
        config: The run's settings (lambdas, n_critic, lr, noise, precision).
        class_weights: ``(2, 21)`` affect-loss weights of the trained frames.
        dist: Process placement; the generator and discriminator are wrapped
            in DistributedDataParallel when it is enabled.
    """

    def __init__(self, model: AffectModel, config: TrainConfig, class_weights: torch.Tensor, dist: Distributed):
        self.model = model
        self.config = config
        self.device = dist.device
        self.class_weights = class_weights.to(self.device)
        self.noise = NoiseConfig.from_dict(
            {"clean_probability": config.noise_clean_probability, "artifacts": list(config.noise_artifacts)}
        )
        self.bf16 = uses_bf16(config.precision, self.device)
        # CUDA only: on CPU, oneDNN's channels-last kernels made the critic step slower (measured on AMD EPYC).
        self.channels_last = config.channels_last and self.device.type == "cuda"
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        # See the module docstring for which passes go through the synced (DDP) modules and which bypass them.
        self.raw_discriminator: nn.Module = model.discriminator
        # CPU only: the CUDA path keeps its two measured passes (no GPU here to measure the joint one).
        self.joint_critic = self.device.type == "cpu" and not has_batch_norm(model.discriminator)
        self.raw_generator: nn.Module | None = model.generator
        self.synced_discriminator = self._wrap(model.discriminator, dist, every_parameter_used=model.adversarial)
        self.synced_generator = self._wrap(model.generator, dist, True) if model.generator is not None else None
        betas = tuple(config.betas)
        self.optimizers = {
            "D": torch.optim.Adam(parameter_groups(model.discriminator, config.discriminator_lr, config), betas=betas)
        }
        if model.generator is not None:
            groups = parameter_groups(model.generator, config.generator_lr, config)
            self.optimizers["G"] = torch.optim.Adam(groups, betas=betas)
        self.iteration = 0
        self.noise_generator = torch.Generator(self.device)

    @staticmethod
    def _wrap(module: nn.Module, dist: Distributed, every_parameter_used: bool) -> nn.Module:
        if not dist.enabled:
            return module
        device_ids = [dist.device.index] if dist.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=device_ids, find_unused_parameters=not every_parameter_used)

    # -- helpers -------------------------------------------------------------

    def seed_noise(self, seed: int) -> None:
        """Reseed the noise and gradient-penalty draws (per epoch and rank, so a resumed run repeats them)."""
        self.noise_generator.manual_seed(seed)

    def _autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    def _critic(self, critic: nn.Module, image, latent, audio):
        """``critic`` (synced or raw discriminator) on ``image``; latent and audio only where the model takes them."""
        return critic(image, *self.model.discriminator_inputs(latent, audio))

    def _affect(self, prediction: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return affect_loss(prediction.float(), targets, sample_weights(targets, self.class_weights))

    # -- the steps -----------------------------------------------------------

    def step(self, batch: Batch) -> dict[str, float]:
        """One training iteration; returns the loss terms logged in it."""
        self.model.train()
        if not self.model.adversarial:
            losses = self.affect_step(batch)
        elif self.warming_up:
            losses = self.warmup_step(batch)
        else:
            losses = self.discriminator_step(batch)
            if (self.iteration + 1) % self.config.n_critic == 0:
                losses.update(self.generator_step(batch))
        self.iteration += 1
        # One device-to-host copy for all the terms: a float() per term would stall the GPU a dozen times a step.
        values = torch.stack([value.detach().float() for value in losses.values()]).tolist()
        return dict(zip(losses, values, strict=True))

    @property
    def warming_up(self) -> bool:
        """Whether the next iteration is a generator warm-up step (adversarial variants only)."""
        return self.model.adversarial and self.iteration < self.config.warmup_steps

    def warmup_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        """The generator alone as a denoising auto-encoder: noisy -> clean, L1 plus the cycle loss."""
        noisy = add_noise(batch.images, self.noise, generator=self.noise_generator)
        with self._autocast():
            cleaned, _ = self.synced_generator(noisy)
            twice, _ = self.raw_generator(cleaned)
        clean = batch.images.float()
        reconstruction = cycle_loss(clean, cleaned.float())
        cycle = cycle_loss(clean, twice.float())
        loss = reconstruction + cycle
        self._update("G", loss)
        return {
            "G/warmup/loss": loss.detach(),
            "G/warmup/l1": reconstruction.detach(),
            "G/warmup/cycle": cycle.detach(),
        }

    def affect_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Disc and regressor variants: the affect loss on clean images (``noise_augment``: noisy as the AEG's)."""
        images = batch.images
        if self.config.noise_augment:
            images = add_noise(images, self.noise, generator=self.noise_generator)
        with self._autocast():
            _, va = self._critic(self.synced_discriminator, images, None, batch.audio)
        loss, terms = self._affect(va, batch.targets)
        self._update("D", loss)
        return {"D/loss": loss.detach(), **{f"D/{key}": value for key, value in terms.items()}}

    def discriminator_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        """WGAN-GP critic update with the affect loss on real (and, with ``d_affect=real+fake``, fake) images."""
        config = self.config
        noisy = add_noise(batch.images, self.noise, generator=self.noise_generator)
        with torch.no_grad(), self._autocast():
            fake, fake_latent = self.raw_generator(noisy)
            real_latent = self._real_latent(batch.images, fake_latent)
        fake, fake_latent = fake.float(), fake_latent.float()
        real_latent = real_latent.float()
        real_src, real_va, fake_src, fake_va = self._critic_real_and_fake(
            batch.images, real_latent, fake, fake_latent, batch.audio
        )
        adversarial = critic_loss(real_src.float(), fake_src.float())
        affect, terms = self._affect(real_va, batch.targets)
        logged_affect = {}
        if config.d_affect is DiscriminatorAffect.REAL_AND_FAKE:
            fake_affect, _ = self._affect(fake_va, batch.targets)
            logged_affect = {"D/affect_real": affect.detach(), "D/affect_fake": fake_affect.detach()}
            affect = (affect + fake_affect) / 2
        drift = drift_penalty(real_src.float())

        def critic_src(image, *latent):
            src, _ = self._critic(self.raw_discriminator, image, latent[0] if latent else None, batch.audio)
            return src

        inputs_real, inputs_fake = (batch.images,), (fake,)
        if self.model.config.use_latent:
            inputs_real, inputs_fake = (batch.images, real_latent), (fake, fake_latent)
        penalty = gradient_penalty(critic_src, inputs_real, inputs_fake, generator=self.noise_generator)
        loss = adversarial + config.lambda_afc * affect + config.lambda_gp * penalty
        if config.drift:
            loss = loss + config.drift * drift
        self._update("D", loss)
        return {
            "D/loss": loss.detach(),
            "D/real": -real_src.detach().float().mean(),
            "D/fake": fake_src.detach().float().mean(),
            "D/gp": penalty.detach(),
            "D/drift": drift.detach(),
            "D/affect": affect.detach(),
            **logged_affect,
            **{f"D/{key}": value for key, value in terms.items()},
        }

    def _critic_real_and_fake(self, real, real_latent, fake, fake_latent, audio):
        """``(real_src, real_va, fake_src, fake_va)``: the synced critic on the real and the fake images.

        A critic without batch norm scores each sample on its own, so on CPU
        one pass over the two halves stacked gives the same scores as two
        passes and costs less (bigger matrix products: about 5 % of a D step
        on 2 EPYC cores). With batch norm, and on CUDA, two passes.
        """
        with self._autocast():
            if not self.joint_critic:
                real_src, real_va = self._critic(self.synced_discriminator, real, real_latent, audio)
                fake_src, fake_va = self._critic(self.synced_discriminator, fake, fake_latent, audio)
                return real_src, real_va, fake_src, fake_va
            images = torch.cat([real, fake])
            latent = torch.cat([real_latent, fake_latent])
            both_audio = None if audio is None else torch.cat([audio, audio])
            src, va = self._critic(self.synced_discriminator, images, latent, both_audio)
        count = real.shape[0]
        return src[:count], va[:count], src[count:], va[count:]

    def _real_latent(self, clean: torch.Tensor, fake_latent: torch.Tensor) -> torch.Tensor:
        if not self.model.config.use_latent or self.config.real_latent is RealLatent.ZEROS:
            return torch.zeros_like(fake_latent)
        _, latent = self.raw_generator(clean)
        return latent

    def generator_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Generator update against the frozen discriminator, with cycle and affect losses."""
        config = self.config
        noisy = add_noise(batch.images, self.noise, generator=self.noise_generator)
        set_requires_grad(self.raw_discriminator, False)
        try:
            with self._autocast():
                cleaned, latent = self.synced_generator(noisy)
                twice, _ = self.raw_generator(cleaned)
                fake_src, fake_va = self._critic(self.raw_discriminator, cleaned, latent, batch.audio)
            adversarial = generator_adversarial_loss(fake_src.float())
            cycle = cycle_loss(batch.images.float(), twice.float())
            affect, terms = self._affect(fake_va, batch.targets)
            loss = adversarial + config.lambda_rec * cycle + config.lambda_afc * affect
            self._update("G", loss)
        finally:
            set_requires_grad(self.raw_discriminator, True)
        return {
            "G/loss": loss.detach(),
            "G/adversarial": adversarial.detach(),
            "G/cycle": cycle.detach(),
            "G/affect": affect.detach(),
            **{f"G/{key}": value for key, value in terms.items()},
        }

    def _update(self, which: str, loss: torch.Tensor) -> None:
        optimizer = self.optimizers[which]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    # -- state ---------------------------------------------------------------

    def optimizer_states(self) -> dict[str, dict]:
        """Optimiser states by name (``D`` and, for adversarial variants, ``G``)."""
        return {name: optimizer.state_dict() for name, optimizer in self.optimizers.items()}

    def load_optimizer_states(self, states: dict[str, dict]) -> None:
        """Restore :meth:`optimizer_states` (resuming)."""
        for name, optimizer in self.optimizers.items():
            if name in states:
                optimizer.load_state_dict(states[name])
