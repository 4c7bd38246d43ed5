"""tinyformer.inspect: recording changes nothing, edits equal the forward pass
recomputed by hand, the logit lens ends at the model's logits, and head scores on known
patterns."""

from __future__ import annotations

import math

import pytest
import torch

from tinyformer.attention import causal_mask
from tinyformer.inspect import (
    attention_patterns,
    nearest_neighbours,
    duplicate_token_score,
    first_token_score,
    hook_points,
    induction_score,
    intervene,
    logit_lens,
    patch,
    previous_token_score,
    record,
    zero,
    zero_head,
)
from tinyformer.model import GPT, GPTConfig


def _model(**overrides) -> GPT:
    torch.manual_seed(0)
    model = GPT(GPTConfig.tiny(n_layer=3, **overrides))
    model.eval()
    return model


def _idx(T: int = 12, B: int = 2) -> torch.Tensor:
    return torch.randint(65, (B, T), generator=torch.Generator().manual_seed(1))


def test_hook_points_are_named_and_ordered():
    names = hook_points(_model())
    assert names[0] == "embed" and names[-1] == "ln_f" and len(names) == 2 + 3 * 6
    assert names[1:7] == [
        f"blocks.0.{w}"
        for w in (
            "resid_pre",
            "attn_pattern",
            "head_out",
            "attn_out",
            "mlp_out",
            "resid_post",
        )
    ]
    with pytest.raises(TypeError, match="GPT"):
        hook_points(torch.nn.Linear(2, 2))


@pytest.mark.parametrize(
    "overrides", [{}, dict(position="rope", norm="rmsnorm", ffn="swiglu", n_kv_head=2)]
)
def test_recording_changes_nothing(overrides):
    model, idx = _model(**overrides), _idx()
    expected, _ = model(idx)
    without_patterns = [n for n in hook_points(model) if not n.endswith("attn_pattern")]
    with record(model, without_patterns) as cache:
        logits, _ = model(idx)
    assert torch.equal(logits, expected)
    with record(model) as cache:  # patterns switch blocks to the plain attention path
        logits, _ = model(idx)
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-5)
    assert all(block.attn.fused for block in model.blocks), (
        "the fused path is restored afterwards"
    )
    assert set(cache) == set(hook_points(model))
    for i in range(2):
        assert torch.equal(
            cache[f"blocks.{i}.resid_post"], cache[f"blocks.{i + 1}.resid_pre"]
        )
    assert torch.equal(cache["embed"], cache["blocks.0.resid_pre"])
    torch.testing.assert_close(
        model.lm_head(cache["ln_f"]), expected, rtol=1e-5, atol=1e-5
    )
    pattern = cache["blocks.1.attn_pattern"]
    torch.testing.assert_close(pattern.sum(-1), torch.ones(pattern.shape[:-1]))
    assert torch.all(pattern.triu(1) == 0), "causal: no weight on later positions"


def test_recorded_pattern_and_head_outputs_match_attention_by_hand():
    model, idx = _model(), _idx()
    with record(model) as cache:
        model(idx)
    block = model.blocks[1]
    x = block.ln_1(cache["blocks.1.resid_pre"])
    B, T, C = x.shape
    H, D = block.attn.n_heads, block.attn.head_dim
    q, k, v = (
        proj(x).view(B, T, H, D).transpose(1, 2)
        for proj in (block.attn.q_proj, block.attn.k_proj, block.attn.v_proj)
    )
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(D)
    weights = torch.softmax(
        scores.masked_fill(~causal_mask(T, T), float("-inf")), dim=-1
    )
    torch.testing.assert_close(cache["blocks.1.attn_pattern"], weights)
    torch.testing.assert_close(
        cache["blocks.1.head_out"], (weights @ v).transpose(1, 2)
    )
    torch.testing.assert_close(
        cache["blocks.1.attn_out"],
        block.attn.out_proj(cache["blocks.1.head_out"].reshape(B, T, C)),
    )


def test_zero_ablating_a_head_equals_the_forward_pass_by_hand():
    model, idx = _model(), _idx()
    with record(model) as clean:
        model(idx)
    with torch.no_grad(), intervene(model, {"blocks.1.head_out": zero_head(2)}):
        ablated, _ = model(idx)
    # by hand: layer 1's attention without head 2, then the rest of the model as usual
    with torch.no_grad():
        heads = clean["blocks.1.head_out"].clone()
        heads[:, :, 2] = 0
        block = model.blocks[1]
        x = clean["blocks.1.resid_pre"] + block.attn.out_proj(heads.flatten(2))
        x = x + block.mlp(block.ln_2(x))
        x = model.blocks[2](x)
        expected = model.lm_head(model.ln_f(x))
    torch.testing.assert_close(ablated, expected)
    assert not torch.allclose(ablated, model(idx)[0]), (
        "the ablation must change something"
    )


