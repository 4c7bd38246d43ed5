import math

import pytest
import torch
from torch import nn

from tinyformer.attention import MultiHeadAttention
from tinyformer.config import GPTConfig
from tinyformer.layers import (
    FeedForward,
    LayerNorm,
    RMSNorm,
    SwiGLU,
    TransformerBlock,
    init_weights,
)
from tinyformer.model import GPT
from tinyformer.positional import LearnedPositionalEmbedding

g = torch.Generator().manual_seed(0)


def randn(*shape, dtype=torch.float64):
    return torch.randn(*shape, generator=g, dtype=dtype)


@pytest.mark.parametrize("bias", [True, False])
def test_layernorm_matches_torch(bias):
    ours, ref = LayerNorm(16, bias=bias).double(), nn.LayerNorm(16, bias=bias).double()
    with torch.no_grad():
        ours.weight.copy_(randn(16))
        ref.weight.copy_(ours.weight)
        if bias:
            ours.bias.copy_(randn(16))
            ref.bias.copy_(ours.bias)
    x = randn(3, 5, 16) * 4 + 2
    torch.testing.assert_close(ours(x), ref(x))


def test_layernorm_output_has_zero_mean_unit_variance():
    y = LayerNorm(32)(torch.randn(4, 32, generator=g) * 10 + 3)
    torch.testing.assert_close(y.mean(-1), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(
        y.var(-1, unbiased=False), torch.ones(4), atol=1e-3, rtol=0
    )


def test_layernorm_gradcheck():
    ln = LayerNorm(6).double()
    x = randn(2, 6).requires_grad_()
    assert torch.autograd.gradcheck(ln, (x,))


def test_rmsnorm_matches_torch_and_formula():
    ours = RMSNorm(8, eps=1e-6).double()
    with torch.no_grad():
        ours.weight.copy_(randn(8))
    ref = nn.RMSNorm(8, eps=1e-6).double()
    with torch.no_grad():
        ref.weight.copy_(ours.weight)
    x = randn(2, 3, 8)
    torch.testing.assert_close(ours(x), ref(x))
    # by hand for one vector: x / sqrt(mean(x^2) + eps) * w
    v = x[0, 0].tolist()
    rms = math.sqrt(sum(t * t for t in v) / 8 + 1e-6)
    expected = torch.tensor(
        [t / rms * w for t, w in zip(v, ours.weight.tolist())], dtype=torch.float64
    )
    torch.testing.assert_close(ours(x)[0, 0], expected)


def test_rmsnorm_gives_unit_rms_but_keeps_the_mean():
    x = torch.randn(5, 64, generator=g) + 3.0
    y = RMSNorm(64)(x)
    torch.testing.assert_close(y.pow(2).mean(-1), torch.ones(5), atol=1e-4, rtol=0)
    assert (y.mean(-1) > 0.5).all()  # not centred, unlike LayerNorm
    assert sum(p.numel() for p in RMSNorm(64).parameters()) == 64


def test_feedforward_gelu_is_gpt2s_tanh_gelu():
    from transformers.activations import NewGELUActivation  # GPT-2's "gelu_new"

    ff = FeedForward(8, activation="gelu").double()
    x = randn(2, 3, 8)
    expected = ff.down(NewGELUActivation()(ff.up(x)))
    torch.testing.assert_close(ff(x), expected)
    # and the formula itself: 0.5 h (1 + tanh(sqrt(2/pi) (h + 0.044715 h^3)))
    h = ff.up(x)
    formula = 0.5 * h * (1 + torch.tanh(math.sqrt(2 / math.pi) * (h + 0.044715 * h**3)))
    torch.testing.assert_close(ff(x), ff.down(formula))


def test_feedforward_relu_and_shapes():
    ff = FeedForward(8, hidden=20, activation="relu")
    x = torch.randn(2, 3, 8, generator=g)
    torch.testing.assert_close(ff(x), ff.down(torch.clamp(ff.up(x), min=0)))
    assert ff.up.weight.shape == (20, 8) and ff.down.weight.shape == (8, 20)


def test_feedforward_parameter_count_is_8d2_plus_5d():
    d = 48
    assert sum(p.numel() for p in FeedForward(d).parameters()) == 8 * d * d + 5 * d


def test_feedforward_rejects_unknown_activation():
    with pytest.raises(ValueError, match="gelu"):
        FeedForward(8, activation="swish")


def test_swiglu_formula_and_parameter_match():
    sw = SwiGLU(8, hidden=12).double()
    x = randn(4, 8)
    a, b = x @ sw.gate.weight.T, x @ sw.up.weight.T
    expected = (a * torch.sigmoid(a) * b) @ sw.down.weight.T
    torch.testing.assert_close(sw(x), expected)
    # 8/3 * 96 = 256 exactly: SwiGLU then has exactly the 8 d^2 weights of a 4x MLP
    d = 96
    assert sum(p.numel() for p in SwiGLU(d).parameters()) == 8 * d * d
    assert sum(p.numel() for p in FeedForward(d, bias=False).parameters()) == 8 * d * d


def test_feedforward_is_position_wise():
    ff = FeedForward(8)
    x = torch.randn(1, 5, 8, generator=g)
    torch.testing.assert_close(ff(x)[0, 2], ff(x[:, 2:3])[0, 0])


def test_init_weights_std_and_residual_scaling():
    torch.manual_seed(0)
    m = nn.Module()
    m.attn = MultiHeadAttention(512, 8)
    m.mlp = FeedForward(512)
    m.ln = LayerNorm(512)
    with torch.no_grad():
        m.ln.weight.fill_(3.0)
    init_weights(m, n_layer=8)
    assert abs(m.mlp.up.weight.std().item() - 0.02) < 0.001
    scaled = 0.02 / math.sqrt(16)
    assert abs(m.attn.out_proj.weight.std().item() - scaled) < 0.0005
    assert abs(m.mlp.down.weight.std().item() - scaled) < 0.0005
    assert (m.mlp.up.bias == 0).all() and (m.ln.weight == 1).all()
    init_weights(m, n_layer=8, scale_residual=False)
    assert abs(m.mlp.down.weight.std().item() - 0.02) < 0.001


def test_residual_projections_are_marked_not_guessed_from_names():
    torch.manual_seed(0)
    m = nn.ModuleDict(
        {
            "mixer": MultiHeadAttention(256, 4),  # names unlike GPT's attn / mlp
            "ffn_swiglu": SwiGLU(256),
            "out_proj": nn.Linear(256, 256),  # named like one, but not marked
        }
    )
    init_weights(m, n_layer=8)
    scaled = 0.02 / math.sqrt(16)
    assert abs(m["mixer"].out_proj.weight.std().item() - scaled) < 0.0005
    assert abs(m["ffn_swiglu"].down.weight.std().item() - scaled) < 0.0005
    assert abs(m["out_proj"].weight.std().item() - 0.02) < 0.001
    assert abs(m["mixer"].q_proj.weight.std().item() - 0.02) < 0.001


def _std_by_role(block):
    return (
        block.attn.q_proj.weight.std().item(),
        block.attn.out_proj.weight.std().item(),
        block.mlp.down.weight.std().item(),
    )


@pytest.mark.parametrize("ffn", ["gelu", "swiglu"])
def test_a_block_alone_is_initialized_as_inside_gpt(ffn):
    config = GPTConfig(
        vocab_size=64, block_size=16, n_layer=8, n_head=4, n_embd=256, ffn=ffn
    )
    torch.manual_seed(0)
    alone = _std_by_role(TransformerBlock(config))
    torch.manual_seed(1)
    inside = _std_by_role(GPT(config).blocks[3])
    scaled = 0.02 / math.sqrt(2 * config.n_layer)
    for a, b, expected in zip(alone, inside, (0.02, scaled, scaled)):
        assert abs(a - expected) < 0.1 * expected and abs(b - expected) < 0.1 * expected


def test_initialize_false_keeps_pytorch_default():
    config = GPTConfig(vocab_size=64, block_size=16, n_layer=8, n_head=4, n_embd=256)
    torch.manual_seed(0)
    block = TransformerBlock(config, initialize=False)
    # nn.Linear's default: uniform with bound 1/sqrt(fan_in), so std 1/sqrt(3 fan_in)
    default = 1 / math.sqrt(3 * 256)
    assert abs(block.attn.out_proj.weight.std().item() - default) < 0.05 * default
    assert block.attn.q_proj.bias.abs().max() > 0


def test_init_weights_covers_learned_positions():
    torch.manual_seed(0)
    wpe = LearnedPositionalEmbedding(256, 64)
    with torch.no_grad():
        wpe.weight.zero_()
    init_weights(wpe, n_layer=1, std=0.05)
    assert abs(wpe.weight.std().item() - 0.05) < 0.003
