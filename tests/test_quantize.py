"""int8 weight-only quantization.

Per-row scales, half-step error bound, drop-in layers.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tinyformer.model import GPT, GPTConfig
from tinyformer.quantize import (
    Int8Linear,
    model_bytes,
    quantize_int8,
    quantize_per_channel,
)


def test_per_channel_rounding_is_within_half_a_step():
    w = torch.randn(16, 40, generator=torch.Generator().manual_seed(0))
    w[3] = 0.0
    w[5] *= 100  # one row with a much larger range gets its own, larger scale
    q, scale = quantize_per_channel(w)
    assert q.dtype == torch.int8 and scale.shape == (16,)
    error = (q.float() * scale[:, None] - w).abs()
    assert (error <= scale[:, None] / 2 + 1e-7).all()
    assert (q.abs().amax(dim=1)[torch.arange(16) != 3] == 127).all()
    assert scale[3] == 1 and (q[3] == 0).all()
    assert scale[5] > 50 * scale[4]
    with pytest.raises(ValueError, match="2-D"):
        quantize_per_channel(torch.ones(3))
    with pytest.raises(ValueError, match="finite"):
        quantize_per_channel(torch.tensor([[1.0, float("nan")]]))


def test_int8_linear_computes_with_the_dequantized_weight():
    torch.manual_seed(0)
    layer = nn.Linear(24, 8)
    x = torch.randn(5, 24)
    quantized = Int8Linear.from_linear(layer)
    q, scale = quantize_per_channel(layer.weight)
    expected = x @ (q.float() * scale[:, None]).T + layer.bias
    torch.testing.assert_close(quantized(x), expected)
    bound = (x.abs() @ torch.full((24, 8), 1.0)) * scale.max() / 2
    assert ((quantized(x) - layer(x)).abs() <= bound).all()
    assert not list(quantized.parameters())  # inference only: buffers, no parameters


def test_quantizing_a_gpt_shrinks_it_and_keeps_its_predictions():
    torch.manual_seed(0)
    config = GPTConfig.tiny(n_layer=2, tie_weights=False, ffn="swiglu", bias=False)
    model = GPT(config).eval()
    idx = torch.randint(65, (2, 32), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        before, _ = model(idx)
    report = quantize_int8(model)
    assert report.layers == 2 * (4 + 3) + 1  # attention, SwiGLU, and the untied head
    linear_bytes = sum(
        m.q.numel() * 4 for m in model.modules() if isinstance(m, Int8Linear)
    )
    saved = report.bytes_before - report.bytes_after
    assert saved == pytest.approx(
        linear_bytes * 3 / 4, rel=0.02
    )  # 4 bytes -> 1, plus scales
    assert report.bytes_after == model_bytes(model) and report.ratio > 2
    with torch.no_grad():
        after, _ = model(idx)
    relative = (after - before).norm() / before.norm()
    assert 0 < relative < 0.02
    assert (after.argmax(-1) == before.argmax(-1)).float().mean() > 0.9


def test_a_tied_head_is_left_alone_and_skip_is_respected():
    torch.manual_seed(0)
    model = GPT(GPTConfig.tiny(n_layer=1))
    report = quantize_int8(model, skip=("blocks.0.attn.out_proj",))
    assert (
        isinstance(model.lm_head, nn.Linear)
        and model.lm_head.weight is model.wte.weight
    )
    assert isinstance(model.blocks[0].attn.out_proj, nn.Linear)
    assert report.layers == 3 + 2  # q, k, v and the two MLP layers
    with pytest.raises(TypeError, match="nn.Module"):
        quantize_int8("model")
