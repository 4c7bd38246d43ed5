"""Preallocated KV caches, explicit positions, grouped-query decoding without copies,
and the configuration fields that loading other people's weights needs."""

from __future__ import annotations

import pytest
import torch

from tinyformer.attention import KVCache, MultiHeadAttention
from tinyformer.config import GPTConfig
from tinyformer.layers import LayerNorm, RMSNorm
from tinyformer.model import GPT
from tinyformer.positional import RotaryEmbedding


def _kv(T, B=2, H=2, D=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, H, T, D, generator=g), torch.randn(B, H, T, D, generator=g)


def test_cache_writes_in_place_and_doubles_when_full():
    cache = KVCache(capacity=4)
    pieces = [_kv(T, seed=T) for T in (3, 1, 2, 5)]
    k, v = cache.append(*pieces[0])
    buffer = cache._k.data_ptr()
    assert cache.allocated == 4 and cache.length == 3
    cache.append(*pieces[1])  # fits: same buffer, no copy of what is cached
    assert cache._k.data_ptr() == buffer and cache.allocated == 4
    cache.append(*pieces[2])  # 6 > 4: grows to max(6, 2 * 4) = 8
    assert cache.allocated == 8 and cache._k.data_ptr() != buffer
    k, v = cache.append(*pieces[3])  # 11 > 8: grows to 16
    assert cache.allocated == 16 and cache.length == 11
    torch.testing.assert_close(k, torch.cat([p[0] for p in pieces], dim=-2))
    torch.testing.assert_close(v, torch.cat([p[1] for p in pieces], dim=-2))
    assert cache.positions.tolist() == list(range(11))


def test_truncate_rolls_back_and_reset_frees():
    cache = KVCache()
    k1, v1 = _kv(5)
    cache.append(k1, v1)
    cache.truncate(2)
    assert cache.length == 2 and torch.equal(cache.k, k1[:, :, :2])
    k2, v2 = _kv(3, seed=7)
    k, _ = cache.append(k2, v2)
    torch.testing.assert_close(k, torch.cat([k1[:, :, :2], k2], dim=-2))
    assert cache.positions.tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="between 0 and the cached 5"):
        cache.truncate(6)
    cache.reset()
    assert cache.length == 0 and cache.k is None and cache.allocated == 0
    with pytest.raises(ValueError, match="capacity"):
        KVCache(capacity=0)
    with pytest.raises(ValueError, match="positions must have shape"):
        KVCache().append(k1, v1, positions=torch.arange(3))


def test_grouped_query_decoding_shares_heads_without_copies(monkeypatch):
    torch.manual_seed(0)
    layer = MultiHeadAttention(32, 8, n_kv_heads=2, rope=RotaryEmbedding(4)).eval()
    x = torch.randn(2, 9, 32)
    full = layer(x)
    cache = KVCache()
    layer(x[:, :5], kv_cache=cache)

    def no_copies(*args, **kwargs):
        raise AssertionError("keys and values were repeated per query head")

    monkeypatch.setattr(torch.Tensor, "repeat_interleave", no_copies)
    steps = [layer(x[:, t : t + 1], kv_cache=cache) for t in range(5, 9)]
    torch.testing.assert_close(torch.cat(steps, dim=1), full[:, 5:])


