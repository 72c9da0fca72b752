"""Benchmark: training and inference speed of each variant, with real data loading and from memory.

Generates a demo dataset (and its audio features) in a temporary folder,
then for each variant measures, after warm-up iterations:

* ``loader``: frames/s the DataLoader alone delivers (decode JPEGs, audio rows);
* ``train (memory)``: frames/s of solver steps on tensors already in memory;
* ``train (loader)``: frames/s of solver steps fed by the DataLoader;
* ``inference``: frames/s of the model's forward pass (no noise, no gradient).

If ``train (loader)`` is well below ``train (memory)`` while ``loader`` is
not far above it, data loading is the bottleneck.

Run: ``python -m abaw.benchmarks.training [--device auto] [--batch-size 64] [--steps 8] [--workers 2]``
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table
from torch.utils.data import DataLoader

from abaw.data.audio_features import AudioFeatureConfig, extract_audio_features, load_audio_features
from abaw.data.generate import GeneratorConfig, generate_dataset
from abaw.data.index import open_dataset
from abaw.data.layout import Split
from abaw.data.samples import FaceFrameDataset, batch_to_device, split_frames
from abaw.model import model_config
from abaw.training.class_weights import class_balanced_weights
from abaw.training.config import TrainConfig
from abaw.training.distributed import Distributed, resolve_device
from abaw.training.solver import Solver, uses_bf16
from abaw.training.trainer import build_model

VARIANTS = ("disc", "aeg-cd", "aeg-cd-sz")


def _synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rate(frames: int, seconds: float) -> float:
    return frames / seconds if seconds > 0 else float("nan")


def measure_variant(
    variant: str, dataset: FaceFrameDataset, targets, device: torch.device, args: argparse.Namespace
) -> dict[str, float]:
    """Frames per second of one variant: loader, training from memory and from the loader, inference."""
    config = TrainConfig(variant=variant, batch_size=args.batch_size, workers=args.workers, device=device.type)
    model = build_model(config, dataset.audio_dim).to(device)
    solver = Solver(model, config, torch.from_numpy(class_balanced_weights(targets)), Distributed(device=device))
    loader = DataLoader(
        dataset,
        batch_size=args.batch_size,
        shuffle=True,
        num_workers=args.workers,
        pin_memory=device.type == "cuda",
        drop_last=True,
        persistent_workers=args.workers > 0,
    )
    batches = itertools.cycle(loader)
    fixed = next(iter(loader))
    warm, steps = args.warmup, args.steps

    start = time.perf_counter()
    for _ in range(steps):
        next(batches)
    loader_rate = _rate(steps * args.batch_size, time.perf_counter() - start)

    def run_steps(source) -> float:
        for _ in range(warm):
            solver.step(batch_to_device(source(), device, solver.channels_last))
        _synchronise(device)
        begin = time.perf_counter()
        for _ in range(steps):
            solver.step(batch_to_device(source(), device, solver.channels_last))
        _synchronise(device)
        return _rate(steps * args.batch_size, time.perf_counter() - begin)

    memory_rate = run_steps(lambda: fixed)
    loader_train_rate = run_steps(lambda: next(batches))

    batch = batch_to_device(fixed, device, solver.channels_last)
    model.eval()
    with (
        torch.inference_mode(),
        torch.autocast(device.type, torch.bfloat16, enabled=uses_bf16(config.precision, device)),
    ):
        for _ in range(warm):
            model(batch.images, batch.audio)
        _synchronise(device)
        begin = time.perf_counter()
        for _ in range(steps):
            model(batch.images, batch.audio)
        _synchronise(device)
    inference_rate = _rate(steps * args.batch_size, time.perf_counter() - begin)
    return {
        "loader": loader_rate,
        "train (memory)": memory_rate,
        "train (loader)": loader_train_rate,
        "inference": inference_rate,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10, help="Measured iterations (n_critic=5: 2 G steps in 10).")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--variants", default=",".join(VARIANTS), help="Comma-separated registered names.")
    args = parser.parse_args(argv)
    console = Console()
    device = resolve_device(args.device)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as folder:
        root = generate_dataset(Path(folder) / "data", GeneratorConfig()).root
        index = open_dataset(root)
        extract_audio_features(index, AudioFeatureConfig())
        samples = split_frames(index, [Split.TRAIN], labelled=True)
        audio = load_audio_features(index, AudioFeatureConfig(), names=samples.names).rows()
        table = Table(
            title=f"training speed, frames/s (device {device}, batch {args.batch_size}, {args.workers} workers)"
        )
        columns = ["variant", "loader", "train (memory)", "train (loader)", "inference"]
        for column in columns:
            table.add_column(column, justify="right")
        for variant in args.variants.split(","):
            uses_audio = model_config(variant).audio_dim > 0
            dataset = FaceFrameDataset(index, samples, audio if uses_audio else None, AudioFeatureConfig().dim)
            rates = measure_variant(variant, dataset, samples.targets, device, args)
            table.add_row(variant, *(f"{rates[column]:.0f}" for column in columns[1:]))
            console.print(f"{variant}: " + ", ".join(f"{key} {value:.0f}" for key, value in rates.items()))
        console.print(table)


if __name__ == "__main__":
    main()
