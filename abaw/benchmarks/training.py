"""Benchmark: training and inference speed of each variant, with real data loading and from memory.

Generates a demo dataset (and its audio features) in a temporary folder,
then for each variant measures, after warm-up iterations:

* ``loader``: frames/s the DataLoader alone delivers (decode JPEGs, audio rows);
* ``train (memory)``: frames/s of solver steps on tensors already in memory;
* ``train (loader)``: frames/s of solver steps fed by the DataLoader;
* ``inference``: frames/s of the model's forward pass (no noise, no gradient);
* on CUDA, the peak memory allocated while training and while inferring
  (``torch.cuda.max_memory_allocated``: weights, optimiser states and
  activations together).

If ``train (loader)`` is well below ``train (memory)`` while ``loader`` is
not far above it, data loading is the bottleneck. The loader is re-iterated
epoch after epoch, so every measured batch is freshly decoded.

:func:`main` returns the figures (and writes them with ``--json``);
``abaw benchmark`` (or ``python -m abaw.cli.run_benchmark training``) draws them.

Run: ``python -m abaw.cli.run_benchmark training [--device auto] [--batch-size 32] [--steps 10] [--workers 2]
[--json FILE]``; ``.ci/gpu-check`` runs it on CUDA at batch 256.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from abaw.benchmarks import SCRIPT
from abaw.data.audio import AudioFeatureConfig, extract_audio_features, load_audio_features
from abaw.data.index import open_dataset
from abaw.data.layout import Split
from abaw.data.samples import FaceFrameDataset, batch_to_device, split_frames
from abaw.fileio import atomic_write_json
from abaw.fitting.class_weights import class_balanced_weights
from abaw.model import model_config
from abaw.progress import ProgressFn, no_progress
from abaw.runtime.devices import Distributed, cpu_model, resolve_device
from abaw.synthetic import GeneratorConfig, generate_dataset
from abaw.training.config import Precision, TrainConfig
from abaw.training.prepare import build_model
from abaw.training.solver import Solver, uses_bf16

VARIANTS = ("disc", "aeg-cd", "aeg-cd-sz")
MIB = 2**20


@dataclass(frozen=True)
class VariantSpeed:
    """The figures of one variant.

    Attributes:
        variant: The registered model name.
        loader: Frames/s the DataLoader alone delivers.
        train_memory: Frames/s of training steps on a batch already on the device.
        train_loader: Frames/s of training steps fed by the DataLoader.
        inference: Frames/s of the forward pass (eval mode, no gradient).
        train_peak_mib: Peak CUDA memory allocated while training, MiB (``None`` on CPU).
        inference_peak_mib: Peak CUDA memory allocated while inferring, without
            optimiser states and gradients, MiB (``None`` on CPU).
    """

    variant: str
    loader: float
    train_memory: float
    train_loader: float
    inference: float
    train_peak_mib: float | None = None
    inference_peak_mib: float | None = None


@dataclass(frozen=True)
class TrainingBenchmark:
    """The figures of one run.

    Attributes:
        environment: What they were measured with (:func:`environment`).
        settings: Batch size, steps, warm-up steps, loader workers and train frames.
        variants: One per variant, in the order asked for.
        written: The ``--json`` file written, if any.
    """

    environment: dict[str, Any]
    settings: dict[str, Any]
    variants: list[VariantSpeed]
    written: str | None = None

    @property
    def peaks(self) -> bool:
        """Whether peak memory was measured (on CUDA only)."""
        return self.environment["device"].startswith("cuda")

    def to_dict(self) -> dict[str, Any]:
        """What ``--json`` writes: the benchmark's name, the environment, the settings and each variant's figures."""
        return {
            "benchmark": "training",
            "environment": self.environment,
            "settings": self.settings,
            "variants": [asdict(speed) for speed in self.variants],
        }


def environment(device: torch.device) -> dict[str, Any]:
    """What the figures were measured with: versions, device, CPU count, whether bf16 autocast is on.

    Example:
        >>> environment(torch.device("cpu"))["device"]
        'cpu'
    """
    cuda = device.type == "cuda"
    return {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if cuda else cpu_model(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "gpus": torch.cuda.device_count() if cuda else 0,
        "cpus": os.cpu_count(),
        "bf16_autocast": uses_bf16(Precision.AUTO, device),
    }


def synchronise(device: torch.device) -> None:
    """Wait for queued CUDA work, so a timer reads finished work (nothing to wait for on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rate(frames: int, seconds: float) -> float:
    return frames / seconds if seconds > 0 else float("nan")


def start_peak(device: torch.device) -> None:
    """Start a new peak-memory measurement on CUDA (nothing on the CPU)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_mib(device: torch.device) -> float | None:
    """Peak CUDA memory allocated since :func:`start_peak`, MiB; ``None`` on the CPU."""
    return torch.cuda.max_memory_allocated(device) / MIB if device.type == "cuda" else None


def _endless(loader: Iterable) -> Iterator:
    # Not itertools.cycle: it replays the batches of the first pass from memory,
    # which would time no decoding once the loader has gone round once.
    while True:
        yield from loader


def measure_variant(
    variant: str, dataset: FaceFrameDataset, targets, device: torch.device, args: argparse.Namespace
) -> VariantSpeed:
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
    batches = _endless(loader)
    fixed = next(batches)  # also starts the workers, outside the timed loops
    warm, steps = args.warmup, args.steps

    start = time.perf_counter()
    for _ in range(steps):
        next(batches)
    loader_rate = _rate(steps * args.batch_size, time.perf_counter() - start)

    def run_steps(source) -> float:
        for _ in range(warm):
            solver.step(batch_to_device(source(), device, solver.channels_last))
        synchronise(device)
        begin = time.perf_counter()
        for _ in range(steps):
            solver.step(batch_to_device(source(), device, solver.channels_last))
        synchronise(device)
        return _rate(steps * args.batch_size, time.perf_counter() - begin)

    start_peak(device)
    memory_rate = run_steps(lambda: fixed)
    loader_train_rate = run_steps(lambda: next(batches))
    train_peak = peak_mib(device)

    # Inference holds no optimiser state and no gradient, as in abaw predict.
    solver.optimizers.clear()
    model.zero_grad(set_to_none=True)
    batch = batch_to_device(fixed, device, solver.channels_last)
    model.eval()
    start_peak(device)
    with (
        torch.inference_mode(),
        torch.autocast(device.type, torch.bfloat16, enabled=uses_bf16(config.precision, device)),
    ):
        for _ in range(warm):
            model(batch.images, batch.audio)
        synchronise(device)
        begin = time.perf_counter()
        for _ in range(steps):
            model(batch.images, batch.audio)
        synchronise(device)
    inference_rate = _rate(steps * args.batch_size, time.perf_counter() - begin)
    return VariantSpeed(
        variant, loader_rate, memory_rate, loader_train_rate, inference_rate, train_peak, peak_mib(device)
    )


def calibrate_training(
    variant: str, device: torch.device, batch_size: int = 32, steps: int = 3, warmup: int = 1, audio_dim: int = 50
) -> float:
    """Frames/s of ``variant``'s training steps on random tensors: a few seconds' look at what the machine does.

    The first ``warmup`` steps (oneDNN and cuDNN pick their kernels there) are
    not timed. The global random state is left as it was, so a run that
    follows trains exactly as it would have without the calibration.
    """
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(0)
        config = TrainConfig(variant=variant, batch_size=batch_size, device=device.type)
        model = build_model(config, audio_dim).to(device)
        solver = Solver(model, config, torch.ones(2, 21), Distributed(device=device))
        uses_audio = model.config.audio_dim > 0
        fixed = {
            "image": torch.randint(
                0, 256, (batch_size, 3, model.config.image_size, model.config.image_size), dtype=torch.uint8
            ),
            "target": torch.rand(batch_size, 2) * 2 - 1,
            "audio": torch.randn(batch_size, model.config.audio_dim if uses_audio else 0),
        }
        batch = batch_to_device(fixed, device, solver.channels_last)
        for _ in range(warmup):
            solver.step(batch)
        synchronise(device)
        begin = time.perf_counter()
        for _ in range(steps):
            solver.step(batch)
        synchronise(device)
        return _rate(steps * batch_size, time.perf_counter() - begin)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The options; an existing ``--json`` file without ``--force`` is refused here, before any work."""
    parser = argparse.ArgumentParser(prog=f"{SCRIPT} training", description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10, help="Measured iterations (n_critic=5: 2 G steps in 10).")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--variants", default=",".join(VARIANTS), help="Comma-separated registered names.")
    parser.add_argument("--videos", type=int, default=GeneratorConfig.videos, help="Generated videos (half train).")
    parser.add_argument("--frames", type=int, default=GeneratorConfig.frames, help="Frames per generated video.")
    parser.add_argument("--json", type=Path, help="Also write the figures and the environment to this JSON file.")
    parser.add_argument("--force", action="store_true", help="Replace an existing --json file.")
    args = parser.parse_args(argv)
    if args.json is not None and args.json.exists() and not args.force:
        parser.error(f"{args.json}: already exists; pass --force to replace it")
    return args


def main(argv: list[str] | None = None, progress: ProgressFn = no_progress) -> TrainingBenchmark:
    """Run the benchmark with the options ``argv``; its figures. ``progress`` wraps the loop over variants."""
    args = parse_args(argv)
    device = resolve_device(args.device)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as folder:
        root = generate_dataset(Path(folder) / "data", GeneratorConfig(videos=args.videos, frames=args.frames)).root
        index = open_dataset(root)
        extract_audio_features(index, AudioFeatureConfig())
        samples = split_frames(index, [Split.TRAIN], labelled=True)
        audio = load_audio_features(index, AudioFeatureConfig(), names=samples.names).rows()
        results = []
        variants = args.variants.split(",")
        for variant in progress(variants, "training speed per variant", len(variants)):
            uses_audio = model_config(variant).audio_dim > 0
            dataset = FaceFrameDataset(index, samples, audio if uses_audio else None, AudioFeatureConfig().dim)
            results.append(measure_variant(variant, dataset, samples.targets, device, args))
    settings = {key: getattr(args, key) for key in ("batch_size", "steps", "warmup", "workers")}
    figures = TrainingBenchmark(environment(device), {**settings, "train_frames": len(samples)}, results)
    if args.json is None:
        return figures
    atomic_write_json(args.json, figures.to_dict(), force=args.force)
    return replace(figures, written=str(args.json))
