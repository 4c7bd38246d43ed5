"""The encoder–decoder: cross-attention against torch.nn.MultiheadAttention, the blocks
and both stacks against torch.nn.Transformer with our weights copied in, keys and
values of the source computed once per source, cached decoding equal to uncached,
a tiny model that learns to reverse strings, and clear errors."""

from __future__ import annotations

import doctest
import importlib
import warnings

import pytest
import torch
from torch import nn

from torch_reference import copy_attention
from tinyformer.attention import KVCache, causal_mask
from tinyformer.config import GPTConfig
from tinyformer.positional import sinusoidal_encoding
from tinyformer.seq2seq import CrossAttention, DecoderBlock, Seq2Seq, Seq2SeqConfig


@pytest.fixture(autouse=True)
def one_thread():
    """The models here are tiny: a second thread only adds synchronisation, which costs
    milliseconds per operation when the machine's cores are busy with other work."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def padding_mask(lengths, S):
    """(B, S) long: 1 for the first ``lengths[b]`` tokens of row b, 0 after."""
    return (torch.arange(S)[None, :] < torch.tensor(lengths)[:, None]).long()


def perturb(module, seed=0, scale=0.1):
    """Random norms and biases too, so a swapped or forgotten one would show."""
    g = gen(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module


# --- copying our weights into PyTorch's modules ---------------------------------------


def copy_linear_or_norm(ref, ours) -> None:
    with torch.no_grad():
        ref.weight.copy_(ours.weight)
        ref.bias.copy_(ours.bias)


def copy_ffn_and_norms(ref, block, n_norms: int) -> None:
    copy_linear_or_norm(ref.linear1, block.mlp.up)
    copy_linear_or_norm(ref.linear2, block.mlp.down)
    for i in range(1, n_norms + 1):
        copy_linear_or_norm(getattr(ref, f"norm{i}"), getattr(block, f"ln_{i}"))


def copy_decoder_layer(ref: nn.TransformerDecoderLayer, block: DecoderBlock) -> None:
    copy_attention(ref.self_attn, block.attn)
    copy_attention(ref.multihead_attn, block.cross_attn)
    copy_ffn_and_norms(ref, block, 3)


def block_config(norm_position="pre", ffn="relu", **changes):
    settings = dict(
        vocab_size=11, n_layer=1, n_head=4, n_embd=24, ffn_hidden=40, dropout=0.0
    )
    settings.update(changes)
    return GPTConfig(position="none", ffn=ffn, norm_position=norm_position, **settings)


# --- CrossAttention -------------------------------------------------------------------


@pytest.mark.parametrize("fused", [True, False])
def test_cross_attention_matches_torch_multihead_attention(fused):
    torch.manual_seed(0)
    C, H, B, T, S = 24, 3, 3, 5, 7
    ours = perturb(CrossAttention(C, H, fused=fused)).eval()
    ref = nn.MultiheadAttention(C, H, batch_first=True).eval()
    copy_attention(ref, ours)
    x, memory = torch.randn(B, T, C), torch.randn(B, S, C)
    keep = padding_mask([7, 3, 5], S)
    with torch.no_grad():
        got = ours(x, memory, keep)
        # torch's key_padding_mask is True where a key must NOT be attended to
        want, want_weights = ref(
            x,
            memory,
            memory,
            key_padding_mask=keep == 0,
            average_attn_weights=False,
        )
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    if not fused:  # the cross-attention map the book plots
        assert ours.last_weights.shape == (B, H, T, S)
        torch.testing.assert_close(ours.last_weights, want_weights)
        assert ours.last_weights[1, :, :, 3:].abs().max() == 0  # padding unseen


def test_cross_attention_grouped_query_fused_and_unfused_agree():
    torch.manual_seed(1)
    ours = CrossAttention(32, 4, n_kv_heads=2).eval()
    assert ours.k_proj.out_features == 16
    x, memory = torch.randn(2, 3, 32), torch.randn(2, 6, 32)
    keep = padding_mask([6, 2], 6)
    fused = ours(x, memory, keep)
    ours.fused = False
    torch.testing.assert_close(ours(x, memory, keep), fused, atol=1e-6, rtol=1e-5)


def test_cross_attention_cache_projects_the_memory_once():
    torch.manual_seed(2)
    attn = CrossAttention(16, 2).eval()
    calls = []
    attn.k_proj.register_forward_hook(lambda *args: calls.append(1))
    memory, other = torch.randn(2, 5, 16), torch.randn(2, 5, 16)
    x = torch.randn(2, 4, 16)
    want = attn(x, memory)
    assert len(calls) == 1
    cache = KVCache()
    got = torch.cat(
        [attn(x[:, t : t + 1], memory, kv_cache=cache) for t in range(4)], 1
    )
    torch.testing.assert_close(got, want)
    assert len(calls) == 2 and cache.length == 5  # one projection for four steps
    # a filled cache is read back whatever memory is passed: reset it for a new source
    torch.testing.assert_close(attn(x, other, kv_cache=cache), want)
    cache.reset()
    torch.testing.assert_close(attn(x, other, kv_cache=cache), attn(x, other))


# --- DecoderBlock ---------------------------------------------------------------------


@pytest.mark.parametrize("norm_position", ["pre", "post"])
@pytest.mark.parametrize("ffn,activation", [("relu", "relu"), ("gelu_exact", "gelu")])
def test_decoder_block_matches_torch_decoder_layer(norm_position, ffn, activation):
    torch.manual_seed(3)
    config = block_config(norm_position, ffn)
    block = perturb(DecoderBlock(config)).eval()
    ref = nn.TransformerDecoderLayer(
        24,
        4,
        dim_feedforward=40,
        dropout=0.0,
        activation=activation,
        batch_first=True,
        norm_first=norm_position == "pre",
    ).eval()
    copy_decoder_layer(ref, block)
    x, memory = torch.randn(2, 6, 24), torch.randn(2, 5, 24)
    keep = padding_mask([5, 2], 5)
    got = block(x, memory, keep)
    want = ref(
        x,
        memory,
        tgt_mask=~causal_mask(6),  # torch: True = may NOT attend
        memory_key_padding_mask=keep == 0,
    )
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_decoder_block_is_causal_and_caches_step_by_step():
    torch.manual_seed(4)
    block = perturb(DecoderBlock(block_config())).eval()
    x, memory = torch.randn(1, 6, 24), torch.randn(1, 4, 24)
    full = block(x, memory)
    changed = x.clone()
    changed[0, 4] += 1.0
    out = block(changed, memory)
    torch.testing.assert_close(
        out[:, :4], full[:, :4]
    )  # the past never sees the future
    assert not torch.allclose(out[:, 4], full[:, 4])
    self_cache, cross_cache = KVCache(), KVCache()
    steps = [
        block(x[:, t : t + 1], memory, None, self_cache, cross_cache) for t in range(6)
    ]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-6, rtol=1e-5)
    assert self_cache.length == 6 and cross_cache.length == 4


# --- the whole model against torch.nn.Transformer -------------------------------------


def small_config(**changes):
    settings = dict(
        src_vocab_size=23,
        tgt_vocab_size=19,
        max_src_len=12,
        max_tgt_len=10,
        n_encoder_layer=3,  # different depths, so a swapped stack would show
        n_decoder_layer=2,
        n_head=4,
        n_embd=32,
        ffn_hidden=48,
        dropout=0.0,
        share_embeddings=False,
    )
    settings.update(changes)
    return Seq2SeqConfig(**settings)


def torch_transformer(model: Seq2Seq, activation: str) -> nn.Transformer:
    """A torch.nn.Transformer of the model's shape holding the model's weights."""
    c = model.config
    with warnings.catch_warnings():  # norm_first=True: "nested tensors unused", fine
        warnings.simplefilter("ignore", UserWarning)
        ref = nn.Transformer(
            c.n_embd,
            c.n_head,
            c.n_encoder_layer,
            c.n_decoder_layer,
            c.ffn_hidden,
            dropout=0.0,
            activation=activation,
            batch_first=True,
            norm_first=c.norm_position == "pre",
        )
    ref = ref.to(next(model.parameters()).dtype).eval()
    for layer, block in zip(ref.encoder.layers, model.encoder_blocks, strict=True):
        copy_attention(layer.self_attn, block.attn)
        copy_ffn_and_norms(layer, block, 2)
    for layer, block in zip(ref.decoder.layers, model.decoder_blocks, strict=True):
        copy_decoder_layer(layer, block)
    copy_linear_or_norm(ref.encoder.norm, model.encoder_norm)
    copy_linear_or_norm(ref.decoder.norm, model.decoder_norm)
    return ref


def padded_source(vocab, lengths, S, seed=0):
    src = torch.randint(1, vocab, (len(lengths), S), generator=gen(seed))
    mask = padding_mask(lengths, S)
    return src.masked_fill(mask == 0, 0), mask


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-12)])
@pytest.mark.parametrize("norm_position", ["pre", "post"])
@pytest.mark.parametrize("ffn,activation", [("relu", "relu"), ("gelu_exact", "gelu")])
def test_stacks_match_torch_transformer(ffn, activation, norm_position, dtype, tol):
    torch.manual_seed(5)
    config = small_config(ffn=ffn, norm_position=norm_position)
    model = perturb(Seq2Seq(config)).to(dtype).eval()
    ref = torch_transformer(model, activation)
    src, src_mask = padded_source(23, [9, 4, 6], 9)
    tgt = torch.randint(0, 19, (3, 7), generator=gen(6))
    x, y = model.embed_source(src), model.embed_target(tgt)
    with torch.no_grad():
        memory = model.run_encoder(x, src_mask)
        got = model.run_decoder(y, memory, src_mask)
    # with autograd on, PyTorch takes its plain path (no fused kernel, no nested
    # tensors, which would zero the padded positions of the memory)
    pad = src_mask == 0  # torch: True = padding
    want_memory = ref.encoder(x, src_key_padding_mask=pad)
    want = ref(
        x,
        y,
        tgt_mask=~causal_mask(7),  # torch: True = may NOT attend
        src_key_padding_mask=pad,
        memory_key_padding_mask=pad,
    )
    torch.testing.assert_close(memory, want_memory.detach(), atol=tol, rtol=tol)
    torch.testing.assert_close(got, want.detach(), atol=tol, rtol=tol)
    # the comparison started after the embeddings and stopped before the head
    logits, _ = model(src, tgt, src_mask)
    torch.testing.assert_close(logits, model.lm_head(want.detach()), atol=tol, rtol=tol)


@pytest.mark.parametrize("position", ["learned", "sinusoidal"])
def test_embeddings_parameters_and_tying(position):
    config = small_config(position=position)
    model = Seq2Seq(config)
    ref = torch_transformer(model, "relu")
    C = config.n_embd
    tables = (23 + 19) * C + (19 * C if not config.tie_weights else 0)
    if position == "learned":
        tables += (12 + 10) * C
    assert model.num_parameters() == sum(p.numel() for p in ref.parameters()) + tables
    assert model.lm_head.weight is model.tgt_embed.weight
    ids = torch.tensor([[3, 7, 1]])
    if position == "sinusoidal":
        src_pe = tgt_pe = sinusoidal_encoding(5, C)
    else:
        src_pe, tgt_pe = model.src_pos.weight.detach(), model.tgt_pos.weight.detach()
    want = model.src_embed.weight[ids] * C**0.5 + src_pe[:3]
    torch.testing.assert_close(model.embed_source(ids), want)
    # a target continuing a cache sits at positions offset, offset + 1, ...
    want = model.tgt_embed.weight[ids] * C**0.5 + tgt_pe[2:5]
    torch.testing.assert_close(model.embed_target(ids, offset=2), want)


@pytest.mark.parametrize("share", [True, False])
def test_initialization_is_seeded_and_sized(share):
    config = small_config(tgt_vocab_size=23, share_embeddings=share)
    models = []
    for _ in range(2):
        torch.manual_seed(11)
        models.append(Seq2Seq(config))
    a, b = (m.state_dict() for m in models)
    assert all(torch.equal(a[k], b[k]) for k in a)
    model = models[0]
    # scaled embeddings start at N(0, 1/C): after the sqrt(C) factor, about unit size
    assert 0.9 < (model.tgt_embed.weight * 32**0.5).std() < 1.1
    assert 0.015 < model.decoder_blocks[0].cross_attn.q_proj.weight.std() < 0.025
    assert model.encoder_norm.weight.eq(1).all() and model.lm_head.bias is None


def test_shared_embeddings_and_unscaled_embeddings():
    model = Seq2Seq(
        small_config(tgt_vocab_size=23, share_embeddings=True, scale_embeddings=False)
    )
    assert model.src_embed is model.tgt_embed
    assert model.lm_head.weight is model.src_embed.weight
    separate = Seq2Seq(small_config(tgt_vocab_size=23))
    assert separate.num_parameters() - model.num_parameters() == 23 * 32
    ids = torch.tensor([[4, 5]])
    pe = sinusoidal_encoding(2, 32)
    torch.testing.assert_close(model.embed_source(ids), model.src_embed(ids) + pe)


# --- decoding -------------------------------------------------------------------------

MODELS = [
    dict(),
    dict(norm_position="pre", ffn="gelu_exact"),
    dict(position="learned", n_encoder_layer=1, n_decoder_layer=3),
    dict(norm_position="pre", position="learned", scale_embeddings=False),
    dict(n_head=8, n_encoder_layer=2),
]


def random_model(seed, **changes):
    """As initialized, with an untied head: greedy decoding then wanders over many
    tokens (a tied random model mostly predicts the token it was just fed, and large
    random biases add one vector to every logit and repeat one token)."""
    torch.manual_seed(seed)
    return Seq2Seq(small_config(**{"tie_weights": False, **changes})).eval()


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("changes", MODELS)
def test_generate_with_cache_equals_without(changes, seed):
    model = random_model(seed, **changes)
    src, src_mask = padded_source(23, [8, 3, 5], 8, seed)
    cached = model.generate(src, 9, bos_id=1, src_mask=src_mask)
    plain = model.generate(src, 9, bos_id=1, src_mask=src_mask, use_cache=False)
    assert cached.shape == (3, 10) and torch.equal(cached[:, 0], torch.ones(3).long())
    assert torch.equal(cached, plain)
    assert min(row.unique().numel() for row in cached[:, 1:]) >= 3  # not one token
    # greedy: every token is the argmax of the teacher-forced logits before it
    logits, _ = model(src, cached[:, :-1], src_mask)
    assert torch.equal(logits.argmax(dim=-1), cached[:, 1:])


@pytest.mark.parametrize("changes", MODELS)
def test_decode_in_chunks_with_caches_equals_one_pass(changes):
    model = random_model(8, **changes)
    src, src_mask = padded_source(23, [7, 2, 5], 7, seed=8)
    tgt = torch.randint(0, 19, (3, 8), generator=gen(9))
    with torch.no_grad():
        memory = model.encode(src, src_mask)
        want = model.decode(tgt, memory, src_mask)
        caches = model.new_caches()
        chunks = [tgt[:, :3], tgt[:, 3:4], tgt[:, 4:6], tgt[:, 6:7], tgt[:, 7:]]
        got = torch.cat([model.decode(c, memory, src_mask, caches) for c in chunks], 1)
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
        assert [(a.length, b.length) for a, b in caches] == [(8, 7)] * len(caches)
        # the logits do read the source: another one changes every position
        other = model.decode(tgt, model.encode(src.flip(0), src_mask.flip(0)), None)
        assert (other - want).abs().amax(dim=-1).min() > 1e-3


def test_source_keys_and_values_are_computed_once_per_source():
    model = random_model(3)
    calls = {"encoder": 0, "cross": 0}

    def count(name):
        def hook(*args):
            calls[name] += 1

        return hook

    model.encoder_blocks[0].attn.k_proj.register_forward_hook(count("encoder"))
    for block in model.decoder_blocks:
        block.cross_attn.k_proj.register_forward_hook(count("cross"))
    src, src_mask = padded_source(23, [6, 2], 6)
    model.generate(src, 7, bos_id=1, src_mask=src_mask)
    assert calls == {"encoder": 1, "cross": 2}  # once per decoder block, not per step
    model.generate(src, 7, bos_id=1, src_mask=src_mask)  # a new call: fresh caches
    assert calls == {"encoder": 2, "cross": 4}
    model.generate(src, 7, bos_id=1, src_mask=src_mask, use_cache=False)
    assert calls == {"encoder": 3, "cross": 4 + 2 * 7}  # recomputed at every step


def test_generate_stops_rows_at_eos_and_pads_them_with_eos():
    model = random_model(4)
    src, src_mask = padded_source(23, [7, 4, 2], 7, seed=4)
    free = model.generate(src, 9, bos_id=1, src_mask=src_mask)
    eos = int(free[0, 3])  # a token row 0 produces at step 3
    out = model.generate(src, 9, bos_id=1, eos_id=eos, src_mask=src_mask)
    first = [
        next((t for t in range(1, 10) if free[b, t] == eos), None) for b in range(3)
    ]
    assert first[0] is not None and first[0] <= 3
    for b, t in enumerate(first):
        stop = 9 if t is None else t
        assert torch.equal(out[b, : stop + 1], free[b, : stop + 1])
        assert (out[b, stop + 1 :] == eos).all()
    # decoding ends when every row is finished (or after max_new_tokens)
    ends = [9 if t is None else t for t in first]
    assert out.shape == (3, 1 + max(ends))


def test_generate_uses_eval_mode_and_restores_training():
    model = Seq2Seq(small_config(dropout=0.3))
    src = torch.randint(0, 23, (2, 5), generator=gen(5))
    model.train()
    out = model.generate(src, 4, bos_id=0)
    assert model.training and not torch.is_inference(out)
    assert torch.equal(out, model.eval().generate(src, 4, bos_id=0))
    assert not model.training
    assert model.generate(src, 0, bos_id=2).tolist() == [[2], [2]]


@pytest.mark.parametrize("position", ["learned", "sinusoidal"])
def test_source_padding_changes_nothing_for_the_real_tokens(position):
    model = random_model(6, position=position)
    lengths = [9, 4, 6]
    src, src_mask = padded_source(23, lengths, 9, seed=6)
    tgt = torch.randint(0, 19, (3, 5), generator=gen(7))
    with torch.no_grad():
        memory = model.encode(src, src_mask)
        logits, _ = model(src, tgt, src_mask)
        batch = model.generate(src, 6, bos_id=1, src_mask=src_mask)
        for row, n in enumerate(lengths):
            alone = src[row : row + 1, :n]
            torch.testing.assert_close(memory[row, :n], model.encode(alone)[0])
            torch.testing.assert_close(
                logits[row], model(alone, tgt[row : row + 1])[0][0]
            )
            assert torch.equal(batch[row], model.generate(alone, 6, bos_id=1)[0])


# --- training -------------------------------------------------------------------------

PAD, BOS, EOS = 0, 1, 2  # then the symbols 3 .. 12


def reversal_batch(n, g, S=6):
    """Random strings of 2..S symbols, padded; the target is the string reversed.

    Returns src (n, S), src_mask (n, S), tgt = [BOS, reversed] (n, S + 1), targets =
    [reversed, EOS] with -1 after, and the lengths."""
    lengths = torch.randint(2, S + 1, (n,), generator=g)
    j = torch.arange(S)[None, :]
    real = j < lengths[:, None]
    src = torch.randint(3, 13, (n, S), generator=g).masked_fill(~real, PAD)
    reversed_ = src.gather(1, (lengths[:, None] - 1 - j).clamp(min=0))
    reversed_ = reversed_.masked_fill(~real, PAD)
    tgt = torch.cat([torch.full((n, 1), BOS), reversed_], dim=1)
    targets = torch.cat([reversed_, torch.full((n, 1), PAD)], dim=1)
    targets[torch.arange(n), lengths] = EOS
    targets[torch.arange(S + 1)[None, :] > lengths[:, None]] = -1
    return src, real.long(), tgt, targets, lengths


def test_reversal_batch_is_what_it_says():
    src, mask, tgt, targets, lengths = reversal_batch(4, gen(0))
    for row, n in enumerate(lengths.tolist()):
        string = src[row, :n].tolist()
        assert mask[row].tolist() == [1] * n + [0] * (6 - n)
        assert tgt[row, : n + 1].tolist() == [BOS] + string[::-1]
        assert targets[row].tolist() == string[::-1] + [EOS] + [-1] * (6 - n)


def test_a_tiny_model_learns_to_reverse_strings():
    torch.manual_seed(0)
    config = Seq2SeqConfig(
        src_vocab_size=13,
        max_src_len=8,
        max_tgt_len=8,
        n_encoder_layer=2,
        n_decoder_layer=2,
        n_head=4,
        n_embd=32,
        dropout=0.0,
        norm_position="pre",  # post-norm gets there too, but needs ~3x the steps
    )
    model = Seq2Seq(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    g = gen(1)
    losses = []
    for _ in range(300):
        src, src_mask, tgt, targets, _ = reversal_batch(64, g)
        _, loss = model(src, tgt, src_mask, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] > 2.0  # a uniform guess among 10 symbols and EOS: ln 11 = 2.4
    assert sum(losses[-20:]) / 20 < 0.15
    src, src_mask, _, _, lengths = reversal_batch(200, gen(99))  # strings not seen
    out = model.generate(src, 7, BOS, EOS, src_mask)
    right = sum(
        out[row, 1 : n + 2].tolist() == src[row, :n].flip(0).tolist() + [EOS]
        for row, n in enumerate(lengths.tolist())
    )
    assert right >= 180  # exact reversals, EOS included, of 200


# --- errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes,error,match",
    [
        (dict(position="rope"), ValueError, r"position must be one of \['learned'"),
        (dict(n_embd=30), ValueError, "divisible by n_head"),
        (dict(ffn="silu"), ValueError, r"ffn must be one of \['gelu'"),
        (dict(norm_position="middle"), ValueError, r"norm_position must be one of"),
        (dict(share_embeddings=True), ValueError, "needs one vocabulary"),
        (dict(tie_weights=1), TypeError, "tie_weights must be True or False"),
        (dict(n_decoder_layer=0), ValueError, "n_decoder_layer must be a positive"),
        (dict(max_src_len=2.5), TypeError, "max_src_len must be an int"),
        (dict(n_embd=9, n_head=3), ValueError, "n_embd=9 must be even"),
        (dict(dropout=1.0), ValueError, r"dropout must be a number in \[0, 1\)"),
    ],
)
def test_config_errors(changes, error, match):
    with pytest.raises(error, match=match):
        small_config(**changes)


def test_config_defaults_are_the_base_model_and_replace_validates():
    config = Seq2SeqConfig()
    assert (config.n_encoder_layer, config.n_head, config.n_embd) == (6, 8, 512)
    assert (
        config.tgt_vocab_size == config.src_vocab_size
        and config.block_config().hidden == 2048
    )
    assert config.replace(n_head=4).n_head == 4
    with pytest.raises(ValueError, match="divisible by n_head"):
        config.replace(n_head=7)
    with pytest.raises(TypeError, match="needs a Seq2SeqConfig"):
        Seq2Seq(GPTConfig.tiny())


def test_block_and_cross_attention_errors():
    with pytest.raises(ValueError, match="no positions inside attention"):
        DecoderBlock(GPTConfig.tiny(position="rope"))
    with pytest.raises(TypeError, match="needs a GPTConfig"):
        DecoderBlock(small_config())
    attn = CrossAttention(16, 2)
    x, memory = torch.randn(2, 3, 16), torch.randn(2, 5, 16)
    with pytest.raises(
        ValueError, match=r"memory must have shape \(B, T, d_model=16\)"
    ):
        attn(x, torch.randn(2, 5, 8))
    with pytest.raises(ValueError, match="batch sizes must match"):
        attn(x, memory[:1])
    with pytest.raises(ValueError, match=r"shape \(B=2, T_k=5\)"):
        attn(x, memory, torch.ones(2, 3, dtype=torch.long))
    with pytest.raises(TypeError, match="bool or integer 0/1"):
        attn(x, memory, torch.ones(2, 5))
    cache = KVCache()
    attn(x, memory, kv_cache=cache)
    with pytest.raises(ValueError, match=r"call kv_cache.reset\(\) before"):
        attn(x, torch.randn(2, 4, 16), kv_cache=cache)


def test_model_input_errors():
    model = Seq2Seq(small_config(position="learned"))
    src, tgt = torch.randint(0, 19, (2, 5)), torch.randint(0, 19, (2, 4))
    with pytest.raises(ValueError, match=r"src holds 23, outside \[0, 23\)"):
        model(src.clone().fill_(23), tgt)
    with pytest.raises(ValueError, match=r"tgt holds 19, outside \[0, 19\)"):
        model(src, tgt.clone().fill_(19))
    with pytest.raises(
        ValueError, match=r"src must be an integer tensor of shape \(B, T\)"
    ):
        model(src[0], tgt)
    with pytest.raises(ValueError, match=r"src must be an integer tensor"):
        model(src.float(), tgt)
    with pytest.raises(ValueError, match="src must hold at least one token"):
        model(src[:, :0], tgt)
    with pytest.raises(ValueError, match="beyond the 12 learned positions"):
        model(torch.zeros(1, 13, dtype=torch.long), tgt[:1])
    with pytest.raises(ValueError, match="source mask .* has a row with no real token"):
        model(src, tgt, torch.tensor([[1, 1, 0, 0, 0], [0, 0, 0, 0, 0]]))
    with pytest.raises(ValueError, match=r"shape \(B=2, T_k=5\)"):
        model(src, tgt, torch.ones(2, 4, dtype=torch.long))
    with pytest.raises(
        ValueError, match=r"targets must have the shape of tgt \(2, 4\)"
    ):
        model(src, tgt, targets=tgt[:, :3])
    memory = model.encode(src)
    with pytest.raises(ValueError, match=r"one \(self_cache, cross_cache\) pair per"):
        model.decode(tgt, memory, caches=model.new_caches()[:1])
    caches = model.new_caches()
    model.decode(torch.zeros(2, 8, dtype=torch.long), memory, caches=caches)
    with pytest.raises(ValueError, match="tgt reaches position 10, beyond the 10"):
        model.decode(tgt[:, :3], memory, caches=caches)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(max_new_tokens=-1), "max_new_tokens must be an integer >= 0"),
        (dict(max_new_tokens=2.0), "max_new_tokens must be an integer >= 0"),
        (dict(bos_id=19), r"bos_id must be a token id in \[0, 19\), got 19"),
        (dict(bos_id=None), r"bos_id must be a token id"),
        (dict(eos_id=True), r"eos_id must be a token id in \[0, 19\), got True"),
        (dict(max_new_tokens=11), "max_new_tokens=11 needs as many target positions"),
    ],
)
def test_generate_errors(kwargs, match):
    model = Seq2Seq(small_config(position="learned"))
    args = {**dict(max_new_tokens=3, bos_id=1), **kwargs}
    with pytest.raises(ValueError, match=match):
        model.generate(torch.zeros(1, 4, dtype=torch.long), **args)
    assert model.training  # an error leaves the mode as it was


@pytest.mark.parametrize("name", ["cross_attention", "seq2seq_config", "seq2seq"])
def test_docstring_examples_run(name):
    module = importlib.import_module(f"tinyformer.{name}")
    result = doctest.testmod(module, extraglobs={"torch": torch})
    assert result.attempted > 0 and result.failed == 0
