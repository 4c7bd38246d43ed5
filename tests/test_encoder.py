"""The BERT-style encoder: equal to Hugging Face's BertModel (random small configs and
the real MiniLM weights), sentence embeddings equal to sentence-transformers', padding
that changes nothing, bidirectional attention, the masked-LM head, and clear errors."""

from __future__ import annotations

import json

import pytest
import torch

from tinyformer.encoder import Encoder, EncoderConfig, EncoderForMaskedLM, mean_pool
from tinyformer.pretrained_bert import (
    config_from_hf_bert,
    convert_hf_bert_state_dict,
    encoder_from_hf_bert,
    load_hf_bert_weights,
    minilm_path,
)

transformers = pytest.importorskip("transformers")


def random_hf_bert(**changes):
    torch.manual_seed(0)
    settings = dict(
        vocab_size=97,
        hidden_size=48,
        num_hidden_layers=3,
        num_attention_heads=4,
        intermediate_size=80,
        max_position_embeddings=40,
        type_vocab_size=2,
        layer_norm_eps=1e-12,
    )
    settings.update(changes)
    hf = transformers.BertModel(transformers.BertConfig(**settings)).eval()
    with torch.no_grad():  # random norms and biases too, so a swapped one would show
        for p in hf.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return hf


def padded_batch(vocab_size, lengths=(9, 4, 7), seed=1):
    g = torch.Generator().manual_seed(seed)
    T = max(lengths)
    ids = torch.randint(1, vocab_size, (len(lengths), T), generator=g)
    mask = torch.zeros(len(lengths), T, dtype=torch.long)
    for row, n in enumerate(lengths):
        mask[row, :n] = 1
        ids[row, n:] = 0  # [PAD]
    types = (torch.arange(T) >= 3).long().expand(len(lengths), T) * mask
    return ids, mask, types


def test_random_bert_gives_the_same_hidden_states_on_a_padded_batch():
    hf = random_hf_bert()
    ours = encoder_from_hf_bert(hf).eval()
    ids, mask, types = padded_batch(97)
    with torch.no_grad():
        want = hf(
            input_ids=ids, attention_mask=mask, token_type_ids=types
        ).last_hidden_state
        got = ours(ids, mask, types)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    pooler = sum(p.numel() for n, p in hf.named_parameters() if "pooler" in n)
    assert ours.num_parameters() == hf.num_parameters() - pooler


def test_padding_changes_nothing_for_the_real_tokens():
    encoder = encoder_from_hf_bert(random_hf_bert()).eval()
    ids, mask, types = padded_batch(97)
    with torch.no_grad():
        batch = encoder(ids, mask, types)
        for row, n in enumerate(mask.sum(dim=1).tolist()):
            alone = encoder(ids[row : row + 1, :n], None, types[row : row + 1, :n])
            torch.testing.assert_close(batch[row, :n], alone[0], atol=1e-5, rtol=1e-5)


def test_attention_is_bidirectional():
    encoder = Encoder(
        EncoderConfig(vocab_size=50, n_positions=16, n_layer=2, n_head=2, n_embd=32)
    ).eval()
    ids = torch.randint(0, 50, (1, 8), generator=torch.Generator().manual_seed(0))
    changed = ids.clone()
    changed[0, -1] = (ids[0, -1] + 1) % 50
    with torch.no_grad():
        a, b = encoder(ids), encoder(changed)
    assert not torch.allclose(a[0, 0], b[0, 0])  # the first token sees the last one


