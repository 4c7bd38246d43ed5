"""Turning a model's next-token logits into a choice of token.

Every function works on the last dimension of a logits tensor of shape ``(..., V)``,
so the same code serves one distribution ``(V,)`` and a batch ``(B, V)``. The filters
return *logits* with the removed tokens set to ``-inf``, so they compose:
temperature first, then top-k, then top-p, then softmax.

>>> logits = torch.tensor([2.0, 1.0, 0.0])
>>> probabilities(logits, temperature=0.0)
tensor([1., 0., 0.])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = [
    "check_temperature",
    "apply_temperature",
    "top_k_filter",
    "top_p_filter",
    "probabilities",
    "entropy",
    "sample",
    "sample_chain",
    "DistributionView",
    "describe_distribution",
]


def check_temperature(temperature: float) -> float:
    """Return ``temperature`` as a float, or raise if it is not a finite number >= 0."""
    try:
        value = float(temperature)
    except (TypeError, ValueError):
        raise TypeError(f"temperature must be a number, got {temperature!r}") from None
    if math.isnan(value) or math.isinf(value) or value < 0:
        raise ValueError(
            f"temperature must be a finite number >= 0, got {temperature!r}: "
            "use 0 for greedy decoding, 1 for the model's own distribution"
        )
    return value


def _check_logits(logits: torch.Tensor) -> None:
    if not isinstance(logits, torch.Tensor):
        raise TypeError(
            "logits must be a torch.Tensor of shape (..., vocab_size), got "
            f"{type(logits).__name__}"
        )
    if logits.dim() == 0 or logits.shape[-1] == 0:
        raise ValueError(
            "logits must have a non-empty last (vocabulary) dimension, got shape "
            f"{tuple(logits.shape)}"
        )
    if torch.isnan(logits).any():
        raise ValueError(
            "logits contain NaN: check the model's output (a diverged training run "
            "produces NaN)"
        )


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Divide logits by the temperature: ``softmax(logits / T)`` is sharper for T < 1.

    ``T = 0`` is the limit T -> 0+: all mass on the largest logit (ties: the first).
    It is returned as logits that are 0 at the argmax and ``-inf`` elsewhere, so no
    division by zero ever happens.
    """
    _check_logits(logits)
    temperature = check_temperature(temperature)
    if temperature == 0.0:
        best = logits.argmax(dim=-1, keepdim=True)
        greedy = torch.full_like(logits, float("-inf"))
        return greedy.scatter(-1, best, 0.0)
    return logits / temperature


def top_k_filter(logits: torch.Tensor, k: int | None) -> torch.Tensor:
    """Keep the ``k`` largest logits, set the rest to ``-inf``.

    Exactly ``k`` tokens survive even when logits tie (the earlier index wins a tie).
    ``k=None`` keeps everything; ``k`` larger than the vocabulary keeps everything.
    """
    _check_logits(logits)
    if k is None:
        return logits
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"top_k must be a positive integer or None, got {k!r}")
    if k >= logits.shape[-1]:
        return logits
    # A stable descending sort puts the earlier index first among equals.
    order = torch.sort(logits, dim=-1, descending=True, stable=True).indices
    keep = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, order[..., :k], True)
    return logits.masked_fill(~keep, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float | None) -> torch.Tensor:
    """Nucleus filtering: keep the fewest most likely tokens whose mass reaches ``p``.

    Tokens are ranked by probability; a token is kept while the mass *before* it is
    still below ``p``, so the most likely token always survives and the kept set
    has total probability >= p. ``p=None`` or ``p=1`` keeps everything.
    """
    _check_logits(logits)
    if p is None:
        return logits
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 < p <= 1.0:
        raise ValueError(f"top_p must be a number in (0, 1] or None, got {p!r}")
    if p == 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True, stable=True)
    sorted_probs = torch.softmax(sorted_logits, dim=-1)
    mass_before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs
    keep_sorted = mass_before < p
    keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
    return logits.masked_fill(~keep, float("-inf"))


def probabilities(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> torch.Tensor:
    """The distribution that ``sample`` draws from, shape ``(..., V)``, summing to 1."""
    filtered = top_p_filter(
        top_k_filter(apply_temperature(logits, temperature), top_k), top_p
    )
    return torch.softmax(filtered, dim=-1)


def entropy(probs: torch.Tensor) -> torch.Tensor:
    """Shannon entropy in nats, ``-sum p log p`` over the last dimension (0 log 0 = 0).

    A uniform distribution over V tokens has entropy ``ln V``; a one-hot one has 0.
    """
    # Where p = 0 the term is 0 (its limit); writing it as +0 also keeps a certain
    # distribution's entropy at +0.0 rather than -0.0.
    terms = torch.where(probs > 0, -probs * probs.log(), torch.zeros_like(probs))
    return terms.sum(dim=-1)


def sample(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw one token id per distribution: logits ``(..., V)`` -> ids ``(...)``.

    ``temperature=0`` is greedy decoding (argmax) and uses no randomness. Pass a seeded
    ``torch.Generator`` for reproducible draws.

    >>> sample(torch.tensor([[0.0, 9.0], [9.0, 0.0]]), temperature=0.0).tolist()
    [1, 0]
    """
    probs = probabilities(logits, temperature, top_k, top_p)
    if check_temperature(temperature) == 0.0:
        return probs.argmax(dim=-1)
    flat = probs.reshape(-1, probs.shape[-1])
    ids = torch.multinomial(flat, num_samples=1, generator=generator)
    return ids.reshape(probs.shape[:-1])


def sample_chain(
    transition_logits: torch.Tensor,
    start: int,
    length: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> list[int]:
    """Generate ``length`` ids from a model whose only context is the previous id.

    ``transition_logits[a]`` ``(V, V)`` are the logits of the token that follows ``a``
    (a bigram model). Returns ``[start, x1, ..., x_length]``.
    """
    if (
        transition_logits.dim() != 2
        or transition_logits.shape[0] != transition_logits.shape[1]
    ):
        raise ValueError(
            "transition_logits must be a square (V, V) tensor, got shape "
            f"{tuple(transition_logits.shape)}"
        )
    vocab_size = transition_logits.shape[0]
    if not 0 <= start < vocab_size:
        raise ValueError(
            f"start id {start} is outside the vocabulary (0 to {vocab_size - 1})"
        )
    if length < 0:
        raise ValueError(f"length must be >= 0, got {length}")
    ids = [start]
    for _ in range(length):
        ids.append(
            int(
                sample(transition_logits[ids[-1]], temperature, top_k, top_p, generator)
            )
        )
    return ids


@dataclass(frozen=True)
class DistributionView:
    """What the temperature explorer shows for one setting of its controls."""

    probs: torch.Tensor  #: (V,) the distribution sampled from
    entropy: float  #: in nats
    kept: int  #: how many tokens still have non-zero probability

    @property
    def perplexity(self) -> float:
        """``exp(entropy)``.

        The number of equally likely tokens with the same uncertainty.
        """
        return math.exp(self.entropy)


def describe_distribution(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> DistributionView:
    """The maths under the temperature explorer, for one distribution ``(V,)``.

    >>> view = describe_distribution(torch.zeros(4))
    >>> view.kept, round(view.perplexity, 6)
    (4, 4.0)
    """
    if logits.dim() != 1:
        raise ValueError(
            "describe_distribution takes one distribution of shape (V,), got "
            f"{tuple(logits.shape)}"
        )
    probs = probabilities(logits, temperature, top_k, top_p)
    return DistributionView(
        probs=probs, entropy=float(entropy(probs)), kept=int((probs > 0).sum())
    )
