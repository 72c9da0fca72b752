"""Benchmark: embedding extraction speed (``abaw features embed``) per variant and device.

Generates a demo dataset (and its audio features, for ``aeg-cd-sz``) in a
temporary folder, saves each variant with random weights as ``abaw train``
saves a checkpoint, and times :func:`~abaw.prediction.embed.extract_embeddings`
over every face frame of every split: reading the JPEGs, the forward pass and
writing one file per entry. The first run of each variant warms up (caches,
CUDA kernels) and is forced again, so the figure is that of a steady run. On
a machine with CUDA each variant is timed on the CPU and on CUDA.

Run: ``python -m abaw.cli.run_benchmark embed [--videos 8] [--frames 150] [--variants disc,aeg-cd,aeg-cd-sz]
[--batch-size 256] [--workers 2] [--devices cpu,cuda]``
"""

from __future__ import annotations

import argparse
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from abaw.benchmarks import SCRIPT
from abaw.data.audio import AudioFeatureConfig, extract_audio_features, load_audio_features
from abaw.data.index import DatasetIndex, open_dataset
from abaw.model import model_config
from abaw.prediction.embed import extract_embeddings
from abaw.progress import ProgressFn, no_progress
from abaw.runtime.checkpoint import save_checkpoint
from abaw.runtime.devices import cpu_model
from abaw.synthetic import GeneratorConfig, generate_dataset
from abaw.training.config import TrainConfig
from abaw.training.prepare import build_model

VARIANTS = ("disc", "aeg-cd", "aeg-cd-sz")


@dataclass(frozen=True)
class EmbedSpeed:
    """The figures of one variant on one device.

    Attributes:
        variant: The registered model name.
        device: Where the model ran.
        dim: Values per frame.
        frames: Face frames embedded.
        seconds: Seconds reading and embedding them (model loading and hashing excluded).
    """

    variant: str
    device: str
    dim: int
    frames: int
    seconds: float

    @property
    def frames_per_second(self) -> float:
        """Face frames embedded per second."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class EmbedBenchmark:
    """The figures of one run.

    Attributes:
        options: The options the benchmark ran with.
        machine: The CPU (and the GPU when there is one).
        speeds: One row per variant and device.
    """

    options: dict[str, Any]
    machine: str
    speeds: list[EmbedSpeed]


def random_checkpoint(path: Path, variant: str, index: DatasetIndex) -> Path:
    """``variant`` with random weights, saved as ``abaw train`` saves it (with the audio state it needs)."""
    config = TrainConfig(variant=variant)
    audio_state = None
    audio_dim = AudioFeatureConfig().dim
    if model_config(variant).audio_dim:
        audio = load_audio_features(index, AudioFeatureConfig())
        audio_state = {
            "config": AudioFeatureConfig().to_dict(),
            "mean": torch.from_numpy(audio.mean),
            "std": torch.from_numpy(audio.std),
        }
    model = build_model(config, audio_dim)
    payload = {
        "config": config.to_dict(),
        "model_config": model.config.to_dict(),
        "model": model.state_dict(),
        "audio": audio_state,
        "epoch": 1,
    }
    return save_checkpoint(path, payload)


def parse_options(argv: list[str] | None = None) -> argparse.Namespace:
    """The benchmark's options."""
    parser = argparse.ArgumentParser(prog=f"{SCRIPT} embed", description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=8, help="Entries of the generated dataset.")
    parser.add_argument("--frames", type=int, default=150, help="Frames per generated video.")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="Comma-separated registered variants.")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2, help="DataLoader processes reading the images.")
    parser.add_argument(
        "--devices", default=None, help="Comma-separated devices [default: cpu, and cuda when there is one]."
    )
    return parser.parse_args(argv)


def machine_name() -> str:
    """The CPU model and core count, and the GPU when CUDA is there."""
    name = f"{cpu_model()}, {os.cpu_count()} cores"
    if torch.cuda.is_available():
        name += f"; {torch.cuda.get_device_name(0)}"
    return name


def main(argv: list[str] | None = None, progress: ProgressFn = no_progress) -> EmbedBenchmark:
    """Run the benchmark with the options ``argv``; its figures. ``progress`` wraps the loop over variants."""
    args = parse_options(argv)
    variants = [name.strip() for name in args.variants.split(",") if name.strip()]
    devices = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]
    if args.devices:
        devices = [name.strip() for name in args.devices.split(",") if name.strip()]
    speeds = []
    with tempfile.TemporaryDirectory() as folder:
        root = generate_dataset(Path(folder) / "data", GeneratorConfig(videos=args.videos, frames=args.frames)).root
        index = open_dataset(root)
        if any(model_config(variant).audio_dim for variant in variants):
            extract_audio_features(index, AudioFeatureConfig())
        for variant in progress(variants, "embedding extraction per variant", len(variants)):
            checkpoint = random_checkpoint(Path(folder) / f"{variant}.pt", variant, index)
            for device in devices:
                options = {"device": device, "batch_size": args.batch_size, "workers": args.workers}
                extract_embeddings(index, checkpoint, variant, force=True, **options)  # warm-up
                report = extract_embeddings(index, checkpoint, variant, force=True, **options)
                speeds.append(EmbedSpeed(variant, report.device, report.dim, report.frames, report.embed_seconds))
    return EmbedBenchmark(options=vars(args), machine=machine_name(), speeds=speeds)
