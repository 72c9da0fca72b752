"""The model package: layer tables, registered variants, inputs reaching the output, weight transfer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import timm
import torch
import yaml
from torch import nn

from abaw.errors import DataError
from abaw.model import (
    AffectModel,
    LatentInjection,
    ModelConfig,
    ModelFamily,
    TemporalModel,
    TemporalModelConfig,
    VaHead,
    create_model,
    list_models,
    load_matching_state,
    model_config,
    model_family,
    register_model,
)
from abaw.model.aeg import AutoEncoderGenerator
from abaw.model.backbone import TimmDiscriminator
from abaw.model.cd import ConditionalDiscriminator
from abaw.model.regressor import TimmRegressor
from abaw.model.temporal import LinearTemporalModel, temporal_model_config
from abaw.model.transfer import TransferReport

SIZE = 112
TINY_TIMM = "test_resnet"


def n_params(module: nn.Module | None) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters())


def conv(c_in: int, c_out: int, k: int, bias: bool) -> int:
    return c_in * c_out * k * k + (c_out if bias else 0)


def aeg_expected(w: int) -> int:
    """The AEG layer table of the spec: bias-free convs, each but the last followed by an affine IN (2 per channel)."""
    norm = 2
    return (
        conv(3, w, 7, False) + norm * w
        + conv(w, 2 * w, 4, False) + norm * 2 * w
        + conv(2 * w, 4 * w, 4, False) + norm * 4 * w
        + 2 * (conv(4 * w, 4 * w, 3, False) + norm * 4 * w)
        + conv(4 * w, 2 * w, 4, False) + norm * 2 * w
        + conv(2 * w, w, 4, False) + norm * w
        + conv(w, 3, 7, False)
    )  # fmt: skip


def cd_expected(w: int, audio_dim: int = 0, concat_latent: int = 0) -> int:
    """The CD layer table of the spec: six k4 convs with bias, src head k3 and va head k2 without."""
    c_in = 4 if audio_dim else 3
    widths = [c_in] + [w * 2**k for k in range(6)]
    extra_in = [0, 0, concat_latent, 0, 0, 0]
    trunk = sum(conv(widths[k] + extra_in[k], widths[k + 1], 4, True) for k in range(6))
    audio = audio_dim * SIZE + SIZE if audio_dim else 0
    return audio + trunk + conv(32 * w, 1, 3, False) + conv(32 * w, 2, 2, False)


def tiny_batch(model: AffectModel, batch: int = 2) -> tuple[torch.Tensor, torch.Tensor | None]:
    images = torch.rand(batch, 3, SIZE, SIZE) * 2 - 1
    audio = torch.randn(batch, model.config.audio_dim) if model.uses_audio else None
    return images, audio


# --- shapes and sizes -------------------------------------------------------------------------------------------


def test_registered_names():
    assert list_models(family=ModelFamily.FRAME) == [
        "aeg-cd",
        "aeg-cd-sz",
        "aeg-cd-sz-tiny",
        "aeg-cd-tiny",
        "disc",
        "disc-tiny",
        "timm-regressor",
        "timm-regressor-tiny",
    ]
    assert list_models(family=ModelFamily.TEMPORAL) == ["gru", "ridge", "tcn", "transformer"]
    assert list_models("*-tiny") == ["aeg-cd-sz-tiny", "aeg-cd-tiny", "disc-tiny", "timm-regressor-tiny"]
    assert list_models("nothing*") == []


@pytest.mark.parametrize("name", list_models(family=ModelFamily.FRAME))
def test_every_variant_runs_at_112(name: str):
    batch = 2 if name.endswith("-tiny") else 1
    model = create_model(name)
    config = model.config
    images, audio = tiny_batch(model, batch)
    va = model(images, audio=audio)
    assert va.shape == (batch, 2)
    assert torch.isfinite(va).all()
    latent = None
    if model.adversarial:
        cleaned, latent = model.generate(images)
        assert cleaned.shape == images.shape
        assert latent.shape == (batch, 4 * config.generator_width, SIZE // 4, SIZE // 4)
        assert cleaned.abs().max() <= 1
    src, va = model.discriminate(images, latent, audio)
    assert va.shape == (batch, 2)
    if config.regressor:
        assert src is None
    else:
        assert src.shape == (batch, 1, 2, 2)


def test_variant_flags():
    assert not model_config("disc").use_generator
    assert model_config("aeg-cd").use_generator and not model_config("aeg-cd").use_latent
    sz = model_config("aeg-cd-sz")
    assert sz.use_generator and sz.use_latent and sz.audio_dim == 50
    assert model_config("aeg-cd-sz-tiny").generator_width == 4
    assert model_config("aeg-cd-sz-tiny").discriminator_width == 8
    assert model_config("timm-regressor").regressor and model_config("timm-regressor").backbone == "resnet18"
    assert create_model("aeg-cd-sz-tiny").adversarial and create_model("aeg-cd-sz-tiny").uses_audio
    assert not create_model("disc-tiny").adversarial and not create_model("disc-tiny").uses_audio


def test_parameter_counts_follow_the_layer_tables():
    generator = AutoEncoderGenerator()
    assert n_params(generator) == aeg_expected(16)
    assert 160_000 <= n_params(generator) <= 200_000
    assert generator.latent_channels == 64
    cd = ConditionalDiscriminator()
    assert n_params(cd) == cd_expected(32)
    assert 11.1e6 <= n_params(cd) <= 11.3e6
    assert n_params(ConditionalDiscriminator(audio_dim=46)) == cd_expected(32, audio_dim=46)
    concat = ConditionalDiscriminator(latent_channels=64, injection=LatentInjection.CONCAT)
    assert n_params(concat) == cd_expected(32, concat_latent=64)
    # The paper's widths match the latent to layer 2, so `add` needs no projection.
    assert n_params(ConditionalDiscriminator(latent_channels=64)) == cd_expected(32)
    model = create_model("aeg-cd-sz", audio_dim=46)
    assert n_params(model) == aeg_expected(16) + cd_expected(32, audio_dim=46)


def test_spatial_sizes_of_the_cd_layers():
    cd = ConditionalDiscriminator()
    x = torch.zeros(1, 3, SIZE, SIZE)
    sizes = []
    for layer in [*cd.lower, *cd.upper]:
        x = layer(x)
        if isinstance(layer, nn.Conv2d):
            sizes.append(tuple(x.shape[1:]))
    assert sizes == [(32, 56, 56), (64, 28, 28), (128, 14, 14), (256, 7, 7), (512, 4, 4), (1024, 2, 2)]
    assert cd.va_head.kernel_size == (2, 2)


def test_other_image_sizes_fit_the_va_kernel():
    model = create_model("aeg-cd-sz-tiny", image_size=64, audio_dim=3)
    assert model.discriminator.va_head.kernel_size == (1, 1)
    src, va = model.discriminate(*model.generate(torch.zeros(2, 3, 64, 64)), torch.zeros(2, 3))
    assert src.shape == (2, 1, 1, 1) and va.shape == (2, 2)
    assert create_model("disc-tiny", image_size=128).discriminator.va_head.kernel_size == (2, 2)


# --- inputs reach the affect output ----------------------------------------------------------------------------


@pytest.mark.parametrize("injection", list(LatentInjection))
@pytest.mark.parametrize("head", list(VaHead))
def test_latent_audio_and_image_reach_va(injection: LatentInjection, head: VaHead):
    torch.manual_seed(0)
    # 64x64 keeps the backward pass quick; the shapes at 112 are checked above.
    model = create_model("aeg-cd-sz-tiny", latent_injection=injection, va_head=head.value, audio_dim=6, image_size=64)
    images, audio = torch.rand(2, 3, 64, 64) * 2 - 1, torch.randn(2, 6)
    images.requires_grad_(True)
    audio.requires_grad_(True)
    cleaned, latent = model.generate(images)
    latent.retain_grad()
    _, va = model.discriminate(cleaned, latent, audio)
    va.sum().backward()
    assert latent.grad.abs().sum() > 0
    assert audio.grad.abs().sum() > 0
    assert images.grad.abs().sum() > 0  # through the generator, both via the cleaned face and via z
    assert all(p.grad is not None for p in model.generator.parameters())


def test_add_and_concat_injection():
    add = create_model("aeg-cd-sz-tiny").discriminator
    concat = create_model("aeg-cd-sz-tiny", latent_injection="concat").discriminator
    assert add.injection is LatentInjection.ADD and add.latent_proj is None
    assert add.upper[0].in_channels == 16
    assert concat.upper[0].in_channels == 32  # twice layer 2's channels
    # Widths that do not match the latent: `add` projects, `concat` takes the latent's channels as they are.
    odd_add = ConditionalDiscriminator(width=8, latent_channels=24, image_size=32)
    assert odd_add.latent_proj.weight.shape == (16, 24, 1, 1)
    odd_concat = ConditionalDiscriminator(width=8, latent_channels=24, injection="concat", image_size=32)
    assert odd_concat.latent_proj is None and odd_concat.upper[0].in_channels == 40
    assert odd_add(torch.zeros(1, 3, 32, 32), latent=torch.ones(1, 24, 8, 8))[1].shape == (1, 2)


def test_without_latent_the_latent_is_ignored():
    model = create_model("aeg-cd-tiny")
    images = torch.randn(2, 3, SIZE, SIZE)
    cleaned, latent = model.generate(images)
    # Callers may always pass latent and audio; AffectModel drops what the config does not use.
    assert torch.equal(model.discriminate(cleaned, latent, torch.ones(2, 7))[1], model.discriminate(cleaned)[1])


def test_tanh_head_is_the_linear_head_bounded():
    torch.manual_seed(1)
    linear = create_model("disc-tiny")
    tanh = create_model("disc-tiny", va_head=VaHead.TANH)
    tanh.load_state_dict(linear.state_dict())
    with torch.no_grad():
        linear.discriminator.va_head.weight.mul_(1000)
        tanh.discriminator.va_head.weight.mul_(1000)
    images = torch.rand(4, 3, SIZE, SIZE) * 2 - 1
    unbounded, bounded = linear(images), tanh(images)
    assert unbounded.abs().max() > 1  # the paper's head is unbounded: callers clip
    assert bounded.abs().max() <= 1
    torch.testing.assert_close(bounded, torch.tanh(unbounded))


def test_inputs_not_matching_the_construction_are_clear_errors():
    cd = ConditionalDiscriminator(width=8, latent_channels=16, audio_dim=3)
    image, latent, audio = torch.zeros(1, 3, SIZE, SIZE), torch.zeros(1, 16, 28, 28), torch.zeros(1, 3)
    with pytest.raises(ValueError, match="pass the generator's latent"):
        cd(image, audio=audio)
    with pytest.raises(ValueError, match=r"audio_dim=3: pass audio of shape \(B, 3\)"):
        cd(image, latent=latent)
    with pytest.raises(ValueError, match=r"audio of shape \(1, 3\), got \(1, 4\)"):
        cd(image, latent=latent, audio=torch.zeros(1, 4))
    with pytest.raises(ValueError, match=r"latent of shape \(1, 16, 28, 28\), got \(1, 16, 14, 14\)"):
        cd(image, latent=torch.zeros(1, 16, 14, 14), audio=audio)
    with pytest.raises(ValueError, match=r"images of shape \(B, 3, 112, 112\), got \(1, 3, 96, 96\)"):
        cd(torch.zeros(1, 3, 96, 96), latent=latent, audio=audio)
    plain = ConditionalDiscriminator(width=8)
    with pytest.raises(ValueError, match="without a latent input"):
        plain(image, latent=latent)
    with pytest.raises(ValueError, match="without audio"):
        plain(image, audio=audio)
    with pytest.raises(ValueError, match="has no generator"):
        create_model("disc-tiny").generate(image)
    with pytest.raises(ValueError, match="multiples of 4"):
        AutoEncoderGenerator(4)(torch.zeros(1, 3, 30, 30))


# --- config ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list_models(family=ModelFamily.FRAME))
def test_config_round_trips_through_json_and_yaml(name: str):
    config = model_config(name, va_head="tanh")
    values = config.to_dict()
    assert ModelConfig.from_dict(json.loads(json.dumps(values))) == config
    assert ModelConfig.from_dict(yaml.safe_load(yaml.safe_dump(values))) == config
    assert isinstance(values["latent_injection"], str) and values["va_head"] == "tanh"


def test_config_accepts_every_enum_member_by_value_and_by_member():
    for injection in LatentInjection:
        for head in VaHead:
            by_value = ModelConfig("x", True, True, latent_injection=injection.value, va_head=head.value)
            assert by_value.latent_injection is injection and by_value.va_head is head
            assert by_value == ModelConfig("x", True, True, latent_injection=injection, va_head=head)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"use_generator": False, "use_latent": True}, "use_latent needs use_generator"),
        ({"backbone_weights": "w.pth"}, "backbone_weights needs backbone"),
        ({"regressor": True}, "regressor needs backbone"),
        ({"regressor": True, "backbone": "resnet18", "use_generator": True}, "a regressor takes the image only"),
        ({"regressor": True, "backbone": "resnet18", "audio_dim": 4}, "a regressor takes the image only"),
        ({"latent_injection": "sum"}, "latent_injection must be one of add, concat, got 'sum'"),
        ({"va_head": "sigmoid"}, "va_head must be one of linear, tanh"),
        ({"audio_dim": -1}, "audio_dim must be an integer >= 0"),
        ({"audio_dim": True}, "audio_dim must be an integer"),
        ({"generator_width": 0}, "generator_width must be an integer >= 1"),
        ({"image_size": 16}, "image_size must be an integer >= 32"),
        ({"image_size": 110, "use_generator": True}, "multiple of 4"),
        ({"use_generator": "yes"}, "use_generator must be true or false"),
        ({"backbone": ""}, "backbone must be a non-empty string"),
    ],
)
def test_invalid_configs_are_rejected(values: dict, message: str):
    base = {"variant": "bad", "use_generator": False, "use_latent": False}
    with pytest.raises(ValueError, match=message):
        ModelConfig(**{**base, **values})


def test_from_dict_rejects_unknown_and_missing_keys():
    saved = model_config("disc").to_dict()
    with pytest.raises(ValueError, match=r"unknown model config keys 'depth', 'dropout'; known keys: variant, "):
        ModelConfig.from_dict({**saved, "depth": 3, "dropout": 0.1})
    del saved["use_latent"]
    with pytest.raises(ValueError, match="lacks 'use_latent'"):
        ModelConfig.from_dict(saved)
    with pytest.raises(ValueError, match="must be a mapping"):
        ModelConfig.from_dict(["disc"])


# --- registry --------------------------------------------------------------------------------------------------


def test_registry_errors():
    with pytest.raises(ValueError, match=r"unknown model 'disk'; known models: aeg-cd, .*disc, "):
        create_model("disk")
    with pytest.raises(ValueError, match="unknown option 'depth' for model 'disc'; options: use_generator, "):
        model_config("disc", depth=3)
    with pytest.raises(ValueError, match="unknown option 'variant'"):
        model_config("disc", variant="other")
    with pytest.raises(ValueError, match="already registered"):
        register_model("disc")(lambda **overrides: model_config("disc"))
    with pytest.raises(ValueError, match="use_latent needs use_generator"):
        create_model("disc", use_latent=True)
    with pytest.raises(TypeError, match="model name or a model config"):
        create_model(3)


@pytest.mark.parametrize("name", [name for name in list_models(family=ModelFamily.TEMPORAL) if name != "ridge"])
def test_a_temporal_config_round_trips_and_reads_the_name_older_checkpoints_stored(name: str):
    config = model_config(name, input_dim=6, visual_dim=4, hidden=8, layers=1, heads=2)
    assert TemporalModelConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    older = {key: value for key, value in config.to_dict().items() if key != "variant"}
    assert TemporalModelConfig.from_dict({"name": name, **older}) == config
    model = create_model(config)
    assert isinstance(model, TemporalModel) and model_family(name) is ModelFamily.TEMPORAL
    frames = torch.zeros(1, 5, 6)
    assert model(frames, torch.ones(1, 5, dtype=torch.bool), torch.ones(1, 5, dtype=torch.bool)).shape == (1, 5, 2)


def test_the_ridge_config_round_trips_through_plain_values_and_builds_its_linear_model():
    config = model_config("ridge", input_dim=6, visual_dim=4, spans=(3, 7))
    assert temporal_model_config(json.loads(json.dumps(config.to_dict()))) == config
    model = create_model(config)
    assert isinstance(model, LinearTemporalModel) and model_family("ridge") is ModelFamily.TEMPORAL
    assert not list(model.parameters()) and set(model.state_dict()) == {"weight", "bias"}
    frames = torch.zeros(1, 5, 6)
    assert model(frames, torch.ones(1, 5, dtype=torch.bool), torch.ones(1, 5, dtype=torch.bool)).shape == (1, 5, 2)


def test_create_model_from_a_saved_config():
    config = ModelConfig.from_dict(model_config("aeg-cd-sz-tiny", audio_dim=12).to_dict())
    model = create_model(config, va_head="tanh")
    assert model.config.audio_dim == 12 and model.config.va_head is VaHead.TANH
    assert model.config.variant == "aeg-cd-sz-tiny"
    assert config.va_head is VaHead.LINEAR  # the caller's config is not changed
    with pytest.raises(ValueError, match="unknown option 'colour'"):
        create_model(config, colour=1)
    with pytest.raises(TypeError, match="needs a ModelConfig"):
        AffectModel(config.to_dict())


# --- progressive training --------------------------------------------------------------------------------------


def test_progressive_transfer_disc_to_aeg_cd_to_sz():
    torch.manual_seed(2)
    disc, aeg_cd, sz = create_model("disc-tiny"), create_model("aeg-cd-tiny"), create_model("aeg-cd-sz-tiny")

    first = load_matching_state(aeg_cd, disc.state_dict())
    assert sorted(first.loaded) == sorted(disc.state_dict())
    assert first.adapted == [] and first.skipped == {}
    assert first.missing and all(name.startswith("generator.") for name in first.missing)
    for name, tensor in disc.state_dict().items():
        assert torch.equal(aeg_cd.state_dict()[name], tensor)

    second = load_matching_state(sz, aeg_cd.state_dict())
    assert second.adapted == ["discriminator.lower.0.weight"]
    assert second.missing == ["discriminator.audio_map.fc.weight", "discriminator.audio_map.fc.bias"]
    assert second.skipped == {}
    source, widened = (
        aeg_cd.state_dict()["discriminator.lower.0.weight"],
        sz.state_dict()["discriminator.lower.0.weight"],
    )
    assert widened.shape == (8, 4, 4, 4) and source.shape == (8, 3, 4, 4)
    assert torch.equal(widened[:, :3], source)
    assert torch.count_nonzero(widened[:, 3]) == 0  # the audio channel starts neutral
    for name, tensor in aeg_cd.state_dict().items():
        if name != "discriminator.lower.0.weight":
            assert torch.equal(sz.state_dict()[name], tensor)

    line = second.summary()
    assert "\n" not in line and line.startswith("loaded ") and "adapted 1 (discriminator.lower.0.weight)" in line
    assert json.loads(json.dumps(second.to_dict()))["adapted"] == ["discriminator.lower.0.weight"]


def test_concat_stage_starts_exactly_where_disc_ended():
    # With `concat` the latent's new layer-3 channels are zeroed too, so neither z nor audio changes the output.
    torch.manual_seed(3)
    disc = create_model("disc-tiny")
    sz = create_model("aeg-cd-sz-tiny", latent_injection="concat", audio_dim=5)
    report = load_matching_state(sz, disc.state_dict())
    assert sorted(report.adapted) == ["discriminator.lower.0.weight", "discriminator.upper.0.weight"]
    images = torch.rand(2, 3, SIZE, SIZE) * 2 - 1
    before = disc.discriminate(images)
    after = sz.discriminate(images, torch.randn(2, 16, 28, 28), torch.randn(2, 5))
    torch.testing.assert_close(after[0], before[0])
    torch.testing.assert_close(after[1], before[1])


def test_transfer_skips_what_does_not_fit():
    sz, plain = create_model("aeg-cd-sz-tiny"), create_model("aeg-cd-tiny")
    state = {**sz.state_dict(), "extra.weight": torch.zeros(1), "step": 7}
    report = load_matching_state(plain, state)
    assert (
        report.skipped["discriminator.lower.0.weight"] == "shape (8, 4, 4, 4) in the source, (8, 3, 4, 4) in the model"
    )
    assert report.skipped["discriminator.audio_map.fc.weight"] == "not in the model"
    assert report.skipped["extra.weight"] == "not in the model"
    assert report.skipped["step"] == "not a tensor (int)"
    assert report.missing == ["discriminator.lower.0.weight"]
    # A transposed convolution's dim 1 is its output: never "adapted".
    narrow = nn.Sequential(nn.ConvTranspose2d(4, 2, 3), nn.Conv2d(1, 1, 1))
    wide = nn.Sequential(nn.ConvTranspose2d(4, 3, 3), nn.Conv2d(1, 1, 1))
    assert sorted(load_matching_state(wide, narrow.state_dict()).skipped) == ["0.bias", "0.weight"]
    with pytest.raises(ValueError, match="no tensor of the 1 in the source matches the model"):
        load_matching_state(plain, {"fc.weight": torch.zeros(2)})


def test_transfer_report_as_json_lists_every_tensor_and_is_a_copy():
    small, large = nn.Sequential(nn.Conv2d(3, 2, 1), nn.Conv2d(2, 2, 1)), nn.Sequential(nn.Conv2d(4, 2, 1))
    report = load_matching_state(large, {**small.state_dict(), "step": 7})
    plain = json.loads(json.dumps(report.to_dict()))
    assert plain == {
        "loaded": ["0.bias"],
        "adapted": ["0.weight"],
        "skipped": {"1.weight": "not in the model", "1.bias": "not in the model", "step": "not a tensor (int)"},
        "missing": [],
    }
    changed = report.to_dict()
    changed["loaded"].append("x")
    changed["skipped"].clear()
    assert report.loaded == ["0.bias"] and len(report.skipped) == 3


def test_transfer_summary_names_the_first_three_of_each_kind():
    report = TransferReport(loaded=["a"], adapted=["w"], skipped={f"s{i}": "not in the model" for i in range(5)})
    report.missing = ["m1", "m2"]
    assert report.summary() == (
        "loaded 1 tensors, adapted 1 (w), skipped 5 from the source (s0, s1, s2 and 2 more), "
        "left 2 as initialised (m1, m2)"
    )


# --- timm ------------------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("injection", list(LatentInjection))
def test_timm_discriminator_matches_the_cd_interface(injection: LatentInjection):
    torch.manual_seed(4)
    model = create_model("aeg-cd-sz-tiny", backbone=TINY_TIMM, latent_injection=injection, audio_dim=4)
    assert isinstance(model.discriminator, TimmDiscriminator)
    assert model.discriminator.trunk_in_chans == 4
    images, audio = tiny_batch(model)
    audio.requires_grad_(True)
    cleaned, latent = model.generate(images)
    latent.retain_grad()
    src, va = model.discriminate(cleaned, latent, audio)
    assert src.shape == (2, 1, 2, 2)  # pooled to the CD's patch map
    assert va.shape == (2, 2)
    va.sum().backward()
    assert latent.grad.abs().sum() > 0 and audio.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="pass the generator's latent"):
        model.discriminator(cleaned, audio=audio)


def test_timm_discriminator_without_latent_or_audio():
    disc = TimmDiscriminator(TINY_TIMM, va_head=VaHead.TANH)
    src, va = disc(torch.randn(2, 3, SIZE, SIZE))
    assert src.shape == (2, 1, 2, 2) and va.abs().max() <= 1
    assert disc.latent_encoder is None and disc.weights_report is None
    with pytest.raises(ValueError, match="unknown timm model 'no_such_net'"):
        TimmDiscriminator("no_such_net")


def test_timm_regressor():
    model = create_model("timm-regressor-tiny")
    assert isinstance(model.discriminator, TimmRegressor)
    assert not model.adversarial and model.generator is None
    images = torch.randn(2, 3, SIZE, SIZE)
    src, va = model.discriminate(images, torch.zeros(1), torch.zeros(1))  # dropped by the config
    assert src is None and va.shape == (2, 2)
    assert model(images).shape == (2, 2)
    with pytest.raises(ValueError, match="takes neither a latent nor audio"):
        model.discriminator(images, latent=torch.zeros(2, 4, 28, 28))
    bounded = TimmRegressor(TINY_TIMM, va_head="tanh")
    assert bounded(images)[1].abs().max() <= 1


def reference_net(num_classes: int = 10) -> nn.Module:
    torch.manual_seed(5)
    return timm.create_model(TINY_TIMM, pretrained=False, num_classes=num_classes)


@pytest.mark.parametrize("wrap", ["bare", "state_dict", "model", "module-prefix"])
def test_backbone_weights_from_a_local_file(tmp_path: Path, wrap: str):
    reference = reference_net().state_dict()
    saved = {
        "bare": reference,
        "state_dict": {"state_dict": reference, "epoch": 3},
        "model": {"model": reference},
        "module-prefix": {f"module.{name}": tensor for name, tensor in reference.items()},
    }[wrap]
    path = tmp_path / "weights.pth"
    torch.save(saved, path)

    model = create_model("aeg-cd-sz-tiny", backbone=TINY_TIMM, backbone_weights=str(path))
    report = model.weights_report
    trunk = model.discriminator.trunk.state_dict()
    assert report.adapted == ["conv1.0.weight"]  # the stem takes the audio channel, zeroed
    assert torch.equal(trunk["conv1.0.weight"][:, :3], reference["conv1.0.weight"])
    assert torch.count_nonzero(trunk["conv1.0.weight"][:, 3]) == 0
    assert set(report.skipped) == {"fc.weight", "fc.bias"}  # the trunk has no classifier
    assert report.missing == []
    for name in report.loaded:
        assert torch.equal(trunk[name], reference[name])


def test_regressor_weights_skip_a_classifier_of_another_size(tmp_path: Path):
    reference = reference_net(num_classes=1000).state_dict()
    path = tmp_path / "imagenet.pth"
    torch.save(reference, path)
    model = create_model("timm-regressor-tiny", backbone_weights=path.as_posix())
    report = model.weights_report
    assert set(report.skipped) == {"fc.weight", "fc.bias"}
    assert report.missing == ["fc.weight", "fc.bias"]
    assert "skipped 2" in report.summary()
    assert torch.equal(model.discriminator.net.state_dict()["conv1.0.weight"], reference["conv1.0.weight"])
    assert create_model("timm-regressor-tiny").weights_report is None


def test_unusable_weight_files_are_data_errors(tmp_path: Path):
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a checkpoint at all")
    with pytest.raises(DataError, match=r"broken\.pth: cannot read backbone weights") as caught:
        TimmDiscriminator(TINY_TIMM, weights=broken)
    assert caught.value.path == str(broken) and "\n" not in str(caught.value)

    with pytest.raises(DataError, match=r"absent\.pth: backbone weights file not found"):
        TimmRegressor(TINY_TIMM, weights=tmp_path / "absent.pth")

    other = tmp_path / "other.pth"
    torch.save({"encoder.weight": torch.zeros(3, 3)}, other)
    with pytest.raises(DataError, match=r"other\.pth: no tensor matches timm model 'test_resnet' \(1 tensors"):
        TimmDiscriminator(TINY_TIMM, weights=other)

    empty = tmp_path / "empty.pth"
    torch.save({"epoch": 3}, empty)
    with pytest.raises(DataError, match=r"empty\.pth: backbone weights file holds no tensors"):
        TimmRegressor(TINY_TIMM, weights=empty)
