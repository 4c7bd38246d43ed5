"""Masked-language-model data: BERT's pretraining task (Devlin et al., 2019).

A causal model predicts each next token from the ones before it. An encoder sees the
whole sentence, so predicting a token it can see would be trivial; instead some tokens
are hidden and the model predicts them from both sides. BERT's recipe, per position of a
real (not special, not padding) token:

- with probability ``probability`` (15%) the position is *chosen*; its label is the
  original token, and every other position's label is -100 (ignored by the loss);
- a chosen token becomes ``[MASK]`` 80% of the time, a random token 10% of the time, and
  stays itself 10% of the time. Since ``[MASK]`` never appears when the model is used
  afterwards, the last two cases make it predict every input token, not just masked
  ones.

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
import torch.nn.functional as F
from torch import nn

from tinyformer._checks import check_positive_int

__all__ = ["IGNORE", "mask_tokens", "MaskedLMObjective", "masked_lm_score"]

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
            "attention_mask must have the shape of input_ids "
            f"{tuple(input_ids.shape)}, got {tuple(attention_mask.shape)}"
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


class MaskedLMObjective(nn.Module):
    """Lets ``tinyformer.training.train`` pretrain an encoder with masked-LM.

    ``train`` hands its model windows of the text ``x`` and their next tokens ``y``;
    this wrapper ignores ``y``, masks ``x`` with ``mask_tokens`` (its own seeded
    generator, so a run is reproducible) and returns ``model(inputs, labels=labels)``:
    the logits and the loss on the chosen positions. Everything else in the loop
    (schedule, clipping, checkpoints) is the GPT's.
    """

    def __init__(
        self,
        model: nn.Module,
        mask_id: int,
        special_ids: Iterable[int] = (),
        probability: float = 0.15,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.model = model
        self.config = model.config  # train() reads vocab_size from it
        self.mask_id, self.special_ids = mask_id, tuple(special_ids)
        self.probability = probability
        self.generator = torch.Generator().manual_seed(seed)

    def forward(
        self, x: torch.Tensor, y: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        inputs, labels = mask_tokens(
            x,
            mask_id=self.mask_id,
            vocab_size=self.config.vocab_size,
            special_ids=self.special_ids,
            probability=self.probability,
            generator=self.generator,
        )
        return self.model(inputs.to(x.device), labels=labels.to(x.device))


@torch.no_grad()
def masked_lm_score(
    model: nn.Module,
    data: torch.Tensor,
    context: int,
    mask_id: int,
    special_ids: Iterable[int] = (),
    probability: float = 0.15,
    seed: int = 1234,
    batch_size: int = 64,
) -> tuple[float, float]:
    """``(loss, accuracy)`` of a masked-LM ``model`` over all of ``data`` (1-D ids):
    cross-entropy in nats and the share of chosen tokens predicted exactly, in
    non-overlapping windows of ``context`` tokens, with the same masks on every call
    (``seed``), in eval mode (restored afterwards)."""
    n = (len(data) // context) * context
    if n == 0:
        raise ValueError(f"data has {len(data)} tokens, fewer than context={context}")
    windows = data[:n].view(-1, context)
    generator = torch.Generator().manual_seed(seed)
    was_training = model.training
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    try:
        for i in range(0, len(windows), batch_size):
            x = windows[i : i + batch_size]
            inputs, labels = mask_tokens(
                x,
                mask_id=mask_id,
                vocab_size=model.config.vocab_size,
                special_ids=special_ids,
                probability=probability,
                generator=generator,
            )
            logits, _ = model(inputs)
            chosen = labels != IGNORE
            picked = logits[chosen].float()
            total_loss += float(
                F.cross_entropy(picked, labels[chosen], reduction="sum")
            )
            correct += int((picked.argmax(dim=-1) == labels[chosen]).sum())
            count += int(chosen.sum())
    finally:
        model.train(was_training)
    return total_loss / count, correct / count
