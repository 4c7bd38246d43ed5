import math

import pytest
import torch
import torch.nn.functional as F

from tinyformer.attention import (
    KVCache,
    MultiHeadAttention,
    causal_mask,
    hide_padding,
    scaled_dot_product_attention,
)
from tinyformer.positional import RotaryEmbedding, apply_rope
from torch_reference import copy_attention


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def qkv(shape_q, shape_k, d_v=None, dtype=torch.float32, seed=0):
    g = gen(seed)
    q = torch.randn(*shape_q, dtype=dtype, generator=g)
    k = torch.randn(*shape_k, dtype=dtype, generator=g)
    v = torch.randn(*shape_k[:-1], d_v or shape_k[-1], dtype=dtype, generator=g)
    return q, k, v


# --- causal_mask ----------------------------------------------------------------------


def test_causal_mask_square_is_lower_triangle():
    expected = torch.tensor([[i >= j for j in range(4)] for i in range(4)])
    assert torch.equal(causal_mask(4), expected)


def test_causal_mask_with_cache_aligns_queries_to_the_end():
    # 2 new queries at positions 3 and 4 of a 5-long sequence
    expected = torch.tensor([[j <= 3 + i for j in range(5)] for i in range(2)])
    assert torch.equal(causal_mask(2, 5), expected)
    with pytest.raises(ValueError, match="T_k=2 < T_q=3"):
        causal_mask(3, 2)


# --- scaled_dot_product_attention -----------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("case", ["none", "bool", "float", "causal", "bool_broadcast"])
def test_sdpa_matches_pytorch(dtype, case):
    B, H, T_q, T_k, D, D_v = 2, 3, 5, 7, 8, 6
    q, k, v = qkv((B, H, T_q, D), (B, H, T_k, D), D_v, dtype=dtype)
    g = gen(9)
    kwargs = {}
    if case == "bool":
        mask = torch.rand(B, H, T_q, T_k, generator=g) > 0.3
        mask[..., 0] = True  # every query keeps at least one key
        kwargs = dict(attn_mask=mask)
    elif case == "bool_broadcast":
        mask = torch.rand(T_q, T_k, generator=g) > 0.3
        mask[..., 0] = True
        kwargs = dict(attn_mask=mask)
    elif case == "float":
        kwargs = dict(attn_mask=torch.randn(1, H, T_q, T_k, dtype=dtype, generator=g))
    if case == "causal":
        q, k, v = qkv((B, H, T_k, D), (B, H, T_k, D), D_v, dtype=dtype)
        expected = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        mine = scaled_dot_product_attention(q, k, v, is_causal=True)
    else:
        expected = F.scaled_dot_product_attention(q, k, v, **kwargs)
        mine = scaled_dot_product_attention(q, k, v, mask=kwargs.get("attn_mask"))
    assert mine.shape == (B, H, q.shape[-2], D_v)
    torch.testing.assert_close(mine, expected)


def test_sdpa_causal_with_fewer_queries_equals_explicit_bottom_right_mask():
    q, k, v = qkv((2, 3, 8), (2, 5, 8))
    expected = F.scaled_dot_product_attention(
        q,
        k,
        v,
        attn_mask=torch.tensor([[j <= 2 + i for j in range(5)] for i in range(3)]),
    )
    torch.testing.assert_close(
        scaled_dot_product_attention(q, k, v, is_causal=True), expected
    )


def test_sdpa_without_batch_dims_and_custom_scale():
    q, k, v = qkv((4, 5), (6, 5))
    torch.testing.assert_close(
        scaled_dot_product_attention(q, k, v, scale=0.3),
        F.scaled_dot_product_attention(q, k, v, scale=0.3),
    )


def test_sdpa_weights_are_a_distribution_and_causal_zeros_the_future():
    q, k, v = qkv((2, 6, 4), (2, 6, 4))
    out, w = scaled_dot_product_attention(q, k, v, is_causal=True, return_weights=True)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 6))
    assert torch.all(w.triu(diagonal=1) == 0)
    torch.testing.assert_close(out, w @ v)
    # hand-written softmax of the first row's only allowed score
    assert w[0, 0, 0].item() == 1.0