def test_zero_ablating_an_mlp_and_patching_activations():
    model, idx = _model(), _idx()
    with record(model) as clean:
        model(idx)
    with torch.no_grad(), intervene(model, {"blocks.2.mlp_out": zero}):
        ablated, _ = model(idx)
    with torch.no_grad():
        x = clean["blocks.2.resid_pre"] + clean["blocks.2.attn_out"]
        torch.testing.assert_close(ablated, model.lm_head(model.ln_f(x)))
    # patching layer 0's output from another input reproduces that input's logits
    # exactly
    other = _idx(B=2, T=12).flip(-1)
    with record(model, ["blocks.0.resid_post"]) as source:
        other_logits, _ = model(other)
    with (
        torch.no_grad(),
        intervene(model, {"blocks.0.resid_post": patch(source["blocks.0.resid_post"])}),
    ):
        patched, _ = model(idx)
    torch.testing.assert_close(patched, other_logits)
    # patching one head leaves the others' outputs alone
    with record(model, ["blocks.1.head_out"]) as source:
        model(other)
    edit = {"blocks.1.head_out": patch(source["blocks.1.head_out"], head=0)}
    with (
        intervene(model, edit),
        record(model, ["blocks.1.head_out"]) as seen,
    ):  # sees the edit
        model(idx)
    torch.testing.assert_close(
        seen["blocks.1.head_out"][:, :, 0], source["blocks.1.head_out"][:, :, 0]
    )
    torch.testing.assert_close(
        seen["blocks.1.head_out"][:, :, 1:], clean["blocks.1.head_out"][:, :, 1:]
    )


def test_logit_lens_ends_at_the_models_logits():
    model, idx = _model(position="rope", norm="rmsnorm"), _idx()
    with record(model) as cache:
        logits, _ = model(idx)
    lens = logit_lens(model, cache)
    assert lens.shape == (4, *logits.shape)
    torch.testing.assert_close(lens[-1], logits, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="lacks"):
        logit_lens(model, {"embed": cache["embed"]})


def test_bad_hook_names_and_edits_are_refused():
    model, idx = _model(), _idx()
    with pytest.raises(ValueError, match="unknown hook point"):
        with record(model, ["blocks.9.attn_out"]):
            pass
    with pytest.raises(ValueError, match="recorded but not edited"):
        with intervene(model, {"blocks.0.attn_pattern": zero}):
            pass
    with pytest.raises(ValueError, match="must return a tensor of shape"):
        with intervene(model, {"blocks.0.attn_out": lambda x: x[:, :1]}):
            model(idx)
    with pytest.raises(ValueError, match="head 7 does not exist"):
        with intervene(model, {"blocks.0.head_out": zero_head(7)}):
            model(idx)
    with pytest.raises(TypeError, match="must be a dict"):
        with intervene(model, [("blocks.0.attn_out", zero)]):
            pass
    with pytest.raises(TypeError, match="at least one head"):
        zero_head()
    # the hooks are gone after an error
    assert all(not b._forward_hooks and not b._forward_pre_hooks for b in model.blocks)


def _pattern_from(targets: torch.Tensor, H: int = 2) -> torch.Tensor:
    """A (1, H, T, T) pattern: head 0 attends to targets, head 1 is uniform causal.

    Head 0 spreads evenly over the targets (uniform causal where a row has none).
    """
    T = targets.shape[-1]
    uniform = causal_mask(T, T).float()
    uniform = uniform / uniform.sum(-1, keepdim=True)
    head0 = torch.where(
        targets.any(-1, keepdim=True),
        targets.float() / targets.float().sum(-1, keepdim=True).clamp(min=1),
        uniform,
    )
    return torch.stack([head0, uniform] + [uniform] * (H - 2))[None]


def test_head_scores_on_known_patterns():
    T = 10
    prev = torch.zeros(T, T, dtype=torch.bool)
    prev[torch.arange(1, T), torch.arange(T - 1)] = True
    scores = previous_token_score(_pattern_from(prev))
    assert scores[0] == pytest.approx(1.0) and scores[1] == pytest.approx(
        sum(1 / (t + 1) for t in range(1, T)) / (T - 1)
    )
    sink = torch.zeros(T, T, dtype=torch.bool)
    sink[:, 0] = True
    assert first_token_score(_pattern_from(sink))[0] == pytest.approx(1.0)
    # a random segment of 5 tokens, repeated: the induction target of position t >= 5 is
    # t - 4
    segment = torch.tensor([3, 7, 1, 9, 4])
    tokens = torch.cat([segment, segment])[None]
    induct = torch.zeros(T, T, dtype=torch.bool)
    induct[torch.arange(5, T), torch.arange(1, 6)] = True
    pattern = _pattern_from(induct)
    assert induction_score(pattern, tokens)[0] == pytest.approx(1.0)
    assert duplicate_token_score(pattern, tokens)[0] == pytest.approx(0.0)
    dup = torch.zeros(T, T, dtype=torch.bool)
    dup[torch.arange(5, T), torch.arange(0, 5)] = True
    assert duplicate_token_score(_pattern_from(dup), tokens)[0] == pytest.approx(1.0)
    assert induction_score(_pattern_from(dup), tokens)[0] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="no query position"):
        induction_score(pattern, torch.arange(T)[None])
    with pytest.raises(ValueError, match=r"\(B, H, T, T\)"):
        previous_token_score(torch.ones(2, 3, 4))
    with pytest.raises(ValueError, match="tokens must have shape"):
        induction_score(pattern, tokens[:, :5])


