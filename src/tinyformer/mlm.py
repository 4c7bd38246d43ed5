"""Masked-language-model data: BERT's pretraining task (Devlin et al., 2019).

A causal model predicts each next token from the ones before it. An encoder sees the
whole sentence, so predicting a token it can see would be trivial; instead some tokens
are hidden and the model predicts them from both sides. BERT's recipe, per position of a
real (not special, not padding) token:

- with probability ``probability`` (15%) the position is *chosen*; its label is the
  original token, and every other position's label is -100 (ignored by the loss);
- a chosen token becomes ``[MASK]`` 80% of the time, a random token 10% of the time, and
  stays itself 10% of the time. Since ``[MASK]`` never appears when the model is used
  afterwards, the last two cases make it predict every input token, not just masked ones.

>>> ids = torch.tensor([[101, 7, 8, 9, 102]])
>>> inputs, labels = mask_tokens(ids, mask_id=103, vocab_size=200,
...                              special_ids=[101, 102], probability=1.0,
...                              generator=torch.Generator().manual_seed(0))
>>> labels.tolist()  # every real token chosen, the special ones never
[[-100, 7, 8, 9, -100]]
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from tinyformer._checks import check_positive_int

__all__ = ["IGNORE", "mask_tokens"]

IGNORE = -100  # the label of a position the loss skips (cross_entropy's ignore_index)


def mask_tokens(
    input_ids: torch.Tensor,
    *,
    mask_id: int,
    vocab_size: int,
    special_ids: Iterable[int] = (),
    attention_mask: torch.Tensor | None = None,
    probability: float = 0.15,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(inputs, labels)`` for masked-LM training from token ids ``(B, T)``.

    ``special_ids`` (``[CLS]``, ``[SEP]``, ``[PAD]``...) and positions where
    ``attention_mask`` is 0 are never chosen. ``inputs`` is a new tensor; ``input_ids``
    is not changed. Use the same ``generator`` seed for the same masks.
    """
    if (
        not isinstance(input_ids, torch.Tensor)
        or input_ids.is_floating_point()
        or input_ids.dim() != 2
    ):
        raise ValueError("input_ids must be an integer tensor of shape (B, T)")
    check_positive_int("vocab_size", vocab_size)
    if not 0 <= mask_id < vocab_size:
        raise ValueError(
            f"mask_id {mask_id} is outside the vocabulary [0, {vocab_size})"
        )
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"probability must be in [0, 1], got {probability}")
    if attention_mask is not None and attention_mask.shape != input_ids.shape:
        raise ValueError(
            f"attention_mask must have the shape of input_ids {tuple(input_ids.shape)}, "
            f"got {tuple(attention_mask.shape)}"
        )
    candidates = ~torch.isin(
        input_ids, torch.tensor(list(special_ids), dtype=torch.long)
    )
    if attention_mask is not None:
        candidates &= attention_mask.bool()

    def uniform() -> torch.Tensor:
        return torch.rand(input_ids.shape, generator=generator)

    chosen = candidates & (uniform() < probability)
    action = uniform()  # one draw decides between [MASK], random and unchanged
    to_mask = chosen & (action < 0.8)
    to_random = chosen & (action >= 0.8) & (action < 0.9)
    inputs = input_ids.clone()
    inputs[to_mask] = mask_id
    random_ids = torch.randint(0, vocab_size, input_ids.shape, generator=generator)
    inputs[to_random] = random_ids[to_random]
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, IGNORE))
    return inputs, labels
