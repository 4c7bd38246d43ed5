"""The committed diagrams in book/figures/ are exactly what tools/draw_diagrams.py
draws."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "book" / "figures"


def _load_script():
    spec = importlib.util.spec_from_file_location(
        "draw_diagrams", ROOT / "tools" / "draw_diagrams.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_figures_match_the_script(tmp_path):
    drawn = _load_script().draw_all(tmp_path)
    names = sorted(path.name for path in drawn)
    assert names == sorted(path.name for path in FIGURES.glob("*.svg")), (
        "book/figures/ and tools/draw_diagrams.py disagree on the set of diagrams"
    )
    stale = [
        name
        for name in names
        if (tmp_path / name).read_bytes() != (FIGURES / name).read_bytes()
    ]
    assert not stale, (
        f"{stale} differ from what the script draws: run python tools/draw_diagrams.py"
    )
