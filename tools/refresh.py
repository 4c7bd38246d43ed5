"""Re-execute chapters in place, so committed outputs are what the code prints.

Usage: python tools/refresh.py book/01_language_models.ipynb [...]   (or: make refresh)

Each notebook runs in a fresh kernel from its own folder, top to bottom; widget state
is stored in the notebook so the HTML book can show the widgets without a kernel.

nbclient occasionally never receives the reply to a cell that creates ipywidgets
(jupyter/nbclient#312), although the kernel has finished. So no cell may take longer
than CELL_TIMEOUT seconds (the slowest chapter cell takes well under a minute), and a
notebook whose run times out is executed again from the start, up to ATTEMPTS times.
A notebook is only written back after a complete, error-free run.

A refresh of an unchanged chapter should leave ``git diff`` empty, except for outputs
that measure time. So the written notebook holds no execution timestamps, consecutive
prints of a cell are one output (as the HTML book shows them, and as nbval compares
them), and the random ids of stored widgets and animation players are renamed in a
fixed order.
"""

from __future__ import annotations

import json
import re
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


def merge_streams(outputs: list) -> list:
    """Join consecutive outputs of the same stream (stdout or stderr) into one."""
    merged: list = []
    for output in outputs:
        previous = merged[-1] if merged else None
        if (
            output.output_type == "stream"
            and previous is not None
            and previous.output_type == "stream"
            and previous.name == output.name
        ):
            previous.text += output.text
        else:
            merged.append(output)
    return merged


WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
MODEL_REF = re.compile(r"IPY_MODEL_([0-9a-f]{32})")
ANIMATION_ID = re.compile(r"_anim_img([0-9a-f]{32})")


def widget_ids_in_order(nb: nbformat.NotebookNode) -> list[str]:
    """Stored widget model ids in the order a reader meets them.

    The widgets displayed by the cells, top to bottom, each followed by the models it
    refers to (depth first, in the order of its state's sorted keys); then any model
    nothing refers to, ordered by its content.
    """
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    order: list[str] = []

    def visit(model_id: str) -> None:
        if model_id in order or model_id not in state:
            return
        order.append(model_id)
        for child in MODEL_REF.findall(json.dumps(state[model_id], sort_keys=True)):
            visit(child)

    for cell in nb.cells:
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            if view:
                visit(view["model_id"])
    rest = sorted(
        (m for m in state if m not in order),
        key=lambda m: MODEL_REF.sub("", json.dumps(state[m], sort_keys=True)),
    )
    for model_id in rest:
        visit(model_id)
    return order


def stable_ids(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Rename the random ids of stored widgets and of matplotlib's HTML animations
    (``to_jshtml`` names each player with a fresh uuid) to counters, in reading
    order."""
    text = nbformat.writes(nb)
    animations = list(dict.fromkeys(ANIMATION_ID.findall(text)))
    order = widget_ids_in_order(nb) + animations
    if not order:
        return nb
    renames = {old: f"{index + 1:032x}" for index, old in enumerate(order)}
    text = re.sub(
        r"(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])",
        lambda m: renames.get(m.group(0), m.group(0)),
        text,
    )
    return nbformat.reads(text, as_version=4)


def tidy(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """What makes a refresh of an unchanged chapter reproduce the committed file."""
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = merge_streams(cell.outputs)
    return stable_ids(nb)


def refresh(path: Path) -> None:
    for attempt in range(1, ATTEMPTS + 1):
        start = time.perf_counter()
        try:
            nb = execute(path)
        except CellTimeoutError as err:
            print(
                f"{path}: attempt {attempt} timed out "
                f"({str(err).splitlines()[0]}); starting again"
            )
            continue
        nbformat.write(tidy(nb), path)
        print(
            f"{path}: {len(nb.cells)} cells executed in "
            f"{time.perf_counter() - start:.1f} s"
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
