"""The encoder–decoder: cross-attention against torch.nn.MultiheadAttention, the blocks
and both stacks against torch.nn.Transformer with our weights copied in, keys and
values of the source computed once per source, cached decoding equal to uncached,
a tiny model that learns to reverse strings, and clear errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tinyformer.attention import KVCache, causal_mask
from tinyformer.config import GPTConfig
from tinyformer.seq2seq import CrossAttention, DecoderBlock


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def padding_mask(lengths, S):
    """(B, S) long: 1 for the first ``lengths[b]`` tokens of row b, 0 after."""
    return (torch.arange(S)[None, :] < torch.tensor(lengths)[:, None]).long()


def perturb(module, seed=0, scale=0.1):
    """Random norms and biases too, so a swapped or forgotten one would show."""
    g = gen(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module


# --- copying our weights into PyTorch's modules ---------------------------------------


def copy_attention(ref: nn.MultiheadAttention, ours) -> None:
    with torch.no_grad():  # PyTorch keeps q, k, v stacked in one matrix
        ref.in_proj_weight.copy_(
            torch.cat([ours.q_proj.weight, ours.k_proj.weight, ours.v_proj.weight])
        )
        ref.in_proj_bias.copy_(
            torch.cat([ours.q_proj.bias, ours.k_proj.bias, ours.v_proj.bias])
        )
        ref.out_proj.weight.copy_(ours.out_proj.weight)
        ref.out_proj.bias.copy_(ours.out_proj.bias)


def copy_linear_or_norm(ref, ours) -> None:
    with torch.no_grad():
        ref.weight.copy_(ours.weight)
        ref.bias.copy_(ours.bias)


def copy_ffn_and_norms(ref, block, n_norms: int) -> None:
    copy_linear_or_norm(ref.linear1, block.mlp.up)
    copy_linear_or_norm(ref.linear2, block.mlp.down)
    for i in range(1, n_norms + 1):
        copy_linear_or_norm(getattr(ref, f"norm{i}"), getattr(block, f"ln_{i}"))


def copy_decoder_layer(ref: nn.TransformerDecoderLayer, block: DecoderBlock) -> None:
    copy_attention(ref.self_attn, block.attn)
    copy_attention(ref.multihead_attn, block.cross_attn)
    copy_ffn_and_norms(ref, block, 3)


def block_config(norm_position="pre", ffn="relu", **changes):
    settings = dict(
        vocab_size=11, n_layer=1, n_head=4, n_embd=24, ffn_hidden=40, dropout=0.0
    )
    settings.update(changes)
    return GPTConfig(position="none", ffn=ffn, norm_position=norm_position, **settings)


# --- CrossAttention ---------------------------------------------------------------------


@pytest.mark.parametrize("fused", [True, False])
def test_cross_attention_matches_torch_multihead_attention(fused):
    torch.manual_seed(0)
    C, H, B, T, S = 24, 3, 3, 5, 7
    ours = perturb(CrossAttention(C, H, fused=fused)).eval()
    ref = nn.MultiheadAttention(C, H, batch_first=True).eval()
    copy_attention(ref, ours)
    x, memory = torch.randn(B, T, C), torch.randn(B, S, C)
    keep = padding_mask([7, 3, 5], S)
    with torch.no_grad():
        got = ours(x, memory, keep)
        # torch's key_padding_mask is True where a key must NOT be attended to
        want, want_weights = ref(
            x,
            memory,
            memory,
            key_padding_mask=keep == 0,
            average_attn_weights=False,
        )
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    if not fused:  # the cross-attention map the book plots
        assert ours.last_weights.shape == (B, H, T, S)
        torch.testing.assert_close(ours.last_weights, want_weights)
        assert ours.last_weights[1, :, :, 3:].abs().max() == 0  # padding unseen


def test_cross_attention_grouped_query_fused_and_unfused_agree():
    torch.manual_seed(1)
    ours = CrossAttention(32, 4, n_kv_heads=2).eval()
    assert ours.k_proj.out_features == 16
    x, memory = torch.randn(2, 3, 32), torch.randn(2, 6, 32)
    keep = padding_mask([6, 2], 6)
    fused = ours(x, memory, keep)
    ours.fused = False
    torch.testing.assert_close(ours(x, memory, keep), fused, atol=1e-6, rtol=1e-5)


def test_cross_attention_cache_projects_the_memory_once():
    torch.manual_seed(2)
    attn = CrossAttention(16, 2).eval()
    calls = []
    attn.k_proj.register_forward_hook(lambda *args: calls.append(1))
    memory, other = torch.randn(2, 5, 16), torch.randn(2, 5, 16)
    x = torch.randn(2, 4, 16)
    want = attn(x, memory)
    assert len(calls) == 1
    cache = KVCache()
    got = torch.cat(
        [attn(x[:, t : t + 1], memory, kv_cache=cache) for t in range(4)], 1
    )
    torch.testing.assert_close(got, want)
    assert len(calls) == 2 and cache.length == 5  # one projection for four steps
    # a filled cache is read back whatever memory is passed: reset it for a new source
    torch.testing.assert_close(attn(x, other, kv_cache=cache), want)
    cache.reset()
    torch.testing.assert_close(attn(x, other, kv_cache=cache), attn(x, other))


# --- DecoderBlock -------------------------------------------------------------------------


@pytest.mark.parametrize("norm_position", ["pre", "post"])
@pytest.mark.parametrize("ffn,activation", [("relu", "relu"), ("gelu_exact", "gelu")])
def test_decoder_block_matches_torch_decoder_layer(norm_position, ffn, activation):
    torch.manual_seed(3)
    config = block_config(norm_position, ffn)
    block = perturb(DecoderBlock(config)).eval()
    ref = nn.TransformerDecoderLayer(
        24,
        4,
        dim_feedforward=40,
        dropout=0.0,
        activation=activation,
        batch_first=True,
        norm_first=norm_position == "pre",
    ).eval()
    copy_decoder_layer(ref, block)
    x, memory = torch.randn(2, 6, 24), torch.randn(2, 5, 24)
    keep = padding_mask([5, 2], 5)
    got = block(x, memory, keep)
    want = ref(
        x,
        memory,
        tgt_mask=~causal_mask(6),  # torch: True = may NOT attend
        memory_key_padding_mask=keep == 0,
    )
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_decoder_block_is_causal_and_caches_step_by_step():
    torch.manual_seed(4)
    block = perturb(DecoderBlock(block_config())).eval()
    x, memory = torch.randn(1, 6, 24), torch.randn(1, 4, 24)
    full = block(x, memory)
    changed = x.clone()
    changed[0, 4] += 1.0
    out = block(changed, memory)
    torch.testing.assert_close(
        out[:, :4], full[:, :4]
    )  # the past never sees the future
    assert not torch.allclose(out[:, 4], full[:, 4])
    self_cache, cross_cache = KVCache(), KVCache()
    steps = [
        block(x[:, t : t + 1], memory, None, self_cache, cross_cache) for t in range(6)
    ]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-6, rtol=1e-5)
    assert self_cache.length == 6 and cross_cache.length == 4
