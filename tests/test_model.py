import math

import pytest
import torch

from tinyformer.attention import KVCache
from tinyformer.config import GPTConfig
from tinyformer.layers import TransformerBlock
from tinyformer.model import GPT

SMALL = dict(vocab_size=40, block_size=16, n_layer=2, n_head=4, n_embd=32)


def small(**changes) -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(**{**SMALL, **changes})).eval()


def ids(B, T, seed=0, V=40):
    return torch.randint(0, V, (B, T), generator=torch.Generator().manual_seed(seed))


def test_gpt2_small_has_124_439_808_parameters():
    # Published figure for GPT-2 small with tied embeddings; counted on the real module.
    model = GPT(GPTConfig.gpt2())
    assert model.num_parameters() == 124_439_808
    assert model.lm_head.weight is model.wte.weight


def test_parameter_count_matches_hand_formula_and_untying_adds_the_head():
    c = GPTConfig(**SMALL)
    C, V, L, T = c.n_embd, c.vocab_size, c.n_layer, c.block_size
    block = (4 * C * C + 4 * C) + (8 * C * C + 5 * C) + 4 * C
    assert GPT(c).num_parameters() == V * C + T * C + L * block + 2 * C
    assert (
        GPT(c.replace(tie_weights=False)).num_parameters()
        == V * C + T * C + L * block + 2 * C + V * C
    )


def test_llama_7b_shape_has_the_published_parameter_count():
    with torch.device("meta"):  # no memory is allocated
        model = GPT(GPTConfig.llama())
    assert model.num_parameters() == 6_738_415_616
    assert model.lm_head.weight is not model.wte.weight


def test_forward_shapes_and_loss():
    model = small()
    x = ids(3, 10)
    logits, loss = model(x)
    assert logits.shape == (3, 10, 40) and loss is None
    _, loss = model(x, targets=ids(3, 10, seed=1))
    expected = torch.nn.functional.cross_entropy(
        logits.reshape(-1, 40), ids(3, 10, seed=1).reshape(-1)
    )
    torch.testing.assert_close(loss, expected)


def test_initial_loss_is_about_log_vocab():
    model = small(vocab_size=500, n_embd=64)
    _, loss = model(ids(8, 16, V=500), targets=ids(8, 16, seed=3, V=500))
    assert abs(loss.item() - math.log(500)) < 0.1


@pytest.mark.parametrize("position", ["learned", "sinusoidal", "rope", "alibi", "none"])
@pytest.mark.parametrize("norm_position", ["pre", "post"])
def test_model_is_causal(position, norm_position):
    model = small(
        position=position,
        norm_position=norm_position,
        ffn="swiglu" if position == "rope" else "gelu",
    )
    x = ids(1, 12)
    y = x.clone()
    y[0, 7:] = (y[0, 7:] + 1) % 40
    a, _ = model(x)
    b, _ = model(y)
    torch.testing.assert_close(a[:, :7], b[:, :7])
    assert not torch.allclose(a[:, 7:], b[:, 7:])


def test_too_long_input_and_bad_ids_fail_clearly():
    model = small()
    with pytest.raises(ValueError, match="block_size=16"):
        model(ids(1, 17))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model(torch.tensor([[1, 40]]))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model(torch.tensor([[-1, 2]]))
    with pytest.raises(TypeError, match="integer"):
        model(torch.zeros(1, 3))
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        model(torch.tensor([1, 2, 3]))
    with pytest.raises(TypeError, match="GPTConfig"):
        GPT(dict(SMALL))


def test_rope_model_accepts_inputs_longer_than_block_size():
    logits, _ = small(position="rope")(ids(1, 20))
    assert logits.shape == (1, 20, 40)


@pytest.mark.parametrize("position", ["learned", "rope", "alibi", "sinusoidal"])
def test_kv_cache_forward_matches_full_forward(position):
    model = small(position=position, n_kv_head=2).double()
    x = ids(2, 12)
    full, _ = model(x)
    caches = model.new_kv_caches()
    first, _ = model(x[:, :5], kv_caches=caches)
    steps = [model(x[:, t : t + 1], kv_caches=caches)[0] for t in range(5, 12)]
    torch.testing.assert_close(torch.cat([first] + steps, dim=1), full)
    assert caches[0].length == 12


@pytest.mark.parametrize("position", ["learned", "rope"])
def test_generate_with_and_without_cache_is_identical_when_greedy(position):
    model = small(position=position)
    prompt = ids(2, 3)
    # 30 new tokens with block_size 16: the window fills and the cache is cropped and
    # refilled
    with_cache = model.generate(prompt, 30, temperature=0.0)
    without = model.generate(prompt, 30, temperature=0.0, use_cache=False)
    assert with_cache.shape == (2, 33)
    assert torch.equal(with_cache, without)
    assert torch.equal(with_cache[:, :3], prompt)


