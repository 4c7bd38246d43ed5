"""Check the built HTML book for what a reader must never see (part of ``make test``).

Usage: python tools/check_html.py [_build/html]   (make html runs it after the build)

Each chapter page is read as the browser gets it, and these are reported:

- test plumbing: ``NBVAL`` markers (nbval's cell tags are invisible; comments are not);
- answers outside the collapsed solutions: any code cell in the Exercises section
  (a solution's check belongs in a ``remove-cell`` cell);
- code that scrolls sideways: a line of a code cell, or of library source shown with
  ``show_source``, longer than the column's MAX_CODE_COLUMNS characters;
- raw Sphinx markup (``:func:`...```) in displayed text, such as a shown docstring;
- a script included twice in a page's head (sphinx-thebe's config once broke every
  page; an output's own scripts, such as two animations' players, may repeat).

Printed outputs may be longer than the column: the book's stylesheet
(``_static/outputs.css``) wraps them instead of scrolling.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from bs4 import BeautifulSoup

MAX_CODE_COLUMNS = 88
SPHINX_ROLE = re.compile(r":(?:func|class|meth|mod|attr|data|exc):`")


def code_lines(soup: BeautifulSoup):
    """Lines of visible code: cell inputs and highlighted source shown in outputs."""
    for pre in soup.select("div.cell_input pre, div.cell_output div.text_html pre"):
        yield from pre.get_text().splitlines()


def problems_in_page(html: str) -> list[str]:
    """Everything in one chapter page that a reader should not see."""
    soup = BeautifulSoup(html, "html.parser")
    main = soup.select_one("main") or soup
    problems = []
    text = main.get_text()
    if "NBVAL" in text:
        problems.append("an nbval marker is visible (use the cell tag instead)")
    exercises = main.find("section", id=re.compile(r"^exercises"))
    if exercises is not None:
        for cell in exercises.select("div.cell"):
            code = cell.get_text(" ", strip=True)[:60]
            problems.append(f"a code cell is visible among the exercises: {code!r}")
    for line in code_lines(main):
        if len(line) > MAX_CODE_COLUMNS:
            problems.append(
                f"a code line of {len(line)} characters (max {MAX_CODE_COLUMNS}): "
                f"{line.strip()[:60]!r}"
            )
    for match in SPHINX_ROLE.finditer(text):
        snippet = text[match.start() : match.end() + 30]
        problems.append(f"raw Sphinx markup: {snippet!r}")
    head = soup.head or soup
    sources = [s.get("src") for s in head.find_all("script") if s.get("src")]
    inline = [
        s.string for s in head.find_all("script") if not s.get("src") and s.string
    ]
    for kind, items in (("script", sources), ("inline script", inline)):
        repeated = {item for item in items if items.count(item) > 1}
        problems += [f"{kind} included twice: {item[:60]!r}" for item in repeated]
    return problems


def check(build: Path) -> list[str]:
    pages = sorted((build / "book").glob("[0-9]*.html"))
    if not pages:
        return [f"no chapter pages under {build / 'book'}: build the book first"]
    return [
        f"{page.relative_to(build)}: {problem}"
        for page in pages
        for problem in problems_in_page(page.read_text(encoding="utf-8"))
    ]


def main(argv: list[str]) -> None:
    build = Path(argv[0] if argv else "_build/html")
    problems = check(build)
    if problems:
        sys.exit("\n".join(problems))
    print(f"{build}: every chapter page passed the reader's checks")


if __name__ == "__main__":
    main(sys.argv[1:])
