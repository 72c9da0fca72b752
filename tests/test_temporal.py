"""Temporal models (``abaw/temporal``): sequences, windows, masks, models, losses and folds; no training."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge
from sklearn.model_selection import cross_val_predict

from abaw.data.entries import Entry
from abaw.data.index import open_dataset
from abaw.data.layout import Split
from abaw.data.sequences import EntrySequence, Normalisation, build_sequence, parse_feature_names
from abaw.errors import ConfigError, DataError
from abaw.model import ModelFamily, TemporalModelConfig, create_model, list_models
from abaw.model.temporal import temporal_model_config, windowed_features
from abaw.runtime.windows import cut_windows, predict_sequences, stack_windows, window_starts
from abaw.temporal.config import TemporalConfig, TemporalLoss
from abaw.temporal.folds import grouped_folds, video_folds
from abaw.temporal.losses import window_loss
from abaw.temporal.ridge import _SourceSearch, fit_ridge

MODELS = ("tcn", "gru", "transformer")


@dataclass
class FakeEmbeddings:
    """An embedding cache's reader: the interface of ``load_embeddings``, with features made up per frame."""

    name: str = "fake"
    dim: int = 3
    visual: bool = True

    def for_entry(self, entry: Entry) -> tuple[np.ndarray, np.ndarray]:
        rows = entry.frame_count
        frames = np.arange(1, rows + 1)
        features = np.stack([frames, -frames, frames % 3], axis=1).astype(np.float32)
        return features, entry.has_face(frames)


@dataclass
class FakeAudio:
    name: str = "audio"
    dim: int = 2
    visual: bool = False

    def for_entry(self, entry: Entry) -> tuple[np.ndarray, None]:
        return np.full((entry.frame_count, 2), 7.0, np.float32), None


def tiny(name: str, input_dim: int = 5, visual_dim: int = 3, **sizes) -> torch.nn.Module:
    config = TemporalModelConfig(name, input_dim, visual_dim, hidden=8, layers=2, heads=2, dropout=0.0, **sizes)
    return create_model(config).eval()


def sequence(name: str, rows: int, width: int = 5, labels: bool = True, seed: int = 0) -> EntrySequence:
    rng = np.random.default_rng(seed)
    values = rng.uniform(-1, 1, (rows, 2)).astype(np.float32) if labels else None
    return EntrySequence(name, rng.normal(size=(rows, width)).astype(np.float32), rng.random(rows) > 0.3, values)


# --------------------------------------------------------------------------- sequences


def test_sequence_has_one_row_per_label_line_visual_columns_first_and_no_face_rows_zeroed(generated):
    index = open_dataset(generated.root)
    entry = next(entry for entry in index.split(Split.TRAIN) if 0 < len(entry.face_frames) < entry.frame_count)
    built = build_sequence(index, entry, [FakeAudio(), FakeEmbeddings()])
    assert built.inputs.shape == (entry.label_rows, 5)
    assert built.labels.shape == (entry.label_rows, 2)
    expected_faces = entry.has_face(np.arange(1, entry.label_rows + 1))
    np.testing.assert_array_equal(built.has_face, expected_faces)
    assert not expected_faces.all()
    rows = np.flatnonzero(expected_faces)
    np.testing.assert_array_equal(built.inputs[rows, 0], rows + 1)  # the visual source's columns come first
    assert (built.inputs[~expected_faces, :3] == 0).all()
    assert (built.inputs[:, 3:] == 7.0).all()  # audio is there with or without a face


def test_normalisation_uses_face_frames_for_visual_columns_and_every_frame_for_audio():
    first = EntrySequence(
        "a", np.array([[1.0, 10.0], [3.0, 20.0], [0.0, 30.0]], np.float32), np.array([True, True, False])
    )
    stats = Normalisation.fit([first], visual=1)
    np.testing.assert_allclose(stats.mean, [2.0, 20.0])
    np.testing.assert_allclose(stats.std, [1.0, np.std([10, 20, 30])], rtol=1e-6)
    applied = stats.apply(first, visual=1)
    assert applied.inputs[2, 0] == 0.0  # no face: left for the model's missing vector
    np.testing.assert_allclose(applied.inputs[:2, 0], [-1.0, 1.0])


def test_feature_names_are_parsed_and_bad_lists_refused():
    assert parse_feature_names("aln,audio") == ("aln", "audio")
    with pytest.raises(ConfigError, match="twice"):
        parse_feature_names("audio,audio")
    with pytest.raises(ConfigError, match="at least one"):
        parse_feature_names(" , ")
    with pytest.raises(ConfigError, match="unknown temporal model 'lstm'"):
        TemporalConfig(model="lstm")


