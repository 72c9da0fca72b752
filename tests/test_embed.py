"""Per-frame embeddings (``abaw/data/embeddings/``) and ``abaw features embed``, with real tiny models."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from abaw.cli import cli
from abaw.cli.render_errors import error_line
from abaw.data.audio.cache import entry_rows
from abaw.data.embeddings import EmbeddingsNotReady, checkpoint_fingerprint, load_embeddings
from abaw.data.frames import frame_image_path
from abaw.data.index import DatasetIndex, open_dataset
from abaw.data.layout import Split
from abaw.data.samples import images_to_float, read_face_image
from abaw.errors import DataError
from abaw.model import create_model
from abaw.prediction.embed import default_embeddings_name, extract_embeddings
from abaw.runtime.checkpoint import save_checkpoint
from abaw.synthetic import GeneratedDataset
from abaw.training.config import TrainConfig


def model_checkpoint(path: Path, variant: str, seed: int = 0) -> Path:
    """A ``variant`` with random weights saved as ``abaw train`` saves it (varied embeddings, no training time)."""
    torch.manual_seed(seed)
    model = create_model(variant).eval()
    payload = {
        "config": TrainConfig(variant=variant).to_dict(),
        "model_config": model.config.to_dict(),
        "model": model.state_dict(),
        "audio": None,
        "epoch": 1,
    }
    return save_checkpoint(path, payload)


@pytest.fixture
def index(generated: GeneratedDataset, tmp_path: Path) -> DatasetIndex:
    """The generated dataset with a private cache folder (the dataset itself stays untouched)."""
    return open_dataset(generated.root, cache=tmp_path / "cache")


def embed_frame(model: torch.nn.Module, index: DatasetIndex, name: str, frame: int) -> np.ndarray:
    """One frame's embedding computed directly from its face image."""
    image = read_face_image(frame_image_path(index.entries[name].frames_dir, frame))
    with torch.no_grad():
        return model.eval().embed(images_to_float(torch.from_numpy(image)[None])).numpy()[0]


@pytest.mark.slow
def test_every_entry_of_every_split_gets_one_row_per_frame_with_zeros_and_a_mask_where_no_face(
    index: DatasetIndex, tmp_path: Path
) -> None:
    checkpoint = model_checkpoint(tmp_path / "aeg" / "best.pt", "aeg-cd-tiny")
    report = extract_embeddings(index, checkpoint.parent, workers=0)
    assert (report.name, report.variant) == ("aeg", "aeg-cd-tiny")
    assert (report.written, report.skipped) == (len(index.entries), 0)
    assert [(kind.kind, kind.dim) for kind in report.kinds] == [("discriminator", 256), ("generator_latent", 16)]
    assert report.fingerprint == checkpoint_fingerprint(checkpoint)
    embeddings = load_embeddings(index, "aeg", checkpoint=checkpoint)
    assert embeddings.dim == 272 and sorted(embeddings.names) == sorted(index.entries)
    model = create_model("aeg-cd-tiny")
    model.load_state_dict(torch.load(checkpoint, weights_only=True)["model"])
    splits, faceless, frames = set(), 0, 0
    for name, entry in index.entries.items():
        features, has_face = embeddings.for_entry(name)
        rows = entry_rows(entry)
        assert features.shape == (rows, 272) and features.dtype == np.float32 and has_face.shape == (rows,)
        face = np.zeros(rows, dtype=bool)
        face[entry.face_frames[entry.face_frames <= rows] - 1] = True
        np.testing.assert_array_equal(has_face, face, err_msg=name)
        assert not features[~has_face].any(), f"{name}: frames without a face must be zeros"
        assert np.abs(features[has_face]).sum(axis=1).min() > 0
        splits.add(entry.split)
        faceless += int((~has_face).sum())
        frames += int(has_face.sum())
        first = int(np.flatnonzero(has_face)[0]) + 1
        np.testing.assert_allclose(features[first - 1], embed_frame(model, index, name, first), rtol=1e-4, atol=1e-5)
    assert splits == {Split.TRAIN, Split.VALIDATION, Split.TEST} and faceless > 0
    assert report.frames == frames and report.rows == sum(entry_rows(entry) for entry in index.entries.values())
    saved = json.loads((report.folder / "report.json").read_text())
    assert saved["written"] == len(index.entries) and saved["dim"] == 272


