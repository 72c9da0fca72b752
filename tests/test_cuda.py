"""The CUDA path: bf16 autocast with channels-last, pinned memory, the noise on the GPU, checkpoints and predictions.

Every test here is marked ``cuda`` and skipped where PyTorch sees no CUDA
GPU; ``.ci/gpu-check`` runs them on one. ``ABAW_TEST_DEVICE=cpu`` runs them
on the CPU instead, which checks the tests themselves on a machine without a
GPU (bf16 autocast then runs on the CPU, channels-last is not applied, and
the comparisons with the CPU compare the CPU with itself).
"""

from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from scipy import stats

from abaw.benchmarks.training import VARIANTS
from abaw.cli import cli
from abaw.data.audio import AudioFeatureConfig
from abaw.data.layout import Split
from abaw.data.samples import batch_to_device
from abaw.model import model_config
from abaw.prediction.open import load_trained_model
from abaw.runtime.checkpoint import load_checkpoint
from abaw.runtime.devices import Distributed
from abaw.synthetic import GeneratedDataset
from abaw.training.config import TrainConfig
from abaw.training.noise import Artifact, NoiseConfig, add_noise, apply_artifact
from abaw.training.prepare import build_model
from abaw.training.solver import Solver
from abaw.training.trainer import resume_config, train

DEVICE = torch.device(os.environ.get("ABAW_TEST_DEVICE", "cuda"))
ON_CUDA = DEVICE.type == "cuda"
CPU = torch.device("cpu")

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(ON_CUDA and not torch.cuda.is_available(), reason="needs a CUDA GPU (PyTorch sees none)"),
]

AUDIO_DIM = AudioFeatureConfig().dim
# bf16 keeps 8 bits of mantissa: a forward pass in bf16 autocast differs from
# fp32 by about 1% of the output's scale (0.5-0.9% measured on the CPU for the
# full-size variants). 10% still catches a wrong memory format or weights.
BF16_RELATIVE_TOLERANCE = 0.1
# Predicted values of the tiny trained model, after clipping to [-1, 1]; bf16
# moved them by at most 2e-3 on the CPU, where they reach 0.2.
PREDICTION_TOLERANCE = 1e-2
# Mean absolute difference under which two noisy images are one outcome.
# cuDNN convolutions run in TF32 by default, so the blur on CUDA differs from
# the CPU's by about 1e-4; two different outcomes differ by over 1.5e-2.
PIXEL_TOLERANCE = 2e-3


