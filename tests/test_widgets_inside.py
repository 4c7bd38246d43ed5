"""The looking-inside explorers draw what tinyformer.inspect computes."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from tinyformer.inspect import attention_patterns, nearest_neighbours  # noqa: E402
from tinyformer.model import GPT, GPTConfig  # noqa: E402
from tinyformer.tokenizers import CharTokenizer  # noqa: E402
from tinyformer.widgets import token_label  # noqa: E402
from tinyformer.widgets.inside import (  # noqa: E402
    attention_animation,
    attention_explorer,
    draw_attention,
    draw_neighbours,
    neighbour_animation,
    neighbour_explorer,
)

LABELS = list("ab cd\nef")
VECTORS = torch.randn(8, 5, generator=torch.Generator().manual_seed(0))


def test_token_label_makes_whitespace_visible():
    assert [token_label(t) for t in (" ", "\n", "a")] == ["␣", "\\n", "a"]


def test_draw_neighbours_draws_the_nearest_tokens_in_order():
    fig, ax = plt.subplots()
    drawn = draw_neighbours(ax, VECTORS, LABELS, 0, k=3)
    assert drawn == nearest_neighbours(VECTORS, 0, 3)
    widths = [bar.get_width() for bar in ax.containers[0]]
    assert widths == pytest.approx([s for _, s in drawn])
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert ticks == [token_label(LABELS[i]) for i, _ in drawn]
    plt.close(fig)


def test_neighbour_animation_has_one_frame_per_pick():
    anim = neighbour_animation({"a": VECTORS, "b": VECTORS * 2}, LABELS, [0, 2, 5], k=4)
    assert anim.to_jshtml().count("data:image/png;base64") == 3


def test_draw_attention_shows_the_pattern_and_rejects_a_mismatch():
    fig, ax = plt.subplots()
    pattern = torch.tril(torch.ones(4, 4))
    pattern = pattern / pattern.sum(-1, keepdim=True)
    draw_attention(ax, pattern, list("ab c"), "head")
    assert (ax.get_images()[0].get_array() == pattern.numpy()).all()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "␣", "c"]
    with pytest.raises(ValueError, match="3 labels for a pattern over 4 positions"):
        draw_attention(ax, pattern, list("abc"))
    with pytest.raises(ValueError, match=r"\(T, T\)"):
        draw_attention(ax, pattern[0], list("abcd"))
    plt.close(fig)


def _model_and_tokenizer():
    tokenizer = CharTokenizer.from_text("abcdefgh \n")
    torch.manual_seed(0)
    model = GPT(GPTConfig.tiny(vocab_size=tokenizer.vocab_size, n_layer=2, n_head=2))
    return model, tokenizer


def test_attention_animation_has_a_frame_per_head():
    model, tokenizer = _model_and_tokenizer()
    text = "abc abd"
    patterns = attention_patterns(model, torch.tensor([tokenizer.encode(text)]))[:, 0]
    anim = attention_animation(patterns, list(text), {(1, 0): "(induction)"})
    assert len(list(anim.new_frame_seq())) == 4
    assert anim.to_jshtml().count("data:image/png;base64") == 4
    with pytest.raises(ValueError, match="n_layer, H, T, T"):
        attention_animation(patterns[0], list(text))


def test_live_explorers_build_their_controls():
    model, tokenizer = _model_and_tokenizer()
    box = attention_explorer(model, tokenizer, "abc abd", scores={(0, 0): "(prev)"})
    layer, head = box.children[0].children
    head.value = 1  # redraws without error
    box.children[1].value = "ab"
    assert layer.options == (0, 1)
    box = neighbour_explorer({"trained": VECTORS}, LABELS, k=4)
    box.children[0].value = 3
    plt.close("all")
