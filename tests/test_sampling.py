import math

import pytest
import torch
from transformers.generation.logits_process import (
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from tinyformer.sampling import (
    apply_temperature,
    check_temperature,
    entropy,
    probabilities,
    sample,
    top_k_filter,
    top_p_filter,
)

LOGITS = torch.log(torch.tensor([0.5, 0.2, 0.15, 0.1, 0.05]))


def test_temperature_one_is_plain_softmax():
    torch.testing.assert_close(
        probabilities(LOGITS), torch.tensor([0.5, 0.2, 0.15, 0.1, 0.05])
    )


def test_temperature_matches_hand_computed_values():
    # softmax([2, 1, 0] / 2) = e^[1, 0.5, 0] / (e + e^0.5 + 1), computed with math, not
    # torch.
    z = math.e + math.exp(0.5) + 1.0
    expected = torch.tensor([math.e / z, math.exp(0.5) / z, 1.0 / z])
    torch.testing.assert_close(
        probabilities(torch.tensor([2.0, 1.0, 0.0]), temperature=2.0), expected
    )


@pytest.mark.parametrize("temperature", [0.1, 0.5, 1.0, 3.0])
def test_probabilities_sum_to_one(temperature):
    logits = torch.randn(4, 50, generator=torch.Generator().manual_seed(0))
    probs = probabilities(logits, temperature, top_k=10, top_p=0.9)
    torch.testing.assert_close(probs.sum(-1), torch.ones(4))
    assert (probs >= 0).all()


def test_lower_temperature_lowers_entropy_and_approaches_argmax():
    entropies = [
        float(entropy(probabilities(LOGITS, t)))
        for t in (5.0, 2.0, 1.0, 0.5, 0.1, 0.01)
    ]
    assert entropies == sorted(entropies, reverse=True)
    assert entropies[0] < math.log(5) and entropies[-1] < 1e-6
    torch.testing.assert_close(
        probabilities(LOGITS, 0.01), torch.tensor([1.0, 0, 0, 0, 0])
    )


def test_temperature_zero_is_greedy_without_division_by_zero():
    probs = probabilities(
        torch.tensor([[1.0, 3.0, 2.0], [5.0, 5.0, 0.0]]), temperature=0
    )
    torch.testing.assert_close(probs, torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]))
    assert not torch.isnan(apply_temperature(LOGITS, 0.0)).any()
    ids = sample(torch.tensor([[1.0, 3.0, 2.0]]), temperature=0.0)
    assert ids.tolist() == [1]


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf"), -0.001])
def test_bad_temperatures_are_rejected(bad):
    with pytest.raises(ValueError, match="temperature must be a finite number >= 0"):
        probabilities(LOGITS, bad)
    with pytest.raises(ValueError, match="temperature"):
        sample(LOGITS, bad)


def test_temperature_must_be_a_number():
    with pytest.raises(TypeError, match="temperature must be a number"):
        check_temperature("hot")


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_top_k_keeps_exactly_k_even_with_ties(k):
    tied = torch.tensor([1.0, 1.0, 1.0, 1.0, 1.0])
    kept = torch.isfinite(top_k_filter(tied, k))
    assert int(kept.sum()) == k
    assert kept[:k].all()  # earlier indices win ties
    kept = torch.isfinite(top_k_filter(LOGITS, k))
    assert kept.tolist() == [True] * k + [False] * (5 - k)


def test_top_k_renormalises_the_survivors():
    probs = probabilities(LOGITS, top_k=2)
    torch.testing.assert_close(probs, torch.tensor([0.5 / 0.7, 0.2 / 0.7, 0, 0, 0]))


def test_top_k_larger_than_vocab_and_none_keep_everything():
    assert torch.equal(top_k_filter(LOGITS, 100), LOGITS)
    assert torch.equal(top_k_filter(LOGITS, None), LOGITS)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_top_k_rejects_bad_values(bad):
    with pytest.raises(ValueError, match="top_k"):
        top_k_filter(LOGITS, bad)


@pytest.mark.parametrize(
    "p, kept",
    [
        (0.45, 1),  # 0.5 alone reaches 0.45
        (0.55, 2),  # 0.5 + 0.2 = 0.7
        (0.69, 2),
        (0.71, 3),  # 0.7 falls short of 0.71: the third token is needed (0.85)
        (0.9, 4),  # 0.95
        (0.96, 5),
        (1e-9, 1),  # the most likely token always survives
    ],
)
def test_top_p_keeps_the_smallest_set_reaching_p(p, kept):
    # Cumulative mass of the sorted distribution: 0.5, 0.7, 0.85, 0.95, 1.0.
    mask = torch.isfinite(top_p_filter(LOGITS, p))
    assert mask.tolist() == [True] * kept + [False] * (5 - kept)


def test_top_p_works_on_unsorted_batches():
    logits = torch.log(torch.tensor([[0.1, 0.6, 0.3], [0.25, 0.25, 0.5]]))
    mask = torch.isfinite(top_p_filter(logits, 0.65))
    assert mask.tolist() == [[False, True, True], [True, False, True]]