def test_sdpa_gradcheck_float64():
    q, k, v = qkv((2, 4, 3), (2, 5, 3), 2, dtype=torch.float64)
    bias = torch.randn(4, 5, dtype=torch.float64, generator=gen(1))
    inputs = tuple(t.requires_grad_() for t in (q, k, v))
    assert torch.autograd.gradcheck(
        lambda q, k, v: scaled_dot_product_attention(q, k, v, mask=bias), inputs
    )
    assert torch.autograd.gradcheck(
        lambda q, k, v: scaled_dot_product_attention(q, k, v, is_causal=True), inputs
    )


def test_sdpa_dropout_is_reproducible_with_a_generator_and_unbiased_in_expectation():
    q, k, v = qkv((1, 64, 16), (1, 64, 16))
    a = scaled_dot_product_attention(q, k, v, dropout_p=0.5, generator=gen(3))
    b = scaled_dot_product_attention(q, k, v, dropout_p=0.5, generator=gen(3))
    torch.testing.assert_close(a, b)
    _, w = scaled_dot_product_attention(
        q, k, v, dropout_p=0.5, generator=gen(4), return_weights=True
    )
    zero_fraction = (w == 0).float().mean().item()
    assert 0.45 < zero_fraction < 0.55
    assert abs(w.sum(-1).mean().item() - 1.0) < 0.05


def test_sdpa_bad_input():
    q, k, v = qkv((2, 3, 4), (2, 5, 4))
    with pytest.raises(ValueError, match="same last dimension"):
        scaled_dot_product_attention(q, k[..., :3], v)
    with pytest.raises(ValueError, match="k and v must agree"):
        scaled_dot_product_attention(q, k, v[:, :4])
    with pytest.raises(ValueError, match=r"mask of shape \(3, 4\)"):
        scaled_dot_product_attention(q, k, v, mask=torch.ones(3, 4, dtype=torch.bool))
    with pytest.raises(TypeError, match="bool"):
        scaled_dot_product_attention(q, k, v, mask=torch.ones(3, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="do not broadcast"):
        scaled_dot_product_attention(q, torch.randn(3, 5, 4), torch.randn(3, 5, 4))
    with pytest.raises(TypeError, match="floating-point"):
        scaled_dot_product_attention(q.long(), k, v)
    with pytest.raises(ValueError, match="dropout_p"):
        scaled_dot_product_attention(q, k, v, dropout_p=1.0)


# --- MultiHeadAttention ---------------------------------------------------------------


@pytest.mark.parametrize("causal", [True, False])
def test_mha_matches_torch_multihead_attention(causal):
    torch.manual_seed(0)
    d, H, B, T = 16, 4, 2, 6
    mine = MultiHeadAttention(d, H, causal=causal).eval()
    ref = torch.nn.MultiheadAttention(d, H, batch_first=True).eval()
    with torch.no_grad():
        ref.in_proj_weight.copy_(
            torch.cat([mine.q_proj.weight, mine.k_proj.weight, mine.v_proj.weight])
        )
        ref.in_proj_bias.copy_(
            torch.cat([mine.q_proj.bias, mine.k_proj.bias, mine.v_proj.bias])
        )
        ref.out_proj.weight.copy_(mine.out_proj.weight)
        ref.out_proj.bias.copy_(mine.out_proj.bias)
    x = torch.randn(B, T, d)
    # torch's boolean attn_mask is True where attending is NOT allowed
    ref_mask = ~causal_mask(T) if causal else None
    expected, _ = ref(x, x, x, attn_mask=ref_mask, need_weights=False)
    for fused in (True, False):
        mine.fused = fused
        torch.testing.assert_close(mine(x), expected)


def test_mha_shapes_and_last_weights():
    m = MultiHeadAttention(12, 3, fused=False)
    y = m(torch.randn(2, 5, 12))
    assert y.shape == (2, 5, 12) and m.last_weights.shape == (2, 3, 5, 5)
    assert m.head_dim == 4 and m.k_proj.out_features == 12


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(),
        dict(n_kv_heads=2),
        dict(n_kv_heads=1),
        dict(alibi=True),
        dict(rope=True, n_kv_heads=2),
        dict(causal=False),
    ],
    ids=["mha", "gqa", "mqa", "alibi", "rope_gqa", "bidirectional"],
)
def test_fused_equals_unfused(kwargs):
    torch.manual_seed(1)
    if kwargs.pop("rope", False):
        kwargs["rope"] = RotaryEmbedding(4)
    m = MultiHeadAttention(16, 4, **kwargs)
    x = torch.randn(2, 7, 16)
    fused = m(x)
    m.fused = False
    torch.testing.assert_close(m(x), fused)