# --------------------------------------------------------------------------- windows


@pytest.mark.parametrize(("rows", "window", "stride"), [(1, 4, 2), (10, 4, 3), (17, 8, 4), (8, 8, 4), (30, 7, 7)])
def test_windows_cover_every_frame(rows, window, stride):
    covered = np.zeros(rows, int)
    for start in window_starts(rows, window, stride):
        covered[start : start + window] += 1
    assert (covered >= 1).all()
    assert window_starts(rows, window, stride)[0] == 0


def test_stacked_windows_mask_padding_and_each_missing_dimension():
    labels = np.array([[0.1, 0.2], [-5.0, 0.3], [0.4, -5.0]], np.float32)
    seq = EntrySequence("a", np.ones((3, 2), np.float32), np.array([True, False, True]), labels)
    batch = stack_windows([seq], cut_windows([seq], 4, 2), 4)
    assert batch.inputs.shape == (1, 4, 2)
    assert batch.valid.tolist() == [[True, True, True, False]]
    assert batch.labelled[0].tolist() == [[True, True], [False, True], [True, False], [False, False]]
    assert batch.has_face.tolist() == [[True, False, True, False]]


# --------------------------------------------------------------------------- models


@pytest.mark.parametrize("name", MODELS)
def test_models_map_windows_to_values_in_range(name):
    assert set(MODELS) <= set(list_models(family=ModelFamily.TEMPORAL))
    model = tiny(name)
    inputs = torch.randn(3, 12, 5) * 10
    out = model(inputs, torch.rand(3, 12) > 0.5, torch.ones(3, 12, dtype=torch.bool))
    assert out.shape == (3, 12, 2)
    assert out.abs().max() <= 1.0


@pytest.mark.parametrize("name", MODELS)
def test_padding_never_changes_the_outputs_of_real_frames(name):
    model = tiny(name)
    torch.manual_seed(0)
    inputs, faces = torch.randn(2, 10, 5), torch.ones(2, 10, dtype=torch.bool)
    valid = torch.ones(2, 10, dtype=torch.bool)
    valid[1, 6:] = False
    changed = inputs.clone()
    changed[1, 6:] = 100.0
    with torch.no_grad():
        before, after = model(inputs, faces, valid), model(changed, faces, valid)
    torch.testing.assert_close(before[1, :6], after[1, :6])
    torch.testing.assert_close(before[0], after[0])


@pytest.mark.parametrize("name", MODELS)
def test_frames_without_a_face_see_the_learned_missing_vector(name):
    model = tiny(name)
    inputs, faces = torch.randn(1, 8, 5), torch.ones(1, 8, dtype=torch.bool)
    faces[0, 3] = False
    valid = torch.ones(1, 8, dtype=torch.bool)
    changed = inputs.clone()
    changed[0, 3, :3] = 50.0  # its visual features are ignored
    with torch.no_grad():
        torch.testing.assert_close(model(inputs, faces, valid), model(changed, faces, valid))
        before = model(inputs, faces, valid)
        model.missing.add_(1.0)  # the learned vector is what it sees instead
        assert not torch.allclose(model(inputs, faces, valid)[0, 3], before[0, 3])
    changed[0, 4, :3] = 50.0  # a frame with a face does change
    with torch.no_grad():
        assert not torch.allclose(model(inputs, faces, valid)[0, 4], model(changed, faces, valid)[0, 4])


def test_causal_tcn_does_not_look_ahead():
    model = tiny("tcn", causal=True)
    inputs, faces, valid = (
        torch.randn(1, 10, 5),
        torch.ones(1, 10, dtype=torch.bool),
        torch.ones(1, 10, dtype=torch.bool),
    )
    changed = inputs.clone()
    changed[0, 7:] += 5.0
    with torch.no_grad():
        torch.testing.assert_close(model(inputs, faces, valid)[0, :7], model(changed, faces, valid)[0, :7])


def test_inference_predicts_every_frame_of_sequences_longer_and_shorter_than_a_window():
    model = tiny("tcn")
    sequences = [sequence("long", 23), sequence("short", 3, labels=False)]
    values = predict_sequences(model, sequences, 8, device=torch.device("cpu"), batch_size=2)
    assert [value.shape for value in values] == [(23, 2), (3, 2)]
    assert np.isfinite(values[0]).all() and np.abs(values[0]).max() <= 1.0


# --------------------------------------------------------------------------- losses


