"""Explorers for looking inside a trained model: a token's nearest neighbours in
embedding space, and any head's attention pattern on any text.

The numbers come from ``tinyformer.inspect.nearest_neighbours`` and
``tinyformer.inspect.attention_patterns``; this module only draws them.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.animation import FuncAnimation

from tinyformer.inspect import attention_patterns, nearest_neighbours
from tinyformer.widgets import token_label

__all__ = [
    "draw_neighbours",
    "neighbour_explorer",
    "neighbour_animation",
    "draw_attention",
    "attention_explorer",
    "attention_animation",
]


def draw_neighbours(
    ax: plt.Axes,
    vectors: torch.Tensor,
    labels: Sequence[str],
    index: int,
    k: int = 8,
    title: str = "",
) -> list[tuple[int, float]]:
    """Horizontal bars: the ``k`` nearest neighbours of token ``index`` and their cosine
    similarity, closest at the top. Returns the neighbours drawn."""
    neighbours = nearest_neighbours(vectors, index, k)
    ax.clear()
    rows = range(len(neighbours))
    ax.barh(rows, [s for _, s in neighbours], color="tab:blue")
    ax.set_yticks(list(rows), [token_label(labels[i]) for i, _ in neighbours])
    ax.invert_yaxis()
    ax.set_xlim(-1, 1)
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.set_xlabel("cosine similarity")
    ax.set_title(f"{title}nearest to {token_label(labels[index])!r}")
    return neighbours


def _neighbour_figure(tables: dict[str, torch.Tensor]):
    fig, axes = plt.subplots(1, len(tables), figsize=(3.4 * len(tables), 3.2))
    return fig, [axes] if len(tables) == 1 else list(axes)


def _draw_neighbour_panels(axes, tables, labels, index, k):
    for ax, (name, vectors) in zip(axes, tables.items()):
        draw_neighbours(ax, vectors, labels, index, k, title=f"{name}: ")


def neighbour_explorer(
    tables: dict[str, torch.Tensor], labels: Sequence[str], k: int = 8
):
    """Live face (Jupyter, Colab): pick a token, see its neighbours in each embedding
    table (for example ``{"fresh": ..., "trained": ...}``)."""
    import ipywidgets as widgets
    from IPython.display import display

    options = [(token_label(label), i) for i, label in enumerate(labels)]
    pick = widgets.Dropdown(options=options, value=0, description="token")
    out = widgets.Output()

    def redraw(_=None):
        with out:
            out.clear_output(wait=True)
            fig, axes = _neighbour_figure(tables)
            _draw_neighbour_panels(axes, tables, labels, pick.value, k)
            fig.tight_layout()
            plt.show()

    pick.observe(redraw, names="value")
    redraw()
    box = widgets.VBox([pick, out])
    display(box)
    return box


def neighbour_animation(
    tables: dict[str, torch.Tensor],
    labels: Sequence[str],
    picks: Sequence[int],
    k: int = 8,
) -> FuncAnimation:
    """Static face: one frame per token in ``picks``.

    Show it with ``HTML(anim.to_jshtml())``.
    """
    fig, axes = _neighbour_figure(tables)

    def frame(i: int):
        _draw_neighbour_panels(axes, tables, labels, picks[i], k)
        return []

    frame(0)
    fig.tight_layout()
    anim = FuncAnimation(fig, frame, frames=len(picks), interval=900)
    plt.close(fig)
    return anim


def draw_attention(
    ax: plt.Axes, pattern: torch.Tensor, labels: Sequence[str], title: str = ""
) -> None:
    """One head's attention weights ``(T, T)``: row = query (the position predicting
    next), column = key (where it looks), darker = more weight; tokens as tick
    labels."""
    if pattern.dim() != 2 or pattern.shape[0] != pattern.shape[1]:
        raise ValueError(f"pattern must be (T, T), got {tuple(pattern.shape)}")
    if len(labels) != pattern.shape[0]:
        raise ValueError(
            f"{len(labels)} labels for a pattern over {pattern.shape[0]} positions"
        )
    ax.clear()
    ax.imshow(pattern.float().numpy(), cmap="Blues", vmin=0, vmax=1)
    ticks = [token_label(label) for label in labels]
    ax.set_xticks(range(len(ticks)), ticks, fontsize=7, family="monospace")
    ax.set_yticks(range(len(ticks)), ticks, fontsize=7, family="monospace")
    ax.tick_params(length=0)
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query")
    ax.set_title(title)


def attention_explorer(model, tokenizer, text: str, *, scores: dict | None = None):
    """Live face (Jupyter, Colab): choose a layer, a head and a text (up to the model's
    context). ``scores`` (optional) maps ``(layer, head)`` to a caption, such as its
    measured head type."""
    import ipywidgets as widgets
    from IPython.display import display

    config = model.config
    layer = widgets.Dropdown(
        options=range(config.n_layer), value=0, description="layer"
    )
    head = widgets.Dropdown(options=range(config.n_head), value=0, description="head")
    box_text = widgets.Text(value=text, description="text", continuous_update=False)
    out = widgets.Output()
    state = {}

    def redraw(_=None):
        typed = box_text.value[: config.block_size] or " "
        if state.get("text") != typed:
            ids = torch.tensor([tokenizer.encode(typed)])
            state.update(text=typed, patterns=attention_patterns(model, ids)[:, 0])
        with out:
            out.clear_output(wait=True)
            size = min(7.0, 2.5 + 0.12 * len(typed))
            fig, ax = plt.subplots(figsize=(size, size))
            caption = (scores or {}).get((layer.value, head.value), "")
            draw_attention(
                ax,
                state["patterns"][layer.value, head.value],
                list(typed),
                f"layer {layer.value}, head {head.value} {caption}".strip(),
            )
            fig.tight_layout()
            plt.show()

    for control in (layer, head, box_text):
        control.observe(redraw, names="value")
    redraw()
    box = widgets.VBox([widgets.HBox([layer, head]), box_text, out])
    display(box)
    return box


def attention_animation(
    patterns: torch.Tensor,
    labels: Sequence[str],
    captions: dict | None = None,
    size: float = 5.5,
) -> FuncAnimation:
    """Static face: one frame per head of ``patterns`` ``(n_layer, H, T, T)`` (one
    text), layer by layer. ``captions`` maps ``(layer, head)`` to text added to the
    title."""
    if patterns.dim() != 4:
        raise ValueError(
            f"patterns must be (n_layer, H, T, T), got {tuple(patterns.shape)}"
        )
    n_layer, n_head = patterns.shape[:2]
    heads = [(i, h) for i in range(n_layer) for h in range(n_head)]
    fig, ax = plt.subplots(figsize=(size, size))

    def frame(n: int):
        i, h = heads[n]
        caption = (captions or {}).get((i, h), "")
        draw_attention(
            ax, patterns[i, h], labels, f"layer {i}, head {h} {caption}".strip()
        )
        return []

    frame(0)
    fig.tight_layout()
    anim = FuncAnimation(fig, frame, frames=len(heads), interval=900)
    plt.close(fig)
    return anim