def test_gqa_equals_full_attention_with_repeated_key_value_weights():
    torch.manual_seed(2)
    d, H, H_kv = 24, 6, 2
    gqa = MultiHeadAttention(d, H, n_kv_heads=H_kv)
    full = MultiHeadAttention(d, H)
    D, group = d // H, H // H_kv
    with torch.no_grad():
        for name in ("q_proj", "out_proj"):
            getattr(full, name).load_state_dict(getattr(gqa, name).state_dict())
        for name in ("k_proj", "v_proj"):
            src = getattr(gqa, name)
            # head h of the full model copies key/value head h // group of the GQA model
            getattr(full, name).weight.copy_(
                src.weight.view(H_kv, D, d).repeat_interleave(group, 0).reshape(d, d)
            )
            getattr(full, name).bias.copy_(
                src.bias.view(H_kv, D).repeat_interleave(group, 0).reshape(d)
            )
    x = torch.randn(3, 5, d)
    torch.testing.assert_close(gqa(x), full(x))
    n_kv_params = sum(
        p.numel()
        for n, p in gqa.named_parameters()
        if n.startswith(("k_proj", "v_proj"))
    )
    assert n_kv_params == 2 * (d * H_kv * D + H_kv * D)


def test_alibi_mha_equals_hand_written_bias():
    torch.manual_seed(3)
    d, H, T = 8, 2, 5
    m = MultiHeadAttention(d, H, alibi=True, fused=False)
    x = torch.randn(1, T, d)
    q = m.q_proj(x).view(1, T, H, 4).transpose(1, 2)
    k = m.k_proj(x).view(1, T, H, 4).transpose(1, 2)
    v = m.v_proj(x).view(1, T, H, 4).transpose(1, 2)
    slopes = [2.0**-4, 2.0**-8]  # 2 heads: 2^(-8/2), 2^(-16/2)
    bias = torch.tensor(
        [
            [
                [-s * (i - j) if j <= i else -math.inf for j in range(T)]
                for i in range(T)
            ]
            for s in slopes
        ]
    )
    y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    expected = m.out_proj(y.transpose(1, 2).reshape(1, T, d))
    torch.testing.assert_close(m(x), expected)


def test_rope_mha_rotates_queries_and_keys_only():
    torch.manual_seed(4)
    d, H, T = 8, 2, 4
    m = MultiHeadAttention(d, H, rope=RotaryEmbedding(4))
    x = torch.randn(1, T, d)
    split = lambda t: t.view(1, T, H, 4).transpose(1, 2)  # noqa: E731
    q = apply_rope(split(m.q_proj(x)), torch.arange(T))
    k = apply_rope(split(m.k_proj(x)), torch.arange(T))
    y = F.scaled_dot_product_attention(q, k, split(m.v_proj(x)), is_causal=True)
    torch.testing.assert_close(m(x), m.out_proj(y.transpose(1, 2).reshape(1, T, d)))


@pytest.mark.parametrize("fused", [True, False])
def test_changing_a_future_token_never_changes_an_earlier_output(fused):
    torch.manual_seed(5)
    m = MultiHeadAttention(16, 4, fused=fused, rope=RotaryEmbedding(4))
    x = torch.randn(1, 8, 16)
    y = m(x)
    for t in range(8):
        x2 = x.clone()
        x2[0, t] = torch.randn(16)
        y2 = m(x2)
        torch.testing.assert_close(y2[0, :t], y[0, :t])
        assert not torch.allclose(y2[0, t], y[0, t])


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(),
        dict(n_kv_heads=2),
        dict(alibi=True),
        dict(rope=True),
        dict(rope=True, alibi=True, n_kv_heads=1),
    ],
    ids=["mha", "gqa", "alibi", "rope", "rope_alibi_mqa"],
)
@pytest.mark.parametrize("fused", [True, False])
def test_kv_cache_incremental_equals_full_causal(kwargs, fused):
    torch.manual_seed(6)
    if kwargs.pop("rope", False):
        kwargs["rope"] = RotaryEmbedding(4)
    m = MultiHeadAttention(16, 4, fused=fused, **kwargs).eval()
    x = torch.randn(2, 9, 16)
    full = m(x)
    cache = KVCache()
    chunks = [
        m(x[:, a:b], kv_cache=cache) for a, b in ((0, 4), (4, 5), (5, 6), (6, 9))
    ]  # a prompt, then tokens
    torch.testing.assert_close(torch.cat(chunks, dim=1), full)
    assert cache.length == 9 and cache.k.shape == (2, m.n_kv_heads, 9, 4)
    cache.reset()
    assert cache.length == 0