def test_up_to_date_entries_are_skipped_and_force_extracts_again(index: DatasetIndex, tmp_path: Path) -> None:
    checkpoint = model_checkpoint(tmp_path / "disc.pt", "disc-tiny")
    first = extract_embeddings(index, checkpoint, workers=0)
    assert first.name == "disc" and first.written == len(index.entries)
    files = sorted(first.folder.glob("*.npz"))
    stamps = [path.stat().st_mtime_ns for path in files]
    again = extract_embeddings(index, checkpoint, workers=0)
    assert (again.written, again.skipped, again.frames) == (0, len(index.entries), 0)
    assert [path.stat().st_mtime_ns for path in files] == stamps
    forced = extract_embeddings(index, checkpoint, workers=0, force=True)
    assert (forced.written, forced.skipped, forced.frames) == (len(index.entries), 0, first.frames)
    name = files[0].stem
    np.testing.assert_array_equal(load_embeddings(index, "disc").for_entry(name)[0], np.load(files[0])["features"])


def test_another_checkpoint_under_the_same_name_makes_every_entry_stale(index: DatasetIndex, tmp_path: Path) -> None:
    one = model_checkpoint(tmp_path / "one.pt", "disc-tiny", seed=1)
    two = model_checkpoint(tmp_path / "two.pt", "disc-tiny", seed=2)
    extract_embeddings(index, one, "shared", workers=0)
    name = next(iter(index.entries))
    before = load_embeddings(index, "shared").for_entry(name)[0]
    with pytest.raises(EmbeddingsNotReady, match="made from another checkpoint than"):
        load_embeddings(index, "shared", checkpoint=two)
    folder = index.layout.cache_dir / "embeddings" / "shared"
    kept = shutil.copy(folder / f"{name}.npz", tmp_path / "kept.npz")
    report = extract_embeddings(index, two, "shared", workers=0)
    assert (report.written, report.skipped) == (len(index.entries), 0)
    after = load_embeddings(index, "shared", checkpoint=two).for_entry(name)[0]
    assert not np.allclose(before, after)
    shutil.copy(kept, folder / f"{name}.npz")  # one entry left from the first checkpoint
    with pytest.raises(EmbeddingsNotReady) as raised:
        load_embeddings(index, "shared")
    line = error_line(raised.value)
    assert "\n" not in line and str(folder / f"{name}.npz") in line and "made from another checkpoint" in line
    assert f"run 'abaw features embed --checkpoint {two.absolute()} --root " in line and "--name shared'" in line
    repaired = extract_embeddings(index, two, "shared", workers=0)
    assert (repaired.written, repaired.skipped) == (1, len(index.entries) - 1)


def test_damaged_or_missing_files_give_one_line_errors_naming_the_file(index: DatasetIndex, tmp_path: Path) -> None:
    checkpoint = model_checkpoint(tmp_path / "disc.pt", "disc-tiny")
    with pytest.raises(EmbeddingsNotReady) as raised:
        load_embeddings(index, "disc")
    assert error_line(raised.value).endswith("--name disc'") and "--checkpoint CHECKPOINT" in error_line(raised.value)
    report = extract_embeddings(index, checkpoint, workers=0)
    first, second = sorted(report.folder.glob("*.npz"))[:2]
    first.write_bytes(first.read_bytes()[:200])  # truncated mid-archive
    with pytest.raises(EmbeddingsNotReady, match=r"cannot be read \(damaged\?\)") as raised:
        load_embeddings(index, "disc")
    assert raised.value.path == str(first) and "\n" not in error_line(raised.value)
    second.unlink()
    with pytest.raises(EmbeddingsNotReady, match="is missing"):
        load_embeddings(index, "disc", names=[second.stem])
    repaired = extract_embeddings(index, checkpoint, workers=0)
    assert (repaired.written, repaired.skipped) == (2, len(index.entries) - 2)
    with np.load(first) as archive:
        meta = archive["meta"]
    np.savez(first, features=np.zeros((2, 3), np.float32), has_face=np.zeros(2, bool), meta=meta)
    embeddings = load_embeddings(index, "disc")  # the meta is intact: the arrays are checked when read
    with pytest.raises(DataError, match=r"expected \(\d+, 256\).*extract again with --force") as raised:
        embeddings.for_entry(first.stem)
    assert raised.value.path == str(first)
    with pytest.raises(DataError, match="must start with a letter or digit"):
        load_embeddings(index, "../escape")
    with pytest.raises(DataError, match="no entry named nobody"):
        load_embeddings(index, "disc", names=["nobody"])


