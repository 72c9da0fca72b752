"""Devices and processes: one process on CPU or one GPU, or many under ``torchrun``.

``torchrun`` sets ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``; with a world
larger than one, :func:`start_distributed` joins the process group (NCCL
on CUDA, gloo on CPU) and pins the process to its local GPU. Everything else
(sharding the frames, wrapping models in DistributedDataParallel, gathering
validation predictions) takes the returned :class:`Distributed`, so the same
code runs alone and across nodes.
"""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from abaw.errors import AbawError


class DeviceError(AbawError):
    """The requested device cannot be used here."""


def resolve_device(choice: str, local_rank: int = 0) -> torch.device:
    """``auto`` is CUDA when present, else CPU; ``cuda`` without a GPU is an error.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if choice not in ("auto", "cpu", "cuda") and not choice.startswith("cuda:"):
        raise DeviceError(f"unknown device '{choice}' (use auto, cpu or cuda)")
    if choice == "cpu" or (choice == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise DeviceError("--device cuda was asked for, but PyTorch sees no CUDA GPU here")
    if choice.startswith("cuda:"):
        return torch.device(choice)
    return torch.device("cuda", local_rank % torch.cuda.device_count())


def cpu_model() -> str:
    """The CPU's model name as ``/proc/cpuinfo`` gives it on Linux, else what :mod:`platform` knows.

    Example:
        >>> isinstance(cpu_model(), str)
        True
    """
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
        for line in cpuinfo:
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    return platform.processor() or platform.machine() or "unknown CPU"


@dataclass
class Distributed:
    """Where this process sits among the processes of a run.

    Attributes:
        rank: This process's rank (0 alone).
        world_size: Number of processes (1 alone).
        local_rank: Rank on this node (picks the GPU).
        device: The device this process computes on.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def enabled(self) -> bool:
        """Whether a process group is in use."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 writes files and prints."""
        return self.rank == 0

    def shard(self, count: int) -> slice:
        """This rank's rows of ``count`` rows, strided so every rank gets a near-equal share.

        Example:
            >>> Distributed(rank=1, world_size=3).shard(10)
            slice(1, 10, 3)
        """
        return slice(self.rank, count, self.world_size)

    def gather(self, value: Any) -> list[Any]:
        """Every rank's ``value``, in rank order (just ``[value]`` alone)."""
        if not self.enabled:
            return [value]
        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, value)
        return gathered

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank."""
        if not self.enabled:
            return value
        holder = [value]
        dist.broadcast_object_list(holder, src=0)
        return holder[0]

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """Each logged value averaged over the ranks that have it (a rank may lack a term its batches had no data for).

        Example:
            >>> Distributed().mean({"loss": 0.5})
            {'loss': 0.5}
        """
        if not self.enabled:
            return dict(values)
        gathered = self.gather(values)
        keys = sorted({key for part in gathered for key in part})
        return {
            key: float(sum(part[key] for part in gathered if key in part) / sum(key in p for p in gathered))
            for key in keys
        }

    def barrier(self) -> None:
        """Wait for every rank."""
        if self.enabled:
            dist.barrier()


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if value in (None, "") else int(value)


def start_distributed(device_choice: str = "auto", timeout_s: int = 1800) -> Distributed:
    """Join the ``torchrun`` process group when there is one; pick this process's device.

    Raises:
        DeviceError: for an unknown or unavailable device.
    """
    world_size = _env_int("WORLD_SIZE", 1)
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    device = resolve_device(device_choice, local_rank)
    if world_size > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, timeout=timedelta(seconds=timeout_s))
    return Distributed(rank=rank, world_size=world_size, local_rank=local_rank, device=device)


def stop_distributed() -> None:
    """Leave the process group, if one was joined."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


@contextlib.contextmanager
def distributed(device_choice: str = "auto") -> Iterator[Distributed]:
    """:func:`start_distributed` for the duration of a ``with`` block."""
    context = start_distributed(device_choice)
    try:
        yield context
    finally:
        stop_distributed()
