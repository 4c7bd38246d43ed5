"""Hugging Face Llama weights in GPT: same logits and greedy text as a random
LlamaForCausalLM, clear errors for a state dict that does not fit, and the RoPE layout
permutation."""

from __future__ import annotations

import pytest
import torch

from tinyformer.config import GPTConfig
from tinyformer.model import GPT
from tinyformer.pretrained import (
    config_from_hf_llama,
    gpt_from_hf_llama,
    interleaved_to_halves,
    load_hf_llama_weights,
)

transformers = pytest.importorskip("transformers")


def random_hf_llama(tie=False, theta=10000.0, dtype=torch.float32):
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=61,
        hidden_size=48,
        intermediate_size=80,
        num_hidden_layers=3,
        num_attention_heads=6,
        num_key_value_heads=2,
        max_position_embeddings=64,
        rms_norm_eps=1e-6,
        tie_word_embeddings=tie,
        rope_theta=theta,
    )
    config._attn_implementation = "eager"
    hf = transformers.LlamaForCausalLM(config).eval().to(dtype)
    with torch.no_grad():  # random norms too, so a swapped norm would show
        for p in hf.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return hf


@pytest.mark.parametrize(
    "tie, theta, dtype",
    [(False, 10000.0, torch.float32), (True, 500000.0, torch.float64)],
)
def test_llama_weights_give_huggingface_logits(tie, theta, dtype):
    hf = random_hf_llama(tie, theta, dtype)
    model = gpt_from_hf_llama(hf).eval()
    config = model.config
    assert (config.n_kv_head, config.rope_base, config.norm_eps) == (2, theta, 1e-6)
    assert config.tie_weights == tie
    assert model.num_parameters() == sum(p.numel() for p in hf.parameters())
    idx = torch.randint(0, 61, (2, 40), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours, _ = model(idx)
        theirs = hf(idx).logits
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def test_llama_greedy_generation_matches_huggingface():
    hf = random_hf_llama()
    model = gpt_from_hf_llama(hf).eval()
    prompt = torch.randint(0, 61, (1, 5), generator=torch.Generator().manual_seed(2))
    ours = model.generate(prompt, max_new_tokens=20, temperature=0.0)
    theirs = prompt
    with torch.no_grad():
        for _ in range(20):  # greedy decoding with the reference model, step by step
            next_id = hf(theirs).logits[:, -1].argmax(-1, keepdim=True)
            theirs = torch.cat([theirs, next_id], dim=1)
    assert torch.equal(ours, theirs)


def test_a_llama_state_dict_that_does_not_fit_is_named():
    hf = random_hf_llama()
    model = GPT(config_from_hf_llama(hf.config))
    state = dict(hf.state_dict())
    del state["model.layers.1.mlp.up_proj.weight"]
    with pytest.raises(ValueError, match=r"no 'layers\.1\.mlp\.up_proj\.weight'"):
        load_hf_llama_weights(model, state)
    other_vocab = GPT(config_from_hf_llama(hf.config, vocab_size=62))
    with pytest.raises(ValueError, match=r"wte\.weight: GPT expects shape \(62, 48\)"):
        load_hf_llama_weights(other_vocab, hf.state_dict())
    with pytest.raises(ValueError, match="split-halves"):
        load_hf_llama_weights(
            GPT(config_from_hf_llama(hf.config, rope_interleaved=True)), hf.state_dict()
        )
    hf.config.hidden_act = "gelu"
    with pytest.raises(ValueError, match="SiLU"):
        config_from_hf_llama(hf.config)


def test_interleaved_weights_permuted_to_halves_give_the_same_model():
    torch.manual_seed(0)
    base = GPTConfig.tiny(
        n_layer=2, n_head=4, n_kv_head=2, position="rope", norm="rmsnorm", bias=False
    )
    meta = GPT(base.replace(rope_interleaved=True)).eval()
    halves = GPT(base).eval()
    state = meta.state_dict()
    for i in range(2):
        for name, heads in (("q_proj", 4), ("k_proj", 2)):
            key = f"blocks.{i}.attn.{name}.weight"
            state[key] = interleaved_to_halves(state[key], heads)
    halves.load_state_dict(state)
    idx = torch.randint(0, 65, (2, 20), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        torch.testing.assert_close(halves(idx)[0], meta(idx)[0], atol=1e-5, rtol=1e-5)
        unpermuted = GPT(base).eval()
        unpermuted.load_state_dict(meta.state_dict())
        assert not torch.allclose(unpermuted(idx)[0], meta(idx)[0], atol=1e-3)
    with pytest.raises(ValueError, match="even width"):
        interleaved_to_halves(torch.zeros(6, 4), 2)
