"""The noise model: every artifact and level does what the spec says, batched and reproducibly."""

from __future__ import annotations

import math

import pytest
import torch

from abaw.training.noise import (
    ARTIFACT_LEVELS,
    PAPER_ARTIFACTS,
    Artifact,
    NoiseConfig,
    _draw,
    add_noise,
    apply_artifact,
)


def random_images(batch: int = 4, size: int = 32, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, size, size, generator=generator) * 2 - 1


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def high_frequency_energy(images: torch.Tensor) -> float:
    """Mean squared difference of horizontally and vertically adjacent pixels."""
    dx = images[..., :, 1:] - images[..., :, :-1]
    dy = images[..., 1:, :] - images[..., :-1, :]
    return float((dx**2).mean() + (dy**2).mean())


# --- enum and levels ---------------------------------------------------------------------------


@pytest.mark.parametrize("artifact", list(Artifact))
def test_every_artifact_round_trips_has_levels_and_changes_an_image(artifact: Artifact) -> None:
    assert Artifact(artifact.value) is artifact
    assert artifact.levels == ARTIFACT_LEVELS[artifact]
    assert artifact.in_paper == (artifact in PAPER_ARTIFACTS)
    images = random_images()
    for level in artifact.levels:
        out = apply_artifact(images, artifact, level, seeded())
        assert out.shape == images.shape and out.dtype == images.dtype
        assert out.min() >= -1 and out.max() <= 1
        assert not torch.equal(out, images), (artifact, level)


def test_levels_are_the_specs() -> None:
    assert PAPER_ARTIFACTS == (Artifact.DOWNSAMPLE, Artifact.BLUR, Artifact.GAUSSIAN_NOISE, Artifact.BRIGHTNESS)
    assert set(ARTIFACT_LEVELS) == set(Artifact)
    assert ARTIFACT_LEVELS[Artifact.DOWNSAMPLE] == (1, 2, 3)
    assert ARTIFACT_LEVELS[Artifact.BLUR] == (1, 3, 5)
    assert ARTIFACT_LEVELS[Artifact.GAUSSIAN_NOISE] == (0.001, 0.005, 0.01)
    assert ARTIFACT_LEVELS[Artifact.BRIGHTNESS] == (0.75, 1.25, 1.5)
    assert len(ARTIFACT_LEVELS[Artifact.GRAYSCALE]) == 1


# --- each artifact -----------------------------------------------------------------------------


def test_downsample_removes_high_frequencies_more_at_higher_levels() -> None:
    images = random_images()
    energies = [high_frequency_energy(apply_artifact(images, Artifact.DOWNSAMPLE, n)) for n in (1, 2, 3)]
    assert high_frequency_energy(images) > energies[0] > energies[1] > energies[2]
    # A checkerboard is pure Nyquist frequency: one halving averages it to flat grey.
    checker = (torch.arange(16).reshape(1, 1, 16) + torch.arange(16).reshape(1, 16, 1)) % 2 * 2.0 - 1.0
    out = apply_artifact(checker.expand(1, 3, 16, 16), Artifact.DOWNSAMPLE, 1)
    assert torch.allclose(out, torch.zeros_like(out), atol=1e-6)
    flat = torch.full((1, 3, 16, 16), 0.3)
    assert torch.allclose(apply_artifact(flat, Artifact.DOWNSAMPLE, 3), flat)


def test_downsample_rejects_fractional_halvings() -> None:
    with pytest.raises(ValueError, match="whole number"):
        apply_artifact(random_images(), Artifact.DOWNSAMPLE, 1.5)


def test_blur_reduces_variance_more_at_higher_levels() -> None:
    images = random_images(size=48)
    variances = [float(apply_artifact(images, Artifact.BLUR, s).var()) for s in (1, 3, 5)]
    assert float(images.var()) > variances[0] > variances[1] > variances[2]
    flat = torch.full((1, 3, 20, 20), -0.4)
    assert torch.allclose(apply_artifact(flat, Artifact.BLUR, 5), flat, atol=1e-6)


