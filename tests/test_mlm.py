"""Masked-LM collation: BERT's 15% / 80-10-10 proportions, labels only where chosen,
special tokens and padding never chosen, and the loss computed on chosen positions
only."""

from __future__ import annotations

import pytest
import torch

from tinyformer.encoder import EncoderConfig, EncoderForMaskedLM
from tinyformer.mlm import IGNORE, mask_tokens

CLS, SEP, PAD, MASK, V = 1, 2, 0, 3, 1000


def batch(B=64, T=128, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(10, V, (B, T), generator=g)
    ids[:, 0], ids[:, -1] = CLS, SEP
    attention = torch.ones(B, T, dtype=torch.long)
    attention[: B // 2, T // 2 :] = 0  # half the rows are half padding
    ids[attention == 0] = PAD
    return ids, attention


def test_proportions_follow_bert():
    ids, attention = batch()
    inputs, labels = mask_tokens(
        ids,
        mask_id=MASK,
        vocab_size=V,
        special_ids=[CLS, SEP, PAD],
        attention_mask=attention,
        generator=torch.Generator().manual_seed(1),
    )
    real = (attention == 1) & (ids != CLS) & (ids != SEP)
    chosen = labels != IGNORE
    n = int(chosen.sum())
    assert abs(n / int(real.sum()) - 0.15) < 0.01  # about 6,000 real tokens
    assert not (chosen & ~real).any()  # never a special token or padding
    assert torch.equal(labels[chosen], ids[chosen])  # labels are the originals
    masked = chosen & (inputs == MASK)
    unchanged = chosen & (inputs == ids)
    replaced = chosen & ~masked & ~unchanged
    assert abs(int(masked.sum()) / n - 0.8) < 0.03
    assert (
        abs(int(unchanged.sum()) / n - 0.1) < 0.03
    )  # a random draw may also be itself
    assert abs(int(replaced.sum()) / n - 0.1) < 0.03
    assert torch.equal(inputs[~chosen], ids[~chosen])  # nothing else touched
    assert not torch.equal(inputs, ids)


def test_same_seed_same_masks_and_input_untouched():
    ids, attention = batch(B=4, T=32)
    before = ids.clone()
    first = mask_tokens(
        ids, mask_id=MASK, vocab_size=V, generator=torch.Generator().manual_seed(5)
    )
    again = mask_tokens(
        ids, mask_id=MASK, vocab_size=V, generator=torch.Generator().manual_seed(5)
    )
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert torch.equal(ids, before)


def test_masked_lm_loss_sees_only_the_chosen_positions():
    torch.manual_seed(0)
    config = EncoderConfig(vocab_size=V, n_positions=32, n_layer=1, n_head=2, n_embd=16)
    model = EncoderForMaskedLM(config).eval()
    ids, attention = batch(B=2, T=32)
    inputs, labels = mask_tokens(
        ids,
        mask_id=MASK,
        vocab_size=V,
        special_ids=[CLS, SEP, PAD],
        attention_mask=attention,
        generator=torch.Generator().manual_seed(2),
    )
    logits, loss = model(inputs, attention, labels=labels)
    chosen = labels != IGNORE
    manual = torch.nn.functional.cross_entropy(logits[chosen], labels[chosen])
    torch.testing.assert_close(loss, manual)
    # changing a label outside the chosen positions cannot change the loss
    other = labels.clone()
    other[~chosen] = 5
    assert not torch.isclose(model(inputs, attention, labels=other)[1], loss)


def test_bad_arguments():
    ids, _ = batch(B=2, T=8)
    with pytest.raises(ValueError, match="mask_id 2000 is outside"):
        mask_tokens(ids, mask_id=2000, vocab_size=V)
    with pytest.raises(ValueError, match="probability"):
        mask_tokens(ids, mask_id=MASK, vocab_size=V, probability=1.5)
    with pytest.raises(ValueError, match="integer tensor"):
        mask_tokens(ids.float(), mask_id=MASK, vocab_size=V)
    with pytest.raises(ValueError, match="attention_mask must have the shape"):
        mask_tokens(ids, mask_id=MASK, vocab_size=V, attention_mask=ids[:, :3])


def test_objective_trains_an_encoder_with_the_gpt_loop_and_the_score_is_repeatable():
    from tinyformer.mlm import MaskedLMObjective, masked_lm_score
    from tinyformer.training import TrainConfig, train

    # a text where every masked letter is given away by its neighbours
    data = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7] * 400)
    config = EncoderConfig(
        vocab_size=9, n_positions=16, n_layer=1, n_head=2, n_embd=32, position="rope"
    )
    torch.manual_seed(0)
    model = EncoderForMaskedLM(config)
    before = masked_lm_score(model, data, 16, mask_id=8)
    assert before == masked_lm_score(model, data, 16, mask_id=8)  # same masks
    run = TrainConfig(batch_size=8, context=16, max_steps=300, max_lr=1e-2)
    train(MaskedLMObjective(model, mask_id=8), data, None, run, quiet=True)
    loss, accuracy = masked_lm_score(model, data, 16, mask_id=8)
    assert before[0] > 2.0 and before[1] < 0.3
    assert loss < 0.6 and accuracy > 0.8


def test_masked_lm_score_is_the_loss_on_the_chosen_positions():
    from tinyformer.mlm import masked_lm_score

    config = EncoderConfig(vocab_size=12, n_positions=8, n_layer=1, n_head=2, n_embd=16)
    torch.manual_seed(0)
    model = EncoderForMaskedLM(config).eval()
    data = torch.randint(0, 11, (40,))
    loss, accuracy = masked_lm_score(model, data, 8, mask_id=11, seed=3)
    inputs, labels = mask_tokens(
        data.view(5, 8),
        mask_id=11,
        vocab_size=12,
        generator=torch.Generator().manual_seed(3),
    )
    with torch.no_grad():
        logits, expected = model(inputs, labels=labels)
    chosen = labels != IGNORE
    assert loss == pytest.approx(float(expected), rel=1e-5)
    assert accuracy == pytest.approx(
        float((logits[chosen].argmax(-1) == labels[chosen]).float().mean())
    )
