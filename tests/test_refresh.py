"""tools/refresh.py: a second refresh of an unchanged chapter writes the same file."""

import importlib.util
import uuid
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook, new_output

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("refresh", ROOT / "tools" / "refresh.py")
refresh = importlib.util.module_from_spec(spec)
spec.loader.exec_module(refresh)


def test_consecutive_prints_of_one_stream_become_one_output():
    outputs = [
        new_output("stream", name="stdout", text="a\n"),
        new_output("stream", name="stdout", text="b\n"),
        new_output("stream", name="stderr", text="warning\n"),
        new_output("stream", name="stdout", text="c\n"),
    ]
    merged = refresh.merge_streams(outputs)
    assert [(o.name, o.text) for o in merged] == [
        ("stdout", "a\nb\n"),
        ("stderr", "warning\n"),
        ("stdout", "c\n"),
    ]


def run_with_fresh_ids() -> nbformat.NotebookNode:
    """A notebook as nbclient leaves it: random widget and animation ids, timestamps."""
    box, slider, layout = (uuid.uuid4().hex for _ in range(3))
    player = uuid.uuid4().hex
    view = {"model_id": box, "version_major": 2, "version_minor": 0}
    cell = new_code_cell(
        "explorer",
        outputs=[
            new_output(
                "display_data",
                data={refresh.WIDGET_VIEW: view, "text/plain": "VBox()"},
            ),
            new_output(
                "display_data",
                data={"text/html": f'<img id="_anim_img{player}">anim{player}'},
            ),
        ],
    )
    cell.id = "explorer"  # cell ids come from the committed notebook, not the run
    cell.metadata["execution"] = {"iopub.execute_input": str(uuid.uuid4())}
    nb = new_notebook(cells=[cell])
    state = {
        box: {"state": {"children": [f"IPY_MODEL_{slider}"]}},
        slider: {"state": {"layout": f"IPY_MODEL_{layout}", "value": 3}},
        layout: {"state": {"width": "auto"}},
    }
    nb.metadata["widgets"] = {refresh.WIDGET_STATE: {"state": state}}
    return nb


def test_two_runs_with_different_random_ids_write_the_same_file():
    first, second = run_with_fresh_ids(), run_with_fresh_ids()
    assert nbformat.writes(first) != nbformat.writes(second)
    tidied = refresh.tidy(first)
    assert nbformat.writes(tidied) == nbformat.writes(refresh.tidy(second))
    assert "execution" not in tidied.cells[0].metadata
    state = tidied.metadata["widgets"][refresh.WIDGET_STATE]["state"]
    box, slider = f"{1:032x}", f"{2:032x}"  # the displayed widget first, then its child
    assert state[box]["state"]["children"] == [f"IPY_MODEL_{slider}"]
    assert state[slider]["state"]["value"] == 3
    assert f"_anim_img{4:032x}" in tidied.cells[0].outputs[1].data["text/html"]