@pytest.mark.parametrize("sigma", [1.0, 3.0, 5.0])
def test_blur_level_is_the_standard_deviation_of_the_gaussian(sigma: float) -> None:
    size = 64
    images = torch.full((1, 3, size, size), -1.0, dtype=torch.float64)  # float32 rounding would blur the sums
    images[..., size // 2, size // 2] = 1.0
    response = (apply_artifact(images, Artifact.BLUR, sigma)[0, 0] + 1) / 2
    assert float(response.sum()) == pytest.approx(1.0, rel=1e-9)
    offsets = torch.arange(size, dtype=torch.float64) - size // 2
    variance_rows = float((response.sum(dim=1) * offsets**2).sum())
    variance_cols = float((response.sum(dim=0) * offsets**2).sum())
    # Truncating at 3 sigma trims the variance by about 3%.
    assert variance_rows == pytest.approx(sigma**2, rel=0.05)
    assert variance_cols == pytest.approx(sigma**2, rel=0.05)


def test_blur_on_an_image_smaller_than_the_kernel() -> None:
    out = apply_artifact(random_images(size=5), Artifact.BLUR, 5)
    assert out.shape == (4, 3, 5, 5) and torch.isfinite(out).all()


@pytest.mark.parametrize("variance", ARTIFACT_LEVELS[Artifact.GAUSSIAN_NOISE])
def test_gaussian_noise_has_the_specified_std_on_mid_grey(variance: float) -> None:
    grey = torch.zeros(8, 3, 32, 32)  # 127.5 on [0, 255]
    out = apply_artifact(grey, Artifact.GAUSSIAN_NOISE, variance, seeded())
    expected = math.sqrt(variance) * 255 / 127.5
    assert float(out.std()) == pytest.approx(expected, rel=0.03)
    assert abs(float(out.mean())) < 0.01


def test_gaussian_noise_clips_instead_of_wrapping() -> None:
    white = torch.ones(4, 3, 32, 32)
    out = apply_artifact(white, Artifact.GAUSSIAN_NOISE, 0.01, seeded())
    assert out.max() <= 1.0
    # Wrapping around uint8 would turn bright-plus-noise into near-black pixels.
    assert out.min() > -0.5
    assert float((out == 1.0).float().mean()) == pytest.approx(0.5, abs=0.03)


@pytest.mark.parametrize("factor", ARTIFACT_LEVELS[Artifact.BRIGHTNESS])
def test_brightness_scales_pixel_values(factor: float) -> None:
    images = torch.rand(2, 3, 16, 16, generator=seeded()) * 0.8 - 0.9  # pixels 12.75..114.75: no clipping
    out = apply_artifact(images, Artifact.BRIGHTNESS, factor)
    pixels_in, pixels_out = (images + 1) * 127.5, (out + 1) * 127.5
    assert torch.allclose(pixels_out, pixels_in * factor, atol=1e-3)
    assert float(pixels_out.mean()) == pytest.approx(float(pixels_in.mean()) * factor, rel=1e-5)


def test_brightness_clips_at_white() -> None:
    out = apply_artifact(torch.full((1, 3, 4, 4), 0.8), Artifact.BRIGHTNESS, 1.5)
    assert torch.equal(out, torch.ones_like(out))


def test_grayscale_makes_channels_equal_with_luma_weights() -> None:
    images = random_images()
    out = apply_artifact(images, Artifact.GRAYSCALE, 1.0)
    assert torch.allclose(out[:, 0], out[:, 1]) and torch.allclose(out[:, 1], out[:, 2])
    luma = 0.299 * images[:, 0] + 0.587 * images[:, 1] + 0.114 * images[:, 2]
    assert torch.allclose(out[:, 0], luma, atol=1e-6)


def test_grayscale_needs_three_channels() -> None:
    with pytest.raises(ValueError, match="3 channels"):
        apply_artifact(torch.zeros(1, 1, 4, 4), Artifact.GRAYSCALE, 1.0)


@pytest.mark.parametrize("side", ARTIFACT_LEVELS[Artifact.OCCLUSION])
def test_occlusion_whitens_a_rectangle_of_the_given_side(side: float) -> None:
    images = torch.rand(16, 3, 40, 40, generator=seeded()) * 1.8 - 1  # never exactly white
    out = apply_artifact(images, Artifact.OCCLUSION, side, seeded(1))
    white = (out == 1.0).all(dim=1)
    box = round(side * 40)
    assert torch.equal(white.sum(dim=(1, 2)), torch.full((16,), box * box))
    assert torch.equal(out[~white.unsqueeze(1).expand_as(out)], images[~white.unsqueeze(1).expand_as(out)])
    rows, cols = white.any(dim=2), white.any(dim=1)
    assert (rows.sum(dim=1) == box).all() and (cols.sum(dim=1) == box).all()
    # Positions vary between samples.
    assert len({tuple(r.nonzero().flatten().tolist()) for r in rows}) > 1


@pytest.mark.parametrize(
    ("artifact", "level"),
    [
        (Artifact.BLUR, -1.0),
        (Artifact.GAUSSIAN_NOISE, -0.1),
        (Artifact.BRIGHTNESS, float("nan")),
        (Artifact.GRAYSCALE, 1.5),
        (Artifact.OCCLUSION, 0.0),
        (Artifact.DOWNSAMPLE, -1),
    ],
)
def test_invalid_levels_are_refused(artifact: Artifact, level: float) -> None:
    with pytest.raises(ValueError, match="level"):
        apply_artifact(random_images(), artifact, level)


def test_apply_artifact_refuses_bad_images_and_names() -> None:
    with pytest.raises(ValueError, match="shape"):
        apply_artifact(torch.zeros(3, 8, 8), Artifact.BLUR, 1)
    with pytest.raises(ValueError, match="float"):
        apply_artifact(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), Artifact.BLUR, 1)
    with pytest.raises(ValueError):
        apply_artifact(random_images(), "salt-and-pepper", 1)


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("artifact", list(Artifact))
def test_other_float_dtypes_are_kept(dtype: torch.dtype, artifact: Artifact) -> None:
    images = random_images(batch=2, size=16).to(dtype)
    out = apply_artifact(images, artifact, artifact.levels[-1], seeded())
    assert out.dtype == dtype and out.min() >= -1 and out.max() <= 1