def test_an_induction_task_is_scored_on_a_real_models_pattern():
    model = _model()
    segment = torch.randint(65, (1, 16), generator=torch.Generator().manual_seed(3))
    tokens = torch.cat([segment, segment], dim=1)
    with record(model, [f"blocks.{i}.attn_pattern" for i in range(3)]) as cache:
        model(tokens)
    for i in range(3):
        pattern = cache[f"blocks.{i}.attn_pattern"]
        for score in (
            induction_score(pattern, tokens),
            previous_token_score(pattern),
            first_token_score(pattern),
        ):
            assert score.shape == (4,) and torch.all((score >= 0) & (score <= 1))


def test_attention_only_models_have_no_mlp_hook_and_no_mlp():
    torch.manual_seed(0)
    model = GPT(GPTConfig.tiny(n_layer=2, ffn="none", position="rope"))
    names = hook_points(model)
    assert not any(n.endswith("mlp_out") for n in names) and len(names) == 2 + 2 * 5
    idx = _idx()
    with record(model) as cache:
        logits, _ = model(idx)
    block = model.blocks[0]
    assert block.mlp is None and block.ln_2 is None
    # each block only adds its attention output to the stream
    torch.testing.assert_close(
        cache["blocks.0.resid_post"],
        cache["blocks.0.resid_pre"] + cache["blocks.0.attn_out"],
    )
    with pytest.raises(ValueError, match="ffn_hidden must be None"):
        GPTConfig.tiny(ffn="none", ffn_hidden=64)


def test_attention_patterns_stack_every_layer_and_match_plain_attention():
    model = _model(dropout=0.1)
    model.train()
    idx = _idx(T=9)
    patterns = attention_patterns(model, idx)
    assert patterns.shape == (3, 2, 4, 9, 9) and model.training  # mode restored
    # recompute block 0's weights by hand from its input: softmax(q k^T / sqrt(d))
    # causally
    with record(model, ["blocks.0.resid_pre"]) as cache:
        model.eval()
        model(idx)
    attn = model.blocks[0].attn
    x = model.blocks[0].ln_1(cache["blocks.0.resid_pre"])
    B, T, C = x.shape
    q = attn.q_proj(x).view(B, T, 4, C // 4).transpose(1, 2)
    k = attn.k_proj(x).view(B, T, 4, C // 4).transpose(1, 2)
    scores = (q @ k.transpose(-2, -1)) / math.sqrt(C // 4)
    scores = scores.masked_fill(~causal_mask(T), float("-inf"))
    torch.testing.assert_close(patterns[0], scores.softmax(-1), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(patterns.sum(-1), torch.ones(3, 2, 4, 9))


def test_nearest_neighbours_agree_with_torch_cosine_similarity():
    vectors = torch.randn(20, 6, generator=torch.Generator().manual_seed(0))
    found = nearest_neighbours(vectors, 4, k=5)
    cosine = torch.nn.functional.cosine_similarity(vectors[4:5], vectors, dim=1)
    cosine[4] = -2
    order = cosine.argsort(descending=True)[:5]
    assert [i for i, _ in found] == order.tolist()
    torch.testing.assert_close(torch.tensor([s for _, s in found]), cosine[order])
    with pytest.raises(ValueError, match="out of range"):
        nearest_neighbours(vectors, 20)
    with pytest.raises(ValueError, match="k must be between 1 and 19"):
        nearest_neighbours(vectors, 0, k=20)
    with pytest.raises(ValueError, match="2-D"):
        nearest_neighbours(vectors[0], 0)


def test_zero_head_takes_several_heads_and_an_empty_edit_changes_nothing():
    model, idx = _model(), _idx()
    with torch.no_grad():
        clean, _ = model(idx)
        with intervene(model, {}):
            same, _ = model(idx)
        with intervene(model, {"blocks.1.head_out": zero_head(0, 2)}):
            both, _ = model(idx)
        chained = lambda x: zero_head(2)(zero_head(0)(x))  # noqa: E731
        with intervene(model, {"blocks.1.head_out": chained}):
            one_by_one, _ = model(idx)
    assert torch.equal(clean, same)
    torch.testing.assert_close(both, one_by_one)
    assert not torch.allclose(both, clean)
