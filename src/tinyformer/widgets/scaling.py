"""The compute-budget explorer: for one budget, how each Chinchilla law would spend it.

For a budget ``C`` every model size ``N`` gets ``D = C / (6 N)`` tokens; each law's loss
along that line is an IsoFLOP curve, and its lowest point is the compute-optimal model
(``tinyformer.scaling.laws.ChinchillaLaw.compute_optimal``). The rule of 20 tokens per
parameter is marked beside them. This module only draws; the maths is in
``tinyformer.scaling.laws``.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.animation import FuncAnimation

from tinyformer.scaling.laws import (
    BESIROGLU_2024,
    HOFFMANN_2022,
    ChinchillaLaw,
    tokens_per_parameter_allocation,
)

__all__ = ["draw_budget", "budget_explorer", "budget_animation"]

LAWS: dict[str, ChinchillaLaw] = {
    "Hoffmann et al. 2022": HOFFMANN_2022,
    "Besiroglu et al. 2024": BESIROGLU_2024,
}


def _si(value: float) -> str:
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


def draw_budget(
    ax: plt.Axes, compute: float, laws: dict[str, ChinchillaLaw] | None = None
) -> list[str]:
    """Each law's loss against model size at ``compute`` FLOPs, its optimum marked.

    Returns one line of text per law (and the rule of thumb) with ``N``, ``D`` and the
    loss.
    """
    laws = LAWS if laws is None else laws
    rule = tokens_per_parameter_allocation(compute)
    n = rule.n_params * np.logspace(-1.5, 1.5, 200)
    ax.clear()
    lines = []
    for (name, law), color in zip(
        laws.items(), ("tab:blue", "tab:orange", "tab:green")
    ):
        ax.plot(n, law.loss(n, compute / (6 * n)), color=color, label=name)
        best = law.compute_optimal(compute)
        loss = law.loss(best.n_params, best.tokens)
        ax.plot(best.n_params, loss, "o", color=color)
        lines.append(
            f"{name}: N = {_si(best.n_params)}, D = {_si(best.tokens)} "
            f"({best.tokens_per_parameter:.0f} tokens/param), loss {loss:.3f}"
        )
    ax.axvline(
        rule.n_params, color="grey", linestyle="--", label="20 tokens per parameter"
    )
    lines.append(
        f"20 tokens per parameter: N = {_si(rule.n_params)}, D = {_si(rule.tokens)}"
    )
    ax.set_xscale("log")
    ax.set_xlabel("model size N (parameters); D = C / 6N tokens")
    ax.set_ylabel("predicted loss (nats/token)")
    ax.set_title(f"budget C = {compute:.1e} FLOPs")
    ax.legend(loc="upper center", fontsize=9)
    return lines


def budget_explorer(laws: dict[str, ChinchillaLaw] | None = None):
    """Live face (Jupyter, Colab): a slider for the budget, from 1e18 to 1e26 FLOPs."""
    import ipywidgets as widgets
    from IPython.display import display

    slider = widgets.FloatLogSlider(
        value=5.76e23,
        base=10,
        min=18,
        max=26,
        step=0.25,
        description="FLOPs",
        continuous_update=False,
        readout_format=".1e",
    )
    out = widgets.Output()

    def redraw(_=None):
        with out:
            out.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(7, 4))
            for line in draw_budget(ax, slider.value, laws):
                print(line)
            plt.show()

    slider.observe(redraw, names="value")
    redraw()
    box = widgets.VBox([slider, out])
    display(box)
    return box


def budget_animation(
    budgets: Sequence[float], laws: dict[str, ChinchillaLaw] | None = None
) -> FuncAnimation:
    """Static face: one frame per budget (show with ``HTML(anim.to_jshtml())``)."""
    fig, (ax, text_ax) = plt.subplots(2, 1, figsize=(7, 5.2), height_ratios=[3.2, 1])

    def frame(i: int):
        lines = draw_budget(ax, budgets[i], laws)
        text_ax.clear()
        text_ax.axis("off")
        text_ax.text(
            0, 0.5, "\n".join(lines), family="monospace", fontsize=8.5, va="center"
        )
        return []

    frame(0)  # draw once, so that tight_layout makes room for the labels
    fig.tight_layout()
    anim = FuncAnimation(fig, frame, frames=len(budgets), interval=600)
    plt.close(fig)
    return anim
