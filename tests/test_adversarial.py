"""The critic's stabilisation flags and the generator warm-up: each loss term recomputed by hand on a tiny model."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from click.testing import CliRunner

from abaw.cli import cli
from abaw.data.index import open_dataset
from abaw.data.layout import Split
from abaw.data.samples import Batch, FaceFrameDataset, batch_to_device, split_frames
from abaw.errors import ConfigError
from abaw.fitting.affect_loss import affect_loss
from abaw.fitting.class_weights import sample_weights
from abaw.model import create_model
from abaw.runtime.checkpoint import load_checkpoint
from abaw.runtime.devices import Distributed
from abaw.synthetic import GeneratorConfig, generate_dataset
from abaw.training.config import DiscriminatorAffect, Precision, RealLatent, TrainConfig
from abaw.training.losses import cycle_loss
from abaw.training.noise import add_noise
from abaw.training.solver import Solver
from abaw.training.trainer import resume_config, train
from tests.reporters import StopAfter

BATCH = 6


def _solver(seed: int = 0, **settings) -> Solver:
    torch.manual_seed(seed)
    model = create_model("aeg-cd-tiny")
    config = TrainConfig.from_dict({"variant": "aeg-cd-tiny", "precision": "fp32", **settings})
    weights = torch.rand(2, 21) + 0.5
    return Solver(model, config, weights, Distributed())


def _batch(seed: int = 1) -> Batch:
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(BATCH, 3, 112, 112, generator=generator) * 2 - 1
    targets = torch.rand(BATCH, 2, generator=generator) * 2 - 1
    return Batch(images, targets, None)


def _expected_critic_terms(solver: Solver, batch: Batch, seed: int) -> dict[str, torch.Tensor]:
    """The D step's terms recomputed from a copy of the model taken before the step, with the step's noise draws."""
    model = copy.deepcopy(solver.model)
    model.train()
    noise = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        fake, _ = model.generator(add_noise(batch.images, solver.noise, generator=noise))
        real_src, real_va = model.discriminator(batch.images)
        fake_src, fake_va = model.discriminator(fake)
    weights = sample_weights(batch.targets, solver.class_weights)
    return {
        "real_src": real_src,
        "fake_src": fake_src,
        "affect_real": affect_loss(real_va, batch.targets, weights)[0],
        "affect_fake": affect_loss(fake_va, batch.targets, weights)[0],
    }


def _critic_step(solver: Solver, batch: Batch, seed: int = 7) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    expected = _expected_critic_terms(solver, batch, seed)
    solver.seed_noise(seed)
    return solver.step(batch), expected


def test_paper_critic_loss_uses_real_images_for_the_affect_term_and_no_drift():
    losses, expected = _critic_step(_solver(d_affect="real"), _batch())
    adversarial = expected["fake_src"].mean() - expected["real_src"].mean()
    assert losses["D/affect"] == pytest.approx(expected["affect_real"].item(), rel=1e-4)
    assert losses["D/drift"] == pytest.approx(expected["real_src"].square().mean().item(), rel=1e-4)
    assert "D/affect_fake" not in losses
    without_gp = adversarial.item() + expected["affect_real"].item()
    assert losses["D/loss"] == pytest.approx(without_gp + 10.0 * losses["D/gp"], rel=1e-4)


def test_real_and_fake_affect_averages_the_two_terms():
    losses, expected = _critic_step(_solver(d_affect="real+fake", lambda_afc=2.0), _batch())
    real, fake = expected["affect_real"].item(), expected["affect_fake"].item()
    assert real != pytest.approx(fake, rel=1e-3)  # the test tells the two apart
    assert losses["D/affect_real"] == pytest.approx(real, rel=1e-4)
    assert losses["D/affect_fake"] == pytest.approx(fake, rel=1e-4)
    assert losses["D/affect"] == pytest.approx((real + fake) / 2, rel=1e-4)
    adversarial = (expected["fake_src"].mean() - expected["real_src"].mean()).item()
    assert losses["D/loss"] == pytest.approx(adversarial + 2.0 * (real + fake) / 2 + 10.0 * losses["D/gp"], rel=1e-4)


@pytest.mark.slow
def test_drift_adds_eps_times_the_mean_squared_real_score():
    paper, _ = _critic_step(_solver(), _batch())
    drifted, expected = _critic_step(_solver(drift=0.25), _batch())
    drift = expected["real_src"].square().mean().item()
    assert drift > 0
    assert drifted["D/drift"] == pytest.approx(drift, rel=1e-4)
    assert drifted["D/loss"] - paper["D/loss"] == pytest.approx(0.25 * drift, rel=1e-3, abs=1e-5)


@pytest.mark.parametrize("real_latent", ["generator", "zeros"])
def test_real_latent_chooses_the_latent_the_critic_sees_beside_real_images(real_latent):
    torch.manual_seed(0)
    model = create_model("aeg-cd-sz-tiny")
    config = TrainConfig.from_dict({"variant": "aeg-cd-sz-tiny", "precision": "fp32", "real_latent": real_latent})
    solver = Solver(model, config, torch.rand(2, 21) + 0.5, Distributed())
    batch = _batch()
    batch = Batch(batch.images, batch.targets, torch.randn(BATCH, model.config.audio_dim))
    with torch.no_grad():
        _, clean_latent = copy.deepcopy(model).train().generator(batch.images)
    calls = []
    hook = model.discriminator.register_forward_pre_hook(lambda module, args: calls.append(args))
    try:
        solver.step(batch)
    finally:
        hook.remove()
    # The first critic pass scores the real images (alone, or stacked before the fakes).
    images, latent, _ = calls[0]
    assert torch.equal(images[:BATCH], batch.images)
    real = latent[:BATCH]
    assert real.shape == clean_latent.shape
    if real_latent == "zeros":
        assert torch.count_nonzero(real) == 0
    else:
        assert torch.count_nonzero(clean_latent) > 0
        torch.testing.assert_close(real, clean_latent)


def test_learning_rates_per_network_default_to_lr():
    solver = _solver(lr=3e-4)
    assert [group["lr"] for group in solver.optimizers["D"].param_groups] == [3e-4]
    assert [group["lr"] for group in solver.optimizers["G"].param_groups] == [3e-4]
    solver = _solver(lr=3e-4, lr_d=4e-4, lr_g=1e-4)
    assert solver.optimizers["D"].param_groups[0]["lr"] == 4e-4
    assert solver.optimizers["G"].param_groups[0]["lr"] == 1e-4


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"d_affect": "fake"}, "d_affect"),
        ({"drift": -1.0}, "drift"),
        ({"lr_d": 0.0}, "lr_d"),
        ({"warmup_steps": -2}, "warmup_steps"),
    ],
)
def test_bad_stabilisation_settings_name_the_setting(settings, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_dict(settings, source="run.yaml")


def test_warmup_trains_the_generator_alone_then_the_gan_starts():
    solver = _solver(warmup_steps=2, n_critic=1)
    batch = _batch()
    critic_before = copy.deepcopy(solver.model.discriminator.state_dict())
    generator_before = copy.deepcopy(solver.model.generator.state_dict())
    noise = torch.Generator().manual_seed(3)
    expected_model = copy.deepcopy(solver.model.generator)
    with torch.no_grad():
        cleaned, _ = expected_model(add_noise(batch.images, solver.noise, generator=noise))
        twice, _ = expected_model(cleaned)
    solver.seed_noise(3)
    first = solver.step(batch)
    assert set(first) == {"G/warmup/loss", "G/warmup/l1", "G/warmup/cycle"}
    assert first["G/warmup/l1"] == pytest.approx(cycle_loss(batch.images, cleaned).item(), rel=1e-4)
    assert first["G/warmup/cycle"] == pytest.approx(cycle_loss(batch.images, twice).item(), rel=1e-4)
    assert first["G/warmup/loss"] == pytest.approx(first["G/warmup/l1"] + first["G/warmup/cycle"], rel=1e-5)
    for key, value in solver.model.discriminator.state_dict().items():
        assert torch.equal(value, critic_before[key]), key
    assert any(
        not torch.equal(value, generator_before[key]) for key, value in solver.model.generator.state_dict().items()
    )
    assert "G/warmup/loss" in solver.step(batch)
    adversarial = solver.step(batch)
    assert "D/loss" in adversarial and "G/adversarial" in adversarial and "G/warmup/loss" not in adversarial


def test_disc_ignores_warmup_steps():
    torch.manual_seed(0)
    config = TrainConfig.from_dict({"variant": "disc-tiny", "warmup_steps": 5, "precision": "fp32"})
    solver = Solver(create_model("disc-tiny"), config, torch.ones(2, 21), Distributed())
    assert "D/loss" in solver.step(_batch())


# --------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def faces_root(tmp_path_factory):
    return generate_dataset(tmp_path_factory.mktemp("faces") / "data", GeneratorConfig(videos=6, frames=40)).root


def _tiny_run(root, **changes) -> TrainConfig:
    values = {
        "variant": "aeg-cd-tiny",
        "epochs": 1,
        "batch_size": 8,
        "lr": 1e-3,
        "workers": 0,
        "eval_batch_size": 128,
        "precision": "fp32",
        "dataset": {"root": str(root)},
    }
    return TrainConfig.from_dict({**values, **changes})


def _reconstruction_error(generator: torch.nn.Module, root, noise) -> float:
    """L1(AEG(noisy), clean) over the training faces, with fixed noise draws."""
    index = open_dataset(root)
    faces = FaceFrameDataset(index, split_frames(index, (Split.TRAIN,), labelled=True))
    loader = torch.utils.data.DataLoader(faces, batch_size=64)
    draws = torch.Generator().manual_seed(11)
    generator.eval()
    errors = []
    with torch.no_grad():
        for batch in loader:
            clean = batch_to_device(batch, torch.device("cpu")).images
            cleaned, _ = generator(add_noise(clean, noise, generator=draws))
            errors.append(cycle_loss(clean, cleaned).item() * len(clean))
    return sum(errors) / len(faces)


@pytest.mark.slow
def test_warmup_lowers_the_reconstruction_error_on_training_faces(faces_root, tmp_path):
    steps = 12
    # No validation pass: only the generator is measured; the paper's generator, which must learn to pass a face.
    quick = {"steps_per_epoch": steps, "protocol": "final", "generator": "paper"}
    warm = train(_tiny_run(faces_root, warmup_steps=steps, **quick), tmp_path / "warm")
    paper = train(_tiny_run(faces_root, **quick), tmp_path / "paper")
    assert "G/warmup/l1" in warm.rows[0] and "G/warmup/l1" not in paper.rows[0]
    noise = _solver().noise
    errors = {}
    for name, result in (("warm", warm), ("paper", paper)):
        model = create_model("aeg-cd-tiny")
        model.load_state_dict(load_checkpoint(result.last)["model"])
        errors[name] = _reconstruction_error(model.generator, faces_root, noise)
    torch.manual_seed(0)
    errors["untrained"] = _reconstruction_error(create_model("aeg-cd-tiny").generator, faces_root, noise)
    assert errors["warm"] < 0.8 * errors["paper"], errors
    assert errors["warm"] < 0.8 * errors["untrained"], errors


@pytest.mark.slow
def test_resumed_in_the_middle_of_the_warmup_ends_with_the_same_weights(faces_root, tmp_path):
    config = _tiny_run(faces_root, epochs=3, steps_per_epoch=2, warmup_steps=3, n_critic=2, d_affect="real+fake")
    train(config, tmp_path / "whole")
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "cut", reporter=StopAfter(1))
    cut = load_checkpoint(tmp_path / "cut" / "last.pt")
    assert cut["iteration"] == 2 and cut["config"]["warmup_steps"] == 3  # stopped inside the warm-up
    train(resume_config(tmp_path / "cut"), tmp_path / "cut", resume=True)
    whole, resumed = load_checkpoint(tmp_path / "whole" / "last.pt"), load_checkpoint(tmp_path / "cut" / "last.pt")
    for key, value in whole["model"].items():
        assert torch.equal(value, resumed["model"][key]), key
    rows = {name: (tmp_path / name / "metrics.jsonl").read_text().splitlines() for name in ("whole", "cut")}
    assert [json.loads(row)["G/warmup/l1"] for row in rows["cut"][:2]] == [
        json.loads(row)["G/warmup/l1"] for row in rows["whole"][:2]
    ]
    assert "G/warmup/l1" not in json.loads(rows["cut"][2]) and "G/adversarial" in json.loads(rows["cut"][2])


@pytest.mark.slow
def test_chain_from_disc_warms_the_generator_with_the_flags_from_yaml_and_the_command_line(generated, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("d-affect: real+fake\ndrift: 1e-3\nwarmup-steps: 3\nlr-d: 4e-4\n")
    runs = tmp_path / "runs"
    args = ["-q", "train", "--root", str(generated.root), "--out", str(runs), "--config", str(config)]
    args += ["--stages", "disc-tiny,aeg-cd-tiny", "--epochs", "1,1", "--steps-per-epoch", "3"]
    args += ["--batch-size", "8", "--workers", "0", "--lr-g", "2e-4"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    stage = load_checkpoint(runs / "aeg-cd-tiny" / "last.pt")
    settings = stage["config"]
    assert settings["init"].endswith("disc-tiny/best.pt")
    assert (settings["d_affect"], settings["drift"], settings["warmup_steps"]) == ("real+fake", 1e-3, 3)
    assert (settings["lr_d"], settings["lr_g"]) == (4e-4, 2e-4)
    assert stage["optimizers"]["D"]["param_groups"][0]["lr"] == 4e-4
    assert stage["optimizers"]["G"]["param_groups"][0]["lr"] == 2e-4
    assert "G/warmup/l1" in stage["metrics"] and "D/loss" not in stage["metrics"]
    # All three steps were warm-up: the critic is still exactly the Disc stage's best, the generator has trained.
    disc = load_checkpoint(runs / "disc-tiny" / "best.pt")["model"]
    shared = [key for key in disc if key in stage["model"] and disc[key].shape == stage["model"][key].shape]
    assert len(shared) > 10
    for key in shared:
        assert torch.equal(disc[key], stage["model"][key]), key
    torch.manual_seed(0)
    fresh = create_model("aeg-cd-tiny").state_dict()
    generator = [key for key in fresh if key.startswith("generator.") and fresh[key].is_floating_point()]
    assert any(not torch.equal(fresh[key], stage["model"][key]) for key in generator)


class TrainingStarted(Exception):
    """Raised by a stand-in for ``train``: the command got as far as training, with these settings."""


def test_the_d_affect_and_real_latent_flags_reach_the_training_settings_over_the_config_file(tmp_path, monkeypatch):
    from abaw.training import trainer

    def start(config, run_dir, **options):
        raise TrainingStarted(config)

    monkeypatch.setattr(trainer, "train", start)
    (tmp_path / "data").mkdir()
    config = tmp_path / "run.yaml"
    config.write_text("d-affect: real+fake\nreal-latent: generator\nprecision: bf16\nvariant: aeg-cd-sz-tiny\n")
    args = ["-q", "train", "--root", str(tmp_path / "data"), "--out", str(tmp_path / "run"), "--config", str(config)]
    with pytest.raises(TrainingStarted) as started:
        CliRunner().invoke(cli, args, catch_exceptions=False)
    from_file = started.value.args[0]
    assert (from_file.d_affect, from_file.real_latent, from_file.precision) == (
        DiscriminatorAffect.REAL_AND_FAKE,
        RealLatent.GENERATOR,
        Precision.BF16,
    )
    flags = ["--d-affect", "real", "--real-latent", "zeros", "--precision", "fp32"]
    with pytest.raises(TrainingStarted) as started:
        CliRunner().invoke(cli, [*args, *flags], catch_exceptions=False)
    given = started.value.args[0]
    assert (given.d_affect, given.real_latent, given.precision) == (
        DiscriminatorAffect.REAL,
        RealLatent.ZEROS,
        Precision.FP32,
    )
    assert given.variant == "aeg-cd-sz-tiny"


def test_a_run_from_before_the_d_affect_flag_resumes_with_real_images_only(tmp_path):
    from abaw.runtime.checkpoint import save_checkpoint
    from abaw.training.trainer import resume_config

    old = TrainConfig.from_dict({"variant": "aeg-cd-tiny"}).to_dict()
    del old["d_affect"]
    save_checkpoint(tmp_path / "last.pt", {"config": old, "model_config": {}, "model": {}, "format": 1})
    assert TrainConfig().d_affect.value == "real+fake"
    assert resume_config(tmp_path).d_affect.value == "real"
    assert resume_config(tmp_path, d_affect="real+fake").d_affect.value == "real+fake"