def test_top_p_kept_mass_reaches_p_and_dropping_any_kept_token_falls_short():
    gen = torch.Generator().manual_seed(3)
    for _ in range(20):
        logits = torch.randn(30, generator=gen, dtype=torch.float64) * 2
        p = float(torch.rand(1, generator=gen)) * 0.98 + 0.01
        probs = torch.softmax(logits, -1)
        kept = torch.isfinite(top_p_filter(logits, p))
        assert probs[kept].sum() >= p - 1e-12
        assert (
            probs[kept].sum() - probs[kept].min() < p
        )  # minimal: the smallest kept token was needed
        assert probs[kept].min() >= probs[~kept].max() if (~kept).any() else True


@pytest.mark.parametrize("bad", [0.0, 1.5, -0.1, True])
def test_top_p_rejects_bad_values(bad):
    with pytest.raises(ValueError, match="top_p"):
        top_p_filter(LOGITS, bad)


def test_entropy_of_known_distributions():
    torch.testing.assert_close(
        entropy(torch.full((8,), 1 / 8)), torch.tensor(math.log(8))
    )
    assert float(entropy(torch.tensor([0.0, 1.0, 0.0]))) == 0.0
    torch.testing.assert_close(
        entropy(torch.tensor([0.5, 0.5, 0.0])), torch.tensor(math.log(2))
    )


def test_seeded_sampling_is_reproducible_and_follows_the_distribution():
    logits = LOGITS.expand(20_000, 5)
    a = sample(logits, generator=torch.Generator().manual_seed(7))
    b = sample(logits, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b) and a.shape == (20_000,)
    freq = torch.bincount(a, minlength=5).float() / len(a)
    torch.testing.assert_close(
        freq, torch.tensor([0.5, 0.2, 0.15, 0.1, 0.05]), atol=0.015, rtol=0
    )


def test_sample_never_picks_a_filtered_token():
    logits = LOGITS.expand(5000, 5)
    ids = sample(
        logits, temperature=2.0, top_k=2, generator=torch.Generator().manual_seed(0)
    )
    assert set(ids.tolist()) == {0, 1}
    ids = sample(logits, top_p=0.8, generator=torch.Generator().manual_seed(0))
    assert set(ids.tolist()) == {0, 1, 2}


def test_sample_keeps_leading_dimensions():
    ids = sample(torch.zeros(2, 3, 7), generator=torch.Generator().manual_seed(0))
    assert ids.shape == (2, 3)


def test_bad_logits_are_rejected():
    with pytest.raises(TypeError, match="torch.Tensor"):
        sample([0.1, 0.2])
    with pytest.raises(ValueError, match="NaN"):
        sample(torch.tensor([0.0, float("nan")]))
    with pytest.raises(ValueError, match="non-empty"):
        probabilities(torch.tensor(1.0))


# --- against transformers' own logits processors (an independent implementation)

from tinyformer.sampling import describe_distribution, sample_chain  # noqa: E402


@pytest.mark.parametrize("seed", range(5))
def test_filters_agree_with_hugging_face(seed):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(3, 100, generator=gen) * 3
    for t in (0.3, 1.0, 2.5):
        torch.testing.assert_close(
            apply_temperature(logits, t),
            TemperatureLogitsWarper(t)(None, logits.clone()),
        )
    for k in (1, 7, 50):
        torch.testing.assert_close(
            top_k_filter(logits, k), TopKLogitsWarper(top_k=k)(None, logits.clone())
        )
    for p in (0.1, 0.5, 0.9, 0.99):
        ours = torch.isfinite(top_p_filter(logits, p))
        theirs = torch.isfinite(TopPLogitsWarper(top_p=p)(None, logits.clone()))
        assert torch.equal(ours, theirs), p


def test_sample_chain_follows_a_deterministic_chain_and_validates_input():
    # 0 -> 1 -> 2 -> 0 with certainty: the chain must cycle whatever the seed.
    cycle = torch.full((3, 3), float("-inf"))
    cycle[0, 1] = cycle[1, 2] = cycle[2, 0] = 0.0
    assert sample_chain(cycle, 0, 6, generator=torch.Generator().manual_seed(5)) == [
        0,
        1,
        2,
        0,
        1,
        2,
        0,
    ]
    assert sample_chain(torch.randn(4, 4), 2, 0) == [2]
    with pytest.raises(ValueError, match="square"):
        sample_chain(torch.zeros(3, 4), 0, 2)
    with pytest.raises(ValueError, match="start id 9"):
        sample_chain(torch.zeros(3, 3), 9, 2)
    with pytest.raises(ValueError, match="length"):
        sample_chain(torch.zeros(3, 3), 0, -1)


def test_sample_chain_matches_bigram_statistics():
    probs = torch.tensor([[0.9, 0.1], [0.5, 0.5]])
    ids = sample_chain(
        probs.log(), 0, 20_000, generator=torch.Generator().manual_seed(0)
    )
    after_zero = [b for a, b in zip(ids, ids[1:]) if a == 0]
    assert abs(after_zero.count(1) / len(after_zero) - 0.1) < 0.01


def test_describe_distribution():
    view = describe_distribution(torch.zeros(8))
    assert view.kept == 8
    assert view.entropy == pytest.approx(math.log(8))
    assert view.perplexity == pytest.approx(8.0)
    greedy = describe_distribution(torch.tensor([0.0, 2.0, 1.0]), temperature=0.0)
    assert (
        greedy.kept == 1
        and greedy.entropy == 0.0
        and math.copysign(1, greedy.entropy) == 1
    )
    assert describe_distribution(LOGITS, top_k=3).kept == 3
    with pytest.raises(ValueError, match="one distribution"):
        describe_distribution(torch.zeros(2, 3))
