import math

import pytest
import torch

from tinyformer.positional import (
    EXPLORER_KINDS,
    LearnedPositionalEmbedding,
    RotaryEmbedding,
    SinusoidalPositionalEncoding,
    alibi_bias,
    alibi_slopes,
    apply_rope,
    positional_explorer_data,
    rope_frequencies,
    rope_permutation,
    rope_score_vs_offset,
    sinusoidal_encoding,
)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_rope_frequencies_dtype_is_the_precision_of_the_result():
    exact = [10000.0 ** (-2 * i / 8) for i in range(4)]  # math, independent of torch
    f64 = rope_frequencies(8)
    f32 = rope_frequencies(8, dtype=torch.float32)
    assert f64.dtype == torch.float64 and f32.dtype == torch.float32
    torch.testing.assert_close(
        f64, torch.tensor(exact, dtype=torch.float64), rtol=1e-15, atol=0
    )
    # float32 result = the exact value rounded once to float32
    assert f32.tolist() == torch.tensor(exact, dtype=torch.float64).float().tolist()


# --- sinusoidal -----------------------------------------------------------------------


def test_sinusoidal_matches_the_formula_written_with_math():
    n, d = 7, 10
    expected = torch.tensor(
        [
            [
                math.sin(p / 10000 ** (i / d))
                if i % 2 == 0
                else math.cos(p / 10000 ** ((i - 1) / d))
                for i in range(d)
            ]
            for p in range(n)
        ]
    )
    torch.testing.assert_close(sinusoidal_encoding(n, d), expected)


def test_sinusoidal_module_works_far_beyond_any_training_length():
    pe = SinusoidalPositionalEncoding(8, base=100.0)
    out = pe(torch.tensor([0, 3, 100_000]))
    assert out.shape == (3, 8) and len(list(pe.parameters())) == 0
    p = 100_000
    expected = [
        math.sin(p / 100 ** (2 * i / 8)) if j == 0 else math.cos(p / 100 ** (2 * i / 8))
        for i in range(4)
        for j in (0, 1)
    ]
    torch.testing.assert_close(out[2], torch.tensor(expected))
    torch.testing.assert_close(out[:2], sinusoidal_encoding(4, 8, base=100.0)[[0, 3]])


def test_sinusoidal_dot_product_depends_only_on_offset():
    pe = sinusoidal_encoding(200, 32).double()
    dots = pe @ pe.T
    for offset in (1, 5, 40):
        diag = torch.diagonal(dots, offset)
        torch.testing.assert_close(
            diag, torch.full_like(diag, float(diag[0])), atol=1e-5, rtol=0
        )


@pytest.mark.parametrize(
    "bad",
    [
        dict(n_positions=4, d_model=7),
        dict(n_positions=0, d_model=8),
        dict(n_positions=4, d_model=8, base=1.0),
    ],
)
def test_sinusoidal_rejects_bad_arguments(bad):
    with pytest.raises(ValueError):
        sinusoidal_encoding(**bad)


def test_positions_must_be_integers():
    with pytest.raises(TypeError, match="integers"):
        SinusoidalPositionalEncoding(8)(torch.tensor([0.0, 1.0]))


# --- learned --------------------------------------------------------------------------


def test_learned_is_a_row_lookup_with_a_weight_parameter():
    torch.manual_seed(0)
    emb = LearnedPositionalEmbedding(16, 6)
    assert isinstance(emb.weight, torch.nn.Parameter) and emb.weight.shape == (16, 6)
    assert list(emb.state_dict()) == ["weight"]
    positions = torch.tensor([3, 0, 15])
    torch.testing.assert_close(emb(positions), emb.weight.detach()[[3, 0, 15]])
    # one-hot times the table is the same lookup
    torch.testing.assert_close(
        emb(positions), torch.nn.functional.one_hot(positions, 16).float() @ emb.weight
    )
    assert 0.01 < float(emb.weight.detach().std()) < 0.03


def test_learned_cannot_go_past_its_table():
    emb = LearnedPositionalEmbedding(8, 4)
    with pytest.raises(ValueError, match="block_size=8"):
        emb(torch.arange(9))


