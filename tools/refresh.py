"""Re-execute chapters in place, so committed outputs are what the code prints.

Usage: python tools/refresh.py book/01_language_models.ipynb [...]   (or: make refresh)

Each notebook runs in a fresh kernel from its own folder, top to bottom; widget state
is stored in the notebook so the HTML book can show the widgets without a kernel.

nbclient occasionally never receives the reply to a cell that creates ipywidgets
(jupyter/nbclient#312), although the kernel has finished. So no cell may take longer
than CELL_TIMEOUT seconds (the slowest chapter cell takes well under a minute), and a
notebook whose run times out is executed again from the start, up to ATTEMPTS times.
A notebook is only written back after a complete, error-free run.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError

CELL_TIMEOUT = 300
ATTEMPTS = 3


def execute(path: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=True,
    )
    client.execute()
    return nb


def refresh(path: Path) -> None:
    for attempt in range(1, ATTEMPTS + 1):
        start = time.perf_counter()
        try:
            nb = execute(path)
        except CellTimeoutError as err:
            print(
                f"{path}: attempt {attempt} timed out ({str(err).splitlines()[0]}); starting again"
            )
            continue
        nbformat.write(nb, path)
        print(
            f"{path}: {len(nb.cells)} cells executed in {time.perf_counter() - start:.1f} s"
        )
        return
    sys.exit(f"{path}: every attempt timed out; the notebook was not changed")


def main(paths: list[str]) -> None:
    if not paths:
        sys.exit("usage: python tools/refresh.py NOTEBOOK.ipynb [...]")
    for name in paths:
        refresh(Path(name))


if __name__ == "__main__":
    main(sys.argv[1:])
