"""Data-parallel training over several processes with PyTorch's DistributedDataParallel.

``torchrun --nproc_per_node=N -m tinyformer.train ...`` starts N copies of the program
and tells each its ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` in environment variables.
``setup`` joins them into one process group (``gloo`` on CPU, ``nccl`` on GPUs). Each
process then holds a full copy of the model and computes gradients on its own share of
the batch; DDP averages the gradients across processes during ``backward`` (an
all-reduce), so every copy takes the same optimizer step and the copies stay identical.

Without ``torchrun`` (one process) every function here is a no-op: world size 1, rank 0.
"""

from __future__ import annotations

import contextlib
import os

import torch
import torch.distributed as dist
from torch import nn

__all__ = [
    "setup",
    "teardown",
    "is_distributed",
    "world_size",
    "rank",
    "local_rank",
    "is_main",
    "wrap",
    "maybe_no_sync",
    "mean",
]


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main() -> bool:
    """True in the one process that logs, samples and writes checkpoints (rank 0)."""
    return rank() == 0


def setup(device: str = "auto") -> bool:
    """Join the process group if started by ``torchrun`` (``WORLD_SIZE`` > 1).

    Returns whether it did.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or is_distributed():
        return is_distributed()
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        torch.cuda.set_device(local_rank())
    dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return True


def teardown() -> None:
    if is_distributed():
        dist.destroy_process_group()


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """The model DDP-wrapped when distributed, else itself.

    DDP averages the gradients in backward.
    """
    if not is_distributed():
        return model
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def maybe_no_sync(model: nn.Module, last: bool):
    """Skip DDP's all-reduce on every micro-batch but the last.

    The gradients accumulate locally first.
    """
    if isinstance(model, nn.parallel.DistributedDataParallel) and not last:
        return model.no_sync()
    return contextlib.nullcontext()


def mean(value: torch.Tensor) -> torch.Tensor:
    """The average of ``value`` over all processes (for logging a global loss)."""
    if not is_distributed():
        return value
    value = value.clone()
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value / world_size()