# --- add_noise ---------------------------------------------------------------------------------


def test_clean_probability_is_respected() -> None:
    images = random_images(batch=2000, size=8)
    for probability in (0.5, 0.2):
        out = add_noise(images, NoiseConfig(probability), seeded())
        clean = (out == images).flatten(1).all(dim=1).float().mean().item()
        # Binomial(2000, p): 4 standard deviations are under 0.045.
        assert clean == pytest.approx(probability, abs=0.045)


def test_clean_probability_extremes() -> None:
    images = random_images(batch=50, size=8)
    assert torch.equal(add_noise(images, NoiseConfig(1.0), seeded()), images)
    out = add_noise(images, NoiseConfig(0.0), seeded())
    assert not (out == images).flatten(1).all(dim=1).any()


def test_artifacts_and_levels_are_drawn_uniformly() -> None:
    config = NoiseConfig(0.0, (Artifact.BLUR, Artifact.GRAYSCALE, Artifact.OCCLUSION))
    artifact, level = _draw(6000, config, torch.device("cpu"), seeded())
    assert torch.bincount(artifact, minlength=3).div(6000).sub(1 / 3).abs().max() < 0.03
    assert (level[artifact == 1] == 0).all()  # grayscale has one level
    for index in (0, 2):
        shares = torch.bincount(level[artifact == index], minlength=3).float()
        assert (shares / shares.sum()).sub(1 / 3).abs().max() < 0.04


def test_add_noise_applies_the_configured_artifact() -> None:
    images = random_images(batch=10)
    out = add_noise(images, NoiseConfig(0.0, (Artifact.GRAYSCALE,)), seeded())
    assert torch.equal(out, apply_artifact(images, Artifact.GRAYSCALE, 1.0))
    out = add_noise(images, NoiseConfig(0.0, ("brightness",)), seeded())
    candidates = torch.stack([apply_artifact(images, Artifact.BRIGHTNESS, f) for f in Artifact.BRIGHTNESS.levels])
    matches = (candidates == out.unsqueeze(0)).flatten(2).all(dim=2)
    assert (matches.sum(dim=0) == 1).all()