@pytest.mark.parametrize("position", ["learned", "rope", "alibi", "sinusoidal"])
def test_explicit_positions_match_the_default_and_a_rolled_back_cache(position):
    torch.manual_seed(0)
    model = GPT(GPTConfig.tiny(n_layer=2, block_size=16, position=position)).eval()
    idx = torch.randint(65, (2, 10), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        full, _ = model(idx)
        explicit, _ = model(idx, positions=torch.arange(10))
        torch.testing.assert_close(explicit, full)
        # guess 4 tokens after a prefix of 6, keep 2 of them, continue from there
        caches = model.new_kv_caches()
        model(idx[:, :6], kv_caches=caches)
        model(idx[:, 6:10], kv_caches=caches)
        for cache in caches:
            cache.truncate(8)
        again, _ = model(idx[:, 8:10], kv_caches=caches)
        torch.testing.assert_close(again, full[:, 8:10], atol=1e-5, rtol=1e-5)
        # the same tokens placed at explicit positions after the cache
        caches = model.new_kv_caches()
        model(idx[:, :6], kv_caches=caches)
        placed, _ = model(idx[:, 6:], kv_caches=caches, positions=torch.arange(6, 10))
        torch.testing.assert_close(placed, full[:, 6:], atol=1e-5, rtol=1e-5)


def test_rotary_and_alibi_models_only_see_relative_positions():
    for position in ("rope", "alibi"):
        torch.manual_seed(0)
        model = GPT(GPTConfig.tiny(n_layer=2, position=position)).eval()
        idx = torch.randint(65, (1, 12), generator=torch.Generator().manual_seed(2))
        with torch.no_grad():
            at_zero, _ = model(idx)
            shifted, _ = model(idx, positions=torch.arange(100, 112))
        torch.testing.assert_close(shifted, at_zero, atol=1e-4, rtol=1e-4)


def test_position_errors_name_the_problem():
    model = GPT(GPTConfig.tiny(n_layer=1, block_size=8))
    idx = torch.zeros(1, 3, dtype=torch.long)
    with pytest.raises(ValueError, match="one entry per token"):
        model(idx, positions=torch.arange(4))
    with pytest.raises(TypeError, match="must hold integers"):
        model(idx, positions=torch.arange(3.0))
    with pytest.raises(ValueError, match="beyond block_size=8"):
        model(idx, positions=torch.tensor([0, 1, 8]))
    with pytest.raises(ValueError, match=">= 0"):
        model(idx, positions=torch.tensor([-1, 0, 1]))


def test_config_fields_for_foreign_weights_reach_the_layers():
    config = GPTConfig.tiny(
        n_layer=1,
        position="rope",
        norm="rmsnorm",
        rope_base=500000.0,
        rope_interleaved=True,
        norm_eps=1e-6,
    )
    model = GPT(config)
    rope = model.blocks[0].attn.rope
    assert rope.base == 500000.0 and rope.interleaved
    assert isinstance(model.ln_f, RMSNorm) and model.ln_f.eps == 1e-6
    assert GPT(GPTConfig.tiny(n_layer=1, norm_eps=1e-3)).blocks[0].ln_1.eps == 1e-3
    assert isinstance(GPT(GPTConfig.tiny(n_layer=1)).ln_f, LayerNorm)
    for bad in (dict(rope_base=1.0), dict(rope_base=float("nan")), dict(norm_eps=0)):
        with pytest.raises(ValueError, match="GPTConfig"):
            GPTConfig.tiny(**bad)
    with pytest.raises(TypeError, match="rope_interleaved must be True or False"):
        GPTConfig.tiny(rope_interleaved="yes")


def test_rotary_tables_give_exactly_what_apply_rope_computes():
    from tinyformer.positional import apply_rope

    x = torch.randn(2, 3, 40, 16, generator=torch.Generator().manual_seed(0))
    for interleaved in (False, True):
        rope = RotaryEmbedding(16, base=500.0, interleaved=interleaved)
        for positions in (
            torch.arange(40),
            torch.arange(300, 340),  # grows the table
            torch.arange(5000, 5040),
            torch.randint(0, 70000, (40,), generator=torch.Generator().manual_seed(1)),
        ):
            for dtype in (torch.float32, torch.float64):
                got = rope(x.to(dtype), positions)
                want = apply_rope(x.to(dtype), positions, 500.0, interleaved)
                assert torch.equal(got, want)
        # a range is the decoding step's shortcut: a slice of the same tables
        for start in (0, 7, 300, 65530, 70000):  # crossing and past the table limit
            positions = range(start, start + 40)
            want = apply_rope(x, torch.arange(start, start + 40), 500.0, interleaved)
            assert torch.equal(rope(x, positions), want)


def test_rotary_range_positions_are_checked():
    rope = RotaryEmbedding(8)
    with pytest.raises(ValueError, match="count up by 1"):
        rope(torch.randn(3, 8), range(6, 0, -2))
    with pytest.raises(ValueError, match="T=3"):
        rope(torch.randn(3, 8), range(4))
    with pytest.raises(ValueError, match="shape \\(..., T, head_dim\\)"):
        rope(torch.randn(8))


def test_training_after_generate_works():
    # generate runs in inference mode; the RoPE tables it builds and the ids it returns
    # must still be usable by a later backward pass
    torch.manual_seed(0)
    model = GPT(GPTConfig.tiny(position="rope"))
    out = model.generate(torch.zeros(1, 1, dtype=torch.long), 20, temperature=0.0)
    _, loss = model(out[:, :-1], out[:, 1:])
    loss.backward()
    assert model.wte.weight.grad is not None


@pytest.mark.parametrize("fused", [True, False])
def test_one_token_step_still_masks_keys_cached_at_later_positions(fused):
    # a step skips the causal mask only when every cached key sits before it
    torch.manual_seed(0)
    layer = MultiHeadAttention(16, 4, fused=fused).eval()
    cache = KVCache()
    with torch.no_grad():
        layer(torch.randn(1, 3, 16), kv_cache=cache, positions=torch.tensor([5, 6, 7]))
        assert not cache.in_order
        x = torch.randn(1, 1, 16)
        step = layer(x, kv_cache=cache)  # default position: 3, before every cached key
        alone = layer(x)  # the token seeing only itself
    torch.testing.assert_close(step, alone)
    cache.truncate(0)
    assert cache.in_order
