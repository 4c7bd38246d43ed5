"""Speculative decoding: greedy output equals the target's, sampled output follows the
target's distribution, and the bookkeeping adds up."""

from __future__ import annotations


import pytest
import torch

from tinyformer.model import GPT, GPTConfig
from tinyformer.sampling import probabilities
from tinyformer.speculative import generate_speculative


def _model(seed, vocab=65, **changes):
    torch.manual_seed(seed)
    config = GPTConfig.tiny(vocab_size=vocab, block_size=64, **changes)
    return GPT(config).eval()


@pytest.mark.parametrize("k", [1, 3, 5])
def test_greedy_output_equals_the_targets_own(k):
    target = _model(0, n_layer=3, position="rope")
    draft = _model(1, n_layer=1, n_embd=32, n_head=2, position="learned")
    prompt = torch.randint(65, (1, 6), generator=torch.Generator().manual_seed(2))
    expected = target.generate(prompt, max_new_tokens=40, temperature=0.0)
    result = generate_speculative(target, draft, prompt, 40, k=k, temperature=0.0)
    assert torch.equal(result.tokens, expected)
    assert result.proposed == k * result.target_passes
    assert 0 <= result.accepted <= result.checked <= result.proposed
    # each round checks its proposals up to and including the first refusal
    refusals = result.checked - result.accepted
    assert refusals <= result.target_passes
    # the target as its own draft: every guess is kept, k + 1 tokens per target pass
    itself = generate_speculative(target, target, prompt, 40, k=k, temperature=0.0)
    assert torch.equal(itself.tokens, expected)
    assert itself.acceptance_rate == 1.0 and itself.tokens_per_target_pass == k + 1


SHARPEN = 10.0


def _exact_two_token_distribution(model, prompt, temperature, vocab):
    """P(t1, t2 | prompt) under the model, by enumerating every first token."""
    with torch.no_grad():
        first = probabilities(model(prompt)[0][0, -1], temperature)
        table = torch.zeros(vocab, vocab)
        for t1 in range(vocab):
            seq = torch.cat([prompt, torch.tensor([[t1]])], dim=1)
            table[t1] = first[t1] * probabilities(model(seq)[0][0, -1], temperature)
    return table


def test_sampled_tokens_follow_the_targets_distribution():
    vocab = 5
    target = _model(3, vocab=vocab, n_layer=2, n_embd=32, n_head=2, tie_weights=False)
    draft = _model(4, vocab=vocab, n_layer=1, n_embd=16, n_head=2, tie_weights=False)
    with (
        torch.no_grad()
    ):  # sharper distributions, so that the two models disagree clearly
        target.lm_head.weight.mul_(SHARPEN)
        draft.lm_head.weight.mul_(SHARPEN)
    prompt = torch.tensor([[1, 2, 3]])
    exact = _exact_two_token_distribution(target, prompt, 1.0, vocab)
    draft_exact = _exact_two_token_distribution(draft, prompt, 1.0, vocab)
    tv = lambda a, b: 0.5 * (a - b).abs().sum().item()  # noqa: E731
    assert tv(exact, draft_exact) > 0.3  # the test can tell the two apart
    generator = torch.Generator().manual_seed(0)
    counts = torch.zeros(vocab, vocab)
    n = 3000
    rates = []
    for _ in range(n):
        result = generate_speculative(
            target, draft, prompt, 2, k=2, temperature=1.0, generator=generator
        )
        t1, t2 = result.tokens[0, -2:].tolist()
        counts[t1, t2] += 1
        rates.append(result.acceptance_rate)
    assert tv(counts / n, exact) < 0.06
    assert tv(counts / n, draft_exact) > 0.2
    assert 0.05 < sum(rates) / n < 0.95  # some guesses kept, some refused


def test_bad_calls_are_named():
    target, draft = _model(0, n_layer=1), _model(1, vocab=50, n_layer=1)
    prompt = torch.zeros(1, 4, dtype=torch.long)
    with pytest.raises(ValueError, match="share a vocabulary: 65 vs 50"):
        generate_speculative(target, draft, prompt, 5)
    with pytest.raises(ValueError, match="one sequence"):
        generate_speculative(target, target, torch.zeros(2, 4, dtype=torch.long), 5)
    with pytest.raises(ValueError, match="window of 64"):
        generate_speculative(target, target, prompt, 60, k=4)
    for bad in (dict(k=0), dict(max_new_tokens=0)):
        args = {**dict(max_new_tokens=5, k=2), **bad}
        with pytest.raises(ValueError, match="must be an integer >= 1"):
            generate_speculative(target, target, prompt, **args)