def test_cache_processes_one_position_per_step_until_the_window_is_full():
    model = small()
    seen = []
    hook = model.wte.register_forward_hook(
        lambda m, inputs, out: seen.append(inputs[0].shape[1])
    )
    model.generate(ids(1, 5), 14, temperature=0.0)
    # prefill 5, then 11 single steps fill the 16-position window, then crop and
    # recompute
    assert seen == [5] + [1] * 11 + [16, 16]
    seen.clear()
    model.generate(ids(1, 5), 14, temperature=0.0, use_cache=False)
    hook.remove()
    assert seen == [min(5 + i, 16) for i in range(14)]


def test_greedy_generation_picks_the_argmax_each_step():
    model = small()
    out = model.generate(ids(1, 4), 5, temperature=0.0)
    for t in range(4, 9):
        logits, _ = model(out[:, :t])
        assert out[0, t] == logits[0, -1].argmax()


def test_sampling_is_reproducible_with_a_generator_and_respects_top_k():
    model = small()
    a = model.generate(
        ids(1, 2), 20, temperature=1.0, generator=torch.Generator().manual_seed(5)
    )
    b = model.generate(
        ids(1, 2),
        20,
        temperature=1.0,
        generator=torch.Generator().manual_seed(5),
        use_cache=False,
    )
    assert torch.equal(a, b)
    out = model.generate(
        ids(1, 2),
        6,
        temperature=1.0,
        top_k=1,
        generator=torch.Generator().manual_seed(1),
    )
    assert torch.equal(out, model.generate(ids(1, 2), 6, temperature=0.0))


def test_generate_restores_training_mode_and_validates():
    model = small(dropout=0.1).train()
    out = model.generate(ids(1, 3), 4, temperature=0.0)
    assert model.training and out.shape == (1, 7)
    with pytest.raises(ValueError, match="max_new_tokens"):
        model.generate(ids(1, 3), -1)
    with pytest.raises(ValueError, match="temperature"):
        model.generate(ids(1, 3), 2, temperature=-1.0)
    with pytest.raises(ValueError, match="at least one token"):
        model.generate(torch.zeros(1, 0, dtype=torch.long), 2)


def test_long_prompt_is_cropped_to_the_window():
    model = small()
    out = model.generate(ids(1, 40), 2, temperature=0.0)
    ref = model.generate(ids(1, 40)[:, -16:], 2, temperature=0.0)
    assert torch.equal(out[:, -2:], ref[:, -2:])


def test_weight_tying_shares_storage_and_gradients():
    model = small()
    assert model.lm_head.weight.data_ptr() == model.wte.weight.data_ptr()
    untied = small(tie_weights=False)
    assert untied.lm_head.weight.data_ptr() != untied.wte.weight.data_ptr()


def test_kv_cache_count_must_match():
    model = small()
    with pytest.raises(ValueError, match="one KV cache per block"):
        model(ids(1, 2), kv_caches=[KVCache()])


def test_block_pre_and_post_norm_follow_their_equations():
    torch.manual_seed(0)
    x = torch.randn(2, 5, 32)
    pre = TransformerBlock(GPTConfig(**SMALL, norm_position="pre"))
    h = x + pre.attn(pre.ln_1(x))
    torch.testing.assert_close(pre(x), h + pre.mlp(pre.ln_2(h)))
    post = TransformerBlock(GPTConfig(**SMALL, norm_position="post"))
    h = post.ln_1(x + post.attn(x))
    torch.testing.assert_close(post(x), post.ln_2(h + post.mlp(h)))
    bare = TransformerBlock(GPTConfig(**SMALL), residual=False)
    h = bare.attn(bare.ln_1(x))
    torch.testing.assert_close(bare(x), bare.mlp(bare.ln_2(h)))


def test_init_scales_residual_projections():
    model = GPT(GPTConfig(**{**SMALL, "n_embd": 256, "n_layer": 8}))
    assert abs(model.blocks[0].mlp.up.weight.std().item() - 0.02) < 0.002
    assert abs(model.blocks[0].attn.out_proj.weight.std().item() - 0.02 / 4) < 0.0005
    assert abs(model.wpe.weight.std().item() - 0.02) < 0.002


def test_backward_reaches_every_parameter():
    model = small(
        norm="rmsnorm", ffn="swiglu", position="rope", bias=False, tie_weights=False
    ).train()
    _, loss = model(ids(2, 8), targets=ids(2, 8, seed=2))
    loss.backward()
    assert all(
        p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters()
    )
