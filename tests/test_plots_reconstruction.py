"""The reconstruction figure's PSNR and its rows of frames degraded in the generated data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from abaw.data.index import open_dataset
from abaw.data.layout import Split
from abaw.model import create_model
from abaw.plots.reconstruction import plot_reconstruction, sample_degraded_faces, sample_faces
from abaw.prediction.members import TrainedModel
from abaw.scoring.psnr import psnr
from abaw.synthetic.degradations import read_degradations


def test_degraded_faces_are_recorded_degraded_and_named(generated) -> None:
    index = open_dataset(generated.root, use_cache=False)
    records = read_degradations(generated.root)
    faces = sample_degraded_faces(index, Split.VALIDATION, 3, seed=1)
    assert len(faces) == 3
    for face in faces:
        kinds = records[face.entry].rows[face.frame - 1]
        assert kinds and face.note == ", ".join(sorted(kind.value for kind in kinds))
        assert face.caption.endswith(face.note) and face.image.shape == (3, 112, 112)
    again = sample_degraded_faces(index, Split.VALIDATION, 3, seed=1)
    assert [face.caption for face in again] == [face.caption for face in faces]


@pytest.mark.slow
def test_figure_shows_psnr_and_degraded_rows(generated, tmp_path: Path) -> None:
    index = open_dataset(generated.root, use_cache=False)
    trained = TrainedModel(create_model("aeg-cd-tiny").eval(), torch.device("cpu"), Path("x.pt"), 0)
    clean = np.stack([face.image for face in sample_faces(index, Split.VALIDATION, 3)])
    degraded = sample_degraded_faces(index, Split.VALIDATION, 2)
    out = tmp_path / "reconstruction.png"
    result, _ = plot_reconstruction(
        trained,
        clean,
        out,
        degraded=np.stack([face.image for face in degraded]),
        degraded_captions=[face.caption for face in degraded],
    )
    assert out.is_file()
    assert np.array_equal(result.noisy_psnr, psnr(result.noisy, result.clean))
    assert np.array_equal(result.cleaned_psnr, psnr(result.cleaned, result.clean))
    assert (result.noisy_psnr < 60).all()  # every face degraded, so none at the identity cap
