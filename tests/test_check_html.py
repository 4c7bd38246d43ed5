"""tools/check_html.py finds what a reader must never see in the built book."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location(
    "check_html", ROOT / "tools" / "check_html.py"
)
check_html = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_html)


def page(body: str, head: str = "") -> str:
    return f"<html><head>{head}</head><body><main>{body}</main></body></html>"


def cell(code: str, output: str = "") -> str:
    return (
        '<div class="cell docutils container"><div class="cell_input docutils '
        f'container"><div class="highlight"><pre>{code}</pre></div></div>'
        f'<div class="cell_output docutils container">{output}</div></div>'
    )


CLEAN = page(
    "<section id='a'><h2>Text</h2>"
    + cell("x = 1", '<div class="output stream"><pre>' + "y" * 200 + "</pre></div>")
    + "</section><section id='exercises'><h2>Exercises</h2>"
    + "<div class='dropdown admonition'><pre>answer = 42</pre></div></section>",
    head='<script src="a.js"></script><script>const A = 1</script>',
)


def test_a_clean_page_passes_and_long_printed_output_is_allowed():
    assert check_html.problems_in_page(CLEAN) == []


def test_a_visible_nbval_comment_is_found():
    problems = check_html.problems_in_page(page(cell("# NBVAL_IGNORE_OUTPUT\nx = 1")))
    assert len(problems) == 1 and "nbval" in problems[0]


def test_a_visible_check_among_the_exercises_is_found():
    html = page(
        "<section id='exercises'><h2>Exercises</h2>"
        "<div class='dropdown admonition'>hidden</div>"
        + cell("assert answer == 42")
        + "</section>"
    )
    problems = check_html.problems_in_page(html)
    assert len(problems) == 1 and "among the exercises" in problems[0]


def test_code_wider_than_the_column_is_found_in_cells_and_shown_source():
    wide = "x = " + "1 + " * 30 + "1"
    shown = f'<div class="output text_html"><div class="highlight"><pre>{wide}</pre>'
    assert len(check_html.problems_in_page(page(cell(wide)))) == 1
    assert len(check_html.problems_in_page(page(cell("show()", shown + "</div>")))) == 1
    fits = "x" * check_html.MAX_CODE_COLUMNS
    assert check_html.problems_in_page(page(cell(fits))) == []


def test_raw_sphinx_roles_and_repeated_head_scripts_are_found():
    shown = '<div class="output text_html"><pre>"""See :func:`f`."""</pre></div>'
    assert "Sphinx" in check_html.problems_in_page(page(cell("show(g)", shown)))[0]
    twice = '<script>const THEBE_JS_URL = "x"</script>' * 2
    assert "twice" in check_html.problems_in_page(page("", head=twice))[0]
    in_outputs = page("<script>function player() {}</script>" * 2)
    assert check_html.problems_in_page(in_outputs) == []


def test_an_empty_build_is_reported(tmp_path):
    assert "build the book first" in check_html.check(tmp_path)[0]