def test_minilm_hidden_states_and_sentence_embeddings_match_the_references():
    sentence_transformers = pytest.importorskip("sentence_transformers")
    from safetensors.torch import load_file

    path = minilm_path()
    sentences = [
        "To be, or not to be, that is the question.",
        "A cat sat on the mat.",
        "Résumé of the naïve café owner; 42 things!",
        "Shall I compare thee to a summer's day?",
    ]
    # transformers 5 ignores vocab_file= (every word becomes [UNK]): read the folder
    hf_tok = transformers.BertTokenizerFast.from_pretrained(path)  # offline: package
    batch = hf_tok(sentences, padding=True, return_tensors="pt")
    hf = transformers.BertModel.from_pretrained(path).eval()  # offline: package files
    config = config_from_hf_bert(json.loads((path / "config.json").read_text()))
    ours = Encoder(config)
    load_hf_bert_weights(ours, load_file(str(path / "model.safetensors")))
    ours.eval()
    with torch.no_grad():
        want = hf(**batch).last_hidden_state
        got = ours(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
    assert config.n_layer == 6 and config.n_embd == 384 and config.n_head == 12

    embeddings = torch.nn.functional.normalize(
        mean_pool(got, batch["attention_mask"]), dim=-1
    )
    st = sentence_transformers.SentenceTransformer(str(path), device="cpu")
    reference = st.encode(sentences, convert_to_tensor=True)
    torch.testing.assert_close(embeddings, reference, atol=1e-5, rtol=1e-4)


def test_mean_pool_ignores_padding():
    hidden = torch.randn(2, 5, 3)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    pooled = mean_pool(hidden, mask)
    torch.testing.assert_close(pooled[0], hidden[0, :3].mean(dim=0))
    torch.testing.assert_close(pooled[1], hidden[1].mean(dim=0))
    with pytest.raises(ValueError, match="attention_mask"):
        mean_pool(hidden, mask[:, :4])


def test_masked_lm_head_is_tied_and_its_loss_counts_only_labelled_positions():
    torch.manual_seed(0)
    config = EncoderConfig(
        vocab_size=40, n_positions=16, n_layer=1, n_head=2, n_embd=16
    )
    model = EncoderForMaskedLM(config).eval()
    assert model.head.decoder.weight is model.encoder.wte.weight
    ids = torch.randint(0, 40, (2, 6))
    labels = torch.full_like(ids, -100)
    labels[0, 2], labels[1, 4] = 7, 11
    logits, loss = model(ids, labels=labels)
    expected = torch.nn.functional.cross_entropy(
        torch.stack([logits[0, 2], logits[1, 4]]), torch.tensor([7, 11])
    )
    torch.testing.assert_close(loss, expected)
    with pytest.raises(ValueError, match="labels must have the shape"):
        model(ids, labels=labels[:, :3])


def test_bert_state_dicts_that_do_not_fit_fail_clearly():
    hf = random_hf_bert()
    sd = hf.state_dict()
    encoder = Encoder(config_from_hf_bert(hf.config))
    missing = {k: v for k, v in sd.items() if "layer.1.output.dense.bias" not in k}
    with pytest.raises(ValueError, match=r"blocks\.1\.mlp\.down\.bias"):
        load_hf_bert_weights(encoder, missing)
    other_vocab = Encoder(config_from_hf_bert(hf.config, vocab_size=90))
    with pytest.raises(
        ValueError, match=r"wte\.weight: Encoder expects shape \(90, 48\)"
    ):
        load_hf_bert_weights(other_vocab, sd)
    with pytest.raises(ValueError, match="'encoder.layer.0.mystery.weight' is not"):
        convert_hf_bert_state_dict({"encoder.layer.0.mystery.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match="position_embedding_type"):
        config_from_hf_bert(
            dict(hf.config.to_dict(), position_embedding_type="relative_key")
        )
    with pytest.raises(ValueError, match="hidden_act"):
        config_from_hf_bert(dict(hf.config.to_dict(), hidden_act="relu"))


def test_encoder_input_errors():
    encoder = Encoder(
        EncoderConfig(vocab_size=50, n_positions=8, n_layer=1, n_head=2, n_embd=16)
    )
    with pytest.raises(ValueError, match="longer than n_positions=8"):
        encoder(torch.zeros(1, 9, dtype=torch.long))
    with pytest.raises(ValueError, match=r"input_ids holds 50, outside \[0, 50\)"):
        encoder(torch.tensor([[1, 50]]))
    with pytest.raises(ValueError, match="integer tensor of shape"):
        encoder(torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="token_type_ids holds 2"):
        encoder(torch.tensor([[1, 2]]), token_type_ids=torch.tensor([[0, 2]]))
    with pytest.raises(ValueError, match=r"attention_mask must be a tensor of shape"):
        encoder(torch.tensor([[1, 2]]), attention_mask=torch.tensor([[1, 1, 1]]))
    with pytest.raises(TypeError, match="EncoderConfig"):
        Encoder(object())


def test_rotary_encoder_has_no_position_table_and_still_ignores_padding():
    config = EncoderConfig(
        vocab_size=50, n_positions=16, n_layer=2, n_head=2, n_embd=32, position="rope"
    )
    torch.manual_seed(0)
    encoder = Encoder(config).eval()
    assert encoder.wpe is None and encoder.blocks[0].attn.rope is not None
    ids = torch.randint(1, 50, (2, 6))
    mask = torch.tensor([[1] * 6, [1] * 4 + [0] * 2])
    with torch.no_grad():
        batch = encoder(ids, mask)
        alone = encoder(ids[1:, :4])
    torch.testing.assert_close(batch[1, :4], alone[0], atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="position must be one of"):
        EncoderConfig(position="sinusoidal")
