"""Copying our attention weights into PyTorch's own modules.

The tests compare ours with them.
"""

import torch
from torch import nn


def copy_attention(ref: nn.MultiheadAttention, ours) -> None:
    """``ours`` (a MultiHeadAttention or CrossAttention) into ``ref``, which keeps the
    query, key and value projections stacked in one matrix."""
    with torch.no_grad():
        ref.in_proj_weight.copy_(
            torch.cat([ours.q_proj.weight, ours.k_proj.weight, ours.v_proj.weight])
        )
        ref.in_proj_bias.copy_(
            torch.cat([ours.q_proj.bias, ours.k_proj.bias, ours.v_proj.bias])
        )
        ref.out_proj.weight.copy_(ours.out_proj.weight)
        ref.out_proj.bias.copy_(ours.out_proj.bias)
