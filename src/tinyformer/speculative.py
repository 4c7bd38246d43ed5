"""Speculative decoding: a small draft model guesses, the large target model checks.

Generating ``k`` tokens one at a time costs ``k`` sequential passes of the target model.
In speculative decoding (Leviathan et al., 2023; Chen et al., 2023) a cheap *draft*
model proposes ``k`` tokens, and the target scores all of them in **one** pass (like a
training step, every position at once). Proposals are accepted left to right:

- proposal ``x`` with draft probability ``q(x)`` and target probability ``p(x)`` is kept
  with probability ``min(1, p(x) / q(x))``;
- at the first rejection the token is redrawn from the normalised residual
  ``max(0, p - q)``, and the remaining proposals are discarded;
- if all ``k`` are kept, the target's distribution at the next position gives one more
  token for free.

Each accepted token is distributed exactly as if the target had sampled it, so the
output follows the target's distribution whatever the draft proposes; a good draft only
makes it faster. With ``temperature=0`` both models are greedy and the output equals the
target's own greedy output. Both models keep KV caches; rejected proposals are rolled
back with ``tinyformer.attention.KVCache.truncate``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tinyformer.sampling import check_temperature, probabilities

__all__ = ["SpeculativeResult", "generate_speculative"]


@dataclass
class SpeculativeResult:
    """The generated ids ``(1, T + max_new_tokens)`` and what it took to make them."""

    tokens: torch.Tensor
    proposed: int  # draft tokens offered to the target (k per round)
    checked: int  # of those, the ones compared before the round's first refusal
    accepted: int  # of those, kept
    target_passes: int  # forward passes of the target model
    draft_passes: int

    @property
    def acceptance_rate(self) -> float:
        """Share of the checked proposals that were kept (Leviathan et al.'s alpha).

        Proposals after a refusal are never compared, so they do not count."""
        return self.accepted / self.checked if self.checked else 0.0

    @property
    def tokens_per_target_pass(self) -> float:
        new = self.accepted + self.target_passes  # every round adds one target token
        return new / self.target_passes if self.target_passes else 0.0


def _check_models(target, draft, idx, max_new_tokens, k) -> None:
    for name, model in (("target", target), ("draft", draft)):
        if not hasattr(model, "new_kv_caches"):
            raise TypeError(f"the {name} must be a tinyformer GPT")
    if target.config.vocab_size != draft.config.vocab_size:
        raise ValueError(
            f"target and draft must share a vocabulary: {target.config.vocab_size} vs "
            f"{draft.config.vocab_size} token ids"
        )
    if not isinstance(idx, torch.Tensor) or idx.dim() != 2 or idx.shape[0] != 1:
        shape = (
            tuple(idx.shape) if isinstance(idx, torch.Tensor) else type(idx).__name__
        )
        raise ValueError(
            f"generate_speculative takes one sequence, idx of shape (1, T); got {shape}"
        )
    if idx.shape[1] == 0:
        raise ValueError("the prompt needs at least one token")
    for name, value in (("max_new_tokens", max_new_tokens), ("k", k)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    needed = idx.shape[1] + max_new_tokens + k
    window = min(target.config.block_size, draft.config.block_size)
    if needed > window:
        raise ValueError(
            f"prompt ({idx.shape[1]}) + max_new_tokens ({max_new_tokens}) + k ({k}) = "
            f"{needed} positions do not fit the models' window of {window}: this "
            "implementation keeps the whole sequence in its caches"
        )


@torch.no_grad()
def generate_speculative(
    target,
    draft,
    idx: torch.Tensor,
    max_new_tokens: int,
    k: int = 4,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> SpeculativeResult:
    """Append ``max_new_tokens`` tokens to ``idx (1, T)``, drafting ``k`` at a time.

    ``temperature``, ``top_k`` and ``top_p`` shape both models' distributions as in
    ``tinyformer.sampling.sample``; the output follows the *target's* shaped
    distribution. Both models run in eval mode (restored afterwards).
    """
    _check_models(target, draft, idx, max_new_tokens, k)
    check_temperature(temperature)
    modes = (target.training, draft.training)
    target.eval()
    draft.eval()
    target_caches, draft_caches = target.new_kv_caches(), draft.new_kv_caches()
    seq = idx[0].tolist()
    proposed = checked = accepted = target_passes = draft_passes = 0

    def shaped(logits):
        return probabilities(logits.float(), temperature, top_k, top_p)

    def draw(probs):
        return int(torch.multinomial(probs, 1, generator=generator))

    try:
        goal = len(seq) + max_new_tokens
        with torch.inference_mode():  # as in GPT.generate: a fair comparison
            while len(seq) < goal:
                start = len(seq)
                # 1. the draft proposes k tokens, one pass each
                #    (its cache lags by a token or two)
                pending = seq[draft_caches[0].length :]
                guesses, draft_probs = [], []
                for _ in range(k):
                    logits, _ = draft(
                        torch.tensor([pending], device=idx.device),
                        kv_caches=draft_caches,
                    )
                    draft_passes += 1
                    q = shaped(logits[0, -1])
                    guesses.append(draw(q))
                    draft_probs.append(q)
                    pending = guesses[-1:]
                # 2. the target scores all k guesses in one pass
                fresh = seq[target_caches[0].length :] + guesses
                logits, _ = target(
                    torch.tensor([fresh], device=idx.device), kv_caches=target_caches
                )
                target_passes += 1
                target_probs = shaped(logits[0, -(k + 1) :])  # (k + 1, V)
                # 3. keep guesses while the target agrees often enough;
                #    fix the first refusal
                kept = 0
                for i, (x, q) in enumerate(zip(guesses, draft_probs)):
                    checked += 1
                    p = target_probs[i]
                    u = torch.rand((), generator=generator)
                    if u < torch.clamp(p[x] / q[x], max=1.0):
                        kept += 1
                        continue
                    residual = torch.clamp(p - q, min=0.0)
                    total = residual.sum()
                    next_token = draw(residual / total if total > 0 else p)
                    break
                else:
                    next_token = draw(target_probs[k])  # all k kept: one more for free
                proposed += k
                accepted += kept
                seq += guesses[:kept] + [next_token]
                # 4. roll both caches back to the kept tokens
                for cache in target_caches:
                    cache.truncate(start + kept)
                for cache in draft_caches:
                    cache.truncate(min(cache.length, start + kept))
        tokens = torch.tensor([seq[:goal]], dtype=idx.dtype, device=idx.device)
    finally:
        target.train(modes[0])
        draft.train(modes[1])
    return SpeculativeResult(
        tokens, proposed, checked, accepted, target_passes, draft_passes
    )