def test_kv_cache_rejects_a_different_batch():
    cache = KVCache()
    cache.append(torch.zeros(2, 4, 3, 8), torch.zeros(2, 4, 3, 8))
    with pytest.raises(ValueError, match="reset"):
        cache.append(torch.zeros(1, 4, 1, 8), torch.zeros(1, 4, 1, 8))


def test_dropout_only_in_training():
    torch.manual_seed(7)
    m = MultiHeadAttention(16, 4, dropout=0.5)
    x = torch.randn(2, 6, 16)
    m.eval()
    torch.testing.assert_close(m(x), m(x))
    m.train()
    assert not torch.allclose(m(x), m(x))


def test_mha_bad_configurations_and_inputs():
    with pytest.raises(ValueError, match="not divisible by n_heads=5"):
        MultiHeadAttention(16, 5)
    with pytest.raises(ValueError, match="not divisible by n_kv_heads=3"):
        MultiHeadAttention(16, 4, n_kv_heads=3)
    with pytest.raises(ValueError, match="RotaryEmbedding"):
        MultiHeadAttention(16, 4, rope=RotaryEmbedding(8))
    m = MultiHeadAttention(16, 4)
    with pytest.raises(ValueError, match="d_model=16"):
        m(torch.randn(2, 5, 12))
    with pytest.raises(ValueError, match="d_model=16"):
        m(torch.randn(5, 16))


def test_alibi_without_the_causal_mask_is_refused():
    # -m * (i - j) is positive for future keys: unmasked, query 0 would favour the
    # farthest one.
    with pytest.raises(ValueError, match="alibi=True needs causal=True"):
        MultiHeadAttention(d_model=16, n_heads=4, causal=False, alibi=True)
    MultiHeadAttention(
        d_model=16, n_heads=4, causal=True, alibi=True
    )  # the supported form


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("causal", [True, False])
def test_padding_mask_matches_torch_multihead_attention(fused, causal):
    # torch.nn.MultiheadAttention with key_padding_mask is the reference
    torch.manual_seed(0)
    d, H, B, T = 24, 3, 3, 7
    ours = MultiHeadAttention(d, H, causal=causal, fused=fused).eval()
    ref = torch.nn.MultiheadAttention(d, H, batch_first=True).eval()
    copy_attention(ref, ours)
    x = torch.randn(B, T, d)
    keep = torch.ones(B, T, dtype=torch.long)
    keep[0, 5:] = 0
    keep[2, 2:] = 0
    with torch.no_grad():
        got = ours(x, attention_mask=keep)
        want, _ = ref(
            x,
            x,
            x,
            key_padding_mask=keep == 0,
            attn_mask=~causal_mask(T) if causal else None,
        )
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_hide_padding_combines_with_bool_and_float_masks_and_checks_its_input():
    keep = torch.tensor([[True, False, True]])
    combined = hide_padding(causal_mask(3), keep, 1, 3)
    assert combined.shape == (1, 1, 3, 3)
    assert combined[0, 0].tolist() == [
        [True, False, False],
        [True, False, False],
        [True, False, True],
    ]
    bias = torch.zeros(3, 3)
    assert hide_padding(bias, keep, 1, 3)[0, 0, :, 1].isneginf().all()
    with pytest.raises(ValueError, match=r"shape \(B=1, T_k=3\)"):
        hide_padding(None, torch.ones(1, 4), 1, 3)
    with pytest.raises(TypeError, match="bool or integer"):
        hide_padding(None, torch.ones(1, 3), 1, 3)
