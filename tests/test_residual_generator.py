"""The residual generator (identity at initialisation), the latent gate (closed at initialisation), the Disc's
noise control, and old runs that load and resume as they were trained (issue 20)."""

from __future__ import annotations

import pytest
import torch

from abaw.data.samples import Batch
from abaw.errors import AbawError
from abaw.model import GeneratorKind, LatentInjection, ModelConfig, create_model, model_config
from abaw.model.aeg import AutoEncoderGenerator
from abaw.model.cd import ConditionalDiscriminator
from abaw.prediction.open import load_trained_model
from abaw.runtime.checkpoint import save_checkpoint
from abaw.runtime.devices import Distributed
from abaw.training.config import TrainConfig
from abaw.training.prepare import build_model
from abaw.training.solver import Solver
from abaw.training.trainer import resume_config, train


def faces(batch: int = 3, size: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_the_residual_generator_is_exactly_the_identity_at_first_and_learns_its_scale():
    torch.manual_seed(0)
    generator = AutoEncoderGenerator(width=4, residual=True)
    images = faces()
    cleaned, latent = generator(images)
    assert torch.equal(cleaned, images)
    assert latent.shape == (3, 16, 8, 8)
    (cleaned - images.flip(0)).abs().mean().backward()
    assert generator.residual_scale.grad is not None and generator.residual_scale.grad.abs() > 0
    # The decoder learns only once the scale has moved off 0.
    assert all(param.grad is None or not param.grad.any() for param in generator.decoder.parameters())


def test_the_papers_generator_keeps_exactly_the_authors_parameters():
    paper, residual = AutoEncoderGenerator(width=4), AutoEncoderGenerator(width=4, residual=True)
    assert set(residual.state_dict()) - set(paper.state_dict()) == {"residual_scale"}
    assert paper.residual_scale is None


@pytest.mark.parametrize("injection", list(LatentInjection))
def test_the_gate_is_exactly_closed_at_first_and_opens_by_learning(injection):
    torch.manual_seed(0)
    cd = ConditionalDiscriminator(width=4, latent_channels=16, injection=injection, image_size=32, latent_gate=True)
    images = faces()
    latent = torch.randn(3, 16, 8, 8)
    src, va = cd(images, latent=latent)
    zero_src, zero_va = cd(images, latent=torch.zeros_like(latent))
    assert torch.equal(va, zero_va) and torch.equal(src, zero_src)
    va.sum().backward()
    assert cd.latent_gate.grad is not None and cd.latent_gate.grad.abs() > 0
    ungated = ConditionalDiscriminator(width=4, latent_channels=16, injection=injection, image_size=32)
    assert ungated.latent_gate is None
    assert set(cd.state_dict()) - set(ungated.state_dict()) == {"latent_gate"}


def test_the_gate_of_a_timm_trunk_is_closed_at_first():
    torch.manual_seed(0)
    model = create_model("aeg-cd-sz-tiny", backbone="test_resnet", audio_dim=4, latent_gate=True)
    images, audio = faces(2, 112), torch.randn(2, 4)
    _, latent = model.generate(images)
    assert torch.equal(model.discriminate(images, latent, audio)[1], model.discriminate(images, latent * 0, audio)[1])


def test_the_trainer_builds_the_generator_and_gate_it_is_asked_for():
    residual = build_model(TrainConfig(variant="aeg-cd-sz-tiny", generator="residual"), audio_dim=4)
    assert residual.generator.residual_scale is not None and residual.discriminator.latent_gate is not None
    ungated = build_model(TrainConfig(variant="aeg-cd-sz-tiny", generator="residual", latent_gate=False), 4)
    assert ungated.discriminator.latent_gate is None
    gated_paper = build_model(TrainConfig(variant="aeg-cd-sz-tiny", latent_gate=True), audio_dim=4)
    assert gated_paper.generator.residual_scale is None and gated_paper.discriminator.latent_gate is not None
    # AEG-CD has no latent to gate; the Disc no generator to choose: the settings do not apply to them.
    assert build_model(TrainConfig(variant="aeg-cd-tiny", generator="residual"), 0).config.latent_gate is False
    assert build_model(TrainConfig(variant="disc-tiny", generator="residual"), 0).generator is None
    with pytest.raises(ValueError, match="latent_gate needs use_latent"):
        model_config("aeg-cd-tiny", latent_gate=True)
    with pytest.raises(ValueError, match="generator residual needs use_generator"):
        model_config("disc-tiny", generator="residual")


def test_an_old_checkpoint_loads_as_the_papers_generator(tmp_path):
    torch.manual_seed(0)
    model = create_model("aeg-cd-sz-tiny", audio_dim=4)
    stored = model.config.to_dict()
    del stored["generator"], stored["latent_gate"]  # a checkpoint written before either existed
    assert ModelConfig.from_dict(stored).generator is GeneratorKind.PAPER
    config = TrainConfig(variant="aeg-cd-sz-tiny").to_dict()
    for key in ("generator", "latent_gate", "noise_augment"):
        del config[key]
    audio = {"config": {"feature_set": "eGeMAPSv02", "pooling": "first2"}, "mean": torch.zeros(4), "std": torch.ones(4)}
    payload = {"config": config, "model_config": stored, "model": model.state_dict(), "audio": audio, "epoch": 1}
    resumable = {"optimizers": {}, "class_weights": torch.ones(2, 21), "iteration": 3}
    save_checkpoint(tmp_path / "last.pt", {**payload, **resumable})
    restored = load_trained_model(tmp_path / "last.pt", "cpu")
    assert restored.model.generator.residual_scale is None and restored.model.discriminator.latent_gate is None
    images = faces(2, 112)
    assert torch.equal(restored.model(images, torch.zeros(2, 4)), model.eval()(images, torch.zeros(2, 4)))
    # The run resumes with the generator it was trained with, even where the default is another.
    resumed = resume_config(tmp_path)
    assert resumed.generator is GeneratorKind.PAPER and resumed.gates_latent is False and not resumed.noise_augment


def test_noise_augment_degrades_the_discs_training_faces_and_only_the_discs(monkeypatch):
    torch.manual_seed(0)
    seen = []
    config = TrainConfig(variant="disc-tiny", precision="fp32", noise_augment=True, noise_clean_probability=0.0)
    solver = Solver(create_model("disc-tiny"), config, torch.ones(2, 21), Distributed())
    solver.seed_noise(3)

    def critic(critic, image, latent, audio):
        seen.append(image)
        return None, image[:, 0, 0, :2] * torch.ones((), requires_grad=True)

    monkeypatch.setattr(solver, "_critic", critic)
    images = faces(4, 112).clamp(-0.9, 0.9)
    batch = Batch(images, torch.zeros(4, 2), None)
    solver.affect_step(batch)
    assert not torch.equal(seen[0], images), "every face was degraded (no clean share)"
    plain = Solver(create_model("disc-tiny"), config.replace(noise_augment=False), torch.ones(2, 21), Distributed())
    monkeypatch.setattr(plain, "_critic", critic)
    plain.affect_step(batch)
    assert torch.equal(seen[1], images)
    with pytest.raises(AbawError, match="--noise-augment trains the Disc"):
        train(TrainConfig(variant="aeg-cd-tiny", noise_augment=True, dataset={"root": "nowhere"}), "run")


def test_the_reconstruction_figure_shows_the_residual_generators_output_with_both_psnrs(tmp_path):
    from abaw.plots.reconstruction import plot_reconstruction
    from abaw.prediction.members import TrainedModel

    torch.manual_seed(0)
    model = create_model("aeg-cd-tiny", generator="residual").eval()
    trained = TrainedModel(model, torch.device("cpu"), tmp_path / "x.pt", 0)
    pictures = (torch.rand(2, 3, 112, 112, generator=torch.Generator().manual_seed(1)) * 255).to(torch.uint8)
    result, _ = plot_reconstruction(trained, pictures.numpy(), tmp_path / "reconstruction.png", latent_channels=1)
    assert (tmp_path / "reconstruction.png").is_file()
    # At first the residual generator passes its input through: its output is as far from the clean face.
    assert result.cleaned_psnr.tolist() == pytest.approx(result.noisy_psnr.tolist())
    assert (result.noisy_psnr < 60).all()
