"""Weight-only int8 quantization of a model's ``nn.Linear`` layers.

Each output row ``i`` of a weight matrix gets its own scale
``s_i = max_j |W_ij| / 127``; the weights are stored as ``round(W / s)`` in int8 (one
byte instead of four) and turned back into ``W ≈ q * s`` on the fly when the layer runs.
Activations stay in floating point, so this saves memory and memory traffic, not
arithmetic. The rounding error of every weight is at most half a step, ``s_i / 2``.

>>> import torch
>>> from tinyformer.model import GPT, GPTConfig
>>> model = GPT(GPTConfig.tiny(n_layer=2))
>>> report = quantize_int8(model)
>>> report.layers, report.bytes_after < report.bytes_before
(12, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "Int8Linear",
    "QuantizationReport",
    "quantize_int8",
    "quantize_per_channel",
    "model_bytes",
]


def quantize_per_channel(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(q, scale)``: int8 ``q (out, in)`` and float ``scale (out,)``.

    ``q * scale ≈ weight``.

    A row of zeros gets scale 1 (its values are exactly 0 either way).
    """
    if not isinstance(weight, torch.Tensor) or weight.dim() != 2:
        raise ValueError(
            "quantize_per_channel expects a 2-D weight (out_features, in_features)"
        )
    if not weight.dtype.is_floating_point or not torch.isfinite(weight).all():
        raise ValueError("the weight must hold finite floating-point numbers")
    peak = weight.detach().abs().amax(dim=1)
    scale = torch.where(peak > 0, peak / 127.0, torch.ones_like(peak))
    q = torch.round(weight.detach() / scale[:, None]).clamp(-127, 127).to(torch.int8)
    return q, scale


class Int8Linear(nn.Module):
    """A drop-in ``nn.Linear`` whose weight is stored as int8, one scale per output row.

    ``forward`` dequantizes the weight to the input's dtype and calls ``F.linear``.
    Built with ``from_linear``; it has no trainable parameters (quantized weights are
    for inference).
    """

    def __init__(
        self, q: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor | None
    ) -> None:
        super().__init__()
        self.in_features, self.out_features = q.shape[1], q.shape[0]
        self.register_buffer("q", q)
        self.register_buffer("scale", scale)
        self.register_buffer("bias", None if bias is None else bias.detach().clone())

    @classmethod
    def from_linear(cls, layer: nn.Linear) -> Int8Linear:
        q, scale = quantize_per_channel(layer.weight)
        return cls(q, scale.to(layer.weight.dtype), layer.bias)

    def dequantized_weight(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        dtype = self.scale.dtype if dtype is None else dtype
        return self.q.to(dtype) * self.scale.to(dtype)[:, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self.bias.to(x.dtype)
        return F.linear(x, self.dequantized_weight(x.dtype), bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}, int8 per-output-channel"
        )


@dataclass
class QuantizationReport:
    """What ``quantize_int8`` changed: layers replaced and the model's size in bytes."""

    layers: int
    bytes_before: int
    bytes_after: int

    @property
    def ratio(self) -> float:
        return self.bytes_before / self.bytes_after


def model_bytes(model: nn.Module) -> int:
    """Bytes of every parameter and buffer, each shared tensor counted once."""
    seen, total = set(), 0
    for tensor in list(model.parameters()) + list(model.buffers()):
        if tensor is None or id(tensor) in seen:
            continue
        seen.add(id(tensor))
        total += tensor.numel() * tensor.element_size()
    return total


@torch.no_grad()
def quantize_int8(model: nn.Module, skip: tuple[str, ...] = ()) -> QuantizationReport:
    """Replace every ``nn.Linear`` in ``model`` (in place) by an ``Int8Linear``.

    ``skip`` lists module names to leave in floating point. An output head whose weight
    is tied to the embedding table is skipped automatically: quantizing it would untie
    it and store the table twice.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"quantize_int8 expects an nn.Module, got {type(model).__name__}"
        )
    before = model_bytes(model)
    embedding_weights = {
        id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)
    }
    targets = [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear)
        and name not in skip
        and id(module.weight) not in embedding_weights
    ]
    for name, module in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, Int8Linear.from_linear(module))
    return QuantizationReport(len(targets), before, model_bytes(model))
