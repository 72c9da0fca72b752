"""The temporal benchmark (``abaw benchmark temporal``): its rows, its figures, and the command that draws them."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from abaw.benchmarks.temporal import TemporalBenchmark, main, synthetic_sequences
from abaw.cli import cli
from abaw.errors import ConfigError
from abaw.model import ModelFamily, list_models
from abaw.runtime.windows import MISSING_LABEL, cut_windows

TINY = "--sequences 2 --frames 40 --embedding-dim 12 --audio-dim 5 --window 16 --hidden 8 --layers 1"


NETWORKS = [name for name in list_models(family=ModelFamily.TEMPORAL) if name != "ridge"]


def tiny(*more: str) -> list[str]:
    return [*TINY.split(), "--steps", "3", "--warmup", "1", *more]


def test_synthetic_sequences_have_the_trainer_shapes() -> None:
    sequences = synthetic_sequences(3, 50, 12, 5)
    assert [sequence.inputs.shape for sequence in sequences] == [(50, 17)] * 3
    for sequence in sequences:
        assert sequence.inputs.dtype == np.float32 and sequence.labels.shape == (50, 2)
        assert not sequence.inputs[~sequence.has_face, :12].any()  # no face: no visual features
        annotated = sequence.labels[sequence.labels[:, 0] != MISSING_LABEL]
        assert 0 < len(annotated) < 50 and np.abs(annotated).max() <= 1.0


def assert_positive_finite(figures: TemporalBenchmark) -> None:
    for speed in figures.speeds:
        for rate in (speed.train_windows_per_second, speed.inference_windows_per_second):
            assert rate > 0 and math.isfinite(rate)


@pytest.mark.slow
def test_one_row_per_model_with_positive_finite_speeds() -> None:
    figures = main(tiny("--devices", "cpu"))
    assert isinstance(figures, TemporalBenchmark)
    assert figures.input_dim == 17 and figures.options["window"] == 16
    # Every temporal network; the ridge is fitted in closed form and has no steps to time.
    assert [speed.model for speed in figures.speeds] == NETWORKS
    windows_at_inference = len(cut_windows(synthetic_sequences(2, 40, 12, 5), 16, 8))
    for speed in figures.speeds:
        assert speed.device == "cpu" and speed.parameters > 0
        assert speed.train_windows == 3 * 16  # steps x batch
        assert speed.inference_windows == windows_at_inference
        assert speed.train_peak_mib is None and speed.inference_peak_mib is None  # measured on CUDA only
    assert_positive_finite(figures)


def test_a_model_fitted_in_closed_form_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="ridge is fitted in closed form"):
        main(tiny("--devices", "cpu", "--models", "tcn,ridge"))


def test_models_are_measured_at_the_sizes_asked() -> None:
    small, wide = (main(tiny("--devices", "cpu", "--models", "tcn", "--hidden", str(width))) for width in (8, 16))
    assert small.speeds[0].parameters < wide.speeds[0].parameters
    assert [(speed.model, speed.device) for speed in small.speeds] == [("tcn", "cpu")]
    assert_positive_finite(small)
    assert_positive_finite(wide)


@pytest.mark.slow
def test_benchmark_command_draws_the_table_and_writes_json(tmp_path: Path) -> None:
    report = tmp_path / "bench.json"
    result = CliRunner().invoke(cli, ["benchmark", "temporal", "--quick", "--json", str(report)])
    assert result.exit_code == 0, result.output
    assert "train windows/s" in result.stdout and "inference windows/s" in result.stdout
    (row,) = json.loads(report.read_text())["benchmarks"]
    speeds = row["figures"]["speeds"]
    assert {speed["model"] for speed in speeds} == set(NETWORKS)
    assert all(speed["train_seconds"] > 0 and speed["inference_seconds"] > 0 for speed in speeds)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (PyTorch sees none)")
def test_cuda_rows_report_peak_memory() -> None:
    figures = main(tiny("--devices", "cuda"))
    assert_positive_finite(figures)
    for speed in figures.speeds:
        assert speed.device.startswith("cuda")
        assert speed.train_peak_mib > speed.inference_peak_mib > 0
