"""Benchmark: temporal training and inference speed (``abaw temporal train``) per model and device.

Builds synthetic sequences of the challenge's real shapes (by default
1088-d ALN embeddings with a face on most frames, plus the audio features'
columns, labels with unannotated frames), normalised as the trainer
normalises them, then for each temporal model at its default size measures,
after warm-up steps:

* ``train``: windows/s of training steps as ``abaw temporal train`` takes
  them: stacking the windows, the forward pass, the affect loss with class
  weights, the backward pass and the AdamW step (the trainer's own ``train_step``);
* ``inference``: windows/s of prediction over every sequence in overlapping
  windows (half a window apart), averaged per frame, as validation and
  ``abaw predict`` do;
* on CUDA, the peak memory allocated while training (weights, optimiser
  states, activations) and while inferring (weights and activations).

The temporal trainer runs fp32 on every device (no autocast), so does this.

Run: ``python -m abaw.cli.run_benchmark temporal [--models tcn,gru,transformer] [--sequences 8] [--frames 2048]
[--embedding-dim 1088] [--audio-dim 50] [--window 256] [--batch-size 16] [--hidden 128] [--layers 4]
[--steps 10] [--warmup 2] [--devices cpu,cuda]``; the defaults are the trainer's and the models' default sizes.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from abaw.benchmarks import SCRIPT
from abaw.benchmarks.embed import machine_name
from abaw.benchmarks.training import peak_mib, start_peak, synchronise
from abaw.data.audio import AudioFeatureConfig
from abaw.data.sequences import EntrySequence, Normalisation
from abaw.errors import ConfigError
from abaw.fitting.class_weights import class_balanced_weights
from abaw.model import ModelFamily, create_model, list_models
from abaw.progress import ProgressFn, no_progress
from abaw.runtime.windows import MISSING_LABEL, cut_windows, predict_sequences, stack_windows
from abaw.temporal.config import TemporalConfig
from abaw.temporal.epochs import train_step

EMBEDDING_DIM = 1088
"""Values per frame of the ALN embeddings (``abaw features embed`` of aeg-cd-sz)."""


@dataclass(frozen=True)
class TemporalSpeed:
    """The figures of one temporal model on one device.

    Attributes:
        model: The registered temporal model.
        device: Where it ran.
        parameters: Trainable parameters.
        train_windows: Windows of the timed training steps.
        train_seconds: Seconds of those steps.
        inference_windows: Windows of the timed inference pass.
        inference_seconds: Seconds of that pass.
        train_peak_mib: Peak CUDA memory allocated while training, MiB (``None`` on CPU).
        inference_peak_mib: Peak CUDA memory allocated while inferring, MiB (``None`` on CPU).
    """

    model: str
    device: str
    parameters: int
    train_windows: int
    train_seconds: float
    inference_windows: int
    inference_seconds: float
    train_peak_mib: float | None
    inference_peak_mib: float | None

    @property
    def train_windows_per_second(self) -> float:
        """Training windows per second (forward, backward and optimiser step)."""
        return self.train_windows / self.train_seconds if self.train_seconds > 0 else 0.0

    @property
    def inference_windows_per_second(self) -> float:
        """Inference windows per second."""
        return self.inference_windows / self.inference_seconds if self.inference_seconds > 0 else 0.0


@dataclass(frozen=True)
class TemporalBenchmark:
    """The figures of one run.

    Attributes:
        options: The options the benchmark ran with.
        machine: The CPU (and the GPU when there is one).
        input_dim: Feature columns per frame (embedding and audio).
        speeds: One row per model and device.
    """

    options: dict[str, Any]
    machine: str
    input_dim: int
    speeds: list[TemporalSpeed]


def synthetic_sequences(
    count: int, frames: int, embedding_dim: int, audio_dim: int, seed: int = 0
) -> list[EntrySequence]:
    """Raw sequences of the trainer's shapes: visual columns then audio, ~90 % face frames, ~5 % unannotated.

    Labels follow a slow random walk in [-1, 1], as affect does.
    """
    rng = np.random.default_rng(seed)
    sequences = []
    for number in range(count):
        inputs = rng.standard_normal((frames, embedding_dim + audio_dim), dtype=np.float32)
        has_face = rng.random(frames) < 0.9
        inputs[~has_face, :embedding_dim] = 0.0
        walk = np.cumsum(rng.normal(0.0, 0.02, (frames, 2)), axis=0)
        labels = np.clip(walk, -1.0, 1.0).astype(np.float32)
        labels[rng.random(frames) < 0.05] = MISSING_LABEL
        sequences.append(EntrySequence(f"video{number}", inputs, has_face, labels))
    return sequences


def measure_model(
    name: str, sequences: list[EntrySequence], visual_dim: int, device: torch.device, args: argparse.Namespace
) -> TemporalSpeed:
    """Inference and training windows/s of the temporal model ``name`` (sizes from ``args``) on ``device``."""
    config = TemporalConfig(
        model=name,
        window=args.window,
        batch_size=args.batch_size,
        hidden=args.hidden,
        layers=args.layers,
        device=device.type,
    )
    torch.manual_seed(0)
    model = create_model(config.model_config(sequences[0].inputs.shape[1], visual_dim)).to(device)
    parameters = sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)

    # Inference first, so its peak holds no optimiser state and no gradient.
    inference_windows = len(cut_windows(sequences, config.window, max(1, config.window // 2)))
    predict_sequences(model, sequences[:1], config.window, device=device, batch_size=config.batch_size)  # warm-up
    synchronise(device)
    start_peak(device)
    began = time.perf_counter()
    predict_sequences(model, sequences, config.window, device=device, batch_size=config.batch_size)
    synchronise(device)
    inference_seconds = time.perf_counter() - began
    inference_peak = peak_mib(device)

    labels = np.concatenate([sequence.labels for sequence in sequences])
    annotated = labels[(labels != MISSING_LABEL).all(axis=1)]
    class_weights = torch.from_numpy(class_balanced_weights(annotated)).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    windows = cut_windows(sequences, config.window, config.train_stride)
    order = torch.randperm(len(windows), generator=torch.Generator().manual_seed(0)).tolist()
    model.train()

    def train_steps(first: int, count: int) -> int:
        """Run ``count`` training steps from batch ``first`` (cycling over the windows); the windows trained."""
        trained = 0
        for step in range(first, first + count):
            picked = [windows[order[(step * config.batch_size + k) % len(order)]] for k in range(config.batch_size)]
            train_step(
                model, optimizer, stack_windows(sequences, picked, config.window).to(device), config.loss, class_weights
            )
            trained += len(picked)
        return trained

    train_steps(0, args.warmup)
    synchronise(device)
    start_peak(device)
    began = time.perf_counter()
    train_windows = train_steps(args.warmup, args.steps)
    synchronise(device)
    train_seconds = time.perf_counter() - began
    return TemporalSpeed(
        name,
        str(device),
        parameters,
        train_windows,
        train_seconds,
        inference_windows,
        inference_seconds,
        peak_mib(device),
        inference_peak,
    )


def parse_options(argv: list[str] | None = None) -> argparse.Namespace:
    """The benchmark's options."""
    parser = argparse.ArgumentParser(prog=f"{SCRIPT} temporal", description=__doc__.splitlines()[0])
    stepped = [name for name in list_models(family=ModelFamily.TEMPORAL) if not TemporalConfig(model=name).closed_form]
    parser.add_argument("--models", default=",".join(stepped), help="Comma-separated temporal networks.")
    parser.add_argument("--sequences", type=int, default=8, help="Synthetic sequences (videos).")
    parser.add_argument("--frames", type=int, default=2048, help="Frames per sequence.")
    parser.add_argument("--embedding-dim", type=int, default=EMBEDDING_DIM, help="Visual columns per frame.")
    parser.add_argument("--audio-dim", type=int, default=AudioFeatureConfig().dim, help="Audio columns per frame.")
    parser.add_argument("--window", type=int, default=TemporalConfig.window, help="Frames per window.")
    parser.add_argument("--batch-size", type=int, default=TemporalConfig.batch_size, help="Windows per step.")
    parser.add_argument("--hidden", type=int, default=TemporalConfig.hidden, help="Width of the models.")
    parser.add_argument("--layers", type=int, default=TemporalConfig.layers, help="Depth of the models.")
    parser.add_argument("--steps", type=int, default=10, help="Timed training steps.")
    parser.add_argument("--warmup", type=int, default=2, help="Training steps before timing.")
    parser.add_argument(
        "--devices", default=None, help="Comma-separated devices [default: cpu, and cuda when there is one]."
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, progress: ProgressFn = no_progress) -> TemporalBenchmark:
    """Run the benchmark with the options ``argv``; its figures. ``progress`` wraps the loop over models.

    Raises:
        ConfigError: for a model fitted in closed form (the ridge has no training steps to time).
    """
    args = parse_options(argv)
    models = [name.strip() for name in args.models.split(",") if name.strip()]
    for name in models:
        if TemporalConfig(model=name).closed_form:
            raise ConfigError(f"--models: {name} is fitted in closed form, with no training steps to time")
    devices = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]
    if args.devices:
        devices = [name.strip() for name in args.devices.split(",") if name.strip()]
    raw = synthetic_sequences(args.sequences, args.frames, args.embedding_dim, args.audio_dim)
    normalisation = Normalisation.fit(raw, args.embedding_dim)
    sequences = [normalisation.apply(sequence, args.embedding_dim) for sequence in raw]
    runs = [(device, name) for device in devices for name in models]
    speeds = [
        measure_model(name, sequences, args.embedding_dim, torch.device(device), args)
        for device, name in progress(runs, "temporal models per device", len(runs))
    ]
    input_dim = args.embedding_dim + args.audio_dim
    return TemporalBenchmark(options=vars(args), machine=machine_name(), input_dim=input_dim, speeds=speeds)
