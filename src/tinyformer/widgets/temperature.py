"""The temperature explorer: how temperature, top-k and top-p reshape a next-token
distribution.

The numbers come from ``tinyformer.sampling.describe_distribution`` and
``tinyformer.sampling.sample_chain``; this module only draws them.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib import animation

from tinyformer.sampling import describe_distribution, sample_chain
from tinyformer.widgets import token_label

__all__ = ["draw_distribution", "temperature_explorer", "temperature_animation"]


def draw_distribution(
    ax: plt.Axes,
    logits: torch.Tensor,
    labels: Sequence[str],
    temperature: float,
    top_k: int | None = None,
    top_p: float | None = None,
    show: int = 20,
) -> None:
    """Bar chart of the ``show`` tokens most likely at temperature 1, in a fixed order.

    The order never changes with the controls, so the eye can follow each bar.
    """
    order = torch.argsort(logits, descending=True, stable=True)[:show]
    view = describe_distribution(logits, temperature, top_k, top_p)
    base = describe_distribution(logits, 1.0)
    x = range(len(order))
    ax.clear()
    ax.bar(x, base.probs[order].numpy(), color="lightgrey", label="τ = 1, no filter")
    ax.bar(
        x, view.probs[order].numpy(), width=0.5, color="tab:blue", label="sampled from"
    )
    ax.set_xticks(list(x), [token_label(labels[i]) for i in order])
    ax.set_ylim(0, 1)
    ax.set_xlabel(f"next character (the {len(order)} most likely at τ = 1)")
    ax.set_ylabel("probability")
    filters = "".join(
        [
            f", top-k {top_k}" if top_k else "",
            f", top-p {top_p:.2f}" if top_p and top_p < 1 else "",
        ]
    )
    # Two short lines rather than one long one, so the title fits a 7-inch figure.
    ax.set_title(
        f"temperature τ = {temperature:.2f}{filters}\n"
        f"entropy {view.entropy:.2f} nats, perplexity {view.perplexity:.1f}, "
        f"{view.kept} of {len(logits)} kept",
        fontsize=10,
    )
    ax.legend(loc="upper right")


def _sample_text(
    transition_logits, decode, start, temperature, top_k, top_p, length, seed
) -> str:
    generator = torch.Generator().manual_seed(seed)
    ids = sample_chain(
        transition_logits, start, length, temperature, top_k, top_p, generator
    )
    return decode(ids).replace("\n", " ⏎ ")


def temperature_explorer(
    transition_logits: torch.Tensor,
    labels: Sequence[str],
    decode: Callable[[list[int]], str],
    context: int,
    length: int = 80,
    seed: int = 0,
):
    """Live explorer (Jupyter, Colab): sliders for temperature, top-k and top-p.

    Shows the distribution of the character after ``context`` and a sample of ``length``
    characters drawn from the whole bigram chain with the same settings.
    """
    import ipywidgets as widgets
    from IPython.display import display

    vocab_size = transition_logits.shape[0]
    temperature = widgets.FloatSlider(
        value=1.0,
        min=0.0,
        max=3.0,
        step=0.05,
        description="temperature",
        continuous_update=False,
    )
    top_k = widgets.IntSlider(
        value=0,
        min=0,
        max=vocab_size,
        description="top-k (0 off)",
        continuous_update=False,
    )
    top_p = widgets.FloatSlider(
        value=1.0,
        min=0.05,
        max=1.0,
        step=0.05,
        description="top-p",
        continuous_update=False,
    )
    out = widgets.Output()

    def redraw(_=None):
        k = top_k.value or None
        with out:
            out.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(7, 3.8), layout="constrained")
            draw_distribution(
                ax,
                transition_logits[context],
                labels,
                temperature.value,
                k,
                top_p.value,
            )
            plt.show()
            print(
                "sample:",
                _sample_text(
                    transition_logits,
                    decode,
                    context,
                    temperature.value,
                    k,
                    top_p.value,
                    length,
                    seed,
                ),
            )

    for control in (temperature, top_k, top_p):
        control.observe(redraw, names="value")
    redraw()
    box = widgets.VBox([widgets.HBox([temperature, top_k, top_p]), out])
    display(box)
    return box


def temperature_animation(
    transition_logits: torch.Tensor,
    labels: Sequence[str],
    decode: Callable[[list[int]], str],
    context: int,
    temperatures: Sequence[float],
    length: int = 60,
    seed: int = 0,
) -> animation.FuncAnimation:
    """Static face of the explorer: one precomputed frame per temperature.

    Display it in the HTML book with ``HTML(anim.to_jshtml())``, which needs no kernel.
    """
    # 7 inches wide fits the book's text column. The constrained layout is recomputed
    # at every frame's draw, so labels and titles stay inside the figure (a layout
    # computed once, before any frame is drawn, would crop them).
    fig, (ax, text_ax) = plt.subplots(
        2, 1, figsize=(7, 4.5), height_ratios=[4, 1], layout="constrained"
    )
    samples = [
        _sample_text(transition_logits, decode, context, t, None, None, length, seed)
        for t in temperatures
    ]

    def frame(i: int):
        draw_distribution(ax, transition_logits[context], labels, temperatures[i])
        text_ax.clear()
        text_ax.axis("off")
        text_ax.text(
            0,
            0.5,
            textwrap.fill("sample: " + samples[i], width=72),
            family="monospace",
            fontsize=9,
            va="center",
        )
        return []

    anim = animation.FuncAnimation(fig, frame, frames=len(temperatures), interval=400)
    plt.close(fig)
    return anim