# --- RoPE -----------------------------------------------------------------------------


def test_rope_split_halves_matches_hugging_face_llama():
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

    B, H, T, D = 2, 3, 5, 8
    q, k = torch.randn(2, B, H, T, D, generator=gen())
    inv_freq = 1.0 / (10000 ** (torch.arange(0, D, 2).float() / D))
    freqs = torch.arange(T).float()[:, None] * inv_freq[None, :]
    emb = torch.cat([freqs, freqs], dim=-1)
    q_ref, k_ref = apply_rotary_pos_emb(q, k, emb.cos()[None], emb.sin()[None])
    rope = RotaryEmbedding(D)
    torch.testing.assert_close(rope(q, torch.arange(T)), q_ref)
    torch.testing.assert_close(rope(k), k_ref)


def test_rope_interleaved_is_complex_multiplication():
    T, D = 6, 10
    x = torch.randn(T, D, dtype=torch.float64, generator=gen(1))
    positions = torch.tensor([0, 1, 2, 7, 30, 1000])
    theta = torch.tensor(
        [10000.0 ** (-2 * i / D) for i in range(D // 2)], dtype=torch.float64
    )
    rotation = torch.polar(
        torch.ones(T, D // 2, dtype=torch.float64), positions[:, None] * theta[None, :]
    )
    expected = torch.view_as_real(
        torch.view_as_complex(x.reshape(T, D // 2, 2)) * rotation
    ).reshape(T, D)
    torch.testing.assert_close(apply_rope(x, positions, interleaved=True), expected)


@pytest.mark.parametrize("interleaved", [False, True])
def test_rope_preserves_norms_and_score_depends_only_on_offset(interleaved):
    D = 16
    rope = RotaryEmbedding(D, interleaved=interleaved)
    q, k = torch.randn(2, 1, D, dtype=torch.float64, generator=gen(2))
    torch.testing.assert_close(rope(q, torch.tensor([37])).norm(), q.norm())
    for offset in (0, 3, 25):
        scores = [
            float(rope(q, torch.tensor([m])) @ rope(k, torch.tensor([m + offset])).T)
            for m in (0, 5, 123, 4000)
        ]
        assert max(scores) - min(scores) < 1e-9, scores


def test_converting_interleaved_to_halves_by_permuting_projection_rows_keeps_scores():
    d_model, D, T = 12, 8, 7
    x = torch.randn(T, d_model, dtype=torch.float64, generator=gen(3))
    W_q, W_k = torch.randn(2, D, d_model, dtype=torch.float64, generator=gen(4))
    positions = torch.arange(T)
    inter = RotaryEmbedding(D, interleaved=True)
    halves = RotaryEmbedding(D, interleaved=False)
    scores_inter = inter(x @ W_q.T, positions) @ inter(x @ W_k.T, positions).T
    perm = rope_permutation(D)
    scores_halves = (
        halves(x @ W_q[perm].T, positions) @ halves(x @ W_k[perm].T, positions).T
    )
    torch.testing.assert_close(scores_halves, scores_inter)
    assert perm.tolist() == [0, 2, 4, 6, 1, 3, 5, 7]
    # and the conventions really differ without the permutation
    scores_wrong = halves(x @ W_q.T, positions) @ halves(x @ W_k.T, positions).T
    assert not torch.allclose(scores_wrong, scores_inter)


def test_rope_bad_input():
    with pytest.raises(ValueError, match="even"):
        RotaryEmbedding(7)
    with pytest.raises(ValueError, match="last dimension"):
        RotaryEmbedding(8)(torch.randn(3, 6))
    with pytest.raises(ValueError, match="T=3"):
        RotaryEmbedding(8)(torch.randn(3, 8), torch.arange(4))


# --- ALiBi ----------------------------------------------------------------------------


def test_alibi_slopes_power_of_two_and_not():
    torch.testing.assert_close(
        alibi_slopes(8), torch.tensor([2.0 ** -(i + 1) for i in range(8)])
    )
    torch.testing.assert_close(
        alibi_slopes(4), torch.tensor([2.0**-2, 2.0**-4, 2.0**-6, 2.0**-8])
    )
    # 6 heads: the 4-head slopes, then slopes 1 and 3 of the 8-head sequence
    torch.testing.assert_close(
        alibi_slopes(6),
        torch.tensor([2.0**-2, 2.0**-4, 2.0**-6, 2.0**-8, 2.0**-1, 2.0**-3]),
    )


def test_alibi_bias_is_minus_slope_times_distance():
    slopes = torch.tensor([0.5, 0.25])
    bias = alibi_bias(slopes, torch.tensor([2, 3]), torch.arange(4))
    assert bias.shape == (2, 2, 4)
    expected_head0 = torch.tensor([[-1.0, -0.5, 0.0, 0.5], [-1.5, -1.0, -0.5, 0.0]])
    torch.testing.assert_close(bias[0], expected_head0)
    torch.testing.assert_close(bias[1], expected_head0 / 2)


# --- explorer -------------------------------------------------------------------------


def test_explorer_sinusoidal_similarity_is_mean_cosine_of_offset():
    data = positional_explorer_data(
        "sinusoidal",
        d_model=16,
        n_positions=40,
        base=100.0,
        dims=(0, 3),
        ref_position=10,
    )
    assert data["matrix"].shape == (40, 16) and data["waves"].shape == (40, 2)
    torch.testing.assert_close(data["waves"][:, 1], data["matrix"][:, 3])
    w = [100.0 ** (-2 * i / 16) for i in range(8)]
    expected = torch.tensor(
        [sum(math.cos(o * wi) for wi in w) / 8 for o in range(-10, 30)],
        dtype=torch.float64,
    )
    assert data["offsets"].tolist() == list(range(-10, 30))
    torch.testing.assert_close(data["similarity"], expected)


@pytest.mark.parametrize("kind", EXPLORER_KINDS)
def test_explorer_similarity_is_one_at_offset_zero(kind):
    data = positional_explorer_data(kind, d_model=8, n_positions=20)
    assert data["similarity"][data["offsets"] == 0].item() == pytest.approx(1.0)
    assert data["similarity"].abs().max() <= 1 + 1e-12


def test_explorer_bad_settings():
    with pytest.raises(ValueError, match="kind must be one of"):
        positional_explorer_data("alibi")
    with pytest.raises(ValueError, match="dims"):
        positional_explorer_data(d_model=8, dims=(8,))


def test_rope_score_vs_offset_matches_closed_form_and_ignores_absolute_position():
    D, base = 8, 10000.0
    offsets, scores = rope_score_vs_offset(D, max_offset=50, base=base)
    # all-ones q and k: each pair contributes 2 cos(n w_i), divided by D
    w = [base ** (-2 * i / D) for i in range(D // 2)]
    expected = torch.tensor(
        [sum(2 * math.cos(n * wi) for wi in w) / D for n in range(51)],
        dtype=torch.float64,
    )
    torch.testing.assert_close(scores, expected)
    q, k = torch.randn(2, D, generator=gen(5))
    _, s0 = rope_score_vs_offset(D, 30, q=q, k=k, q_position=0)
    _, s1 = rope_score_vs_offset(D, 30, q=q, k=k, q_position=777)
    torch.testing.assert_close(s0, s1)


def test_explorer_drawing_and_static_frames():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tinyformer.widgets.positional import draw_positional, positional_animation

    fig = draw_positional("rope", d_model=16, n_positions=32, base=100.0)
    titles = [ax.get_title() for ax in fig.axes]
    assert any("RoPE" in t for t in titles) and any(
        "rope encoding" in t for t in titles
    )
    plt.close(fig)
    fig = draw_positional("learned", d_model=16, n_positions=32, base=100.0)
    assert (
        fig.axes[0].get_title() == "learned encoding (d_model=16)"
    )  # base has no effect on a learned table
    plt.close(fig)
    anim = positional_animation(
        settings=(("sinusoidal", 10.0), ("learned", 1e4)), d_model=8, n_positions=16
    )
    assert len(list(anim.new_frame_seq())) == 2
    html = anim.to_jshtml()  # the static face: two precomputed frames, no kernel needed
    assert html.count("data:image/png;base64") == 2
