"""The positional-encoding explorer: heatmap, waves, similarity against distance, and
RoPE score.

Three faces (book guide section 6): ``positional_explorer()`` gives live sliders in
Jupyter or Colab; ``positional_animation()`` precomputes frames for the static HTML
book; the maths under both is ``tinyformer.positional.positional_explorer_data`` and
``rope_score_vs_offset``, which the tests call.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.animation import FuncAnimation
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from tinyformer.positional import (
    EXPLORER_KINDS,
    positional_explorer_data,
    rope_score_vs_offset,
)

__all__ = ["draw_positional", "positional_explorer", "positional_animation"]


# Sized for the book's text column (about 730 px): 7 inches wide at 100 dpi, 2 x 2
# panels, text of at least 9 points, few ticks.
FIGSIZE = (7.0, 5.8)
DPI = 100


def _few_ticks(ax) -> None:
    ax.xaxis.set_major_locator(MaxNLocator(4))
    ax.yaxis.set_major_locator(MaxNLocator(4))


def draw_positional(
    kind: str = "sinusoidal",
    d_model: int = 64,
    n_positions: int = 128,
    base: float = 10000.0,
    dims: Sequence[int] | None = None,
    fig: Figure | None = None,
) -> Figure:
    """Draw one setting into ``fig`` (a new 2 x 2 figure if None) and return it.

    Top left, the encoding as a heatmap; top right, chosen dimensions as waves; bottom
    left, the cosine similarity of the middle position with every other; bottom right,
    RoPE's score against offset for the same width and base.
    """
    if dims is None and kind == "rope" and d_model % 4 == 0:
        # RoPE (split halves) pairs dimension j with j + d_model/2: show the two
        # coordinates of the fastest plane and of a middle one, as the sinusoidal
        # default shows the pairs (0, 1) and (d_model/2, d_model/2 + 1).
        half, quarter = d_model // 2, d_model // 4
        dims = (0, half, quarter, quarter + half)
    data = positional_explorer_data(
        kind, d_model, n_positions, base, None if dims is None else tuple(dims)
    )
    offsets, scores = rope_score_vs_offset(d_model, n_positions - 1, base)
    if fig is None:
        fig = plt.figure(figsize=FIGSIZE, dpi=DPI)
    fig.clear()
    fig.set_layout_engine("constrained")
    ax_heat, ax_wave, ax_sim, ax_rope = fig.subplots(2, 2).ravel()
    image = ax_heat.imshow(
        data["matrix"].T.numpy(),
        aspect="auto",
        cmap="RdBu_r",
        origin="lower",
        interpolation="nearest",
    )
    colorbar = fig.colorbar(image, ax=ax_heat)
    colorbar.locator = MaxNLocator(3)
    colorbar.update_ticks()
    fig.suptitle(
        "learned table, before training"
        if kind == "learned"
        else f"{kind}, base {base:g}",
        fontweight="bold",
    )
    ax_heat.set(
        xlabel="position t",
        ylabel="dimension",
        title=f"{kind} encoding (d_model={d_model})",
    )
    shown = data["waves"].shape[1]
    for column in range(shown):
        ax_wave.plot(
            data["positions"].numpy(),
            data["waves"][:, column].numpy(),
            label=f"dim {int(data['dims'][column])}",
        )
    ax_wave.set(xlabel="position t", ylabel="value", title="some dimensions as waves")
    ax_wave.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, -0.3),
        fontsize=9,
        ncol=min(shown, 4),
        frameon=False,
        handlelength=1.2,
        columnspacing=0.8,
    )
    ref = int(-data["offsets"][0])
    ax_sim.plot(data["offsets"].numpy(), data["similarity"].numpy())
    ax_sim.axvline(0, color="gray", lw=0.5)
    ax_sim.set(
        xlabel=f"offset from position {ref}",
        ylabel="cosine similarity",
        title="similarity to the middle position",
    )
    ax_rope.plot(offsets.numpy(), scores.numpy(), color="C3")
    ax_rope.axhline(0, color="gray", lw=0.5)
    ax_rope.set(
        xlabel="offset n - m",
        ylabel="score / head_dim",
        title=f"RoPE score (base {base:g})",
    )
    for ax in (ax_heat, ax_wave, ax_sim, ax_rope):
        _few_ticks(ax)
    return fig


def positional_explorer():
    """Live sliders (Jupyter/Colab): encoding, dimension, position range and base.

    Returns the box of widgets."""
    import ipywidgets as widgets
    from IPython.display import display

    kind = widgets.Dropdown(
        options=list(EXPLORER_KINDS), value="sinusoidal", description="encoding"
    )
    d_model = widgets.IntSlider(
        value=64, min=8, max=256, step=8, description="d_model", continuous_update=False
    )
    n_positions = widgets.IntSlider(
        value=128,
        min=16,
        max=1024,
        step=16,
        description="positions",
        continuous_update=False,
    )
    log10_base = widgets.FloatSlider(
        value=4.0,
        min=1.0,
        max=6.0,
        step=0.5,
        description="log10 base",
        continuous_update=False,
    )
    out = widgets.Output()

    def redraw(_=None):
        with out:
            out.clear_output(wait=True)
            draw_positional(
                kind.value, d_model.value, n_positions.value, 10.0**log10_base.value
            )
            plt.show()

    for control in (kind, d_model, n_positions, log10_base):
        control.observe(redraw, names="value")
    redraw()
    box = widgets.VBox(
        [widgets.HBox([kind, d_model]), widgets.HBox([n_positions, log10_base]), out]
    )
    display(box)
    return box


def positional_animation(
    settings: Sequence[tuple[str, float]] = (
        ("sinusoidal", 1e4),
        ("sinusoidal", 100.0),
        ("sinusoidal", 10.0),
        ("rope", 1e4),
        ("rope", 100.0),
        ("learned", 1e4),
    ),
    d_model: int = 64,
    n_positions: int = 128,
) -> FuncAnimation:
    """Precomputed frames, one per ``(kind, base)``.

    Show them with ``IPython.display.HTML(anim.to_jshtml())``."""
    fig = plt.figure(figsize=FIGSIZE, dpi=DPI)

    def frame(i: int):
        kind, base = settings[i]
        draw_positional(kind, d_model, n_positions, base, fig=fig)
        return []

    anim = FuncAnimation(fig, frame, frames=len(settings), interval=1200, blit=False)
    plt.close(fig)  # only the animation is shown, not the still figure
    return anim
