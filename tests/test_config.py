import pytest

from tinyformer.config import FFNS, NORMS, POSITIONS, GPTConfig, swiglu_hidden


def test_gpt2_preset_has_gpt2_small_shape():
    # Radford et al. (2019), table 2, smallest model; vocabulary and context from the
    # release.
    c = GPTConfig.gpt2()
    assert (c.vocab_size, c.block_size, c.n_layer, c.n_head, c.n_embd) == (
        50257,
        1024,
        12,
        12,
        768,
    )
    assert (c.norm, c.ffn, c.position, c.norm_position, c.bias, c.tie_weights) == (
        "layernorm",
        "gelu",
        "learned",
        "pre",
        True,
        True,
    )
    assert c.n_kv_head == 12 and c.head_dim == 64 and c.hidden == 3072


def test_llama_preset_is_llama_style():
    c = GPTConfig.llama()
    assert (c.norm, c.ffn, c.position, c.bias, c.tie_weights) == (
        "rmsnorm",
        "swiglu",
        "rope",
        False,
        False,
    )
    assert (c.vocab_size, c.n_layer, c.n_head, c.n_embd, c.hidden) == (
        32000,
        32,
        32,
        4096,
        11008,
    )
    small = GPTConfig.llama(
        vocab_size=100, block_size=16, n_layer=2, n_head=4, n_embd=64
    )
    assert small.hidden == swiglu_hidden(64) and small.norm == "rmsnorm"


def test_tiny_preset_and_overrides():
    c = GPTConfig.tiny(n_layer=2)
    assert (c.vocab_size, c.block_size, c.n_layer, c.n_embd) == (65, 64, 2, 128)
    assert c.replace(norm="rmsnorm").norm == "rmsnorm"


def test_swiglu_hidden_is_parameter_matched():
    for d in (64, 128, 768, 1000):
        h = swiglu_hidden(d)
        assert (
            h % 8 == 0 and abs(3 * d * h - 8 * d * d) <= 3 * d * 8
        )  # within one rounding step
    # LLaMA-7B: 8/3 * 4096 rounded up to a multiple of 256 is the published 11008.
    assert swiglu_hidden(4096, multiple_of=256) == 11008


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(n_embd=100, n_head=3), "divisible by n_head"),
        (dict(n_head=12, n_kv_head=5), "multiple of n_kv_head"),
        (dict(norm="batchnorm"), "layernorm"),
        (dict(ffn="tanh"), "swiglu"),
        (dict(position="relative"), "rope"),
        (dict(norm_position="middle"), "pre"),
        (dict(dropout=1.0), "dropout"),
        (dict(dropout=-0.1), "dropout"),
        (dict(n_layer=0), "n_layer"),
        (dict(vocab_size=-5), "vocab_size"),
        (dict(n_head=4, n_embd=36, position="rope"), "even"),
    ],
)
def test_invalid_values_fail_with_a_clear_message(changes, message):
    with pytest.raises(ValueError, match=message):
        GPTConfig(**changes)


def test_wrong_types_fail():
    with pytest.raises(TypeError, match="n_embd"):
        GPTConfig(n_embd=768.0)
    with pytest.raises(TypeError, match="bias"):
        GPTConfig(bias="yes")
    with pytest.raises(TypeError, match="n_layer"):
        GPTConfig(n_layer=True)


def test_unknown_value_lists_the_allowed_ones():
    with pytest.raises(ValueError) as info:
        GPTConfig(position="xpos")
    for allowed in POSITIONS:
        assert allowed in str(info.value)
    assert set(NORMS) == {"layernorm", "rmsnorm"} and "swiglu" in FFNS


def test_replace_validates_again():
    with pytest.raises(ValueError):
        GPTConfig.tiny().replace(n_head=3)


def test_replace_n_head_keeps_plain_multi_head_attention():
    # n_kv_head=None means "as many as n_head", and must go on meaning it after replace.
    assert GPTConfig.gpt2().replace(n_head=16).n_kv_head == 16
    assert GPTConfig.tiny().replace(n_head=8).n_kv_head == 8
    grouped = GPTConfig.tiny(n_head=8, n_kv_head=2)
    assert grouped.replace(n_head=4).n_kv_head == 2, (
        "an explicit grouped-query choice is kept"
    )
    assert GPTConfig.tiny().replace(n_head=8, n_kv_head=4).n_kv_head == 4