@pytest.mark.parametrize("kind", list(TemporalLoss))
def test_unlabelled_and_padded_frames_never_change_the_loss(kind):
    seq = sequence("a", 12, seed=1)
    seq.labels[2, 0] = -5.0  # valence missing only
    seq.labels[5] = -5.0
    batch = stack_windows([seq], cut_windows([seq], 16, 8), 16)
    pred = (torch.rand(1, 16, 2, generator=torch.Generator().manual_seed(0)) - 0.5).requires_grad_(True)
    weights = torch.rand(2, 21) + 0.5
    loss, _ = window_loss(pred, batch.targets, batch.labelled, kind, weights)
    loss.backward()
    assert pred.grad[0, 2, 0] == 0 and pred.grad[0, 2, 1] != 0  # per dimension
    assert (pred.grad[0, 5] == 0).all() and (pred.grad[0, 12:] == 0).all()
    other = pred.detach().clone()
    other[0, 2, 0], other[0, 5], other[0, 12:] = 0.9, -0.9, 0.7
    targets = batch.targets.clone()
    targets[0, 5], targets[0, 12:] = 0.3, -0.2
    again, _ = window_loss(other, targets, batch.labelled, kind, weights)
    assert again.item() == pytest.approx(loss.item(), abs=1e-6)


def test_the_ccc_loss_of_a_perfect_prediction_is_zero():
    seq = sequence("a", 10)
    batch = stack_windows([seq], [(0, 0)], 10)
    loss, terms = window_loss(batch.targets.clone(), batch.targets, batch.labelled, TemporalLoss.CCC)
    assert loss.item() == pytest.approx(0.0, abs=1e-5)
    assert terms["ccc/arousal"] == pytest.approx(1.0, abs=1e-5)


# --------------------------------------------------------------------------- folds


def _entry(name: str, rows: int, split: Split = Split.TRAIN) -> Entry:
    return Entry(name, split, None, None, None, rows, np.zeros(0, np.int64))


def test_folds_never_share_a_video_and_hold_every_entry_once():
    names = ["v1_left", "v1_right", "video2", "video2_left", "v3", "v4_left", "v5", "v6", "v7_right", "v8"]
    entries = [_entry(name, 10 + 7 * number) for number, name in enumerate(names)]
    folds = video_folds(entries, 3)
    assert sorted(name for fold in folds for name in fold) == sorted(names)
    fold_of = {name: number for number, fold in enumerate(folds) for name in fold}
    assert fold_of["v1_left"] == fold_of["v1_right"]
    assert fold_of["video2"] == fold_of["video2_left"]
    assert all(fold for fold in folds)
    assert video_folds(entries, 3) == folds  # reproducible
    sizes = [sum(entry.frame_count for entry in entries if entry.name in fold) for fold in folds]
    assert max(sizes) - min(sizes) <= max(entry.frame_count for entry in entries)  # balanced by frames


def test_grouped_folds_hold_each_video_in_one_fold_and_need_two_videos():
    groups = np.array(["a", "a", "b", "c", "c", "d"])
    splits = grouped_folds(groups, 5)
    assert len(splits) == 4  # no more folds than videos
    for train, held_out in splits:
        assert not set(groups[train]) & set(groups[held_out])
    assert sorted(np.concatenate([held_out for _, held_out in splits]).tolist()) == list(range(6))
    with pytest.raises(DataError, match="at least 2 videos"):
        grouped_folds(np.array(["a", "a"]), 5)


def test_more_folds_than_videos_is_refused():
    with pytest.raises(DataError, match="3 folds need at least 3 videos"):
        video_folds([_entry("a_left", 3), _entry("a_right", 3), _entry("b", 3)], 3)


# --------------------------------------------------------------------------- the ridge floor


def test_ridge_features_are_the_frame_and_its_windowed_means_over_faces_and_valid_frames():
    inputs = torch.tensor([[[1.0, 10.0], [0.0, 20.0], [3.0, 30.0], [5.0, 40.0]]])
    has_face = torch.tensor([[True, False, True, True]])
    valid = torch.tensor([[True, True, True, False]])  # the last frame is padding
    features = windowed_features(inputs, has_face, valid, visual_dim=1, spans=[1])[0]
    assert features.shape == (4, 6)
    np.testing.assert_allclose(features[:, :3].numpy(), [[1, 10, 1], [0, 20, 0], [3, 30, 1], [0, 0, 0]])
    # Visual mean over the frames with a face, audio over the valid frames, and the share of faces.
    np.testing.assert_allclose(features[1, 3:].numpy(), [(1 + 3) / 2, 20.0, 2 / 3], rtol=1e-6)
    np.testing.assert_allclose(features[2, 3:].numpy(), [3.0, 25.0, 1 / 2], rtol=1e-6)


