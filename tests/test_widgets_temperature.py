"""The temperature explorer's drawing code runs and shows what the maths says."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from tinyformer.sampling import describe_distribution  # noqa: E402
from tinyformer.widgets.temperature import (
    draw_distribution,
    temperature_animation,
    temperature_explorer,
)  # noqa: E402

LABELS = list("abcd")
TABLE = torch.log(
    torch.tensor(
        [[0.1, 0.6, 0.2, 0.1], [0.25] * 4, [0.7, 0.1, 0.1, 0.1], [0.4, 0.3, 0.2, 0.1]]
    )
)


def decode(ids):
    return "".join(LABELS[i] for i in ids)


def test_draw_distribution_draws_the_filtered_probabilities_in_a_fixed_order():
    fig, ax = plt.subplots()
    draw_distribution(ax, TABLE[0], LABELS, temperature=0.5, top_k=2)
    tick_labels = [t.get_text() for t in ax.get_xticklabels()]
    assert tick_labels == ["b", "c", "a", "d"]  # sorted by probability at T = 1
    heights = [bar.get_height() for bar in ax.containers[1]]
    expected = describe_distribution(TABLE[0], 0.5, top_k=2).probs[[1, 2, 0, 3]]
    assert torch.allclose(torch.tensor(heights, dtype=expected.dtype), expected)
    assert "2 of 4 kept" in ax.get_title()
    plt.close(fig)


def test_animation_has_one_frame_per_temperature_and_renders():
    anim = temperature_animation(
        TABLE, LABELS, decode, context=0, temperatures=[0.0, 1.0, 2.0], length=10
    )
    html = anim.to_jshtml()
    assert html.count("data:image/png;base64") == 3


def test_live_explorer_builds_its_controls():
    box = temperature_explorer(TABLE, LABELS, decode, context=3, length=5)
    controls = box.children[0].children
    assert [c.description for c in controls] == [
        "temperature",
        "top-k (0 off)",
        "top-p",
    ]
    controls[0].value = 0.0  # moving a slider redraws without error
    controls[1].value = 2