def test_add_noise_is_deterministic_given_the_generator() -> None:
    images = random_images(batch=64, size=16)
    config = NoiseConfig(0.3, tuple(Artifact))
    first = add_noise(images, config, seeded(7))
    assert torch.equal(first, add_noise(images, config, seeded(7)))
    assert not torch.equal(first, add_noise(images, config, seeded(8)))


def test_add_noise_output_is_new_in_range_and_keeps_the_input() -> None:
    images = random_images(batch=64, size=16)
    before = images.clone()
    out = add_noise(images, NoiseConfig(0.3, tuple(Artifact)), seeded())
    assert torch.equal(images, before)
    assert out.data_ptr() != images.data_ptr()
    assert out.shape == images.shape and out.dtype == images.dtype and out.device == images.device
    assert out.min() >= -1 and out.max() <= 1


def test_add_noise_handles_channels_last_and_no_grad() -> None:
    images = random_images(batch=32, size=16)
    config = NoiseConfig(0.3, tuple(Artifact))
    expected = add_noise(images, config, seeded(3))
    with torch.no_grad():
        out = add_noise(images.contiguous(memory_format=torch.channels_last), config, seeded(3))
    assert torch.allclose(out, expected, atol=1e-6)


def test_add_noise_carries_no_gradient() -> None:
    images = random_images(batch=8, size=8).requires_grad_(True)
    assert not add_noise(images, NoiseConfig(0.0), seeded()).requires_grad


def test_add_noise_on_an_empty_batch() -> None:
    assert add_noise(torch.zeros(0, 3, 8, 8)).shape == (0, 3, 8, 8)


# --- NoiseConfig -------------------------------------------------------------------------------


def test_config_defaults_and_round_trip() -> None:
    config = NoiseConfig()
    assert config.clean_probability == 0.5 and config.artifacts == PAPER_ARTIFACTS
    assert config.to_dict() == {
        "clean_probability": 0.5,
        "artifacts": ["downsample", "blur", "gaussian-noise", "brightness"],
    }
    extra = NoiseConfig(0.25, tuple(Artifact))
    assert NoiseConfig.from_dict(extra.to_dict()) == extra
    assert NoiseConfig.from_dict({}) == config


def test_config_converts_names() -> None:
    assert NoiseConfig(0.1, ["blur", "occlusion"]).artifacts == (Artifact.BLUR, Artifact.OCCLUSION)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"clean_probability": -0.1}, r"\[0, 1\]"),
        ({"clean_probability": 1.5}, r"\[0, 1\]"),
        ({"clean_probability": float("nan")}, r"\[0, 1\]"),
        ({"clean_probability": True}, "number"),
        ({"clean_probability": 0.5, "artifacts": ()}, "no artifact"),
        ({"artifacts": ("blur", "blur")}, "distinct"),
        ({"artifacts": ("sepia",)}, "known artifacts"),
        ({"artifacts": "blur"}, "sequence"),
    ],
)
def test_config_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        NoiseConfig(**kwargs)


def test_config_without_artifacts_is_fine_when_always_clean() -> None:
    images = random_images()
    assert torch.equal(add_noise(images, NoiseConfig(1.0, ()), seeded()), images)


def test_from_dict_refuses_unknown_keys_and_a_bare_string() -> None:
    with pytest.raises(ValueError, match="unknown noise settings: colour"):
        NoiseConfig.from_dict({"colour": 1})
    with pytest.raises(ValueError, match="list of names"):
        NoiseConfig.from_dict({"artifacts": "blur"})


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_add_noise_on_cuda_with_a_cuda_generator() -> None:
    images = random_images(batch=64, size=32).cuda()
    generator = torch.Generator(device="cuda").manual_seed(0)
    out = add_noise(images, NoiseConfig(0.3, tuple(Artifact)), generator)
    assert out.device == images.device and out.min() >= -1 and out.max() <= 1
    again = add_noise(images, NoiseConfig(0.3, tuple(Artifact)), torch.Generator(device="cuda").manual_seed(0))
    assert torch.equal(out, again)
