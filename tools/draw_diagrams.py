"""Draw the book's diagrams (boxes, arrows and text) as SVG files in ``book/figures/``.

Regenerate every figure after changing this script, and commit them together:

    python tools/draw_diagrams.py

Only matplotlib is used. The output is deterministic, byte for byte: a fixed hash
salt for the SVG ids, no date in the metadata, and text drawn as paths (so it looks the
same in every browser). ``tests/test_diagrams.py`` redraws the figures and checks that
they equal the committed ones. The bytes depend on matplotlib's version, pinned in
requirements.txt.

Each figure is drawn on axes whose data units are inches (``canvas``), so sizes and gaps
below read as inches and font sizes as points. The figures are about 7 inches wide, the
width of the book's text column; the causal mask, shown at 60% of the column, is
narrower.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NamedTuple

import matplotlib
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Rectangle

FIGURES = Path(__file__).resolve().parent.parent / "book" / "figures"

RC = {
    "svg.hashsalt": "tinyformer-diagrams",
    "svg.fonttype": "path",
    "font.family": "DejaVu Sans",
    "mathtext.fontset": "dejavusans",
    "font.size": 10,
}

# One palette for every figure: (fill, edge) per kind of box.
INK = "#2b2b2b"
MUTED = "#6b6b6b"
SHAPE = "#3d6a99"  # shape annotations such as T x C
COLORS = {
    "data": ("#f3f3f1", "#9a9a94"),
    "embed": ("#e2ecf7", "#5a82ad"),
    "attn": ("#fbe7d7", "#c27a45"),
    "ffn": ("#e4f1df", "#5f9352"),
    "norm": ("#ece4f5", "#8466ad"),
    "soft": ("#fbf1d3", "#b39237"),
    "head": ("#e2ecf7", "#5a82ad"),
}
LINE = 0.9  # line width of box edges and arrows, points


class Box(NamedTuple):
    """A drawn box: centre, width and height, in inches."""

    x: float
    y: float
    w: float
    h: float

    @property
    def left(self) -> tuple[float, float]:
        return (self.x - self.w / 2, self.y)

    @property
    def right(self) -> tuple[float, float]:
        return (self.x + self.w / 2, self.y)

    @property
    def top(self) -> tuple[float, float]:
        return (self.x, self.y + self.h / 2)

    @property
    def bottom(self) -> tuple[float, float]:
        return (self.x, self.y - self.h / 2)


def canvas(width: float, height: float):
    """A figure of ``width`` x ``height`` inches whose axes use inches as data units."""
    fig = Figure(figsize=(width, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_axis_off()
    return fig, ax


def box(ax, x, y, w, h, title, sub=None, kind="data", size=10.5, stack=0, rotation=0):
    """A rounded box centred at (x, y) with a title and an optional smaller second line.

    ``stack`` draws that many offset copies behind the box (a pile of identical layers);
    ``rotation`` turns a one-line title (degrees).
    """
    fill, edge = COLORS[kind]
    for i in range(stack, 0, -1):
        d = 0.06 * i
        ax.add_patch(_rounded(x + d, y + d, w, h, fill, edge))
    ax.add_patch(_rounded(x, y, w, h, fill, edge))
    if sub is None:
        ax.text(
            x,
            y,
            title,
            ha="center",
            va="center",
            fontsize=size,
            color=INK,
            rotation=rotation,
        )
    else:
        ax.text(x, y + 0.09, title, ha="center", va="center", fontsize=size, color=INK)
        ax.text(x, y - 0.12, sub, ha="center", va="center", fontsize=9, color=MUTED)
    return Box(x, y, w, h)


def _rounded(x, y, w, h, fill, edge):
    return FancyBboxPatch(
        (x - w / 2, y - h / 2),
        w,
        h,
        boxstyle="round,pad=0,rounding_size=0.07",
        facecolor=fill,
        edgecolor=edge,
        linewidth=LINE,
    )


def arrow(ax, *points, color=INK):
    """A thin arrow through ``points``: straight segments, the head on the last one."""
    for a, b in zip(points[:-2], points[1:-1]):
        ax.plot([a[0], b[0]], [a[1], b[1]], color=color, lw=LINE, solid_capstyle="butt")
    ax.add_patch(
        FancyArrowPatch(
            points[-2],
            points[-1],
            arrowstyle="-|>,head_length=0.45,head_width=0.22",
            mutation_scale=14,
            color=color,
            lw=LINE,
            shrinkA=0,
            shrinkB=0,
        )
    )


def note(ax, x, y, text, ha="left", va="center", size=10, color=SHAPE, **kw):
    """A free-standing annotation: shapes in blue by default, remarks in grey."""
    ax.text(x, y, text, ha=ha, va=va, fontsize=size, color=color, **kw)


def plus(ax, x, y, r=0.13):
    """The circled plus of an addition; returns its centre and radius as a Box."""
    ax.add_patch(Circle((x, y), r, facecolor="white", edgecolor=INK, lw=LINE))
    ax.plot([x - r * 0.6, x + r * 0.6], [y, y], color=INK, lw=LINE)
    ax.plot([x, x], [y - r * 0.6, y + r * 0.6], color=INK, lw=LINE)
    return Box(x, y, 2 * r, 2 * r)


def title(ax, x, y, text, size=11.5, ha="center"):
    ax.text(x, y, text, ha=ha, va="center", fontsize=size, color=INK, weight="bold")


# --- 1. The whole model ---------------------------------------------------------------


def draw_pipeline():
    """Text to next-token probabilities: down the left column, up the right one."""
    fig, ax = canvas(7.0, 4.6)
    lx, rx = 1.3, 5.3  # centres of the left column's main boxes and of the right column

    text = box(ax, lx, 4.2, 2.1, 0.5, "“To be, or not”", "text")
    ids = box(ax, lx, 3.3, 2.1, 0.5, "2514  307  11  393  407", "token ids")
    pos = box(ax, 3.15, 3.3, 0.95, 0.5, "0 1 2 3 4", "positions", size=9.5)
    arrow(ax, text.bottom, ids.top)
    note(ax, lx + 0.1, 3.75, "tokenizer", color=MUTED, size=9)

    tok = box(
        ax,
        lx,
        2.2,
        1.8,
        0.52,
        "token embedding",
        "a $V{\\times}C$ table, a row per id",
        kind="embed",
        size=10,
    )
    pe = box(
        ax,
        pos.x,
        2.2,
        1.6,
        0.52,
        "position embedding",
        "a row per position",
        kind="embed",
        size=10,
    )
    arrow(ax, ids.bottom, tok.top)
    arrow(ax, pos.bottom, pe.top)
    note(ax, lx + 0.1, 2.75, "$T$")
    note(ax, pos.x + 0.1, 2.75, "$T$")

    add = plus(ax, (lx + pos.x) / 2, 1.15)
    arrow(ax, tok.bottom, (tok.x, add.y), add.left)
    arrow(ax, pe.bottom, (pe.x, add.y), add.right)
    note(ax, tok.x + 0.1, 1.5, "$T \\times C$")
    note(ax, pe.x + 0.1, 1.5, "$T \\times C$")

    block = box(ax, rx, 0.6, 2.1, 0.55, "transformer block", kind="attn", stack=2)
    note(ax, block.right[0] + 0.2, block.y + 0.06, "$\\times\\, L$", size=12, color=INK)
    arrow(ax, add.bottom, (add.x, block.y), block.left)
    note(ax, add.x + 0.25, block.y + 0.08, "$T \\times C$", va="bottom")

    norm = box(ax, rx, 1.55, 2.1, 0.45, "final LayerNorm", kind="norm")
    head = box(
        ax, rx, 2.45, 2.1, 0.5, "linear head", "$C \\to V$ (lm_head)", kind="embed"
    )
    soft = box(ax, rx, 3.3, 2.1, 0.5, "softmax", "over each row", kind="soft")
    probs = box(
        ax,
        rx,
        4.2,
        2.3,
        0.5,
        "next-token probabilities",
        "row $t$: the token after position $t$",
    )
    arrow(ax, (rx, block.top[1] + 0.12), norm.bottom)
    arrow(ax, norm.top, head.bottom)
    arrow(ax, head.top, soft.bottom)
    arrow(ax, soft.top, probs.bottom)
    note(ax, rx + 0.1, 1.16, "$T \\times C$")
    note(ax, rx + 0.1, 2.0, "$T \\times C$")
    note(ax, rx + 0.1, 2.875, "logits  $T \\times V$")
    note(ax, rx + 0.1, 3.75, "$T \\times V$")
    return fig


# --- 2. The generation loop -----------------------------------------------------------


def draw_generation_loop():
    """Context -> model -> probabilities -> sample -> append, and round again."""
    fig, ax = canvas(7.0, 3.05)
    top, bot = 2.25, 0.5

    ctx = box(ax, 1.15, top, 1.9, 0.62, "context", "“To be, or not”")
    model = box(
        ax, 3.5, top, 1.4, 0.62, "GPT model", "logits  $T \\times V$", kind="attn"
    )
    probs = box(
        ax,
        5.8,
        top,
        2.0,
        0.62,
        "next-token probabilities",
        "temperature, top-$k$, softmax",
        kind="soft",
        size=10,
    )
    samp = box(
        ax,
        5.8,
        bot,
        2.0,
        0.62,
        "sample one id",
        "draw from the probabilities",
        kind="embed",
    )
    app = box(ax, 1.15, bot, 1.9, 0.62, "append to context", "“To be, or not to”")

    arrow(ax, ctx.right, model.left)
    note(ax, 2.45, top + 0.55, "cropped to the last", ha="center", color=MUTED, size=9)
    note(ax, 2.45, top + 0.38, "block_size tokens", ha="center", color=MUTED, size=9)
    note(ax, 2.45, top - 0.18, "$T$ ids", ha="center")
    arrow(ax, model.right, probs.left)
    note(ax, 4.5, top + 0.55, "last row", ha="center", color=MUTED, size=9)
    note(ax, 4.5, top + 0.38, "of logits", ha="center", color=MUTED, size=9)
    note(ax, 4.5, top - 0.18, "$V$", ha="center")
    arrow(ax, probs.bottom, samp.top)
    note(ax, 5.9, (top + bot) / 2, "$V$")
    arrow(ax, samp.left, app.right)
    note(ax, 3.5, bot + 0.17, "new id 284 (“ to”)", ha="center")
    arrow(ax, app.top, ctx.bottom)
    note(ax, 1.25, (top + bot) / 2, "$T + 1$ ids")
    note(
        ax,
        3.5,
        (top + bot) / 2 + 0.05,
        "repeat once per new token",
        ha="center",
        color=MUTED,
        style="italic",
    )
    return fig


# --- 3. One attention head, then H heads ----------------------------------------------


def draw_attention_shapes():
    """One causal head with the shape of every intermediate; below, H heads together."""
    fig, ax = canvas(7.0, 5.3)
    title(ax, 0.15, 5.08, "One attention head", ha="left")

    yq, yk, yv = 4.55, 3.85, 3.15
    x = box(ax, 0.45, yk, 0.6, 0.6, "$X$", kind="data", size=12)
    note(ax, x.x, x.bottom[1] - 0.1, "$T \\times C$", ha="center", va="top")
    maps = {}
    for name, y in (("Q", yq), ("K", yk), ("V", yv)):
        maps[name] = box(ax, 1.55, y, 0.9, 0.45, f"$\\cdot W_{name}$", kind="embed")
        arrow(ax, (x.right[0], x.y), (1.0, x.y), (1.0, y), maps[name].left)
        note(ax, 2.05, y + 0.1, f"${name}$  $T \\times d$", va="bottom")
    note(ax, 1.55, yv - 0.35, "$W$: $C \\times d$", ha="center", va="top")

    s = box(ax, 3.5, (yq + yk) / 2, 1.05, 0.7, "$QK^\\top/\\sqrt{d}$", kind="attn")
    arrow(ax, maps["Q"].right, (2.8, yq), (2.8, s.y + 0.15), (s.left[0], s.y + 0.15))
    arrow(ax, maps["K"].right, (2.8, yk), (2.8, s.y - 0.15), (s.left[0], s.y - 0.15))
    note(ax, s.x, s.top[1] + 0.06, "scores $S$", ha="center", va="bottom", color=MUTED)

    mask = box(ax, 4.85, s.y, 0.85, 0.7, "causal", "mask", kind="attn")
    soft = box(ax, 6.1, s.y, 0.9, 0.7, "softmax", "each row", kind="soft")
    arrow(ax, s.right, mask.left)
    arrow(ax, mask.right, soft.left)
    note(ax, 4.225, s.y + 0.1, "$T{\\times}T$", ha="center", va="bottom", size=9.5)
    note(ax, 5.475, s.y + 0.1, "$T{\\times}T$", ha="center", va="bottom", size=9.5)

    av = box(ax, 6.1, yv, 0.9, 0.5, "$A\\,V$", kind="attn", size=11)
    arrow(ax, soft.bottom, av.top)
    note(ax, 6.17, (soft.bottom[1] + av.top[1]) / 2, "$A$  $T \\times T$")
    arrow(ax, maps["V"].right, av.left)
    note(
        ax,
        av.x,
        av.bottom[1] - 0.1,
        "head output  $T \\times d$",
        ha="center",
        va="top",
    )

    ax.plot([0.15, 6.85], [2.3, 2.3], color="#d0d0cc", lw=LINE)
    draw_heads(ax)
    return fig


def draw_heads(ax):
    """The lower panel: H heads on the same X, concatenated, then the output
    projection."""
    title(ax, 0.15, 2.05, "$H$ heads side by side (multi-head attention)", ha="left")
    note(
        ax,
        0.15,
        1.8,
        "each head with its own $W_Q$, $W_K$, $W_V$ and $d = C / H$",
        color=MUTED,
        size=9.5,
    )
    mid = 0.84
    x = box(ax, 0.45, mid, 0.6, 0.6, "$X$", kind="data", size=12)
    note(ax, x.x, x.bottom[1] - 0.1, "$T \\times C$", ha="center", va="top")
    rows = ((1.38, "head 1"), (0.9, "head 2"), (0.3, "head $H$"))
    for y, name in rows:
        h = box(ax, 1.9, y, 1.0, 0.4, name, kind="attn")
        arrow(ax, (x.right[0], mid), (1.1, mid), (1.1, y), h.left)
        arrow(ax, h.right, (3.1, y))
        note(ax, 2.5, y + 0.05, "$T \\times d$", va="bottom", size=9.5)
    note(ax, 1.9, 0.62, "⋮", ha="center", color=INK, size=12)

    cat = box(ax, 3.35, mid, 0.5, 1.42, "concat", size=10, rotation=90)
    out = box(ax, 5.2, mid, 1.1, 0.55, "$\\cdot W_O$", "$C \\times C$", kind="embed")
    arrow(ax, cat.right, out.left)
    note(ax, 4.12, mid + 0.1, "$T \\times (H d)$", ha="center", va="bottom", size=9.5)
    note(ax, 4.12, mid - 0.1, "$= T \\times C$", ha="center", va="top", size=9.5)
    arrow(ax, out.right, (6.45, mid))
    note(ax, 6.5, mid, "$T \\times C$")


# --- 4. The causal mask ---------------------------------------------------------------


def draw_causal_mask():
    """A 6 x 6 grid of scores: queries as rows, keys as columns, future keys hidden."""
    words = ["To", "be", "or", "not", "to", "be"]
    n, cell = len(words), 0.42
    fig, ax = canvas(4.2, 3.9)
    x0, y0 = 1.15, 0.75  # lower left corner of the grid
    kept, edge = COLORS["embed"]
    for r in range(n):  # row 0 at the top
        for c in range(n):
            xy = (x0 + c * cell, y0 + (n - 1 - r) * cell)
            hidden = c > r
            face = "#e4e4e1" if hidden else kept
            ax.add_patch(
                Rectangle(xy, cell, cell, facecolor=face, edgecolor="white", lw=1.5)
            )
            if hidden:
                note(
                    ax,
                    xy[0] + cell / 2,
                    xy[1] + cell / 2,
                    "−∞",
                    ha="center",
                    color="#77776f",
                    size=10,
                )
    for i, w in enumerate(words):
        note(ax, x0 - 0.1, y0 + (n - 0.5 - i) * cell, w, ha="right", color=INK)
        note(
            ax,
            x0 + (i + 0.5) * cell,
            y0 + n * cell + 0.08,
            w,
            ha="center",
            va="bottom",
            color=INK,
        )
    right = x0 + n * cell
    note(
        ax,
        (x0 + right) / 2,
        y0 + n * cell + 0.42,
        "key (column)",
        ha="center",
        color=MUTED,
        size=10.5,
    )
    note(
        ax,
        x0 - 0.7,
        y0 + n * cell / 2,
        "query (row)",
        ha="center",
        color=MUTED,
        size=10.5,
        rotation=90,
    )
    ax.add_patch(
        Rectangle((x0, 0.2), 0.22, 0.22, facecolor=kept, edgecolor=edge, lw=LINE)
    )
    note(ax, x0 + 0.3, 0.31, "kept", color=INK, size=9.5)
    ax.add_patch(
        Rectangle(
            (x0 + 1.1, 0.2),
            0.22,
            0.22,
            facecolor="#e4e4e1",
            edgecolor="#9a9a94",
            lw=LINE,
        )
    )
    note(ax, x0 + 1.4, 0.31, "hidden: −∞, weight 0", color=INK, size=9.5)
    return fig


# --- 5. The pre-norm block and, for contrast, the post-norm block ---------------------


def draw_prenorm_block():
    """Pre-norm (GPT-2, this book) around the residual stream; post-norm beside it."""
    fig, ax = canvas(7.0, 5.1)
    title(ax, 0.2, 4.85, "Pre-norm block", ha="left")
    note(ax, 1.6, 4.85, "(GPT-2, this book)", color=MUTED)
    sx = 0.6  # the residual stream
    ax.plot([sx, sx], [0.35, 4.35], color=INK, lw=LINE)
    note(ax, sx, 0.2, "$x$  $T \\times C$", ha="center", va="center")
    arrow(ax, (sx, 4.2), (sx, 4.45))
    note(
        ax, sx, 4.57, "to the next block", ha="center", va="center", color=MUTED, size=9
    )
    note(
        ax,
        sx - 0.12,
        2.85,
        "residual stream: only additions",
        ha="right",
        color=MUTED,
        size=9,
        rotation=90,
    )

    # attention branch
    y1 = 0.85
    ln1 = box(ax, 1.55, y1, 1.1, 0.42, "LayerNorm", kind="norm", size=10)
    att = box(
        ax, 3.15, y1, 1.6, 0.55, "causal multi-head\nattention", kind="attn", size=10
    )
    arrow(ax, (sx, y1), ln1.left)
    arrow(ax, ln1.right, att.left)
    add1 = plus(ax, sx, 1.65)
    arrow(ax, att.top, (att.x, add1.y), add1.right)
    note(ax, 2.05, add1.y + 0.06, "$T \\times C$", va="bottom", size=9.5)

    # feed-forward branch
    y2 = 2.2
    ln2 = box(ax, 1.55, y2, 1.1, 0.42, "LayerNorm", kind="norm", size=10)
    up = box(ax, 3.15, y2, 1.6, 0.42, "Linear $C \\to 4C$", kind="ffn", size=10)
    gelu = box(ax, 3.15, y2 + 0.7, 1.6, 0.38, "GELU", kind="ffn", size=10)
    down = box(ax, 3.15, y2 + 1.4, 1.6, 0.42, "Linear $4C \\to C$", kind="ffn", size=10)
    arrow(ax, (sx, y2), ln2.left)
    arrow(ax, ln2.right, up.left)
    arrow(ax, up.top, gelu.bottom)
    arrow(ax, gelu.top, down.bottom)
    note(ax, 3.23, y2 + 0.35, "$T \\times 4C$", size=9)
    note(ax, 3.23, y2 + 1.05, "$T \\times 4C$", size=9)
    ax.add_patch(
        FancyBboxPatch(
            (2.22, y2 - 0.32),
            1.86,
            1.95,
            boxstyle="round,pad=0,rounding_size=0.1",
            facecolor="none",
            edgecolor=COLORS["ffn"][1],
            lw=LINE,
            ls=(0, (3, 2)),
        )
    )
    note(ax, 4.16, y2 + 0.7, "FFN", color=COLORS["ffn"][1], size=10)
    add2 = plus(ax, sx, 4.0)
    arrow(ax, down.top, (down.x, add2.y), add2.right)
    note(ax, 2.05, add2.y + 0.06, "$T \\times C$", va="bottom", size=9.5)

    draw_postnorm(ax)
    return fig


def draw_postnorm(ax):
    """The post-norm block of the original Transformer, smaller, on the right."""
    ax.plot([4.75, 4.75], [0.25, 4.65], color="#d0d0cc", lw=LINE)
    title(ax, 5.0, 4.85, "Post-norm block", ha="left")
    note(ax, 5.0, 4.6, "(original Transformer)", color=MUTED)
    sx = 5.3
    note(ax, sx, 0.2, "$x$", ha="center", va="center")
    att = box(ax, 6.3, 0.95, 1.05, 0.42, "attention", kind="attn", size=9.5)
    add1 = plus(ax, sx, 1.55, r=0.11)
    ln1 = box(ax, sx, 2.1, 0.95, 0.36, "LayerNorm", kind="norm", size=9.5)
    ffn = box(ax, 6.3, 2.65, 1.05, 0.42, "FFN", kind="ffn", size=9.5)
    add2 = plus(ax, sx, 3.25, r=0.11)
    ln2 = box(ax, sx, 3.8, 0.95, 0.36, "LayerNorm", kind="norm", size=9.5)

    ax.plot([sx, sx], [0.35, add1.bottom[1]], color=INK, lw=LINE)
    arrow(ax, (sx, 0.95), att.left)
    arrow(ax, att.top, (att.x, add1.y), add1.right)
    arrow(ax, add1.top, ln1.bottom)
    ax.plot([sx, sx], [ln1.top[1], add2.bottom[1]], color=INK, lw=LINE)
    arrow(ax, (sx, 2.65), ffn.left)
    arrow(ax, ffn.top, (ffn.x, add2.y), add2.right)
    arrow(ax, add2.top, ln2.bottom)
    arrow(ax, ln2.top, (sx, 4.45))
    note(ax, 5.45, 4.35, "LayerNorm on", color=MUTED, size=9)
    note(ax, 5.45, 4.18, "the stream itself", color=MUTED, size=9)


# --- writing the files ----------------------------------------------------------------

DIAGRAMS = {
    "pipeline.svg": draw_pipeline,
    "generation_loop.svg": draw_generation_loop,
    "attention_shapes.svg": draw_attention_shapes,
    "causal_mask.svg": draw_causal_mask,
    "prenorm_block.svg": draw_prenorm_block,
}


def draw_all(folder: Path = FIGURES) -> list[Path]:
    """Draw every diagram into ``folder``; returns the paths written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    with matplotlib.rc_context(RC):
        for name, draw in DIAGRAMS.items():
            fig = draw()
            path = folder / name
            fig.savefig(path, format="svg", metadata={"Date": None, "Creator": None})
            written.append(path)
    return written


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else FIGURES
    for path in draw_all(out):
        print(path)