def uint8_batch(size: int, audio_dim: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """What the DataLoader yields for ``size`` frames (pinned on CUDA, as with ``pin_memory``)."""
    generator = torch.Generator().manual_seed(seed)
    batch = {
        "image": torch.randint(0, 256, (size, 3, 112, 112), dtype=torch.uint8, generator=generator),
        "target": torch.rand(size, 2, generator=generator) * 2 - 1,
        "audio": torch.randn(size, audio_dim, generator=generator),
    }
    return {key: value.pin_memory() for key, value in batch.items()} if ON_CUDA else batch


def first_convolution(module: torch.nn.Module) -> torch.nn.Conv2d:
    return next(layer for layer in module.modules() if isinstance(layer, torch.nn.Conv2d))


# --- training and inference of the full-size variants -------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_training_step_in_bf16_channels_last_has_finite_losses(variant: str) -> None:
    torch.manual_seed(0)
    config = TrainConfig(variant=variant, batch_size=8, n_critic=1, precision="bf16", device=DEVICE.type)
    audio_dim = AUDIO_DIM if model_config(variant).audio_dim else 0
    model = build_model(config, audio_dim).to(DEVICE)
    solver = Solver(model, config, torch.ones(2, 21), Distributed(device=DEVICE))
    assert solver.bf16 and solver.channels_last is ON_CUDA
    seen: list[torch.Tensor] = []
    first_convolution(model.discriminator).register_forward_hook(lambda _m, _i, output: seen.append(output))
    before = {name: value.detach().clone() for name, value in model.named_parameters()}

    losses = solver.step(batch_to_device(uint8_batch(8, audio_dim), DEVICE, solver.channels_last))

    assert np.isfinite(list(losses.values())).all(), losses
    assert {key.split("/")[0] for key in losses} == ({"D", "G"} if model.adversarial else {"D"})
    # The first pass is the critic's on the real images (the gradient penalty's, later, runs in fp32).
    assert seen and seen[0].dtype == torch.bfloat16
    if ON_CUDA:
        assert seen[0].is_contiguous(memory_format=torch.channels_last)
    moved = [name for name, value in model.named_parameters() if not torch.equal(value, before[name])]
    assert any(name.startswith("discriminator.") for name in moved)
    if model.adversarial:
        assert any(name.startswith("generator.") for name in moved)


@pytest.mark.parametrize("variant", VARIANTS)
def test_inference_in_bf16_channels_last_is_close_to_fp32_on_the_cpu(variant: str) -> None:
    torch.manual_seed(0)
    audio_dim = AUDIO_DIM if model_config(variant).audio_dim else 0
    model = build_model(TrainConfig(variant=variant), audio_dim).eval()
    batch = uint8_batch(16, audio_dim, seed=1)
    on_cpu = batch_to_device(batch, CPU)
    with torch.inference_mode():
        reference = model(on_cpu.images, on_cpu.audio)
        on_device = copy.deepcopy(model).to(DEVICE, memory_format=torch.channels_last)
        inputs = batch_to_device(batch, DEVICE, channels_last=True)
        with torch.autocast(DEVICE.type, torch.bfloat16):
            output = on_device(inputs.images, inputs.audio).float().cpu()
    assert output.shape == (16, 2) and torch.isfinite(output).all()
    error = (output - reference).abs().max().item()
    assert error <= BF16_RELATIVE_TOLERANCE * reference.abs().max().item(), (error, reference.abs().max().item())


# --- the noise model on the device ----------------------------------------------------------------

NOISE_SIZE = 32
OCCLUSION_AREAS = {round(side * NOISE_SIZE) ** 2: level for level, side in enumerate(Artifact.OCCLUSION.levels)}


def structured_face(device: torch.device) -> torch.Tensor:
    """One image in [-0.4, 0.4], pixel noise over 4-pixel blocks, so each level of each artifact leaves its own mark."""
    generator = torch.Generator().manual_seed(1)
    pixels = torch.rand(1, 3, NOISE_SIZE, NOISE_SIZE, generator=generator) * 2 - 1
    blocks = torch.rand(1, 3, NOISE_SIZE // 4, NOISE_SIZE // 4, generator=generator) * 2 - 1
    face = 0.2 * pixels + 0.2 * torch.nn.functional.interpolate(blocks, size=NOISE_SIZE, mode="nearest")
    return face.to(device)


def deterministic_outcomes(face: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every outcome of the noise that draws nothing at random, by name, computed on ``face``'s device."""
    outcomes = {"clean": face[0]}
    for artifact in (Artifact.DOWNSAMPLE, Artifact.BLUR, Artifact.BRIGHTNESS, Artifact.GRAYSCALE):
        for level, value in enumerate(artifact.levels):
            outcomes[f"{artifact.value}/{level}"] = apply_artifact(face, artifact, value)[0]
    return outcomes


def noise_outcomes(noisy: torch.Tensor, face: torch.Tensor) -> tuple[list[str], dict[int, list[float]]]:
    """Name the artifact and level each noisy copy of ``face`` received; also the Gaussian residual stds by level.

    Deterministic outcomes are matched by mean absolute difference, the
    Gaussian noise by its residual's standard deviation, the occlusion by its
    white box (the face stays within [-0.4, 0.4] by itself).
    """
    names = np.full(len(noisy), "unexplained", dtype=object)
    for name, outcome in deterministic_outcomes(face).items():
        names[((noisy - outcome).abs().mean(dim=(1, 2, 3)) < PIXEL_TOLERANCE).cpu().numpy()] = name
    white = (noisy == 1.0).all(dim=1)
    area = white.sum(dim=(1, 2))
    rest_unchanged = ((noisy - face).abs() * ~white.unsqueeze(1)).amax(dim=(1, 2, 3)) < 1e-6
    for box_area, level in OCCLUSION_AREAS.items():
        names[((area == box_area) & rest_unchanged).cpu().numpy()] = f"occlusion/{level}"
    residual_std = (noisy - face).flatten(1).std(dim=1).cpu().numpy()
    stds = {level: [] for level in range(len(Artifact.GAUSSIAN_NOISE.levels))}
    for row in np.flatnonzero(names == "unexplained"):
        expected = [2.0 * np.sqrt(variance) for variance in Artifact.GAUSSIAN_NOISE.levels]
        level = int(np.argmin([abs(residual_std[row] - value) for value in expected]))
        if abs(residual_std[row] - expected[level]) < 0.1 * expected[level]:
            names[row] = f"gaussian-noise/{level}"
            stds[level].append(float(residual_std[row]))
    return names.tolist(), stds


def expected_outcomes(config: NoiseConfig) -> dict[str, float]:
    """The probability of each outcome of ``config``: clean, or one artifact at one level, uniformly."""
    chance = {"clean": config.clean_probability}
    for artifact in config.artifacts:
        for level in range(len(artifact.levels)):
            chance[f"{artifact.value}/{level}"] = (
                (1 - config.clean_probability) / len(config.artifacts) / len(artifact.levels)
            )
    return chance


def test_noise_on_the_device_equals_the_cpu_noise_in_distribution() -> None:
    config = NoiseConfig(0.4, tuple(Artifact))
    draws = 6000
    outcomes, residuals = {}, {}
    for device, seed in ((CPU, 1), (DEVICE, 2)):
        face = structured_face(device)
        noisy = add_noise(
            face.expand(draws, -1, -1, -1).contiguous(), config, torch.Generator(device).manual_seed(seed)
        )
        assert noisy.device.type == device.type and noisy.min() >= -1 and noisy.max() <= 1
        outcomes[device.type], residuals[device.type] = noise_outcomes(noisy, face)
    names = list(expected_outcomes(config))
    counts = {
        device: np.array([sum(1 for name in found if name == wanted) for wanted in names])
        for device, found in outcomes.items()
    }
    for device, found in counts.items():
        assert found.sum() == draws, f"{draws - found.sum()} draws on {device} match no outcome of the noise"
        fit = stats.chisquare(found, np.array(list(expected_outcomes(config).values())) * draws)
        assert fit.pvalue > 1e-4, (device, dict(zip(names, found.tolist(), strict=True)))
    together = stats.chi2_contingency(np.stack([counts["cpu"], counts[DEVICE.type]]))
    assert together.pvalue > 1e-4, {device: found.tolist() for device, found in counts.items()}
    for level in residuals["cpu"]:
        assert np.mean(residuals[DEVICE.type][level]) == pytest.approx(np.mean(residuals["cpu"][level]), rel=0.03)


def test_each_deterministic_artifact_gives_the_same_pixels_on_the_device() -> None:
    on_cpu, on_device = deterministic_outcomes(structured_face(CPU)), deterministic_outcomes(structured_face(DEVICE))
    for name, outcome in on_cpu.items():
        assert (on_device[name].cpu() - outcome).abs().mean() < PIXEL_TOLERANCE / 4, name
    # Two outcomes far apart: noise_outcomes cannot mistake one for the other.
    values = list(on_cpu.values())
    gaps = [(a - b).abs().mean().item() for i, a in enumerate(values) for b in values[i + 1 :]]
    assert min(gaps) > 4 * PIXEL_TOLERANCE


# --- a tiny run trained on the device: checkpoint, resume, predict-test ---------------------------


@pytest.fixture(scope="module")
def device_run(generated: GeneratedDataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One epoch of aeg-cd-tiny trained on the device, fed by a worker process into pinned memory.

    At a high learning rate, so its predictions span a tenth of the scale or
    more and :data:`PREDICTION_TOLERANCE` is a real test.
    """
    run_dir = tmp_path_factory.mktemp("device") / "run"
    config = TrainConfig(
        variant="aeg-cd-tiny",
        epochs=1,
        batch_size=8,
        lr=1e-3,
        n_critic=1,
        workers=1,
        device=DEVICE.type,
        dataset={"root": str(generated.root)},
    )
    train(config, run_dir)
    return run_dir


def test_checkpoint_written_on_the_device_loads_on_the_cpu(device_run: Path) -> None:
    raw = torch.load(device_run / "last.pt", map_location="cpu", weights_only=True)
    assert all(value.device.type == "cpu" for value in raw["model"].values())
    assert raw["config"]["device"] == DEVICE.type
    trained = load_trained_model(device_run / "last.pt", "cpu")
    assert {parameter.device.type for parameter in trained.model.parameters()} == {"cpu"}
    for name, value in trained.model.state_dict().items():
        assert torch.equal(value, raw["model"][name]), name


def test_run_trained_on_the_device_resumes_on_the_device(device_run: Path, tmp_path: Path) -> None:
    run_dir = Path(shutil.copytree(device_run, tmp_path / "run"))
    steps = load_checkpoint(run_dir / "last.pt")["iteration"]
    result = train(resume_config(run_dir, epochs=2), run_dir, resume=True)
    assert [row["epoch"] for row in result.rows] == [1, 2]
    assert load_checkpoint(run_dir / "last.pt")["iteration"] == 2 * steps
    assert np.isfinite([value for key, value in result.rows[-1].items() if key.startswith(("D/", "G/"))]).all()


def read_prediction_files(folder: Path) -> dict[str, np.ndarray]:
    return {path.name: np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2) for path in sorted(folder.iterdir())}


def test_predict_test_on_the_device_writes_the_cpu_files(
    generated: GeneratedDataset, device_run: Path, tmp_path: Path
) -> None:
    folders = {}
    for device in (DEVICE.type, "cpu"):
        out = tmp_path / f"on-{device}-{len(folders)}"
        args = ["-q", "predict-test", "--checkpoint", str(device_run / "last.pt"), "--root", str(generated.root)]
        result = CliRunner().invoke(cli, [*args, "--out", str(out), "--device", device, "--workers", "1"])
        assert result.exit_code == 0, result.output
        folders[device] = read_prediction_files(out / "predictions")
    on_device, on_cpu = folders[DEVICE.type], folders["cpu"]
    assert list(on_device) == list(on_cpu) and len(on_cpu) == len(generated.names(Split.TEST))
    assert max(np.abs(values).max() for values in on_cpu.values()) > 10 * PREDICTION_TOLERANCE
    for name, values in on_cpu.items():
        assert on_device[name].shape == values.shape, name
        np.testing.assert_allclose(on_device[name], values, rtol=0, atol=PREDICTION_TOLERANCE, err_msg=name)