def test_default_names_come_from_the_run_folder_or_the_file(tmp_path: Path) -> None:
    run = tmp_path / "aeg-cd-sz seed1"
    run.mkdir()
    assert default_embeddings_name(run) == "aeg-cd-sz-seed1"
    assert default_embeddings_name(run / "last.pt") == "aeg-cd-sz-seed1"
    assert default_embeddings_name(tmp_path / "_x.pt") == "x"


def run_cli(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["-q", *map(str, args)], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.slow
def test_cli_embeds_with_a_trained_run_and_reports(generated: GeneratedDataset, tmp_path: Path) -> None:
    cache, run = tmp_path / "cache", tmp_path / "aeg"
    train = ["train", "--root", generated.root, "--cache", cache, "--out", run, "--variant", "aeg-cd-tiny"]
    code, _, err = run_cli(*train, "--steps-per-epoch", "2", "--batch-size", "8", "--workers", "0", "--epochs", "1")
    assert code == 0, err
    embed = ["features", "embed", "--checkpoint", run, "--root", generated.root, "--cache", cache, "--workers", "0"]
    code, out, err = run_cli(*embed, "--json", tmp_path / "embed.json")
    assert code == 0, err
    assert "Embeddings aeg: 272 values per frame (discriminator 256 + generator_latent 16)" in out
    saved = json.loads((tmp_path / "embed.json").read_text())
    assert saved["written"] == 10 and saved["checkpoint"] == str((run / "best.pt").absolute())
    code, _, err = run_cli(*embed, "--json", tmp_path / "embed.json")
    assert code == 2 and err.count("\n") == 1 and "embed.json" in err, "an existing --json needs --force"
    code, out, err = run_cli(*embed, "--name", "again", "--batch-size", "7")
    assert code == 0 and "again" in out
    first = load_embeddings(open_dataset(generated.root, cache=cache), "aeg")
    second = load_embeddings(open_dataset(generated.root, cache=cache), "again")
    for name in first.names:
        np.testing.assert_allclose(first.for_entry(name)[0], second.for_entry(name)[0], rtol=1e-5, atol=1e-6)
    (tmp_path / "broken.pt").write_bytes(b"not a checkpoint")
    code, _, err = run_cli(*embed[:2], "--checkpoint", tmp_path / "broken.pt", *embed[4:])
    assert code == 2 and err.count("\n") == 1 and "broken.pt" in err


def test_not_ready_survives_pickling_with_what_the_command_line_needs(index: DatasetIndex, tmp_path: Path) -> None:
    error = EmbeddingsNotReady("gone", "aln", index.layout, tmp_path / "best.pt", path=tmp_path / "x.npz")
    copy = pickle.loads(pickle.dumps(error))  # DataLoader workers and torchrun ranks send errors pickled
    assert (str(copy), copy.name, copy.checkpoint, copy.layout.root) == (
        str(error),
        "aln",
        tmp_path / "best.pt",
        index.layout.root,
    )
    assert error_line(copy) == error_line(error) and "--checkpoint" in error_line(copy)
