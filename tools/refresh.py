"""Re-execute chapters in place, so committed outputs are what the code prints.

Usage: python tools/refresh.py book/01_language_models.ipynb [...]   (or: make refresh)

Each notebook runs in a fresh kernel from its own folder, top to bottom; widget state
is stored in the notebook so the HTML book can show the widgets without a kernel.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def refresh(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=900,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=True,
    )
    start = time.perf_counter()
    client.execute()
    nbformat.write(nb, path)
    print(f"{path}: {len(nb.cells)} cells executed in {time.perf_counter() - start:.1f} s")


def main(paths: list[str]) -> None:
    if not paths:
        sys.exit("usage: python tools/refresh.py NOTEBOOK.ipynb [...]")
    for name in paths:
        refresh(Path(name))


if __name__ == "__main__":
    main(sys.argv[1:])
