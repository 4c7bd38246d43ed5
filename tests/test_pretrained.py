import pytest
import torch

from tinyformer.pretrained import (
    config_from_hf_gpt2,
    convert_hf_gpt2_state_dict,
    gpt_from_hf_gpt2,
    load_hf_gpt2_weights,
)

transformers = pytest.importorskip("transformers")


def random_hf_gpt2(dtype=torch.float64, **changes):
    """A small GPT-2 from a random config.

    Every parameter (biases and norms too) is randomized.
    """
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=97,
        n_positions=32,
        n_layer=3,
        n_head=4,
        n_embd=32,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        **changes,
    )
    config._attn_implementation = "eager"
    hf = transformers.GPT2LMHeadModel(config).eval().to(dtype)
    with torch.no_grad():
        for p in hf.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return hf


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_mapped_weights_give_huggingface_logits(dtype):
    hf = random_hf_gpt2(dtype)
    model = gpt_from_hf_gpt2(hf).eval()
    idx = torch.randint(0, 97, (2, 32), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = hf(idx).logits
        logits, _ = model(idx)
    assert logits.dtype == dtype
    torch.testing.assert_close(logits, expected, atol=1e-5, rtol=0)


def test_greedy_generation_matches_huggingface():
    hf = random_hf_gpt2(torch.float64)
    model = gpt_from_hf_gpt2(hf).eval()
    prompt = torch.tensor([[5, 17, 3]])
    ours = model.generate(prompt, 10, temperature=0.0)
    with torch.no_grad():
        idx = prompt
        for _ in range(
            10
        ):  # HF logits, argmax by hand (no generation utilities involved)
            idx = torch.cat(
                [idx, hf(idx).logits[:, -1].argmax(-1, keepdim=True)], dim=1
            )
    assert torch.equal(ours, idx)


def test_config_mapping_and_untied_head():
    hf = random_hf_gpt2(torch.float32, tie_word_embeddings=False)
    c = config_from_hf_gpt2(hf.config)
    assert (
        c.vocab_size,
        c.block_size,
        c.n_layer,
        c.n_head,
        c.n_embd,
        c.tie_weights,
    ) == (97, 32, 3, 4, 32, False)
    model = gpt_from_hf_gpt2(hf)
    torch.testing.assert_close(model.lm_head.weight, hf.lm_head.weight)
    assert model.lm_head.weight.data_ptr() != model.wte.weight.data_ptr()


def test_conv1d_weights_are_transposed_and_qkv_split():
    hf = random_hf_gpt2(torch.float64)
    sd = convert_hf_gpt2_state_dict(hf.state_dict(), n_layer=3)
    x = torch.randn(4, 32, dtype=torch.float64)
    qkv = hf.transformer.h[1].attn.c_attn(x)  # HF's own Conv1D: x @ W + b
    for j, name in enumerate(("q_proj", "k_proj", "v_proj")):
        ours = (
            x @ sd[f"blocks.1.attn.{name}.weight"].T + sd[f"blocks.1.attn.{name}.bias"]
        )
        torch.testing.assert_close(ours, qkv[:, 32 * j : 32 * (j + 1)])
    fc = hf.transformer.h[2].mlp.c_fc(x)
    torch.testing.assert_close(
        x @ sd["blocks.2.mlp.up.weight"].T + sd["blocks.2.mlp.up.bias"], fc
    )


def test_unsupported_options_are_rejected():
    with pytest.raises(ValueError, match="gelu_new"):
        config_from_hf_gpt2(transformers.GPT2Config(activation_function="relu"))
    with pytest.raises(ValueError, match="eps"):
        config_from_hf_gpt2(transformers.GPT2Config(layer_norm_epsilon=1e-6))


def test_wrong_shaped_checkpoint_is_rejected():
    from tinyformer.model import GPT

    hf = random_hf_gpt2(torch.float32)
    model = GPT(config_from_hf_gpt2(hf.config, n_embd=64, n_head=4))
    with pytest.raises(ValueError, match="shape"):
        load_hf_gpt2_weights(model, hf.state_dict())