@pytest.mark.parametrize("rows", [3, 40, 129, 300])
def test_inference_windows_give_a_model_with_context_its_whole_sequence_values(rows):
    model = create_model("ridge", input_dim=5, visual_dim=3, spans=(3, 9)).eval()
    torch.manual_seed(0)
    with torch.no_grad():
        model.weight.normal_(std=0.05)
        model.bias.normal_(std=0.1)
    data = sequence("s", rows)
    data.inputs[~data.has_face, :3] = 0.0
    (values,) = predict_sequences(model, [data], 16, device=torch.device("cpu"))
    with torch.no_grad():
        inputs, has_face = torch.from_numpy(data.inputs)[None], torch.from_numpy(data.has_face)[None]
        whole = model(inputs, has_face, torch.ones(1, rows, dtype=torch.bool))
    np.testing.assert_allclose(values, whole[0].clamp(-1, 1).numpy(), atol=1e-5)


def test_ridge_is_a_registered_temporal_model_whose_settings_round_trip():
    assert "ridge" in list_models(family=ModelFamily.TEMPORAL)
    config = TemporalConfig(model="ridge", spans=(3, 15), alphas=(10, 100))
    assert config.closed_form and config.alphas == (10.0, 100.0)
    built = config.model_config(input_dim=6, visual_dim=4, sources=(4, 2))
    assert built.spans == (3, 15) and built.feature_dim == 7 * 3
    assert temporal_model_config(built.to_dict()) == built
    with pytest.raises(ConfigError, match="alphas"):
        TemporalConfig(model="ridge", alphas=(0.0,))


def test_ridge_fit_recovers_a_linear_signal_and_switches_off_a_source_that_only_adds_noise():
    rng = np.random.default_rng(0)
    sequences = []
    for number in range(6):
        inputs = rng.normal(size=(60, 6)).astype(np.float32)  # columns 0-3: noise; 4-5: the signal
        labels = np.tanh(inputs[:, 4:] @ np.array([[0.5, 0.0], [0.0, -0.4]], np.float32) + 0.1)
        labels[5] = -5.0  # an unannotated frame is not fitted on
        sequences.append(EntrySequence(f"v{number}", inputs, np.ones(60, bool), labels.astype(np.float32)))
    model = create_model("ridge", input_dim=6, visual_dim=4, spans=(2,))
    sources = [("noise", 4), ("signal", 2)]
    solution = fit_ridge(model, sequences, sources, alphas=(0.01, 1e5), folds=3, max_rows=10_000)
    assert solution.alphas == {"noise": 1e5, "signal": 0.01}
    assert solution.folds == 3 and solution.rows == 6 * 59 and solution.cv_ccc > 0.95
    assert solution.to_row()["alpha/signal"] == 0.01
    sampled = fit_ridge(model, sequences, sources, alphas=(0.01,), folds=3, max_rows=100)
    assert sampled.rows <= 100


@pytest.mark.parametrize("shape", [(90, 30), (90, 400)], ids=["more-rows", "more-columns"])
def test_the_alpha_search_predicts_what_scikit_learns_ridge_predicts_out_of_fold(shape):
    rng = np.random.default_rng(1)
    features, targets = rng.normal(size=shape) + 0.3, rng.normal(size=(shape[0], 2))
    owners = rng.integers(0, 3, size=shape[1])
    splits = grouped_folds(np.repeat(np.arange(9), shape[0] // 9), 3)
    alphas = (0.1, 10.0, 1e4)
    scaled = features / np.sqrt(np.asarray(alphas)[owners])
    expected = cross_val_predict(Ridge(alpha=1.0), scaled, targets, cv=splits)
    np.testing.assert_allclose(_SourceSearch(features, targets, owners, splits).predict(alphas), expected, atol=1e-8)


# --------------------------------------------------------------------------- fusion by source


def test_source_fusion_projects_each_source_and_drops_whole_sources_only_in_training():
    model = tiny("tcn", sources=(3, 2), source_dropout=0.5)
    inputs, face, valid = torch.randn(4, 6, 5), torch.ones(4, 6, dtype=torch.bool), torch.ones(4, 6, dtype=torch.bool)
    assert [layer.in_features for layer in model.fusion.projections] == [3, 2]
    first, second = model(inputs, face, valid), model(inputs, face, valid)
    torch.testing.assert_close(first, second)  # eval: nothing dropped
    model.train()
    torch.manual_seed(0)
    assert not torch.allclose(model(inputs, face, valid), first)
    with pytest.raises(ValueError, match="do not add up"):
        TemporalModelConfig("tcn", input_dim=5, sources=(3, 3))
