"""The compute-budget explorer draws what tinyformer.scaling.laws computes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest

from tinyformer.scaling import (
    BESIROGLU_2024,
    HOFFMANN_2022,
    tokens_per_parameter_allocation,
)
from tinyformer.widgets.scaling import budget_animation, draw_budget


def test_draw_budget_marks_each_laws_optimum():
    fig, ax = plt.subplots()
    lines = draw_budget(ax, 5.76e23)
    assert len(lines) == 3 and "20 tokens per parameter" in lines[-1]
    markers = [line for line in ax.get_lines() if line.get_marker() == "o"]
    for marker, law in zip(markers, (HOFFMANN_2022, BESIROGLU_2024)):
        best = law.compute_optimal(5.76e23)
        assert marker.get_xdata()[0] == pytest.approx(best.n_params)
        assert marker.get_ydata()[0] == pytest.approx(law.optimal_loss(5.76e23))
    rule_line = [line for line in ax.get_lines() if line.get_linestyle() == "--"][0]
    assert rule_line.get_xdata()[0] == pytest.approx(
        tokens_per_parameter_allocation(5.76e23).n_params
    )
    plt.close(fig)


def test_budget_animation_has_one_frame_per_budget():
    anim = budget_animation([1e18, 1e20, 1e22])
    assert len(list(anim.new_frame_seq())) == 3
    assert "<script" in anim.to_jshtml()
