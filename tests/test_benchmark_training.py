"""The training benchmark that ``.ci/gpu-check`` runs: its figures, its JSON, its loader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from rich.console import Console
from torch.utils.data import DataLoader, Dataset

from abaw.benchmarks.training import VARIANTS, _endless, calibrate_training, main
from abaw.cli.render_benchmarks import print_figures

TINY = ["--device", "cpu", "--batch-size", "8", "--steps", "2", "--warmup", "1", "--videos", "6", "--frames", "40"]


class CountingDataset(Dataset):
    """Each item is the number of items read so far: a replayed batch shows as a repeated number."""

    def __init__(self, size: int):
        self.size = size
        self.reads = 0

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, row: int) -> int:
        self.reads += 1
        return self.reads


def test_the_loader_is_read_again_each_pass_not_replayed() -> None:
    loader = DataLoader(CountingDataset(4), batch_size=2, drop_last=True)
    batches = _endless(loader)
    seen = torch.cat([next(batches) for _ in range(5)]).tolist()
    assert seen == list(range(1, 11))


@pytest.mark.slow
def test_tiny_run_writes_the_figures_and_the_environment_as_json(tmp_path: Path, capsys) -> None:
    report = tmp_path / "figures.json"
    variants = [f"{variant}-tiny" for variant in VARIANTS]
    figures = main([*TINY, "--workers", "1", "--variants", ",".join(variants), "--json", str(report)])
    payload = json.loads(report.read_text())
    assert payload == json.loads(json.dumps(figures.to_dict())) and figures.written == str(report)
    assert payload["environment"]["device"] == "cpu" and payload["environment"]["torch"] == torch.__version__
    assert payload["settings"]["batch_size"] == 8 and payload["settings"]["train_frames"] >= 8
    assert [row["variant"] for row in payload["variants"]] == variants
    for row in payload["variants"]:
        assert all(row[key] > 0 for key in ("loader", "train_memory", "train_loader", "inference")), row
        assert row["train_peak_mib"] is None and row["inference_peak_mib"] is None  # measured on CUDA only
    assert not figures.peaks and capsys.readouterr().out == ""  # the library prints nothing
    console = Console(record=True, width=200)
    print_figures(console, "training", figures)
    printed = console.export_text()
    assert all(variant in printed for variant in variants) and "peak MiB" not in printed  # no CUDA, no peak column
    assert f"wrote {report}" in printed


def test_an_existing_json_is_refused_before_any_work(tmp_path: Path, capsys) -> None:
    report = tmp_path / "figures.json"
    report.write_text("{}")
    with pytest.raises(SystemExit) as stopped:
        main([*TINY, "--json", str(report)])
    assert stopped.value.code == 2
    assert "already exists; pass --force" in capsys.readouterr().err
    assert report.read_text() == "{}"


@pytest.mark.parametrize("variant", ["disc-tiny", "aeg-cd-sz-tiny"])
def test_calibration_measures_steps_and_leaves_the_random_state_alone(variant: str) -> None:
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    rate = calibrate_training(variant, torch.device("cpu"), batch_size=4, steps=1, warmup=1, audio_dim=6)
    assert rate > 0
    torch.testing.assert_close(torch.rand(3), expected)
