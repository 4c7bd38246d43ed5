"""The training loss every model of the package shares: cross-entropy per token."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["token_cross_entropy"]


def token_cross_entropy(
    logits: torch.Tensor,
    targets: torch.Tensor,
    inputs: torch.Tensor,
    ignore_index: int,
    names: tuple[str, str] = ("targets", "idx"),
) -> torch.Tensor:
    """Mean cross-entropy of ``logits (B, T, V)`` against ``targets (B, T)``, skipping
    the positions whose target is ``ignore_index``. ``targets`` must have the shape of
    the ``inputs`` they belong to; ``names`` are the two arguments' names for the
    error."""
    if targets.shape != inputs.shape:
        raise ValueError(
            f"{names[0]} must have the shape of {names[1]} {tuple(inputs.shape)}, "
            f"got {tuple(targets.shape)}"
        )
    return F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]),
        targets.reshape(-1),
        ignore_index=ignore_index,
    )
